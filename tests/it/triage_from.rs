//! `hub triage --from TOOL` (issue 17): items from a list tool's result, paged until done (the tickets server's
//! `offset`), each item's id and text found by field (subject + body) with its other fields as context; resume skips
//! what is done; bad `--from`/`--args` are usage errors; a result with no list is a clear failure.

use crate::model::{Model, answer};
use crate::util::Env;
use serde_json::Value;
use std::collections::HashSet;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn items_come_from_a_list_tool_paged_until_done_and_resume_skips_them() {
    let m = Model::start(vec![]);
    m.fallback(answer("billing, high: card declined."));
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
