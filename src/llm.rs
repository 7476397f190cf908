//! The model endpoint: one chat-completion exchange with any OpenAI-compatible server, plain or streamed.
//!
//! Requests are async-openai's typed `CreateChatCompletionRequest`; the HTTP exchange is ours (reqwest), because
//! hub needs what async-openai's built-in client does not expose: every retry visible with `-v`, a pause shared
//! by all concurrent callers when one of them gets a 429 (triage), a request timeout and a stream idle timeout,
//! and lenient response parsing (`wire`). 429 and 5xx are retried with bounded exponential backoff honouring
//! Retry-After; 401/403, quota, and other 4xx are reported at once.

pub mod window;
pub mod wire;

use crate::config::ModelConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant as TokioInstant;
pub use wire::{Completion, ToolCall, Usage};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model endpoint rejected the credentials ({status}): {message}. {hint}")]
    Auth { status: u16, message: String, hint: &'static str },
    #[error("the model endpoint says the quota is exhausted: {message}")]
    Quota { message: String },
    #[error("the model endpoint rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the model endpoint kept failing ({status}) after {attempts} attempts: {message}")]
    Exhausted { status: u16, attempts: u32, message: String },
    #[error("no answer from the model endpoint within {0:.0?}")]
    Timeout(Duration),
    #[error("cannot reach the model endpoint {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{0}")]
    Malformed(String),
    /// The endpoint could not read what the model wrote (llama.cpp: "does not match the expected … format"): the
    /// same request would fail the same way, so it is not retried as it is.
    #[error("the model endpoint could not parse the model's output ({status}): {message}")]
    Unparsed { status: u16, message: String },
}

impl LlmError {
    /// A short class of the error (`error.type` on the span and the metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Auth { .. } => "auth",
            LlmError::Quota { .. } => "quota",
            LlmError::Rejected { .. } => "rejected",
            LlmError::Exhausted { .. } => "exhausted",
            LlmError::Timeout(_) => "timeout",
            LlmError::Unreachable { .. } => "unreachable",
            LlmError::Malformed(_) => "malformed",
            LlmError::Unparsed { .. } => "unparsed",
        }
    }
}

/// Whether an endpoint's error text says the model's own output could not be parsed (not the request).
pub fn says_unparsed(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("model") && (m.contains("parse") || m.contains("does not match the expected"))
        || m.contains("peg-native")
        || m.contains("failed to parse tool call")
}

/// Pacing shared by everyone using one endpoint: an optional requests-per-minute limit, and a pause that a
/// 429's Retry-After imposes on all callers at once.
/// On tokio's clock, so that tests can run it in virtual time.
#[derive(Default)]
pub struct Gate {
    rpm: Option<u32>,
    state: Mutex<(Option<TokioInstant>, Option<TokioInstant>)>, // (paused until, next free slot)
}

impl Gate {
    pub fn new(rpm: Option<u32>) -> Gate {
        Gate { rpm, state: Mutex::default() }
    }

    async fn wait(&self) {
        let until = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = TokioInstant::now();
            let mut at = s.0.filter(|t| *t > now).unwrap_or(now);
            if let Some(rpm) = self.rpm {
                let slot = s.1.filter(|t| *t > at).unwrap_or(at);
                at = slot;
                s.1 = Some(slot + Duration::from_secs_f64(60.0 / f64::from(rpm.max(1))));
            }
            at
        };
        tokio::time::sleep_until(until).await;
    }

    fn pause(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = TokioInstant::now() + d;
        s.0 = Some(s.0.map_or(until, |t| t.max(until)));
    }
}

/// A client for one model endpoint. Cheap to clone.
#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    url: String,
    key: Option<String>,
    pub model: String,
    max_retries: u32,
    timeout: Duration,
    gate: Arc<Gate>,
}

/// `builder` for requests to `url`: a plain-HTTP endpoint (a local model server) needs no root certificates, and
/// loading the system's (≈145 files) costs ≈5 ms of a command's start (BENCHMARKS.md, issue 18).
pub fn client_for(url: &str, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    if url.starts_with("http://") { builder.tls_certs_only(Vec::new()) } else { builder }
}

