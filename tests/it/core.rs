//! The core through the binary and the library: config errors, parallel connections with broken servers,
//! supervision (kill -9 and restart), deadlines with upstream cancellation, name collisions, list changes,
//! `hub tools/call/status/import-config`, and children that never outlive the hub.

use crate::util::{Env, HUB, alive, eventually};
use serde_json::json;

fn testkit(name: &str, extra: &str) -> String {
    format!("[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{extra}\n")
}

#[test]
fn the_five_servers_connect_and_list_their_tools() {
    let env = Env::new();
    let status = env.run(&["status", "--json"]).ok().json();
    let servers = status["servers"].as_array().unwrap();
    let up: Vec<&str> = servers.iter().filter(|s| s["state"] == "up").map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(up, ["analytics", "calendar", "crm", "payments", "tickets"]);
    assert!(servers.iter().filter(|s| s["state"] == "up").all(|s| s["pid"].is_u64() && s["ping_ms"].is_f64()));
    let tools = env.run(&["tools", "--json"]).ok().json();
    assert_eq!(tools["count"], 21);
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"crm__get_customer") && names.contains(&"payments__retry_payment"));
    let table = env.run(&["tools"]).ok().stdout;
    assert!(table.contains("calendar__cancel_meeting") && table.contains("destructive") && table.contains("read-only"));
}

#[test]
fn broken_servers_are_reported_and_the_others_work() {
    let env = Env::new();
    env.config(&format!(
        "{}\n{}[servers.missing]\ncommand = \"/nonexistent/mcp-server\"\n\n[servers.quits]\ncommand = \"sh\"\nargs = [\"-c\", \"echo boom: bad flag >&2; exit 3\"]\n\n[servers.hangs]\ncommand = \"sleep\"\nargs = [\"600\"]\nstartup_timeout_s = 1.0\n\n[servers.garbage]\ncommand = \"sh\"\nargs = [\"-c\", \"echo this is not json; echo oops >&2; sleep 600\"]\nstartup_timeout_s = 1.0\n",
        Env::server_entry("crm", "crm"),
        testkit("kit", "")
    ));
    let run = env.run(&["status", "--json"]).ok();
    let status = run.json();
    let by = |n: &str| status["servers"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap().clone();
    assert_eq!(by("crm")["state"], "up");
    assert_eq!(by("kit")["state"], "up");
    let err = |n: &str| by(n)["last_error"].as_str().unwrap_or("").to_string();
    assert_ne!(by("missing")["state"], "up");
    assert!(err("missing").contains("cannot start"), "{}", err("missing"));
    assert!(err("quits").contains("boom: bad flag"), "stderr tail in the reason: {}", err("quits"));
    assert!(err("hangs").contains("within 1.0s"), "{}", err("hangs"));
    assert!(err("garbage").contains("oops") || err("garbage").contains("within"), "{}", err("garbage"));
    // The working servers are callable in the same configuration.
    env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]).ok();
}

