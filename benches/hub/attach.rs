//! `cargo bench --bench hub -- attach` (issue 18): `hub ask` end to end with its own servers (`--no-hub`) and
//! attached to a running `hub serve` on its Unix socket, with the same zero-latency scripted model as `ask_model`
//! (3 turns, 5 tool calls) — for the five business servers and for 100 configured servers (testkit processes) —
//! and the attach overhead alone: a one-turn answer with no tool call, whole process.

use super::model::{self, Model, Reply};
use super::{HUB, Usage, run_measured, summary};

const RUNS: usize = 30;

/// The model's replies: 3 turns, 1 + 4 parallel tool calls, then the answer.
fn three_turns(tools: [&str; 5]) -> Vec<Reply> {
    vec![
        model::calls(&[("c0", tools[0], r#"{"id":"cus_000001"}"#)]),
        model::calls(&[
            ("c1", tools[1], r#"{"customer_id":"cus_000001"}"#),
            ("c2", tools[2], r#"{"customer_id":"cus_000001","status":"open"}"#),
            ("c3", tools[3], r#"{"customer_id":"cus_000001"}"#),
            ("c4", tools[4], r#"{"customer_id":"cus_000001"}"#),
        ]),
        model::answer("done"),
    ]
}

/// `RUNS` measured `hub ask` processes (after one warm-up), each with a fresh scripted model.
fn asks(dir: &std::path::Path, flags: &[&str], script: &dyn Fn() -> Vec<Reply>) -> Vec<Usage> {
    (0..=RUNS)
        .map(|_| {
            let replies = script();
            let turns = replies.len();
            let m = Model::start(replies);
            let args = [flags, &["ask", "What is going on with cus_000001?"]].concat();
            let mut c = super::scripted(dir, &m.url, &args);
            c.env("XDG_RUNTIME_DIR", dir.join("rt"));
            let u = run_measured(&mut c);
            assert_eq!(m.requests().len(), turns, "every turn was asked");
            u
        })
        .skip(1)
        .collect()
}

fn report(label: &str, runs: &[Usage]) {
    summary(&format!("{label} — wall"), runs.iter().map(|u| u.wall).collect());
    summary(&format!("{label} — cpu (the ask process and its children)"), runs.iter().map(|u| u.cpu).collect());
}

/// Spawned vs attached for the configuration in `dir`.
fn compare(dir: &std::path::Path, what: &str, script: &dyn Fn() -> Vec<Reply>) {
    report(&format!("{what}, spawned (--no-hub)"), &asks(dir, &["--no-hub"], script));
    let (mut hub, _) = super::serve::start_with(HUB, dir, &["--socket", dir.join("rt/hub/hub.sock").to_str().unwrap()]);
    report(&format!("{what}, attached"), &asks(dir, &[], script));
    let _ = hub.kill();
    let _ = hub.wait();
}

pub fn attach() {
    println!("## attach: `hub ask` with its own servers vs attached to `hub serve` (socket), scripted model");
    let dir = tempfile::tempdir().unwrap();
    let business = || {
        let tools = ["crm__get_customer", "payments__get_subscription", "tickets__list_tickets"];
        three_turns([tools[0], tools[1], tools[2], "payments__get_payment_history", "calendar__list_meetings"])
    };
    compare(dir.path(), "5 business servers, 3 turns, 5 tool calls", &business);
    compare(dir.path(), "5 business servers, 1 turn, no tool call", &|| vec![model::answer("hello")]);

    let many = tempfile::tempdir().unwrap();
    let config: String = (1..=100)
        .map(|i| format!("[servers.kit{i}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"))
        .collect();
    std::fs::write(many.path().join("servers.toml"), config).unwrap();
    let kits = || three_turns(["kit1__echo", "kit25__echo", "kit50__echo", "kit75__echo", "kit100__echo"]);
    compare(many.path(), "100 testkit servers, 3 turns, 5 tool calls", &kits);
}
