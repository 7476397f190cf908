//! Replicas through a real `hub serve`: `replicas = N` runs N testkit processes under one name, calls spread
//! over the least busy (ties round robin), a killed replica's in-flight call fails with a clear error unless the
//! tool is read-only (then it is retried once on another replica), the replica comes back through the backoff,
//! a replica listing other tools is kept out of rotation, `balance = "sticky"` keeps an MCP session on its
//! replica, and `urls = […]` spreads calls over several HTTP servers (two more gateways).

use crate::util::{Env, HUB, LIMIT, Served, client, rt, serve};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn kit(extra: &str) -> String {
    format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{extra}\n")
}

async fn row(s: &Served, name: &str) -> Value {
    let status: Value = client().get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
    status["servers"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().unwrap()
}

/// Waits until server `name`'s status satisfies `f`; returns it.
async fn until(s: &Served, name: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let r = row(s, name).await;
        if f(&r) {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "never happened: {what}; last status {r}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn replicas(row: &Value) -> Vec<Value> {
    row["replicas"].as_array().cloned().unwrap_or_default()
}

fn all_up(n: usize) -> impl Fn(&Value) -> bool {
    move |r: &Value| {
        replicas(r).len() == n && replicas(r).iter().all(|x| x["state"] == "up" && x["last_error"].is_null())
    }
}

async fn call(base: &str, tool: &str, args: Value) -> (u16, Value) {
    let c = reqwest::Client::new();
    let r = c.post(format!("{base}/call")).json(&json!({"tool": tool, "arguments": args})).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The pid of the process that answered a testkit `busy` call.
fn pid_of(body: &Value) -> u64 {
    body["result"]["pid"].as_u64().unwrap_or_else(|| panic!("no pid in {body}"))
}

#[test]
fn one_name_many_processes_calls_spread_over_them() {
    let env = Env::new();
    env.config(&kit("replicas = 3"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let r = until(&s, "kit", "three replicas up", all_up(3)).await;
        let pids: BTreeSet<u64> = replicas(&r).iter().map(|x| x["pid"].as_u64().unwrap()).collect();
        assert_eq!(pids.len(), 3, "three processes: {r}");
        let tools: Value = client().get(format!("{}/tools", s.base)).send().await.unwrap().json().await.unwrap();
        let busy = tools["tools"].as_array().unwrap().iter().filter(|t| t["name"] == "kit__busy").count();
        assert_eq!(busy, 1, "one name in the index");
        // Nothing in flight between sequential calls: ties, so round robin over all three.
        let mut answered = BTreeSet::new();
        for _ in 0..6 {
            let (code, body) = call(&s.base, "kit__busy", json!({"ms": 0})).await;
            assert_eq!(code, 200, "{body}");
            answered.insert(pid_of(&body));
        }
        assert_eq!(answered, pids, "every replica answered");
        let r = row(&s, "kit").await;
        assert!(replicas(&r).iter().all(|x| x["calls"] == 2 && x["errors"] == 0), "{r}");
        // The least busy wins: with a call held on one replica, the others take the next ones.
        let base = s.base.clone();
        let held = tokio::spawn(async move { call(&base, "kit__write", json!({"ms": 600_000})).await });
        let r = until(&s, "kit", "a call in flight", |r| replicas(r).iter().any(|x| x["in_flight"] == 1)).await;
        let busy_pid = replicas(&r).iter().find(|x| x["in_flight"] == 1).unwrap()["pid"].as_u64().unwrap();
        for _ in 0..4 {
            let (_, body) = call(&s.base, "kit__busy", json!({"ms": 0})).await;
            assert_ne!(pid_of(&body), busy_pid, "a replica with a call in flight is passed over while others idle");
        }
        // Its process dies: the write (neither read-only nor idempotent) fails, naming the replica; no retry.
        unsafe { libc::kill(busy_pid as i32, libc::SIGKILL) };
        let (code, body) = held.await.unwrap();
        assert_eq!(code, 503, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("server 'kit' is down: replica kit#") && error.contains("closed"), "{body}");
        let r = row(&s, "kit").await;
        let writes: u64 = replicas(&r).iter().map(|x| x["errors"].as_u64().unwrap()).sum();
        assert_eq!(writes, 1, "the write was not sent again: {r}");
        // It comes back through the supervisor's backoff, as a new process.
        let r = until(&s, "kit", "the killed replica back", |r| {
            all_up(3)(r) && replicas(r).iter().all(|x| x["pid"].as_u64() != Some(busy_pid))
        })
        .await;
        assert_eq!(r["restarts"], 1, "{r}");
    });
}

#[test]
fn a_read_only_call_is_retried_once_on_another_replica() {
    let env = Env::new();
    // A long backoff: the killed replica stays down while the test runs.
    env.config(&kit("replicas = 3\nrestart = { backoff_ms = 600000, max_backoff_ms = 600000 }"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        until(&s, "kit", "three replicas up", all_up(3)).await;
        // `crash` (read-only) kills the replica it runs on: retried once, it kills a second one — not a third.
        let (code, body) = call(&s.base, "kit__crash", json!({})).await;
        assert_eq!(code, 503, "{body}");
        assert!(body["error"].as_str().unwrap().contains("replica kit#"), "{body}");
        let r =
            until(&s, "kit", "two replicas down", |r| replicas(r).iter().filter(|x| x["state"] == "down").count() == 2)
                .await;
        let errors: Vec<u64> = replicas(&r).iter().map(|x| x["errors"].as_u64().unwrap()).collect();
        assert_eq!(errors.iter().sum::<u64>(), 2, "one call, one retry: {r}");
        assert_eq!(r["state"], "up", "one replica is enough to be up: {r}");
        // A call in flight on the last replica when it dies is retried — and finds none left in rotation.
        let (code, body) = call(&s.base, "kit__busy", json!({"ms": 0})).await;
        assert_eq!(code, 200, "the surviving replica serves: {body}");
    });
    drop(s);
    // A read-only call whose replica dies mid-call completes on another one.
    let env = Env::new();
    env.config(&kit("replicas = 2\nrestart = { backoff_ms = 600000, max_backoff_ms = 600000 }"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        until(&s, "kit", "two replicas up", all_up(2)).await;
        let base = s.base.clone();
        let first = tokio::spawn(async move { call(&base, "kit__gather", json!({"n": 2, "ms": 600_000})).await });
        let r = until(&s, "kit", "the gather in flight", |r| replicas(r).iter().any(|x| x["in_flight"] == 1)).await;
        let victim = replicas(&r).iter().find(|x| x["in_flight"] == 1).unwrap()["pid"].as_u64().unwrap();
        unsafe { libc::kill(victim as i32, libc::SIGKILL) };
        // The retry waits on the other replica; a second gather meets it there (the victim stays down).
        until(&s, "kit", "the retry in flight", |r| {
            replicas(r).iter().any(|x| x["state"] == "up" && x["in_flight"] == 1 && x["errors"] == 0)
        })
        .await;
        let (code, second) = call(&s.base, "kit__gather", json!({"n": 2, "ms": 600_000})).await;
        assert_eq!(code, 200, "{second}");
        let (code, first) = first.await.unwrap();
        assert_eq!(code, 200, "the read-only call survived its replica: {first}");
        assert_eq!(first["result"]["met"], true, "{first}");
    });
}

#[test]
fn a_replica_listing_other_tools_is_kept_out_of_rotation() {
    let env = Env::new();
    let odd = format!(
        "[servers.kit]\ncommand = \"sh\"\nargs = [\"-c\", \"if [ \\\"$HUB_REPLICA\\\" = 2 ]; then export HUB_TESTKIT_NAMES=odd; fi; exec {HUB} server testkit\"]\nreplicas = 3\n"
    );
    env.config(&odd);
    let s = serve(&env, &[]);
    rt().block_on(async {
        let r = until(&s, "kit", "replica 2 out", |r| {
            let rows = replicas(r);
            rows.len() == 3
                && rows.iter().all(|x| x["state"] == "up")
                && rows[1]["last_error"].as_str().is_some_and(|e| e.contains("extra: odd"))
        })
        .await;
        let out = replicas(&r)[1]["pid"].as_u64().unwrap();
        let tools: Value = client().get(format!("{}/tools", s.base)).send().await.unwrap().json().await.unwrap();
        assert!(!tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "kit__odd"), "the majority's list");
        for _ in 0..4 {
            let (_, body) = call(&s.base, "kit__busy", json!({"ms": 0})).await;
            assert_ne!(pid_of(&body), out, "never routed to the replica that disagrees");
        }
        let problems = r["problems"].to_string() + &replicas(&r)[1]["last_error"].to_string();
        assert!(problems.contains("differ from kit#1's"), "{r}");
    });
    // `hub status` shows the replicas, the one out of rotation with why.
    let out = env.run(&["status"]).ok();
    assert!(out.stdout.contains("REPLICA") && out.stdout.contains("kit#3"), "{}", out.stdout);
    assert!(out.stdout.lines().any(|l| l.starts_with("kit#2") && l.contains("extra: odd")), "{}", out.stdout);
}

#[test]
fn sticky_balancing_keeps_a_session_on_its_replica() {
    let env = Env::new();
    env.config(&kit("replicas = 2\nbalance = \"sticky\"\nrestart = { backoff_ms = 600000, max_backoff_ms = 600000 }"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        until(&s, "kit", "two replicas up", all_up(2)).await;
        let url = format!("{}/mcp", s.base);
        let mcp = ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url)).await.unwrap();
        let busy =
            || CallToolRequestParams::new("kit__busy").with_arguments(json!({"ms": 0}).as_object().unwrap().clone());
        let mut seen = BTreeSet::new();
        for _ in 0..4 {
            let r = mcp.peer().call_tool(busy()).await.unwrap();
            seen.insert(r.structured_content.unwrap()["pid"].as_u64().unwrap());
        }
        assert_eq!(seen.len(), 1, "one session, one replica: {seen:?}");
        // Plain REST calls have no session: they still spread.
        let mut rest = BTreeSet::new();
        for _ in 0..4 {
            rest.insert(pid_of(&call(&s.base, "kit__busy", json!({"ms": 0})).await.1));
        }
        assert_eq!(rest.len(), 2, "REST calls spread: {rest:?}");
        // Its replica dies: the session moves to the other one and stays there.
        let gone = *seen.iter().next().unwrap();
        unsafe { libc::kill(gone as i32, libc::SIGKILL) };
        until(&s, "kit", "the replica gone", |r| replicas(r).iter().any(|x| x["state"] != "up")).await;
        let mut after = BTreeSet::new();
        for _ in 0..3 {
            let r = mcp.peer().call_tool(busy()).await.unwrap();
            after.insert(r.structured_content.unwrap()["pid"].as_u64().unwrap());
        }
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(!after.contains(&gone));
        let _ = mcp.cancel().await;
    });
}

