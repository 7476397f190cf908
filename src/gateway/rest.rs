//! The gateway's HTTP face on one port: the REST API (`/tools`, `/call`, `/status`, `/healthz`, `/metrics`; the
//! resources and prompts of `offers`) and the MCP streamable-HTTP endpoint (`/mcp`, sessions in
//! `sessions::Table`), behind the browser guard (`browser`: Host, Origin, content type, CORS), the guards of
//! `guard` and — on /mcp — rmcp's own Host and Origin checks.

use super::browser;
use super::guard::{Guards, Limits, Who};
use super::offers;
use super::profile::Profile;
use super::{Gateway, mcp::Hub};
use crate::registry::{CallError, ControlError, Phase};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "error": message}))).into_response()
}

pub(super) struct App {
    pub(super) gateway: Arc<Gateway>,
    pub(super) guards: Guards,
    limits: Limits,
    browser: browser::Allowed,
    jwt: Option<Arc<super::jwt::Jwt>>,
    /// `/mcp` calls answered the short way (`fast`).
    pub(super) short_calls: std::sync::atomic::AtomicU64,
}

/// The guards, in order: the browser guard (Host, Origin, content type; a preflight from an allowed Origin is
/// answered here), then rate limit, tokens and body size; an allowed Origin is named on the response.
async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let origin = match app.browser.check(req.method(), req.uri(), req.headers()) {
        Ok(origin) => origin,
        Err(refused) => return refused.into_response(),
    };
    if let Some(origin) = &origin
        && req.method() == axum::http::Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return browser::preflight(origin);
    }
    let mut req = req;
    let checked = match (&app.jwt, super::guard::bearer(req.headers())) {
        (Some(jwt), Some(token)) if super::jwt::looks_like(token) => by_jwt(&app, jwt, addr.ip(), req.headers()).await,
        _ => app
            .limits
            .check(&app.guards, addr.ip(), req.uri().path(), req.headers())
            .map_err(IntoResponse::into_response),
    };
    let mut response = match checked {
        Ok(who) => {
            // For the handlers (and, through rmcp's request parts, the MCP ones): who is calling.
            match super::fleet::limit(&app, addr.ip(), who.as_deref()).await {
                Err(refused) => refused,
                Ok(()) => {
                    if let Some(who) = who {
                        req.extensions_mut().insert(who);
                    }
                    next.run(req).await
                }
            }
        }
        Err(refused) => refused,
    };
    if let Some(origin) = &origin {
        browser::allow(response.headers_mut(), origin);
    }
    response
}

/// A request with a JWT: the address admitted (rate limit, lockout), the token verified, the caller's own limit
/// and the body limit applied. An invalid token counts as a wrong one; no keys to check it with: 503.
async fn by_jwt(
    app: &App,
    jwt: &super::jwt::Jwt,
    ip: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Arc<Who>>, Response> {
    app.limits.admit(ip).map_err(IntoResponse::into_response)?;
    let token = super::guard::bearer(headers).unwrap_or_default();
    let who = match jwt.verify(token).await {
        super::jwt::Verdict::Valid(name, subject) => match app.limits.named(&name, subject) {
            Some(who) => who,
            None => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "the policy a token names is not loaded")),
        },
        super::jwt::Verdict::Invalid(why) => {
            app.limits.failed(ip);
            let mut r = error(StatusCode::UNAUTHORIZED, &why);
            let challenge = format!("Bearer error=\"invalid_token\", resource_metadata=\"{}\"", metadata_url(headers));
            if let Ok(v) = axum::http::HeaderValue::from_str(&challenge) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return Err(r);
        }
        super::jwt::Verdict::Unavailable(why) => return Err(error(StatusCode::SERVICE_UNAVAILABLE, &why)),
    };
    app.limits.after(&app.guards, Some(&who), headers).map_err(IntoResponse::into_response)?;
    Ok(Some(who))
}

