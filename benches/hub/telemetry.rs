//! The scenario `telemetry` of `benches/hub.rs` (issue 19): what exporting traces and metrics costs. The gateway's
//! REST and MCP calls/s with export off, to an OTLP/gRPC and to an OTLP/HTTP receiver (`tests/it/otlp.rs`, in
//! this process), in alternating rounds; and `hub ask` (3 turns, 5 tool calls, scripted model) wall time off/on.

use super::load::{load, mcp_clients, rest_call};
use super::{HUB, SEED, ms, otlp, percentile, run_measured, scripted};
use serde_json::json;
use std::time::Duration;

const ROUNDS: usize = 3;
/// `hub ask` runs per setup, alternating.
const ASKS: usize = 30;

fn gateway_rates(dir: &std::path::Path, vars: &[(&str, &str)]) -> (f64, f64) {
    std::fs::write(
        dir.join("servers.toml"),
        format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"),
    )
    .unwrap();
    let (mut child, base) = super::serve::start_env(HUB, dir, &["--no-socket"], vars);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rates = rt.block_on(async {
        let (rest, _) = load(16, 4.0, || rest_call(&base, "kit__echo", json!({"text": "hi"}))).await;
        let sessions = mcp_clients(&format!("{base}/mcp"), 16, true).await;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (mcp, _) = load(16, 4.0, || {
            let s = sessions[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)].clone();
            let args = json!({"text": "hi"}).as_object().unwrap().clone();
            let params = rmcp::model::CallToolRequestParams::new("kit__echo").with_arguments(args);
            move || {
                let (s, params) = (s.clone(), params.clone());
                async move {
                    assert_ne!(s.peer().call_tool(params).await.unwrap().is_error, Some(true));
                }
            }
        })
        .await;
        (rest, mcp)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    rates
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ask_walls(dir: &std::path::Path, vars: &[(&str, &str)], n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let m = super::seed_model();
            let mut cmd = scripted(dir, &m.url, &["ask", SEED]);
            cmd.envs(vars.iter().copied());
            run_measured(&mut cmd).wall
        })
        .collect()
}

/// gRPC and HTTP receivers that decode every span (sharing these 2 cores with hub), one that discards, and the
/// environment of each setup (export off first).
struct Receivers {
    grpc: otlp::Collector,
    http: otlp::Collector,
    discard: otlp::Collector,
    envs: [(&'static str, Vec<(&'static str, String)>); 4],
}

impl Receivers {
    fn start() -> Receivers {
        let (grpc, http, discard) = (otlp::Collector::grpc(), otlp::Collector::http(), otlp::Collector::discard());
        let to = |c: &otlp::Collector| {
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", c.endpoint.clone()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", c.protocol.to_string()),
            ]
        };
        let envs =
            [("off", vec![]), ("gRPC", to(&grpc)), ("HTTP", to(&http)), ("HTTP, receiver discards", to(&discard))];
        Receivers { grpc, http, discard, envs }
    }

    fn setups(&self) -> Vec<(&'static str, Vec<(&str, &str)>)> {
        self.envs.iter().map(|(n, v)| (*n, v.iter().map(|(k, v)| (*k, v.as_str())).collect())).collect()
    }
}

pub fn telemetry() {
    println!("## telemetry: export off vs on (OTLP receiver in this process), same 2-core machine");
    let receivers = Receivers::start();
    let setups = receivers.setups();
    let dir = tempfile::tempdir().unwrap();
    let mut rest: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let mut mcp = rest.clone();
    for _ in 0..ROUNDS {
        for (i, (_, vars)) in setups.iter().enumerate() {
            let (r, m) = gateway_rates(dir.path(), vars);
            rest[i].push(r);
            mcp[i].push(m);
        }
    }
    let (rest0, mcp0) = (median(rest[0].clone()), median(mcp[0].clone()));
    for (i, (name, _)) in setups.iter().enumerate() {
        let (r, m) = (median(rest[i].clone()), median(mcp[i].clone()));
        println!(
            "gateway, export {name}: REST /call kit__echo 16 clients {r:.0} calls/s ({:+.1}%), MCP stateless 16 clients \
             {m:.0} calls/s ({:+.1}%)  [median of {ROUNDS} rounds of 4 s]",
            (r / rest0 - 1.0) * 100.0,
            (m / mcp0 - 1.0) * 100.0
        );
    }
    println!(
        "spans received: gRPC {}, HTTP {}; the discarding receiver was sent {} MiB",
        receivers.grpc.spans().len(),
        receivers.http.spans().len(),
        receivers.discard.bytes() >> 20
    );
    // Fresh receivers for `ask`: the ones above hold the gateway rounds' hundreds of thousands of spans, and
    // growing that store (a copy of all of it now and then) would be counted against the export.
    let receivers = Receivers::start();
    let setups = receivers.setups();
    let ask_dir = tempfile::tempdir().unwrap();
    ask_walls(ask_dir.path(), &[], 2);
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    for _ in 0..ASKS {
        for (i, (_, vars)) in setups.iter().enumerate() {
            walls[i].extend(ask_walls(ask_dir.path(), vars, 1));
        }
    }
    let p50 = |xs: &mut Vec<Duration>| {
        xs.sort();
        percentile(xs, 0.5)
    };
    let base = p50(&mut walls[0]);
    for (i, (name, _)) in setups.iter().enumerate() {
        let w = p50(&mut walls[i]);
        let change = (w.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0;
        println!("ask (3 turns, 5 tool calls), export {name}: wall p50 {} ({change:+.1}%), n={ASKS}", ms(w));
    }
}
