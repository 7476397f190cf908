//! Broken and hostile servers (issue #28), over stdio (`badkit`) and streamable HTTP (a scripted server here):
//! a reply that cannot be parsed fails at once with the reason — the server's timeouts are an hour, so waiting
//! for one would be a hang past `util::LIMIT` — an invalid entry costs only itself, the tool cap holds memory
//! down, a `list_changed` flood is coalesced, and the healthy server beside it is unharmed.

use crate::util::{Env, HUB};
use serde_json::{Value, json};

/// The hostile server (stdio) beside a healthy one, with deadlines nobody waits out.
fn stdio(env: &mut Env, mode: &str, extra: &str) {
    env.set("HUB_BADKIT_MODE", mode);
    env.config(&format!(
        "[defaults]\ntimeout_s = 3600\nstartup_timeout_s = 3600\n\
         [servers.bad]\ncommand = \"{HUB}\"\nargs = [\"server\", \"badkit\"]\nrestart = {{ max_restarts = 0 }}\n{extra}\n\
         [servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"
    ));
}

/// `hub tools --json`: the document, after checking the healthy server's tools are all there.
fn tools(env: &Env) -> (Value, String) {
    let run = env.run(&["tools", "--json"]).ok();
    let doc = run.json();
    let kit = doc["tools"].as_array().unwrap().iter().filter(|t| t["server"] == "kit").count();
    assert!(kit >= 5, "the healthy server keeps its tools: {doc}");
    assert_eq!(doc["servers"]["kit"]["state"], "up");
    (doc, run.stderr)
}

