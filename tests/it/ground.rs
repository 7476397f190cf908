//! Grounding (issue 25): the offline planner's read-only lookups put before the model's first turn as calls already
//! made — an assistant `tool_calls` message, then one tool message per id, in order — for a local endpoint (`auto`)
//! or always; a model that answers about named records without a lookup grounded and asked again, once; a reply the
//! endpoint cannot parse asked again without tools from the lookups; a model that keeps writing garbage stopped at
//! the turn cap; the definitions compacted to fit a small context window. A "remote" endpoint is the scripted one
//! behind an HTTP proxy (reqwest honours `http_proxy`), so hub sees a host name that is not local.

use crate::model::{Model, answer, calls, status, tool_messages};
use crate::util::Env;
use serde_json::{Value, json};

const PEG: &str = "The model produced output that does not match the expected peg-native format";

/// servers.toml: this `[model]` section and the five demo servers.
fn with_demo(model: &str) -> String {
    let servers: Vec<String> =
        ["crm", "tickets", "payments", "calendar", "analytics"].iter().map(|s| Env::server_entry(s, s)).collect();
    format!("{model}\n{}", servers.join("\n"))
}

fn env_for(m: &Model, ground: &str) -> Env {
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key").set("HUB_GROUND", ground);
    env
}

/// The model seen as remote: `model.example` reached through the scripted server acting as the proxy.
fn remote_env(m: &Model) -> Env {
    let mut env = env_for(m, "auto");
    let proxy = m.url.trim_end_matches("/v1").to_string();
    env.set("OPENAI_BASE_URL", "http://model.example/v1").set("http_proxy", &proxy).set("HTTP_PROXY", &proxy);
    env.set("NO_PROXY", "").set("no_proxy", "");
    env
}

/// Every assistant `tool_calls` message is followed by exactly its tool messages, ids paired, in order.
fn well_formed(request: &Value) -> Vec<String> {
    let msgs = request["messages"].as_array().unwrap();
    let mut ids = Vec::new();
    let mut i = 0;
    while i < msgs.len() {
        if let Some(calls) = msgs[i]["tool_calls"].as_array() {
            let want: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
            let got: Vec<&str> = msgs[i + 1..]
                .iter()
                .take_while(|m| m["role"] == "tool")
                .map(|m| m["tool_call_id"].as_str().unwrap())
                .collect();
            assert_eq!(want, got, "ids paired and in order: {request}");
            for c in calls {
                assert_eq!(c["type"], "function");
                serde_json::from_str::<Value>(c["function"]["arguments"].as_str().unwrap())
                    .expect("arguments are JSON");
            }
            ids.extend(want.iter().map(|s| s.to_string()));
            i += got.len();
        }
        i += 1;
    }
    ids
}