#[test]
fn urls_spread_calls_over_several_http_servers() {
    let upstream = || {
        let env = Env::new();
        env.config(&kit(""));
        let s = serve(&env, &[]);
        (env, s)
    };
    let (a, b) = (upstream(), upstream());
    let env = Env::new();
    env.config(&format!("[servers.far]\nurls = [\"{}/mcp\", \"{}/mcp\"]\n", a.1.base, b.1.base));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let r = until(&s, "far", "both urls up", all_up(2)).await;
        let urls: Vec<String> = replicas(&r).iter().map(|x| x["url"].as_str().unwrap().to_string()).collect();
        assert_eq!(urls, [format!("{}/mcp", a.1.base), format!("{}/mcp", b.1.base)]);
        let mut answered = BTreeSet::new();
        for _ in 0..4 {
            let (code, body) = call(&s.base, "far__kit__busy", json!({"ms": 0})).await;
            assert_eq!(code, 200, "{body}");
            answered.insert(pid_of(&body));
        }
        assert_eq!(answered.len(), 2, "both upstream gateways' testkits answered: {answered:?}");
    });
}

#[test]
fn a_replica_that_times_out_is_taken_out_and_comes_back() {
    let env = Env::new();
    env.config(&kit("replicas = 2\ntimeout_s = 1"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let r = until(&s, "kit", "two replicas up", all_up(2)).await;
        let before: Vec<u64> = replicas(&r).iter().map(|x| x["pid"].as_u64().unwrap()).collect();
        // A write (not retried) that outlives the deadline: the call times out and its replica is restarted.
        let (code, body) = call(&s.base, "kit__write", json!({"ms": 600_000})).await;
        assert_eq!(code, 504, "{body}");
        assert!(body["error"].as_str().unwrap().contains("timed out"), "{body}");
        let r = until(&s, "kit", "the slow replica restarted", |r| {
            all_up(2)(r) && replicas(r).iter().filter(|x| x["restarts"] == 1).count() == 1
        })
        .await;
        let rows = replicas(&r);
        let (restarted, other) = if rows[0]["restarts"] == 1 { (0, 1) } else { (1, 0) };
        assert_ne!(rows[restarted]["pid"].as_u64().unwrap(), before[restarted], "a new process: {r}");
        assert_eq!(rows[other]["pid"].as_u64().unwrap(), before[other], "the other one untouched: {r}");
        assert_eq!(rows[restarted]["errors"], 1, "{r}");
        let metrics = client().get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("hub_replica_errors_total{server=\"kit\",replica=\"kit#"), "{metrics}");
        assert!(metrics.contains("hub_replica_up{server=\"kit\",replica=\"kit#2\"} 1"), "{metrics}");
    });
}
