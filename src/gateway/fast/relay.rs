//! One call taken the short way (`fast`), from routing to the response: the call runs as a task on behalf of a
//! `Relay` origin, which passes on what the server reports meanwhile (progress under the client's token, log
//! messages) and refuses what it would ask (the client declared neither sampling nor elicitation, nor roots). The
//! first thing the task produces decides the response, as rmcp's JSON mode does: the answer → one
//! `application/json` body; a notification → an SSE stream of the notifications and then the answer. A client
//! that goes away (the response dropped, its stream too) cancels the call upstream.
#![allow(deprecated)] // sampling and logging: see `registry::host`

use super::super::downstream::{log_for, progress_for, refused};
use super::Fast;
use crate::registry::origin::{Boxed, Origin};
use axum::Json;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, JsonObject,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ResultType,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the call's task produces: notifications for the client, then its JSON-RPC response.
enum Out {
    Notify(Value),
    Done(Value),
}

/// The origin of a call taken the short way.
struct Relay {
    key: String,
    token: Option<ProgressToken>,
    events: mpsc::Sender<Out>,
}

fn notification(method: &str, params: impl serde::Serialize) -> Out {
    Out::Notify(json!({"jsonrpc": "2.0", "method": method, "params": params}))
}

impl Relay {
    /// Passes a notification on, or drops it when the client is 64 behind: a reader that stalls must not hold up
    /// the server's connection, which carries other calls' notifications too.
    fn tell(&self, event: Out) {
        if self.events.try_send(event).is_err() {
            tracing::debug!(client = %self.key, "a notification dropped: the client is not reading");
        }
    }
}

impl Origin for Relay {
    fn key(&self) -> String {
        self.key.clone()
    }

    fn progress<'a>(&'a self, _tool: &'a str, p: &'a ProgressNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async move {
            if let Some(token) = self.token.clone() {
                self.tell(notification("notifications/progress", progress_for(token, p)));
            }
        })
    }

    fn log<'a>(&'a self, server: &'a str, m: &'a LoggingMessageNotificationParam) -> Boxed<'a, ()> {
        Box::pin(async move {
            self.tell(notification("notifications/message", log_for(server, m)));
        })
    }

    fn sample<'a>(
        &'a self,
        _: &'a str,
        _: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async { Err(refused("sampling")) })
    }

    fn elicit<'a>(&'a self, _: &'a str, _: ElicitRequestParams) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async { Err(refused("elicitation")) })
    }
}

type Work = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The call while it runs on its request's task: dropped unfinished (the client went away), it is cancelled and
/// left to finish on a task of its own, which tells the server.
struct Held {
    work: Option<Work>,
    cancel: CancellationToken,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            self.cancel.cancel();
            tokio::spawn(work);
        }
    }
}

/// A session's call registered for cancellation, until it ends or is dropped.
struct Registered {
    fast: Arc<Fast>,
    key: Option<super::Flying>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            self.fast.flying().remove(key);
        }
    }
}

/// The call as the request gave it.
pub(super) struct Call {
    /// The gateway's span of the call (`telemetry::propagate::serving`).
    pub span: crate::telemetry::spans::Span,
    pub id: Value,
    pub name: String,
    pub arguments: Option<JsonObject>,
    pub token: Option<ProgressToken>,
    /// The client's name (for the stats) and the origin key (`downstream::http_key`).
    pub client: String,
    pub key: String,
    /// Where this call is registered for a client's cancellation (a session's calls only).
    pub flying: Option<super::Flying>,
    /// The revision without sessions (its results carry `resultType`).
    pub stateless: bool,
}

/// Runs `call` on behalf of `who` and answers it.
pub(super) async fn run(fast: Arc<Fast>, who: Option<Arc<super::super::guard::Who>>, call: Call) -> Response {
    let Call { span, id, name, arguments, token, client, key, flying, stateless } = call;
    fast.app.short_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (events, mut first) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    if let Some(key) = &flying {
        fast.flying().insert(key.clone(), cancel.clone());
    }
    let registered = Registered { fast: fast.clone(), key: flying };
    let origin: Arc<dyn Origin> = Arc::new(Relay { key, token, events: events.clone() });
    let (answer_id, task_cancel) = (id.clone(), cancel.clone());
    let work: Work = Box::pin(span.run(async move {
        let (gateway, id) = (&fast.app.gateway, answer_id);
        let start = Instant::now();
        let result = gateway.call(who.as_deref(), &name, arguments, &task_cancel, Some(origin)).await;
        gateway.record(&client, who.as_deref(), "mcp-http", &name, &result, start.elapsed()).await;
        drop(registered);
        let body = match super::super::mcp::answer(result) {
            Ok(mut result) => {
                // As rmcp would: the field exists from the stateless revision on.
                result.result_type = stateless.then_some(ResultType::COMPLETE);
                json!({"jsonrpc": "2.0", "id": id, "result": result})
            }
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
        };
        let _ = events.send(Out::Done(body)).await;
    }));
    // Run here, on this request's task, while nothing but the answer comes; on a task of its own once the server
    // reports something first, so that the stream can carry that while the call goes on. A client that goes away
    // meanwhile (this future dropped) cancels the call, which goes on long enough to tell the server (`Held`).
    let mut held = Held { work: Some(work), cancel: cancel.clone() };
    let reported = match held.work.as_mut() {
        Some(work) => tokio::select! {
            biased;
            event = first.recv() => Some(event),
            () = work => None,
        },
        None => None,
    };
    let next = match reported {
        Some(event) => {
            if let Some(work) = held.work.take() {
                tokio::spawn(work);
            }
            event
        }
        None => {
            held.work = None;
            first.recv().await
        }
    };
    // From here the stream's reader going away cancels the call.
    let gone = cancel.drop_guard();
    match next {
        Some(Out::Done(body)) => {
            gone.disarm();
            Json(body).into_response()
        }
        Some(Out::Notify(note)) => streamed(note, first, gone),
        None => {
            let error = ErrorData::internal_error("the call ended without an answer", None);
            Json(json!({"jsonrpc": "2.0", "id": id, "error": error})).into_response()
        }
    }
}

/// The SSE response: `first`, the rest of the notifications, the answer; then the stream ends.
fn streamed(first: Value, rest: mpsc::Receiver<Out>, gone: DropGuard) -> Response {
    // Compact JSON has no raw newline, which an SSE data line may not carry.
    let event = |v: &Value| Ok::<_, std::convert::Infallible>(Event::default().data(v.to_string()));
    let head = futures::stream::once(std::future::ready(event(&first)));
    let tail = futures::stream::unfold((rest, Some(gone)), move |(mut rest, gone)| async move {
        let gone = gone?;
        match rest.recv().await? {
            Out::Notify(note) => Some((event(&note), (rest, Some(gone)))),
            Out::Done(body) => {
                gone.disarm();
                Some((event(&body), (rest, None)))
            }
        }
    });
    Sse::new(futures::StreamExt::chain(head, tail)).into_response()
}
