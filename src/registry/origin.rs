//! Where what a server asks of its client goes: the origin of the call that caused it. A face gives each call
//! an origin (the gateway: the downstream session that made it) and the registry a default one (the face
//! itself: a person at a terminal, or nobody). A server's sampling or elicitation request, its progress and its
//! log messages go to the origin of its call in flight; with no call in flight, to the default; with calls of
//! several different origins in flight on that server, a request is refused (hub cannot tell which asked —
//! stdio has no field relating a server's request to a call).
#![allow(deprecated)] // sampling, roots and logging: see `host`

use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Root,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

pub type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The client side of a call: who answers a server's requests and hears its notifications.
pub trait Origin: Send + Sync {
    /// Calls with the same key come from the same client (one chat, one MCP session).
    fn key(&self) -> String;
    /// A server reported progress on `tool`, called from this origin (awaited before the call's answer is
    /// returned, so progress reaches the origin before the answer).
    fn progress<'a>(&'a self, _tool: &'a str, _progress: &'a ProgressNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async {})
    }
    /// A server logged a message while a call of this origin was in flight (awaited like `progress`).
    fn log<'a>(&'a self, _server: &'a str, _message: &'a LoggingMessageNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async {})
    }
    /// A server asks for a model completion.
    fn sample<'a>(
        &'a self,
        server: &'a str,
        params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>>;
    /// A server asks the user for input.
    fn elicit<'a>(&'a self, server: &'a str, params: ElicitRequestParams)
    -> Boxed<'a, Result<ElicitResult, ErrorData>>;
    /// Whether this origin has roots of its own (a downstream client that declared them).
    fn has_roots(&self) -> bool {
        false
    }
    /// The roots this origin works in; `None`: hub's own.
    fn roots(&self) -> Boxed<'_, Option<Vec<Root>>> {
        Box::pin(async { None })
    }
}

/// No person and no model: elicitation is declined, sampling refused — the default until a face sets its own.
pub struct Nobody;

impl Origin for Nobody {
    fn key(&self) -> String {
        "hub".into()
    }
    fn sample<'a>(
        &'a self,
        _server: &'a str,
        _params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async { Err(ErrorData::invalid_request("hub has no model to answer sampling requests here", None)) })
    }
    fn elicit<'a>(
        &'a self,
        server: &'a str,
        params: ElicitRequestParams,
    ) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async move { Ok(decline(server, &params, "no person is present to answer")) })
    }
}

/// The `_meta` key of a declined elicitation's result that says why hub declined it.
pub const DECLINED_BECAUSE: &str = "io.github.hub/declined-because";

/// Declines an elicitation, saying why in the log (`-v`) and in the result's `_meta` (`DECLINED_BECAUSE`).
pub fn decline(server: &str, params: &ElicitRequestParams, why: &str) -> ElicitResult {
    let asked = match params {
        ElicitRequestParams::FormElicitationParams { message, .. } => format!("a form: {message}"),
        ElicitRequestParams::UrlElicitationParams { url, message, .. } => format!("to open {url}: {message}"),
        _ => "input".to_string(),
    };
    tracing::info!(server = %server, "asked for {asked}; declined: {why}");
    let mut declined = ElicitResult::new(ElicitationAction::Decline);
    let mut meta = rmcp::model::JsonObject::new();
    meta.insert(DECLINED_BECAUSE.into(), why.into());
    declined.meta = Some(rmcp::model::MetaObject(meta));
    declined
}

/// One call in flight: its server, rmcp's progress token for it, its tool and its origin.
struct InFlight {
    server: String,
    token: ProgressToken,
    tool: String,
    origin: Arc<dyn Origin>,
    /// The task's `CALLER`, if it set one.
    caller: Option<String>,
}

tokio::task_local! {
    /// What the calls made in this task are for (a triage item's id): kept with each call in flight, so a server's
    /// request can be told apart by the work it came during.
    pub static CALLER: String;
}

/// A request a server made of hub, and its outcome — for `--json` documents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Asked {
    pub server: String,
    /// "sampling" or "elicitation".
    pub kind: &'static str,
    /// "answered", "accept", "decline", "cancel" or "refused".
    pub outcome: String,
    pub reason: Option<String>,
    /// The callers (`CALLER`) with calls in flight on the server when it asked: one when it is known whose call
    /// the request belongs to, several when calls of several were in flight (stdio cannot tell them apart).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub during: Vec<String>,
    /// The tokens hub's model spent answering it (sampling answered by hub's model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::llm::Usage>,
}

