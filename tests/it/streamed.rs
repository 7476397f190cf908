//! Streamed calls through `hub serve`: REST `/call` with `Accept: text/event-stream` relays the testkit's progress
//! and log notifications as events, in order, then one `result` event with the plain call's JSON; a client that
//! goes away cancels the call on the upstream server; a server's redactions reach its progress and log messages.

use crate::util::{Env, HUB, LIMIT, client, eventually, rt, serve};
use serde_json::{Value, json};

/// An env with the testkit (logging to the returned path) behind a two-minute call deadline.
pub fn kit_env() -> (Env, std::path::PathBuf) {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\ntimeout_s = 120\n"));
    (env, log)
}

/// The events of a whole SSE body: (event name, data).
fn parse(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let field = |k: &str| block.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string());
            Some((field("event:")?, serde_json::from_str(&field("data:")?).ok()?))
        })
        .collect()
}

#[test]
fn a_streamed_call_relays_progress_and_logs_then_its_result() {
    let (env, _) = kit_env();
    let s = serve(&env, &[]);
    let body = rt().block_on(async {
        let r = client()
            .post(format!("{}/call", s.base))
            .header("accept", "text/event-stream")
            .json(&json!({"tool": "kit__steps", "arguments": {"n": 3}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        r.text().await.unwrap()
    });
    let events = parse(&body);
    let progress: Vec<&Value> = events.iter().filter(|(n, _)| n == "progress").map(|(_, d)| d).collect();
    let messages: Vec<&str> = progress.iter().map(|p| p["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["step 1", "step 2", "step 3"], "{body}");
    assert_eq!((progress[2]["progress"].as_f64(), progress[2]["total"].as_f64()), (Some(3.0), Some(3.0)));
    let logs = events.iter().filter(|(n, d)| n == "log" && d["data"] == "took step 3 of 3").count();
    assert_eq!(logs, 1, "{body}");
    let (last, result) = events.last().unwrap();
    assert_eq!(last, "result", "{body}");
    assert_eq!((result["success"].as_bool(), result["result"]["steps"].as_u64()), (Some(true), Some(3)), "{result}");
    assert_eq!(result["dropped_events"], 0);
    assert_eq!(events.iter().filter(|(n, _)| n == "result").count(), 1);

    let unknown = rt().block_on(async {
        let r = client().post(format!("{}/call", s.base)).header("accept", "text/event-stream");
        r.json(&json!({"tool": "kit__nope"})).send().await.unwrap().text().await.unwrap()
    });
    let (name, data) = parse(&unknown).pop().unwrap();
    assert_eq!((name.as_str(), data["success"].as_bool()), ("result", Some(false)));
    assert!(data["error"].as_str().unwrap().contains("unknown tool 'kit__nope'"), "{data}");
}

#[test]
fn a_client_leaving_a_streamed_call_cancels_it_upstream() {
    let (env, log) = kit_env();
    let s = serve(&env, &[]);
    rt().block_on(async {
        let r = client()
            .post(format!("{}/call", s.base))
            .header("accept", "text/event-stream")
            .json(&json!({"tool": "kit__sleep", "arguments": {"ms": 60000}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(eventually(LIMIT, || std::fs::read_to_string(&log).unwrap_or_default().contains("start sleep")));
        drop(r);
    });
    let seen = || std::fs::read_to_string(&log).unwrap_or_default().contains("cancelled sleep");
    assert!(eventually(LIMIT, seen), "the upstream server never saw the cancellation");
}

#[test]
fn redactions_also_cover_what_a_server_says_during_a_call() {
    let (env, _) = kit_env();
    // A redaction that names another tool still covers the server's progress and log messages.
    let text = std::fs::read_to_string(env.path("servers.toml")).unwrap();
    env.config(&format!(
        "{text}[[servers.kit.transform]]\ntool = \"echo\"\nredact = ['step \\d']\nredact_with = \"[step]\"\n"
    ));
    let s = serve(&env, &[]);
    let body = rt().block_on(async {
        let r = client().post(format!("{}/call", s.base)).header("accept", "text/event-stream");
        r.json(&json!({"tool": "kit__steps", "arguments": {"n": 2}})).send().await.unwrap().text().await.unwrap()
    });
    let events = parse(&body);
    let said: Vec<String> = events
        .iter()
        .filter(|(n, _)| n == "progress" || n == "log")
        .map(|(_, d)| d["message"].as_str().or(d["data"].as_str()).unwrap_or_default().to_string())
        .collect();
    assert_eq!(said.len(), 4, "{body}");
    assert!(said.iter().all(|m| m.contains("[step]") && !m.contains("step 1")), "{said:?}");
}
