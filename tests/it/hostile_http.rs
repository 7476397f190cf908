//! The hostile `tools/list` replies of `badkit::hostile` over streamable HTTP: a server scripted here answers
//! `initialize` properly (JSON responses, no session) and then `tools/list` with the mode's reply. An
//! unparsable reply fails at once with the reason; a mixed list keeps its valid tools; the healthy stdio server
//! beside it is unharmed.

use crate::util::{Env, HUB};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hub_servers::badkit::hostile::{self, Reply};
use serde_json::{Value, json};

/// Starts the scripted server for `mode` on its own thread; returns its `/mcp` URL.
fn start(mode: &'static str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = crate::util::rt();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/mcp",
                axum::routing::post(move |body: axum::Json<Value>| async move { answer(mode, body.0) })
                    .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                    .delete(|| async { StatusCode::METHOD_NOT_ALLOWED }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/mcp", rx.recv().unwrap())
}

fn json_body(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn answer(mode: &str, msg: Value) -> Response {
    let Some(id) = msg.get("id").cloned() else { return StatusCode::ACCEPTED.into_response() };
    let ok =
        |result: Value| json_body(serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "result": result})).unwrap());
    match msg["method"].as_str().unwrap_or("") {
        "initialize" => ok(json!({
            "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}, "resources": {}},
            "serverInfo": {"name": "hostile-http", "version": "0"}
        })),
        "tools/list" => match hostile::tools_list(mode, &id, msg["params"]["cursor"].as_str()) {
            Reply::Bytes(bytes) => json_body(bytes),
            Reply::Endless(head) => {
                let spaces = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![b' '; 65_536]));
                let body = futures::stream::once(async move { Ok(head) }).chain(spaces);
                ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
            }
            Reply::Default => ok(json!({"tools": [{"name": "ping", "inputSchema": {"type": "object"}}]})),
        },
        // The call's answer is an SSE stream whose one event is not JSON-RPC; the stream then stays open.
        "tools/call" if mode == "sse_garbage" => {
            let event = futures::stream::once(async {
                Ok::<_, std::io::Error>(b"data: this is not JSON-RPC {{{\n\n".to_vec())
            });
            let body = event.chain(futures::stream::pending());
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
        }
        "tools/call" => ok(json!({"content": [{"type": "text", "text": "pong"}]})),
        "resources/list" if mode == "mixed" => ok(json!({"resources": [
            {"uri": "file:///ok", "name": "ok"},
            {"uri": 7, "name": "numbered"},
            {"name": "no uri"},
            {"uri": "file:///ok", "name": "twice"},
            {"uri": "file:///long", "name": "long", "description": "d".repeat(20_000)},
        ]})),
        "resources/list" => ok(json!({"resources": []})),
        "resources/templates/list" => {
            ok(json!({"resourceTemplates": [{"uriTemplate": "thing://{id}", "name": "thing"}]}))
        }
        _ => json_body(
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}))
                .unwrap(),
        ),
    }
}

fn env(mode: &'static str) -> Env {
    let env = Env::new();
    env.config(&format!(
        "[defaults]\ntimeout_s = 3600\nstartup_timeout_s = 3600\n\
         [servers.bad]\nurl = \"{}\"\nrestart = {{ max_restarts = 0 }}\n\
         [servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n",
        start(mode)
    ));
    env
}

fn run(mode: &'static str) -> (Value, String) {
    let env = env(mode);
    let run = env.run(&["tools", "--json"]).ok();
    let doc = run.json();
    assert_eq!(doc["servers"]["kit"]["state"], "up", "{mode}: the healthy server is unharmed");
    (doc, run.stderr)
}

#[test]
fn an_unparsable_reply_over_http_fails_the_server_at_once_with_the_reason() {
    for (mode, words) in [
        ("bad_utf8", "not a JSON-RPC message"),
        ("deep", "recursion limit"),
        ("long_desc", "larger than 16777216 bytes"),
        ("endless", "larger than 16777216 bytes"),
        ("not_jsonrpc", "not a JSON-RPC message"),
    ] {
        let (doc, stderr) = run(mode);
        let bad = &doc["servers"]["bad"];
        assert_eq!(bad["state"], "failed", "{mode}: {bad}");
        assert!(bad["error"].as_str().unwrap_or("").contains(words), "{mode}: {bad}");
        assert!(stderr.contains("warning: server 'bad'") && stderr.contains(words), "{mode}: {stderr}");
    }
}

#[test]
fn a_mixed_list_over_http_keeps_its_valid_tools() {
    let (doc, _) = run("mixed");
    let mut names: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["server"] == "bad")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bad__dotted_name", "bad__has_space", "bad__ok_two", "bad__ping", "bad__untyped", "bad__wordy"]);
    let problems = doc["servers"]["bad"]["problems"].as_array().unwrap();
    assert_eq!(problems.iter().filter(|p| p["kind"] == "tool").count(), 14);
}

/// rmcp drops an SSE event it cannot parse and leaves the request to its deadline (an hour here); hub's watched
/// client sees the event and fails the call at once.
#[test]
fn a_bad_sse_event_fails_the_call_at_once() {
    let env = env("sse_garbage");
    let run = env.run(&["call", "bad__ping", "{}"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("broke the protocol") && run.stderr.contains("SSE event"), "{}", run.stderr);
    assert!(run.stderr.contains("is not JSON"), "{}", run.stderr);
}

/// Resources are checked entry by entry like tools: the valid ones are kept, each invalid one is reported.
#[test]
fn a_mixed_resource_list_keeps_its_valid_resources() {
    let env = env("mixed");
    let run = env.run(&["resources", "--json"]).ok();
    let doc = run.json();
    let resources: Vec<&Value> = doc["resources"].as_array().unwrap().iter().filter(|r| r["server"] == "bad").collect();
    let uris: Vec<&str> = resources.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert_eq!(uris, ["file:///ok", "file:///long"]);
    let long = resources[1]["description"].as_str().unwrap();
    assert!(long.ends_with("[cut by hub: 20000 characters]"), "{long}");
    assert_eq!(doc["templates"][0]["uriTemplate"], "thing://{id}");
    let problems = doc["servers"]["bad"]["problems"].to_string();
    for words in ["uri is a number", "has no uri", "listed twice", "description is 20000 characters"] {
        assert!(problems.contains(words), "{words}: {problems}");
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
    }
}
