//! Streamed calls on the REST face: `POST /call` with `Accept: text/event-stream` answers with server-sent events —
//! `progress` and `log` as the server sends them during the call, then one `result` event (the same JSON as the
//! plain call, failures included), then the stream ends. A client that goes away cancels the call upstream.
//! The call's origin (`Events`) turns what the server tells into events; what it asks (sampling, elicitation)
//! is refused, as no person or model stands behind a REST call. Events wait in a bounded buffer: when a reader
//! falls that far behind, further progress and log events are dropped and counted in the `result` event
//! (`dropped_events`) — the result itself is never dropped.
#![allow(deprecated)] // sampling and logging: see `registry::host`

use super::guard::Who;
use super::rest::App;
use crate::registry::origin::{self, Boxed, Origin};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, JsonObject,
    LoggingMessageNotificationParam, ProgressNotificationParam,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events buffered per streamed call before progress and log events are dropped.
pub const BUFFER: usize = 256;

/// One event of a streamed call: its name and its JSON data.
pub type Message = (&'static str, Value);

/// The origin of one streamed call: what the server tells becomes events on `tx`.
pub struct Events {
    key: String,
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

static NEXT: AtomicU64 = AtomicU64::new(1);

impl Events {
    pub fn new(tx: mpsc::Sender<Message>) -> Events {
        Events { key: format!("stream-{}", NEXT.fetch_add(1, Ordering::Relaxed)), tx, dropped: AtomicU64::new(0) }
    }

    /// Events dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn tell(&self, name: &'static str, data: Value) {
        if self.tx.try_send((name, data)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Origin for Events {
    fn key(&self) -> String {
        self.key.clone()
    }
    fn progress<'a>(&'a self, tool: &'a str, p: &'a ProgressNotificationParam) -> Boxed<'a, ()> {
        self.tell("progress", json!({"tool": tool, "progress": p.progress, "total": p.total, "message": p.message}));
        Box::pin(async {})
    }
    fn log<'a>(&'a self, server: &'a str, m: &'a LoggingMessageNotificationParam) -> Boxed<'a, ()> {
        self.tell("log", json!({"server": server, "level": m.level, "logger": m.logger, "data": m.data}));
        Box::pin(async {})
    }
    fn sample<'a>(
        &'a self,
        _server: &'a str,
        _params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async { Err(ErrorData::invalid_request("a streamed call has no model to answer sampling", None)) })
    }
    fn elicit<'a>(
        &'a self,
        server: &'a str,
        params: ElicitRequestParams,
    ) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async move { Ok(origin::decline(server, &params, "no person stands behind a streamed call")) })
    }
}

/// Runs the call and answers with its event stream.
pub fn sse(app: Arc<App>, client: String, who: Option<Arc<Who>>, tool: String, args: Option<JsonObject>) -> Response {
    let (tx, rx) = mpsc::channel::<Message>(BUFFER);
    let cancel = CancellationToken::new();
    let events = Arc::new(Events::new(tx.clone()));
    let call_cancel = cancel.clone();
    tokio::spawn(async move {
        let origin: Arc<dyn Origin> = events.clone();
        let (_, mut body, _) = app.call(&client, who, &tool, args, &call_cancel, Some(origin)).await;
        body["dropped_events"] = events.dropped().into();
        let _ = tx.send(("result", body)).await;
    });
    // The guard lives as long as the response stream: a client that goes away cancels the call.
    let state = (rx, cancel.drop_guard(), false);
    let stream = futures::stream::unfold(state, |(mut rx, guard, done)| async move {
        if done {
            return None;
        }
        let (name, data) = rx.recv().await?;
        let event = Event::default().event(name).data(data.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), (rx, guard, name == "result")))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
