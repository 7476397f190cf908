//! hub as an MCP client (the host side of every connection): what it declares and how it answers what a
//! server asks of it or tells it.
//!
//! - Roots: declared; `roots/list` answers the roots of the call's origin (the gateway: the downstream client's),
//!   else the configured `roots = [...]`, else the working directory.
//! - Elicitation (form and URL modes): declared, so servers offer the tools that need it; answered by the
//!   origin of the call (`origin`): a person in chat, the downstream client through the gateway, and declined
//!   with the reason logged (`-v`) where nobody can answer.
//! - Sampling: declared when the server's `sampling` is not "never" and the face can answer (a model is
//!   configured, or the gateway forwards it); answered by the origin under the server's policy. A request from a
//!   server that was not offered sampling is refused with a clear JSON-RPC error.
//! - Tasks: sampling and elicitation asked as tasks (2025-11-25) run in the background and are polled (`lent`).
//! - Progress: every request carries rmcp's progress token; a tool call's is recorded with the call, and
//!   `notifications/progress` for it goes to the call's origin, the registry's progress channel (spinners) and
//!   the log (`-v`).
//! - Logs: `notifications/message` from a server goes to the origin of its call in flight and to the log under
//!   the server's name at its level (`-v`).
//! - `list_changed` for tools, resources and prompts wakes the supervisor to re-list (coalesced by `Notify`:
//!   one listing in flight, at most one queued).
//!
//! Roots, sampling and logging are deprecated by SEP-2577 (protocol 2026-07-28) in rmcp, but the servers people
//! run today (2025-11-25 and before) use them: hence `allow(deprecated)`.
#![allow(deprecated)]

use super::origin::{Origin, Origins};
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ElicitationCapability, FormElicitationCapability, Implementation, ListRootsResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion, Root, RootsCapabilities,
    UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use std::collections::HashMap;
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

/// What every connection's handler shares: the roots offered, whether sampling can be offered, the calls in
/// flight with their origins, and the channel progress is published on.
pub struct Host {
    roots: Vec<PathBuf>,
    /// The face can answer sampling (a model is configured, or the gateway forwards it downstream).
    pub can_sample: bool,
    pub origins: Origins,
    progress: broadcast::Sender<Progress>,
    /// Per server that has asked for roots: the origin whose roots it was last given.
    roots_given: Mutex<HashMap<String, String>>,
    roots_asked: Notify,
    /// Upstream resource subscriptions, and the channel their updates are published on.
    pub subscriptions: super::subscriptions::Subscriptions,
    pub updates: broadcast::Sender<super::Updated>,
    /// The last server requests (sampling, elicitation) and what became of them.
    asked: super::origin::Asks,
    /// Sampling and elicitation requests servers asked hub to run as tasks.
    pub lent: super::lent::Lent,
}

impl Host {
    pub fn new(roots: &[PathBuf], can_sample: bool) -> Host {
        let roots = if roots.is_empty() { std::env::current_dir().into_iter().collect() } else { roots.to_vec() };
        let (roots_given, roots_asked) = (Mutex::default(), Notify::new());
        let (subscriptions, updates) = (Default::default(), broadcast::channel(256).0);
        Host {
            roots,
            can_sample,
            origins: Origins::default(),
            progress: broadcast::channel(64).0,
            roots_given,
            roots_asked,
            subscriptions,
            updates,
            asked: Default::default(),
            lent: Default::default(),
        }
    }

    /// Before a call from `origin` to `server`: when the server uses roots and was last given another origin's,
    /// tell it the roots changed and wait (briefly) until it has asked for them again — answered from `origin`,
    /// whose call is in flight meanwhile — so the call runs with the caller's roots.
    pub async fn hand_roots(&self, server: &str, peer: &rmcp::Peer<RoleClient>, origin: &Arc<dyn Origin>) {
        let key = origin.key();
        let given = |h: &Host| h.roots_given.lock().unwrap_or_else(|p| p.into_inner()).get(server).cloned();
        match given(self) {
            Some(k) if k != key && origin.has_roots() => {}
            _ => return,
        }
        let token = rmcp::model::ProgressToken(rmcp::model::NumberOrString::String("roots".into()));
        let _flight = self.origins.enter(server, token, "roots/list", origin.clone());
        let asked = async {
            loop {
                let woken = self.roots_asked.notified();
                if given(self).as_deref() == Some(key.as_str()) {
                    return;
                }
                woken.await;
            }
        };
        if peer.notify_roots_list_changed().await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), asked).await;
        }
    }

    /// The server requests (sampling, elicitation) made so far, oldest first (at most the last 100).
    pub fn asked(&self) -> Vec<super::origin::Asked> {
        self.asked.list()
    }

    /// Remembers a server's request and its outcome, with the callers of the server's calls in flight.
    fn record(
        &self,
        server: &str,
        kind: &'static str,
        outcome: String,
        reason: Option<String>,
        usage: Option<crate::llm::Usage>,
    ) {
        let (server, during) = (server.to_string(), self.origins.callers(server));
        self.asked.record(super::origin::Asked { server, kind, outcome, reason, during, usage });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    fn own_roots(&self) -> Vec<Root> {
        let root = |p: &PathBuf| {
            let mut r = Root::new(format!("file://{}", p.display()));
            r.name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            r
        };
        self.roots.iter().map(root).collect()
    }
}

