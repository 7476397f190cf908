//! `[[plugins]]` as real processes: the shipped example (examples/plugin.py) rewrites arguments, refuses a call and
//! rewrites a result; a plugin that crashes, hangs, stops reading, prints garbage, answers another call or answers in the wrong
//! shape fails only the calls it covers (denied, or passed under `on_error = "pass"`), with a clear message; a
//! plugin that dies fails the call in flight and is started again for the next; and no plugin outlives hub.

use crate::util::{Env, HUB, LIMIT, alive, client, eventually, rt, serve};
use serde_json::{Value, json};

const PYTHON: &str = "python3";

/// Writes a config of crm and payments and `plugins`.
fn configure(env: &Env, plugins: &str) {
    let servers: String = ["crm", "payments"]
        .iter()
        .map(|s| format!("[servers.{s}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"{s}\"]\n"))
        .collect();
    env.config(&format!("{servers}\n{plugins}"));
}

/// A `[[plugins]]` entry running `script` (written into the env) under python3.
fn plugin(env: &Env, name: &str, script: &str, extra: &str) -> String {
    let path = env.write(&format!("{name}.py"), script);
    format!(
        "[[plugins]]\nname = \"{name}\"\ncommand = \"{PYTHON}\"\nargs = [\"{}\"]\nhooks = [\"before_call\", \"after_call\"]\n\
         tools = [\"crm__*\"]\n{extra}\n",
        path.display()
    )
}

#[test]
fn the_example_plugin_rewrites_refuses_and_masks() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/plugin.py");
    let env = Env::new();
    configure(
        &env,
        &format!(
            "[[plugins]]\ncommand = \"{PYTHON}\"\nargs = [\"{example}\"]\nhooks = [\"before_call\", \"after_call\"]\n"
        ),
    );
    let found = env.run(&["call", "crm__get_customer", r#"{"email": "  John.Smith@ACME.com "}"#]).ok().json();
    assert_eq!(found["customer"]["name"], "John Smith", "the email was normalized before the call");
    assert_eq!(found["customer"]["phone"], "[phone]", "{found}");
    let upgrade = r#"{"id": "cus_000001", "plan": "enterprise"}"#;
    let refused = env.run(&["call", "crm__update_customer", upgrade]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "plugin 'plugin.py' denied the call to 'crm__update_customer': enterprise upgrades go through sales"
        ),
        "{}",
        refused.stderr
    );
    let after = env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]).ok().json();
    assert_eq!(after["customer"]["plan"], "business", "the refused call never reached the server");
}

const CRASH: &str = "import sys\nsys.exit(3)\n";
const WRONG_SHAPE: &str = "import json, sys\nfor line in sys.stdin:\n    m = json.loads(line)\n    \
    print(json.dumps({'id': m['id'], 'result': {'content': []}}), flush=True)\n";

#[test]
fn a_broken_plugin_fails_only_the_calls_it_covers() {
    let env = Env::new();
    let twice = plugin(&env, "shape", WRONG_SHAPE, "tools = [\"payments__*\"]");
    configure(&env, &twice);
    let dup = env.run(&["tools"]);
    assert_eq!(dup.code, 2, "`tools` twice in one entry: {}", dup.stderr);
    assert!(dup.stderr.contains("servers.toml:"), "{}", dup.stderr);
    configure(&env, &plugin(&env, "crash", CRASH, ""));
    let crashed = env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]);
    assert_eq!(crashed.code, 1);
    assert!(
        crashed.stderr.contains("plugin 'crash' denied") && crashed.stderr.contains("it exited"),
        "{}",
        crashed.stderr
    );
    let other = env.run(&["call", "payments__get_subscription", r#"{"customer_id": "cus_000001"}"#]).ok();
    assert_eq!(other.json()["status"], "past_due", "a tool the plugin does not cover works");
    configure(&env, &plugin(&env, "crash", CRASH, "on_error = \"pass\""));
    env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]).ok();
    // A plugin that never reads its input: the call is refused once the pipe stays full past the deadline.
    configure(&env, &plugin(&env, "deaf", "import time\ntime.sleep(3600)\n", ""));
    let big = format!(r#"{{"id": "cus_000001", "pad": "{}"}}"#, "x".repeat(100_000));
    let deaf = env.run(&["call", "crm__get_customer", &big]);
    assert_eq!(deaf.code, 1);
    assert!(deaf.stderr.contains("plugin 'deaf' denied") && deaf.stderr.contains("took no input"), "{}", deaf.stderr);
    configure(&env, &plugin(&env, "shape", WRONG_SHAPE, ""));
    let shape = env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]);
    assert_eq!(shape.code, 1);
    assert!(shape.stderr.contains("does not fit the before_call hook"), "{}", shape.stderr);
}