/// The `_meta` key a sampling answer carries the model's token usage under, from the origin to the registry
/// (which takes it out before the answer goes to the server).
pub const USAGE: &str = "io.github.hub/usage";

/// The last `ASKED` server requests, oldest first.
#[derive(Default)]
pub struct Asks(Mutex<std::collections::VecDeque<Asked>>);

/// Server requests remembered (the oldest are forgotten).
const ASKED: usize = 100;

impl Asks {
    pub fn record(&self, asked: Asked) {
        let mut asks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if asks.len() == ASKED {
            asks.pop_front();
        }
        asks.push_back(asked);
    }

    pub fn list(&self) -> Vec<Asked> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// The calls in flight with their origins, and the default origin.
pub struct Origins {
    default: Mutex<Arc<dyn Origin>>,
    in_flight: Mutex<Vec<(u64, InFlight)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Default for Origins {
    fn default() -> Self {
        Origins { default: Mutex::new(Arc::new(Nobody)), in_flight: Mutex::default(), next: Default::default() }
    }
}

/// The token of a call being sent (rmcp chooses the real one as it sends).
pub fn unsent() -> ProgressToken {
    ProgressToken(rmcp::model::NumberOrString::String("unsent".into()))
}

/// Removes a call from the table when it ends.
pub struct Flight<'a>(&'a Origins, u64);

impl Flight<'_> {
    /// The call's progress token, once the request is sent (rmcp chooses it): the call is in the table from
    /// before it is sent, so a server's request made at once finds its origin.
    pub fn set_token(&self, token: ProgressToken) {
        let mut calls = self.0.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, call)) = calls.iter_mut().find(|(n, _)| *n == self.1) {
            call.token = token;
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.lock().unwrap_or_else(|p| p.into_inner()).retain(|(n, _)| *n != self.1);
    }
}

impl Origins {
    pub fn set_default(&self, origin: Arc<dyn Origin>) {
        *self.default.lock().unwrap_or_else(|p| p.into_inner()) = origin;
    }

    pub fn default_origin(&self) -> Arc<dyn Origin> {
        self.default.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records a call in flight until the returned guard is dropped.
    pub fn enter(&self, server: &str, token: ProgressToken, tool: &str, origin: Arc<dyn Origin>) -> Flight<'_> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let caller = CALLER.try_with(String::clone).ok();
        let call = InFlight { server: server.into(), token, tool: tool.into(), origin, caller };
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).push((n, call));
        Flight(self, n)
    }

    /// The tool and origin of the call in flight on `server` with `token` — or, when no call has that token
    /// yet, the one call on that server still being sent (its token is set once `send` returns).
    pub fn call(&self, server: &str, token: &ProgressToken) -> Option<(String, Arc<dyn Origin>)> {
        let calls = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let on_server = || calls.iter().filter(|(_, c)| c.server == server);
        let exact = on_server().find(|(_, c)| &c.token == token);
        let unsent = || {
            let mut sending = on_server().filter(|(_, c)| c.token == unsent());
            match (sending.next(), sending.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        };
        exact.or_else(unsent).map(|(_, c)| (c.tool.clone(), c.origin.clone()))
    }

    /// The callers (`CALLER`) of the calls in flight on `server`, each once.
    pub fn callers(&self, server: &str) -> Vec<String> {
        let calls = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let mut callers: Vec<String> =
            calls.iter().filter(|(_, c)| c.server == server).filter_map(|(_, c)| c.caller.clone()).collect();
        callers.sort();
        callers.dedup();
        callers
    }

    /// Who answers a request from `server`: the one origin of its calls in flight, else the default.
    pub fn for_server(&self, server: &str) -> Result<Arc<dyn Origin>, ErrorData> {
        let calls = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let mut origins = calls.iter().filter(|(_, c)| c.server == server).map(|(_, c)| &c.origin);
        let Some(first) = origins.next() else { return Ok(self.default_origin()) };
        let key = first.key();
        if origins.any(|o| o.key() != key) {
            return Err(ErrorData::invalid_request(
                "calls of several clients are in flight on this server; hub cannot tell which one this request \
                 belongs to, so it is refused",
                None,
            ));
        }
        Ok(first.clone())
    }
}
