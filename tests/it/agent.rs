//! `hub ask` with a model, against the scripted endpoint in `model`: the seed question with parallel calls,
//! recovery from bad calls, retries and endpoint failures, the turn cap, a server dying mid-turn, approvals,
//! the 128-tool cap, streaming, and the `--json` document field by field.

use crate::model::{Model, Reply, answer, calls, status, stream, tool_messages};
use crate::util::{Env, HUB};

const SEED: &str = "Customer john.smith@acme.com says their subscription renewal failed last week. What is their account \
    status, do they have any open support tickets, and what does their payment history look like?";

/// An env whose model is `m` (through the environment, with the built-in server config).
fn env_for(m: &Model) -> Env {
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key");
    env
}

fn testkit_config(m: &Model, model_extra: &str, server_extra: &str) -> String {
    format!(
        "{}\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{server_extra}\n",
        m.config(model_extra)
    )
}

/// The four calls of one turn all run at once: each `gather` waits until four have arrived, which only happens if
/// hub started all four before any finished (sequential calls would each wait out the hour alone — a hang).
#[test]
fn four_calls_of_one_turn_meet() {
    let gather = r#"{"n": 4, "ms": 3600000}"#;
    let m = Model::start(vec![
        calls(&[
            ("g1", "kit__gather", gather),
            ("g2", "kit__gather", gather),
            ("g3", "kit__gather", gather),
            ("g4", "kit__gather", gather),
        ]),
        answer("met"),
    ]);
    let env = env_for(&m);
    env.config(&testkit_config(&m, "", ""));
    let doc = env.run(&["ask", "gather", "--json"]).ok().json();
    let calls = doc["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4);
    let msgs = tool_messages(&m.requests()[1]);
    assert!(msgs.iter().all(|(_, text)| text.replace(' ', "").contains("\"met\":true")), "{msgs:?}");
}

#[test]
fn seed_question_runs_four_calls_in_parallel_and_answers() {
    let m = Model::start(vec![
        calls(&[("c0", "crm__search_customers", r#"{"query":"john.smith@acme.com"}"#)]),
        calls(&[
            ("c1", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#),
            ("c2", "tickets__list_tickets", r#"{"customer_id":"cus_000001","status":"open"}"#),
            ("c3", "payments__get_payment_history", r#"{"customer_id":"cus_000001"}"#),
            ("c4", "calendar__list_meetings", r#"{"customer_id":"cus_000001"}"#),
        ]),
        answer("John Smith (Acme Corp): subscription past_due after a failed renewal; one open ticket."),
    ]);
    let env = env_for(&m);
    let run = env.run(&["ask", SEED, "--json"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "John Smith (Acme Corp): subscription past_due after a failed renewal; one open ticket.");
    let calls = doc["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 5);
    assert!(calls.iter().all(|c| c["ok"] == true), "{calls:?}");
    // That the calls of one turn run at once is shown without timing them: `four_calls_of_one_turn_meet`.
    // The third request carries one tool message per call id, in call order, with the servers' content.
    let reqs = m.requests();
    assert_eq!(reqs.len(), 3);
    let msgs = tool_messages(&reqs[2]);
    let ids: Vec<&str> = msgs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4"]);
    assert!(msgs[1].1.contains("past_due"));
    assert!(msgs[2].1.contains("Subscription renewal failed"));
    assert!(msgs[3].1.contains("card_declined"));
    assert!(msgs[4].1.contains("Renewal review"));
    // The request is well formed: tools offered, parallel calls on, the user's question last-but-tools.
    assert_eq!(reqs[0]["parallel_tool_calls"], true);
    assert_eq!(reqs[0]["tools"].as_array().unwrap().len(), 21);
    assert!(reqs[0]["tools"][0]["function"]["description"].as_str().unwrap().starts_with("[analytics]"));
    assert_eq!(reqs[0]["messages"][0]["role"], "system");
    assert_eq!(reqs[0]["messages"][1]["content"], SEED);
    // The plain answer without --json.
    let m2 = Model::start(vec![answer("plain answer")]);
    let plain = env_for(&m2).run(&["ask", "hello"]).ok();
    assert_eq!(plain.stdout.trim(), "plain answer");
}

#[test]
fn json_document_field_by_field() {
    let m = Model::start(vec![calls(&[("a1", "crm.get_customer", r#"{"id":"cus_000001"}"#)]), answer("done")]);
    let doc = env_for(&m).run(&["ask", "who is cus_000001?", "--json"]).ok().json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["answer"], "done");
    assert_eq!(doc["model"], "scripted");
    assert_eq!(doc["turns"], 2);
    assert_eq!(doc["usage"]["prompt_tokens"], 200);
    assert_eq!(doc["usage"]["completion_tokens"], 40);
    assert_eq!(doc["usage"]["total_tokens"], 240);
    assert!(doc["duration_ms"].as_f64().unwrap() > 0.0);
    let c = &doc["tool_calls"][0];
    assert_eq!(c["id"], "a1");
    assert_eq!(c["tool"], "crm__get_customer", "server.tool resolves to the index name");
    assert_eq!(c["server"], "crm");
    assert_eq!(c["arguments"]["id"], "cus_000001");
    assert_eq!(c["ok"], true);
    assert!(c["error"].is_null());
    assert!(c["bytes"].as_u64().unwrap() > 100);
    assert_eq!(c["truncated"], false);
    assert!(c["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(doc["servers"]["crm"]["state"], "up");
    assert_eq!(doc["servers"]["remote_example"]["state"], "disabled");
}

#[test]
fn bad_calls_become_tool_messages_and_the_model_recovers() {
    let m = Model::start(vec![
        calls(&[
            ("b1", "crm__get_customer", r#"{"id": "cus_000001""#),
            // A misspelt tool that writes is never guessed (a read-only one is: repair.rs).
            ("b2", "crm__updte_customer", r#"{"id":"cus_000001"}"#),
            ("b3", "crm__get_customer", r#"{"id":"cus_999999"}"#),
            ("b4", "crm__get_customer", r#"[1, 2]"#),
        ]),
        answer("recovered"),
    ]);
    let doc = env_for(&m).run(&["ask", "q", "--json"]).ok().json();
    assert_eq!(doc["answer"], "recovered");
    let msgs = tool_messages(&m.requests()[1]);
    assert_eq!(msgs.len(), 4);
    assert!(msgs[0].1.contains("not valid JSON"), "{}", msgs[0].1);
    assert!(msgs[1].1.contains("unknown tool") && msgs[1].1.contains("crm__update_customer"), "{}", msgs[1].1);
    assert!(msgs[2].1.contains("not found"), "{}", msgs[2].1);
    assert!(msgs[3].1.contains("must be a JSON object"), "{}", msgs[3].1);
    assert!(doc["tool_calls"].as_array().unwrap().iter().all(|c| c["ok"] == false && c["error"].is_string()));
}

#[test]
fn retries_429_then_succeeds_and_reports_exhausted_5xx_and_auth() {
    let m = Model::start(vec![status(429, "slow down", &[("retry-after", "0")]), answer("after retry")]);
    let run = env_for(&m).run(&["ask", "q", "-v"]).ok();
    assert_eq!(run.stdout.trim(), "after retry");
    assert!(run.stderr.contains("429"), "retry visible with -v: {}", run.stderr);
    assert_eq!(m.requests().len(), 2);

    let m = Model::start(vec![]);
    m.fallback(status(503, "overloaded", &[]));
    let env = env_for(&m);
    env.config(&format!("{}\n{}", m.config("max_retries = 2"), Env::server_entry("crm", "crm")));
    let run = env.run(&["ask", "q"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("kept failing (503) after 3 attempts") && run.stderr.contains("overloaded"),
        "{}",
        run.stderr
    );
    assert_eq!(m.requests().len(), 3);

    let m = Model::start(vec![status(401, "invalid api key", &[])]);
    let run = env_for(&m).run(&["ask", "q"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("rejected the credentials (401)"), "{}", run.stderr);
    assert_eq!(m.requests().len(), 1, "401 is not retried");
}

#[test]
fn a_hung_endpoint_times_out_and_malformed_replies_fail_clearly() {
    let m = Model::start(vec![Reply::Hang]);
    let env = env_for(&m);
    env.config(&format!("{}\n{}", m.config("timeout_s = 1.0"), Env::server_entry("crm", "crm")));
    let run = env.run(&["ask", "q"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no answer from the model endpoint within 1s"), "{}", run.stderr);

    let m = Model::start(vec![Reply::Raw { status: 200, body: "{not json".into() }]);
    let run = env_for(&m).run(&["ask", "q"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("invalid JSON"), "{}", run.stderr);
}

#[test]
fn lenient_replies_and_finish_reasons() {
    let odd = Reply::Json {
        status: 200,
        body: serde_json::json!({"choices": [{"message": {"content": [{"type": "text", "text": "from parts"}]}, "finish_reason": "eos_token"}]}),
        headers: vec![],
    };
    let m = Model::start(vec![odd]);
    let run = env_for(&m).run(&["ask", "q"]).ok();
    assert_eq!(run.stdout.trim(), "from parts");

    let cut = Reply::Json {
        status: 200,
        body: serde_json::json!({"choices": [{"message": {"content": "partial"}, "finish_reason": "length"}]}),
        headers: vec![],
    };
    let m = Model::start(vec![cut]);
    let run = env_for(&m).run(&["ask", "q", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["status"], "length");
}

#[test]
fn the_turn_cap_exits_3_with_the_partial_answer() {
    let m = Model::start(vec![]);
    m.fallback(calls(&[("t", "crm__search_customers", r#"{"query":"acme"}"#)]));
    let run = env_for(&m).run(&["ask", "loop forever", "--max-turns", "3", "--json"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["status"], "turn_cap");
    assert_eq!(doc["turns"], 3);
    assert!(run.stderr.contains("turn cap of 3"), "{}", run.stderr);
    assert_eq!(m.requests().len(), 3);
}

#[test]
fn a_server_killed_during_a_turn_becomes_a_tool_error() {
    let m = Model::start(vec![
        calls(&[("k1", "kit__crash", "{}"), ("k2", "kit__echo", r#"{"text":"x"}"#)]),
        calls(&[("k3", "kit__echo", r#"{"text":"again"}"#)]),
        answer("the kit server crashed, but here is an answer"),
    ]);
    let env = env_for(&m);
    env.config(&testkit_config(&m, "", "restart = { backoff_ms = 5000 }"));
    let run = env.run(&["ask", "q", "--json"]).ok();
    let doc = run.json();
    assert_eq!(doc["answer"], "the kit server crashed, but here is an answer");
    let msgs = tool_messages(&m.requests()[1]);
    assert!(
        msgs[0].1.starts_with("Error:") && (msgs[0].1.contains("closed") || msgs[0].1.contains("down")),
        "{msgs:?}"
    );
    let later = tool_messages(&m.requests()[2]);
    assert!(later[2].1.contains("server 'kit' is down"), "{later:?}");
}

#[test]
fn write_tools_need_yes() {
    let m =
        Model::start(vec![calls(&[("w", "kit__write", r#"{"value":"v"}"#), ("e", "kit__erase", "{}")]), answer("ok")]);
    let mut env = env_for(&m);
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&testkit_config(&m, "", ""));
    env.run(&["ask", "write it"]).ok();
    let msgs = tool_messages(&m.requests()[1]);
    assert!(msgs.iter().all(|(_, t)| t.contains("needs approval") && t.contains("--yes")), "{msgs:?}");
    assert!(!std::fs::read_to_string(&log).unwrap_or_default().contains("start write"));

    let m =
        Model::start(vec![calls(&[("w", "kit__write", r#"{"value":"v"}"#), ("e", "kit__erase", "{}")]), answer("ok")]);
    env.config(&testkit_config(&m, "", ""));
    env.run(&["ask", "write it", "--yes"]).ok();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log_text.contains("start write") && log_text.contains("start erase"), "{log_text}");

    let m = Model::start(vec![calls(&[("w", "kit__write", r#"{"value":"v"}"#)]), answer("ok")]);
    env.config(&testkit_config(&m, "", "approve = \"never\""));
    env.run(&["ask", "write it", "--yes"]).ok();
    assert!(tool_messages(&m.requests()[1])[0].1.contains("never allows"));
}

#[test]
fn more_than_128_tools_send_a_valid_request() {
    let m = Model::start(vec![answer("fine")]);
    let mut env = env_for(&m);
    env.set("HUB_TESTKIT_TOOLS", "300");
    env.config(&format!("{}[tools]\nmode = \"all\"\n", testkit_config(&m, "", "")));
    let run = env.run(&["ask", "what is the weather in Paris?", "-v"]).ok();
    let req = &m.requests()[0];
    let tools = req["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 128);
    let names: Vec<&str> = tools.iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| n.len() <= 64));
    assert!(names.iter().filter(|n| n.contains("weather")).count() >= 38, "relevant tools kept");
    assert!(run.stderr.contains("leaving out"), "-v says what was left out: {}", run.stderr);
}

#[test]
fn streaming_answers_and_tool_calls() {
    let m = Model::start(vec![
        stream(
            "",
            &[
                ("s1", "crm__get_customer", r#"{"id":"cus_000001"}"#),
                ("s2", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#),
            ],
        ),
        stream("Streamed: John Smith is past_due.", &[]),
    ]);
    let run = env_for(&m).run(&["ask", "q", "--stream"]).ok();
    assert_eq!(run.stdout.trim(), "Streamed: John Smith is past_due.");
    let reqs = m.requests();
    assert_eq!(reqs[0]["stream"], true);
    let msgs = tool_messages(&reqs[1]);
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].1.contains("John Smith") && msgs[1].1.contains("past_due"));

    let cut = Model::start(vec![Reply::Stream {
        chunks: vec![serde_json::json!({"choices": [{"delta": {"content": "half"}}]})],
        cut: true,
        piece: None,
    }]);
    let run = env_for(&cut).run(&["ask", "q", "--stream"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("stream ended before it finished"), "{}", run.stderr);
}

/// Regression: each network read was decoded on its own, so a character split across two reads became U+FFFD.
#[test]
fn streamed_non_ascii_answer_split_into_three_byte_writes_is_byte_identical() {
    let text = "Grüße aus Köln — 東京の顧客は支払い済みです 🎉👍🏽 café naïve Ωμέγα";
    let Reply::Stream { chunks, .. } = stream(text, &[]) else { unreachable!() };
    let m = Model::start(vec![Reply::Stream { chunks, cut: false, piece: Some(3) }]);
    let run = env_for(&m).run(&["ask", "q", "--stream"]).ok();
    assert_eq!(run.stdout.trim_end_matches('\n'), text);
}

#[test]
fn stdin_question_and_empty_question() {
    let m = Model::start(vec![answer("from stdin")]);
    let env = env_for(&m);
    let run = env.run_with(&["ask", "-"], "What about Acme?\n").ok();
    assert_eq!(run.stdout.trim(), "from stdin");
    assert_eq!(m.requests()[0]["messages"][1]["content"], "What about Acme?");
    assert_eq!(env.run_with(&["ask", "-"], "  \n").code, 2);
}

#[test]
fn strict_mode_rewrites_schemas_and_drops_nulls_before_the_call() {
    let m = Model::start(vec![
        calls(&[("s", "crm__search_customers", r#"{"query":"Globex","limit":null}"#)]),
        answer("ok"),
    ]);
    let env = env_for(&m);
    env.config(&format!("{}\n{}", m.config("strict = true"), Env::server_entry("crm", "crm")));
    env.run(&["ask", "q"]).ok();
    let req = &m.requests()[0];
    let tool =
        req["tools"].as_array().unwrap().iter().find(|t| t["function"]["name"] == "crm__search_customers").unwrap();
    assert_eq!(tool["function"]["strict"], true);
    let params = &tool["function"]["parameters"];
    assert_eq!(params["additionalProperties"], false);
    assert_eq!(params["required"], serde_json::json!(["limit", "query"]));
    assert!(params["properties"]["limit"]["type"].as_array().unwrap().contains(&serde_json::json!("null")));
    let result = &tool_messages(&m.requests()[1])[0].1;
    assert!(result.contains("Globex"), "the null was dropped and the call ran: {result}");
}
