//! hub as an MCP client (the host side of every connection): what it declares and how it answers what a
//! server asks of it or tells it.
//!
//! - Roots: declared; `roots/list` answers the configured `roots = [...]`, or the working directory.
//! - Elicitation (form and URL modes): declared, so servers offer the tools that need it; with no person at
//!   the keyboard (every face so far) a request is declined at once and the reason logged (`-v`).
//! - Sampling: not declared — hub does not yet answer `sampling/createMessage`; a server that sends one anyway
//!   gets a clear JSON-RPC error.
//! - Progress: every request carries a progress token (rmcp's); a tool call's is remembered with the tool, and
//!   `notifications/progress` for it is published on the registry's progress channel (spinners show it) and
//!   logged (`-v`).
//! - Logs: `notifications/message` from a server is logged under the server's name at its level (`-v`).
//! - `list_changed` for tools, resources and prompts wakes the supervisor to re-list (coalesced by `Notify`:
//!   one listing in flight, at most one queued).
//!
//! Roots, sampling and logging are deprecated by SEP-2577 (protocol 2026-07-28) in rmcp, but the servers people
//! run today (2025-11-25 and before) use them: hence `allow(deprecated)`.
#![allow(deprecated)]

use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ElicitationAction, ElicitationCapability, FormElicitationCapability, Implementation, ListRootsResult,
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Root, RootsCapabilities,
    UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast};

/// Progress of one tool call, as a server reported it.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The tool's index name (`crm__export`).
    pub tool: String,
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.tool)?;
        match self.total.filter(|t| *t > 0.0) {
            Some(t) => write!(f, "{:.0}% ({}/{})", 100.0 * self.progress / t, self.progress, t)?,
            None => write!(f, "{}", self.progress)?,
        }
        match &self.message {
            Some(m) => write!(f, " {m}"),
            None => Ok(()),
        }
    }
}

/// Calls remembered by progress token: enough for every call in flight and the recently ended ones (a server's
/// last progress notifications may be handled after its answer ended the call).
const REMEMBERED: usize = 4096;

/// What every connection's handler shares: the roots offered, recent calls by (server, progress token), and the
/// channel progress is published on.
pub struct Host {
    roots: Vec<PathBuf>,
    calls: Mutex<VecDeque<(String, ProgressToken, String)>>,
    progress: broadcast::Sender<Progress>,
}

impl Host {
    pub fn new(roots: &[PathBuf]) -> Host {
        let roots = if roots.is_empty() { std::env::current_dir().into_iter().collect() } else { roots.to_vec() };
        Host { roots, calls: Mutex::default(), progress: broadcast::channel(64).0 }
    }

    /// Remembers that `token` (rmcp gives every request one) on `server` is a call of `tool`.
    pub fn called(&self, server: &str, token: ProgressToken, tool: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if calls.len() == REMEMBERED {
            calls.pop_front();
        }
        calls.push_back((server.to_string(), token, tool.to_string()));
    }

    /// The tool called with `token` on `server`; the server's name when the call is not known (yet).
    fn tool_of(&self, server: &str, token: &ProgressToken) -> String {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let found = calls.iter().rev().find(|(s, t, _)| s == server && t == token);
        found.map_or_else(|| server.to_string(), |(_, _, tool)| tool.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }
}

/// The client side of one connection.
#[derive(Clone)]
pub struct Handler {
    pub server: String,
    pub host: Arc<Host>,
    pub lists_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        caps.roots = Some(RootsCapabilities::default());
        let mut elicitation = ElicitationCapability::default();
        elicitation.form = Some(FormElicitationCapability::default());
        elicitation.url = Some(UrlElicitationCapability::new());
        caps.elicitation = Some(elicitation);
        ClientConfig::new(caps, Implementation::new("hub", env!("CARGO_PKG_VERSION")))
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        let root = |p: &PathBuf| {
            let mut r = Root::new(format!("file://{}", p.display()));
            r.name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            r
        };
        Ok(ListRootsResult::new(self.host.roots.iter().map(root).collect()))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let asked = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => format!("a form: {message}"),
            ElicitRequestParams::UrlElicitationParams { url, message, .. } => format!("to open {url}: {message}"),
            _ => "input".to_string(),
        };
        tracing::info!(server = %self.server, "asked for {asked}; declined: no person is present to answer");
        Ok(ElicitResult::new(ElicitationAction::Decline))
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        tracing::info!(server = %self.server, "asked for a model completion (sampling); refused");
        Err(ErrorData::invalid_request("hub did not offer sampling to this server; the request is refused", None))
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        let tool = self.host.tool_of(&self.server, &params.progress_token);
        let p = Progress { tool, progress: params.progress, total: params.total, message: params.message };
        tracing::info!(server = %self.server, "progress {p}");
        let _ = self.host.progress.send(p);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = match &params.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = crate::output::cut(&text, 2000);
        let logger = params.logger.as_deref().unwrap_or("-");
        match params.level {
            LoggingLevel::Debug => tracing::debug!(server = %self.server, logger, "server log: {text}"),
            LoggingLevel::Info | LoggingLevel::Notice => {
                tracing::info!(server = %self.server, logger, "server log: {text}")
            }
            _ => tracing::warn!(server = %self.server, logger, "server log ({:?}): {text}", params.level),
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.lists_changed.notify_one();
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.lists_changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.lists_changed.notify_one();
    }
}
