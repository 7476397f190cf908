//! The HTTP side of `wire`: rmcp's reqwest client for streamable HTTP, watched. A reply it cannot use trips the
//! connection's `Fault`, so pending requests fail at once with the reason and the server is marked down and
//! restarted, as on stdio: a JSON body that is not a JSON-RPC message or is over the size cap, and an event of an
//! SSE response whose data is not JSON, is nested past 128 levels, is not JSON-RPC, or is over the event cap.
//! rmcp fails a bad JSON body at once by itself, but a bad SSE event only ends its stream, and the request it
//! answered would wait for its deadline.
//!
//! Owns: nothing but the watching; every request is rmcp's reqwest client's own.

use super::wire::{Fault, fault_of_http};
use futures::StreamExt;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

type Posted = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;

/// `C` is rmcp's reqwest client, or that client wrapped by rmcp's `AuthClient` (OAuth: the token on every
/// request, refreshed before expiry and once on a 401). Watched sits outside it, so a 401 it sees is final.
#[derive(Clone)]
pub struct Watched<C = reqwest::Client> {
    inner: C,
    fault: Fault,
    /// SSE events seen on this connection (the number of a bad one goes into the report).
    events: Arc<AtomicU64>,
}

impl Watched {
    pub fn new(fault: Fault) -> Watched {
        Watched::around(client(), fault)
    }
}

impl<C> Watched<C> {
    pub fn around(inner: C, fault: Fault) -> Watched<C> {
        Watched { inner, fault, events: Arc::default() }
    }

    fn post(&self, r: Posted) -> Posted {
        match r {
            Ok(StreamableHttpPostResponse::Sse(stream, session)) => {
                Ok(StreamableHttpPostResponse::Sse(self.stream(stream), session))
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
            ok => ok,
        }
    }

    /// A protocol error trips the connection's fault; a refused authorization marks it as needing a login.
    fn failed(&self, e: &StreamableHttpError<reqwest::Error>) {
        if let Some(reason) = fault_of_http(e) {
            self.fault.trip(reason);
        } else if let StreamableHttpError::AuthRequired(refusal) = e {
            self.fault.refuse_authorization(refusal.www_authenticate_header.clone());
        }
    }

    fn stream(&self, stream: BoxedSseResponse) -> BoxedSseResponse {
        let (fault, events) = (self.fault.clone(), self.events.clone());
        stream
            .map(move |mut event| {
                let number = events.fetch_add(1, Ordering::Relaxed) + 1;
                match &mut event {
                    Ok(sse) => match sse.data.as_deref().map(check) {
                        Some(Err(problem)) => fault.trip(format!(
                            "SSE event {number} ({} bytes) {problem}",
                            sse.data.as_ref().map_or(0, String::len)
                        )),
                        Some(Ok(Kind::Ordered)) => {
                            let seq = fault.progress.arrived();
                            sse.data = sse.data.take().map(|d| numbered(d, seq));
                        }
                        Some(Ok(Kind::Other)) => {
                            if let Some(renamed) = sse.data.as_deref().and_then(super::lent::rename) {
                                sse.data = Some(renamed);
                            }
                        }
                        _ => {}
                    },
                    Err(e) if e.to_string().contains("exceeded the maximum size") => {
                        fault.trip(format!("SSE event {number}: {e}"));
                    }
                    Err(_) => {}
                }
                event
            })
            .boxed()
    }
}

/// The client rmcp builds for itself (`default_http_client`, private there): no idle pooling (a reused
/// connection whose last body was not read to the end stalls ~40 ms on delayed ACKs), and only same-origin 307/308
/// redirects followed, at most 10 — others would drop the POST body or replay the session and headers elsewhere.
pub fn client() -> reqwest::Client {
    builder().build().unwrap_or_default()
}

/// The same client speaking HTTP over the Unix socket at `path` (another hub's, `attach`).
pub fn unix_client(path: &std::path::Path) -> reqwest::Client {
    // No TLS over a socket: skip loading the system's root certificates (milliseconds per process).
    builder().unix_socket(path).tls_certs_only(Vec::new()).build().unwrap_or_default()
}

fn builder() -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        if !keeps_body || !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("exceeded 10 redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder().pool_max_idle_per_host(0).redirect(policy)
}

/// A progress or log notification's JSON with its arrival number in `params._meta` (see `wire::barrier`).
fn numbered(data: String, seq: u64) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&data) else { return data };
    if !v["params"].is_object() {
        return data;
    }
    if !v["params"]["_meta"].is_object() {
        v["params"]["_meta"] = serde_json::json!({});
    }
    v["params"]["_meta"][super::wire::barrier::SEQ] = seq.into();
    serde_json::to_string(&v).unwrap_or(data)
}