/// The base URL the request reached the gateway by.
fn base_of(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

fn metadata_url(headers: &axum::http::HeaderMap) -> String {
    format!("{}/.well-known/oauth-protected-resource", base_of(headers))
}

/// RFC 9728 protected-resource metadata (404 without `[gateway.auth]`).
async fn resource_metadata(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> Response {
    match &app.jwt {
        Some(jwt) => Json(jwt.metadata(&base_of(&headers))).into_response(),
        None => error(StatusCode::NOT_FOUND, "this gateway takes no OAuth tokens ([gateway.auth] is not set)"),
    }
}

/// The caller the guard recognised by its token (none when no token is needed).
pub(super) type Caller = Option<axum::Extension<Arc<Who>>>;

async fn tools(State(app): State<Arc<App>>, who: Caller) -> Json<Value> {
    let who = who.as_deref().map(|w| &**w);
    Json(crate::output::tool_list_of(&app.gateway.registry, &[], |e| super::visible(who, e)))
}

async fn call(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    who: Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (tool, args) = match named(&body, "tool") {
        Ok(parsed) => parsed,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let who = who.map(|w| w.0);
    let client = addr.ip().to_string();
    let streamed =
        headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    if streamed {
        return super::stream::sse(app, client, who, tool, args);
    }
    let (cancel, span) =
        (CancellationToken::new(), crate::telemetry::propagate::serving(&tool, None, Some(&headers), None));
    let (status, body, retry) = span.run(app.call(&client, who, &tool, args, &cancel, None)).await;
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    response
}

impl App {
    /// Admits one call that arrives on a WebSocket from `ip` under the headers of its upgrade: the same rate limits
    /// and token checks as a REST request. A JWT was verified at the upgrade (`who`): the address's limit and its
    /// identity's own limit still apply to every call.
    pub(super) fn admit(
        &self,
        ip: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
        who: Option<&Who>,
    ) -> Result<(), &'static str> {
        if self.jwt.is_some() && super::guard::bearer(headers).is_some_and(super::jwt::looks_like) {
            let limited = self.limits.admit(ip).and_then(|_| self.limits.after(&self.guards, who, headers));
            return limited.map_err(|r| r.message());
        }
        self.limits.check(&self.guards, ip, "/call", headers).map(|_| ()).map_err(|r| r.message())
    }

    /// One call on behalf of `client` (counted and audited): the HTTP status, the body every REST face answers
    /// with (`success`, `result`, `server`, `tool`, `execution_time_ms`, `error`) and, for a server that is down,
    /// the seconds until it is retried.
    pub(super) async fn call(
        &self,
        client: &str,
        who: Option<Arc<Who>>,
        tool: &str,
        args: Option<rmcp::model::JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn crate::registry::origin::Origin>>,
    ) -> (StatusCode, Value, Option<u64>) {
        let who = who.as_deref();
        let start = Instant::now();
        let result = self.gateway.call(who, tool, args, cancel, origin).await;
        let took = start.elapsed();
        let ms = crate::output::millis(took);
        self.gateway.record(client, who, "rest", tool, &result, took).await;
        match result {
            Ok(c) => {
                let ok = c.result.is_error != Some(true);
                let value = crate::output::result_value(&c.result);
                let err = (!ok).then(|| crate::output::result_text(&c.result));
                let body = json!({"success": ok, "result": value, "server": c.entry.server, "tool": c.entry.name, "execution_time_ms": ms, "error": err});
                (StatusCode::OK, body, None)
            }
            Err(e) => {
                let server = self.gateway.registry.index().get(tool).map(|e| e.server.clone());
                let body = json!({"success": false, "result": null, "server": server, "tool": tool, "execution_time_ms": ms, "error": e.to_string()});
                // Retryable: when the supervisor's next attempt is due (at least a second).
                let retry = match &e {
                    CallError::Down { retry_in, .. } => {
                        Some(retry_in.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64))
                    }
                    _ => None,
                };
                (status_of(&e), body, retry)
            }
        }
    }
}

/// A body `{"KEY": NAME, "arguments": {...}}` (arguments optional): the name and the arguments, or why the
/// body is refused (a 400).
pub(super) fn named(body: &[u8], key: &str) -> Result<(String, Option<rmcp::model::JsonObject>), String> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let Some(name) = parsed.get(key).and_then(Value::as_str) else {
        return Err(format!("body must be {{\"{key}\": NAME, \"arguments\": {{...}}}}"));
    };
    match parsed.get("arguments") {
        None | Some(Value::Null) => Ok((name.to_string(), None)),
        Some(Value::Object(m)) => Ok((name.to_string(), Some(m.clone()))),
        Some(_) => Err("arguments must be a JSON object".into()),
    }
}

/// The HTTP status of a failed call, read or prompt.
pub(super) fn status_of(e: &CallError) -> StatusCode {
    match e {
        CallError::UnknownTool { .. } | CallError::UnknownResource { .. } | CallError::UnknownPrompt { .. } => {
            StatusCode::NOT_FOUND
        }
        CallError::BadArguments { .. } => StatusCode::BAD_REQUEST,
        CallError::Down { .. } => StatusCode::SERVICE_UNAVAILABLE,
        CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        CallError::Cancelled { .. } | CallError::Protocol { .. } => StatusCode::BAD_GATEWAY,
        CallError::Forbidden { .. } | CallError::Denied { .. } => StatusCode::FORBIDDEN,
    }
}

/// `GET /status[?ping=true]`: every server's state (with a round trip to each when `ping`).
async fn status(State(app): State<Arc<App>>, Query(q): Query<StatusQuery>) -> Json<Value> {
    let g = &app.gateway;
    let statuses = g.registry.status(q.ping.unwrap_or(false)).await;
    let online = statuses.iter().filter(|s| s.state == Phase::Up).count();
    let enabled = statuses.iter().filter(|s| s.state != Phase::Disabled).count();
    let refresh = g.registry.last_refresh().map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"), "uptime_seconds": g.started.elapsed().as_secs_f64().round(),
        "servers_count": enabled, "servers_online": online, "tools_count": g.registry.index().len(),
        "last_refresh": refresh, "servers": statuses,
        "sessions": {"http": g.table.count().await, "open": g.peers.live()},
        "fleet": super::fleet::status(g),
    }))
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    ping: Option<bool>,
}

