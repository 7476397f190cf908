//! What the replicas of a fleet share (issue 18, part 2): sealed session ids (`HUB_SESSION_KEY`, one per fleet,
//! made by `deploy/local.sh`), so a stateful (2025-11-25) session is served by any replica — by the official Python
//! SDK through HAProxy, and request by request against chosen replicas —, but never for another caller or with
//! an altered id, nor after its client ended it; and their Redis: `list_changed` fanned out to a session on another replica, a rate limit that
//! holds across the replicas within 10%, and Redis stopped and started mid-run without a failed call.

use crate::fleet::{script, start_with};
use crate::util::{Env, LIMIT, client, eventually, rt};
use rmcp::ServiceExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const A: &str = "token-of-team-a";
const B: &str = "token-of-team-b";

fn config(rate: f64) -> String {
    format!(
        "{}[gateway.tokens.a]\ntoken = \"{A}\"\nrate = {rate}\n[gateway.tokens.b]\ntoken = \"{B}\"\n",
        Env::server_entry("crm", "crm")
    )
}

/// One JSON-RPC message POSTed to `base`/mcp as `token`, in session `session` when given.
async fn post(base: &str, token: &str, session: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = client()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = session {
        r = r.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
    }
    r.send().await.unwrap()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

fn list_tools() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
}

/// A replica's /status (as token `b`, which has no rate limit).
fn status(replica: &str) -> Value {
    rt().block_on(async {
        client().get(format!("{replica}/status")).bearer_auth(B).send().await.unwrap().json().await.unwrap()
    })
}

#[test]
fn a_sealed_session_is_served_by_any_replica_but_only_for_its_caller() {
    let env = Env::new();
    let Some(fleet) = start_with(&env, 3, &config(1000.0), &[]) else { return };
    let r = &fleet.replicas;
    let id = rt().block_on(async {
        let init = post(&r[0], A, None, initialize()).await;
        assert_eq!(init.status(), 200);
        let id = init.headers()["mcp-session-id"].to_str().unwrap().to_string();
        assert!(id.starts_with("h1."), "the id is sealed: {id}");
        let _ = init.text().await;
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(post(&r[0], A, Some(&id), done).await.status(), 202);
        for other in &r[1..] {
            let listed = post(other, A, Some(&id), list_tools()).await;
            assert_eq!(listed.status(), 200, "another replica serves the session");
            assert!(listed.text().await.unwrap().contains("crm__get_customer"));
        }
        let stolen = post(&r[1], B, Some(&id), list_tools()).await;
        assert_eq!(stolen.status(), 404, "another caller cannot use the session");
        let mut altered = id.clone().into_bytes();
        let at = altered.len() / 2;
        altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(post(&r[2], A, Some(&altered), list_tools()).await.status(), 404, "an altered id opens nowhere");
        id
    });
    for replica in &r[1..] {
        assert_eq!(status(replica)["fleet"]["sessions_restored"], 1, "{replica} took the session over once");
    }
    // Its client ends it on one replica: it is gone on all of them, and none restores it from the id again.
    let ended = rt().block_on(async {
        let http = client().delete(format!("{}/mcp", r[2])).bearer_auth(A).header("mcp-session-id", &id);
        http.header("mcp-protocol-version", "2025-11-25").send().await.unwrap().status()
    });
    assert!(ended.is_success(), "{ended}");
    let gone = |replica: &String| rt().block_on(post(replica, A, Some(&id), list_tools())).status() == 404;
    assert!(eventually(LIMIT, || r.iter().all(gone)), "the closed session is unknown on every replica");

    // The official Python SDK, through the balancer: its requests land on different replicas.
    let Some(python) = interop_python() else { return };
    let before: u64 = r.iter().map(|x| status(x)["fleet"]["sessions_restored"].as_u64().unwrap()).sum();
    let out = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/mcp_probe.py"))
        .args(["--url", &format!("{}/mcp", fleet.front), "--mode", "legacy", "--header"])
        .arg(format!("Authorization: Bearer {A}"))
        .args(["--call", "crm__get_customer", "--args", r#"{"id": "cus_000001"}"#])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        report["ok"],
        true,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["protocol_version"], "2025-11-25");
    assert!(report["call"]["result"].to_string().contains("john.smith@acme.com"), "{report}");
    let after: u64 = r.iter().map(|x| status(x)["fleet"]["sessions_restored"].as_u64().unwrap()).sum();
    assert!(after > before, "the SDK's session was served by more than one replica");
}

/// A counter of a replica's /metrics.
fn metric(replica: &str, name: &str) -> u64 {
    let text = rt().block_on(async {
        client().get(format!("{replica}/metrics")).bearer_auth(B).send().await.unwrap().text().await.unwrap()
    });
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0)
}

