//! The short way through `/mcp` (`gateway::fast`), spoken to with raw HTTP so that what goes over the wire is
//! seen: a plain session's call is answered as one JSON body, or streamed when the server reports progress or
//! logs first; a session that declared a capability a server's requests are relayed by, a task, or a stateless
//! request whose headers disagree with its body go the long way (rmcp) and are answered as before; a
//! cancellation reaches a call answered the short way, and the server behind it; errors keep their JSON-RPC form.

use crate::util::{Env, HUB, Served, client, eventually, rt, serve};
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

/// A session opened over raw HTTP with `capabilities`; its id.
async fn open(c: &reqwest::Client, url: &str, capabilities: Value) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = c.post(url).header("accept", ACCEPT).json(&init).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = r.bytes().await;
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = c.post(url).header("accept", ACCEPT).header("mcp-session-id", &id).json(&done).send().await.unwrap();
    assert_eq!(r.status(), 202);
    id
}

/// POSTs `body` in session `id`: the content type and the JSON-RPC response (the last SSE `data:` line when
/// streamed).
async fn post(c: &reqwest::Client, url: &str, id: &str, body: Value) -> (String, Value) {
    let r = c.post(url).header("accept", ACCEPT).header("mcp-session-id", id).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{body}");
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    let json = match kind.starts_with("text/event-stream") {
        true => text.lines().filter_map(|l| l.strip_prefix("data:")).rfind(|d| d.contains("\"id\"")).unwrap(),
        false => &text,
    };
    (kind, serde_json::from_str(json.trim()).unwrap())
}

fn call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

/// `hub serve` with testkit (its log file: what the server saw): the environment, the gateway, the log, /mcp.
fn started() -> (Env, Served, std::path::PathBuf, String) {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\ntimeout_s = 120\n"));
    let s = serve(&env, &[]);
    let url = format!("{}/mcp", s.base);
    (env, s, log, url)
}

#[test]
fn a_plain_sessions_call_is_answered_as_one_json_body_and_the_rest_as_before() {
    let (_env, _s, _, url) = started();
    rt().block_on(async {
        let c = client();
        let plain = open(&c, &url, json!({})).await;
        let (kind, r) = post(&c, &url, &plain, call(1, "kit__echo", json!({"text": "hi"}))).await;
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!((r["id"].clone(), r["result"]["structuredContent"]["text"].clone()), (json!(1), json!("hi")));
        assert!(r["result"].get("resultType").is_none(), "an older revision's result has no resultType: {r}");
        // An unknown tool stays a JSON-RPC error; a string id is kept as given.
        let unknown = json!({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"name": "kit__nope"}});
        let (_, r) = post(&c, &url, &plain, unknown).await;
        assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!("x"), json!(-32602)), "{r}");
        // A progress token on a call that reports nothing: still one JSON body.
        let mut quiet = call(2, "kit__echo", json!({"text": "hi"}));
        quiet["params"]["_meta"] = json!({"progressToken": "q"});
        let (kind, r) = post(&c, &url, &plain, quiet).await;
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!(r["result"]["structuredContent"]["text"], "hi");
        // One that reports progress and logs first: streamed, progress under the client's own token, then the answer.
        let mut progress = call(3, "kit__steps", json!({"n": 2}));
        progress["params"]["_meta"] = json!({"progressToken": "p"});
        let r = c.post(&url).header("accept", ACCEPT).header("mcp-session-id", &plain).json(&progress).send().await;
        let r = r.unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let events: Vec<Value> = r
            .text()
            .await
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let methods: Vec<&str> = events.iter().filter_map(|e| e["method"].as_str()).collect();
        assert_eq!(methods.iter().filter(|m| **m == "notifications/progress").count(), 2, "{events:?}");
        assert!(methods.contains(&"notifications/message"), "the server's log is passed on: {events:?}");
        assert!(
            events
                .iter()
                .filter(|e| e["method"] == "notifications/progress")
                .all(|e| e["params"]["progressToken"] == "p")
        );
        let last = events.last().unwrap();
        assert_eq!((last["id"].clone(), last["result"]["structuredContent"]["steps"].clone()), (json!(3), json!(2)));
        // A session that may be asked things (elicitation): the long way, as before.
        let asked = open(&c, &url, json!({"elicitation": {}})).await;
        let (kind, r) = post(&c, &url, &asked, call(4, "kit__echo", json!({"text": "yo"}))).await;
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        assert_eq!(r["result"]["structuredContent"]["text"], "yo");
        // A task-augmented call (a field the short way does not know): the long way.
        let mut task = call(5, "kit__echo", json!({"text": "hi"}));
        task["params"]["task"] = json!({"ttl": 60000});
        let (kind, _) = post(&c, &url, &plain, task).await;
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        // The short way: the echo, the unknown tool, the two calls with progress tokens.
        assert_eq!(short_calls(&c, &url.replace("/mcp", "")).await, 4);
        // An unknown session is rmcp's to refuse, as before.
        let r = c.post(&url).header("accept", ACCEPT).header("mcp-session-id", "nope").json(&call(
            6,
            "kit__echo",
            json!({}),
        ));
        assert_eq!(r.send().await.unwrap().status(), 404);
    });
}