/// `POST /servers/{name}/restart` and `/stop` (admin token): 202 with what became of the order, 404 for a name
/// that is not configured, 409 for a disabled server.
async fn operate(State(app): State<Arc<App>>, Path((name, action)): Path<(String, String)>) -> Response {
    let registry = &app.gateway.registry;
    let result = match action.as_str() {
        "restart" => registry.restart(&name),
        "stop" => registry.stop(&name),
        _ => return error(StatusCode::NOT_FOUND, "unknown action: use restart or stop"),
    };
    match result {
        Ok(accepted) => {
            tracing::info!(server = %name, "operator: {action} ({accepted:?})");
            (StatusCode::ACCEPTED, Json(json!({"server": name, "action": action, "accepted": accepted})))
                .into_response()
        }
        Err(e @ ControlError::Unknown { .. }) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ ControlError::Disabled(_)) => error(StatusCode::CONFLICT, &e.to_string()),
    }
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
    let g = &app.gateway;
    let mut extra = format!(
        "# HELP hub_mcp_sessions Open MCP sessions (streamable HTTP table; all faces).\n# TYPE hub_mcp_sessions gauge\n\
         hub_mcp_sessions{{table=\"http\"}} {}\nhub_mcp_sessions{{table=\"peers\"}} {}\n\
         # HELP hub_rate_limit_clients Client addresses the rate limiters remember.\n# TYPE hub_rate_limit_clients gauge\n\
         hub_rate_limit_clients {}\n\
         # HELP hub_mcp_short_calls_total MCP tool calls answered without rmcp's session worker (plain clients).\n\
         # TYPE hub_mcp_short_calls_total counter\nhub_mcp_short_calls_total {}\n",
        g.table.count().await,
        g.peers.live(),
        app.limits.tracked(),
        app.short_calls.load(std::sync::atomic::Ordering::Relaxed)
    );
    super::fleet::metrics(g, &mut extra);
    let text = g.stats.prometheus(&g.registry, &statuses, &extra);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The whole HTTP application.
pub fn router(gateway: Arc<Gateway>, guards: Guards, jwt: Option<Arc<super::jwt::Jwt>>) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(gateway.shutdown.child_token())
        .with_max_request_body_bytes(guards.body_limit)
        // A stateless-revision (2026-07-28) request whose first message is its answer gets it as plain JSON, not
        // an SSE stream (a call that reports progress or asks something first still streams). Sessions of older
        // revisions are unaffected: rmcp frames their answers as SSE.
        .with_json_response(true)
        .with_allowed_hosts(guards.allowed_hosts.clone());
    if !guards.allowed_origins.is_empty() {
        config = config.with_allowed_origins(guards.allowed_origins.clone());
    }
    if let Some(sealed) = &gateway.sealed {
        config.session_store = Some(sealed.clone());
    }
    let hub = Hub { gateway: gateway.clone(), via: "mcp-http", profile: Profile::Full };
    let searching = Hub { profile: Profile::Search, ..hub.clone() };
    // The search profile's sessions are this replica's own (not sealed, not in the short way's table).
    let mut search_config = config.clone();
    search_config.session_store = None;
    let search = StreamableHttpService::new(
        move || Ok(searching.clone()),
        Arc::new(rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default()),
        search_config,
    );
    let mcp = StreamableHttpService::new(move || Ok(hub.clone()), Arc::new(gateway.table.clone()), config);
    let body_limit = guards.body_limit;
    let browser = browser::Allowed {
        hosts: guards.allowed_hosts.iter().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()).collect(),
        origins: guards.allowed_origins.iter().map(|o| browser::normal_origin(o)).collect(),
    };
    let app =
        Arc::new(App { gateway, limits: Limits::new(&guards), guards, browser, jwt, short_calls: Default::default() });
    let mcp = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(super::fast::Fast::new(app.clone()), super::fast::answer))
        .layer(axum::middleware::from_fn_with_state(app.clone(), super::fleet::reseal));
    // The limiters forget idle clients once a minute, so their state stays bounded by the active ones.
    let (pruned, stop) = (app.clone(), app.gateway.shutdown.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => pruned.limits.prune(),
                _ = stop.cancelled() => break,
            }
        }
    });
    Router::new()
        .route("/tools", get(tools))
        .route("/tools/search", get(offers::search))
        // Also under a path that ends in /mcp, for clients that tell the transport from the URL (the Inspector).
        .nest_service("/search/mcp", search.clone())
        .nest_service("/mcp/search", search)
        .route("/call", post(call))
        .route("/ws", get(super::ws::upgrade))
        .route("/resources", get(offers::resources))
        .route("/resource", get(offers::resource))
        .route("/prompts", get(offers::prompts))
        .route("/prompt", post(offers::prompt))
        .route("/status", get(status))
        .route("/healthz", get(healthz))
        .route("/.well-known/oauth-protected-resource", get(resource_metadata))
        .route("/.well-known/oauth-protected-resource/mcp", get(resource_metadata))
        .route("/metrics", get(metrics))
        .route("/servers/{name}/{action}", post(operate))
        .merge(mcp)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}
