//! The soak gate (`cargo bench --bench soak`, release; `SOAK_SECS`, default 600; CI runs 60). `hub serve` with the
//! five business servers and testkit, under full load over REST `/call` (8 clients) and MCP `/mcp` (4 rmcp
//! sessions), each client keeping to one server (crm and payments get the most), plus one client of a slow tool
//! (`kit__sleep` 300 ms), while payments is `kill -9`ed every 15 s and calendar is frozen (SIGSTOP) for 5 s every
//! 30 s.
//!
//! Reports calls/s, errors per server, the time from each kill to payments' first good answer, and the gateway's
//! RSS and open file descriptors sampled every 2 s. Fails (exit 1) on a hard invariant: an error on a server that
//! was never killed (frozen ones only wait), the gateway crashing, RSS or fds not flat (the end within 10% of the
//! first window's peak, after a warm-up), or a child count at the end other than the configured servers.

#[path = "common/procs.rs"]
mod procs;
#[path = "common/serve.rs"]
mod serve;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HUB: &str = env!("CARGO_BIN_EXE_hub");
const LOAD: [(&str, &str, &str); 5] = [
    ("crm", "crm__get_customer", r#"{"id":"cus_000001"}"#),
    ("payments", "payments__get_subscription", r#"{"customer_id":"cus_000002"}"#),
    ("tickets", "tickets__list_tickets", r#"{"limit":3}"#),
    ("calendar", "calendar__list_meetings", r#"{"limit":3}"#),
    ("analytics", "analytics__get_trend", r#"{"metric":"mrr","days":7}"#),
];

/// One finished call: server, path, start, end, ok.
type Rec = (&'static str, &'static str, Instant, Instant, bool);

#[derive(Default)]
struct Log {
    calls: Mutex<Vec<Rec>>,
    errors: Mutex<BTreeMap<String, String>>,
}

impl Log {
    fn push(&self, server: &'static str, via: &'static str, start: Instant, ok: bool, error: impl FnOnce() -> String) {
        self.calls.lock().unwrap().push((server, via, start, Instant::now(), ok));
        if !ok {
            self.errors.lock().unwrap().entry(server.to_string()).or_insert_with(error);
        }
    }
}

fn args(text: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str(text).unwrap()
}

async fn rest_worker(base: String, log: Arc<Log>, stop: Arc<AtomicBool>, offset: usize) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    // Each client keeps to one server, so a frozen server stalls only its own clients.
    let (server, tool, a) = LOAD[offset % LOAD.len()];
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let body = json!({"tool": tool, "arguments": args(a)});
        let v: Value = match http.post(format!("{base}/call")).json(&body).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        };
        log.push(server, "rest", start, v["success"] == true, || v["error"].to_string());
    }
}

async fn mcp_worker(base: String, log: Arc<Log>, stop: Arc<AtomicBool>, offset: usize) {
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = ().serve(transport).await.expect("MCP session");
    let (server, tool, a) = LOAD[offset % LOAD.len()];
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let r = client.peer().call_tool(CallToolRequestParams::new(tool).with_arguments(args(a))).await;
        let ok = matches!(&r, Ok(r) if r.is_error != Some(true));
        log.push(server, "mcp", start, ok, || format!("{r:?}"));
    }
    let _ = client.cancel().await;
}

async fn slow_worker(base: String, log: Arc<Log>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::new();
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let body = json!({"tool": "kit__sleep", "arguments": {"ms": 300}});
        let v: Value = match http.post(format!("{base}/call")).json(&body).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        };
        log.push("kit", "rest", start, v["success"] == true, || v["error"].to_string());
    }
}

async fn pid_of(http: &reqwest::Client, base: &str, name: &str) -> Option<u32> {
    let v: Value = http.get(format!("{base}/status")).send().await.ok()?.json().await.ok()?;
    let row = v["servers"].as_array()?.iter().find(|s| s["name"] == name)?.clone();
    (row["state"] == "up").then(|| row["pid"].as_u64().map(|p| p as u32)).flatten()
}

