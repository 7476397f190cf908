//! Streamed calls over a WebSocket (`GET /ws`): many calls in flight on one socket, each named by the client's
//! `id`.
//!
//! ```text
//! → {"id": 1, "tool": "kit__steps", "arguments": {"n": 3}}      a call (arguments optional)
//! → {"cancel": 1}                                                cancels call 1 upstream
//! ← {"id": 1, "event": "progress", "data": {"tool", "progress", "total", "message"}}
//! ← {"id": 1, "event": "log", "data": {"server", "level", "logger", "data"}}
//! ← {"id": 1, "event": "result", "data": {the plain REST call's JSON}}     last for that id
//! ← {"id": 1, "event": "error", "data": {"error": "…"}}       the message was refused (bad JSON, busy id, rate)
//! ```
//!
//! The upgrade passes the REST guards (token, rate limit, Host/Origin); each call is admitted again by the same
//! rate limits. hub pings every 20 s and closes a socket that has not answered for 60 s. Outgoing messages wait in
//! a bounded queue: a client that falls behind by `stream::BUFFER` messages is closed with code 1008 and the reason
//! (which reaches it only if its socket can still take it); one that takes no message for 10 s is dropped.
//! A socket that closes cancels its calls upstream.

use super::rest::{App, Caller};
use super::stream::{BUFFER, Events, Message};
use axum::extract::ws::{CloseFrame, Message as Ws, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PING: Duration = Duration::from_secs(20);
const SILENCE: Duration = Duration::from_secs(60);
/// A client that takes no message for this long is taken as gone.
const STALL: Duration = Duration::from_secs(10);

pub(super) async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    who: Caller,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let who = who.map(|w| w.0);
    upgrade.on_upgrade(move |socket| session(app, addr, who, headers, socket))
}

/// Why a socket ended from hub's side.
enum End {
    Slow,
    Silent,
    Shutdown,
}