/// Answers its first message; then prints garbage and an answer to a call it was not asked about, then hangs.
const ONCE_THEN_GARBAGE: &str = "import json, sys, time\nfirst = True\nfor line in sys.stdin:\n    \
    m = json.loads(line)\n    if first:\n        print(json.dumps({'id': m['id']}), flush=True)\n        \
    first = False\n    else:\n        print('garbage', flush=True)\n        \
    print(json.dumps({'id': m['id'] + 1000}), flush=True)\n";

/// Notes its pid; answers every message, but exits when asked about cus_000002.
const CRASH_ON: &str = "import json, os, sys\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n\
    for line in sys.stdin:\n    m = json.loads(line)\n    if m['arguments'].get('customer_id') == 'cus_000002':\n        \
    sys.exit(1)\n    print(json.dumps({'id': m['id']}), flush=True)\n";

#[test]
fn a_late_or_garbled_plugin_is_denied_at_its_deadline_and_an_exited_one_restarts() {
    let env = Env::new();
    let pids = env.path("pids");
    let garbled = plugin(&env, "garbled", ONCE_THEN_GARBAGE, "hooks = [\"before_call\"]\ntimeout_ms = 300")
        .replace("hooks = [\"before_call\", \"after_call\"]\n", "");
    let one_shot = plugin(&env, "oneshot", CRASH_ON, "")
        .replace("tools = [\"crm__*\"]", "tools = [\"payments__*\"]")
        .replace(".py\"]", &format!(".py\", \"{}\"]", pids.display()));
    env.config(&format!(
        "[servers.crm]\ncommand = \"{HUB}\"\nargs = [\"server\", \"crm\"]\n\
         [servers.payments]\ncommand = \"{HUB}\"\nargs = [\"server\", \"payments\"]\n{garbled}\n{one_shot}"
    ));
    let mut s = serve(&env, &[]);
    let call = |tool: &str, args: Value| -> Value {
        rt().block_on(async {
            let body = json!({"tool": tool, "arguments": args});
            client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap().json().await.unwrap()
        })
    };
    let first = call("crm__get_customer", json!({"id": "cus_000001"}));
    assert_eq!(first["success"], true, "{first}");
    let late = call("crm__get_customer", json!({"id": "cus_000001"}));
    assert_eq!(late["success"], false, "{late}");
    assert!(late["error"].as_str().unwrap().contains("no answer within 300 ms"), "{late}");
    // A plugin that dies fails the call in flight; the next call starts it again.
    let ok = |r: Value| assert_eq!(r["success"], true, "{r}");
    ok(call("payments__get_subscription", json!({"customer_id": "cus_000001"})));
    let died = call("payments__get_subscription", json!({"customer_id": "cus_000002"}));
    assert!(died["error"].as_str().unwrap().contains("it exited"), "{died}");
    ok(call("payments__get_subscription", json!({"customer_id": "cus_000001"})));
    let started: Vec<u32> = std::fs::read_to_string(&pids).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(started.len(), 2, "started once, and again after it died: {started:?}");
    let script = env.path("garbled.py").display().to_string();
    let garbled_pids = running_with(&script);
    assert_eq!(garbled_pids.len(), 1, "one garbled plugin process");
    s.stop();
    for pid in started.into_iter().chain(garbled_pids) {
        assert!(eventually(LIMIT, || !alive(pid)), "plugin process {pid} outlived hub");
    }
}

/// The processes whose command line mentions `text`.
fn running_with(text: &str) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").unwrap().filter_map(Result::ok);
    let pid_of = |e: std::fs::DirEntry| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
    entries
        .filter_map(pid_of)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(text))
        })
        .collect()
}
