//! hub's benchmarks (`cargo bench --bench hub [-- SCENARIO...]`, release profile). Each scenario runs the real
//! binary or the real library against real server processes and prints one block of figures for
//! BENCHMARKS.md: wall and CPU time (children included, via wait4), peak RSS, latency percentiles.
//!
//! Scenarios: `server_start`, `search`, `tools_cold`, `call_roundtrip`, `ask_model`, `ask_offline`, `gateway`, `triage`,
//! `triage_scale`,
//! `hostile`, `offers`, `policy`, `oauth`, `transforms`, `replicas`, `attach`, `fleet`, `compare`, `tool_search`,
//! `code_mode`, `telemetry`.

#[path = "hub/attach.rs"]
mod attach;
#[path = "hub/code_mode.rs"]
mod code_mode;
#[path = "hub/compare.rs"]
mod compare;
#[path = "hub/fleet.rs"]
mod fleet;
#[path = "hub/hostile.rs"]
mod hostile;
#[path = "hub/load.rs"]
mod load;
#[path = "../tests/it/model.rs"]
mod model;
#[path = "hub/oauth.rs"]
mod oauth;
#[path = "hub/offers.rs"]
mod offers;
#[path = "../tests/it/otlp.rs"]
mod otlp;
#[path = "hub/policy.rs"]
mod policy;
#[path = "common/procs.rs"]
mod procs;
#[path = "hub/replicas.rs"]
mod replicas;
#[path = "../tests/it/search_recall.rs"]
mod search_recall;
#[path = "common/serve.rs"]
mod serve;
#[path = "hub/telemetry.rs"]
mod telemetry;
#[path = "hub/tool_search.rs"]
mod tool_search;
#[path = "hub/transforms.rs"]
mod transforms;
#[path = "hub/triage.rs"]
mod triage;

use load::gateway;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HUB: &str = env!("CARGO_BIN_EXE_hub");
const HUB_SERVER: &str = env!("CARGO_BIN_EXE_hub-server");

/// Which binary runs a server: hub's own `hub server NAME`, or `hub-server NAME` (the servers alone).
#[derive(Clone, Copy, PartialEq)]
enum Bin {
    Hub,
    Server,
}

impl Bin {
    fn command(self, server: &str) -> Command {
        match self {
            Bin::Hub => {
                let mut cmd = Command::new(HUB);
                cmd.args(["server", server]);
                cmd
            }
            Bin::Server => {
                let mut cmd = Command::new(HUB_SERVER);
                cmd.arg(server);
                cmd
            }
        }
    }

    fn label(self) -> &'static str {
        if self == Bin::Hub { "hub server" } else { "hub-server" }
    }
}

/// Wall time, CPU time (user+sys, the process and its reaped children) and peak RSS of one finished process.
struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
}

/// Reaps child `pid` (`flags`: 0 waits, `libc::WNOHANG` does not): its CPU time (user+sys, with its reaped
/// children) and `ru_maxrss` once it has exited — successfully, or the bench fails — `None` while it runs.
fn reap(pid: u32, flags: i32, cmd: &Command) -> Option<(Duration, i64)> {
    let mut status = 0;
    // SAFETY: a plain C struct, all zeroes valid; then wait4 on our own child with valid pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::wait4(pid as i32, &mut status, flags, &mut ru) };
    if done != pid as i32 {
        assert!(done == 0, "wait4 failed for {cmd:?}");
        return None;
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "command failed: {cmd:?}");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Some((tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss))
}

/// `hub ARGS` in `dir` (its data there too) against the scripted endpoint at `url`, which scripts every call, so
/// nothing is grounded first.
fn scripted(dir: &std::path::Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(HUB);
    c.args(args)
        .env("HUB_DATA_DIR", dir)
        .env("OPENAI_BASE_URL", url)
        .env("HUB_GROUND", "never")
        .env("OPENAI_API_KEY", "k")
        .current_dir(dir);
    c
}

