//! The call path: one tool call routed to its server under the server's deadline — a down server fails at
//! once, a timeout or the caller's cancellation is passed upstream (`notifications/cancelled`), a protocol error
//! of the server fails the call at once — on behalf of an origin (`origin`) that hears what the server asks
//! and tells meanwhile. A tool the server will only run as a task (2025-11-25 `tasks`) is called again as one
//! (`tasks`).

use super::{CallError, Called, Registry, origin, plugin, tasks, wire};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotificationParam, ClientRequest, JsonObject, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

impl Registry {
    /// Calls tool `name` with `arguments` under its server's deadline. A down server fails at once; a timeout
    /// cancels the request upstream (`notifications/cancelled` is written before this returns).
    pub async fn call(&self, name: &str, arguments: Option<JsonObject>) -> Result<Called, CallError> {
        self.call_cancellable(name, arguments, &CancellationToken::new()).await
    }

    /// `call`, also cancelled upstream when `cancel` fires (Ctrl-C in the REPL, a gateway client going away).
    pub async fn call_cancellable(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
    ) -> Result<Called, CallError> {
        self.call_from(name, arguments, cancel, None).await
    }

    /// `call_cancellable` on behalf of `origin` (the default origin when `None`): the server's requests and
    /// notifications during the call go to it. Plugins see the call as the caller made it, before the tool's
    /// transforms, and its result after them.
    pub async fn call_from(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn origin::Origin>>,
    ) -> Result<Called, CallError> {
        let entry = self.resolve(name)?;
        let plugins = &self.inner.plugins;
        if plugins.is_empty() {
            return self.call_upstream(entry, arguments, cancel, origin).await;
        }
        let arguments = plugin::before(plugins, &entry, arguments).await?;
        let seen = arguments.clone();
        let mut called = self.call_upstream(entry, arguments, cancel, origin).await?;
        called.result = plugin::after(plugins, &called.entry, &seen, called.result).await?;
        Ok(called)
    }

    /// The call to the tool's server, with its transforms: on one of its replicas, and once more on another
    /// when that replica fails the call (goes down or times out) and the tool is read-only or idempotent.
    async fn call_upstream(
        &self,
        entry: super::Entry,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn origin::Origin>>,
    ) -> Result<Called, CallError> {
        let server = self.server(&entry.server).cloned().ok_or_else(|| CallError::Down {
            server: entry.server.clone(),
            reason: "not configured".into(),
            retry_in: None,
        })?;
        // Sticky balancing keeps a session on its replica; plain REST calls have none.
        let default = || (!self.inner.serving).then(|| self.inner.host.origins.default_origin().key());
        let session = origin.as_ref().map(|o| o.key()).or_else(default);
        let mut avoid = None;
        loop {
            let Some(lease) = server.lease(session.as_deref(), avoid) else {
                return Err(CallError::Down {
                    server: entry.server.clone(),
                    reason: server.down_reason().unwrap_or_else(|| "no replica is in rotation".into()),
                    retry_in: server.retry_in(),
                });
            };
            let several = server.replicas().len() > 1;
            let called = self.call_on(&server, &lease, entry.clone(), arguments.clone(), cancel, origin.clone()).await;
            let failed = matches!(called, Err(CallError::Down { .. } | CallError::Timeout { .. }));
            if !failed || !several {
                return called;
            }
            lease.failed();
            if let Err(CallError::Timeout { after, .. }) = &called {
                let why = format!("a call to '{}' timed out after {:.1}s", entry.name, after.as_secs_f64());
                let _ = lease.replica.control.send(super::control::Order::Retire(why));
            }
            if avoid.is_some() || !(entry.read_only() || entry.idempotent()) {
                return called.map_err(|e| on_replica(e, &lease.replica.label));
            }
            tracing::info!(tool = %entry.name, "{} failed the call; trying another replica", lease.replica.label);
            avoid = Some(lease.replica.number);
        }
    }

