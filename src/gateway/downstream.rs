//! The downstream client of one gateway call as the origin of what upstream servers ask and tell during it:
//! sampling and elicitation requests are forwarded to that client (refused when it did not declare the
//! capability), progress is passed on under the client's own progress token, log messages are passed on, and
//! roots are the client's when it declared them.
//!
//! Calls of one MCP session share an origin key (its `Mcp-Session-Id`; stdio is one session), so concurrent
//! calls of one client never make a server's request ambiguous; a stateless request is an origin of its own.
#![allow(deprecated)] // sampling, roots and logging: see `registry::host`

use crate::registry::origin::{Boxed, Origin};
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Root,
};
use rmcp::service::{RequestContext, ServiceError};
use rmcp::{ErrorData, Peer, RoleServer};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Downstream {
    peer: Peer<RoleServer>,
    key: String,
    /// The client's progress token for this call, when it asked for progress.
    token: Option<ProgressToken>,
}

static STATELESS: AtomicU64 = AtomicU64::new(0);

/// The session a request came in on: its `Mcp-Session-Id`, "stdio", or a stateless request of its own.
pub fn session_key(context: &RequestContext<RoleServer>) -> String {
    let session = context
        .extensions
        .get::<axum::http::request::Parts>()
        .map(|parts| parts.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(String::from));
    match session {
        None => "stdio".to_string(),
        Some(id) => http_key(id.as_deref()),
    }
}

/// The key of an HTTP request in session `id` (as presented), or of a stateless request of its own.
pub fn http_key(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("session {id}"),
        None => format!("stateless request {}", STATELESS.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Progress as the client is told it: under the client's own token.
pub fn progress_for(token: ProgressToken, p: &ProgressNotificationParam) -> ProgressNotificationParam {
    let mut passed = ProgressNotificationParam::new(token, p.progress);
    passed.total = p.total;
    passed.message = p.message.clone();
    passed
}

/// A server's log message as the client is told it: the logger named after the server.
pub fn log_for(server: &str, m: &LoggingMessageNotificationParam) -> LoggingMessageNotificationParam {
    let mut passed = m.clone();
    passed.meta = None;
    let logger = m.logger.as_deref().map(|l| format!("/{l}")).unwrap_or_default();
    passed.logger = Some(format!("{server}{logger}"));
    passed
}

impl Downstream {
    pub fn of(context: &RequestContext<RoleServer>) -> Downstream {
        Downstream { peer: context.peer.clone(), key: session_key(context), token: context.meta.get_progress_token() }
    }

    fn capabilities(&self) -> Option<rmcp::model::ClientCapabilities> {
        self.peer.peer_info().map(|i| i.capabilities.clone())
    }
}

/// Names the server that asked, for a client that is itself a hub (it applies that server's policy).
fn asked_by(meta: &mut Option<rmcp::model::RequestMetaObject>, server: &str) {
    meta.get_or_insert_with(Default::default).0.0.insert(crate::registry::host::ASKED_BY.into(), server.into());
}

pub fn refused(what: &str) -> ErrorData {
    ErrorData::invalid_request(format!("{what} refused: the client that made this call did not declare it"), None)
}

fn failed(what: &str, e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        e => ErrorData::internal_error(format!("{what} could not be passed to the client: {e}"), None),
    }
}

impl Origin for Downstream {
    fn key(&self) -> String {
        self.key.clone()
    }

    fn progress<'a>(&'a self, _tool: &'a str, p: &'a ProgressNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async move {
            let Some(token) = self.token.clone() else { return };
            let _ = self.peer.notify_progress(progress_for(token, p)).await;
        })
    }

    fn log<'a>(&'a self, server: &'a str, m: &'a LoggingMessageNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async move {
            let _ = self.peer.notify_logging_message(log_for(server, m)).await;
        })
    }

    fn sample<'a>(
        &'a self,
        server: &'a str,
        params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async move {
            if self.capabilities().and_then(|c| c.sampling).is_none() {
                tracing::info!(server = %server, client = %self.key, "sampling refused: the client did not declare it");
                return Err(refused("sampling"));
            }
            let mut params = params;
            asked_by(&mut params.meta, server);
            self.peer.create_message(params).await.map_err(|e| failed("the sampling request", e))
        })
    }

    fn elicit<'a>(
        &'a self,
        server: &'a str,
        params: ElicitRequestParams,
    ) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async move {
            if self.capabilities().and_then(|c| c.elicitation).is_none() {
                tracing::info!(server = %server, client = %self.key, "elicitation refused: the client did not declare it");
                return Err(refused("elicitation"));
            }
            let mut params = params;
            asked_by(rmcp::model::RequestParamsMeta::meta_mut(&mut params), server);
            self.peer.create_elicitation(params).await.map_err(|e| failed("the elicitation request", e))
        })
    }

    fn has_roots(&self) -> bool {
        self.capabilities().is_some_and(|c| c.roots.is_some())
    }

    fn roots(&self) -> Boxed<'_, Option<Vec<Root>>> {
        Box::pin(async move {
            self.capabilities()?.roots?;
            self.peer.list_roots().await.ok().map(|r| r.roots)
        })
    }
}