#[test]
fn a_required_server_that_fails_exits_2() {
    let env = Env::new();
    env.config(&format!(
        "{}\n[servers.needed]\ncommand = \"/nonexistent/x\"\nrequired = true\n",
        Env::server_entry("crm", "crm")
    ));
    let run = env.run(&["tools"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("required server 'needed'") && run.stderr.contains("cannot start"), "{}", run.stderr);
}

#[test]
fn call_prints_results_and_fails_clearly() {
    let env = Env::new();
    let out = env.run(&["call", "payments.get_subscription", r#"{"customer_id": "john.smith@acme.com"}"#]).ok();
    assert_eq!(out.json()["status"], "past_due");
    let raw = env.run(&["call", "crm__get_customer", r#"{"id":"cus_000001"}"#, "--json"]).ok().json();
    assert!(raw["structuredContent"]["customer"].is_object() && raw["content"].is_array());
    let typo = env.run(&["call", "crm__get_custmer", "{}"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("unknown tool 'crm__get_custmer'") && typo.stderr.contains("crm__get_customer"),
        "{}",
        typo.stderr
    );
    let is_error = env.run(&["call", "crm__get_customer", r#"{"id":"cus_999999"}"#]);
    assert_eq!(is_error.code, 1);
    assert!(is_error.stderr.contains("not found"), "{}", is_error.stderr);
    let bad_json = env.run(&["call", "crm__get_customer", "{id:"]);
    assert_eq!(bad_json.code, 2);
    assert!(bad_json.stderr.contains("not valid JSON"));
    let not_object = env.run(&["call", "crm__get_customer", "[1]"]);
    assert_eq!(not_object.code, 2);
    let stdin = env.run_with(&["call", "crm.get_customer", "-"], r#"{"email":"john.smith@acme.com"}"#).ok();
    assert_eq!(stdin.json()["customer"]["name"], "John Smith");
}

#[test]
fn config_errors_exit_2_with_file_line_and_key() {
    let env = Env::new();
    let cases = [
        ("[servers.a]\ncommand = \"x\"\ncomand = \"y\"\n", "servers.toml:3:"),
        ("[servers.a]\ncommand = \"x\"\nurl = \"http://127.0.0.1:1/mcp\"\n", "not both"),
        ("[servers.a]\nenabled = true\n", "set command"),
        ("[servers.a]\ncommand = \"${HUB_TEST_UNDEFINED}\"\n", "HUB_TEST_UNDEFINED"),
        ("[servers.a]\ncommand = \"x\"\n[servers.a]\ncommand = \"y\"\n", "servers.toml:3:"),
        ("[servers.a]\ncommand = 5\n", "servers.toml:2:"),
    ];
    for (text, expect) in cases {
        env.config(text);
        let run = env.run(&["tools"]);
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{text}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one clear line: {}", run.stderr);
    }
    let explicit = env.run(&["--config", "/nonexistent.toml", "tools"]);
    assert_eq!(explicit.code, 2);
    assert!(explicit.stderr.contains("/nonexistent.toml"));
}

#[test]
fn import_config_round_trip() {
    let env = Env::new();
    let json = format!(
        r#"{{"mcpServers": {{"kit": {{"command": "{HUB}", "args": ["server", "testkit"], "env": {{"HUB_TESTKIT_TOOLS": "2"}}}},
             "web": {{"url": "http://127.0.0.1:9/mcp", "disabled": true}}}}}}"#
    );
    let file = env.write("claude.json", &json);
    let toml = env.run(&["import-config", file.to_str().unwrap()]).ok().stdout;
    env.config(&toml);
    let tools = env.run(&["tools", "--json"]).ok().json();
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"kit__echo") && names.iter().any(|n| n.starts_with("kit__weather_tool_")), "{names:?}");
    assert_eq!(tools["servers"]["web"]["state"], "disabled");
    let bad = env.write("bad.json", "{\"mcpServers\": {\"x\": {\"args\": []}}}");
    let run = env.run(&["import-config", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("x: has neither a command nor a url"), "{}", run.stderr);
}

#[test]
fn same_tool_names_on_two_servers_stay_distinct() {
    let env = Env::new();
    env.config(&format!("{}\n{}", testkit("alpha", ""), testkit("beta", "tools.deny = [\"crash\"]")));
    let tools = env.run(&["tools", "--json"]).ok().json();
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"alpha__echo") && names.contains(&"beta__echo"));
    assert!(names.contains(&"alpha__crash") && !names.contains(&"beta__crash"), "deny hides a tool");
    let a = env.run(&["call", "alpha.echo", r#"{"text":"from a"}"#]).ok().json();
    assert_eq!(a["text"], "from a");
    env.run(&["call", "beta__echo", r#"{"text":"from b"}"#]).ok();
    let denied = env.run(&["call", "beta.crash", "{}"]);
    assert_eq!(denied.code, 1, "a denied tool is not callable");
}

#[test]
fn odd_and_long_names_are_sanitised() {
    let mut env = Env::new();
    let long = "l".repeat(90);
    env.set("HUB_TESTKIT_NAMES", &format!("dotted.name,with space,{long}"));
    env.config(&testkit("kit", ""));
    let tools = env.run(&["tools", "--json"]).ok().json();
    for t in tools["tools"].as_array().unwrap() {
        let n = t["name"].as_str().unwrap();
        assert!(n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{n}");
    }
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"kit__dotted_name") && names.contains(&"kit__with_space"));
    let long_name = names.iter().find(|n| n.starts_with("kit__lll")).unwrap();
    assert_eq!(long_name.len(), 64);
    env.run(&["call", long_name, "{}"]).ok();
    env.run(&["call", "kit.dotted.name", "{}"]).ok();
}

#[test]
fn a_slow_call_times_out_and_the_server_sees_the_cancellation() {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&testkit("kit", "timeout_s = 0.5"));
    let run = env.run(&["call", "kit__sleep", r#"{"ms": 20000}"#]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("timed out after 0.5s"), "{}", run.stderr);
    assert!(
        eventually(crate::util::LIMIT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("cancelled sleep")),
        "server log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn children_never_outlive_the_hub() {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&testkit("kit", "timeout_s = 120"));
    let status = env.run(&["status", "--json"]).ok().json();
    let pid = status["servers"][0]["pid"].as_u64().unwrap() as u32;
    assert!(eventually(crate::util::LIMIT, || !alive(pid)), "normal exit stops the child");

    for (signal, code) in [(libc::SIGTERM, Some(130)), (libc::SIGINT, Some(130)), (libc::SIGKILL, None)] {
        let _ = std::fs::remove_file(&log);
        let mut child = env.command(&["call", "kit__sleep", r#"{"ms": 60000}"#]).spawn().unwrap();
        let started = eventually(crate::util::LIMIT, || {
            std::fs::read_to_string(&log).unwrap_or_default().contains("start sleep")
        });
        assert!(started, "the call reached the server");
        let line = std::fs::read_to_string(&log).unwrap();
        let server_pid: u32 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), code, "signal {signal}");
        assert!(
            eventually(crate::util::LIMIT, || !alive(server_pid)),
            "child {server_pid} outlived the hub after signal {signal}"
        );
    }
}

/// Waits (on the registry's change notifications, within the hang limit) until `f` holds.
async fn until(
    registry: &hub::registry::Registry,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    what: &str,
    f: impl Fn(&hub::registry::Registry) -> bool,
) {
    let waited = tokio::time::timeout(crate::util::LIMIT, async {
        while !f(registry) {
            changes.changed().await.expect("registry gone");
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}

fn phase(registry: &hub::registry::Registry, name: &str) -> hub::registry::Phase {
    registry.server(name).unwrap().phase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_calls_fail_fast_then_the_server_is_back() {
    use hub::registry::Phase;
    // The backoff keeps the server down long enough to be called while down, whatever the machine's load.
    let text = format!("{}\n{}", Env::server_entry("crm", "crm"), testkit("kit", "restart = { backoff_ms = 5000 }"));
    let env = Env::new();
    let vars = |k: &str| env.vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let config = crate::util::unpinned(hub::config::parse(&text, "test", &vars).unwrap());
    // The servers read HUB_DATA_DIR from the environment they inherit.
    let mut cfg = config.clone();
    for s in &mut cfg.servers {
        if let hub::config::Transport::Stdio { env: e, .. } = &mut s.transport {
            e.extend(env.vars.iter().cloned());
        }
    }
    let registry = hub::registry::Registry::start(&cfg).await;
    let mut changes = registry.subscribe();
    let pid = registry.status(false).await.iter().find(|s| s.name == "kit").unwrap().pid.unwrap();
    registry.call("kit__echo", Some(json!({"text": "hi"}).as_object().unwrap().clone())).await.unwrap();
    changes.mark_unchanged();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    until(&registry, &mut changes, "kit down", |r| phase(r, "kit") == Phase::Down).await;
    // Calls fail with a clear error (never hang) while it is down.
    let e = registry.call("kit__echo", Some(serde_json::Map::new())).await.expect_err("kit is down");
    assert!(e.to_string().contains("server 'kit' is down"), "{e}");
    // The other server is unaffected.
    registry.call("crm__get_customer", Some(json!({"id": "cus_000001"}).as_object().unwrap().clone())).await.unwrap();
    until(&registry, &mut changes, "kit back up", |r| phase(r, "kit") == Phase::Up).await;
    registry.call("kit__echo", Some(serde_json::Map::new())).await.expect("the server was restarted");
    let st = registry.status(false).await;
    let kit = st.iter().find(|s| s.name == "kit").unwrap();
    assert_eq!(kit.restarts, 1);
    assert!(kit.last_error.as_deref().unwrap_or("").contains("signal 9"), "{:?}", kit.last_error);
    // tools/list_changed from the server updates the index.
    let before = registry.index().len();
    registry.call("kit__grow", Some(serde_json::Map::new())).await.unwrap();
    until(&registry, &mut changes, "list_changed re-listed the tools", |r| r.index().len() == before + 1).await;
    let pids: Vec<u32> = registry.status(false).await.iter().filter_map(|s| s.pid).collect();
    assert_eq!(pids.len(), 2);
    registry.shutdown().await;
    assert!(pids.iter().all(|p| !alive(*p)), "shutdown stops every child");
}
