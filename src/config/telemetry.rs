//! `[telemetry]` in servers.toml and the standard `OTEL_*` variables: where hub's OpenTelemetry traces and
//! metrics go (issue 19). Off unless an endpoint is set — `OTEL_EXPORTER_OTLP_ENDPOINT` or `endpoint` here; the
//! environment wins over the file, as it does for the model. `OTEL_SDK_DISABLED=true` or `enabled = false`
//! turns it off whatever the endpoint.

use super::raw::Str;
use super::{ErrAt, expand};
use crate::exit::Failure;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    pub enabled: Option<bool>,
    /// The collector: `http://host:4318` (http/protobuf) or `http://host:4317` (grpc).
    pub endpoint: Option<Str>,
    /// "http/protobuf" (default) or "grpc".
    pub protocol: Option<Spanned<String>>,
    /// Sent with every export (a hosted collector's key).
    pub headers: Option<BTreeMap<String, Str>>,
    /// Record tool arguments and results, and the question, on the spans (truncated).
    pub record_content: Option<bool>,
    pub service_name: Option<Str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Where the telemetry goes, resolved; `None` in `Config::telemetry` when it is off.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub record_content: bool,
    pub service_name: String,
}

/// `[telemetry]` with the `OTEL_*` variables of `env` over it.
pub(super) fn resolve(
    raw: Option<RawTelemetry>,
    env: &dyn Fn(&str) -> Option<String>,
    err: &ErrAt<'_>,
) -> Result<Option<Telemetry>, Failure> {
    let raw = raw.unwrap_or_default();
    let set = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) || raw.enabled == Some(false) {
        return Ok(None);
    }
    let exp = |s: &Str, key: &str| expand(s.get_ref(), env).map_err(|m| err(s.span().start, key, &m));
    let endpoint = match (set("OTEL_EXPORTER_OTLP_ENDPOINT"), &raw.endpoint) {
        (Some(e), _) => e,
        (None, Some(e)) => {
            let url = exp(e, "telemetry.endpoint")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err(e.span().start, "telemetry.endpoint", "must be an http:// or https:// URL"));
            }
            url
        }
        (None, None) => return Ok(None),
    };
    let protocol = match set("OTEL_EXPORTER_OTLP_PROTOCOL") {
        Some(p) => match p.as_str() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            other => {
                return Err(Failure::usage(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL must be \"grpc\" or \"http/protobuf\", got \"{other}\" \
                     (http/json is not supported)"
                )));
            }
        },
        None => super::one_of(
            raw.protocol.as_ref(),
            "telemetry.protocol",
            &[("http/protobuf", Protocol::HttpProtobuf), ("grpc", Protocol::Grpc)],
            err,
        )?,
    };
    let mut headers = Vec::new();
    for (name, value) in raw.headers.iter().flatten() {
        headers.push((name.to_ascii_lowercase(), exp(value, &format!("telemetry.headers.{name}"))?));
    }
    let service_name = match (set("OTEL_SERVICE_NAME"), &raw.service_name) {
        (Some(s), _) => s,
        (None, Some(s)) => exp(s, "telemetry.service_name")?,
        (None, None) => "hub".to_string(),
    };
    let record_content = raw.record_content.unwrap_or(false);
    Ok(Some(Telemetry { endpoint, protocol, headers, record_content, service_name }))
}

#[cfg(test)]
mod tests {
    use super::Protocol;
    use crate::config::parse;

    fn with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const FILE: &str = "[telemetry]\nendpoint = \"http://collector:4317\"\nprotocol = \"grpc\"\n\
                        headers = { X-Key = \"${KEY}\" }\nrecord_content = true\n";

    #[test]
    fn off_without_an_endpoint_and_the_file_under_the_environment() {
        assert_eq!(parse("", "t", &with(&[])).unwrap().telemetry, None);
        let t = parse(FILE, "t", &with(&[("KEY", "k1")])).unwrap().telemetry.unwrap();
        assert_eq!(
            (t.endpoint.as_str(), t.protocol, t.record_content),
            ("http://collector:4317", Protocol::Grpc, true)
        );
        assert_eq!(t.headers, vec![("x-key".to_string(), "k1".to_string())]);
        assert_eq!(t.service_name, "hub");
        let env = with(&[
            ("KEY", "k1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "edge"),
        ]);
        let t = parse(FILE, "t", &env).unwrap().telemetry.unwrap();
        assert_eq!((t.endpoint.as_str(), t.protocol), ("http://other:4318", Protocol::HttpProtobuf));
        assert_eq!(t.service_name, "edge");
        let only_env = parse("", "t", &with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])).unwrap();
        assert_eq!(only_env.telemetry.unwrap().protocol, Protocol::HttpProtobuf, "the spec's default protocol");
    }

    #[test]
    fn turned_off_whatever_the_endpoint() {
        let sdk_off = with(&[("KEY", "k"), ("OTEL_SDK_DISABLED", "true")]);
        assert_eq!(parse(FILE, "t", &sdk_off).unwrap().telemetry, None);
        let file_off = format!("{FILE}enabled = false\n");
        assert_eq!(parse(&file_off, "t", &with(&[("KEY", "k")])).unwrap().telemetry, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        let bad = |text: &str| parse(text, "t.toml", &with(&[])).unwrap_err().message;
        assert!(bad("[telemetry]\nendpoint = \"collector:4317\"\n").contains("telemetry.endpoint"));
        assert!(bad("[telemetry]\nendpoint = \"http://c\"\nprotocol = \"http/json\"\n").contains("telemetry.protocol"));
        assert!(bad("[telemetry]\nsample = 1\n").contains("sample"));
    }
}
