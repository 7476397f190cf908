//! A scripted OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 (port 0) that answers
//! `POST /v1/chat/completions` with the next reply of its script (JSON, SSE stream, error status, or a hang)
//! and records every request body it received, with the time it arrived.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON body with a status and extra headers.
    Json { status: u16, body: Value, headers: Vec<(String, String)> },
    /// A raw body (to send malformed JSON).
    Raw { status: u16, body: String },
    /// An SSE stream of these chunks, then `[DONE]` unless `cut`; written in `piece`-byte writes when set
    /// (raw UTF-8, so a character can be split across two network reads).
    Stream { chunks: Vec<Value>, cut: bool, piece: Option<usize> },
    /// Never answers.
    Hang,
}

type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Inner {
    script: VecDeque<(Duration, Reply)>,
    /// Replies computed from the request (used when the script is empty), each after `delay`.
    responder: Option<(Duration, Responder)>,
    in_flight: usize,
    max_in_flight: usize,
    /// While set and false, replies wait (`hold`, `release`).
    gate: Option<tokio::sync::watch::Sender<bool>>,
    /// When each reply was sent.
    replied: Vec<Instant>,
    /// Used when the script is empty.
    fallback: Option<Reply>,
    requests: Vec<(Instant, Value)>,
    /// The `traceparent` header of each request (empty when it had none).
    traceparents: Vec<String>,
    /// What GET /v1/models and GET /props answer (404 while unset).
    models: Option<Value>,
    props: Option<Value>,
    /// What POST /api/show answers (Ollama's model details; 404 while unset).
    show: Option<Value>,
}

#[derive(Clone)]
pub struct Model {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

impl Model {
    /// Starts the server on its own thread and runtime; it lives until the test process ends.
    pub fn start(script: Vec<Reply>) -> Model {
        Model::start_delayed(script.into_iter().map(|r| (Duration::ZERO, r)).collect())
    }

    /// Like `start`, each reply sent after its delay.
    pub fn start_delayed(script: Vec<(Duration, Reply)>) -> Model {
        let inner = Arc::new(Mutex::new(Inner { script: script.into(), ..Default::default() }));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let get = |pick: fn(&Inner) -> Option<Value>| {
                    move |State(s): State<Arc<Mutex<Inner>>>| async move {
                        let found = pick(&s.lock().unwrap());
                        found.map_or_else(|| StatusCode::NOT_FOUND.into_response(), |v| axum::Json(v).into_response())
                    }
                };
                let app = axum::Router::new()
                    .route("/v1/chat/completions", axum::routing::post(handle))
                    .route("/v1/models", axum::routing::get(get(|i| i.models.clone())))
                    .route("/props", axum::routing::get(get(|i| i.props.clone())))
                    .route("/api/show", axum::routing::post(get(|i| i.show.clone())))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Model { inner, url: format!("http://{addr}/v1") }
    }