async fn session(
    app: Arc<App>,
    addr: SocketAddr,
    who: Option<Arc<super::guard::Who>>,
    headers: HeaderMap,
    socket: WebSocket,
) {
    let (sink, mut incoming) = socket.split();
    let (out, queue) = mpsc::channel::<Value>(BUFFER);
    let (close, closing) = tokio::sync::oneshot::channel::<CloseFrame>();
    // Reading goes on while writing waits for a slow client: its queue then fills, which ends the socket.
    let mut writer = tokio::spawn(write(sink, queue, closing));
    let (finished, mut finishing) = mpsc::unbounded_channel::<String>();
    let slow = CancellationToken::new();
    let mut calls: HashMap<String, CancellationToken> = HashMap::new();
    let mut check = tokio::time::interval(PING);
    let mut heard = Instant::now();
    let mut written = false;
    let end = loop {
        tokio::select! {
            m = incoming.next() => match m {
                Some(Ok(Ws::Text(text))) => {
                    heard = Instant::now();
                    let reply = receive(&app, addr, &who, &headers, &text, &mut calls, &out, &finished, &slow);
                    if let Some(refusal) = reply { enqueue(&out, &slow, refusal) }
                }
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => heard = Instant::now(),
            },
            Some(id) = finishing.recv() => { calls.remove(&id); }
            _ = check.tick() => if heard.elapsed() > SILENCE { break Some(End::Silent) },
            () = slow.cancelled() => break Some(End::Slow),
            () = app.gateway.shutdown.cancelled() => break Some(End::Shutdown),
            w = &mut writer => {
                written = true;
                break matches!(w, Ok(Written::Stalled)).then_some(End::Slow);
            }
        }
    };
    calls.values().for_each(CancellationToken::cancel);
    let reason = match end {
        Some(End::Slow) => (1008, format!("the client reads too slowly: {BUFFER} messages were waiting")),
        Some(End::Silent) => (1008, format!("no answer to pings for {} s", SILENCE.as_secs())),
        Some(End::Shutdown) => (1001, "hub is shutting down".to_string()),
        None => (1000, String::new()),
    };
    let _ = close.send(CloseFrame { code: reason.0, reason: reason.1.into() });
    // A client that reads nothing never takes the close frame: the socket is dropped after a while regardless.
    if !written && tokio::time::timeout(Duration::from_secs(5), &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Sends the queued messages and a ping every `PING`; at `closing`, what is left in the queue is dropped and the
/// close frame sent.
async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Ws>,
    mut queue: mpsc::Receiver<Value>,
    mut closing: tokio::sync::oneshot::Receiver<CloseFrame>,
) -> Written {
    let mut ping = tokio::time::interval(PING);
    loop {
        let message = tokio::select! {
            m = queue.recv() => match m {
                Some(m) => Ws::Text(m.to_string().into()),
                None => return Written::Ended,
            },
            _ = ping.tick() => Ws::Ping(Default::default()),
            frame = &mut closing => {
                let _ = sink.send(Ws::Close(frame.ok())).await;
                return Written::Ended;
            }
        };
        match tokio::time::timeout(STALL, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Written::Ended,
            Err(_) => return Written::Stalled,
        }
    }
}

/// How the writer ended: the socket closed (or was closed), or the client took nothing for `STALL`.
enum Written {
    Ended,
    Stalled,
}

/// Queues one message; a full queue means the client fell behind.
fn enqueue(out: &mpsc::Sender<Value>, slow: &CancellationToken, m: Value) {
    if out.try_send(m).is_err() {
        slow.cancel();
    }
}

/// One incoming text message: a call started, a call cancelled, or the refusal to send back.
#[allow(clippy::too_many_arguments)]
fn receive(
    app: &Arc<App>,
    addr: SocketAddr,
    who: &Option<Arc<super::guard::Who>>,
    headers: &HeaderMap,
    text: &str,
    calls: &mut HashMap<String, CancellationToken>,
    out: &mpsc::Sender<Value>,
    finished: &mpsc::UnboundedSender<String>,
    slow: &CancellationToken,
) -> Option<Value> {
    let refuse = |id: &Value, why: &str| Some(json!({"id": id, "event": "error", "data": {"error": why}}));
    let Ok(msg) = serde_json::from_str::<Value>(text) else { return refuse(&Value::Null, "not valid JSON") };
    if let Some(id) = msg.get("cancel") {
        calls.get(&id.to_string()).inspect(|c| c.cancel());
        return None;
    }
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_string() || id.is_number()) {
        return refuse(&id, "a call needs an \"id\" (a string or a number)");
    }
    let (tool, args) = match super::rest::named(text.as_bytes(), "tool") {
        Ok(parsed) => parsed,
        Err(why) => return refuse(&id, &why),
    };
    if calls.contains_key(&id.to_string()) {
        return refuse(&id, "a call with this id is in flight");
    }
    if let Err(why) = app.admit(addr.ip(), headers, who.as_deref()) {
        return refuse(&id, why);
    }
    let cancel = CancellationToken::new();
    calls.insert(id.to_string(), cancel.clone());
    let (tx, mut rx) = mpsc::channel::<Message>(BUFFER);
    let events = Arc::new(Events::new(tx.clone()));
    let (app, who, finished) = (app.clone(), who.clone(), finished.clone());
    let client = addr.ip().to_string();
    tokio::spawn(async move {
        let origin: Arc<dyn crate::registry::origin::Origin> = events.clone();
        let (_, mut body, _) = app.call(&client, who, &tool, args, &cancel, Some(origin)).await;
        body["dropped_events"] = events.dropped().into();
        let _ = tx.send(("result", body)).await;
    });
    let (out, slow) = (out.clone(), slow.clone());
    tokio::spawn(async move {
        while let Some((event, data)) = rx.recv().await {
            enqueue(&out, &slow, json!({"id": id, "event": event, "data": data}));
            if event == "result" {
                break;
            }
        }
        let _ = finished.send(id.to_string());
    });
    None
}
