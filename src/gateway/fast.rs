//! The short way through `/mcp` for the request that decides its throughput: a `tools/call` after which nothing
//! but the answer can flow back. rmcp's way frames every answer of a session as an SSE stream and passes it through
//! the session's worker (a stateless request gets a service of its own); here the call is routed and recorded as
//! the MCP handler would (`mcp::answer`), and answered in one `application/json` body, which the spec allows for
//! any POSTed request. Taken only when that changes nothing the client can see:
//! - a session the table calls *plain* (`sessions`: no sampling, elicitation or roots, no log level — nothing to
//!   relay mid-call), or a stateless-revision (2026-07-28) request whose `_meta` declares none of the three and whose
//!   `Mcp-Method`/`Mcp-Name` headers match its body;
//! - no progress token, no task, nothing else in `_meta`; a small JSON body; a client that accepts JSON.
//!
//! Everything else — and every malformed request, whose error is rmcp's to give — goes on to rmcp untouched. A
//! client's `notifications/cancelled` for a call answered here cancels it here; `logging/setLevel` makes its
//! session not plain.

use super::rest::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{JsonObject, ResultType};
use rmcp::transport::streamable_http_server::session::SessionId;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bodies larger than this are left to rmcp (a call with arguments this big is not about throughput).
const SMALL: usize = 64 * 1024;
const STATELESS: &str = "2026-07-28";
const META: [&str; 3] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
];

/// The fast path's state: the application and the calls of sessions in flight here, by (local session, request id).
pub(super) struct Fast {
    pub(super) app: Arc<App>,
    flying: Mutex<HashMap<(SessionId, String), CancellationToken>>,
}

impl Fast {
    pub(super) fn new(app: Arc<App>) -> Arc<Fast> {
        Arc::new(Fast { app, flying: Mutex::default() })
    }

    fn flying(&self) -> std::sync::MutexGuard<'_, HashMap<(SessionId, String), CancellationToken>> {
        self.flying.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Deserialize)]
struct Message {
    jsonrpc: String,
    #[serde(default)]
    id: Option<Value>,
    method: String,
    #[serde(default)]
    params: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(default, rename = "_meta")]
    meta: Option<Map<String, Value>>,
}

/// Who is calling, for the stats and for cancellation.
enum Caller {
    Session(SessionId, String),
    Stateless(String),
}

/// The middleware on `/mcp`.
pub(super) async fn answer(State(fast): State<Arc<Fast>>, req: Request, next: Next) -> Response {
    let small = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let json = header_has(req.headers(), header::CONTENT_TYPE, "application/json");
    let (Some(length), true, true) = (small.filter(|n| *n <= SMALL), json, req.method() == axum::http::Method::POST)
    else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, length).await else {
        return (StatusCode::BAD_REQUEST, "the body ended before its Content-Length").into_response();
    };
    let session = parts.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(SessionId::from);
    if let Some(taken) = take(&fast, &parts, session, &bytes).await {
        return taken;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The answer when this request is one for the fast path (or a cancellation of one); None: rmcp's to answer.
async fn take(
    fast: &Fast,
    parts: &axum::http::request::Parts,
    session: Option<SessionId>,
    bytes: &[u8],
) -> Option<Response> {
    let message: Message = serde_json::from_slice(bytes).ok()?;
    if message.jsonrpc != "2.0" {
        return None;
    }
    let headers = &parts.headers;
    match (message.method.as_str(), &session, &message.id) {
        ("notifications/cancelled", Some(id), None) => return cancel(fast, id, message.params.as_ref()),
        ("logging/setLevel", Some(id), _) => {
            fast.app.gateway.table.not_plain(id);
            return None;
        }
        ("tools/call", _, Some(id)) if id.is_string() || id.is_i64() || id.is_u64() => {}
        _ => return None,
    }
    if !header_has(headers, header::ACCEPT, "application/json") {
        return None;
    }
    let params: CallParams = serde_json::from_value(message.params?).ok()?;
    let version = headers.get("mcp-protocol-version").and_then(|v| v.to_str().ok());
    let caller = match session {
        Some(id) => {
            let legacy = version.is_none_or(|v| v != STATELESS);
            let bare = params.meta.as_ref().is_none_or(Map::is_empty);
            let (local, client) = fast.app.gateway.table.plain(&id).filter(|_| legacy && bare)?;
            Caller::Session(local, client)
        }
        None => Caller::Stateless(stateless_client(headers, &params, version)?),
    };
    let id = message.id?;
    Some(call(fast, parts, caller, id, params).await)
}

/// The client of a stateless request that may take the fast path: its `_meta` declares the revision and none of
/// the capabilities a server's requests are relayed by, and its headers say what its body says.
fn stateless_client(headers: &HeaderMap, params: &CallParams, version: Option<&str>) -> Option<String> {
    let meta = params.meta.as_ref()?;
    let said = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let matches = version == Some(STATELESS)
        && said("mcp-method") == Some("tools/call")
        && said("mcp-name") == Some(params.name.as_str())
        && meta.get(META[0]).and_then(Value::as_str) == Some(STATELESS)
        && meta.keys().all(|k| META.contains(&k.as_str()));
    let caps = meta.get(META[1])?.as_object()?;
    if !matches || ["sampling", "elicitation", "roots"].iter().any(|c| caps.contains_key(*c)) {
        return None;
    }
    let name = meta.get(META[2]).and_then(|i| i["name"].as_str()).unwrap_or("mcp");
    Some(name.to_string())
}

/// Runs the call as the MCP handler would, and answers it in one JSON body.
async fn call(
    fast: &Fast,
    parts: &axum::http::request::Parts,
    caller: Caller,
    id: Value,
    params: CallParams,
) -> Response {
    let gateway = &fast.app.gateway;
    let who = parts.extensions.get::<Arc<super::guard::Who>>().map(|w| &**w);
    let cancel = CancellationToken::new();
    // A client that goes away mid-call cancels it (this future is dropped with its connection).
    let _gone = cancel.clone().drop_guard();
    let key = match &caller {
        Caller::Session(local, _) => {
            let key = (local.clone(), id.to_string());
            fast.flying().insert(key.clone(), cancel.clone());
            Some(key)
        }
        Caller::Stateless(_) => None,
    };
    let client = match &caller {
        Caller::Session(_, name) | Caller::Stateless(name) => name.as_str(),
    };
    let start = Instant::now();
    let result = gateway.call(who, &params.name, params.arguments, &cancel, None).await;
    gateway.record(client, who, "mcp-http", &params.name, &result, start.elapsed()).await;
    if let Some(key) = key {
        fast.flying().remove(&key);
    }
    let body = match super::mcp::answer(result) {
        Ok(mut result) => {
            // As rmcp would: the field exists from the stateless revision on.
            result.result_type = matches!(caller, Caller::Stateless(_)).then_some(ResultType::COMPLETE);
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        }
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A session's `notifications/cancelled` for a call in flight here: cancelled, and accepted (202).
fn cancel(fast: &Fast, session: &SessionId, params: Option<&Value>) -> Option<Response> {
    let request = params?.get("requestId")?;
    let local = fast.app.gateway.table.local(session);
    let token = fast.flying().remove(&(local, request.to_string()))?;
    token.cancel();
    Some(StatusCode::ACCEPTED.into_response())
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, what: &str) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(what))
}