    /// The call on one replica.
    async fn call_on(
        &self,
        server: &super::Server,
        lease: &super::replica::Lease,
        entry: super::Entry,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn origin::Origin>>,
    ) -> Result<Called, CallError> {
        let (peer, fault) = (&lease.peer, &lease.fault);
        let plan = entry.plan.clone();
        let arguments = match &plan {
            Some(p) => p.arguments(arguments),
            None => arguments,
        };
        let mut params = CallToolRequestParams::new(entry.upstream().to_string());
        // Kept for a second call as a task, when the server asks for one.
        let task_arguments = arguments.clone();
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        if let Some(origin) = &origin {
            self.inner.host.hand_roots(&entry.server, peer, origin).await;
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let started = Instant::now();
        let server_name = entry.server.clone();
        let down =
            |reason: &str| CallError::Down { server: server_name.clone(), reason: reason.to_string(), retry_in: None };
        let options = PeerRequestOptions::with_timeout(server.cfg.timeout);

        let origin = origin.unwrap_or_else(|| self.inner.host.origins.default_origin());
        let flight = self.inner.host.origins.enter(&server_name, origin::unsent(), &entry.name, origin);
        let handle = match peer.send_request_with_option(request, options).await {
            Ok(h) => h,
            Err(_) => return Err(down("the connection closed")),
        };
        flight.set_token(handle.progress_token.clone());
        let peer_for_cancel = handle.peer.clone();
        let id = handle.id.clone();
        let broke = |reason: Option<String>| match fault.needs_login() {
            true => down(&crate::auth::login_hint(&server_name, fault.challenge().as_deref())),
            false => down(&format!("it broke the protocol during the call: {}", reason.unwrap_or_default())),
        };
        let response = tokio::select! {
            r = handle.await_response() => r,
            // rmcp fails pending requests only after draining for up to 5 s: the fault is known now.
            _ = fault.tripped() => return Err(broke(fault.reason())),
            _ = cancel.cancelled() => {
                let note = CancelledNotificationParam::new(Some(id), Some("cancelled by the user".into()));
                let _ = peer_for_cancel.notify_cancelled(note).await;
                return Err(CallError::Cancelled { tool: entry.name.clone() });
            }
        };
        let duration = started.elapsed();
        let needs_task = match &response {
            Ok(ServerResult::CallToolResult(r)) if r.is_error == Some(true) => {
                tasks::required(&crate::output::result_text(r))
            }
            Err(ServiceError::McpError(e)) => tasks::required(&e.message),
            _ => false,
        };
        if needs_task {
            let deadline = started + server.cfg.timeout;
            let called = tasks::call(peer, entry.upstream(), task_arguments, deadline, cancel).await;
            return match called {
                Ok(mut result) => {
                    if let Some(p) = &plan {
                        p.result(&mut result);
                    }
                    Ok(Called { entry, result, duration: started.elapsed() })
                }
                Err(tasks::Ended::Cancelled) => Err(CallError::Cancelled { tool: entry.name.clone() }),
                Err(tasks::Ended::Timeout) => {
                    Err(CallError::Timeout { tool: entry.name.clone(), after: server.cfg.timeout })
                }
                Err(tasks::Ended::Failed(message)) => Err(CallError::Protocol { server: server_name, message }),
            };
        }
        match response {
            Ok(ServerResult::CallToolResult(mut result)) => {
                if let Some(p) = &plan {
                    p.result(&mut result);
                }
                // The call's progress reaches its origin before its answer does.
                fault.progress.settle().await;
                Ok(Called { entry, result, duration })
            }
            Ok(_) => {
                Err(CallError::Protocol { server: server_name, message: "unexpected response to tools/call".into() })
            }
            Err(ServiceError::Timeout { .. }) => {
                Err(CallError::Timeout { tool: entry.name.clone(), after: server.cfg.timeout })
            }
            Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_))) => {
                if let Some(why) = crate::auth::refused(&e, &server_name) {
                    return Err(down(&why));
                }
                if let Some(reason) = wire::fault_of(&e) {
                    fault.trip(reason);
                }
                Err(match fault.reason() {
                    Some(reason) => broke(Some(reason)),
                    None => down(&format!("the connection closed during the call ({e})")),
                })
            }
            Err(ServiceError::McpError(e)) => {
                Err(CallError::Protocol { server: server_name, message: e.message.to_string() })
            }
            Err(e) => Err(CallError::Protocol { server: server_name, message: e.to_string() }),
        }
    }
}

/// Says which replica failed the call.
fn on_replica(e: CallError, label: &str) -> CallError {
    match e {
        CallError::Down { server, reason, retry_in } => {
            CallError::Down { server, reason: format!("replica {label}: {reason}"), retry_in }
        }
        other => other,
    }
}