fn main() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let duration = Duration::from_secs(secs);
    let dir = tempfile::tempdir().unwrap();
    // SOAK_RESTART (an inline restart table for every server) replays other policies, e.g. the old defaults:
    // `{ give_up = true, stable_s = 60, max_backoff_ms = 10000 }`.
    let restart = std::env::var("SOAK_RESTART").map(|r| format!("restart = {r}\n")).unwrap_or_default();
    let entry = |name: &str, server: &str| {
        format!("[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"{server}\"]\n{restart}")
    };
    let mut config: String = LOAD.iter().map(|(s, _, _)| entry(s, s)).collect();
    config.push_str(&entry("kit", "testkit"));
    std::fs::write(dir.path().join("servers.toml"), config).unwrap();
    let (mut child, base) = serve::start(HUB, dir.path());
    let gw = child.id();
    println!(
        "## soak: {secs} s; REST ×8, MCP ×4, slow tool ×1; payments kill -9 every 15 s, calendar SIGSTOP 5 s every 30 s"
    );
    let log = Arc::new(Log::default());
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let (kills, samples) = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..8 {
            tasks.push(tokio::spawn(rest_worker(base.clone(), log.clone(), stop.clone(), w)));
        }
        for w in 0..4 {
            tasks.push(tokio::spawn(mcp_worker(base.clone(), log.clone(), stop.clone(), w)));
        }
        tasks.push(tokio::spawn(slow_worker(base.clone(), log.clone(), stop.clone())));
        let http = reqwest::Client::new();
        let (mut kills, mut samples) = (Vec::new(), Vec::new());
        let mut tick = 0u64;
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tick += 1;
            if tick.is_multiple_of(2) {
                samples.push((started.elapsed(), procs::status_kb(gw, "VmRSS:"), procs::fds(gw)));
            }
            // No kill in the last 10 s: every kill must be followed by a recovery the run can see.
            if tick.is_multiple_of(15)
                && started.elapsed() + Duration::from_secs(10) < duration
                && let Some(p) = pid_of(&http, &base, "payments").await
            {
                unsafe { libc::kill(p as i32, libc::SIGKILL) };
                kills.push(Instant::now());
            }
            if tick % 30 == 10
                && let Some(p) = pid_of(&http, &base, "calendar").await
            {
                unsafe { libc::kill(p as i32, libc::SIGSTOP) };
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    unsafe { libc::kill(p as i32, libc::SIGCONT) };
                });
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        (kills, samples)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let calls = std::mem::take(&mut *log.calls.lock().unwrap());
    let mut failures = Vec::new();
    let count = |f: &dyn Fn(&Rec) -> bool| calls.iter().filter(|c| f(c)).count();
    println!(
        "calls: {} in {elapsed:.0} s = {:.0}/s (REST {}, MCP {}); failed {}",
        calls.len(),
        calls.len() as f64 / elapsed,
        count(&|c| c.1 == "rest"),
        count(&|c| c.1 == "mcp"),
        count(&|c| !c.4)
    );
    for server in ["crm", "payments", "tickets", "calendar", "analytics", "kit"] {
        let (n, bad) = (count(&|c| c.0 == server), count(&|c| c.0 == server && !c.4));
        let example = log.errors.lock().unwrap().get(server).cloned().unwrap_or_default();
        println!("  {server:<10} {n:>8} calls, {bad:>6} errors {}", if bad > 0 { &example } else { "" });
        if server != "payments" && bad > 0 {
            failures.push(format!("{bad} errors on {server}, which was never killed: {example}"));
        }
    }
    let mut recovery: Vec<f64> = kills
        .iter()
        .filter_map(|k| {
            let first = calls.iter().filter(|c| c.0 == "payments" && c.4 && c.2 >= *k).map(|c| c.3).min()?;
            Some((first - *k).as_secs_f64() * 1e3)
        })
        .collect();
    recovery.sort_by(f64::total_cmp);
    println!(
        "payments kills: {}; kill → first good answer: p50 {:.0} ms, max {:.0} ms",
        kills.len(),
        recovery.get(recovery.len() / 2).copied().unwrap_or(f64::NAN),
        recovery.last().copied().unwrap_or(f64::NAN)
    );
    if recovery.len() != kills.len() {
        failures.push(format!("payments came back after {} of {} kills", recovery.len(), kills.len()));
    }
    let window = Duration::from_secs(secs.min(240) / 4).max(Duration::from_secs(10));
    let warm = Duration::from_secs(4);
    let first: Vec<&(Duration, u64, u64)> = samples.iter().filter(|s| s.0 >= warm && s.0 <= window).collect();
    let (rss0, fd0) = (first.iter().map(|s| s.1).max().unwrap_or(0), first.iter().map(|s| s.2).max().unwrap_or(0));
    let (rss1, fd1) = samples.last().map_or((0, 0), |s| (s.1, s.2));
    let series: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 10).max(1))
        .map(|s| format!("{}s {} MB/{} fds", s.0.as_secs(), s.1 / 1024, s.2))
        .collect();
    println!("gateway RSS/fds over time: {}", series.join(", "));
    println!("first window peak: {rss0} kB, {fd0} fds; end: {rss1} kB, {fd1} fds");
    if rss1 as f64 > rss0 as f64 * 1.10 || fd1 as f64 > (fd0 as f64 * 1.10).max(fd0 as f64 + 2.0) {
        failures.push(format!("not flat: RSS {rss0} → {rss1} kB, fds {fd0} → {fd1}"));
    }
    let kids = procs::children(gw);
    println!("child processes at the end: {} (configured 6)", kids.len());
    if kids.len() != 6 {
        failures.push(format!("{} child processes at the end, not 6", kids.len()));
    }
    if child.try_wait().ok().flatten().is_some() {
        failures.push("the gateway crashed".into());
    }
    unsafe { libc::kill(gw as i32, libc::SIGTERM) };
    let code = child.wait().ok().and_then(|s| s.code());
    println!("gateway exit after SIGTERM: {code:?}\nsoak: {} invariant failures", failures.len());
    for f in &failures {
        println!("FAIL {f}");
    }
    if !failures.is_empty() || code != Some(0) {
        std::process::exit(1);
    }
}
