//! `cargo bench --bench hub -- compare` (issue 20): one table of the performance targets — the starting
//! figures, the target, and what this build measures — with the long way beside the short one from the same run
//! wherever hub still has both: `/mcp` calls that cannot take `gateway::fast` (their client declared elicitation,
//! so rmcp relays what a server asks) against calls that can. Throughput is measured with wrk (an external load
//! generator) and with 16 in-process rmcp clients; hub's CPU per call (the gateway and its servers, from /proc)
//! beside each.

use super::load::{REST_LUA, Wrk, mcp_clients_as, wrk};
use super::{Bin, HUB, Raw, ms, percentile, procs::tree_cpu, run_measured};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const ACCEPT: &str = "application/json, text/event-stream";

/// A row: what, the starting figure, the target, the long way (same run) and now.
struct Row(String, &'static str, &'static str, String, String);

/// The `_meta` of a stateless request (2026-07-28) from a client with `caps`.
fn stateless_meta(caps: Value) -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "wrk", "version": "1"}})
}

/// wrk's script for `/mcp` tools/call kit__echo: in the sessions `ids` (taken in turn), or stateless with `caps`.
fn mcp_lua(ids: &[String], caps: Value) -> String {
    let mut params = json!({"name": "kit__echo", "arguments": {"text": "hi"}});
    let mut headers = String::new();
    if ids.is_empty() {
        params["_meta"] = stateless_meta(caps);
        headers = "wrk.headers[\"MCP-Protocol-Version\"] = \"2026-07-28\"\nwrk.headers[\"Mcp-Method\"] = \"tools/call\"\nwrk.headers[\"Mcp-Name\"] = \"kit__echo\"\n".into();
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let list: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Accept\"] = \"{ACCEPT}\"\n{headers}ids = {{{}}}\nn = 0\n\
         request = function()\n  n = n + 1\n  if #ids > 0 then wrk.headers[\"Mcp-Session-Id\"] = ids[(n % #ids) + 1] end\n  return wrk.format()\nend\n",
        list.join(",")
    )
}

/// `n` sessions opened over raw HTTP by a client with `caps`.
async fn sessions(base: &str, n: usize, caps: Value) -> Vec<String> {
    let c = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..n {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
            "capabilities": caps, "clientInfo": {"name": "wrk", "version": "1"}}});
        let r = c.post(format!("{base}/mcp")).header("accept", ACCEPT).json(&init).send().await.unwrap();
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let _ = r.bytes().await;
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = c.post(format!("{base}/mcp")).header("accept", ACCEPT).header("mcp-session-id", &id).json(&done);
        assert_eq!(r.send().await.unwrap().status(), 202);
        ids.push(id);
    }
    ids
}

/// One wrk run with the gateway's CPU per request: "rate/s (p50, p99; N µs CPU)".
fn measured(dir: &std::path::Path, gateway: u32, lua: &str, url: &str) -> String {
    let path = dir.join("compare.lua");
    std::fs::write(&path, lua).unwrap();
    let before = tree_cpu(gateway);
    let Some(w @ Wrk { requests, .. }) = wrk(&path, url, 2) else { return "wrk not installed".into() };
    let cpu = (tree_cpu(gateway) - before) / requests.max(1.0) * 1e6;
    let failed = if w.failed { " FAILED REQUESTS" } else { "" };
    format!("{:.0}/s (p50 {}, p99 {}; {cpu:.0} µs CPU){failed}", w.rate, w.p50, w.p99)
}

/// 16 in-process rmcp clients (`caps` their capabilities) calling kit__echo for 5 s.
async fn rmcp_load(url: &str, stateless: bool, caps: rmcp::model::ClientCapabilities) -> String {
    let mut info = rmcp::model::ClientConfig::default();
    info.capabilities = caps;
    let clients = mcp_clients_as(url, 16, stateless, info).await;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (rate, lat) = super::load::load(16, 5.0, || {
        let s = clients[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)].clone();
        let params = rmcp::model::CallToolRequestParams::new("kit__echo")
            .with_arguments(json!({"text": "hi"}).as_object().unwrap().clone());
        move || {
            let (s, params) = (s.clone(), params.clone());
            async move { assert_ne!(s.peer().call_tool(params).await.unwrap().is_error, Some(true)) }
        }
    })
    .await;
    format!("{rate:.0}/s (p50 {}, p99 {})", ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99)))
}

