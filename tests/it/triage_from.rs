//! `hub triage --from TOOL` (issue 17): items from a list tool's result, paged until done (the tickets server's
//! `offset`), each item's id and text found by field (subject + body) with its other fields as context; resume skips
//! what is done; bad `--from`/`--args` are usage errors; a result with no list is a clear failure. The built-in
//! decision: offline, the demo queue decided against a labelled subset (categories, John Smith's billing ticket with
//! his past-due context, duplicates, priorities never lowered, another taxonomy); with a model, asked for as a JSON
//! Schema.

use crate::model::{Model, answer};
use crate::util::Env;
use serde_json::Value;
use std::collections::HashSet;

/// A decision as a model would write it.
const DECISION: &str = r#"{"category":"billing","priority":"high","sentiment":"neutral","customer":null,"summary":"s","next_action":"n","duplicate_of":null,"confidence":0.8}"#;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn items_come_from_a_list_tool_paged_until_done_and_resume_skips_them() {
    let m = Model::start(vec![]);
    m.fallback(answer(DECISION));
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "k");
    let total = env.run(&["call", "tickets__list_tickets", r#"{"status":"open","limit":1}"#]).ok().json()["total"]
        .as_u64()
        .unwrap();
    assert!(total > 14, "the demo queue has open tickets: {total}");
    let out = env.path("triaged.jsonl");
    let args = ["triage", "-q", "--from", "tickets__list_tickets", "--args", r#"{"status":"open","limit":7}"#];
    let run = env.run(&[&args[..], &["--out", out.to_str().unwrap(), "--concurrency", "8"]].concat()).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let done = lines(&out);
    let ids: HashSet<&str> = done.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len() as u64, total, "every open ticket once, over pages of 7");
    assert!(ids.iter().all(|id| id.starts_with("TCK-")), "{ids:?}");
    // The model saw subject and body as the text, the other fields as context.
    let reqs = m.requests();
    let user = |r: &Value| {
        r["messages"].as_array().unwrap().iter().find(|m| m["role"] == "user").unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let john = reqs.iter().map(user).find(|u| u.contains("Subscription renewal failed")).expect("TCK-01001 triaged");
    assert!(john.contains("renewal payment was declined") && john.contains("\"customer_id\":\"cus_000001\""), "{john}");
    assert!(!john.contains("\"subject\""), "the text is not repeated as context: {john}");
    // Resume: nothing left to do.
    let before = m.requests().len();
    let run = env.run(&[&args[..], &["--out", out.to_str().unwrap()]].concat()).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(m.requests().len(), before, "ids already in the output are skipped");
    assert_eq!(lines(&out).len() as u64, total);
}

#[test]
fn bad_sources_are_said_clearly() {
    let env = Env::new();
    let out = env.path("o.jsonl");
    let out = out.to_str().unwrap();
    let run = env.run(&["triage", "--from", "tickets__list_tikets", "--out", out]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("tickets__list_tickets"), "the near name: {}", run.stderr);
    let run = env.run(&["triage", "--from", "tickets__list_tickets", "--args", "[1]", "--out", out]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--args must be a JSON object"), "{}", run.stderr);
    let run = env.run(&["triage", "--from", "tickets__list_tickets", "--args", "{oops", "--out", out]);
    assert!(run.code == 2 && run.stderr.contains("not valid JSON"), "{}", run.stderr);
    let run = env.run(&["triage", "--args", "{}", "--out", out]);
    assert_eq!(run.code, 2, "--args needs --from: {}", run.stderr);
    let run = env.run(&["triage", "items.jsonl", "--from", "tickets__list_tickets", "--out", out]);
    assert_eq!(run.code, 2, "a file or a tool, not both: {}", run.stderr);
    let run = env.run(&["triage", "--from", "crm__get_customer", "--args", r#"{"id":"cus_000001"}"#, "--out", out]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("holds no list of records"), "{}", run.stderr);
    let run = env.run(&["triage", "--from", "tickets__list_tickets", "--args", r#"{"status":"nope"}"#, "--out", out]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("tickets__list_tickets failed") && run.stderr.contains("status"), "{}", run.stderr);
    let run = env.run(&["triage", "--from", "tickets__list_tickets", "--text-field", "nothing", "--out", out]);
    assert_eq!(run.code, 4, "records without the field are reported, not triaged: {}", run.stderr);
    assert!(run.stderr.contains("no 'nothing' field"), "{}", run.stderr);
}

/// Expected categories of the demo queue's subjects (a labelled subset: every subject the demo data uses).
const LABELS: [(&str, &str); 13] = [
    ("Subscription renewal failed", "billing"),
    ("Invoice shows the wrong amount", "billing"),
    ("Payment method update fails", "billing"),
    ("Cannot log in after password reset", "account"),
    ("Request: SSO with Okta", "account"),
    ("How do I add a teammate?", "account"),
    ("Cancel our subscription", "account"),
    ("Export to CSV times out", "technical"),
    ("Webhook deliveries failing", "technical"),
    ("Dashboard loads slowly", "technical"),
    ("API rate limit too low", "technical"),
    ("Quote for 20 more seats", "sales"),
    ("Feedback on the new editor", "other"),
];

#[test]
fn offline_triage_of_the_demo_queue_decides_each_ticket_with_its_customer() {
    let env = Env::new();
    let queue = env.run(&["call", "tickets__list_tickets", r#"{"status":"open","limit":200}"#]).ok().json();
    let tickets: Vec<&Value> = queue["tickets"].as_array().unwrap().iter().collect();
    let ticket = |id: &str| *tickets.iter().find(|t| t["id"] == id).unwrap();
    let out = env.path("q.jsonl");
    let args = ["triage", "-q", "--from", "tickets__list_tickets", "--args", r#"{"status":"open"}"#, "--out"];
    env.run(&[&args[..], &[out.to_str().unwrap()]].concat()).ok();
    let rows = lines(&out);
    assert_eq!(rows.len(), tickets.len());
    let rank = |p: &Value| ["low", "normal", "high", "urgent"].iter().position(|x| p == x).unwrap();
    let mut subjects = HashSet::new();
    let mut duplicates = 0;
    for r in &rows {
        assert_eq!(r["status"], "ok", "{r}");
        let (d, t) = (&r["answer"], ticket(r["id"].as_str().unwrap()));
        let subject = t["subject"].as_str().unwrap();
        let (_, want) = LABELS.iter().find(|(s, _)| *s == subject).unwrap_or_else(|| panic!("unlabelled: {subject}"));
        assert_eq!(d["category"], *want, "{subject}: {d}");
        subjects.insert(subject);
        assert!(rank(&d["priority"]) >= rank(&t["priority"]), "never below the ticket's own: {d} {t}");
        assert_eq!(d["customer"]["id"], t["customer_id"], "{d}");
        if let Some(earlier) = d["duplicate_of"].as_str() {
            duplicates += 1;
            let e = ticket(earlier);
            assert_eq!((&e["customer_id"], &e["subject"]), (&t["customer_id"], &t["subject"]), "{d}");
            assert!(e["created_at"].as_str() <= t["created_at"].as_str(), "the earlier one: {d}");
        }
    }
    assert!(subjects.len() >= 10 && duplicates >= 3, "a queue worth reading: {subjects:?}, {duplicates} duplicates");
    let john = &rows.iter().find(|r| r["id"] == "TCK-01001").expect("John Smith's ticket")["answer"];
    assert_eq!(john["category"], "billing");
    assert!(john["priority"] == "high" || john["priority"] == "urgent", "{john}");
    assert_eq!(john["customer"]["name"], "John Smith");
    let state = john["customer"]["account_state"].to_string();
    assert!(state.contains("subscription past_due") && state.contains("INV-000012"), "{state}");
    assert!(john["next_action"].as_str().unwrap().contains("payment"), "{john}");

    // Another taxonomy: a category of one's own, the rest "other".
    let out = env.path("q2.jsonl");
    let mine = ["--categories", "billing,access:log+password+sso,other", "--out", out.to_str().unwrap()];
    env.run(&[&args[..args.len() - 1], &mine[..]].concat()).ok();
    let cats: HashSet<String> = lines(&out).iter().map(|r| r["answer"]["category"].as_str().unwrap().into()).collect();
    assert_eq!(cats, ["billing", "access", "other"].iter().map(|s| s.to_string()).collect(), "{cats:?}");
    let run = env.run(&[&args[..args.len() - 1], &["--categories", "a,a", "--out", "x.jsonl"]].concat());
    assert!(run.code == 2 && run.stderr.contains("repeated"), "{}", run.stderr);
}

#[test]
fn with_a_model_the_built_in_decision_is_asked_for_as_a_json_schema() {
    let m = Model::start(vec![]);
    m.fallback(answer(DECISION));
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "k");
    let out = env.path("m.jsonl");
    let args = ["triage", "-q", "--from", "tickets__list_tickets", "--args", r#"{"status":"open","limit":3}"#];
    env.run(&[&args[..], &["--out", out.to_str().unwrap()]].concat()).ok();
    let rows = lines(&out);
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["answer"]["category"] == "billing"), "{rows:?}");
    let format = &m.requests()[0]["response_format"];
    assert_eq!(format["json_schema"]["name"], "triage", "{format}");
    let cats = &format["json_schema"]["schema"]["properties"]["category"]["enum"];
    assert_eq!(cats, &serde_json::json!(["billing", "technical", "account", "sales", "other"]));
}
