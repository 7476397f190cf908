//! hub's benchmarks (`cargo bench --bench hub [-- SCENARIO...]`, release profile). Each scenario runs the real
//! binary or the real library against real server processes and prints one block of figures for
//! BENCHMARKS.md: wall and CPU time (children included, via wait4), peak RSS, latency percentiles.
//!
//! Scenarios: `server_start`, `search`, `tools_cold`, `call_roundtrip`, `ask_model`, `ask_offline`, `gateway`, `triage`.

#[path = "../tests/it/model.rs"]
mod model;

use rmcp::ServiceExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

/// Wall time, CPU time (user+sys, the process and its reaped children) and peak RSS of one finished process.
struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
}

fn run_measured(cmd: &mut Command) -> Usage {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "command failed: {cmd:?}");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Usage { wall: start.elapsed(), cpu: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_kb: ru.ru_maxrss }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn summary(label: &str, mut xs: Vec<Duration>) {
    xs.sort();
    let mean = xs.iter().sum::<Duration>() / xs.len() as u32;
    println!(
        "{label}: n={} mean {} p50 {} p99 {} min {}",
        xs.len(),
        ms(mean),
        ms(percentile(&xs, 0.5)),
        ms(percentile(&xs, 0.99)),
        ms(xs[0])
    );
}

/// A server process spoken to with raw JSON-RPC lines (no client library in the measurement).
struct Raw {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    next: u64,
}

impl Raw {
    fn spawn(server: &str, data: &std::path::Path, customers: usize) -> Raw {
        let mut child = Command::new(HUB)
            .args(["server", server])
            .env("HUB_DATA_DIR", data)
            .env("HUB_DEMO_CUSTOMERS", customers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Raw { child, stdin, lines, next: 1 }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        writeln!(self.stdin, "{}", json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap();
        loop {
            let line = self.lines.next().expect("server closed").expect("read");
            let v: Value = serde_json::from_str(&line).expect("json");
            if v["id"] == id {
                return v;
            }
        }
    }

    fn handshake(&mut self) {
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}});
        self.request("initialize", init);
        writeln!(self.stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
    }

    fn finish(self) -> i64 {
        let Raw { mut child, stdin, .. } = self;
        drop(stdin);
        let mut status = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child with valid pointers.
        unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
        let _ = child.try_wait();
        ru.ru_maxrss
    }
}

fn server_start() {
    println!("## server_start: `hub server crm` spawn → initialize → first tools/list answer");
    let mut fresh = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let mut s = Raw::spawn("crm", dir.path(), 600);
        s.handshake();
        s.request("tools/list", json!({}));
        fresh.push(t.elapsed());
        s.finish();
    }
    summary("fresh data dir (creates and seeds the 600-customer dataset)", fresh);
    let dir = tempfile::tempdir().unwrap();
    Raw::spawn("crm", dir.path(), 600).finish();
    let mut existing = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let mut s = Raw::spawn("crm", dir.path(), 600);
        s.handshake();
        s.request("tools/list", json!({}));
        existing.push(t.elapsed());
        s.finish();
    }
    summary("existing data dir", existing);
}

fn search() {
    println!("## search: search_customers latency over stdio, one server process (client round trip included)");
    let queries = ["acme", "john.smith@acme.com", "Maya Patel", "globex", "cus_000042", "stark ind", "zzz-nothing"];
    for customers in [500, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let mut s = Raw::spawn("crm", dir.path(), customers);
        s.handshake();
        let seeded = t.elapsed();
        let mut xs = Vec::new();
        for i in 0..700 {
            let q = queries[i % queries.len()];
            let t = Instant::now();
            let r =
                s.request("tools/call", json!({"name": "search_customers", "arguments": {"query": q, "limit": 10}}));
            xs.push(t.elapsed());
            assert!(r["result"]["isError"] != json!(true), "{r}");
        }
        let rss = s.finish();
        println!("{customers} customers: first start (seeding) {}", ms(seeded));
        summary(&format!("{customers} customers: search_customers"), xs);
        println!("{customers} customers: server peak RSS {} MiB", rss / 1024);
    }
}

fn tools_cold() {
    println!("## tools_cold: `hub tools --json` with the five servers, whole process, data dir already seeded");
    let dir = tempfile::tempdir().unwrap();
    let cmd = || {
        let mut c = Command::new(HUB);
        c.args(["tools", "--json"]).env("HUB_DATA_DIR", dir.path()).current_dir(dir.path());
        c
    };
    run_measured(&mut cmd());
    let runs: Vec<Usage> = (0..30).map(|_| run_measured(&mut cmd())).collect();
    summary("wall", runs.iter().map(|u| u.wall).collect());
    summary("cpu (hub + 5 servers)", runs.iter().map(|u| u.cpu).collect());
    println!(
        "peak RSS (largest of hub and its children): {} MiB",
        runs.iter().map(|u| u.max_rss_kb).max().unwrap() / 1024
    );
}

