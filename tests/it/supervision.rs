//! Supervision by face, through a real `hub serve`: a long-running gateway never gives up on a server (crash loop
//! at start, hang in initialize, a binary that disappears and comes back), `restart.give_up` and the one-shot
//! faces keep the fail-fast cap, calls to a down server fail at once with a retry time (503 + Retry-After), and an
//! operator restarts or stops a server (admin token; 404, 403; restart requests under way make one restart).

use crate::util::{Env, HUB, LIMIT, Served, client, eventually, rt, serve};
use serde_json::{Value, json};

fn status(s: &Served) -> Value {
    rt().block_on(async { client().get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap() })
}

fn server(s: &Served, name: &str) -> Value {
    status(s)["servers"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().unwrap()
}

/// Waits (polling /status within the hang limit) until server `name` satisfies `f`; returns its row.
#[track_caller]
fn until(s: &Served, name: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = eventually(LIMIT, || {
        last = server(s, name);
        f(&last)
    });
    assert!(ok, "never happened: {what}; last status {last}");
    last
}

fn post(s: &Served, path: &str, token: Option<&str>) -> (u16, Value) {
    rt().block_on(async {
        let mut r = client().post(format!("{}{path}", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

fn call(s: &Served, tool: &str) -> (u16, Option<String>, Value) {
    rt().block_on(async {
        let body = json!({"tool": tool, "arguments": {"text": "hi"}});
        let r = client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry, r.json().await.unwrap())
    })
}

fn kit(extra: &str) -> String {
    format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{extra}\n")
}

#[test]
fn a_crash_looping_server_is_retried_forever_by_the_gateway_but_not_with_give_up() {
    let env = Env::new();
    let looping = |name: &str, extra: &str| {
        format!(
            "[servers.{name}]\ncommand = \"sh\"\nargs = [\"-c\", \"echo boom-{name} >&2; exit 3\"]\n\
             restart = {{ max_restarts = 1, backoff_ms = 20, max_backoff_ms = 200{extra} }}\n"
        )
    };
    env.config(&format!("{}{}{}", kit(""), looping("loop", ""), looping("quits", ", give_up = true")));
    let s = serve(&env, &[]);
    // Past the cap (1 restart) and still trying, with its stderr kept and the next attempt shown.
    let row = until(&s, "loop", "restarted past the cap", |r| r["restarts"].as_u64().unwrap_or(0) >= 4);
    assert_ne!(row["state"], "failed", "{row}");
    assert!(row["last_error"].as_str().unwrap().contains("boom-loop"), "{row}");
    assert!(row["crashes_10m"].as_u64().unwrap() >= 4, "{row}");
    until(&s, "loop", "backing off with a next attempt", |r| r["state"] == "down" && r["next_attempt"].is_string());
    let quit = until(&s, "quits", "gave up", |r| r["state"] == "failed");
    assert!(quit["last_error"].as_str().unwrap().contains("gave up after 1 restarts"), "{quit}");
    // The healthy server is unaffected.
    assert_eq!(call(&s, "kit__echo").0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_faces_keep_the_fail_fast_cap() {
    use hub::registry::{Phase, Registry};
    let text = "[servers.loop]\ncommand = \"sh\"\nargs = [\"-c\", \"exit 3\"]\nrestart = { max_restarts = 1, backoff_ms = 20 }\n";
    let config = crate::util::unpinned(hub::config::parse(text, "test", &|_| None).unwrap());
    assert!(!config.long_running, "a parsed config is one-shot until a face says otherwise");
    let registry = Registry::start(&config).await;
    let mut changes = registry.subscribe();
    let gave_up = tokio::time::timeout(LIMIT, async {
        while registry.server("loop").unwrap().phase() != Phase::Failed {
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(gave_up.is_ok(), "the one-shot registry gave up after the cap");
    let row = registry.status(false).await.remove(0);
    assert_eq!(row.restarts, 1);
    assert!(row.last_error.unwrap().contains("gave up after 1 restarts"));
    registry.shutdown().await;
}

#[test]
fn a_hang_in_initialize_and_a_vanished_binary_are_retried_until_they_work() {
    let env = Env::new();
    let bin = env.path("kit-bin");
    std::fs::copy(HUB, &bin).unwrap();
    let text = format!(
        "[servers.hang]\ncommand = \"sh\"\nargs = [\"-c\", \"sleep 600\"]\nstartup_timeout_s = 0.3\n\
         restart = {{ backoff_ms = 20, max_backoff_ms = 100 }}\n\
         [servers.kit]\ncommand = \"{}\"\nargs = [\"server\", \"testkit\"]\nrestart = {{ backoff_ms = 20, max_backoff_ms = 300 }}\n",
        bin.display()
    );
    env.config(&text);
    let s = serve(&env, &[]);
    let hang = until(&s, "hang", "tried again after the startup timeout", |r| r["crashes_10m"].as_u64() >= Some(2));
    assert_ne!(hang["state"], "failed", "{hang}");
    let pid = server(&s, "kit")["pid"].as_u64().unwrap();
    std::fs::remove_file(&bin).unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let gone = until(&s, "kit", "a clear error for the missing binary", |r| {
        r["crashes_10m"].as_u64() >= Some(2) && r["last_error"].as_str().unwrap_or("").contains("kit-bin")
    });
    assert_ne!(gone["state"], "failed", "{gone}");
    std::fs::copy(HUB, &bin).unwrap();
    until(&s, "kit", "back once the binary is back", |r| r["state"] == "up");
    assert_eq!(call(&s, "kit__echo").0, 200);
}

#[test]
fn down_calls_fail_at_once_with_retry_after() {
    let env = Env::new();
    env.config(&kit("restart = { backoff_ms = 10000 }"));
    let s = serve(&env, &[]);
    let pid = server(&s, "kit")["pid"].as_u64().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    until(&s, "kit", "down", |r| r["state"] == "down");
    let (code, retry, body) = call(&s, "kit__echo");
    assert_eq!(code, 503, "{body}");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=10).contains(&secs), "Retry-After {secs}");
    assert!(body["error"].as_str().unwrap().contains("next attempt in"), "{body}");
}

#[test]
fn an_operator_restarts_and_stops_a_server() {
    let env = Env::new();
    env.config(&kit(""));
    let s = serve(&env, &["--admin-token", "sesame"]);
    let before = server(&s, "kit");
    assert_eq!(post(&s, "/servers/kit/restart", None).0, 401);
    assert_eq!(post(&s, "/servers/kit/restart", Some("wrong")).0, 401);
    assert_eq!(post(&s, "/servers/nope/restart", Some("sesame")).0, 404);
    let (code, answer) = post(&s, "/servers/kit/restart", Some("sesame"));
    assert_eq!((code, answer["accepted"].as_str()), (202, Some("now")), "{answer}");
    let after = until(&s, "kit", "restarted", |r| r["state"] == "up" && r["pid"] != before["pid"]);
    assert_eq!(after["restarts"].as_u64(), before["restarts"].as_u64().map(|n| n + 1));
    // Out of service on purpose: calls fail fast and say so; `hub restart` brings it back.
    assert_eq!(post(&s, "/servers/kit/stop", Some("sesame")).0, 202);
    until(&s, "kit", "stopped", |r| r["state"] == "stopped");
    let (code, _, body) = call(&s, "kit__echo");
    assert_eq!(code, 503);
    assert!(body["error"].as_str().unwrap().contains("stopped by the operator"), "{body}");
    let mut env2 = Env::new();
    env2.set("HUB_ADMIN_TOKEN", "sesame");
    env2.run(&["restart", "kit", "--hub", &s.base]).ok();
    until(&s, "kit", "back after hub restart", |r| r["state"] == "up");
    assert_eq!(call(&s, "kit__echo").0, 200);
    let run = env2.run(&["restart", "nope", "--hub", &s.base]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no server 'nope'"), "{}", run.stderr);
}

/// Concurrent restart requests make one restart: the second, asked while the first is under way (a restart
/// takes at least the child's exit grace, far longer than two calls in a row), is told so and does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_restart_requests_under_way_make_one_restart() {
    use hub::registry::{Accepted, Phase, Registry};
    let config = crate::util::unpinned(hub::config::parse(&kit(""), "test", &|_| None).unwrap());
    let registry = Registry::start(&config).await;
    let mut changes = registry.subscribe();
    let before = registry.status(false).await.remove(0);
    let (a, b) = (registry.restart("kit").unwrap(), registry.restart("kit").unwrap());
    assert_eq!((a, b), (Accepted::Now, Accepted::AlreadyUnderWay));
    let back = tokio::time::timeout(LIMIT, async {
        loop {
            let row = registry.status(false).await.remove(0);
            if row.state == Phase::Up && row.pid != before.pid {
                return row;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("restarted");
    assert_eq!(back.restarts, before.restarts + 1);
    assert!(matches!(registry.restart("nope"), Err(hub::registry::ControlError::Unknown { .. })));
    registry.shutdown().await;
}

#[test]
fn operator_routes_are_off_without_an_admin_token() {
    let env = Env::new();
    env.config(&kit(""));
    let s = serve(&env, &[]);
    let (code, body) = post(&s, "/servers/kit/restart", None);
    assert_eq!(code, 403);
    assert!(body["error"].as_str().unwrap().contains("--admin-token"), "{body}");
}