/// The interop venv's Python with the official SDK (None, said loudly, when it is not installed).
pub fn interop_python() -> Option<PathBuf> {
    let home = std::env::var("HUB_INTEROP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/hub-interop"));
    let python = home.join("venv-mcp/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(std::env::var_os("HUB_REQUIRE_INTEROP").is_none(), "{} is required", python.display());
    eprintln!("\n*** SKIPPED: the Python SDK part needs the interop venv (../shared/interop/setup.sh) ***\n");
    None
}

#[derive(Clone, Default)]
struct Watcher(Arc<AtomicUsize>);

impl rmcp::ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: rmcp::service::NotificationContext<rmcp::RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn list_changes_on_one_replica_reach_sessions_on_the_others_through_redis() {
    let env = Env::new();
    let Some(fleet) = start_with(&env, 2, &config(1000.0), &[("HUB_ADMIN_TOKEN", "admin-secret")]) else { return };
    rt().block_on(async {
        // A session (and its GET stream) on replica 2; the server restarted on replica 1.
        let watcher = Watcher::default();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(format!(
                "{}/mcp",
                fleet.replicas[1]
            ))
            .auth_header(A),
        );
        let mcp = watcher.clone().serve(transport).await.unwrap();
        assert!(!mcp.peer().list_all_tools().await.unwrap().is_empty());
        let restart = client()
            .post(format!("{}/servers/crm/restart", fleet.replicas[0]))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(restart.status(), 202);
        let heard = tokio::task::spawn_blocking(move || eventually(LIMIT, || watcher.0.load(Ordering::SeqCst) >= 1));
        assert!(heard.await.unwrap(), "list_changed reached the session on the other replica");
        let _ = mcp.cancel().await;
    });
}