fn run_measured(cmd: &mut Command) -> Usage {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped below
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let (cpu, max_rss_kb) = reap(child.id(), 0, cmd).expect("waited for");
    Usage { wall: start.elapsed(), cpu, max_rss_kb }
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
        Raw::spawn_from(Bin::Hub, server, data, customers)
    }

    fn spawn_from(bin: Bin, server: &str, data: &std::path::Path, customers: usize) -> Raw {
        let mut child = bin
            .command(server)
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

    fn pid(&self) -> u32 {
        self.child.id()
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

/// One server start, spawn → initialize → first tools/list answer.
fn timed_start(bin: Bin, data: &std::path::Path) -> Duration {
    let t = Instant::now();
    let mut s = Raw::spawn_from(bin, "crm", data, 600);
    s.handshake();
    s.request("tools/list", json!({}));
    let took = t.elapsed();
    s.finish();
    took
}

fn server_start() {
    println!("## server_start: `hub server crm` and `hub-server crm` spawn → initialize → first tools/list answer");
    for bin in [Bin::Hub, Bin::Server] {
        let fresh = (0..5).map(|_| timed_start(bin, tempfile::tempdir().unwrap().path())).collect();
        summary(&format!("{}: fresh data dir (creates and seeds the 600-customer dataset)", bin.label()), fresh);
    }
    let dir = tempfile::tempdir().unwrap();
    Raw::spawn("crm", dir.path(), 600).finish();
    // The two binaries interleaved, so a change in the machine's speed falls on both.
    let mut existing = [Vec::new(), Vec::new()];
    for _ in 0..30 {
        for (i, bin) in [Bin::Hub, Bin::Server].into_iter().enumerate() {
            existing[i].push(timed_start(bin, dir.path()));
        }
    }
    let [hub, server] = existing;
    summary("hub server: existing data dir", hub);
    summary("hub-server: existing data dir", server);
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

/// `hub tools --json` with the five servers on a seeded data dir, 30 runs of each way, interleaved: `[0]` hub
/// alone in a directory (a link to the same file), so it runs `hub server NAME`; `[1]` hub as built, with
/// `hub-server` beside it.
fn tools_cold_runs() -> [Vec<Usage>; 2] {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("bin");
    std::fs::create_dir(&alone).unwrap();
    let alone = alone.join("hub");
    if std::fs::hard_link(HUB, &alone).is_err() {
        std::fs::copy(HUB, &alone).unwrap();
    }
    let cmd = |hub: &std::path::Path| {
        let mut c = Command::new(hub);
        c.args(["tools", "--json"]).env("HUB_DATA_DIR", dir.path()).current_dir(dir.path());
        c
    };
    run_measured(&mut cmd(std::path::Path::new(HUB)));
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..30 {
        runs[0].push(run_measured(&mut cmd(&alone)));
        runs[1].push(run_measured(&mut cmd(std::path::Path::new(HUB))));
    }
    runs
}

fn tools_cold() {
    println!("## tools_cold: `hub tools --json` with the five servers, whole process, data dir already seeded");
    for (runs, bin) in tools_cold_runs().into_iter().zip([Bin::Hub, Bin::Server]) {
        let servers = bin.label();
        summary(&format!("wall, servers from `{servers}`"), runs.iter().map(|u| u.wall).collect());
        summary(&format!("cpu (hub + 5 servers), `{servers}`"), runs.iter().map(|u| u.cpu).collect());
        println!(
            "peak RSS (largest of hub and its children), `{servers}`: {} MiB",
            runs.iter().map(|u| u.max_rss_kb).max().unwrap() / 1024
        );
    }
}

/// 2000 sequential `Registry::call`s of crm get_customer, in-process, with the server's data in `data`.
fn call_roundtrip_latencies(data: &std::path::Path, bin: Bin) -> Vec<Duration> {
    let command = bin.command("crm");
    let args: Vec<String> = command.get_args().map(|a| format!("{:?}", a.to_string_lossy())).collect();
    let text = format!(
        "[servers.crm]\ncommand = {:?}\nargs = [{}]\nenv = {{ HUB_DATA_DIR = \"{}\" }}\n",
        command.get_program().to_string_lossy(),
        args.join(", "),
        data.display()
    );
    // Pins off: an in-process registry would keep them in the user's data dir.
    let config = hub::config::Config {
        pin: hub::config::PinMode::Off,
        ..hub::config::parse(&text, "bench", &|_| None).unwrap()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let reg = hub::registry::Registry::start(&config).await;
        let args = json!({"id": "cus_000001"}).as_object().cloned();
        let mut xs = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            reg.call("crm__get_customer", args.clone()).await.unwrap();
            xs.push(t.elapsed());
        }
        reg.shutdown().await;
        xs.sort();
        xs
    })
}

fn call_roundtrip() {
    println!("## call_roundtrip: Registry::call → crm.get_customer → result, in-process hub, 2000 sequential calls");
    let dir = tempfile::tempdir().unwrap();
    summary("round trip, `hub server crm`", call_roundtrip_latencies(dir.path(), Bin::Hub));
    summary("round trip, `hub-server crm`", call_roundtrip_latencies(dir.path(), Bin::Server));
}

const SEED: &str = "Customer john.smith@acme.com says their subscription renewal failed last week. What is their \
    account status, do they have any open support tickets, and what does their payment history look like?";

/// The scripted model of the seed question: a search, four calls at once, the answer (3 turns, 5 tool calls).
fn seed_model() -> model::Model {
    model::Model::start(vec![
        model::calls(&[("c0", "crm__search_customers", r#"{"query":"john.smith@acme.com"}"#)]),
        model::calls(&[
            ("c1", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#),
            ("c2", "tickets__list_tickets", r#"{"customer_id":"cus_000001","status":"open"}"#),
            ("c3", "payments__get_payment_history", r#"{"customer_id":"cus_000001"}"#),
            ("c4", "calendar__list_meetings", r#"{"customer_id":"cus_000001"}"#),
        ]),
        model::answer("John Smith: past_due, one open ticket."),
    ])
}

fn ask_model() {
    println!(
        "## ask_model: `hub ask` end to end, zero-latency scripted endpoint, 3 turns, 5 tool calls, whole process"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for i in 0..31 {
        let m = seed_model();
        let u = run_measured(&mut scripted(dir.path(), &m.url, &["ask", SEED]));
        assert_eq!(m.requests().len(), 3);
        if i > 0 {
            runs.push(u);
        }
    }
    summary("wall", runs.iter().map(|u| u.wall).collect());
    summary("cpu (hub + 5 servers)", runs.iter().map(|u| u.cpu).collect());
}

fn ask_offline() {
    println!("## ask_offline: `hub ask` with the offline planner, whole process (seed, a reference, a metric count)");
    let dir = tempfile::tempdir().unwrap();
    let questions = [
        SEED,
        "What is the subscription status of the customer behind invoice INV-000012?",
        "How many tickets were opened in the last 90 days?",
    ];
    for q in questions {
        println!("### {q}");
        let cmd = || {
            let mut c = Command::new(HUB);
            c.args(["ask", q])
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
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all: [(&str, fn()); 21] = [
        ("server_start", server_start),
        ("search", search),
        ("tools_cold", tools_cold),
        ("call_roundtrip", call_roundtrip),
        ("ask_model", ask_model),
        ("ask_offline", ask_offline),
        ("gateway", gateway),
        ("triage", triage::triage),
        ("triage_scale", triage::triage_scale),
        ("hostile", hostile::hostile),
        ("offers", offers::offers),
        ("policy", policy::policy),
        ("oauth", oauth::oauth),
        ("transforms", transforms::transforms),
        ("replicas", replicas::replicas),
        ("attach", attach::attach),
        ("fleet", fleet::fleet),
        ("compare", compare::compare),
        ("tool_search", tool_search::tool_search),
        ("code_mode", code_mode::code_mode),
        ("telemetry", telemetry::telemetry),
    ];
    for (name, f) in all {
        if args.is_empty() || args.iter().any(|a| a == name) {
            f();
            println!();
        }
    }
}
