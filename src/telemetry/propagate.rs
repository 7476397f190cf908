//! W3C trace context in and out (issue 19): the current span's `traceparent`/`tracestate` for the model
//! endpoint's HTTP headers and for every upstream MCP request's `params._meta` (SEP-414; the HTTP transport
//! copies it into headers, see `registry::watched`); and a `traceparent` arriving at the gateway, in an HTTP
//! header or in `_meta`, made the parent of the gateway's span. Nothing is added while telemetry is off.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The current span's context as W3C headers (`traceparent`, and `tracestate` when it has one); empty when
/// telemetry is off or there is no span.
pub fn current() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    if super::on() {
        let cx = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
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

/// Makes the context that `traceparent` (and `tracestate`) name the parent of `span`; an invalid one is
/// ignored (the span stays a root), as the W3C spec asks.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|_| super::on()) else { return };
    let mut carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    if let Some(state) = tracestate {
        carrier.insert("tracestate".into(), state.to_string());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    use opentelemetry::trace::TraceContextExt;
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// `adopt` from HTTP headers, or else from an MCP request's `_meta` (a JSON object).
pub fn adopt_from(
    span: &tracing::Span,
    headers: Option<&axum::http::HeaderMap>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) {
    if !super::on() {
        return;
    }
    let header = |name: &str| headers.and_then(|h| h.get(name)).and_then(|v| v.to_str().ok());
    let field = |name: &str| meta.and_then(|m| m.get(name)).and_then(|v| v.as_str());
    match header("traceparent") {
        Some(tp) => adopt(span, Some(tp), header("tracestate")),
        None => adopt(span, field("traceparent"), field("tracestate")),
    }
}

/// The gateway's span of one `tools/call` (see `spans::gateway`), its parent the client's trace context.
pub fn serving(
    tool: &str,
    session: Option<&str>,
    headers: Option<&axum::http::HeaderMap>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> tracing::Span {
    if !super::on() {
        return tracing::Span::none();
    }
    let span = super::spans::gateway("tools/call", Some(tool), session);
    adopt_from(&span, headers, meta);
    span
}