/// Calls to `/tools` through `front` as token `a`, 8 at a time, until `stop`: (allowed, refused, seconds). A call
/// answered otherwise than 200 or 429, or not answered, fails the test.
fn hammer(front: &str, stop: Arc<AtomicBool>) -> (usize, usize, f64) {
    let (ok, limited) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    rt().block_on(async {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (url, ok, limited, stop) = (format!("{front}/tools"), ok.clone(), limited.clone(), stop.clone());
                tokio::spawn(async move {
                    let http = client();
                    while !stop.load(Ordering::SeqCst) {
                        match http.get(&url).bearer_auth(A).send().await.map(|r| r.status().as_u16()) {
                            Ok(200) => ok.fetch_add(1, Ordering::SeqCst),
                            Ok(429) => limited.fetch_add(1, Ordering::SeqCst),
                            other => panic!("a call failed: {other:?}"),
                        };
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("every call answered");
        }
    });
    (ok.load(Ordering::SeqCst), limited.load(Ordering::SeqCst), start.elapsed().as_secs_f64())
}

/// `hammer` in the background until the returned flag is set.
fn hammering(front: &str) -> (Arc<AtomicBool>, std::thread::JoinHandle<(usize, usize, f64)>) {
    let (stop, front) = (Arc::new(AtomicBool::new(false)), front.to_string());
    let flag = stop.clone();
    (flag, std::thread::spawn(move || hammer(&front, stop)))
}

#[test]
fn a_rate_limit_holds_across_the_replicas_and_survives_redis_going_away() {
    let env = Env::new();
    const RATE: f64 = 20.0;
    let Some(fleet) = start_with(&env, 3, &config(RATE), &[]) else { return };
    // A measurement over two seconds (not a time window for an event): GCRA with a burst of two seconds' worth
    // allows 2·rate + rate·elapsed, whichever replica answers; per-replica limits would allow three times that.
    // It counts only while every replica decides through Redis: once all are connected, and again if one fell
    // back to its own limit meanwhile (Redis slower than the replicas' deadline on a loaded machine).
    let connected = || fleet.replicas.iter().all(|r| status(r)["fleet"]["cluster"]["connected"] == true);
    let fallbacks = || fleet.replicas.iter().map(|r| metric(r, "hub_rate_limit_local_fallbacks_total")).sum::<u64>();
    let mut measured = None;
    for _ in 0..3 {
        assert!(eventually(LIMIT, connected), "every replica reaches Redis");
        let before = fallbacks();
        let (stop, load) = hammering(&fleet.front);
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::SeqCst);
        let run = load.join().unwrap();
        if fallbacks() == before {
            measured = Some(run);
            break;
        }
        eprintln!("fleet: a replica fell back to its own limit during the measurement; measuring again");
    }
    let (ok, limited, secs) = measured.expect("a measurement with every replica on Redis throughout");
    let expected = 2.0 * RATE + RATE * secs;
    eprintln!("fleet: {ok} allowed, {limited} refused in {secs:.2} s; {expected:.0} expected cluster-wide");
    assert!(limited > ok, "the offered load was well above the limit");
    assert!((ok as f64 - expected).abs() <= expected * 0.1 + 1.0, "{ok} allowed, {expected:.0} expected");

    // Redis stopped and started under load: every call is answered throughout; meanwhile limits are each
    // replica's own, and /status and the metric say so.
    let (stop, load) = hammering(&fleet.front);
    let redis = |action: &str| {
        let s = std::process::Command::new(script()).args(["redis", action]).arg(&fleet.dir).status().unwrap();
        assert!(s.success(), "redis {action}");
    };
    let counted = fallbacks();
    redis("stop");
    let all_local = || fleet.replicas.iter().all(|r| status(r)["fleet"]["cluster"]["rate_limits"] == "local");
    assert!(eventually(LIMIT, all_local), "every replica reports local limits while Redis is down");
    assert_eq!(metric(&fleet.replicas[0], "hub_cluster_redis_up"), 0);
    // A fallback is counted when a replica decides a call with Redis gone: waited for (a replica can report
    // local limits before the balancer has sent it a call to decide).
    assert!(eventually(LIMIT, || fallbacks() > counted), "fallbacks are counted");
    redis("start");
    let all_cluster = || fleet.replicas.iter().all(|r| status(r)["fleet"]["cluster"]["rate_limits"] == "cluster");
    assert!(eventually(LIMIT, all_cluster), "every replica is back on cluster-wide limits");
    stop.store(true, Ordering::SeqCst);
    let (ok, _, _) = load.join().expect("no call failed while Redis went and came back");
    assert!(ok > 0, "calls were served throughout");
}

#[test]
fn bad_fleet_settings_are_refused_and_an_unreachable_redis_is_not_fatal() {
    let mut env = Env::new();
    env.config(&format!("{}[gateway]\nredis = \"http://127.0.0.1:6379\"\n", Env::server_entry("crm", "crm")));
    let run = env.run(&["serve", "--http", "127.0.0.1:0", "--no-socket"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("gateway.redis") && run.stderr.contains("redis:// URL"), "{}", run.stderr);

    env.config(&Env::server_entry("crm", "crm"));
    env.set("HUB_SESSION_KEY", "too-short");
    let run = env.run(&["serve", "--http", "127.0.0.1:0", "--no-socket"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("HUB_SESSION_KEY must be a secret of at least 32 characters"), "{}", run.stderr);

    // Nothing listens on port 1: the replica serves, with its own limits, and says why.
    env.set("HUB_SESSION_KEY", "a fleet-wide secret of at least thirty-two characters");
    let s = crate::util::serve(&env, &["--redis", "redis://127.0.0.1:1", "--rate-limit", "100"]);
    let call = rt().block_on(async {
        let r = client().post(format!("{}/call", s.base));
        r.json(&json!({"tool": "crm__get_customer", "arguments": {"id": "cus_000001"}})).send().await.unwrap()
    });
    assert_eq!(call.status(), 200, "served without Redis");
    let cluster = &status(&s.base)["fleet"];
    assert_eq!(cluster["sessions"], "sealed");
    assert_eq!(cluster["cluster"]["connected"], false, "{cluster}");
    assert_eq!(cluster["cluster"]["rate_limits"], "local", "{cluster}");
}
