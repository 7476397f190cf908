//! `cargo bench --bench hub -- fleet` (issue 18): calls/s through HAProxy to 1, 2 and 3 `hub serve` replicas
//! started by `deploy/local.sh` (what users run; needs `apt-get install haproxy`), 16 callers for 5 s, REST `/call`
//! of testkit's `echo` — and the CPU each call costs in the replicas (with their servers), HAProxy and Redis, from
//! /proc, so a flat calls/s on 2 cores can be told apart from scaling lost in hub; then 3 replicas whose calls all
//! pass a cluster-wide rate limit (one Redis GCRA script per call).

use super::procs::tree_cpu;
use super::{HUB, ms, percentile};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SECS: f64 = 5.0;
const CALLERS: usize = 16;

fn pids(dir: &Path, file: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

pub fn fleet() {
    println!(
        "## fleet: REST /call kit__echo through HAProxy to N `hub serve` replicas (deploy/local.sh), {CALLERS} callers"
    );
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("SKIPPED: haproxy is not installed (apt-get install haproxy redis-server)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local.sh");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for n in 1..=3 {
        measure(&rt, &script, n, false);
    }
    measure(&rt, &script, 3, true);
}

/// One fleet of `n` replicas under load; `limited`: every call also passes a cluster-wide rate limit (a token
/// whose `rate` never binds, so each call costs one GCRA script in Redis).
fn measure(rt: &tokio::runtime::Runtime, script: &Path, n: usize, limited: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    if limited {
        config.push_str("[gateway.tokens.bench]\ntoken = \"bench-token\"\nrate = 1000000\n");
    }
    std::fs::write(dir.path().join("servers.toml"), config).unwrap();
    let started = Command::new(script)
        .args(["start", dir.path().to_str().unwrap(), &n.to_string(), "0"])
        .env("HUB", HUB)
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let front = std::fs::read_to_string(dir.path().join("front")).unwrap();
    let url = format!("http://127.0.0.1:{}/call", front.trim());
    let (replicas, haproxy, redis) =
        (pids(dir.path(), "pids"), pids(dir.path(), "haproxy.pid"), pids(dir.path(), "redis.pid"));
    let sum = |ps: &[u32]| ps.iter().map(|&p| tree_cpu(p)).sum::<f64>();
    let cpu = || (sum(&replicas), sum(&haproxy), sum(&redis));
    let token = if limited { "bench-token" } else { "none" };
    rt.block_on(async {
        let http = reqwest::Client::new();
        // Every replica in rotation (HAProxy's first checks) before the clock starts.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let body = json!({"tool": "kit__echo", "arguments": {"text": "x"}});
        let warm = http.post(&url).bearer_auth(token).json(&body).send().await;
        assert!(warm.is_ok_and(|r| r.status().is_success()), "the fleet answers");
        let before = cpu();
        let (rate, lat) = super::load::load(CALLERS, SECS, || {
            let (http, url) = (http.clone(), url.clone());
            move || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let body = json!({"tool": "kit__echo", "arguments": {"text": "x"}});
                    let r = http.post(url).bearer_auth(token).json(&body).send().await.unwrap();
                    assert!(r.status().is_success(), "{}", r.status());
                    let _ = r.bytes().await;
                }
            }
        })
        .await;
        let after = cpu();
        let calls = rate * SECS;
        let per = |s: f64| format!("{:.0} µs", s / calls * 1e6);
        println!(
            "{n} replica(s){}: {rate:.0} calls/s, p50 {} p99 {}; CPU per call: replicas + servers {}, haproxy {}, redis {}",
            if limited { " with a cluster-wide rate limit" } else { "" },
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            per(after.0 - before.0),
            per(after.1 - before.1),
            per(after.2 - before.2)
        );
    });
    let _ = Command::new(script).args(["stop", dir.path().to_str().unwrap()]).status();
}
