//! Streamed calls over `hub serve`'s WebSocket (`/ws`): several calls in flight on one socket, each answered under
//! its own id with its progress, logs and result; `{"cancel": id}` reaching the upstream server; bad messages
//! refused one by one with the socket kept; the gateway token required for the upgrade and the rate limit applied
//! per call; and a client that stops reading closed with a reason.

use crate::streamed::kit_env;
use crate::util::{LIMIT, eventually, rt, serve};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(base: &str, token: Option<&str>) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("{}/ws", base.replacen("http", "ws", 1)).into_client_request().unwrap();
    if let Some(t) = token {
        request.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.map(|(s, _)| s)
}

pub(crate) async fn send(ws: &mut Socket, m: Value) {
    ws.send(Message::text(m.to_string())).await.unwrap();
}

/// The next JSON message (pings are answered by the library).
pub(crate) async fn next(ws: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(LIMIT, ws.next()).await.expect("the socket went quiet") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(f))) => panic!("closed: {f:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

#[test]
fn calls_in_flight_on_one_socket_stream_apart_and_cancel_upstream() {
    let (env, log) = kit_env();
    let s = serve(&env, &[]);
    rt().block_on(async {
        let mut ws = connect(&s.base, None).await.unwrap();
        send(&mut ws, json!({"id": 1, "tool": "kit__sleep", "arguments": {"ms": 60000}})).await;
        assert!(eventually(LIMIT, || std::fs::read_to_string(&log).unwrap_or_default().contains("start sleep")));
        send(&mut ws, json!({"id": "two", "tool": "kit__steps", "arguments": {"n": 2}})).await;
        send(&mut ws, json!({"id": 3, "tool": "kit__echo", "arguments": {"text": "hi"}})).await;
        let mut seen: Vec<Value> = Vec::new();
        while seen.iter().filter(|m| m["event"] == "result").count() < 2 {
            seen.push(next(&mut ws).await);
        }
        let of = |id: Value| -> Vec<&Value> { seen.iter().filter(|m| m["id"] == id).collect() };
        let two = of(json!("two"));
        let events: Vec<&str> = two.iter().map(|m| m["event"].as_str().unwrap()).collect();
        assert_eq!(events.iter().filter(|e| **e == "progress").count(), 2, "{two:?}");
        assert_eq!(events.last(), Some(&"result"), "{two:?}");
        assert_eq!(two.last().unwrap()["data"]["result"]["steps"], 2);
        assert_eq!(of(json!(3))[0]["data"]["result"]["text"], "hi");
        assert!(of(json!(1)).is_empty(), "the sleep is still running");
        send(&mut ws, json!({"cancel": 1})).await;
        let cancelled = next(&mut ws).await;
        assert_eq!((cancelled["id"].as_i64(), cancelled["event"].as_str()), (Some(1), Some("result")), "{cancelled}");
        assert_eq!(cancelled["data"]["success"], false);
        assert!(eventually(LIMIT, || std::fs::read_to_string(&log).unwrap_or_default().contains("cancelled sleep")));

        for (bad, why) in [
            (json!("not an object at all"), "needs an \"id\""),
            (json!({"id": 4}), "body must be"),
            (json!({"tool": "kit__echo"}), "needs an \"id\""),
            (json!({"id": 4, "tool": "kit__echo", "arguments": 7}), "arguments must be a JSON object"),
        ] {
            send(&mut ws, bad).await;
            let refused = next(&mut ws).await;
            assert_eq!(refused["event"], "error", "{refused}");
            assert!(refused["data"]["error"].as_str().unwrap().contains(why), "{refused}");
        }
        ws.send(Message::text("{oops")).await.unwrap();
        assert_eq!(next(&mut ws).await["data"]["error"], "not valid JSON");
        send(&mut ws, json!({"id": 5, "tool": "kit__echo", "arguments": {"text": "still here"}})).await;
        assert_eq!(next(&mut ws).await["data"]["result"]["text"], "still here");
    });
}

#[test]
fn the_socket_takes_the_gateway_token_and_rate_limit() {
    let (env, _) = kit_env();
    let s = serve(&env, &["--token", "s3cret", "--rate-limit", "2"]);
    rt().block_on(async {
        let refused = connect(&s.base, None).await.unwrap_err().to_string();
        assert!(refused.contains("401"), "{refused}");
        let mut ws = connect(&s.base, Some("s3cret")).await.unwrap();
        for id in 0..12 {
            send(&mut ws, json!({"id": id, "tool": "kit__echo", "arguments": {"text": "x"}})).await;
        }
        let mut limited = 0;
        for _ in 0..12 {
            let m = next(&mut ws).await;
            if m["event"] == "error" {
                assert!(m["data"]["error"].as_str().unwrap().contains("rate"), "{m}");
                limited += 1;
            }
        }
        assert!(limited > 0, "twelve calls at once at 2/s: some are refused");
    });
}

/// Calls of `tool` the gateway has finished, whatever their outcome (from `/metrics`).
fn finished(base: &str, tool: &str) -> u64 {
    let text = rt().block_on(async {
        let r = crate::util::client().get(format!("{base}/metrics")).send().await;
        match r {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    });
    let prefix = format!("hub_tool_calls_total{{server=\"kit\",tool=\"{tool}\"");
    text.lines().filter(|l| l.starts_with(&prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

#[test]
fn a_client_that_stops_reading_is_closed_with_a_reason() {
    let (env, _) = kit_env();
    let s = serve(&env, &[]);
    let steps = 60_000;
    let mut ws = rt().block_on(async {
        let mut ws = connect(&s.base, None).await.unwrap();
        send(&mut ws, json!({"id": 1, "tool": "kit__steps", "arguments": {"n": steps}})).await;
        ws
    });
    // 120 000 progress and log events, ~13 MB: far more than the socket buffers and the queue hold while this
    // client reads nothing. The call ends either way — cancelled when hub gives up on the client, or done.
    assert!(eventually(LIMIT * 3, || finished(&s.base, "kit__steps") >= 1), "the call never ended");
    let (answers, close) = rt().block_on(async {
        let (mut answers, mut close) = (0, None);
        loop {
            match tokio::time::timeout(LIMIT, ws.next()).await.expect("the socket went quiet") {
                Some(Ok(Message::Text(t))) => {
                    assert!(!t.contains("\"result\""), "the result of a call given up on: {t}");
                    answers += 1;
                }
                Some(Ok(Message::Close(frame))) => {
                    close = frame;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
        (answers, close)
    });
    assert!(answers < 2 * steps, "closed before every event: {answers}");
    if let Some(frame) = close {
        assert_eq!(u16::from(frame.code), 1008);
        assert!(frame.reason.contains("reads too slowly"), "{}", frame.reason);
    }
}
