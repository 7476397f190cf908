//! `hub triage` against the scripted model (with a per-turn delay): 50 items exactly once, overlapping, over one
//! process per server; SIGKILL mid-run then resume; bad input lines; `--schema` valid, repaired and invalid;
//! a 429 that pauses every worker; denied writes; CSV; and the offline planner.

use crate::model::{Model, Reply, answer, calls, status, tool_messages};
use crate::util::{Env, HUB, eventually, wait_limited};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The item id the user message starts with ("item-7: …").
fn item_of(req: &Value) -> String {
    let user = req["messages"].as_array().unwrap().iter().find(|m| m["role"] == "user").unwrap();
    user["content"].as_str().unwrap().split(':').next().unwrap().to_string()
}

/// Turn 1: call kit__echo with the item id; turn 2: answer naming it.
fn two_turns(req: &Value) -> Reply {
    let item = item_of(req);
    if tool_messages(req).is_empty() {
        calls(&[("e1", "kit__echo", &format!("{{\"text\":\"{item}\"}}"))])
    } else {
        answer(&format!("triaged {item}"))
    }
}

fn items(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("{{\"id\":\"item-{i}\",\"text\":\"item-{i}: card declined for customer {i}\",\"plan\":\"pro\"}}\n")
        })
        .collect()
}

fn kit_env(m: &Model) -> Env {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&format!("{}\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n", m.config("")));
    env
}

fn read_out(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.path("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn or invalid line {l:?}: {e}")))
        .collect()
}

fn assert_each_once(lines: &[Value], n: usize) {
    let mut seen = HashMap::new();
    for l in lines {
        *seen.entry(l["id"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), n, "every id present");
    assert!(seen.values().all(|c| *c == 1), "an id appears twice: {seen:?}");
}

#[test]
fn fifty_items_exactly_once_overlapping_over_one_process_per_server() {
    let m = Model::start_fn(Duration::from_millis(50), two_turns);
    let env = kit_env(&m);
    env.write("items.jsonl", &items(50));
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "8"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = read_out(&env);
    assert_each_once(&lines, 50);
    for l in &lines {
        assert_eq!(l["status"], "ok");
        assert_eq!(l["answer"], format!("triaged {}", l["id"].as_str().unwrap()));
        assert_eq!(l["tool_calls"][0]["tool"], "kit__echo");
        assert_eq!(l["usage"]["total_tokens"], 240);
        assert!(l["duration_ms"].as_f64().unwrap() > 0.0 && l["error"].is_null());
    }
    assert!(m.max_in_flight() > 1, "items overlap in time");
    assert!(m.max_in_flight() <= 8, "concurrency is bounded");
    // The context fields reached the model.
    assert!(m.requests()[0]["messages"][1]["content"].as_str().unwrap().contains("\"plan\":\"pro\""));
    let log = std::fs::read_to_string(env.path("kit.log")).unwrap();
    let pids: HashSet<&str> = log.lines().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(pids.len(), 1, "one testkit process for the whole batch");
    assert!(run.stderr.contains("50 ok"), "{}", run.stderr);
}

#[test]
fn sigkill_mid_run_then_resume_gives_each_id_exactly_once() {
    let m = Model::start_fn(Duration::from_millis(100), two_turns);
    let env = kit_env(&m);
    env.write("items.jsonl", &items(30));
    let child = env.command(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "4"]).spawn().unwrap();
    let pid = child.id();
    assert!(eventually(crate::util::LIMIT, || read_out(&env).len() >= 5), "some results were written");
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = wait_limited(child, Duration::from_secs(10));
    let before = read_out(&env).len();
    assert!(before < 30, "killed before the end");
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{before} already done")), "{}", run.stderr);
    assert_each_once(&read_out(&env), 30);
}

#[test]
fn bad_lines_are_reported_and_the_rest_run() {
    let m = Model::start_fn(Duration::ZERO, two_turns);
    let env = kit_env(&m);
    env.write(
        "items.jsonl",
        "{\"id\":\"a\",\"text\":\"a: one\"}\n{broken\n{\"id\":\"b\"}\n{\"id\":\"c\",\"text\":\"c: two\"}\n",
    );
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl"]);
    assert_eq!(run.code, 4, "skipped lines count as failures: {}", run.stderr);
    assert!(
        run.stderr.contains("line 2: not valid JSON") && run.stderr.contains("line 3: missing \"text\""),
        "{}",
        run.stderr
    );
    assert_each_once(&read_out(&env), 2);
    // CSV from stdin.
    let run = env.run_with(&["triage", "-", "--out", "csv.jsonl"], "id,text,plan\nx1,\"x1: hello, world\",pro\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(env.path("csv.jsonl")).unwrap().contains("\"id\":\"x1\""));
    let missing = env.run(&["triage", "nope.jsonl", "--out", "o.jsonl"]);
    assert_eq!(missing.code, 2);
}

