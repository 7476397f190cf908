//! The short way through `/mcp` for the request that decides its throughput: a `tools/call` of a client that
//! cannot be asked anything back. rmcp's way passes every request of a session through the session's worker and
//! frames every answer as an SSE stream (a stateless request gets a service of its own); here the call is routed,
//! checked and recorded as the MCP handler would (`mcp::answer`) and answered in one `application/json` body —
//! or, when the server reports progress or logs first, as an SSE stream of those and then the answer (`relay`),
//! which is what the spec allows for any POSTed request. Taken only when it changes nothing the client can see:
//! - a session the table calls *plain* (`sessions`: no sampling, elicitation or roots declared — nothing a server
//!   asks is relayed to it), or a stateless-revision (2026-07-28) request whose `_meta` declares none of the three
//!   and whose `Mcp-Method`/`Mcp-Name` headers match its body;
//! - nothing in `_meta` but the progress token (and a stateless request's own fields), no task, no `Mcp-Param-*`
//!   header; a small JSON body; a client that accepts JSON.
//!
//! Everything else — and every malformed request, whose error is rmcp's to give — goes on to rmcp untouched. A
//! session's `notifications/cancelled` for a call in flight here cancels it here.

mod relay;

use super::rest::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{JsonObject, ProgressToken};
use rmcp::transport::streamable_http_server::session::SessionId;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Bodies larger than this are left to rmcp (a call with arguments this big is not about throughput).
const SMALL: usize = 64 * 1024;
const STATELESS: &str = "2026-07-28";
const PROGRESS: &str = "progressToken";
/// `_meta` keys of a call that take nothing from the short way: its progress token and its trace context.
const PLAIN: [&str; 3] = [PROGRESS, "traceparent", "tracestate"];
const META: [&str; 3] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
];
/// The capabilities by which what a server asks mid-call is relayed to the client.
const ASKED: [&str; 3] = ["sampling", "elicitation", "roots"];

/// A session's call in flight here: (local session, request id as JSON).
type Flying = (SessionId, String);

/// The fast path's state: the application and the calls of sessions in flight here.
pub(super) struct Fast {
    pub(super) app: Arc<App>,
    flying: Mutex<HashMap<Flying, CancellationToken>>,
}

impl Fast {
    pub(super) fn new(app: Arc<App>) -> Arc<Fast> {
        Arc::new(Fast { app, flying: Mutex::default() })
    }

    fn flying(&self) -> std::sync::MutexGuard<'_, HashMap<Flying, CancellationToken>> {
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
    if let Some(taken) = take(&fast, &parts, &bytes).await {
        return taken;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The answer when this request is one for the short way (or a cancellation of one); None: rmcp's to answer.
async fn take(fast: &Arc<Fast>, parts: &axum::http::request::Parts, bytes: &[u8]) -> Option<Response> {
    let message: Message = serde_json::from_slice(bytes).ok()?;
    let headers = &parts.headers;
    let presented = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
    let session = presented.map(SessionId::from);
    match (message.jsonrpc.as_str(), message.method.as_str(), &session, &message.id) {
        ("2.0", "notifications/cancelled", Some(id), None) => return cancel(fast, id, message.params.as_ref()),
        ("2.0", "tools/call", _, Some(id)) if id.is_string() || id.is_i64() || id.is_u64() => {}
        _ => return None,
    }
    // Headers that mirror parameters (SEP-2243 `Mcp-Param-*`) are rmcp's to check against the tool's schema.
    let mirrored = headers.keys().any(|k| k.as_str().starts_with("mcp-param-"));
    if mirrored || !header_has(headers, header::ACCEPT, "application/json") {
        return None;
    }
    let params: CallParams = serde_json::from_value(message.params?).ok()?;
    let meta = params.meta.unwrap_or_default();
    let token = match meta.get(PROGRESS) {
        Some(t) => Some(serde_json::from_value::<ProgressToken>(t.clone()).ok()?),
        None => None,
    };
    let version = headers.get("mcp-protocol-version").and_then(|v| v.to_str().ok());
    let (client, flying) = match &session {
        Some(id) => {
            let legacy = version.is_none_or(|v| v != STATELESS);
            let bare = meta.keys().all(|k| PLAIN.contains(&k.as_str()));
            let (local, client) = fast.app.gateway.table.plain(id).filter(|_| legacy && bare)?;
            (client, Some((local, message.id.as_ref()?.to_string())))
        }
        None => (stateless_client(headers, &params.name, &meta, version)?, None),
    };
    let span = crate::telemetry::propagate::serving(&params.name, presented, Some(headers), Some(&meta));
    let call = relay::Call {
        span,
        id: message.id?,
        name: params.name,
        arguments: params.arguments,
        token,
        client,
        key: super::downstream::http_key(presented),
        flying,
        stateless: session.is_none(),
    };
    let who = parts.extensions.get::<Arc<super::guard::Who>>().cloned();
    Some(relay::run(fast.clone(), who, call).await)
}

/// The client of a stateless request that may take the short way: its `_meta` declares the revision and none of
/// the capabilities a server's requests are relayed by, and its headers say what its body says.
fn stateless_client(
    headers: &HeaderMap,
    name: &str,
    meta: &Map<String, Value>,
    version: Option<&str>,
) -> Option<String> {
    let said = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let matches = version == Some(STATELESS)
        && said("mcp-method") == Some("tools/call")
        && said("mcp-name") == Some(name)
        && meta.get(META[0]).and_then(Value::as_str) == Some(STATELESS)
        && meta.keys().all(|k| PLAIN.contains(&k.as_str()) || META.contains(&k.as_str()));
    let caps = meta.get(META[1])?.as_object()?;
    if !matches || ASKED.iter().any(|c| caps.contains_key(*c)) {
        return None;
    }
    let name = meta.get(META[2]).and_then(|i| i["name"].as_str()).unwrap_or("mcp");
    Some(name.to_string())
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
