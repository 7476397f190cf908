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
        let server = self.server(entry.route()).cloned().ok_or_else(|| CallError::Down {
            server: entry.route().to_string(),
            reason: "not configured".into(),
            retry_in: None,
        })?;
        let several = server.replicas().len() > 1;
        // Sticky balancing keeps a session on its replica; plain REST calls have none.
        let sticky = several && server.cfg.replicas.balance == crate::config::replicas::Balance::Sticky;
        let default = || (!self.inner.serving).then(|| self.inner.host.origins.default_origin().key());
        let session = if sticky { origin.as_ref().map(|o| o.key()).or_else(default) } else { None };
        let session = session.as_deref();
        let mut avoid = None;
        if several && (entry.read_only() || entry.idempotent()) {
            // Only a call that may run again pays for the copies a second attempt needs.
            let first = self.attempt(&server, session, None, entry.clone(), arguments.clone(), cancel, origin.clone());
            match first.await {
                Err(Failed { replica: Some((number, label)), .. }) => {
                    tracing::info!(tool = %entry.name, "{label} failed the call; trying another replica");
                    avoid = Some(number);
                }
                other => return other.map_err(|f| f.error),
            }
        }
        let called = self.attempt(&server, session, avoid, entry, arguments, cancel, origin).await;
        called.map_err(|f| {
            if let (true, CallError::Down { reason, .. }) = (server.cfg.flatten, &f.error) {
                let _ = server.gone.set(reason.clone());
            }
            f.error
        })
    }

    /// One attempt on a leased replica. A replica that fails the call (down, or timed out: it is retired through
    /// the backoff) is counted and named in the error when the server has several.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        server: &super::Server,
        session: Option<&str>,
        avoid: Option<usize>,
        entry: super::Entry,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn origin::Origin>>,
    ) -> Result<Called, Failed> {
        let Some(lease) = server.lease(session, avoid) else {
            let error = CallError::Down {
                server: server.cfg.name.clone(),
                reason: server.down_reason().unwrap_or_else(|| "no replica is in rotation".into()),
                retry_in: server.retry_in(),
            };
            return Err(Failed { error, replica: None });
        };
        let called = self.traced(server, &lease, entry, arguments, cancel, origin).await;
        let e = match called {
            Err(e @ (CallError::Down { .. } | CallError::Timeout { .. })) if server.replicas().len() > 1 => e,
            other => return other.map_err(|error| Failed { error, replica: None }),
        };
        lease.failed();
        if let CallError::Timeout { tool, after } = &e {
            let why = format!("a call to '{tool}' timed out after {:.1}s", after.as_secs_f64());
            let _ = lease.replica.control.send(super::control::Order::Retire(why));
        }
        let label = lease.replica.label.clone();
        Err(Failed { error: on_replica(e, &label), replica: Some((lease.replica.number, label)) })
    }

    /// `call_on` in its span (`tools/call {tool}`, the trace context in the request's `_meta`), counted in the
    /// metrics by outcome and while in flight.
    async fn traced(
        &self,
        server: &super::Server,
        lease: &super::replica::Lease,
        entry: super::Entry,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn origin::Origin>>,
    ) -> Result<Called, CallError> {
        use crate::telemetry::{metrics, spans};
        if !crate::telemetry::on() {
            return self.call_on(server, lease, entry, arguments, cancel, origin).await;
        }
        let transport = match server.cfg.transport {
            crate::config::Transport::Stdio { .. } => "pipe",
            crate::config::Transport::Http { .. } => "tcp",
        };
        let (name, tool) = (server.cfg.name.clone(), entry.upstream().to_string());
        let span = spans::upstream(&name, &tool, transport);
        let (held, started) = (metrics::tool_in_flight(&name), Instant::now());
        let called = span.within(self.call_on(server, lease, entry, arguments, cancel, origin)).await;
        drop(held);
        let outcome = span.ended(&called);
        span.end();
        metrics::tool_call(&name, &tool, outcome, started.elapsed());
        called
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
            self.inner.host.hand_roots(entry.route(), peer, origin).await;
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let started = Instant::now();
        let server_name = entry.route().to_string();
        let down =
            |reason: &str| CallError::Down { server: server_name.clone(), reason: reason.to_string(), retry_in: None };
        let mut options = PeerRequestOptions::with_timeout(server.cfg.timeout);
        options.meta = crate::telemetry::propagate::meta();

        let origin = origin.unwrap_or_else(|| self.inner.host.origins.default_origin());
        let flight = self.inner.host.origins.enter(&server_name, origin::unsent(), &entry.name, origin);
        let handle = match peer.send_request_with_option(request, options).await {
            Ok(h) => h,
            Err(_) => return Err(down("the connection closed")),
        };
        flight.set_token(handle.progress_token.clone());
        let peer_for_cancel = handle.peer.clone();
        let id = handle.id.clone();
        if crate::telemetry::on() {
            crate::telemetry::spans::Span::current().set("jsonrpc.request.id", id.to_string());
        }
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

/// Why an attempt gave no result; `replica` (number, label) when the replica failed it, not the call itself.
struct Failed {
    error: CallError,
    replica: Option<(usize, String)>,
}