    /// A server whose replies are computed from each request, each sent after `delay`.
    pub fn start_fn(delay: Duration, f: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Model {
        let m = Model::start(vec![]);
        m.inner.lock().unwrap().responder = Some((delay, Arc::new(f)));
        m
    }

    /// Queues `reply` for the next request (before any responder).
    pub fn push(&self, reply: Reply) {
        self.inner.lock().unwrap().script.push_back((Duration::ZERO, reply));
    }

    /// From now on replies wait until `release`.
    pub fn hold(&self) {
        self.inner.lock().unwrap().gate = Some(tokio::sync::watch::channel(false).0);
    }

    /// Lets the held replies (and every later one) go.
    pub fn release(&self) {
        if let Some(g) = &self.inner.lock().unwrap().gate {
            g.send_replace(true);
        }
    }

    /// The requests being answered (or held) now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().unwrap().in_flight
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    pub fn reply_times(&self) -> Vec<Instant> {
        self.inner.lock().unwrap().replied.clone()
    }

    /// What GET /v1/models answers (`{"data": [...]}`) and GET /props (llama.cpp's server settings).
    pub fn describe(&self, models: Option<Value>, props: Option<Value>) {
        let mut s = self.inner.lock().unwrap();
        (s.models, s.props) = (models, props);
    }

    /// What POST /api/show answers, as Ollama does.
    pub fn describe_ollama(&self, show: Value) {
        self.inner.lock().unwrap().show = Some(show);
    }

    pub fn fallback(&self, reply: Reply) {
        self.inner.lock().unwrap().fallback = Some(reply);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The `traceparent` header each request carried ("" for none), in order.
    pub fn traceparents(&self) -> Vec<String> {
        self.inner.lock().unwrap().traceparents.clone()
    }

    pub fn request_times(&self) -> Vec<Instant> {
        self.inner.lock().unwrap().requests.iter().map(|(t, _)| *t).collect()
    }

    /// A servers.toml `[model]` section pointing at this endpoint.
    pub fn config(&self, extra: &str) -> String {
        format!("[model]\nname = \"scripted\"\nbase_url = \"{}\"\napi_key = \"test-key\"\n{extra}\n", self.url)
    }
}

async fn handle(State(state): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: String) -> Response {
    let (delay, reply, gate) = {
        let mut s = state.lock().unwrap();
        let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default();
        s.traceparents.push(traceparent.to_string());
        let request: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        s.requests.push((Instant::now(), request.clone()));
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        let (delay, reply) = match (s.script.pop_front(), &s.responder) {
            (Some(r), _) => r,
            (None, Some((d, f))) => (*d, f(&request)),
            (None, None) => (Duration::ZERO, s.fallback.clone().unwrap_or_else(|| answer("(script exhausted)"))),
        };
        (delay, reply, s.gate.as_ref().map(|g| g.subscribe()))
    };
    if let Some(mut g) = gate {
        let _ = g.wait_for(|open| *open).await;
    }
    tokio::time::sleep(delay).await;
    {
        let mut s = state.lock().unwrap();
        s.in_flight -= 1;
        s.replied.push(Instant::now());
    }
    match reply {
        Reply::Json { status, body, headers } => {
            let mut r = Response::builder().status(status).header("content-type", "application/json");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body.to_string())).unwrap()
        }
        Reply::Raw { status, body } => Response::builder().status(status).body(Body::from(body)).unwrap(),
        Reply::Stream { chunks, cut, piece } => {
            let mut text: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
            if !cut {
                text.push_str("data: [DONE]\n\n");
            }
            let body = match piece {
                None => Body::from(text),
                Some(n) => {
                    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
                        text.into_bytes().chunks(n).map(|c| Ok(c.to_vec())).collect();
                    // One frame per piece, each its own write: the reader sees the pieces apart.
                    Body::from_stream(futures::stream::iter(pieces).then(|p| async move {
                        tokio::task::yield_now().await;
                        p
                    }))
                }
            };
            Response::builder().status(StatusCode::OK).header("content-type", "text/event-stream").body(body).unwrap()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(Body::empty())
        }
    }
}

fn usage() -> Value {
    json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120})
}

/// A final answer.
pub fn answer(text: &str) -> Reply {
    Reply::Json {
        status: 200,
        body: json!({"id": "x", "object": "chat.completion", "model": "scripted", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": usage()}),
        headers: vec![],
    }
}

/// A turn that asks for these tool calls: (id, tool name, arguments as raw text).
pub fn calls(list: &[(&str, &str, &str)]) -> Reply {
    let calls: Vec<Value> = list
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
        .collect();
    Reply::Json {
        status: 200,
        body: json!({"id": "x", "object": "chat.completion", "model": "scripted", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": calls}, "finish_reason": "tool_calls"}],
            "usage": usage()}),
        headers: vec![],
    }
}

pub fn status(code: u16, message: &str, headers: &[(&str, &str)]) -> Reply {
    Reply::Json {
        status: code,
        body: json!({"error": {"message": message, "type": "test_error"}}),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// A streamed turn: text in small pieces, tool calls split into id/name then argument fragments, usage last.
pub fn stream(text: &str, tool_calls: &[(&str, &str, &str)]) -> Reply {
    let mut chunks = vec![json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})];
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(7) {
        let piece: String = piece.iter().collect();
        chunks.push(json!({"choices": [{"index": 0, "delta": {"content": piece}}]}));
    }
    for (i, (id, name, args)) in tool_calls.iter().enumerate() {
        chunks.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}}]}));
        let (a, b) = args.split_at(args.len() / 2);
        for part in [a, b] {
            chunks.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": part}}]}}]}));
        }
    }
    let reason = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
    chunks.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}));
    chunks.push(json!({"choices": [], "usage": usage()}));
    Reply::Stream { chunks, cut: false, piece: None }
}

/// The tool messages of a recorded request: (tool_call_id, content).
pub fn tool_messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (m["tool_call_id"].as_str().unwrap_or("").to_string(), m["content"].as_str().unwrap_or("").to_string())
        })
        .collect()
}
