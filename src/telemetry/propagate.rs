//! W3C trace context in and out (issue 19): the current span's `traceparent`/`tracestate` for the model
//! endpoint's HTTP headers and for every upstream MCP request's `params._meta` (SEP-414; the HTTP transport
//! copies it into headers, see `registry::watched`); and a `traceparent` arriving at the gateway, in an HTTP
//! header or in `_meta`, made the parent of the gateway's span. Nothing is added while telemetry is off.

use super::spans::Span;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;

/// The current span's context as W3C headers (`traceparent`, and `tracestate` when it has one); empty when
/// telemetry is off or there is no span.
pub fn current() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    if super::on() {
        TraceContextPropagator::new().inject_context(&Context::current(), &mut carrier);
    }
    carrier
}

/// The request's headers with the current trace context.
pub fn headers(mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (k, v) in current() {
        request = request.header(k, v);
    }
    request
}

/// `_meta` for an upstream request: the current trace context, or `None`.
pub fn meta() -> Option<rmcp::model::RequestMetaObject> {
    let carrier = current();
    let traceparent = carrier.get("traceparent")?;
    let mut meta = rmcp::model::RequestMetaObject::new();
    meta.set_traceparent(traceparent);
    if let Some(state) = carrier.get("tracestate").filter(|s| !s.is_empty()) {
        meta.set_tracestate(state);
    }
    Some(meta)
}

/// The context that `traceparent` (and `tracestate`) name; a new trace when there is none or it is invalid (as
/// the W3C spec asks).
fn parent(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    let Some(traceparent) = traceparent else { return Context::new() };
    let mut carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    if let Some(state) = tracestate {
        carrier.insert("tracestate".into(), state.to_string());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() { cx } else { Context::new() }
}

/// `parent` from HTTP headers, or else from an MCP request's `_meta` (a JSON object).
fn parent_from(
    headers: Option<&axum::http::HeaderMap>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Context {
    let header = |name: &str| headers.and_then(|h| h.get(name)).and_then(|v| v.to_str().ok());
    let field = |name: &str| meta.and_then(|m| m.get(name)).and_then(|v| v.as_str());
    match header("traceparent") {
        Some(tp) => parent(Some(tp), header("tracestate")),
        None => parent(field("traceparent"), field("tracestate")),
    }
}

/// The gateway's span of one `tools/call` (see `spans::gateway`), its parent the client's trace context.
pub fn serving(
    tool: &str,
    session: Option<&str>,
    headers: Option<&axum::http::HeaderMap>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Span {
    if !super::on() {
        return Span::default();
    }
    super::spans::gateway("tools/call", Some(tool), session, &parent_from(headers, meta))
}
