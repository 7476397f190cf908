//! `replicas`: what `replicas = N` buys and what a dying replica costs — REST `/call kit__busy` (20 ms of work,
//! one call at a time per process, as a single-threaded server) through `hub serve` from 16 concurrent callers,
//! with one replica and with three; then 5 000 such read-only calls on three replicas while one replica is
//! killed (SIGKILL) every 2 s: failed calls, and how long each killed replica took to be back in rotation.

use super::{HUB, ms, percentile};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const RESTART: &str = "restart = { backoff_ms = 100, max_backoff_ms = 400 }";

fn config(replicas: usize) -> String {
    format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\nreplicas = {replicas}\n{RESTART}\n")
}

async fn rows(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let status: Value = http.get(format!("{base}/status")).send().await.unwrap().json().await.unwrap();
    status["servers"][0]["replicas"].as_array().cloned().unwrap_or_default()
}

async fn all_up(http: &reqwest::Client, base: &str, n: usize) {
    while !{
        let r = rows(http, base).await;
        r.len() == n && r.iter().all(|x| x["state"] == "up" && x["last_error"].is_null())
    } {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn replicas() {
    println!("## replicas: REST /call kit__busy (20 ms, serial per process) through `hub serve`, 16 callers");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for n in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("servers.toml"), config(n)).unwrap();
        let (mut child, base) = super::serve::start(HUB, dir.path());
        rt.block_on(async {
            all_up(&reqwest::Client::new(), &base, if n > 1 { n } else { 0 }).await;
            let (rate, lat) = super::load::load(16, 5.0, || {
                let (http, url) = (reqwest::Client::new(), format!("{base}/call"));
                move || {
                    let (http, url) = (http.clone(), url.clone());
                    async move {
                        let r =
                            http.post(url).json(&json!({"tool": "kit__busy", "arguments": {}})).send().await.unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                        let _ = r.bytes().await;
                    }
                }
            })
            .await;
            let (p50, p99) = (ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99)));
            println!("replicas = {n}, 16 callers: {rate:.1} calls/s, p50 {p50} p99 {p99}");
        });
        let _ = child.kill();
        let _ = child.wait();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("servers.toml"), config(3)).unwrap();
    let (mut child, base) = super::serve::start(HUB, dir.path());
    rt.block_on(chaos(&base));
    let _ = child.kill();
    let _ = child.wait();
}

/// 5 000 read-only calls from 16 callers while one replica is killed every 2 s.
async fn chaos(base: &str) {
    const CALLS: usize = 5_000;
    let http = reqwest::Client::new();
    all_up(&http, base, 3).await;
    let (left, failed) = (Arc::new(AtomicUsize::new(CALLS)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (http, url, left, failed) = (http.clone(), format!("{base}/call"), left.clone(), failed.clone());
            tokio::spawn(async move {
                while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let r = http.post(&url).json(&json!({"tool": "kit__busy", "arguments": {}})).send().await.unwrap();
                    if !r.status().is_success() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed: {}", r.text().await.unwrap_or_default());
                    }
                }
            })
        })
        .collect();
    let mut respawns = Vec::new();
    let mut victim = 0;
    while left.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if left.load(Ordering::Relaxed) == 0 {
            break;
        }
        let before = rows(&http, base).await;
        let Some(pid) = before.get(victim % 3).and_then(|r| r["pid"].as_u64()) else { continue };
        let killed = Instant::now();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        // Back: the same slot up again, in rotation, as a new process.
        loop {
            let r = rows(&http, base).await;
            let slot = &r[victim % 3];
            if slot["state"] == "up" && slot["last_error"].is_null() && slot["pid"].as_u64() != Some(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        respawns.push(killed.elapsed());
        victim += 1;
    }
    for c in callers {
        c.await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    respawns.sort();
    let (kills, failed) = (respawns.len(), failed.load(Ordering::Relaxed));
    let (p50, max) = (ms(percentile(&respawns, 0.5)), ms(*respawns.last().unwrap_or(&Duration::ZERO)));
    println!("chaos: {CALLS} read-only calls in {took:.1} s, {kills} replicas killed, {failed} failed calls");
    println!("chaos: killed replica back in rotation: p50 {p50}, max {max} ({RESTART})");
}
