//! `hub triage`'s report and its Ctrl-C: the demo queue's report on the terminal, in Markdown and as an HTML page
//! opened in a real headless browser (Chromium: sorted through the address, ticket text escaped, the script run to
//! its end); report names refused before any work; the first Ctrl-C finishes the running items, writes them and
//! prints the report so far (exit 130, a rerun does the rest); a second one cancels the running items; on a
//! terminal, the bar, and Ctrl-C typed at it reaching hub alone (its servers serve the running items to the end).

use crate::model::{Model, answer, calls, tool_messages};
use crate::util::{Env, Pty, eventually, wait_limited};
use serde_json::Value;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

const OPEN: &[&str] = &["triage", "--from", "tickets__list_tickets", "--args", r#"{"status":"open"}"#];

fn lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Chromium (or Chrome) on PATH; `None` with a loud note when it is not installed and not required.
fn browser() -> Option<String> {
    let found = ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| {
        Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(std::env::var_os("HUB_REQUIRE_BROWSER").is_none(), "chromium is required (apt-get install chromium)");
        eprintln!("\n*** SKIPPED: the report page's browser check needs chromium (apt-get install chromium) ***\n");
    }
    found.map(String::from)
}

/// The page's DOM after its script ran, as headless Chromium serializes it.
fn dom(browser: &str, page: &std::path::Path, hash: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut c = Command::new(browser);
    c.args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}{hash}", page.display()))
        .env("HOME", profile.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let out = wait_limited(c.spawn().unwrap(), Duration::from_secs(120)).expect("chromium hung");
    assert!(out.status.success(), "chromium failed on {}", page.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-id`s of the items table's rows, in the order the DOM has them.
fn row_ids(dom: &str) -> Vec<String> {
    dom.split("<tr data-id=\"").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect()
}

#[test]
fn the_demo_queue_reported_on_the_terminal_in_markdown_and_as_a_page_a_browser_sorts() {
    let env = Env::new();
    let page = env.path("r.html");
    let run = env.run(&[OPEN, &["--out", "out.jsonl", "--report", page.to_str().unwrap()]].concat()).ok();
    let decided = lines(&env.path("out.jsonl"));
    let n = decided.len();
    assert!(n > 20, "{n} open tickets");
    assert!(run.stderr.contains(&format!("Triage report — {n} items: {n} ok")), "{}", run.stderr);
    assert!(run.stderr.contains("By category and priority:") && run.stderr.contains("Urgent and high ("));
    let john = decided.iter().find(|l| l["answer"]["customer"]["name"] == "John Smith").unwrap();
    let john_row = run.stderr.lines().find(|l| l.contains(john["id"].as_str().unwrap())).unwrap();
    assert!(john_row.contains("billing") && john_row.contains("John Smith (cus_000001)"), "{john_row}");
    let urgent_billing =
        decided.iter().filter(|l| l["answer"]["category"] == "billing" && l["answer"]["priority"] == "urgent").count();
    let billing_row = run.stderr.lines().find(|l| l.trim_start().starts_with("billing ")).unwrap();
    let cells: Vec<&str> = billing_row.split_whitespace().collect();
    assert_eq!(cells[4], urgent_billing.to_string(), "the urgent column of {billing_row}");

    let md = env.path("r.md");
    let again = env.run(&["triage", "report", "out.jsonl", "--report", md.to_str().unwrap()]).ok();
    assert!(again.stdout.contains(&format!("{n} items: {n} ok")));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.starts_with("# Triage report") && md.contains("| category | low | normal | high | urgent | total |"));
    assert!(md.contains("## Duplicates (") && md.contains("## Failures (0)"));

    let Some(browser) = browser() else { return };
    let ids: Vec<String> = {
        let mut v: Vec<String> = decided.iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
        v.sort();
        v.reverse();
        v
    };
    let sorted = dom(&browser, &page, "#sort=-id");
    assert!(sorted.contains("data-ready=\"1\""), "the page's script ran to its end");
    assert_eq!(row_ids(&sorted), ids, "sorted by id, descending, as the address asks");
    assert!(sorted.contains("data-col=\"id\" aria-sort=\"descending\""));
    // Unsorted, the most pressing come first: the priorities' ranks never go down.
    let plain = dom(&browser, &page, "");
    let rank = |id: &String| {
        let p = decided.iter().find(|l| l["id"] == id.as_str()).unwrap()["answer"]["priority"].clone();
        ["urgent", "high", "normal", "low"].iter().position(|x| p == *x).unwrap()
    };
    let ranks: Vec<usize> = row_ids(&plain).iter().map(rank).collect();
    assert_eq!(ranks.len(), n);
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");

    // Ticket text is written by strangers: it stays text.
    let hostile = concat!(
        r#"{"id":"T-1","status":"ok","answer":{"category":"billing","priority":"high","#,
        r#""summary":"<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>","#,
        r#""customer":{"id":"c1","name":"O'Brien"},"next_action":"call"}}"#,
        "\n",
        r#"{"id":"T-2","status":"error","answer":"","error":"the model endpoint refused: 401"}"#,
        "\n"
    );
    env.write("hostile.jsonl", hostile);
    let page = env.path("h.html");
    env.run(&["triage", "report", "hostile.jsonl", "--report", page.to_str().unwrap()]).ok();
    let d = dom(&browser, &page, "#sort=status");
    assert!(!d.contains("<img") && !d.contains("owned</title>"), "injected markup ran: {d}");
    assert!(d.contains("&lt;img src=x") && d.contains("O'Brien (c1)") && d.contains("refused: 401"));
    assert_eq!(row_ids(&d), ["T-2", "T-1"], "status: error before ok");
}

#[test]
fn report_names_and_files_that_cannot_be_are_refused_before_any_work() {
    let env = Env::new();
    let run = env.run(&[OPEN, &["--out", "out.jsonl", "--report", "r.pdf"]].concat());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("r.pdf: the name must end in .md or .html"), "{}", run.stderr);
    assert!(!env.path("out.jsonl").exists(), "nothing ran");
    let run = env.run(&["triage", "report", "missing.jsonl"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read missing.jsonl"), "{}", run.stderr);
}

fn items(n: usize) -> String {
    (0..n).map(|i| format!("{{\"id\":\"item-{i}\",\"text\":\"card declined {i}\"}}\n")).collect()
}

/// A batch of 10 items, 2 at a time, against a model holding its replies (each `reply` once released), stopped by
/// a first Ctrl-C while both items wait on it; hub's stderr lines as they come.
struct Stopping {
    model: Model,
    env: Env,
    child: std::process::Child,
    err: std::sync::mpsc::Receiver<String>,
}

fn stopping(reply: &'static str) -> Stopping {
    let model = Model::start_fn(Duration::ZERO, move |_| answer(reply));
    let env = Env::new();
    env.config(&model.config(""));
    env.write("items.jsonl", &items(10));
    model.hold();
    let mut child = env
        .command(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, err) = std::sync::mpsc::channel();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    assert!(eventually(Duration::from_secs(120), || model.in_flight() == 2), "two items waiting on the model");
    interrupt(&child);
    wait_for(&err, "stopping — no new items; finishing the 2 running");
    Stopping { model, env, child, err }
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let mut seen = vec![];
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        let found = line.contains(text);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line with {text:?} in {seen:?}");
}

fn interrupt(child: &std::process::Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

#[test]
fn ctrl_c_finishes_the_running_items_prints_the_report_so_far_and_a_rerun_does_the_rest() {
    let Stopping { model, env, child, err } = stopping("billing, high: the card was declined");
    model.release();
    let rest = wait_for(&err, "Triage report — 2 items: 2 ok").join("\n");
    let out = wait_limited(child, Duration::from_secs(120)).expect("hub ended");
    assert_eq!(out.status.code(), Some(130), "{rest}");
    let done = lines(&env.path("out.jsonl"));
    assert_eq!(done.len(), 2, "the two running items were finished and written, no other started");
    assert!(done.iter().all(|l| l["status"] == "ok" && l["answer"] == "billing, high: the card was declined"));

    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--quiet"]).ok();
    assert_eq!(run.code, 0);
    let all = lines(&env.path("out.jsonl"));
    let mut ids: Vec<&str> = all.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (10, 10), "each item exactly once");
}

#[test]
fn a_second_ctrl_c_cancels_the_running_items_and_records_none_of_them() {
    let Stopping { model, env, child, err } = stopping("never given");
    interrupt(&child);
    let said = wait_for(&err, "Triage report — 0 items").join("\n");
    let out = wait_limited(child, Duration::from_secs(120)).expect("hub ended while the model still held");
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(lines(&env.path("out.jsonl")).is_empty(), "cancelled items are not recorded (a rerun resumes them)");
    model.release();
}

#[test]
fn ctrl_c_while_the_items_are_listed_stops_at_once() {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&Env::server_entry("kit", "testkit"));
    let args = ["triage", "--from", "kit__sleep", "--args", r#"{"ms":600000}"#, "--out", "out.jsonl"];
    let child = env.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let listing = || std::fs::read_to_string(&log).unwrap_or_default().contains("sleep");
    assert!(eventually(Duration::from_secs(120), listing), "the listing call started");
    interrupt(&child);
    // The listing call sleeps ten minutes: only a cancelled one ends within the limit.
    let out = wait_limited(child, Duration::from_secs(120)).expect("hub still listing after Ctrl-C");
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines(&env.path("out.jsonl")).is_empty());
}

#[test]
fn on_a_terminal_the_bar_is_drawn_and_a_typed_ctrl_c_reaches_hub_alone() {
    let m = Model::start_fn(Duration::ZERO, |req| {
        if tool_messages(req).is_empty() {
            calls(&[("c1", "crm__get_customer", r#"{"id":"cus_000001"}"#)])
        } else {
            answer("billing, high: renewal failed")
        }
    });
    let env = Env::new();
    env.config(&format!("{}{}", m.config(""), Env::server_entry("crm", "crm")));
    env.write("items.jsonl", &items(6));
    m.hold();
    let mut pty = Pty::spawn(&env, &["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "2"]);
    assert!(eventually(Duration::from_secs(120), || m.in_flight() == 2), "two items waiting on the model");
    pty.expect("0/6 · ");
    pty.expect("ETA");
    // Typed at the terminal: SIGINT to its foreground process group — hub, not its servers.
    pty.send("\x03");
    pty.expect("stopping — no new items; finishing the 2 running");
    m.release();
    pty.expect("Triage report — 2 items: 2 ok");
    assert!(eventually(Duration::from_secs(120), || pty.child.try_wait().unwrap().is_some()), "hub ended");
    assert_eq!(pty.child.try_wait().unwrap().and_then(|s| s.code()), Some(130));
    let done = lines(&env.path("out.jsonl"));
    assert_eq!(done.len(), 2);
    for l in &done {
        assert_eq!(l["tool_calls"][0]["ok"], true, "the crm server outlived the Ctrl-C: {l}");
    }
}
