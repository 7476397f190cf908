//! Declarative transforms on a real crm server, seen the same by every face: `hub tools --json` shows the
//! renamed tool with its reshaped schemas and the hidden one gone, `hub call` and REST `/call` send the fixed
//! argument and return results without the dropped fields and with emails redacted, a model in `hub ask` is
//! offered the transformed tool and reads only the transformed result, and a transform naming a tool the server
//! does not list is reported with its file:line.

use crate::model::{Model, answer, calls, tool_messages};
use crate::util::{Env, HUB, client, rt, serve};
use serde_json::{Value, json};

const TRANSFORMS: &str = r#"
[[servers.crm.transform]]
tool = "search_customers"
rename = "find_customers"
append_description = "Ask for one company at a time."
fix = { limit = 2 }
drop = ["/customers/*/phone"]

[[servers.crm.transform]]
redact = ['[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}']
redact_with = "[email]"

[[servers.crm.transform]]
tool = "update_customer"
hide = true

[[servers.crm.transform]]
tool = "no_such_tool"
description = "never used"
"#;

fn config(model: &str) -> String {
    format!("{model}\n[servers.crm]\ncommand = \"{HUB}\"\nargs = [\"server\", \"crm\"]\n{TRANSFORMS}")
}

/// The structured result of a search as callers get it: at most two customers, no phones, no emails.
fn check_found(found: &Value) {
    let customers = found["customers"].as_array().unwrap_or_else(|| panic!("customers in {found}"));
    assert!(!customers.is_empty() && customers.len() <= 2, "the fixed limit is sent: {found}");
    assert!(customers.iter().all(|c| c.get("phone").is_none() && c["email"] == "[email]"), "{found}");
    assert!(!found.to_string().contains('@'), "{found}");
}

#[test]
fn the_index_and_every_call_path_see_the_transforms() {
    let env = Env::new();
    env.config(&config(""));
    let tools = env.run(&["tools", "--json"]).ok();
    let doc = tools.json();
    let names: Vec<&str> = doc["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"crm__find_customers") && names.contains(&"crm__get_customer"), "{names:?}");
    assert!(!names.contains(&"crm__search_customers") && !names.contains(&"crm__update_customer"), "{names:?}");
    let find = doc["tools"].as_array().unwrap().iter().find(|t| t["name"] == "crm__find_customers").unwrap();
    assert_eq!(find["tool"], "search_customers");
    assert!(find["description"].as_str().unwrap().ends_with("Ask for one company at a time."), "{find}");
    assert!(find["input_schema"]["properties"].get("limit").is_none(), "{find}");
    assert!(!find["output_schema"].to_string().contains("phone"), "{find}");
    assert!(tools.stderr.contains("no_such_tool") && tools.stderr.contains("servers.toml:"), "{}", tools.stderr);

    let called = env.run(&["call", "crm__find_customers", r#"{"query": "Acme", "limit": 50}"#]).ok();
    check_found(&called.json());
    let raw = env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#, "--json"]).ok().stdout;
    assert!(raw.contains("[email]") && !raw.contains("john.smith@acme.com"), "text and structured: {raw}");
    let hidden = env.run(&["call", "crm__update_customer", r#"{"id": "cus_000001", "plan": "starter"}"#]);
    assert_eq!(hidden.code, 1, "{}", hidden.stderr);

    let s = serve(&env, &[]);
    rt().block_on(async {
        let body = json!({"tool": "crm__find_customers", "arguments": {"query": "Acme"}});
        let r: Value =
            client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["success"], true, "{r}");
        check_found(&r["result"]);
    });
}

#[test]
fn a_model_is_offered_the_transformed_tool_and_reads_the_transformed_result() {
    let m =
        Model::start(vec![calls(&[("c1", "crm__find_customers", r#"{"query": "Acme"}"#)]), answer("two customers")]);
    let mut env = Env::new();
    env.set("OPENAI_API_KEY", "test-key");
    env.config(&config(&m.config("")));
    env.run(&["ask", "who works at Acme?"]).ok();
    let requests = m.requests();
    let offered = requests[0]["tools"].as_array().unwrap();
    let find = offered.iter().find(|t| t["function"]["name"] == "crm__find_customers").expect("offered");
    assert!(find["function"]["parameters"]["properties"].get("limit").is_none(), "{find}");
    assert!(!offered.iter().any(|t| t["function"]["name"] == "crm__update_customer"));
    let seen = tool_messages(&requests[1]);
    let text = &seen[0].1;
    assert!(text.contains("[email]") && !text.contains('@') && !text.contains("phone"), "{text}");
}
