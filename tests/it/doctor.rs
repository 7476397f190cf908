//! `hub doctor` against a real setup: the business servers, a server that dies at start, a broken config, and a
//! scripted model endpoint on 127.0.0.1 that answers the tool probe with a tool call, with text only, or refuses
//! the key. Exit 0 only when nothing is broken; every broken line carries its next step.

use crate::model::{Model, answer, calls, status};
use crate::util::Env;
use serde_json::{Value, json};

fn checks(doc: &Value, area: &str) -> Vec<Value> {
    doc["checks"].as_array().unwrap().iter().filter(|c| c["area"] == area).cloned().collect()
}

#[test]
fn a_working_setup_passes_with_a_tool_calling_model() {
    let env = Env::new();
    let m = Model::start(vec![calls(&[("c1", "hub_doctor_ping", "{}")])]);
    env.config(&format!("{}\n{}", m.config(""), Env::server_entry("crm", "crm")));
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    let servers = checks(&doc, "server");
    assert!(servers[0]["what"].as_str().unwrap().starts_with("crm: up, 4 tools"), "{servers:?}");
    let model = checks(&doc, "model");
    assert!(model.iter().any(|c| c["mark"] == "ok" && c["what"] == "scripted answers with tool calls"), "{model:?}");
    let probe = &m.requests()[0];
    assert_eq!(probe["tools"][0]["function"]["name"], "hub_doctor_ping", "a real tool request: {probe}");
    let text = env.run(&["doctor"]).stdout;
    assert!(text.lines().any(|l| l.starts_with("✓ server   crm: up")), "{text}");
}

#[test]
fn broken_parts_are_named_with_their_fix() {
    let env = Env::new();
    let m = Model::start(vec![answer("pong, in words")]);
    let dies = "[servers.dies]\ncommand = \"sh\"\nargs = [\"-c\", \"echo cannot-open-db >&2; exit 3\"]\nrestart = { max_restarts = 0 }\n";
    env.config(&format!("{}\n{}\n{dies}", m.config(""), Env::server_entry("crm", "crm")));
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let doc = run.json();
    let dies = checks(&doc, "server").into_iter().find(|c| c["what"].as_str().unwrap().starts_with("dies:")).unwrap();
    assert_eq!(dies["mark"], "broken");
    assert!(dies["what"].as_str().unwrap().contains("cannot-open-db"), "the stderr tail: {dies}");
    let model = checks(&doc, "model");
    let probe = model.iter().find(|c| c["mark"] == "broken").unwrap();
    assert!(probe["fix"].as_str().unwrap().contains("--jinja"), "{probe}");

    let refused = Model::start(vec![status(401, "invalid api key", &[])]);
    env.config(&refused.config(""));
    let doc = env.run(&["doctor", "--json"]).json();
    let model = checks(&doc, "model");
    assert!(
        model.iter().any(|c| c["mark"] == "broken" && c["what"].as_str().unwrap().contains("OPENAI_API_KEY")),
        "{model:?}"
    );

    let keyless = Model::start(vec![status(401, "missing key", &[])]);
    env.config(&format!("[model]\nname = \"scripted\"\nbase_url = \"{}\"\n", keyless.url));
    let doc = env.run(&["doctor", "--json"]).json();
    let model = checks(&doc, "model");
    let none = model.iter().find(|c| c["mark"] == "broken").unwrap();
    assert!(none["what"].as_str().unwrap().contains("No key was sent: set OPENAI_API_KEY"), "{none}");

    env.config("[servers.x]\ncommand = \"y\"\ncomand = 1\n");
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("✗ config") && run.stdout.contains("servers.toml:3:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("✓ version  hub 0.1.0, MCP revisions 2024-11-05"),
        "the rest still runs: {}",
        run.stdout
    );
}

#[test]
fn the_tool_definitions_are_weighed_against_the_context_window_the_server_reports() {
    let env = Env::new();
    let m = Model::start(vec![]);
    m.fallback(calls(&[("c1", "hub_doctor_ping", "{}")]));
    env.config(&format!("{}\n{}", m.config(""), Env::server_entry("crm", "crm")));
    let window = |doc: &Value| {
        checks(doc, "model").into_iter().find(|c| c["what"].as_str().unwrap().contains("context window")).unwrap()
    };
    // Not reported anywhere: said so, with the size of the definitions.
    let quiet = window(&env.run(&["doctor", "--json"]).json());
    assert!(quiet["what"].as_str().unwrap().contains("not reported; the tool definitions take ≈"), "{quiet}");
    // An OpenRouter/vLLM-style listing with room to spare.
    m.describe(Some(json!({"data": [{"id": "scripted", "context_length": 128000}]})), None);
    let roomy = window(&env.run(&["doctor", "--json"]).json());
    assert_eq!(roomy["mark"], "ok", "{roomy}");
    assert!(roomy["what"].as_str().unwrap().starts_with("context window 128000 tokens"), "{roomy}");
    // llama.cpp started with a small context: /models says nothing, /props does; four crm tools overflow 300.
    m.describe(
        Some(json!({"data": [{"id": "scripted"}]})),
        Some(json!({"default_generation_settings": {"n_ctx": 300}})),
    );
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let tight = window(&run.json());
    assert_eq!(tight["mark"], "broken", "{tight}");
    assert!(tight["what"].as_str().unwrap().contains("do not fit the 300-token"), "{tight}");
    assert!(tight["fix"].as_str().unwrap().contains("fewer tools"), "{tight}");
}

#[test]
fn a_remote_server_without_a_login_and_unwritable_files_are_broken_with_their_fix() {
    let Some(fx) = crate::oauth::Fixture::start() else { return };
    let mut env = crate::oauth::env_with(&fx.url, "");
    let file = env.write("a-file", "not a directory");
    env.set("HUB_AUDIT_LOG", &file.join("audit.jsonl").display().to_string());
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let doc = run.json();
    let auth = checks(&doc, "auth");
    assert!(auth.len() == 1 && auth[0]["mark"] == "broken" && auth[0]["what"] == "oauthfx: not logged in", "{auth:?}");
    assert_eq!(auth[0]["fix"], "hub auth login oauthfx");
    let server =
        checks(&doc, "server").into_iter().find(|c| c["what"].as_str().unwrap().starts_with("oauthfx")).unwrap();
    assert_eq!(server["fix"], "hub auth login oauthfx", "{server}");
    let paths = checks(&doc, "paths");
    let audit = paths.iter().find(|c| c["what"].as_str().unwrap().starts_with("audit log")).unwrap();
    assert_eq!(audit["mark"], "broken", "{audit}");
    assert!(paths.iter().any(|c| c["mark"] == "ok" && c["what"].as_str().unwrap().starts_with("chat history")));

    // Logged in: the token's expiry is reported and nothing is broken.
    crate::oauth::log_in(&env);
    let run = env.run(&["doctor", "--json"]);
    let auth = checks(&run.json(), "auth");
    assert!(
        auth[0]["mark"] == "ok" && auth[0]["what"].as_str().unwrap().contains("logged in, token until"),
        "{auth:?}"
    );
}
