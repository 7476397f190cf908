//! What running as one replica of a fleet adds to each HTTP request: the cluster-wide rate limits (after this
//! replica's own, which alone decide when Redis cannot be asked — see `cluster`) and sealed session ids on /mcp
//! (`seal`: the `initialize` response's local id is replaced by the sealed one; a sealed id presented by another
//! caller than the one that created it is an unknown session; one its client DELETEs is closed fleet-wide).
//! Also their parts of /status and /metrics.

use super::guard::{Who, too_many};
use super::rest::{App, error};
use super::{Gateway, cluster::Verdict};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;

const SESSION: &str = "mcp-session-id";

/// The cluster-wide limits of this request: its address's (`--rate-limit`) and its caller's (`rate` of its token).
pub(super) async fn limit(app: &App, ip: IpAddr, who: Option<&Who>) -> Result<(), Response> {
    let Some(cluster) = &app.gateway.cluster else { return Ok(()) };
    let by_address = app.guards.rate.map(|r| (format!("addr:{ip}"), r, "rate limit exceeded"));
    let by_caller =
        who.and_then(|w| Some((format!("token:{}", w.name), w.rate?, "this token's rate limit is exceeded")));
    for (key, rate, message) in by_address.into_iter().chain(by_caller) {
        if let Verdict::Limited(wait) = cluster.admit(&key, rate).await {
            return Err(too_many(message, wait).into_response());
        }
    }
    Ok(())
}

/// /mcp with sealed session ids: refuses a sealed id of another caller, seals the id of a new session.
pub(super) async fn reseal(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(store) = app.gateway.sealed.clone() else { return next.run(req).await };
    let who = req.extensions().get::<Arc<Who>>().map(|w| w.name.clone());
    let presented = req.headers().get(SESSION).and_then(|v| v.to_str().ok()).and_then(|id| store.local_id(id));
    if let Some((_, owner)) = &presented
        && *owner != who
    {
        return error(StatusCode::NOT_FOUND, "session not found (it belongs to another caller)");
    }
    let closing = req.method() == axum::http::Method::DELETE;
    let mut response = next.run(req).await;
    if let (true, Some((local, _)), Some(cluster)) = (closing, &presented, &app.gateway.cluster)
        && response.status().is_success()
    {
        cluster.closed(local, app.gateway.table.keep_alive()).await;
    }
    let local = response.headers().get(SESSION).and_then(|v| v.to_str().ok());
    if let Some(sealed) = local.and_then(|id| store.seal_new(id, who.as_deref()))
        && let Ok(value) = HeaderValue::from_str(&sealed)
    {
        response.headers_mut().insert(SESSION, value);
    }
    response
}

/// /status's `fleet`: how sessions and rate limits work on this replica.
pub(super) fn status(g: &Gateway) -> Value {
    json!({
        "sessions": if g.sealed.is_some() { "sealed" } else { "local" },
        "sessions_restored": g.sealed.as_ref().map_or(0, |s| s.restored()),
        "cluster": g.cluster.as_ref().map(|c| c.status()),
    })
}

/// Prometheus lines of the fleet: sessions taken over from other replicas; Redis's reachability.
pub(super) fn metrics(g: &Gateway, out: &mut String) {
    if let Some(s) = &g.sealed {
        out.push_str("# HELP hub_sessions_restored_total MCP sessions this replica took over from a sealed id.\n");
        out.push_str(&format!(
            "# TYPE hub_sessions_restored_total counter\nhub_sessions_restored_total {}\n",
            s.restored()
        ));
    }
    if let Some(c) = &g.cluster {
        c.metrics(out);
    }
}
