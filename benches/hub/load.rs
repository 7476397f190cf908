//! The load scenario `gateway` of `benches/hub.rs`: REST and MCP throughput through `hub serve`, plus wrk when
//! installed.

use super::{HUB, ms, percentile};
use rmcp::ServiceExt;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `hub serve --http 127.0.0.1:0` with crm and testkit; returns the child and its base URL.
pub fn start_gateway(dir: &std::path::Path) -> (std::process::Child, String) {
    std::fs::write(
        dir.join("servers.toml"),
        format!("[servers.crm]\ncommand = \"{HUB}\"\nargs = [\"server\", \"crm\"]\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"),
    )
    .unwrap();
    super::serve::start(HUB, dir)
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `n` rmcp clients of `url`: sessions (2025-11-25), or clients of the stateless revision (2026-07-28).
pub async fn mcp_clients(
    url: &str,
    n: usize,
    stateless: bool,
) -> Vec<Arc<rmcp::service::RunningService<rmcp::RoleClient, ()>>> {
    mcp_clients_as(url, n, stateless, ()).await
}

/// `mcp_clients` with `handler` (its capabilities) as the client.
pub async fn mcp_clients_as<H: rmcp::ClientHandler + Clone>(
    url: &str,
    n: usize,
    stateless: bool,
    handler: H,
) -> Vec<Arc<rmcp::service::RunningService<rmcp::RoleClient, H>>> {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let mut clients = Vec::new();
    for _ in 0..n {
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
        let h = handler.clone();
        let client = match stateless {
            true => {
                let preferred_versions = vec![rmcp::model::ProtocolVersion::V_2026_07_28];
                h.serve_with_lifecycle(transport, ClientLifecycleMode::Discover { preferred_versions }).await
            }
            false => h.serve(transport).await,
        };
        clients.push(Arc::new(client.unwrap()));
    }
    clients
}

/// Runs `clients` concurrent loops of `call` for `secs`; returns (calls per second, sorted latencies).
pub async fn load<F, Fut>(clients: usize, secs: f64, make: impl Fn() -> F) -> (f64, Vec<Duration>)
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

/// One client's loop body for `load`: REST `/call TOOL` with `args` on the gateway at `base`, answered 2xx.
pub fn rest_call(
    base: &str,
    tool: &str,
    args: serde_json::Value,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static {
    let (http, url) = (reqwest::Client::new(), format!("{base}/call"));
    let body = json!({"tool": tool, "arguments": args});
    move || {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        Box::pin(async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert!(r.status().is_success());
            let _ = r.bytes().await;
        })
    }
}

pub fn gateway() {
    println!(
        "## gateway: `hub serve --http`, load from this process (same 2-core machine), testkit echo and crm get_customer"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_gateway(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for (tool, args) in [("kit__echo", json!({"text": "hi"})), ("crm__get_customer", json!({"id": "cus_000001"}))] {
            for clients in [1, 16] {
                let (rate, lat) = load(clients, 5.0, || rest_call(&base, tool, args.clone())).await;
                println!(
                    "REST /call {tool}, {clients} client(s): {rate:.0} calls/s, p50 {} p99 {}",
                    ms(percentile(&lat, 0.5)),
                    ms(percentile(&lat, 0.99))
                );
            }
            for (revision, stateless) in [("2025-11-25, sessions", false), ("2026-07-28, stateless", true)] {
                for clients in [1, 16] {
                    let sessions = mcp_clients(&format!("{base}/mcp"), clients, stateless).await;
                    let next = std::sync::atomic::AtomicUsize::new(0);
                    let (rate, lat) = load(clients, 5.0, || {
                        let s = sessions[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)].clone();
                        let arguments = args.as_object().unwrap().clone();
                        let params = rmcp::model::CallToolRequestParams::new(tool).with_arguments(arguments);
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
                        "MCP  /mcp  {tool} ({revision}), {clients} client(s): {rate:.0} calls/s, p50 {} p99 {}",
                        ms(percentile(&lat, 0.5)),
                        ms(percentile(&lat, 0.99))
                    );
                }
            }
        }
    });
    // wrk (Debian package `wrk`), when installed: a load generator that is not this process.
    let lua = dir.path().join("post.lua");
    std::fs::write(&lua, REST_LUA).unwrap();
    for threads in [1, 2] {
        match wrk(&lua, &format!("{base}/call"), threads) {
            Some(w) => println!("wrk -t{threads} -c16 -d5s POST /call kit__echo: {w}"),
            None => println!("wrk not installed (apt-get install wrk): skipped the external load generator"),
        }
    }
    println!("gateway process peak RSS after the load: {} MiB", peak_rss_kb(child.id()) / 1024);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// wrk's script for REST `/call kit__echo`.
pub const REST_LUA: &str = "wrk.method = \"POST\"\nwrk.body = '{\"tool\":\"kit__echo\",\"arguments\":{\"text\":\"hi\"}}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";

/// What one wrk run reported.
pub struct Wrk {
    pub rate: f64,
    pub requests: f64,
    pub p50: String,
    pub p99: String,
    pub failed: bool,
}

impl std::fmt::Display for Wrk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed = if self.failed { " (SOME REQUESTS FAILED)" } else { "" };
        write!(f, "Requests/sec: {:.0} | latency 50% {} | 99% {}{failed}", self.rate, self.p50, self.p99)
    }
}

/// `wrk -tTHREADS -c16 -d5s --latency -s LUA URL`; None when wrk is not installed.
pub fn wrk(lua: &std::path::Path, url: &str, threads: usize) -> Option<Wrk> {
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c16", "-d5s", "--latency", "-s"])
        .arg(lua)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |k: &str| text.lines().find(|l| l.trim_start().starts_with(k)).map(|l| l.trim().to_string());
    let second = |k: &str| line(k).and_then(|l| l.split_whitespace().nth(1).map(String::from)).unwrap_or_default();
    let requests = text.lines().find_map(|l| l.trim().split_once(" requests in ")).and_then(|(n, _)| n.parse().ok());
    Some(Wrk {
        rate: second("Requests/sec:").parse().unwrap_or(0.0),
        requests: requests.unwrap_or(0.0),
        p50: second("50%"),
        p99: second("99%"),
        failed: text.contains("Non-2xx") || text.contains("Socket errors"),
    })
}