#[test]
fn a_stateless_call_takes_the_short_way_only_when_its_headers_say_what_its_body_says() {
    let (_env, s, _, url) = started();
    rt().block_on(async {
        let c = client();
        let mut body = call(1, "kit__echo", json!({"text": "hi"}));
        body["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}});
        let send = |name: &'static str, body: Value| {
            c.post(&url)
                .header("accept", ACCEPT)
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", name)
                .json(&body)
                .send()
        };
        // rmcp answers a stateless call as JSON too: the counter tells the two ways apart.
        let r = send("kit__echo", body.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        let r: Value = r.json().await.unwrap();
        assert_eq!((r["result"]["structuredContent"]["text"].clone(), r["result"]["resultType"].clone()), (json!("hi"), json!("complete")));
        assert_eq!(short_calls(&c, &s.base).await, 1);
        let mismatched = send("kit__other", body.clone()).await.unwrap();
        assert_eq!(mismatched.status(), 400, "rmcp refuses a header that disagrees with the body");
        // A client that may be asked things: rmcp's way, answered all the same.
        let mut capable = body;
        capable["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
        let r: Value = send("kit__echo", capable).await.unwrap().json().await.unwrap();
        assert_eq!(r["result"]["structuredContent"]["text"], "hi");
        assert_eq!(short_calls(&c, &s.base).await, 1);
    });
}

/// `hub_mcp_short_calls_total` of the gateway at `base`.
async fn short_calls(c: &reqwest::Client, base: &str) -> u64 {
    let text = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("hub_mcp_short_calls_total ")).expect("the counter");
    line.trim().parse().unwrap()
}

#[test]
fn a_cancellation_or_a_client_gone_reaches_a_call_answered_the_short_way_and_the_server_behind_it() {
    let (_env, _s, log, url) = started();
    rt().block_on(async {
        let c = client();
        let id = open(&c, &url, json!({})).await;
        let first = tokio::spawn({
            let (c, url, id) = (c.clone(), url.clone(), id.clone());
            async move { post(&c, &url, &id, call(7, "kit__sleep", json!({"ms": 60000}))).await }
        });
        let started = || std::fs::read_to_string(&log).unwrap_or_default().contains("start sleep");
        assert!(eventually(crate::util::LIMIT, started));
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}});
        let r = c.post(&url).header("accept", ACCEPT).header("mcp-session-id", &id).json(&cancel).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let (kind, r) = first.await.unwrap();
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!(r["result"]["isError"], true, "{r}");
        let seen = |what: &str, n: usize| {
            eventually(crate::util::LIMIT, || {
                std::fs::read_to_string(&log).unwrap_or_default().matches(what).count() == n
            })
        };
        assert!(seen("cancelled sleep", 1), "the upstream server never saw the cancellation");
        // A client that goes away mid-call (its connection closed) cancels it too.
        let gone = tokio::spawn({
            let (url, id) = (url.clone(), id.clone());
            async move { post(&client(), &url, &id, call(8, "kit__sleep", json!({"ms": 60000}))).await }
        });
        assert!(seen("start sleep", 2));
        gone.abort();
        assert!(seen("cancelled sleep", 2), "the upstream server never heard that the client went away");
    });
}