fn gateway_rows(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = super::load::start_gateway(dir.path());
    let (pid, url) = (child.id(), format!("{}/mcp", base));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (plain, asking) = rt.block_on(async {
        (sessions(&base, 16, json!({})).await, sessions(&base, 16, json!({"elicitation": {}})).await)
    });
    let rest = measured(dir.path(), pid, REST_LUA, &format!("{base}/call"));
    rows.push(Row("REST /call, wrk -c16".into(), "12.2k/s", "≥ 20k/s", "—".into(), rest));
    let long = measured(dir.path(), pid, &mcp_lua(&asking, json!({})), &url);
    let short = measured(dir.path(), pid, &mcp_lua(&plain, json!({})), &url);
    rows.push(Row("/mcp tools/call, 16 sessions, wrk -c16".into(), "—", "≥ 10k/s, p99 ≤ 3 ms", long, short));
    let long = measured(dir.path(), pid, &mcp_lua(&[], json!({"elicitation": {}})), &url);
    let short = measured(dir.path(), pid, &mcp_lua(&[], json!({})), &url);
    rows.push(Row("/mcp tools/call, stateless (2026-07-28), wrk -c16".into(), "—", "≥ 10k/s, p99 ≤ 3 ms", long, short));
    // Elicitation declared: what a server asks mid-call is relayed, so these calls go through rmcp.
    let asked = rmcp::model::ClientCapabilities::builder().enable_elicitation().build();
    for (label, stateless) in [("16 rmcp sessions", false), ("16 rmcp stateless clients", true)] {
        let long = rt.block_on(rmcp_load(&url, stateless, asked.clone()));
        let short = rt.block_on(rmcp_load(&url, stateless, Default::default()));
        rows.push(Row(
            format!("/mcp tools/call, {label} (in this process)"),
            "4.1k/s",
            "≥ 10k/s, p99 ≤ 3 ms",
            long,
            short,
        ));
    }
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// Sequential crm get_customer: straight to the server over its pipe (the floor), and through `Registry::call`;
/// then the server's memory. The "long way" column is hub's own `hub server crm`, "now" is `hub-server crm`.
fn call_rows(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut floors, mut memory, mut through) = (Vec::new(), Vec::new(), Vec::new());
    for bin in [Bin::Hub, Bin::Server] {
        let mut raw = Raw::spawn_from(bin, "crm", dir.path(), 600);
        raw.handshake();
        let mut floor: Vec<Duration> = (0..2000)
            .map(|_| {
                let t = Instant::now();
                raw.request("tools/call", json!({"name": "get_customer", "arguments": {"id": "cus_000001"}}));
                t.elapsed()
            })
            .collect();
        floor.sort();
        floors.push(ms(percentile(&floor, 0.5)));
        let pid = raw.pid();
        let kb = |field| super::procs::status_kb(pid, field) as f64 / 1024.0;
        let pss = super::procs::status_kb_in(pid, "smaps_rollup", "Pss:") as f64 / 1024.0;
        memory.push(format!("{:.1} MiB ({:.1}; {pss:.1})", kb("VmRSS:"), kb("RssAnon:")));
        raw.finish();
        through.push(super::call_roundtrip_latencies(dir.path(), bin));
    }
    let call = |i: usize| format!("{} (floor {})", ms(percentile(&through[i], 0.5)), floors[i]);
    rows.push(Row(
        "crm get_customer, sequential: `Registry::call` (floor: the pipe and server alone)".into(),
        "0.10–0.21 ms",
        "≤ 60 µs",
        call(0),
        call(1),
    ));
    rows.push(Row(
        "crm server (600 customers) after 2000 calls: RSS (anonymous; PSS)".into(),
        "13 MiB",
        "≤ 8 MiB",
        memory[0].clone(),
        memory[1].clone(),
    ));
}

fn process_rows(rows: &mut Vec<Row>) {
    let wall = |runs: &[super::Usage]| {
        let mut walls: Vec<Duration> = runs.iter().map(|u| u.wall).collect();
        walls.sort();
        ms(percentile(&walls, 0.5))
    };
    let [by_hub, by_server] = super::tools_cold_runs();
    rows.push(Row(
        "`hub tools --json` cold, five servers (long way: from `hub server NAME`)".into(),
        "10–17 ms",
        "≤ 8 ms",
        wall(&by_hub),
        wall(&by_server),
    ));
    let size = std::fs::metadata(HUB).map(|m| m.len()).unwrap_or(0);
    let servers = std::fs::metadata(super::HUB_SERVER).map(|m| m.len()).unwrap_or(0);
    let mut version: Vec<Duration> = (0..30).map(|_| run_measured(Command::new(HUB).arg("--version")).wall).collect();
    version.sort();
    rows.push(Row(
        "release binary (`hub --version` p50)".into(),
        "35 MB",
        "≤ 15 MB",
        "—".into(),
        format!(
            "{:.1} MB ({}); hub-server {:.1} MB",
            size as f64 / 1e6,
            ms(percentile(&version, 0.5)),
            servers as f64 / 1e6
        ),
    ));
}

pub fn compare() {
    println!("## compare: issue 20's targets — the issue's starting figure, the long way (same run), now");
    let mut rows = Vec::new();
    gateway_rows(&mut rows);
    call_rows(&mut rows);
    process_rows(&mut rows);
    println!("| what | issue's start | target | long way (same run) | now |\n|---|---|---|---|---|");
    for Row(what, start, target, long, now) in rows {
        println!("| {what} | {start} | {target} | {long} | {now} |");
    }
}
