//! The gateway's state stays bounded whatever clients do: names the index does not have are counted under one
//! label (measured on a `hub serve` process of its own), and MCP sessions — closed by their clients or
//! abandoned and idled out — leave memory (run in-process through `gateway::run`, the binary's own path).

use crate::util::{Env, HUB, LIMIT, client, rss_kb, rt, serve};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn twenty_thousand_unknown_tool_names_leave_metrics_and_memory_bounded() {
    let env = Env::new();
    env.config(&Env::server_entry("crm", "crm"));
    let s = serve(&env, &[]);
    let base = s.base.clone();
    let calls = |from: usize, to: usize| {
        let base = base.clone();
        rt().block_on(async move {
            let c = client();
            futures::stream::iter(from..to)
                .for_each_concurrent(8, |i| {
                    let (c, base) = (c.clone(), base.clone());
                    async move {
                        let body = json!({"tool": format!("no_such_tool_{i:06}_{}", "x".repeat(40)), "arguments": {}});
                        let r = c.post(format!("{base}/call")).json(&body).send().await.unwrap();
                        assert_eq!(r.status(), 404);
                    }
                })
                .await;
        })
    };
    calls(0, 1_000); // warm up: connections, allocator arenas
    let before = rss_kb(s.child.id());
    calls(1_000, 21_000);
    let after = rss_kb(s.child.id());
    let metrics = rt().block_on(async { client().get(format!("{base}/metrics")).send().await.unwrap().text().await });
    let metrics = metrics.unwrap();
    assert!(metrics.len() < 64 * 1024, "/metrics is {} bytes", metrics.len());
    assert!(
        metrics.contains("hub_tool_calls_total{server=\"\",tool=\"unknown\",outcome=\"unknown_tool\"} 21000"),
        "{metrics}"
    );
    assert!(after < before + 10 * 1024, "the gateway grew from {before} kB to {after} kB");
}

/// One raw MCP session over HTTP: initialize, initialized; returns its id.
async fn open_session(c: &reqwest::Client, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
        "capabilities": {}, "clientInfo": {"name": "short-lived", "version": "1"}}});
    let post = |body: Value, session: Option<&str>| {
        let mut r = c
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .json(&body);
        if let Some(id) = session {
            r = r.header("mcp-session-id", id);
        }
        r.send()
    };
    let r = post(init, None).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = r.bytes().await;
    let r = post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), Some(&id)).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    id
}

async fn sessions(c: &reqwest::Client, base: &str) -> (u64, u64) {
    let status: Value = c.get(format!("{base}/status")).send().await.unwrap().json().await.unwrap();
    (status["sessions"]["http"].as_u64().unwrap(), status["sessions"]["open"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_short_lived_sessions_leave_only_the_live_ones() {
    let text = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    let config = crate::util::unpinned(hub::config::parse(&text, "test", &|_| None).unwrap());
    let registry = hub::registry::Registry::start(&config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let guards = hub::gateway::guard::Guards {
        token: None,
        admin_token: None,
        body_limit: 1 << 20,
        rate: None,
        allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        allowed_origins: vec![],
        identities: vec![],
        jwt: false,
    };
    let idle = Duration::from_secs(2);
    let opts = hub::gateway::Options {
        stdio: false,
        profile: Default::default(),
        pins: vec![],
        code: None,
        guards,
        audit: None,
        socket: None,
        session_idle: idle,
        jwt: None,
        sealer: None,
        cluster: None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let gateway = tokio::spawn(hub::gateway::run(registry.clone(), Some(listener), opts, stop.clone()));
    let (c, url) = (client(), format!("{base}/mcp"));
    for _ in 0..1_000 {
        let id = open_session(&c, &url).await;
        let r = c.delete(&url).header("mcp-session-id", &id).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    // Twenty abandoned without a goodbye: live until they idle out.
    for _ in 0..20 {
        open_session(&c, &url).await;
    }
    let (http, open) = sessions(&c, &base).await;
    assert!(http <= 20 && open <= 20, "closed sessions still held: table {http}, peers {open}");
    let (http, open) = wait_for(&c, &base, |(h, o)| h == 0 && o == 0).await;
    assert_eq!((http, open), (0, 0), "idle sessions are forgotten");
    stop.cancel();
    assert_eq!(gateway.await.unwrap().unwrap(), 0);
    registry.shutdown().await;
}

/// Polls /status (every 50 ms, within the hang limit) until `f` holds; returns the last counts.
async fn wait_for(c: &reqwest::Client, base: &str, f: impl Fn((u64, u64)) -> bool) -> (u64, u64) {
    let start = std::time::Instant::now();
    loop {
        let now = sessions(c, base).await;
        if f(now) || start.elapsed() > LIMIT {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