impl Llm {
    pub fn new(cfg: &ModelConfig) -> Result<Llm, LlmError> {
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        let http = client_for(&cfg.base_url, builder)
            .build()
            .map_err(|e| LlmError::Unreachable { url: cfg.base_url.clone(), message: e.to_string() })?;
        Ok(Llm {
            http,
            url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            key: cfg.api_key.clone(),
            model: cfg.name.clone(),
            max_retries: cfg.max_retries,
            timeout: cfg.timeout,
            gate: Arc::new(Gate::new(cfg.requests_per_minute)),
        })
    }

    /// One completion. With `on_text`, the request is streamed and text deltas are passed as they arrive.
    /// With telemetry on, in a `chat {model}` span (its retries are events of it) with the tokens it used.
    pub async fn complete(
        &self,
        request: &CreateChatCompletionRequest,
        on_text: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Completion, LlmError> {
        use crate::telemetry::{metrics, spans};
        if !crate::telemetry::on() {
            return self.exchange(request, on_text).await;
        }
        let host = self.url.split('/').nth(2).unwrap_or_default();
        let span = spans::model(&self.model, host);
        let (held, started) = (metrics::model_in_flight(&self.model), std::time::Instant::now());
        let done = span.within(self.exchange(request, on_text)).await;
        drop(held);
        match &done {
            Ok(c) => {
                let u = &c.usage;
                span.set("gen_ai.usage.input_tokens", u.prompt_tokens as i64);
                span.set("gen_ai.usage.output_tokens", u.completion_tokens as i64);
                if let Some(m) = &c.model {
                    span.set("gen_ai.response.model", m.clone());
                }
                if let Some(f) = &c.finish_reason {
                    span.set("gen_ai.response.finish_reasons", f.clone());
                }
                let tokens = (u.total_tokens > 0).then_some((u.prompt_tokens as u32, u.completion_tokens as u32));
                metrics::model_request(&self.model, started.elapsed(), tokens, None);
            }
            Err(e) => {
                span.failed(e.kind());
                metrics::model_request(&self.model, started.elapsed(), None, Some(e.kind()));
            }
        }
        span.end();
        done
    }

    /// The exchange with the endpoint: the request, its retries, the answer read whole or streamed.
    async fn exchange(
        &self,
        request: &CreateChatCompletionRequest,
        on_text: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Completion, LlmError> {
        let mut body = serde_json::to_value(request).map_err(|e| LlmError::Malformed(e.to_string()))?;
        if on_text.is_some() {
            body["stream"] = true.into();
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.gate.wait().await;
            let mut req = crate::telemetry::propagate::headers(self.http.post(&self.url).json(&body));
            if let Some(k) = &self.key {
                req = req.bearer_auth(k);
            }
            let sent = tokio::time::timeout(self.timeout, req.send()).await;
            let response = match sent {
                Err(_) => return Err(LlmError::Timeout(self.timeout)),
                Ok(Err(e)) if e.is_connect() && attempt <= self.max_retries => {
                    self.backoff(attempt, None, &format!("cannot connect ({e})")).await;
                    continue;
                }
                Ok(Err(e)) => return Err(LlmError::Unreachable { url: self.url.clone(), message: e.to_string() }),
                Ok(Ok(r)) => r,
            };
            let status = response.status().as_u16();
            if response.status().is_success() {
                // Some servers answer a streamed request with one plain JSON body: accept that too.
                let sse = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/event-stream"));
                return match on_text {
                    Some(f) if sse => self.read_stream(response, f).await,
                    Some(f) => {
                        let text = tokio::time::timeout(self.timeout, response.text())
                            .await
                            .map_err(|_| LlmError::Timeout(self.timeout))?
                            .map_err(|e| LlmError::Malformed(format!("reading the model's answer failed: {e}")))?;
                        let c = wire::parse_completion(&text).map_err(LlmError::Malformed)?;
                        if !c.content.is_empty() {
                            f(&c.content);
                        }
                        Ok(c)
                    }
                    None => {
                        let text = tokio::time::timeout(self.timeout, response.text())
                            .await
                            .map_err(|_| LlmError::Timeout(self.timeout))?
                            .map_err(|e| LlmError::Malformed(format!("reading the model's answer failed: {e}")))?;
                        wire::parse_completion(&text).map_err(LlmError::Malformed)
                    }
                };
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|s| Duration::from_secs_f64(s.clamp(0.0, 300.0)));
            let text =
                tokio::time::timeout(self.timeout, response.text()).await.ok().and_then(Result::ok).unwrap_or_default();
            let (message, kind) = wire::error_message(&text);
            match status {
                401 | 403 => {
                    let hint = if self.key.is_some() {
                        "The key sent (OPENAI_API_KEY, or [model] api_key in servers.toml) is not one this endpoint \
                         accepts: set a valid one; `hub doctor` checks it"
                    } else {
                        "No key was sent: set OPENAI_API_KEY (or [model] api_key in servers.toml)"
                    };
                    return Err(LlmError::Auth { status, message, hint });
                }
                429 if kind.as_deref() == Some("insufficient_quota") => return Err(LlmError::Quota { message }),
                500..=599 if says_unparsed(&message) => return Err(LlmError::Unparsed { status, message }),
                429 | 500..=599 if attempt <= self.max_retries => {
                    if status == 429 {
                        // Everyone sharing this endpoint waits, not just this caller.
                        self.gate.pause(retry_after.unwrap_or_else(|| delay(attempt)));
                    }
                    self.backoff(attempt, retry_after, &format!("{status}: {message}")).await;
                }
                429 | 500..=599 => return Err(LlmError::Exhausted { status, attempts: attempt, message }),
                _ => return Err(LlmError::Rejected { status, message }),
            }
        }
    }

    async fn backoff(&self, attempt: u32, retry_after: Option<Duration>, why: &str) {
        let d = retry_after.unwrap_or_else(|| delay(attempt));
        let retry = format!("model endpoint: {why}; retry {attempt}/{} in {} ms", self.max_retries, d.as_millis());
        tracing::info!("{retry}");
        crate::telemetry::spans::Span::current().event(retry);
        tokio::time::sleep(d).await;
    }

    async fn read_stream(
        &self,
        response: reqwest::Response,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Completion, LlmError> {
        let mut state = wire::StreamState::default();
        let mut bytes = response.bytes_stream();
        // Bytes until a whole line is in: a character split across two reads must not be decoded half.
        let mut buf: Vec<u8> = Vec::new();
        let mut done = false;
        while !done {
            let chunk = match tokio::time::timeout(self.timeout, bytes.next()).await {
                Err(_) => return Err(LlmError::Timeout(self.timeout)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(LlmError::Malformed(format!("the model's stream broke: {e}"))),
                Ok(Some(Ok(c))) => c,
            };
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=end).collect();
                let line = std::str::from_utf8(&raw)
                    .map_err(|_| LlmError::Malformed("the model's stream is not valid UTF-8".into()))?;
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else { continue };
                if data == "[DONE]" {
                    done = true;
                    break;
                }
                if let Some(text) = state.feed(data).map_err(LlmError::Malformed)? {
                    on_text(&text);
                }
            }
        }
        if !done && state.completion.finish_reason.is_none() {
            return Err(LlmError::Malformed("the model's stream ended before it finished".into()));
        }
        Ok(state.finish())
    }
}

/// 250 ms, 500 ms, 1 s … capped at 8 s, jittered.
fn delay(attempt: u32) -> Duration {
    crate::backoff::delay(attempt, Duration::from_millis(250), Duration::from_secs(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 429's pause holds every caller of the endpoint, not only the one that got it (virtual time: no
    /// wall-clock window to flake).
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_and_rpm_spaces_them() {
        let gate = Arc::new(Gate::new(None));
        let start = TokioInstant::now();
        gate.pause(Duration::from_secs(2));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move {
                    g.wait().await;
                    TokioInstant::now() - start
                })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), Duration::from_secs(2));
        }
        let paced = Gate::new(Some(60));
        let start = TokioInstant::now();
        for n in 0..3 {
            paced.wait().await;
            assert_eq!(TokioInstant::now() - start, Duration::from_secs(n));
        }
    }
}
