//! What small models write, repaired (issue 25): tool calls written as text in the reply (a fenced JSON block,
//! `<tool_call>` tags, a bare object) made real calls and sent back as an assistant `tool_calls` message; a tool
//! name without its server or misspelt (read-only tools only: a write tool gets suggestions); arguments with `"null"` for an optional filter, numbers as strings, an
//! object inside a string. Each repair is in the record (`--json` `repaired`, `-v`); text that is not a call to an
//! offered tool stays the answer.

use crate::model::{Model, answer, calls, status, tool_messages};
use crate::util::Env;
use serde_json::Value;

fn env_for(m: &Model) -> Env {
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key");
    env
}

/// The assistant message the model's second request carries (what hub sent back for the first reply).
fn assistant_calls(request: &Value) -> Vec<String> {
    let msgs = request["messages"].as_array().unwrap();
    let a = msgs.iter().find(|m| m["role"] == "assistant").expect("an assistant message");
    a["tool_calls"]
        .as_array()
        .map_or(vec![], |c| c.iter().map(|c| c["function"]["name"].as_str().unwrap().to_string()).collect())
}

#[test]
fn calls_written_as_text_are_run_and_sent_back_as_tool_calls() {
    let fenced = "Let me look that up.\n```json\n{\"name\": \"crm__get_customer\", \"arguments\": {\"email\": \"john.smith@acme.com\"}}\n```";
    let tags = "<tool_call>\n{\"name\": \"payments__get_subscription\", \"arguments\": {\"customer_id\": \"cus_000001\"}}\n</tool_call>\n<tool_call>{\"name\": \"tickets__list_tickets\", \"arguments\": {\"customer_id\": \"cus_000001\", \"status\": \"open\"}}</tool_call>";
    let m = Model::start(vec![answer(fenced), answer(tags), answer("John Smith: past_due, one open ticket.")]);
    let env = env_for(&m);
    let run = env.run(&["ask", "-v", "--json", "What is going on with john.smith@acme.com?"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "John Smith: past_due, one open ticket.");
    let records = doc["tool_calls"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{records:?}");
    for r in records {
        assert_eq!(r["ok"], true, "{r}");
        assert!(r["repaired"].to_string().contains("written as text"), "{r}");
    }
    let reqs = m.requests();
    assert_eq!(assistant_calls(&reqs[1]), ["crm__get_customer"]);
    assert!(tool_messages(&reqs[1])[0].1.contains("Acme Corp"), "the result went back to the model");
    assert_eq!(tool_messages(&reqs[2]).len(), 3, "ids paired: each call has its tool message");
    assert!(run.stderr.contains("repaired: 2 tool call(s) written as text"), "{}", run.stderr);
}

#[test]
fn text_that_is_not_a_call_to_an_offered_tool_stays_the_answer() {
    let reply = "```json\n{\"name\": \"shell__rm\", \"arguments\": {\"path\": \"/\"}}\n```";
    let m = Model::start(vec![answer(reply)]);
    let env = env_for(&m);
    let doc = env.run(&["ask", "--json", "Delete everything"]).ok().json();
    assert_eq!(doc["answer"], reply);
    assert!(doc["tool_calls"].as_array().unwrap().is_empty());
}

#[test]
fn names_and_arguments_are_repaired_and_said() {
    let m = Model::start(vec![
        calls(&[
            ("a", "list_tickets", r#"{"status": "open", "priority": "null", "limit": "3"}"#),
            ("b", "get_customer", r#""{\"email\": \"john.smith@acme.com\"}""#),
        ]),
        answer("done"),
    ]);
    let env = env_for(&m);
    let doc = env.run(&["ask", "--json", "Open tickets, and who is john.smith@acme.com?"]).ok().json();
    let records = doc["tool_calls"].as_array().unwrap();
    let by = |tool: &str| records.iter().find(|r| r["tool"] == tool).unwrap_or_else(|| panic!("{tool}: {records:?}"));
    let tickets = by("tickets__list_tickets");
    assert_eq!(tickets["ok"], true, "{tickets}");
    assert_eq!(tickets["arguments"], serde_json::json!({"status": "open", "limit": 3}));
    let said = tickets["repaired"].to_string();
    assert!(said.contains("list_tickets") && said.contains("priority") && said.contains("limit"), "{said}");
    let customer = by("crm__get_customer");
    assert_eq!(customer["ok"], true, "{customer}");
    let said = customer["repaired"].to_string();
    assert!(said.contains("read as crm__get_customer") && said.contains("JSON string"), "{said}");
    let msgs = tool_messages(&m.requests()[1]);
    assert_eq!(msgs.iter().filter(|(_, t)| t.contains("TCK-")).count(), 1, "{msgs:?}");
}

#[test]
fn a_misspelt_read_only_tool_is_read_as_the_one_close_name_a_write_tool_never_is() {
    let m = Model::start(vec![
        calls(&[
            ("a", "crm__get_custmer", r#"{"email": "john.smith@acme.com"}"#),
            ("b", "tickets__get_tiket", r#"{"id": "TCK-01001"}"#),
            ("c", "crm__updte_customer", r#"{"id": "cus_000001", "plan": "free"}"#),
        ]),
        answer("done"),
    ]);
    let env = env_for(&m);
    let doc = env.run(&["ask", "--json", "--yes", "Who is john.smith@acme.com?"]).ok().json();
    let records = doc["tool_calls"].as_array().unwrap();
    for (i, tool) in [(0, "crm__get_customer"), (1, "tickets__get_ticket")] {
        assert_eq!(records[i]["tool"], tool, "{records:?}");
        assert_eq!(records[i]["ok"], true, "{}", records[i]);
        assert!(records[i]["repaired"].to_string().contains("a typo"), "{}", records[i]);
    }
    assert_eq!(records[2]["ok"], false, "a write tool is not guessed: {}", records[2]);
    let msgs = tool_messages(&m.requests()[1]);
    assert!(msgs[2].1.contains("crm__update_customer"), "the model is told the name: {msgs:?}");
    assert!(msgs[0].1.contains("Acme Corp") && msgs[1].1.contains("Subscription renewal failed"), "{msgs:?}");
}

const PEG: &str = "The model produced output that does not match the expected peg-native format";

#[test]
fn an_unparsable_reply_is_asked_again_with_a_correction_then_without_tools() {
    let m = Model::start(vec![status(500, PEG, &[]), status(500, PEG, &[]), answer("John Smith is past due.")]);
    let env = env_for(&m);
    let run = env.run(&["ask", "-v", "--json", "Is john.smith@acme.com past due?"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "John Smith is past due.");
    let reqs = m.requests();
    assert_eq!(reqs.len(), 3, "never the identical request again and again");
    assert!(reqs[0]["tools"].is_array() && reqs[1]["tools"].is_array());
    let last_user = |r: &Value| {
        r["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "user").unwrap()["content"].clone()
    };
    assert!(last_user(&reqs[1]).to_string().contains("could not be read"), "the correction: {}", reqs[1]);
    assert!(reqs[2].get("tools").is_none_or(Value::is_null), "the last try has no tools: {}", reqs[2]);
    let repairs = doc["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 2, "{repairs:?}");
    assert!(run.stderr.contains("could not parse the model's reply"), "{}", run.stderr);
}

#[test]
fn an_endpoint_that_never_parses_the_reply_ends_with_a_clear_error() {
    let m = Model::start(vec![status(500, PEG, &[]), status(500, PEG, &[]), status(500, PEG, &[])]);
    let env = env_for(&m);
    let run = env.run(&["ask", "Is john.smith@acme.com past due?"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not parse the model's output") && run.stderr.contains("peg-native"),
        "{}",
        run.stderr
    );
    assert_eq!(m.requests().len(), 3);
}
