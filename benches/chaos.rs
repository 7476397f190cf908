//! Chaos run (`cargo bench --bench chaos`, release; run by .ci/run). Two paths through the hub while servers are
//! killed and frozen, with the figures RELIABILITY.md reports:
//!
//! 1. `hub serve`: 1 000 REST calls spread over the five servers by 8 clients; every ~100 calls one server gets
//!    `kill -9` and another is frozen (SIGSTOP) for 300 ms then resumed (SIGCONT).
//! 2. the agent path: `hub triage` of 100 items whose scripted model calls two tools each, while a server
//!    of the triage process is killed every 300 ms.
//!
//! Fails (exit 1) on a hard invariant: a hub crash, a failed call to a healthy server, an item lost, an orphan.
//! Timings (fail-fast latency, respawn time) are reported, not asserted.

#[path = "../tests/it/model.rs"]
mod model;
#[path = "common/procs.rs"]
mod procs;
#[path = "common/serve.rs"]
mod serve;

use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HUB: &str = env!("CARGO_BIN_EXE_hub");
const SERVERS: [&str; 5] = ["crm", "tickets", "payments", "calendar", "analytics"];

fn call_for(server: &str) -> Value {
    match server {
        "crm" => json!({"tool": "crm__get_customer", "arguments": {"id": "cus_000001"}}),
        "tickets" => json!({"tool": "tickets__list_tickets", "arguments": {"limit": 3}}),
        "payments" => json!({"tool": "payments__get_subscription", "arguments": {"customer_id": "cus_000002"}}),
        "calendar" => json!({"tool": "calendar__list_meetings", "arguments": {"limit": 3}}),
        _ => json!({"tool": "analytics__get_trend", "arguments": {"metric": "mrr", "days": 7}}),
    }
}

struct CallRec {
    server: &'static str,
    start: Instant,
    end: Instant,
    ok: bool,
    error: String,
}

fn pct(xs: &mut [Duration], p: f64) -> Duration {
    xs.sort();
    if xs.is_empty() { Duration::ZERO } else { xs[((xs.len() - 1) as f64 * p).round() as usize] }
}

