//! The offline planner through `hub ask` with no model configured: the seed question, one question per
//! server, honest failures, determinism, `--json`, `--offline`, and a server it has never seen (testkit).

use crate::util::{Env, HUB};

const SEED: &str = "Customer john.smith@acme.com says their subscription renewal failed last week. What is their account \
    status, do they have any open support tickets, and what does their payment history look like?";

fn args_of<'a>(doc: &'a serde_json::Value, tool: &str) -> &'a serde_json::Value {
    let calls = doc["tool_calls"].as_array().unwrap();
    let c = calls.iter().find(|c| c["tool"] == tool).unwrap_or_else(|| panic!("{tool} not called: {calls:?}"));
    &c["arguments"]
}

#[test]
fn the_seed_question_is_answered_offline() {
    let env = Env::new();
    let run = env.run(&["ask", SEED]).ok();
    let a = run.stdout;
    // The answer first: one sentence from the results, then the details.
    let first = a.lines().next().unwrap();
    assert!(first.starts_with("John Smith (Acme Corp): "), "{first}");
    for fact in ["past_due", "2 failed payments", "1 open ticket: TCK-01001", "1 failed invoice: INV-"] {
        assert!(first.contains(fact), "{fact}: {first}");
    }
    assert!(a.contains("offline planner") && a.contains("OPENAI_API_KEY"), "{a}");
    assert!(a.contains("John Smith"), "{a}");
    assert!(a.contains("past_due"), "{a}");
    assert!(a.lines().any(|l| l.contains("status failed") && l.contains("INV-")), "the failed invoice: {a}");
    assert!(
        a.lines().any(|l| l.contains("Subscription renewal failed") && l.contains("status open")),
        "the open ticket: {a}"
    );
    assert!(a.lines().any(|l| l.contains("Renewal review") && l.contains("scheduled")), "the upcoming meeting: {a}");
    assert!(a.contains("Tools called:"), "{a}");
    // Deterministic: the same question gives the same answer.
    // Deterministic: the same question gives the same answer and the same calls (the details may quote the clock).
    let again = env.run(&["ask", SEED]).ok().stdout;
    let key = |t: &str| -> Vec<String> {
        t.lines().filter(|l| l.starts_with("John Smith") || l.starts_with("Tools called")).map(String::from).collect()
    };
    assert_eq!(key(&again), key(&a));
    assert_eq!(key(&a).len(), 2, "{a}");
}

#[test]
fn one_question_per_server() {
    let env = Env::new();
    let doc = env.run(&["ask", "What is the mrr trend over the last 30 days?", "--json"]).ok().json();
    assert_eq!(doc["model"], "offline-planner");
    assert_eq!(doc["status"], "ok");
    let a = args_of(&doc, "analytics__get_trend");
    assert_eq!((a["metric"].as_str(), a["days"].as_i64()), (Some("mrr"), Some(30)));
    assert!(doc["answer"].as_str().unwrap().contains("direction"));

    let doc = env.run(&["ask", "Show me the open high-priority tickets", "--json"]).ok().json();
    let a = args_of(&doc, "tickets__list_tickets");
    assert_eq!((a["status"].as_str(), a["priority"].as_str()), (Some("open"), Some("high")));

    let doc = env.run(&["ask", "Which meetings do we have next week?", "--json"]).ok().json();
    let a = args_of(&doc, "calendar__list_meetings");
    let (from, to) = (a["from"].as_str().unwrap(), a["to"].as_str().unwrap());
    let from = chrono::NaiveDate::parse_from_str(&from[..10], "%Y-%m-%d").unwrap();
    assert_eq!(chrono::Datelike::weekday(&from), chrono::Weekday::Mon);
    assert!(from > chrono::Utc::now().date_naive());
    assert_eq!(&to[..10], (from + chrono::Duration::days(7)).to_string());

    let run = env.run(&["ask", "Show invoice INV-000003"]).ok();
    assert!(run.stdout.contains("id INV-000003"), "{}", run.stdout);

    let doc = env.run(&["ask", "Which customers do we have at Globex?", "--json"]).ok().json();
    assert_eq!(args_of(&doc, "crm__search_customers")["query"], "Globex");
    assert!(doc["answer"].as_str().unwrap().contains("@globex.com"));
}

#[test]
fn json_carries_the_answer_and_the_facts_it_used() {
    let env = Env::new();
    let doc = env.run(&["ask", "Who is the customer behind ticket TCK-01001?", "--json"]).ok().json();
    let answer = doc["answer"].as_str().unwrap();
    assert!(answer.starts_with("John Smith (Acme Corp), the customer of TCK-01001"), "{answer}");
    let facts = doc["facts"].as_array().unwrap();
    assert_eq!(facts[0]["tool"], "crm__get_customer", "{facts:?}");
    assert_eq!(facts[0]["id"], "cus_000001");
    // The reference was followed: the ticket, then its customer, and nothing else.
    let called: Vec<&str> = doc["tool_calls"].as_array().unwrap().iter().map(|c| c["tool"].as_str().unwrap()).collect();
    assert!(called.contains(&"tickets__get_ticket") && called.contains(&"crm__get_customer"), "{called:?}");
    assert!(!called.iter().any(|t| t.starts_with("payments__")), "{called:?}");
}

#[test]
fn honest_when_nothing_is_found_or_something_is_missing() {
    let env = Env::new();
    let run = env.run(&["ask", "What is the status of nobody@nowhere.org?"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nobody@nowhere.org"), "{}", run.stderr);
    assert!(!run.stdout.contains("John"), "never invents data");
    let run = env.run(&["ask", "What is the subscription status?"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("Which customer?"), "{}", run.stdout);
    let run = env.run(&["ask", "Tell me a joke about penguins"]);
    assert_eq!(run.code, 1);
}

#[test]
fn offline_flag_wins_over_a_configured_model_and_writes_never_run() {
    let mut env = Env::new();
    env.set("OPENAI_API_KEY", "sk-unused").set("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    let run = env.run(&["--offline", "ask", "Which customers do we have at Globex?"]).ok();
    assert!(run.stdout.contains("offline planner"));
    // A question that names a write tool's action still only runs read-only tools.
    let doc =
        env.run(&["--offline", "ask", "Update the customer cus_000002 and cancel meeting MTG-00001", "--json"]).json();
    for c in doc["tool_calls"].as_array().unwrap() {
        let t = c["tool"].as_str().unwrap();
        assert!(!t.contains("update") && !t.contains("cancel") && !t.contains("create"), "{t}");
    }
}

#[test]
fn works_with_a_server_it_was_not_written_for() {
    let env = Env::new();
    env.config(&format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"));
    let doc = env.run(&["ask", "Please echo \"round trip\"", "--json"]).ok().json();
    assert_eq!(args_of(&doc, "kit__echo")["text"], "round trip");
    assert!(doc["answer"].as_str().unwrap().contains("round trip"));
}

/// Regression: timestamps were sliced by byte index, so a server value shaped like one with a multi-byte
/// character at that place panicked the process.
#[test]
fn a_date_shaped_value_with_multibyte_text_does_not_panic_the_summary() {
    let env = Env::new();
    let subject = "0123456789T東京都XYZ";
    let args = serde_json::json!({"customer_id": "cus_000001", "subject": subject, "body": "b", "priority": "high"});
    env.run(&["call", "tickets__create_ticket", &args.to_string()]).ok();
    let run = env.run(&["ask", "Show me the open high-priority tickets"]).ok();
    assert!(run.stdout.contains(subject), "{}", run.stdout);
}