/// The client side of one connection.
#[derive(Clone)]
pub struct Handler {
    pub server: String,
    pub host: Arc<Host>,
    pub lists_changed: Arc<Notify>,
    /// Sampling is offered to this server (`sampling` is not "never" and the face can answer it).
    pub sampling: bool,
    /// The connection's progress barrier: told when a progress notification has been passed on.
    pub progress: super::wire::barrier::Barrier,
    /// The server's redactions, for the progress and log messages it sends.
    pub said: Arc<super::transform::Said>,
    /// The connection is to another hub (attached): its requests name the server behind it that asked.
    pub relays: bool,
}

/// The `_meta` key under which a hub names the server behind a request it relays.
pub const ASKED_BY: &str = "hub/server";

impl Handler {
    /// The handler as the server that asked: on a connection to another hub, the server behind it that made the
    /// request (as that hub names it), so that server's own policy applies and the record names it.
    fn for_asker(&self, meta: Option<&rmcp::model::RequestMetaObject>) -> std::borrow::Cow<'_, Handler> {
        let behind = meta.and_then(|m| m.0.get(ASKED_BY)).and_then(|v| v.as_str()).filter(|_| self.relays);
        match behind {
            Some(server) => std::borrow::Cow::Owned(Handler { server: server.to_string(), ..self.clone() }),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// A server's elicitation, answered by `origin` (the origin of its call in flight) and recorded.
    async fn elicit(
        &self,
        origin: Result<Arc<dyn Origin>, ErrorData>,
        request: ElicitRequestParams,
    ) -> Result<ElicitResult, ErrorData> {
        let answered = match origin {
            Ok(origin) => origin.elicit(&self.server, request).await,
            Err(e) => Err(e),
        };
        let (outcome, reason) = match &answered {
            Ok(r) => {
                let why = r.meta.as_ref().and_then(|m| m.0.get(super::origin::DECLINED_BECAUSE));
                let action = serde_json::to_value(&r.action).ok().and_then(|v| v.as_str().map(String::from));
                (action, why.and_then(|w| w.as_str()).map(String::from))
            }
            Err(e) => (Some("refused".into()), Some(e.message.to_string())),
        };
        self.host.record(&self.server, "elicitation", outcome.unwrap_or_default(), reason, None);
        answered
    }

    /// A server's sampling request, answered by `origin` under the server's policy and recorded; refused when
    /// sampling was not offered to this server.
    async fn sample(
        &self,
        origin: Result<Arc<dyn Origin>, ErrorData>,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorData> {
        if !self.sampling {
            tracing::info!(server = %self.server, "asked for a model completion (sampling), which it was not offered; refused");
            let reason = "sampling was not offered to this server".to_string();
            self.host.record(&self.server, "sampling", "refused".into(), Some(reason), None);
            return Err(ErrorData::invalid_request(
                "hub did not offer sampling to this server (sampling = \"never\", or no model to answer with); \
                 the request is refused",
                None,
            ));
        }
        let mut answered = match origin {
            Ok(origin) => origin.sample(&self.server, params).await,
            Err(e) => Err(e),
        };
        let (outcome, reason) = match &answered {
            Ok(_) => ("answered", None),
            Err(e) => ("refused", Some(e.message.to_string())),
        };
        let meta = answered.as_mut().ok().and_then(|r| r.message.meta.as_mut());
        let usage = meta.and_then(|m| m.0.remove(super::origin::USAGE)).and_then(|u| serde_json::from_value(u).ok());
        self.host.record(&self.server, "sampling", outcome.into(), reason, usage);
        answered
    }

    /// Refuses a server request whose params hub cannot read, saying why.
    fn refuse(&self, kind: &'static str, method: &str, e: serde_json::Error) -> ErrorData {
        let message = format!("{method} refused: its params are invalid ({e})");
        tracing::info!(server = %self.server, "{message}");
        self.host.record(&self.server, kind, "refused".into(), Some(message.clone()), None);
        ErrorData::invalid_params(message, None)
    }
}

/// A request's outcome as JSON (a task's result).
fn json<T: serde::Serialize>(r: Result<T, ErrorData>) -> Result<serde_json::Value, ErrorData> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| ErrorData::internal_error(e.to_string(), None)))
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        caps.roots = Some(RootsCapabilities::default());
        let mut elicitation = ElicitationCapability::default();
        elicitation.form = Some(FormElicitationCapability::default());
        elicitation.url = Some(UrlElicitationCapability::new());
        caps.elicitation = Some(elicitation);
        if self.sampling {
            caps.sampling = Some(Default::default());
        }
        // 2025-11-25, not rmcp's newest (2026-07-28): that revision forbids the server-to-client requests
        // (sampling, elicitation, roots) this host answers.
        ClientConfig::new(caps, Implementation::new("hub", env!("CARGO_PKG_VERSION")))
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        let origin = self.host.origins.for_server(&self.server).ok();
        let theirs = match &origin {
            Some(o) => o.roots().await.map(|r| (o.key(), r)),
            None => None,
        };
        let (key, roots) = theirs.unwrap_or_else(|| ("hub".to_string(), self.host.own_roots()));
        self.host.roots_given.lock().unwrap_or_else(|p| p.into_inner()).insert(self.server.clone(), key);
        self.host.roots_asked.notify_waiters();
        Ok(ListRootsResult::new(roots))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let origin = self.host.origins.for_server(&self.server);
        self.for_asker(Some(&context.meta)).elicit(origin, request).await
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let origin = self.host.origins.for_server(&self.server);
        self.for_asker(Some(&context.meta)).sample(origin, params).await
    }

    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CustomResult, ErrorData> {
        let params = request.params.unwrap_or_default();
        if let Some(answer) = self.host.lent.answer(&self.server, &request.method, &params).await {
            return answer.map(rmcp::model::CustomResult);
        }
        // A task-augmented request (renamed by the transport, see `lent`), or a known method rmcp hands over
        // here because its params did not parse: say what was wrong.
        let tasked = request.method.strip_prefix(super::lent::TASKED);
        let method = tasked.unwrap_or(&request.method);
        let kind = match method {
            "elicitation/create" => "elicitation",
            "sampling/createMessage" => "sampling",
            _ => {
                let message = format!("hub does not answer {}", request.method);
                return Err(ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, message, None));
            }
        };
        let origin = self.host.origins.for_server(&self.server);
        let (this, ttl) = (self.clone(), params["task"]["ttl"].as_u64());
        let work: super::origin::Boxed<'static, Result<serde_json::Value, ErrorData>> = match kind {
            "elicitation" => match serde_json::from_value::<ElicitRequestParams>(params) {
                Ok(p) => Box::pin(async move { json(this.elicit(origin, p).await) }),
                Err(e) => return Err(self.refuse(kind, method, e)),
            },
            _ => match serde_json::from_value::<CreateMessageRequestParams>(params) {
                Ok(p) => Box::pin(async move { json(this.sample(origin, p).await) }),
                Err(e) => return Err(self.refuse(kind, method, e)),
            },
        };
        match tasked {
            Some(_) => self.host.lent.start(&self.server, ttl, work),
            None => work.await,
        }
        .map(rmcp::model::CustomResult)
    }

    async fn on_progress(&self, mut params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        if !self.said.is_empty() {
            params.message = params.message.map(|m| self.said.text(&m));
        }
        // In arrival order (the transport numbered it), then counted as handled whatever happens below.
        let seq = params.meta.as_ref().and_then(|m| m.0.get(super::wire::barrier::SEQ)).and_then(|v| v.as_u64());
        if let Some(seq) = seq {
            self.progress.turn(seq).await;
        }
        let call = self.host.origins.call(&self.server, &params.progress_token);
        let tool = call.as_ref().map_or_else(|| self.server.clone(), |(t, _)| t.clone());
        if let Some((_, origin)) = &call {
            origin.progress(&tool, &params).await;
        }
        let p = Progress { tool, progress: params.progress, total: params.total, message: params.message };
        tracing::info!(server = %self.server, "progress {p}");
        let _ = self.host.progress.send(p);
        self.progress.handled();
    }

    async fn on_logging_message(
        &self,
        mut params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.said.value(&mut params.data);
        let seq = params.meta.as_ref().and_then(|m| m.0.get(super::wire::barrier::SEQ)).and_then(|v| v.as_u64());
        if let Some(seq) = seq {
            self.progress.turn(seq).await;
        }
        if let Ok(origin) = self.host.origins.for_server(&self.server) {
            origin.log(&self.server, &params).await;
        }
        self.progress.handled();
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

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        tracing::info!(server = %self.server, "resource updated: {}", params.uri);
        let _ = self.host.updates.send(super::Updated { server: self.server.clone(), uri: params.uri });
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