async fn pids(http: &reqwest::Client, base: &str) -> Vec<(String, Option<u32>, String)> {
    let v: Value = match http.get(format!("{base}/status")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    v["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_string(),
                s["pid"].as_u64().map(|p| p as u32),
                s["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn gateway_path(failures: &mut Vec<String>) {
    println!("## 1. hub serve: 1000 calls, 8 clients, kill -9 one server and SIGSTOP another every ~100 calls");
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve::start(HUB, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (calls, windows, respawns, seen) = rt.block_on(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let recs: Arc<Mutex<Vec<CallRec>>> = Arc::default();
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (http, base, done, recs) = (http.clone(), base.clone(), done.clone(), recs.clone());
                tokio::spawn(async move {
                    let mut i = w;
                    while done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1000 {
                        let server = SERVERS[i % 5];
                        i += 1;
                        let start = Instant::now();
                        let r = http.post(format!("{base}/call")).json(&call_for(server)).send().await;
                        let (ok, error) = match r {
                            Ok(r) => {
                                let v: Value = r.json().await.unwrap_or(Value::Null);
                                (v["success"] == true, v["error"].as_str().unwrap_or("").to_string())
                            }
                            Err(e) => (false, format!("gateway unreachable: {e}")),
                        };
                        recs.lock().unwrap().push(CallRec { server, start, end: Instant::now(), ok, error });
                    }
                })
            })
            .collect();
        // Chaos: every ~100 calls, kill one server and freeze another.
        let mut windows: Vec<(&'static str, Instant, Instant)> = Vec::new();
        let mut respawns = Vec::new();
        let mut seen: HashSet<u32> = HashSet::new();
        for round in 0..9 {
            while done.load(std::sync::atomic::Ordering::SeqCst) < (round + 1) * 100 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let st = pids(&http, &base).await;
            seen.extend(st.iter().filter_map(|s| s.1));
            let victim = SERVERS[round % 5];
            let frozen = SERVERS[(round + 2) % 5];
            let pid_of = |n: &str| st.iter().find(|s| s.0 == n).and_then(|s| s.1);
            let (Some(vp), Some(fp)) = (pid_of(victim), pid_of(frozen)) else { continue };
            let t_kill = Instant::now();
            unsafe { libc::kill(vp as i32, libc::SIGKILL) };
            unsafe { libc::kill(fp as i32, libc::SIGSTOP) };
            let t_stop = Instant::now();
            let mut back = None;
            let mut resumed = false;
            while back.is_none() && t_kill.elapsed() < Duration::from_secs(10) {
                if !resumed && t_stop.elapsed() >= Duration::from_millis(300) {
                    unsafe { libc::kill(fp as i32, libc::SIGCONT) };
                    windows.push((frozen, t_stop, Instant::now()));
                    resumed = true;
                }
                let st = pids(&http, &base).await;
                if let Some(s) = st.iter().find(|s| s.0 == victim && s.2 == "up" && s.1.is_some_and(|p| p != vp)) {
                    back = Some(Instant::now());
                    seen.extend(s.1);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if !resumed {
                tokio::time::sleep(Duration::from_millis(300).saturating_sub(t_stop.elapsed())).await;
                unsafe { libc::kill(fp as i32, libc::SIGCONT) };
                windows.push((frozen, t_stop, Instant::now()));
            }
            let back = back.unwrap_or_else(Instant::now);
            windows.push((victim, t_kill, back));
            respawns.push(back - t_kill);
        }
        for w in workers {
            let _ = w.await;
        }
        seen.extend(pids(&http, &base).await.iter().filter_map(|s| s.1));
        let calls = std::mem::take(&mut *recs.lock().unwrap());
        (calls, windows, respawns, seen)
    });
    let overlaps = |c: &CallRec| windows.iter().any(|(s, a, b)| *s == c.server && c.start <= *b && c.end >= *a);
    let healthy_failed: Vec<&CallRec> = calls.iter().filter(|c| !c.ok && !overlaps(c)).collect();
    let mut dead_latency: Vec<Duration> =
        calls.iter().filter(|c| !c.ok && overlaps(c)).map(|c| c.end - c.start).collect();
    let dead_n = dead_latency.len();
    let clear = calls.iter().filter(|c| !c.ok).all(|c| c.error.contains("is down") || c.error.contains("closed"));
    let mut resp = respawns.clone();
    println!(
        "calls: {} (ok {}, failed {}), kills: {}, freezes: {}",
        calls.len(),
        calls.iter().filter(|c| c.ok).count(),
        calls.iter().filter(|c| !c.ok).count(),
        respawns.len(),
        respawns.len()
    );
    println!("failed calls to healthy servers: {}", healthy_failed.len());
    println!(
        "calls to a killed server: {dead_n} failed, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all with a clear error: {clear}",
        pct(&mut dead_latency, 0.5).as_secs_f64() * 1e3,
        pct(&mut dead_latency, 0.99).as_secs_f64() * 1e3,
        pct(&mut dead_latency, 1.0).as_secs_f64() * 1e3
    );
    println!(
        "respawn (kill → up with a new pid): p50 {:.0} ms, max {:.0} ms",
        pct(&mut resp, 0.5).as_secs_f64() * 1e3,
        pct(&mut resp, 1.0).as_secs_f64() * 1e3
    );
    let crashed = child.try_wait().ok().flatten().is_some();
    println!("hub crashed: {crashed}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = child.wait().ok().and_then(|s| s.code());
    std::thread::sleep(Duration::from_millis(500));
    let orphans: Vec<u32> = seen.iter().copied().filter(|p| procs::alive(*p)).collect();
    println!("exit after SIGTERM: {code:?}; server processes seen: {}; orphans: {}", seen.len(), orphans.len());
    for c in &healthy_failed {
        failures.push(format!("healthy call to {} failed: {}", c.server, c.error));
    }
    if crashed || code != Some(0) {
        failures.push("the gateway crashed or did not exit cleanly".into());
    }
    if !orphans.is_empty() {
        failures.push(format!("orphans: {orphans:?}"));
    }
}

fn agent_path(failures: &mut Vec<String>) {
    println!("\n## 2. agent path: hub triage, 100 items × 2 tool calls, a server killed every 300 ms");
    let dir = tempfile::tempdir().unwrap();
    let m = model::Model::start_fn(Duration::from_millis(40), |req| {
        let turns = req["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "assistant").count();
        match turns {
            0 => model::calls(&[
                ("a", "crm__get_customer", r#"{"id":"cus_000003"}"#),
                ("b", "payments__get_subscription", r#"{"customer_id":"cus_000003"}"#),
            ]),
            _ => model::answer("triaged"),
        }
    });
    let items: String = (0..100).map(|i| format!("{{\"id\":\"c{i}\",\"text\":\"item {i}\"}}\n")).collect();
    std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
    let mut child = Command::new(HUB)
        .args(["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "4", "--quiet"])
        .env("HUB_DATA_DIR", dir.path())
        .env("OPENAI_BASE_URL", &m.url)
        .env("HUB_GROUND", "never") // the scripted model scripts every call
        .env("OPENAI_API_KEY", "k")
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let mut seen = HashSet::new();
    let mut kills = 0;
    while child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(300));
        let kids = procs::children(child.id());
        seen.extend(kids.iter().copied());
        if let Some(k) = kids.get(kills % kids.len().max(1)) {
            unsafe { libc::kill(*k as i32, libc::SIGKILL) };
            kills += 1;
        }
    }
    let code = child.wait().ok().and_then(|s| s.code());
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap_or_default();
    let lines: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let ids: HashSet<&str> = lines.iter().filter_map(|l| l["id"].as_str()).collect();
    let tool_errors: usize = lines
        .iter()
        .map(|l| l["tool_calls"].as_array().map_or(0, |c| c.iter().filter(|c| c["ok"] == false).count()))
        .sum();
    std::thread::sleep(Duration::from_millis(300));
    let orphans: Vec<u32> = seen.iter().copied().filter(|p| procs::alive(*p)).collect();
    println!(
        "exit {code:?}; items written {} (distinct {}), kills {kills}, tool calls that failed (server down, told to the model) {tool_errors}, orphans {}",
        lines.len(),
        ids.len(),
        orphans.len()
    );
    if ids.len() != 100 || lines.len() != 100 {
        failures.push(format!("triage wrote {} lines for {} distinct ids", lines.len(), ids.len()));
    }
    if !matches!(code, Some(0) | Some(4)) {
        failures.push(format!("triage exit {code:?}"));
    }
    if !orphans.is_empty() {
        failures.push(format!("orphans after triage: {orphans:?}"));
    }
}

fn main() {
    let started = Instant::now();
    let mut failures = Vec::new();
    gateway_path(&mut failures);
    agent_path(&mut failures);
    println!("\nchaos: {:.1} s; {} invariant failures", started.elapsed().as_secs_f64(), failures.len());
    for f in &failures {
        println!("FAIL {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
