//! A fleet (issue 18, part 2 — the part built so far): three `hub serve` replicas behind a real HAProxy, started by
//! `deploy/local.sh` (what users run). REST calls and stateless-revision (2026-07-28) MCP clients land on every
//! replica without affinity; a replica killed during 5 000 calls through the balancer fails only calls that were
//! in flight on it.
//!
//! HAProxy and Redis come from Debian (`.ci/run` installs them); without them these tests say so loudly and skip,
//! unless HUB_REQUIRE_FLEET is set (CI sets it). What the replicas share (sealed sessions, Redis) is tested in
//! `fleet_shared`.

use crate::util::{Env, HUB, client, rt};
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running fleet; stopped (replicas, HAProxy, Redis) on drop.
pub struct Fleet {
    pub dir: PathBuf,
    pub front: String,
    pub replicas: Vec<String>,
    pub pids: Vec<i32>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/local.sh")
}

/// `n` replicas of `config` behind HAProxy, sharing a session key and a Redis (None: skipped, said loudly).
pub fn start(env: &Env, n: usize, config: &str) -> Option<Fleet> {
    start_with(env, n, config, &[])
}

/// `start`, with extra environment for the replicas.
pub fn start_with(env: &Env, n: usize, config: &str, vars: &[(&str, &str)]) -> Option<Fleet> {
    let have = |tool: &str, arg: &str| std::process::Command::new(tool).arg(arg).output().is_ok();
    if !have("haproxy", "-v") || !have("redis-server", "--version") {
        assert!(std::env::var_os("HUB_REQUIRE_FLEET").is_none(), "haproxy and redis-server are required");
        eprintln!("\n*** SKIPPED: the fleet tests need haproxy and redis-server (apt-get install) ***\n");
        return None;
    }
    let dir = env.path("fleet");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("servers.toml"), config).unwrap();
    let inherited =
        env.command(&[]).get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect::<Vec<_>>();
    let out = std::process::Command::new(script())
        .args(["start", dir.to_str().unwrap(), &n.to_string(), "0"])
        .envs(inherited)
        .envs(vars.iter().copied())
        .env("HUB", HUB)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let replicas = read("ports").lines().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let front = read("front");
    let pids = read("pids").lines().map(|p| p.parse().unwrap()).collect();
    let fleet = Fleet { dir, front: format!("http://127.0.0.1:{}", front.trim()), replicas, pids };
    // HAProxy's first health checks: every replica in rotation before the test starts.
    let up = crate::util::eventually(crate::util::LIMIT, || {
        rt().block_on(async {
            client().get(format!("{}/healthz", fleet.front)).send().await.is_ok_and(|r| r.status().is_success())
        })
    });
    assert!(up, "the balancer answers");
    Some(fleet)
}

/// Tool calls a replica has served (its /metrics).
pub fn served(replica: &str) -> u64 {
    let text =
        rt().block_on(async { client().get(format!("{replica}/metrics")).send().await.unwrap().text().await.unwrap() });
    text.lines()
        .filter(|l| l.starts_with("hub_tool_calls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn rest_and_stateless_clients_are_served_by_every_replica() {
    let env = Env::new();
    let Some(fleet) = start(&env, 3, &Env::server_entry("crm", "crm")) else { return };
    rt().block_on(async {
        let http = client();
        for _ in 0..30 {
            let r = http
                .post(format!("{}/call", fleet.front))
                .json(&json!({"tool": "crm__get_customer", "arguments": {"id": "cus_000001"}}))
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["result"]["customer"]["email"], "john.smith@acme.com", "{body}");
        }
    });
    let after_rest: Vec<u64> = fleet.replicas.iter().map(|r| served(r)).collect();
    assert!(after_rest.iter().all(|&n| n >= 5), "round robin reaches every replica: {after_rest:?}");

    // Stateless MCP: no session, so each request may go to another replica.
    rt().block_on(async {
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", fleet.front));
        let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
        let peer = ().serve_with_lifecycle(transport, lifecycle).await.expect("discover through the balancer");
        let tools = peer.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "crm__get_customer"));
        for _ in 0..30 {
            let args = json!({"id": "cus_000001"}).as_object().cloned().unwrap();
            let r = peer.call_tool(CallToolRequestParams::new("crm__get_customer").with_arguments(args)).await.unwrap();
            assert_eq!(r.structured_content.unwrap()["customer"]["email"], "john.smith@acme.com");
        }
        let _ = peer.cancel().await;
    });
    let after_mcp: Vec<u64> = fleet.replicas.iter().map(|r| served(r)).collect();
    let grew: Vec<u64> = after_mcp.iter().zip(&after_rest).map(|(a, b)| a - b).collect();
    assert!(grew.iter().all(|&n| n >= 5), "stateless requests reach every replica: {grew:?}");
}

#[test]
fn a_replica_killed_under_load_fails_only_its_calls_in_flight() {
    let env = Env::new();
    let config = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    let Some(fleet) = start(&env, 3, &config) else { return };
    const CALLS: usize = 5000;
    const WORKERS: usize = 16;
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    rt().block_on(async {
        let http = client();
        let workers = (0..WORKERS).map(|_| {
            let (http, url, done, failed) =
                (http.clone(), format!("{}/call", fleet.front), done.clone(), failed.clone());
            tokio::spawn(async move {
                while done.fetch_add(1, Ordering::SeqCst) < CALLS {
                    let body = json!({"tool": "kit__echo", "arguments": {"text": "x"}});
                    let ok = match http.post(&url).json(&body).send().await {
                        Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|b| b["success"] == true),
                        Err(_) => false,
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        });
        let workers: Vec<_> = workers.collect();
        // A third of the way in, one replica dies without warning.
        while done.load(Ordering::SeqCst) < CALLS / 3 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        unsafe { libc::kill(fleet.pids[1], libc::SIGKILL) };
        for w in workers {
            w.await.unwrap();
        }
    });
    let failed = failed.load(Ordering::SeqCst);
    eprintln!("fleet: {failed} of {CALLS} calls failed when a replica was killed");
    assert!(failed <= WORKERS, "only calls in flight on the killed replica fail: {failed} of {CALLS}");
    let survivors: u64 = [0, 2].iter().map(|&i| served(&fleet.replicas[i])).sum();
    assert!(survivors as usize >= CALLS * 2 / 3 - WORKERS, "the others carried the rest: {survivors}");
}
