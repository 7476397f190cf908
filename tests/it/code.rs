//! Code mode (issue 23): `hub run` scripts against the business servers and the testkit — answers across servers,
//! calls that really overlap, the approval policy per inner call, the call cap, clear errors with line and column
//! for bad scripts and hard limits (time, memory, stack); `hub code api`'s declarations.

use crate::util::*;
use serde_json::Value;

/// The business servers plus the testkit (`kit`), with `extra` appended (a `[code]` table).
fn env_with(extra: &str) -> Env {
    let env = Env::new();
    let mut text: String = ["crm", "tickets", "payments"].iter().map(|s| Env::server_entry(s, s)).collect();
    text.push_str(&Env::server_entry("kit", "testkit"));
    text.push_str(extra);
    env.config(&text);
    env
}

fn run_script(env: &Env, script: &str, extra: &[&str]) -> Run {
    let mut args = vec!["run", "-", "--json"];
    args.extend_from_slice(extra);
    env.run_with(&args, script)
}

#[test]
fn a_script_answers_across_servers_with_one_run() {
    let env = env_with("");
    let script = r#"
        const found = await crm.search_customers({ query: "Acme" });
        const ids = found.customers.slice(0, 3).map((c) => c.id);
        const lists = await Promise.all(ids.map((id) => tickets.list_tickets({ customer_id: id })));
        console.log("customers", ids.length);
        return ids.map((id, i) => ({ id, tickets: lists[i].tickets.length }));
    "#;
    let r = run_script(&env, script, &[]);
    let doc = r.json();
    assert_eq!(r.code, 0, "{doc:#}");
    assert_eq!(doc["error"], Value::Null, "{doc:#}");
    assert_eq!(doc["logs"][0], "customers 3");
    assert_eq!(doc["via"], "spawned", "which servers ran it");
    let rows = doc["value"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(doc["calls"].as_array().unwrap().len(), 4, "one search and three lists: {doc:#}");
    // Each count is what the tool itself says for that customer.
    for row in rows {
        let args = format!("{{\"customer_id\": \"{}\"}}", row["id"].as_str().unwrap());
        let direct = env.run(&["call", "tickets__list_tickets", &args, "--json"]).ok().json();
        let listed = direct["structuredContent"]["tickets"].as_array().map(Vec::len).unwrap();
        assert_eq!(row["tickets"], listed, "{row}");
    }
}

#[test]
fn calls_awaited_together_overlap() {
    let env = env_with("");
    // Each `gather` returns only once three have arrived at the server: met only if all three were in flight at
    // once (called one after another, the first would wait until the run's time is up).
    let script = "return await Promise.all([1, 2, 3].map(() => kit.gather({ n: 3, ms: 3600000 })));";
    let doc = run_script(&env, script, &[]).ok().json();
    let met: Vec<&Value> = doc["value"].as_array().unwrap().iter().map(|v| &v["met"]).collect();
    assert_eq!(met, [true, true, true], "{doc:#}");
    let calls = doc["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3, "{doc:#}");
    let latest_start = calls.iter().map(|c| c["started_ms"].as_f64().unwrap()).fold(0.0, f64::max);
    let first_end = calls.iter().map(|c| c["ended_ms"].as_f64().unwrap()).fold(f64::MAX, f64::min);
    assert!(latest_start < first_end, "every call started before any ended: {doc:#}");
}

#[test]
fn write_tools_need_approval_inside_a_script_too() {
    let env = env_with("");
    let script = r#"
        const before = await crm.get_customer({ id: "cus_000001" });
        try { await crm.add_note({ customer_id: "cus_000001", text: "from a script" }); return "written"; }
        catch (e) { return { refused: e.message, notes: before.notes.length }; }
    "#;
    let refused = run_script(&env, script, &[]).ok().json();
    assert!(refused["value"]["refused"].as_str().unwrap().contains("needs approval"), "{refused:#}");
    assert_eq!(refused["calls"][1]["denied"], true, "{refused:#}");
    let after = env.run(&["call", "crm__get_customer", "{\"id\": \"cus_000001\"}", "--json"]).ok().json();
    let notes = after["structuredContent"]["notes"].as_array().unwrap().len();
    assert_eq!(notes as u64, refused["value"]["notes"].as_u64().unwrap(), "nothing was written");
    let approved = run_script(&env, script, &["--yes"]).ok().json();
    assert_eq!(approved["value"], "written", "{approved:#}");
    // Destructive and write tools of the testkit alike; a read-only one runs.
    let kit = "await kit.echo({ text: 'hi' }); await kit.erase({}); return 1;";
    let doc = run_script(&env, kit, &[]).json();
    assert!(doc["error"].as_str().unwrap().contains("'kit__erase' is destructive"), "{doc:#}");
}

#[test]
fn the_call_cap_refuses_cleanly() {
    let env = env_with("[code]\nmax_calls = 5\n");
    let script = "let ok = 0; for (let i = 0; i < 10000; i++) { try { await kit.echo({ text: 'x' }); ok++; } catch (e) {} } return ok;";
    let doc = run_script(&env, script, &[]).ok().json();
    assert_eq!(doc["value"], 5, "{doc:#}");
    assert_eq!(doc["calls_refused"], 9995);
    assert_eq!(doc["calls"].as_array().unwrap().len(), 5);
    let plain = env.run_with(&["run", "-"], script).ok();
    assert!(plain.stderr.contains("9995 tool calls refused"), "{}", plain.stderr);
}

#[test]
fn bad_scripts_fail_with_a_clear_error_and_nothing_hangs() {
    let env = env_with("[code]\ntimeout_s = 2\n");
    let cases = [
        ("const a = 1;\nreturn (", "SyntaxError"),
        ("const a = 1;\n  missing();", "ReferenceError: missing is not defined (script.js line 2, column 3)"),
        ("while (true) {}", "ran out of time (2s"),
        ("return new Promise(() => {});", "ran out of time (2s"),
        ("await kit.sleep({ ms: 60000 });", "ran out of time (2s"),
        ("function f() { return f() + 1; } return f();", "RangeError: Maximum call stack size exceeded"),
        ("return 'x'.repeat(100 * 1024 * 1024).length;", "out of memory (64 MiB"),
        ("throw 42;", "uncaught exception (not an Error): 42"),
        ("throw { code: 7 };", "uncaught exception (not an Error): {\"code\":7}"),
        ("return await crm.get_custmer({});", "crm has: add_note, get_customer, search_customers, update_customer"),
        ("return await kit.fail({ message: 'broken' });", "kit__fail failed: broken"),
        ("return await crm.get_customer('cus_1');", "must be a JSON object"),
    ];
    for (script, says) in cases {
        let r = env.run_with(&["run", "-"], script);
        assert_eq!(r.code, 1, "{script}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{script}: wanted {says:?} in\n{}", r.stderr);
    }
    // A call the script did not await does not keep the run (or the servers) waiting.
    let r = env.run_with(&["run", "-"], "kit.sleep({ ms: 60000 }); return 'done';").ok();
    assert_eq!(r.stdout.trim(), "done");
    for (args, says) in [(vec!["run", "nope.js"], "cannot read nope.js"), (vec!["run", "-"], "is empty")] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
    }
}

#[test]
fn code_api_declares_the_tools_from_their_schemas() {
    let env = env_with("");
    let all = env.run(&["code", "api"]).ok().stdout;
    let wanted =
        ["declare namespace crm {", "declare namespace kit {", "function get_customer(args", "customers: Array<{"];
    for want in wanted {
        assert!(all.contains(want), "{want}:\n{all}");
    }
    let tickets = env.run(&["code", "api", "--server", "tickets"]).ok().stdout;
    assert!(tickets.contains("declare namespace tickets") && !tickets.contains("namespace crm"), "{tickets}");
    assert!(tickets.contains("/** "), "descriptions become doc comments:\n{tickets}");
    assert!(tickets.contains("status?:") || tickets.contains("status:"), "parameters are typed:\n{tickets}");
    let r = env.run(&["code", "api", "--server", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no server named 'nope'"), "{}", r.stderr);
}

#[test]
fn the_model_runs_one_script_instead_of_many_calls() {
    use crate::model::{Model, answer, calls, tool_messages};
    let script = r#"{"code": "const c = await crm.search_customers({query: 'Acme'}); const t = await Promise.all(c.customers.slice(0, 2).map((x) => tickets.list_tickets({customer_id: x.id}))); console.log('looked'); return t.map((x) => x.tickets.length);"}"#;
    let write = r#"{"code": "return await crm.add_note({customer_id: 'cus_000001', text: 'x'});"}"#;
    let m = Model::start(vec![
        calls(&[("s1", "hub__run_code", script)]),
        answer("counted"),
        calls(&[("s2", "hub__run_code", write)]),
        answer("refused"),
        answer("no code"),
    ]);
    let mut env = env_with("");
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key");
    let doc = env.run(&["ask", "how many tickets do Acme's first two customers have", "--json", "--code"]).ok().json();
    let offered = &m.requests()[0]["tools"];
    let code_tool = offered.as_array().unwrap().iter().find(|t| t["function"]["name"] == "hub__run_code").unwrap();
    let description = code_tool["function"]["description"].as_str().unwrap();
    assert!(description.contains("crm.get_customer(args: {"), "the signatures of the offered tools:\n{description}");
    let to_model = tool_messages(&m.requests()[1]);
    assert!(to_model[0].1.contains("\"logs\":[\"looked\"]") && to_model[0].1.contains("\"value\":["), "{to_model:?}");
    let names: Vec<&str> = doc["tool_calls"].as_array().unwrap().iter().map(|c| c["tool"].as_str().unwrap()).collect();
    assert_eq!(names, ["hub__run_code", "crm__search_customers", "tickets__list_tickets", "tickets__list_tickets"]);
    // Inside a script, a write tool needs the same approval as a direct call.
    env.config(&format!("{}[code]\nenabled = true\n", std::fs::read_to_string(env.path("servers.toml")).unwrap()));
    let doc = env.run(&["ask", "note it", "--json"]).ok().json();
    assert!(doc["tool_calls"][0]["error"].as_str().unwrap().contains("needs approval"), "{doc:#}");
    assert_eq!(doc["tool_calls"][1]["denied"], true, "{doc:#}");
    // Without code mode the tool is not offered.
    std::fs::write(
        env.path("servers.toml"),
        std::fs::read_to_string(env.path("servers.toml")).unwrap().replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    env.run(&["ask", "anything", "--json"]).ok();
    let last = m.requests().last().unwrap().clone();
    assert!(last["tools"].as_array().unwrap().iter().all(|t| t["function"]["name"] != "hub__run_code"));
}

/// The search profile of `hub serve --code`, through the official Python SDK client.
#[test]
fn the_gateway_runs_scripts_on_behalf_of_the_caller() {
    use crate::fleet_shared::interop_python;
    let Some(python) = interop_python() else {
        eprintln!("SKIPPED: no interop Python (run ../shared/interop/setup.sh; .ci/run does)");
        return;
    };
    let probe = |url: &str, token: &str, call: Option<(&str, &str)>| -> Value {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/mcp_probe.py"))
            .args(["--url", url, "--names-only", "--allow-tool-error", "--header"])
            .arg(format!("Authorization: Bearer {token}"));
        if let Some((tool, args)) = call {
            cmd.args(["--call", tool, "--args", args]);
        }
        let out = cmd.output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
    };
    let tokens = "[gateway.tokens.admin]\ntoken = \"all\"\nwrite = true\n\
                  [gateway.tokens.reader]\ntoken = \"read\"\nservers = [\"crm\", \"tickets\"]\n";
    let env = env_with(tokens);
    let s = serve(&env, &["--code"]);
    let url = format!("{}/mcp/search", s.base);
    let listed = probe(&url, "read", None);
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(names.contains(&"run_code") && names.contains(&"run_code_write"), "{names:?}");
    let script = |code: &str| serde_json::json!({ "code": code }).to_string();
    let read = script("const c = await crm.search_customers({query: 'Acme'}); return c.customers.length;");
    let ran = probe(&url, "read", Some(("run_code", &read)));
    let result = &ran["call"]["result"];
    assert!(result["structuredContent"]["value"].as_u64().unwrap() > 0, "{ran:#}");
    let write = script("return await crm.add_note({customer_id: 'cus_000001', text: 'x'});");
    for (token, tool, says) in [
        ("read", "run_code", "run the script with run_code_write"),
        ("read", "run_code_write", "reader"),
        ("all", "run_code", "run the script with run_code_write"),
    ] {
        let refused = probe(&url, token, Some((tool, &write)));
        assert_eq!(refused["call"]["result"]["isError"], true, "{refused:#}");
        assert!(refused.to_string().contains(says), "{token} {tool}: {refused:#}");
    }
    let other = script("return await payments.list_invoices({customer_id: 'cus_000001'});");
    let refused = probe(&url, "read", Some(("run_code", &other)));
    assert!(refused.to_string().contains("does not include server 'payments'"), "{refused:#}");
    let written = probe(&url, "all", Some(("run_code_write", &write)));
    assert_ne!(written["call"]["result"]["isError"], true, "{written:#}");
    // The inner calls are counted like direct ones.
    let text = rt().block_on(async {
        client().get(format!("{}/metrics", s.base)).bearer_auth("all").send().await.unwrap().text().await.unwrap()
    });
    assert!(text.contains("tool=\"crm__search_customers\",outcome=\"ok\""), "{text}");
    assert!(text.contains("tool=\"crm__add_note\",outcome=\"forbidden\""), "{text}");
    // Without --code the profile has no such tools.
    let plain = serve(&env, &[]);
    let listed = probe(&format!("{}/mcp/search", plain.base), "read", None);
    assert!(!listed.to_string().contains("run_code"), "{listed:#}");
}

#[test]
fn a_script_runs_through_a_running_hub() {
    let env = env_with("");
    let _hub = serve_socket(&env, &[]);
    let doc = run_script(&env, "return (await crm.search_customers({ query: 'Acme' })).count;", &[]).ok().json();
    assert!(doc["via"].as_str().is_some_and(|v| v.starts_with("hub ") && v.ends_with("hub.sock")), "{doc:#}");
    assert!(doc["value"].as_u64().unwrap() > 0, "{doc:#}");
    assert_eq!(doc["calls"][0]["tool"], "crm__search_customers");
    let refused = run_script(&env, "return await crm.add_note({ customer_id: 'cus_000001', text: 'x' });", &[]).json();
    assert!(refused["error"].as_str().unwrap().contains("needs approval"), "the policy holds here: {refused:#}");
    // The servers behind the hub are the ones a declaration can be asked for.
    let crm = env.run(&["code", "api", "--server", "crm"]).ok().stdout;
    assert!(crm.contains("declare namespace crm") && !crm.contains("namespace tickets"), "{crm}");
}