fn call_roundtrip() {
    println!("## call_roundtrip: Registry::call → crm.get_customer → result, in-process hub, 2000 sequential calls");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[servers.crm]\ncommand = \"{HUB}\"\nargs = [\"server\", \"crm\"]\nenv = {{ HUB_DATA_DIR = \"{}\" }}\n",
        dir.path().display()
    );
    let config = hub::config::parse(&text, "bench", &|_| None).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let reg = hub::registry::Registry::start(&config).await;
        let args = json!({"id": "cus_000001"}).as_object().cloned();
        let mut xs = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            reg.call("crm__get_customer", args.clone()).await.unwrap();
            xs.push(t.elapsed());
        }
        summary("round trip", xs);
        reg.shutdown().await;
    });
}

const SEED: &str = "Customer john.smith@acme.com says their subscription renewal failed last week. What is their \
    account status, do they have any open support tickets, and what does their payment history look like?";

fn ask_model() {
    println!(
        "## ask_model: `hub ask` end to end, zero-latency scripted endpoint, 3 turns, 5 tool calls, whole process"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for i in 0..31 {
        let m = model::Model::start(vec![
            model::calls(&[("c0", "crm__search_customers", r#"{"query":"john.smith@acme.com"}"#)]),
            model::calls(&[
                ("c1", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#),
                ("c2", "tickets__list_tickets", r#"{"customer_id":"cus_000001","status":"open"}"#),
                ("c3", "payments__get_payment_history", r#"{"customer_id":"cus_000001"}"#),
                ("c4", "calendar__list_meetings", r#"{"customer_id":"cus_000001"}"#),
            ]),
            model::answer("John Smith: past_due, one open ticket."),
        ]);
        let mut c = Command::new(HUB);
        c.args(["ask", SEED])
            .env("HUB_DATA_DIR", dir.path())
            .env("OPENAI_BASE_URL", &m.url)
            .env("OPENAI_API_KEY", "k")
            .current_dir(dir.path());
        let u = run_measured(&mut c);
        assert_eq!(m.requests().len(), 3);
        if i > 0 {
            runs.push(u);
        }
    }
    summary("wall", runs.iter().map(|u| u.wall).collect());
    summary("cpu (hub + 5 servers)", runs.iter().map(|u| u.cpu).collect());
}

fn ask_offline() {
    println!("## ask_offline: `hub ask` on the seed question with the offline planner, whole process");
    let dir = tempfile::tempdir().unwrap();
    let cmd = || {
        let mut c = Command::new(HUB);
        c.args(["ask", SEED])
            .env("HUB_DATA_DIR", dir.path())
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .current_dir(dir.path());
        c
    };
    run_measured(&mut cmd());
    let runs: Vec<Usage> = (0..30).map(|_| run_measured(&mut cmd())).collect();
    summary("wall", runs.iter().map(|u| u.wall).collect());
    summary("cpu (hub + 5 servers)", runs.iter().map(|u| u.cpu).collect());
}

/// `hub serve --http 127.0.0.1:0` with crm and testkit; returns the child and its base URL.
fn start_gateway(dir: &std::path::Path) -> (std::process::Child, String) {
    std::fs::write(
        dir.join("servers.toml"),
        format!("[servers.crm]\ncommand = \"{HUB}\"\nargs = [\"server\", \"crm\"]\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"),
    )
    .unwrap();
    let mut child = Command::new(HUB)
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("HUB_DATA_DIR", dir)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(rest) = line.strip_prefix("hub serve: http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `clients` concurrent loops of `call` for `secs`; returns (calls per second, sorted latencies).
async fn load<F, Fut>(clients: usize, secs: f64, make: impl Fn() -> F) -> (f64, Vec<Duration>)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let mut call = make();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    call().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

fn gateway() {
    println!(
        "## gateway: `hub serve --http`, load from this process (same 2-core machine), testkit echo and crm get_customer"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_gateway(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for (tool, args) in [("kit__echo", json!({"text": "hi"})), ("crm__get_customer", json!({"id": "cus_000001"}))] {
            for clients in [1, 16] {
                let (rate, lat) = load(clients, 5.0, || {
                    let http = reqwest::Client::new();
                    let url = format!("{base}/call");
                    let body = json!({"tool": tool, "arguments": args.clone()});
                    move || {
                        let (http, url, body) = (http.clone(), url.clone(), body.clone());
                        async move {
                            let r = http.post(url).json(&body).send().await.unwrap();
                            assert!(r.status().is_success());
                            let _ = r.bytes().await;
                        }
                    }
                })
                .await;
                println!(
                    "REST /call {tool}, {clients} client(s): {rate:.0} calls/s, p50 {} p99 {}",
                    ms(percentile(&lat, 0.5)),
                    ms(percentile(&lat, 0.99))
                );
            }
            for clients in [1, 16] {
                let url = format!("{base}/mcp");
                let mut sessions = Vec::new();
                for _ in 0..clients {
                    sessions.push(Arc::new(
                        ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap(),
                    ));
                }
                let next = std::sync::atomic::AtomicUsize::new(0);
                let (rate, lat) = load(clients, 5.0, || {
                    let s = sessions[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)].clone();
                    let params =
                        rmcp::model::CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone());
                    move || {
                        let (s, params) = (s.clone(), params.clone());
                        async move {
                            let r = s.peer().call_tool(params).await.unwrap();
                            assert_ne!(r.is_error, Some(true));
                        }
                    }
                })
                .await;
                println!(
                    "MCP  /mcp  {tool}, {clients} client(s): {rate:.0} calls/s, p50 {} p99 {}",
                    ms(percentile(&lat, 0.5)),
                    ms(percentile(&lat, 0.99))
                );
            }
        }
    });
    // wrk (Debian package `wrk`), when installed: a load generator that is not this process.
    let lua = dir.path().join("post.lua");
    std::fs::write(&lua, "wrk.method = \"POST\"\nwrk.body = '{\"tool\":\"kit__echo\",\"arguments\":{\"text\":\"hi\"}}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n").unwrap();
    for threads in ["1", "2"] {
        match Command::new("wrk")
            .args(["-t", threads, "-c16", "-d5s", "--latency", "-s"])
            .arg(&lua)
            .arg(format!("{base}/call"))
            .output()
        {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let pick = |k: &str| {
                    text.lines()
                        .find(|l| l.trim_start().starts_with(k))
                        .map(|l| l.trim().to_string())
                        .unwrap_or_default()
                };
                println!(
                    "wrk -t{threads} -c16 -d5s POST /call kit__echo: {} | latency {} | {}",
                    pick("Requests/sec"),
                    pick("50%"),
                    pick("99%")
                );
            }
            Err(_) => println!("wrk not installed (apt-get install wrk): skipped the external load generator"),
        }
    }
    println!("gateway process peak RSS after the load: {} MiB", peak_rss_kb(child.id()) / 1024);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn triage() {
    println!("## triage: 200 items, scripted model 100 ms per turn, 3 turns each (2 tool calls), --concurrency 16");
    let dir = tempfile::tempdir().unwrap();
    let m = model::Model::start_fn(Duration::from_millis(100), |req| {
        let turns = req["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "assistant").count();
        match turns {
            0 => model::calls(&[("a", "crm__get_customer", r#"{"id":"cus_000001"}"#)]),
            1 => model::calls(&[("b", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#)]),
            _ => model::answer("billing, high: renewal failed; ask for a new card"),
        }
    });
    let items: String = (0..200).map(|i| format!("{{\"id\":\"t{i}\",\"text\":\"ticket {i}\"}}\n")).collect();
    std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
    let mut c = Command::new(HUB);
    c.args(["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "16", "--quiet"])
        .env("HUB_DATA_DIR", dir.path())
        .env("OPENAI_BASE_URL", &m.url)
        .env("OPENAI_API_KEY", "k")
        .current_dir(dir.path());
    let u = run_measured(&mut c);
    let lines = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 200);
    let ideal = 200.0 * 3.0 * 0.1 / 16.0;
    println!(
        "wall {} (ideal {ideal:.2} s → {:.2}× the ideal), CPU {}, peak RSS (largest of hub and children) {} MiB, max model requests in flight {}",
        ms(u.wall),
        u.wall.as_secs_f64() / ideal,
        ms(u.cpu),
        u.max_rss_kb / 1024,
        m.max_in_flight()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all: [(&str, fn()); 8] = [
        ("server_start", server_start),
        ("search", search),
        ("tools_cold", tools_cold),
        ("call_roundtrip", call_roundtrip),
        ("ask_model", ask_model),
        ("ask_offline", ask_offline),
        ("gateway", gateway),
        ("triage", triage),
    ];
    for (name, f) in all {
        if args.is_empty() || args.iter().any(|a| a == name) {
            f();
            println!();
        }
    }
}
