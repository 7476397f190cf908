//! Browser-proofing of every HTTP route, before any other guard: a web page the user merely visits must not
//! reach the gateway, neither by a cross-origin "simple" request (no preflight) nor by DNS rebinding.
//!
//! - Host: every request names a host the gateway answers to (loopback names, the bound address, `--allow-host`),
//!   or it is refused (403) — a rebinding page's requests carry its own host name.
//! - Origin: a request that carries an Origin (browsers send it on every cross-origin request, and `null` from
//!   sandboxed frames and files) is refused (403) unless that Origin was allowed with `--allow-origin` or is the
//!   gateway's own (`http://` + the Host it was reached by, itself checked). Requests without one (CLIs, SDK
//!   clients) are unaffected.
//! - Content type: a POST with a body (REST and /mcp) must say `application/json` (415 otherwise), so a form or a
//!   `text/plain` body — what a browser sends without a preflight — never runs a tool.
//! - CORS: no CORS headers at all unless the request's Origin is allowed; then a preflight (`OPTIONS`) is
//!   answered for it alone, and responses name it in `Access-Control-Allow-Origin`.
//!
//! rmcp's own Host/Origin checks on /mcp stay on behind this one.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What the browser guard lets in.
#[derive(Clone, Debug, Default)]
pub struct Allowed {
    /// Host names (without port), lower case; empty: loopback names only.
    pub hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`), lower case, no trailing slash.
    pub origins: Vec<String>,
}

/// The loopback names every HTTP face answers to.
pub const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why a request was refused.
#[derive(Debug, PartialEq)]
pub struct Refused(pub StatusCode, pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        super::rest::error(self.0, &self.1)
    }
}

/// The host part of a Host header value (`name:port`, `[v6]:port`, `name`), lower case.
fn host_of(value: &str) -> String {
    let value = value.trim();
    let host = match value.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        // A bare IPv6 address (not valid in a Host header, but unambiguous): kept whole.
        None if value.matches(':').count() > 1 => value,
        None => value.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(value, |(h, _)| h),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// An Origin as compared: lower case, without a trailing slash.
pub fn normal_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl Allowed {
    /// Checks one request; `Ok(Some(origin))` when it carries an allowed Origin (CORS headers are due).
    pub fn check(
        &self,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
    ) -> Result<Option<String>, Refused> {
        let authority =
            headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
        let Some(host) = authority.map(host_of) else {
            return Err(Refused(StatusCode::FORBIDDEN, "the request names no Host".into()));
        };
        let known = if self.hosts.is_empty() { LOOPBACK.contains(&host.as_str()) } else { self.hosts.contains(&host) };
        if !known {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                format!("Host '{host}' is not one this gateway answers to (allow it with --allow-host)"),
            ));
        }
        let origin = match headers.get(header::ORIGIN) {
            None => None,
            Some(v) => {
                let origin = normal_origin(v.to_str().unwrap_or("(not text)"));
                // The gateway's own origin (the Host it was reached by, already checked): same-origin, no CORS.
                let own = authority.map(|a| a.trim().to_ascii_lowercase()).is_some_and(|a| {
                    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(a.as_str())
                });
                if own {
                    None
                } else if !self.origins.contains(&origin) {
                    return Err(Refused(
                        StatusCode::FORBIDDEN,
                        format!("requests from browser Origin '{origin}' are refused (allow it with --allow-origin)"),
                    ));
                } else {
                    Some(origin)
                }
            }
        };
        let post = method == Method::POST && !uri.path().starts_with("/servers/");
        // HTTP/1.1: a body has a length above zero or is chunked; with neither header there is none.
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        let has_body = length.is_some_and(|n| n.trim() != "0") || headers.contains_key(header::TRANSFER_ENCODING);
        if post && has_body && !is_json(headers) {
            return Err(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be sent as application/json".into(),
            ));
        }
        Ok(origin)
    }
}

/// The Content-Type says JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    value.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The answer to a preflight from an allowed Origin.
pub fn preflight(origin: &str) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    allow(h, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-session-id, mcp-protocol-version, last-event-id"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}

/// Names the allowed `origin` on a response.
pub fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("mcp-session-id, retry-after"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts_origins_and_content_types() {
        let a = Allowed { hosts: vec!["127.0.0.1".into(), "::1".into()], origins: vec!["http://app.example".into()] };
        let call: axum::http::Uri = "/call".parse().unwrap();
        let check = |h: &[(&'static str, &'static str)]| a.check(&Method::POST, &call, &headers(h));
        let json = ("content-type", "application/json; charset=utf-8");
        let chunked = ("transfer-encoding", "chunked");
        assert_eq!(check(&[("host", "127.0.0.1:8080"), json]), Ok(None));
        assert_eq!(check(&[("host", "[::1]:8080"), json]), Ok(None));
        assert_eq!(check(&[("host", "evil.example:8080"), json]).unwrap_err().0, StatusCode::FORBIDDEN);
        assert_eq!(check(&[json]).unwrap_err().0, StatusCode::FORBIDDEN, "no Host");
        let evil = check(&[("host", "127.0.0.1:1"), ("origin", "http://evil.example"), json]).unwrap_err();
        assert!(evil.0 == StatusCode::FORBIDDEN && evil.1.contains("evil.example"), "{evil:?}");
        assert_eq!(check(&[("host", "127.0.0.1"), ("origin", "null"), json]).unwrap_err().0, StatusCode::FORBIDDEN);
        let own = check(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080"), json]);
        assert_eq!(own, Ok(None), "the gateway's own origin (same-origin): accepted, no CORS");
        let other_port = check(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:9999"), json]);
        assert_eq!(other_port.unwrap_err().0, StatusCode::FORBIDDEN, "another local origin is another site");
        let ok = check(&[("host", "127.0.0.1"), ("origin", "http://App.example/"), json]);
        assert_eq!(ok, Ok(Some("http://app.example".into())));
        let text = check(&[("host", "127.0.0.1"), ("content-type", "text/plain"), ("content-length", "9")]);
        let text = text.unwrap_err();
        assert_eq!(text.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let form = check(&[("host", "127.0.0.1"), ("content-type", "application/x-www-form-urlencoded"), chunked]);
        assert_eq!(form.unwrap_err().0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let restart: axum::http::Uri = "/servers/crm/restart".parse().unwrap();
        assert!(a.check(&Method::POST, &restart, &headers(&[("host", "127.0.0.1"), ("content-length", "0")])).is_ok());
    }

    #[test]
    fn the_host_part_of_a_host_header() {
        assert_eq!(host_of("LocalHost:80"), "localhost");
        assert_eq!(host_of("[::1]:3000"), "::1");
        assert_eq!(host_of("example.com."), "example.com");
        assert_eq!(host_of("::1"), "::1");
    }
}