fn tool_names(doc: &Value, server: &str) -> Vec<String> {
    let tools = doc["tools"].as_array().unwrap().iter().filter(|t| t["server"] == server);
    tools.map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// Each unparsable reply and the words its report must carry.
const UNPARSABLE: [(&str, &str); 6] = [
    ("bad_utf8", "not valid UTF-8"),
    ("deep", "nests deeper than 128 levels"),
    ("long_desc", "larger than 16777216 bytes"),
    ("endless", "without its end"),
    ("not_jsonrpc", "not a JSON-RPC message"),
    ("garbage", "is not JSON"),
];

#[test]
fn an_unparsable_reply_fails_the_server_at_once_with_the_reason() {
    for (mode, words) in UNPARSABLE {
        let mut env = Env::new();
        env.set("HUB_BADKIT_MB", "20");
        stdio(&mut env, mode, "");
        let (doc, stderr) = tools(&env);
        let bad = &doc["servers"]["bad"];
        assert_eq!(bad["state"], "failed", "{mode}: {bad}");
        let error = bad["error"].as_str().unwrap_or("");
        assert!(error.contains(words) && error.contains("message "), "{mode}: {error}");
        assert!(tool_names(&doc, "bad").is_empty(), "{mode}");
        let line = stderr.lines().find(|l| l.starts_with("warning: server 'bad'")).unwrap_or("");
        assert!(line.contains(words), "{mode}: the person is told on stderr: {stderr}");
    }
}

#[test]
fn hub_status_names_the_protocol_error() {
    let mut env = Env::new();
    stdio(&mut env, "not_jsonrpc", "");
    let doc = env.run(&["status", "--json"]).ok().json();
    let bad = doc["servers"].as_array().unwrap().iter().find(|s| s["name"] == "bad").unwrap().clone();
    assert!(bad["last_error"].as_str().unwrap().contains("not a JSON-RPC message"), "{bad}");
    let table = env.run(&["status"]).ok().stdout;
    assert!(table.lines().any(|l| l.starts_with("bad") && l.contains("not a JSON-RPC")), "{table}");
}

/// After the handshake and a good listing, a call whose reply cannot be parsed fails at once, and the server is
/// marked down with the reason (seen through a gateway, which keeps the registry).
#[test]
fn a_bad_reply_to_a_call_fails_it_at_once_and_marks_the_server_down() {
    let mut env = Env::new();
    stdio(&mut env, "garbage_call", "");
    let s = crate::util::serve(&env, &[]);
    let rt = crate::util::rt();
    let answer: Value = rt.block_on(async {
        let body = json!({"tool": "bad__ping", "arguments": {}});
        crate::util::client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap().json().await.unwrap()
    });
    let error = answer["error"].as_str().unwrap_or("");
    assert!(error.contains("broke the protocol") && error.contains("is not JSON"), "{answer}");
    let status: Value = rt.block_on(async {
        crate::util::client().get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap()
    });
    let text = status.to_string();
    assert!(text.contains("is not JSON"), "{status}");
    // Restarted per its policy (a gateway never gives up): up again, its restart counted, the reason kept.
    let bad =
        |status: &Value| status["servers"].as_array().unwrap().iter().find(|s| s["name"] == "bad").cloned().unwrap();
    let restarted = crate::util::eventually(crate::util::LIMIT, || {
        let status: Value = rt.block_on(async {
            crate::util::client().get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap()
        });
        let b = bad(&status);
        b["state"] == "up"
            && b["restarts"].as_u64().unwrap_or(0) >= 1
            && b["last_error"].as_str().unwrap_or("").contains("is not JSON")
    });
    assert!(restarted, "the server was restarted after its protocol error");
}

#[test]
fn an_invalid_entry_costs_only_itself_and_is_reported_by_name() {
    let mut env = Env::new();
    stdio(&mut env, "mixed", "");
    let (doc, stderr) = tools(&env);
    let mut names = tool_names(&doc, "bad");
    names.sort();
    assert_eq!(names, ["bad__dotted_name", "bad__has_space", "bad__ok_two", "bad__ping", "bad__untyped", "bad__wordy"]);
    let wordy = doc["tools"].as_array().unwrap().iter().find(|t| t["name"] == "bad__wordy").unwrap();
    let description = wordy["description"].as_str().unwrap();
    assert!(description.ends_with("[cut by hub: 100000 characters]") && description.len() < 9000);
    let problems = doc["servers"]["bad"]["problems"].as_array().unwrap().clone();
    let of = |action: &str| problems.iter().filter(|p| p["action"] == action).count();
    assert_eq!((of("skipped"), of("fixed"), of("cut")), (10, 3, 1), "{problems:#?}");
    for (tool, reason) in [
        ("#3", "name is a number"),
        ("no_schema", "has no inputSchema"),
        ("ping", "listed twice"),
        ("stringy", "not \"object\""),
        ("bell\u{7}", "control character U+0007"),
        ("has space", "' ', which model APIs reject"),
        ("deep_schema", "limits.max_schema_depth"),
        ("big_schema", "limits.max_schema_bytes"),
        ("#16", "is a string"),
    ] {
        assert!(
            problems.iter().any(|p| p["name"] == tool && p["reason"].as_str().unwrap().contains(reason)),
            "{tool}: {reason}: {problems:#?}"
        );
        assert!(stderr.contains(reason), "stderr tells the person: {reason}\n{stderr}");
    }
    let pong = env.run(&["call", "bad__ping", "{}"]).ok().stdout;
    assert!(pong.contains("pong"), "the kept tools work: {pong}");
}

#[test]
fn the_tool_cap_stops_the_listing_and_says_so() {
    // Paged: 250 kept out of 5 000 in pages of 100 — the third page is the last one asked for.
    let mut env = Env::new();
    env.set("HUB_BADKIT_TOOLS", "5000").set("HUB_BADKIT_PAGE", "100");
    stdio(&mut env, "many", "limits = { max_tools = 250 }");
    let (doc, stderr) = tools(&env);
    assert_eq!(tool_names(&doc, "bad").len(), 250);
    assert!(stderr.contains("more than 250 tools (limits.max_tools)"), "{stderr}");
    let pong = env.run(&["call", "bad__ping", "{}"]).ok().stdout;
    assert!(pong.contains("tools/list served 3 times"), "{pong}");
}

/// 100 000 tools in one reply, the default cap: a gateway's own peak memory stays far below what holding them
/// all took (640 MB before the cap; the reply itself is ~9 MB).
#[test]
fn a_hundred_thousand_tools_cost_the_memory_of_the_cap() {
    let mut env = Env::new();
    stdio(&mut env, "many", "");
    let s = crate::util::serve(&env, &[]);
    let tools: Value = crate::util::rt().block_on(async {
        crate::util::client().get(format!("{}/tools", s.base)).send().await.unwrap().json().await.unwrap()
    });
    let bad = tools["tools"].as_array().unwrap().iter().filter(|t| t["server"] == "bad").count();
    assert_eq!(bad, 2000);
    let problems = tools["servers"]["bad"]["problems"].to_string();
    assert!(problems.contains("more than 2000 tools"), "{problems}");
    let peak = crate::util::peak_rss_kb(s.child.id());
    assert!(peak < 200 * 1024, "peak {peak} kB");
}

#[test]
fn a_list_changed_flood_is_coalesced() {
    let mut env = Env::new();
    env.set("HUB_BADKIT_COUNT", "200000");
    stdio(&mut env, "relist_flood", "");
    // badkit writes the whole flood before it reads the next request, so the first listing is in flight for
    // all of it: that one, then at most one queued, is all the flood may cost.
    let pong = env.run(&["call", "bad__ping", "{}"]).ok().stdout;
    let served: usize = pong.rsplit("served ").next().and_then(|s| s.split(' ').next()?.parse().ok()).unwrap();
    assert!((1..=2).contains(&served), "{pong}");
}