/// What one SSE event carries, as far as the transport cares.
#[derive(Debug, PartialEq)]
enum Kind {
    /// Nothing (a priming event), or a message other than progress.
    Other,
    /// `notifications/progress` or `notifications/message` (numbered for the barrier, `wire::barrier`).
    Ordered,
}

/// What one SSE event's data is, or what is wrong with it (cheap: nothing is built).
fn check(data: &str) -> Result<Kind, String> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        jsonrpc: Option<serde::de::IgnoredAny>,
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        result: Option<serde::de::IgnoredAny>,
        error: Option<serde::de::IgnoredAny>,
    }
    if data.trim().is_empty() {
        return Ok(Kind::Other);
    }
    if let Some(at) = too_deep(data, 128) {
        return Err(format!("nests deeper than 128 levels (at byte {at})"));
    }
    match serde_json::from_str::<Envelope>(data) {
        Ok(e) if e.jsonrpc.is_some() && e.method.as_deref().is_some_and(super::wire::barrier::ordered) => {
            Ok(Kind::Ordered)
        }
        Ok(e) if e.jsonrpc.is_some() && (e.method.is_some() || e.result.is_some() || e.error.is_some()) => {
            Ok(Kind::Other)
        }
        Ok(_) => Err("is not a JSON-RPC message".into()),
        Err(e) => Err(format!("is not JSON: {e}")),
    }
}

/// Where `json` first nests deeper than `limit` (serde_json skips ignored values without counting depth, but
/// rmcp's typed parse stops at 128).
fn too_deep(json: &str, limit: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in json.bytes().enumerate() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A request's trace context (its `_meta`, see `telemetry::propagate`) as the W3C headers as well, for HTTP
/// servers and proxies that read trace context from headers only.
fn traced(message: &ClientJsonRpcMessage, headers: &mut HashMap<HeaderName, HeaderValue>) {
    use rmcp::model::GetMeta;
    let ClientJsonRpcMessage::Request(r) = message else { return };
    let meta = r.request.get_meta();
    for (name, value) in [("traceparent", meta.get_traceparent()), ("tracestate", meta.get_tracestate())] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

impl<C: StreamableHttpClient<Error = reqwest::Error> + Sync> StreamableHttpClient for Watched<C> {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Posted {
        traced(&message, &mut custom_headers);
        let message = super::lent::initialize(message);
        self.post(self.inner.post_message(uri, message, session_id, auth_header, custom_headers).await)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Posted {
        traced(&message, &mut custom_headers);
        let r = self.inner.post_message_with_max_sse_event_size(
            uri,
            super::lent::initialize(message),
            session_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        );
        self.post(r.await)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Posted {
        traced(&message, &mut custom_headers);
        let message = super::lent::initialize(message);
        let r =
            self.inner.post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits);
        self.post(r.await)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        self.inner.delete_session(uri, session_id, auth_header, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxedSseResponse, StreamableHttpError<reqwest::Error>> {
        let r = self.inner.get_stream(uri, session_id, last_event_id, auth_header, custom_headers).await;
        r.map(|s| self.stream(s)).inspect_err(|e| self.failed(e))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxedSseResponse, StreamableHttpError<reqwest::Error>> {
        let r = self.inner.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        );
        r.await.map(|s| self.stream(s)).inspect_err(|e| self.failed(e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sse_event_data_is_checked_without_building_it() {
        use super::Kind;
        assert_eq!(super::check(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), Ok(Kind::Other));
        assert_eq!(super::check(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#), Ok(Kind::Ordered));
        assert!(super::check("not json").unwrap_err().contains("is not JSON"));
        assert!(super::check(r#"{"hello":1}"#).unwrap_err().contains("not a JSON-RPC message"));
        let deep = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(super::check(&deep).unwrap_err().contains("deeper than 128"));
        let strings = format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{}\\\"{}"}}"#, "[".repeat(200), "{".repeat(200));
        assert_eq!(super::check(&strings), Ok(Kind::Other), "brackets inside strings do not count");
    }
}
