//! `hub triage --from … --apply` / `--dry-run` (issue 17): offline decisions applied to the tickets server under its
//! `triage_allow` — a comment carrying the decision and its marker, the priority set, the duplicate linked — checked in the server's
//! SQLite store; a rerun (another output file) applies nothing twice; `--dry-run` lists the calls and changes
//! nothing; writes `triage_allow` does not permit are refused and nothing is written; SIGKILL in the middle of
//! applying, then a resume: every ticket's decision applied exactly once.

use crate::util::{Env, eventually};
use serde_json::Value;
use std::time::Duration;

const OPEN: [&str; 4] = ["--from", "tickets__list_tickets", "--args", r#"{"status":"open"}"#];

fn env_allowing(allow: &str) -> Env {
    let env = Env::new();
    let servers: String =
        ["crm", "payments", "calendar", "analytics"].iter().map(|s| Env::server_entry(s, s)).collect();
    env.config(&format!("{servers}{}triage_allow = [{allow}]\n", Env::server_entry("tickets", "tickets")));
    env
}

/// (ticket, hub's comments on it, its priority, the ticket it is linked as a duplicate of), from the tickets
/// server's own store.
fn store(env: &Env) -> Vec<(String, usize, String, Option<String>)> {
    let db = rusqlite::Connection::open(env.path("data/hub/tickets.db")).expect("the tickets store");
    let mut q = db
        .prepare(
            "SELECT t.id, (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id AND c.body LIKE '%[hub-triage %'), \
             t.priority, l.duplicate_of FROM tickets t LEFT JOIN ticket_links l ON l.ticket_id = t.id \
             WHERE t.status = 'open' ORDER BY t.id",
        )
        .unwrap();
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize, r.get(2)?, r.get(3)?));
    q.query_map([], row).unwrap().map(Result::unwrap).collect()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn triage(env: &Env, extra: &[&str], out: &str) -> crate::util::Run {
    env.run(&[&["triage", "-q"][..], &OPEN, extra, &["--out", out]].concat())
}

#[test]
fn decisions_are_applied_once_and_a_dry_run_changes_nothing() {
    let env = env_allowing(r#""update_ticket", "add_comment""#);
    // Started once so the store exists; then a dry run.
    env.run(&["call", "tickets__get_ticket", r#"{"id":"TCK-01001"}"#]).ok();
    let before = store(&env);
    let dry = triage(&env, &["--dry-run"], "dry.jsonl").ok();
    let listed: Vec<Value> = dry.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(listed.len() >= before.len(), "a comment for every ticket at least: {}", dry.stdout);
    assert!(listed.iter().all(|c| c["tool"] == "tickets__add_comment" || c["tool"] == "tickets__update_ticket"));
    assert_eq!(store(&env), before, "--dry-run wrote nothing");

    triage(&env, &["--apply"], "a.jsonl").ok();
    let after = store(&env);
    assert!(after.iter().all(|(_, comments, _, _)| *comments == 1), "{after:?}");
    let rows = lines(&env.path("a.jsonl"));
    let john = rows.iter().find(|r| r["id"] == "TCK-01001").unwrap();
    let priority = john["answer"]["priority"].as_str().unwrap();
    assert!(after.iter().any(|(id, _, p, _)| id == "TCK-01001" && p == priority), "{after:?}");
    let applied = john["applied"].to_string();
    assert!(applied.contains("tickets__add_comment") && applied.contains("past_due"), "{applied}");
    // Decisions land on the store as the lines say.
    for r in &rows {
        let (_, _, p, dup) = after.iter().find(|(id, _, _, _)| r["id"] == id.as_str()).unwrap();
        assert_eq!(r["answer"]["priority"], p.as_str(), "{r}");
        assert_eq!(r["answer"]["duplicate_of"].as_str(), dup.as_deref(), "the duplicate linked: {r}");
    }
    assert!(after.iter().filter(|t| t.3.is_some()).count() >= 3, "the demo queue's duplicates linked: {after:?}");
    // A rerun into another file: every ticket already carries its decision.
    triage(&env, &["--apply"], "b.jsonl").ok();
    assert_eq!(store(&env), after, "nothing applied twice");
    let again = lines(&env.path("b.jsonl"));
    assert!(again.iter().all(|r| r["applied"].to_string().contains("already carries")), "{again:?}");
    let calls: Vec<&Value> =
        again.iter().flat_map(|r| r["applied"].as_array().unwrap()).filter(|c| c.get("tool").is_some()).collect();
    assert!(calls.is_empty(), "a rerun makes no call at all: {calls:?}");
}

#[test]
fn writes_triage_allow_does_not_permit_are_refused() {
    let env = env_allowing(r#""update_ticket""#);
    env.run(&["call", "tickets__get_ticket", r#"{"id":"TCK-01001"}"#]).ok();
    let before = store(&env);
    let run = triage(&env, &["--apply"], "d.jsonl");
    assert_eq!(run.code, 4, "{}", run.stderr);
    let rows = lines(&env.path("d.jsonl"));
    assert!(rows.iter().all(|r| r["status"] == "denied"), "{rows:?}");
    assert!(rows[0]["applied"].to_string().contains("triage_allow"), "{}", rows[0]);
    let after = store(&env);
    assert!(after.iter().all(|(_, comments, _, _)| *comments == 0), "no comment written: {after:?}");
    // The priority (allowed) may be set; the comment (refused) is not. Nothing else changes.
    assert_eq!(after.len(), before.len());
    let run = env.run(&[&["triage"][..], &OPEN, &["--schema", "x.json", "--apply", "--out", "e.jsonl"]].concat());
    assert_eq!(run.code, 2, "--apply takes the built-in decision: {}", run.stderr);
}

#[test]
fn killed_while_applying_then_resumed_applies_each_decision_exactly_once() {
    let mut env = env_allowing(r#""update_ticket", "add_comment""#);
    // A queue long enough (≈230 open tickets) that a kill after the first line lands in the middle.
    env.set("HUB_DEMO_CUSTOMERS", "1000");
    let out = env.path("k.jsonl");
    let mut child = env
        .command(
            &[&["triage", "-q", "--concurrency", "1"][..], &OPEN, &["--apply", "--out", out.to_str().unwrap()]]
                .concat(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    assert!(eventually(Duration::from_secs(120), || !lines(&out).is_empty()), "items were applied");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let total = store(&env).len();
    assert!(lines(&out).len() < total, "killed in the middle ({} of {total})", lines(&out).len());
    triage(&env, &["--apply"], out.to_str().unwrap()).ok();
    let after = store(&env);
    assert!(after.iter().all(|(_, comments, _, _)| *comments == 1), "exactly once each: {after:?}");
    assert_eq!(lines(&out).len(), total);
}