fn grounded_tools(doc: &Value) -> Vec<String> {
    let records = doc["tool_calls"].as_array().unwrap();
    records.iter().filter(|r| r["grounded"] == true).map(|r| r["tool"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_local_model_starts_from_the_planners_lookups() {
    let m = Model::start(vec![
        calls(&[("c1", "payments__list_invoices", r#"{"customer_id": "cus_000001"}"#)]),
        answer("John Smith's subscription is past_due."),
    ]);
    let env = env_for(&m, "auto");
    let run = env.run(&["ask", "-v", "--json", "What is the subscription status of john.smith@acme.com?"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "John Smith's subscription is past_due.");
    let grounded = grounded_tools(&doc);
    assert!(grounded.contains(&"crm__get_customer".to_string()), "{grounded:?}");
    assert!(grounded.iter().any(|t| t.starts_with("payments__")), "{grounded:?}");
    let records = doc["tool_calls"].as_array().unwrap();
    let model_made = records.iter().find(|r| r["grounded"] == false).expect("the model's own call");
    assert_eq!(model_made["tool"], "payments__list_invoices");
    let reqs = m.requests();
    let msgs = reqs[0]["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(&roles[..3], ["system", "user", "assistant"], "grounding after the question: {roles:?}");
    let ids = well_formed(&reqs[0]);
    assert_eq!(ids.len(), grounded.len());
    assert!(ids.iter().all(|id| id.starts_with("ground_")), "{ids:?}");
    let results = tool_messages(&reqs[0]);
    assert!(results.iter().any(|(_, t)| t.contains("past_due")), "the facts reach the model: {results:?}");
    assert!(reqs[0]["tools"].is_array(), "the model can still call tools");
    assert_eq!(well_formed(&reqs[1]).len(), ids.len() + 1, "the model's call follows, paired too");
    assert!(run.stderr.contains("(grounding)") && run.stderr.contains("grounding: "), "{}", run.stderr);
}

#[test]
fn never_leaves_the_model_alone_and_config_says_when() {
    let m = Model::start(vec![answer("ok"), answer("ok")]);
    let env = env_for(&m, "never");
    let doc = env.run(&["ask", "--json", "Status of john.smith@acme.com?"]).ok().json();
    assert!(doc["tool_calls"].as_array().unwrap().is_empty());
    assert_eq!(m.requests()[0]["messages"].as_array().unwrap().len(), 2);
    // `[model] ground` when the environment does not say: `always` grounds a remote model too.
    let mut env = remote_env(&m);
    env.set("HUB_GROUND", "");
    env.config(&with_demo("[model]\nname = \"gpt-4o\"\nbase_url = \"http://model.example/v1\"\nground = \"always\""));
    let doc = env.run(&["ask", "--json", "Hi, what's the status of cus_000001?"]).ok().json();
    assert!(!grounded_tools(&doc).is_empty(), "{doc}");
    assert_eq!(m.requests().len(), 2, "grounded up front, not asked again");
    env.config(&m.config("ground = \"sometimes\""));
    let run = env.run(&["ask", "Status?"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("model.ground") && run.stderr.contains("\"never\""), "{}", run.stderr);
    let run = env_for(&m, "maybe").run(&["ask", "Status?"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("HUB_GROUND"), "{}", run.stderr);
}

#[test]
fn a_remote_model_that_answers_about_records_blind_is_grounded_and_asked_again_once() {
    let m = Model::start(vec![
        answer("Account status: Churned, no open tickets."),
        answer("John Smith (Acme Corp) is past_due with one open ticket."),
    ]);
    let env = remote_env(&m);
    let run = env.run(&["ask", "-v", "--json", "What's going on with john.smith@acme.com?"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "John Smith (Acme Corp) is past_due with one open ticket.");
    let reqs = m.requests();
    assert_eq!(reqs.len(), 2, "asked again once");
    assert_eq!(reqs[0]["messages"].as_array().unwrap().len(), 2, "a remote model is not grounded up front");
    assert!(!well_formed(&reqs[1]).is_empty());
    assert!(!reqs[1].to_string().contains("Churned"), "the blind answer is not kept: {}", reqs[1]);
    assert!(!grounded_tools(&doc).is_empty());
    assert!(doc["repairs"].to_string().contains("without looking anything up"), "{}", doc["repairs"]);
    // A question naming no record is the model's to answer as it likes; one naming records, once only.
    let m = Model::start(vec![answer("Hello!"), answer("Still churned."), answer("unused")]);
    let env = remote_env(&m);
    env.run(&["ask", "Say hello"]).ok();
    assert_eq!(m.requests().len(), 1);
}

#[test]
fn an_unparsable_reply_is_asked_again_without_tools_from_the_lookups() {
    let m = Model::start(vec![status(500, PEG, &[]), status(500, PEG, &[]), answer("past_due")]);
    let env = remote_env(&m);
    let doc = env.run(&["ask", "--json", "Is john.smith@acme.com past due?"]).ok().json();
    assert_eq!(doc["answer"], "past_due");
    let reqs = m.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].get("tools").is_none_or(Value::is_null), "{}", reqs[2]);
    assert!(!well_formed(&reqs[2]).is_empty(), "the last try starts from the lookups: {}", reqs[2]);
    assert!(doc["repairs"].to_string().contains("from the offline planner's lookups"), "{}", doc["repairs"]);
}

#[test]
fn a_model_that_keeps_writing_garbage_stops_at_the_turn_cap() {
    let m = Model::start(vec![]);
    m.fallback(calls(&[("g", "no_such_tool", "{{{")]));
    let env = env_for(&m, "never");
    env.config(&with_demo(&m.config("max_turns = 3")));
    let run = env.run(&["ask", "--json", "Status of john.smith@acme.com?"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["status"], "turn_cap");
    assert!(doc["error"].as_str().unwrap().contains("turn cap of 3"), "{doc}");
    assert_eq!(m.requests().len(), 3);
    assert!(tool_messages(&m.requests()[2]).iter().all(|(_, t)| t.starts_with("Error")));
}

#[test]
fn definitions_are_compacted_to_fit_a_small_context() {
    let m = Model::start(vec![answer("ok"), answer("ok")]);
    m.describe(None, Some(json!({"default_generation_settings": {"n_ctx": 4096}})));
    let env = env_for(&m, "never");
    let run = env.run(&["ask", "-v", "Status of john.smith@acme.com?"]).ok();
    assert!(run.stderr.contains("4096-token context window: compacted"), "{}", run.stderr);
    let tools = m.requests()[0]["tools"].as_array().unwrap().clone();
    let bytes = serde_json::to_string(&tools).unwrap().len();
    assert!(bytes / 4 <= 1365, "within a third of the window: ≈{} tokens", bytes / 4);
    let names: Vec<&str> = tools.iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"crm__get_customer"), "the tools the question needs stay: {names:?}");
    // Parameters and their first sentences stay (enums and `required` too: fit.rs's unit tests).
    let ticket = tools.iter().find(|t| t["function"]["name"] == "tickets__list_tickets").expect("list_tickets stays");
    let status = &ticket["function"]["parameters"]["properties"]["status"]["description"];
    assert_eq!(status, "open, pending, resolved or closed", "{ticket}");
    // Ollama says it in /api/show: the context it runs with (num_ctx), before the model's own length.
    let m = Model::start(vec![answer("ok")]);
    m.describe_ollama(
        json!({"parameters": "temperature 0.7\nnum_ctx 2048", "model_info": {"qwen2.context_length": 32768}}),
    );
    let run = env_for(&m, "never").run(&["ask", "-v", "Status of john.smith@acme.com?"]).ok();
    assert!(run.stderr.contains("2048-token context window: compacted"), "{}", run.stderr);
    // A window large enough: the definitions as they are.
    let m = Model::start(vec![answer("ok")]);
    let env = env_for(&m, "never");
    env.config(&with_demo(&m.config("context_window = 1000000")));
    let run = env.run(&["ask", "-v", "Status?"]).ok();
    assert!(!run.stderr.contains("compacted"), "{}", run.stderr);
}
