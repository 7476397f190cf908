//! Reliability: servers that break the protocol (garbage lines, wrong ids, silence, a 50 MB result, a flood of
//! notifications) leave the hub responsive with clear errors and bounded memory; writes are never lost (100
//! concurrent creates; SIGKILL right after an acknowledged write); model endpoints that trickle or send wrong
//! types fail clearly within the timeout.

use crate::model::{Model, Reply};
use crate::util::{Env, HUB};
use hub::registry::Registry;
use serde_json::{Map, Value, json};
use std::time::Duration;

fn config(env: &Env, servers: &str) -> hub::config::Config {
    let text = format!("[defaults]\nstartup_timeout_s = 30\n{servers}");
    let mut cfg = crate::util::unpinned(hub::config::parse(&text, "test", &|_| None).unwrap());
    for s in &mut cfg.servers {
        if let hub::config::Transport::Stdio { env: e, .. } = &mut s.transport {
            e.extend(env.vars.iter().cloned());
        }
    }
    cfg
}

fn bad(mode: &str, extra: &str) -> String {
    format!(
        "[servers.bad]\ncommand = \"{HUB}\"\nargs = [\"server\", \"badkit\"]\nenv = {{ HUB_BADKIT_MODE = \"{mode}\" }}\n{extra}\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"
    )
}

fn args(v: Value) -> Option<Map<String, Value>> {
    v.as_object().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_servers_give_clear_errors_and_the_hub_stays_responsive() {
    let env = Env::new();
    for mode in ["garbage", "wrong_ids", "silent"] {
        let reg = Registry::start(&config(&env, &bad(mode, "timeout_s = 1.5"))).await;
        let (bad_call, kit_call) = tokio::join!(reg.call("bad__ping", args(json!({}))), async {
            // The healthy server answers while the bad one misbehaves.
            reg.call("kit__echo", args(json!({"text": "alive"}))).await
        });
        assert!(kit_call.is_ok(), "{mode}: the healthy server is unaffected");
        match mode {
            "garbage" => {
                // A line that is not JSON-RPC is a protocol error of the server: down from the handshake on,
                // with that reason, so its tool is not even listed.
                assert!(bad_call.is_err(), "{mode}");
                let reason = reg.server("bad").and_then(|s| s.down_reason()).unwrap_or_default();
                assert!(reason.contains("is not JSON") && reason.contains("this is not JSON-RPC"), "{reason}");
            }
            _ => {
                // Bounded by the call's deadline, which the message names.
                let e = bad_call.expect_err(mode).to_string();
                assert!(e.contains("timed out after 1.5s"), "{mode}: {e}");
            }
        }
        reg.shutdown().await;
    }
}

/// Measured on a hub process of its own (a gateway), not the shared test process: its peak memory alone.
#[test]
fn a_huge_result_does_not_blow_up_the_hub_memory() {
    let mut env = Env::new();
    env.set("HUB_BADKIT_MB", "64");
    // The deadline is long enough for a debug build of badkit to produce the reply: hub fails the call as soon
    // as the reply passes the message cap, not at the deadline.
    env.config(&bad("huge", "timeout_s = 120"));
    let s = crate::util::serve(&env, &[]);
    let answer: Value = crate::util::rt().block_on(async {
        let body = json!({"tool": "bad__ping", "arguments": {}});
        let r = crate::util::client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap();
        r.json().await.unwrap()
    });
    assert!(answer["error"].as_str().unwrap_or("").contains("limits.max_message_bytes"), "{answer}");
    // Holding the result would take 64 MB or more; the message cap (16 MiB) bounds what is buffered.
    let peak = crate::util::peak_rss_kb(s.child.id());
    println!("gateway peak RSS after a 64 MB result: {peak} kB");
    assert!(peak < 100 * 1024, "the gateway peaked at {peak} kB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_flood_does_not_stop_the_hub() {
    let env = Env::new();
    let reg = Registry::start(&config(&env, &bad("flood", "timeout_s = 60"))).await;
    for _ in 0..20 {
        reg.call("kit__echo", args(json!({"text": "x"}))).await.unwrap();
    }
    // Once the flood is read, the flooding server answers too.
    let mut ok = false;
    for _ in 0..100 {
        if reg.call("bad__ping", args(json!({}))).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the flooding server recovered");
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_creates_are_all_persisted() {
    let env = Env::new();
    let cfg = config(&env, &Env::server_entry("tickets", "tickets"));
    let reg = Registry::start(&cfg).await;
    let calls = (0..100).map(|i| {
        let reg = reg.clone();
        async move {
            let a = json!({"customer_id": format!("cus_{:06}", i % 50 + 1), "subject": format!("concurrent {i}"), "body": "b"});
            let c = reg.call("tickets__create_ticket", args(a)).await.unwrap();
            assert_ne!(c.result.is_error, Some(true), "{:?}", c.result);
            c.result.structured_content.unwrap()["id"].as_str().unwrap().to_string()
        }
    });
    let ids: std::collections::HashSet<String> = futures::future::join_all(calls).await.into_iter().collect();
    assert_eq!(ids.len(), 100, "100 distinct tickets");
    reg.shutdown().await;
    // A fresh process reads them all back from the file.
    let reg = Registry::start(&cfg).await;
    for id in &ids {
        let c = reg.call("tickets__get_ticket", args(json!({"id": id}))).await.unwrap();
        assert_ne!(c.result.is_error, Some(true), "{id} lost");
    }
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_an_acknowledged_write_loses_nothing() {
    let env = Env::new();
    let cfg = config(&env, &format!("{}restart = {{ backoff_ms = 50 }}\n", Env::server_entry("crm", "crm")));
    let reg = Registry::start(&cfg).await;
    for round in 0..5 {
        let note = format!("written before the kill {round}");
        let c = reg.call("crm__add_note", args(json!({"customer_id": "cus_000007", "text": note}))).await.unwrap();
        assert_ne!(c.result.is_error, Some(true));
        let pid = reg.status(false).await[0].pid.unwrap();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let mut found = false;
        for _ in 0..200 {
            if let Ok(c) = reg.call("crm__get_customer", args(json!({"id": "cus_000007"}))).await {
                let notes = c.result.structured_content.unwrap()["notes"].to_string();
                assert!(notes.contains(&note), "round {round}: the acknowledged note is gone: {notes}");
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(found, "the server came back");
    }
    reg.shutdown().await;
}

#[test]
fn bad_model_endpoints_fail_clearly_within_the_timeout() {
    let wrong_types = Reply::Json { status: 200, body: json!({"choices": "nope", "usage": "lots"}), headers: vec![] };
    let missing = Reply::Json { status: 200, body: json!({"object": "chat.completion"}), headers: vec![] };
    let trickle = Reply::Stream {
        chunks: vec![json!({"choices": [{"delta": {"content": "never ends"}}]})],
        cut: true,
        piece: None,
    };
    for (reply, expect) in [(wrong_types, "invalid JSON"), (missing, "no choices"), (trickle, "stream ended")] {
        let m = Model::start(vec![reply]);
        let mut env = Env::new();
        env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "k");
        let run = env.run(&["ask", "q", "--stream"]);
        assert_eq!(run.code, 1, "{expect}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{expect}: {}", run.stderr);
    }
    // A slow trickle: headers then nothing, past the timeout.
    let m = Model::start_delayed(vec![(Duration::from_secs(30), crate::model::answer("too late"))]);
    let env = Env::new();
    env.config(&format!("{}\n{}", m.config("timeout_s = 1.0"), Env::server_entry("crm", "crm")));
    let run = env.run(&["ask", "q"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("within 1s"), "{}", run.stderr);
}
