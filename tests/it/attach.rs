//! Attaching to a running hub (issue 18, part 1): `hub serve` listens on its Unix socket (0600 in a 0700
//! directory); `hub call`, `tools`, `status` and `ask` use it — the hub's servers, not new ones — and say so
//! (`"via"`); `--no-hub` starts its own; a hub that stops takes its socket with it and the next command falls back;
//! a hub that dies mid-question fails the question at once; `--hub` names a hub (socket or URL), and one that does
//! not answer is an error; what a server asks through the hub (sampling) is answered under that server's policy.

use crate::model::{Model, answer, calls};
use crate::util::{Env, LIMIT, eventually, serve_socket};
use std::os::unix::fs::PermissionsExt;

fn servers_pids(doc: &serde_json::Value) -> Vec<u64> {
    let mut pids: Vec<u64> = doc["servers"].as_array().unwrap().iter().filter_map(|s| s["pid"].as_u64()).collect();
    pids.sort();
    pids
}

#[test]
fn commands_use_the_running_hub_and_fall_back_without_it() {
    let env = Env::new();
    env.config(&format!("{}{}", Env::server_entry("crm", "crm"), Env::server_entry("tickets", "tickets")));
    let mut hub = serve_socket(&env, &[]);
    let socket = env.path("rt/hub/hub.sock");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "the socket is the user's alone");
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    let via = format!("hub {}", socket.display());

    // The hub's servers answer: the status is the hub's own (its children's pids), no new server is started.
    let hub_status: serde_json::Value = crate::util::rt().block_on(async {
        crate::util::client().get(format!("{}/status", hub.base)).send().await.unwrap().json().await.unwrap()
    });
    let status = env.run(&["status", "--json"]).ok().json();
    assert_eq!(status["via"], via.as_str());
    assert_eq!(servers_pids(&status), servers_pids(&hub_status), "{status}");
    assert_eq!(status["servers"].as_array().unwrap().len(), 2);
    let table = env.run(&["status", "crm"]).ok().stdout;
    assert!(table.contains("crm") && !table.contains("tickets") && table.contains(&format!("(via {via})")), "{table}");

    let call = env.run(&["-v", "call", "crm__get_customer", r#"{"id": "cus_000001"}"#]).ok();
    assert_eq!(call.json()["customer"]["email"], "john.smith@acme.com");
    assert!(call.stderr.contains("attached to the hub at unix://"), "-v says so: {}", call.stderr);
    let tools = env.run(&["tools", "--json"]).ok().json();
    assert_eq!(tools["via"], via.as_str());
    let names: Vec<(&str, &str)> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["server"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&("crm__get_customer", "crm")) && names.contains(&("tickets__list_tickets", "tickets")));
    assert_eq!(names.len(), 9, "the hub's index, as it names it: {names:?}");
    let unknown = env.run(&["call", "crm__get_custmer", "{}"]);
    assert!(unknown.code == 1 && unknown.stderr.contains("did you mean crm__get_customer"), "{}", unknown.stderr);

    // ask: the offline planner and the model loop both run here, on the hub's tools.
    let offline = env.run(&["--offline", "ask", "--json", "What is the subscription status of john.smith@acme.com?"]);
    let offline = offline.ok().json();
    assert!(offline["via"] == via.as_str() && offline["status"] == "ok", "{offline}");
    // The hub names its tools `server__tool`: the planner reads them by their own names all the same.
    assert!(offline["answer"].as_str().unwrap().starts_with("John Smith (Acme Corp): "), "{offline}");
    let m = Model::start(vec![
        calls(&[("c1", "crm__update_customer", r#"{"id": "cus_000001", "plan": "free"}"#)]),
        answer("I may not change it without your approval."),
    ]);
    env.config(&format!("{}{}", m.config(""), Env::server_entry("crm", "crm")));
    let asked = env.run(&["ask", "--json", "Downgrade John Smith to free"]).ok().json();
    assert_eq!(asked["via"], via.as_str());
    let record = &asked["tool_calls"][0];
    assert!(record["denied"] == true && record["server"] == "crm", "approvals stay on this side: {record}");

    // TAB completes tools from the hub: tickets is the hub's, no longer in this servers.toml.
    let out = env
        .command(&["--", "hub", "call", "tickets__l"])
        .env("HUB_COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tickets__list_tickets", "completed from the hub");

    assert_eq!(env.run(&["--no-hub", "status", "--json"]).ok().json()["via"], "spawned");
    let missing = env.run(&["--hub", env.path("nowhere.sock").to_str().unwrap(), "tools"]);
    assert!(missing.code == 1 && missing.stderr.contains("no hub answers at"), "{}", missing.stderr);
    let by_url = env.run(&["--hub", &hub.base, "tools", "--json"]).ok().json();
    assert_eq!(by_url["via"], format!("hub {}/mcp", hub.base));

    // A second gateway does not take the socket of a live one.
    let second = env.run(&["serve", "--http", "127.0.0.1:0"]);
    assert!(second.code == 2 && second.stderr.contains("another hub serves"), "{}", second.stderr);
    assert_eq!(hub.stop(), Some(0));
    assert!(!socket.exists(), "the socket goes with the hub");
    assert_eq!(env.run(&["status", "--json"]).ok().json()["via"], "spawned", "the next command falls back");
}

/// A hub serving testkit `kit` on its socket, the kit's call log, and the `[servers.kit]` entry.
fn kit_hub(env: &mut Env) -> (crate::util::Served, std::path::PathBuf, String) {
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    let kit = format!("[servers.kit]\ncommand = \"{}\"\nargs = [\"server\", \"testkit\"]\n", crate::util::HUB);
    env.config(&kit);
    (serve_socket(env, &[]), log, kit)
}

/// SIGKILLs the hub once kit's sleep has started on it.
fn kill_during_sleep(hub: &crate::util::Served, log: &std::path::Path) {
    let started = eventually(LIMIT, || std::fs::read_to_string(log).unwrap_or_default().contains("start sleep"));
    assert!(started, "the call reached the hub's server");
    unsafe { libc::kill(hub.child.id() as i32, libc::SIGKILL) };
}

#[test]
fn a_hub_that_dies_mid_question_fails_it_at_once() {
    let mut env = Env::new();
    let (hub, log, kit) = kit_hub(&mut env);
    let m = Model::start(vec![calls(&[("c1", "kit__sleep", r#"{"ms": 60000}"#)]), answer("never asked")]);
    env.config(&format!("{}{kit}", m.config("")));
    let asking = env.spawn_piped(&["ask", "sleep a minute"]);
    kill_during_sleep(&hub, &log);
    let out = crate::util::wait_limited(asking, LIMIT).expect("the question ended, no hang");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the hub went away during the question"), "{stderr}");
    assert_eq!(m.requests().len(), 1, "the model is not asked again after the hub is gone");
    drop(hub);
    // A stale socket file is no obstacle: the next command starts its own servers.
    let status = env.run(&["status", "--json"]).ok().json();
    assert_eq!(status["via"], "spawned");
}

#[test]
fn chat_goes_on_with_its_own_servers_after_its_hub_died() {
    use std::io::{BufRead, Write};
    let mut env = Env::new();
    let (hub, log, kit) = kit_hub(&mut env);
    let m = Model::start(vec![
        calls(&[("c1", "kit__sleep", r#"{"ms": 60000}"#)]),
        calls(&[("c2", "kit__echo", r#"{"text": "still here"}"#)]),
        answer("The echo said: still here."),
    ]);
    env.config(&format!("{}{kit}", m.config("")));
    let mut chat = env.spawn_piped(&["chat"]);
    let mut input = chat.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = chat.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |what: &str| {
        let found = std::iter::from_fn(|| rx.recv_timeout(LIMIT).ok()).any(|l| l.contains(what));
        assert!(found, "stderr never said {what:?}");
    };
    writeln!(input, "sleep a minute").unwrap();
    kill_during_sleep(&hub, &log);
    wait_for("the hub went away during the question");
    writeln!(input, "echo something").unwrap();
    wait_for("the servers now run here");
    drop(input);
    let out = crate::util::wait_limited(chat, LIMIT).expect("chat ends at EOF");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("The echo said: still here."), "{stdout}");
    let echoed = m.requests()[2].to_string();
    assert!(echoed.contains("still here"), "the echo ran on the chat's own kit: {echoed}");
    drop(hub);
}

#[test]
fn what_a_server_asks_through_the_hub_is_answered_under_that_servers_own_policy() {
    let model = Model::start(vec![answer("Hello from the model.")]);
    let env = Env::new();
    let kit = |extra: &str| {
        let entry = format!("[servers.kit]\ncommand = \"{}\"\nargs = [\"server\", \"testkit\"]\n", crate::util::HUB);
        format!("{}{entry}{extra}\n", model.config(""))
    };
    env.config(&kit("sampling = \"always\""));
    let _hub = serve_socket(&env, &[]);
    // The hub relays kit's request to this command, naming kit: kit's "always" applies, not the "ask" of the
    // connection to the hub, and this command's model answers.
    let sampled = env.run(&["-v", "call", "kit__sample"]).ok();
    assert!(sampled.stderr.contains("attached to the hub"), "{}", sampled.stderr);
    assert_eq!(sampled.json()["model"], "scripted", "{}", sampled.stderr);
    assert_eq!(model.requests().len(), 1);
    env.config(&kit("sampling = \"never\""));
    let never = env.run(&["call", "kit__sample"]);
    assert!(never.stderr.contains(r#"sampling = "never" for it"#), "{}", never.stderr);
    assert_eq!(model.requests().len(), 1, "a refused request never reaches the model");
}

#[test]
fn an_attached_command_warns_about_the_servers_behind_the_hub_as_one_of_its_own_would() {
    let mut env = Env::new();
    env.set("HUB_BADKIT_MODE", "mixed");
    let hub = crate::util::HUB;
    env.config(&format!(
        "[servers.bad]\ncommand = \"{hub}\"\nargs = [\"server\", \"badkit\"]\nrestart = {{ max_restarts = 0 }}\n\
         [servers.gone]\ncommand = \"/nonexistent/server\"\nrestart = {{ max_restarts = 0 }}\n\
         [servers.kit]\ncommand = \"{hub}\"\nargs = [\"server\", \"testkit\"]\n"
    ));
    let _hub = serve_socket(&env, &[]);
    let run = env.run(&["tools", "--json"]).ok();
    let doc = run.json();
    assert!(doc["via"].as_str().unwrap().starts_with("hub "), "{doc}");
    assert!(run.stderr.contains("server 'gone' (behind the hub) is"), "{}", run.stderr);
    assert!(run.stderr.contains("server 'bad': tool 'ping' skipped"), "{}", run.stderr);
    assert_ne!(doc["servers"]["gone"]["state"], "up", "{doc}");
    let problems = doc["servers"]["bad"]["problems"].as_array().unwrap();
    assert_eq!(problems.iter().filter(|p| p["action"] == "skipped").count(), 10, "{problems:#?}");
    let own = env.run(&["--no-hub", "tools", "--json"]).ok().json();
    assert_eq!(own["servers"]["bad"]["problems"], doc["servers"]["bad"]["problems"], "the same report either way");
}
