//! The gateway's HTTP face on one port: the REST API (`/tools`, `/call`, `/status`, `/healthz`, `/metrics`) and
//! the MCP streamable-HTTP endpoint (`/mcp`), behind the guards: bearer token (constant-time compare; every route
//! but /healthz), request body limit (413), per-client rate limit (429 with Retry-After), and — on /mcp — Host
//! and Origin checks against DNS rebinding.

use super::{Gateway, mcp::Hub};
use crate::registry::{CallError, Phase};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Guards {
    pub token: Option<String>,
    pub body_limit: usize,
    /// Requests per second per client address (None: no limit).
    pub rate: Option<f64>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// Token buckets per client address.
#[derive(Default)]
struct Limiter(Mutex<HashMap<IpAddr, (f64, Instant)>>);

impl Limiter {
    /// `Ok` or the seconds to wait.
    fn take(&self, ip: IpAddr, rate: f64) -> Result<(), f64> {
        let burst = (rate * 2.0).max(1.0);
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = m.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - *tokens) / rate)
        }
    }
}

/// Constant-time comparison (the time taken does not depend on where the strings differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && a.len() == b.len()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "error": message}))).into_response()
}

struct App {
    gateway: Arc<Gateway>,
    guards: Guards,
    limiter: Limiter,
}

async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() != "/healthz" {
        if let Some(token) = &app.guards.token {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
        }
        if let Some(rate) = app.guards.rate
            && let Err(wait) = app.limiter.take(addr.ip(), rate)
        {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            let secs = wait.ceil().max(1.0) as u64;
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        if req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > app.guards.body_limit)
        {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
    }
    next.run(req).await
}

async fn tools(State(app): State<Arc<App>>) -> Json<Value> {
    let index = app.gateway.registry.index();
    let tools: Vec<Value> = index
        .entries()
        .iter()
        .map(|e| {
            json!({"name": e.name, "server": e.server, "description": e.description(), "kind": e.kind(),
                   "annotations": e.tool.annotations, "input_schema": e.tool.input_schema, "output_schema": e.tool.output_schema})
        })
        .collect();
    Json(json!({"total_count": tools.len(), "tools": tools}))
}

async fn call(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not valid JSON: {e}")),
    };
    let Some(tool) = parsed.get("tool").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "body must be {\"tool\": NAME, \"arguments\": {...}}");
    };
    let args = match parsed.get("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return error(StatusCode::BAD_REQUEST, "arguments must be a JSON object"),
    };
    let start = Instant::now();
    let result = app.gateway.registry.call(tool, args).await;
    let took = start.elapsed();
    let ms = crate::output::millis(took);
    let client = addr.ip().to_string();
    match result {
        Ok(c) => {
            let ok = c.result.is_error != Some(true);
            app.gateway.stats.record(
                &client,
                "rest",
                &c.entry.name,
                &c.entry.server,
                if ok { "ok" } else { "tool_error" },
                took,
            );
            let value = crate::output::result_value(&c.result);
            let err = (!ok).then(|| crate::output::result_text(&c.result));
            Json(json!({"success": ok, "result": value, "server": c.entry.server, "tool": c.entry.name, "execution_time_ms": ms, "error": err})).into_response()
        }
        Err(e) => {
            let server = app.gateway.registry.resolve(tool).map(|e| e.server).unwrap_or_default();
            app.gateway.stats.record(&client, "rest", tool, &server, super::outcome(&e), took);
            let status = match e {
                CallError::UnknownTool { .. } => StatusCode::NOT_FOUND,
                CallError::Down { .. } => StatusCode::SERVICE_UNAVAILABLE,
                CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                CallError::Cancelled { .. } | CallError::Protocol { .. } => StatusCode::BAD_GATEWAY,
            };
            let body = json!({"success": false, "result": null, "server": server, "tool": tool, "execution_time_ms": ms, "error": e.to_string()});
            (status, Json(body)).into_response()
        }
    }
}

async fn status(State(app): State<Arc<App>>) -> Json<Value> {
    let g = &app.gateway;
    let statuses = g.registry.status(false).await;
    let online = statuses.iter().filter(|s| s.state == Phase::Up).count();
    let enabled = statuses.iter().filter(|s| s.state != Phase::Disabled).count();
    let refresh = g.registry.last_refresh().map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"), "uptime_seconds": g.started.elapsed().as_secs_f64().round(),
        "servers_count": enabled, "servers_online": online, "tools_count": g.registry.index().len(),
        "last_refresh": refresh, "servers": statuses,
    }))
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let down = app.gateway.registry.required_down();
    if down.is_empty() {
        Json(json!({"status": "ok"})).into_response()
    } else {
        let names: Vec<&str> = down.iter().map(|(n, _)| n.as_str()).collect();
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "down": names}))).into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let statuses = app.gateway.registry.status(false).await;
    let text = app.gateway.stats.prometheus(&app.gateway.registry, &statuses);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The whole HTTP application.
pub fn router(gateway: Arc<Gateway>, guards: Guards) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(gateway.shutdown.child_token())
        .with_max_request_body_bytes(guards.body_limit)
        .with_allowed_hosts(guards.allowed_hosts.clone());
    if !guards.allowed_origins.is_empty() {
        config = config.with_allowed_origins(guards.allowed_origins.clone());
    }
    let hub = Hub { gateway: gateway.clone(), via: "mcp-http" };
    let mcp = StreamableHttpService::new(move || Ok(hub.clone()), LocalSessionManager::default().into(), config);
    let body_limit = guards.body_limit;
    let app = Arc::new(App { gateway, guards, limiter: Limiter::default() });
    Router::new()
        .route("/tools", get(tools))
        .route("/call", post(call))
        .route("/status", get(status))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest_service("/mcp", mcp)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}