#[test]
fn schema_valid_repaired_and_invalid() {
    let schema = r#"{"type":"object","required":["category","priority"],"properties":{"category":{"type":"string"},"priority":{"enum":["low","high"]}}}"#;
    let m = Model::start_fn(Duration::ZERO, |req| {
        let item = item_of(req);
        let repairing = req["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"].as_str().is_some_and(|c| c.contains("does not satisfy")));
        match (item.as_str(), repairing) {
            ("good", _) => answer(r#"{"category":"billing","priority":"high"}"#),
            ("fixable", false) => answer("```json\n{\"category\":\"billing\"}\n```"),
            ("fixable", true) => answer(r#"{"category":"billing","priority":"low"}"#),
            _ => answer("I think it is billing."),
        }
    });
    let env = kit_env(&m);
    env.write("schema.json", schema);
    env.write("items.jsonl", "{\"id\":\"1\",\"text\":\"good: x\"}\n{\"id\":\"2\",\"text\":\"fixable: y\"}\n{\"id\":\"3\",\"text\":\"hopeless: z\"}\n");
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--schema", "schema.json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let by: HashMap<String, Value> =
        read_out(&env).into_iter().map(|l| (l["id"].as_str().unwrap().to_string(), l)).collect();
    assert_eq!(by["1"]["status"], "ok");
    assert_eq!(by["1"]["answer"], json!({"category": "billing", "priority": "high"}));
    assert_eq!(by["2"]["status"], "ok", "repaired: {:?}", by["2"]);
    assert_eq!(by["2"]["answer"]["priority"], "low");
    assert_eq!(by["3"]["status"], "invalid_output");
    assert!(by["3"]["error"].as_str().unwrap().contains("schema"));
    let first = &m.requests()[0];
    assert_eq!(first["response_format"]["type"], "json_schema");
    // --retry-failed reruns only the failed one.
    let rerun = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--schema", "schema.json", "--retry-failed"]);
    assert!(rerun.stderr.contains("2 already done"), "{}", rerun.stderr);
    assert_each_once(&read_out(&env), 3);
}

#[test]
fn a_429_is_retried_once_and_the_batch_completes() {
    let m = Model::start_fn(Duration::from_millis(30), two_turns);
    // The first request is answered 429 with Retry-After: 1.
    m.push(status(429, "rate limited", &[("retry-after", "1")]));
    let env = kit_env(&m);
    env.write("items.jsonl", &items(12));
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_each_once(&read_out(&env), 12);
    // Every item answered once, and the 429 cost exactly one retry (two turns an item, plus the 429). That
    // the pause holds every worker, not only the one that got it, is `llm::tests` in virtual time.
    assert_eq!(m.requests().len(), 12 * 2 + 1);
}

#[test]
fn writes_are_denied_and_offline_triage_is_deterministic() {
    let m = Model::start_fn(Duration::ZERO, |req| {
        if tool_messages(req).is_empty() {
            calls(&[("w", "kit__write", "{\"value\":\"x\"}")])
        } else {
            answer("needs a human")
        }
    });
    let env = kit_env(&m);
    env.write("items.jsonl", "{\"id\":\"w1\",\"text\":\"w1: please update\"}\n");
    let run = env.run(&["triage", "items.jsonl", "--out", "out.jsonl"]);
    assert_eq!(run.code, 4);
    assert_eq!(read_out(&env)[0]["status"], "denied");

    let env = Env::new();
    env.write("items.jsonl", "{\"id\":\"s\",\"text\":\"Customer john.smith@acme.com says the renewal failed\"}\n{\"id\":\"g\",\"text\":\"Which customers do we have at Globex?\"}\n");
    env.run(&["triage", "items.jsonl", "--out", "a.jsonl"]).ok();
    env.run(&["triage", "items.jsonl", "--out", "b.jsonl"]).ok();
    // The answers' sentences: the details below them may quote the clock (a default "from now" window), which can
    // tick between the two runs.
    let answers = |f: &str| -> Vec<Value> {
        std::fs::read_to_string(env.path(f))
            .unwrap()
            .lines()
            .map(|l| {
                let answer = serde_json::from_str::<Value>(l).unwrap()["answer"].clone();
                Value::from(answer.as_str().unwrap_or_default().lines().next().unwrap_or_default())
            })
            .collect()
    };
    let (a, b) = (answers("a.jsonl"), answers("b.jsonl"));
    assert_eq!(a.len(), 2);
    assert_eq!(a.iter().collect::<HashSet<_>>(), b.iter().collect::<HashSet<_>>());
    assert!(a.iter().any(|x| x.as_str().unwrap().contains("past_due")));
}

#[test]
fn each_line_says_what_servers_asked_during_its_item() {
    let m = Model::start_fn(Duration::ZERO, |req| match (item_of(req).as_str(), tool_messages(req).is_empty()) {
        ("e", true) => calls(&[("c", "kit__elicit", "{}")]),
        ("s", true) => calls(&[("c", "kit__sample", "{}")]),
        (item, _) => answer(&format!("done {item}")),
    });
    let env = kit_env(&m);
    env.write("items.jsonl", "{\"id\":\"e\",\"text\":\"e: pick a plan\"}\n{\"id\":\"s\",\"text\":\"s: say hello\"}\n{\"id\":\"q\",\"text\":\"q: nothing\"}\n");
    env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", "1"]).ok();
    let lines: HashMap<String, Value> =
        read_out(&env).into_iter().map(|l| (l["id"].as_str().unwrap().to_string(), l)).collect();
    let asked = |id: &str| lines[id]["server_requests"].as_array().unwrap().clone();
    let e = asked("e");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0]["kind"].as_str(), e[0]["outcome"].as_str()), (Some("elicitation"), Some("decline")));
    assert_eq!(e[0]["during"], json!(["e"]));
    let s = asked("s");
    assert_eq!((s[0]["kind"].as_str(), s[0]["outcome"].as_str()), (Some("sampling"), Some("refused")), "{s:?}");
    assert!(s[0]["reason"].as_str().unwrap().contains("approval"), "{s:?}");
    assert!(asked("q").is_empty());
}
