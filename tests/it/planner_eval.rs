//! The offline planner's evaluation (`benches/planner/questions.toml`): every question asked with `hub ask --json`
//! and no model, its answer's first line checked for the facts a correct answer holds (strings, and numbers read
//! from the evaluator's own tool calls), its status and its calls; the score per category printed
//! (`--nocapture`), and the test fails when a category falls below its floor in the file. The same kind of
//! questions against third-party servers (server-everything, the Python SDK fixture, a catalog-shaped Python SDK
//! server) prove nothing is special to the demo.

use crate::util::Env;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn questions(name: &str) -> toml::Table {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/planner").join(name);
    toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The numbers written in `line` ("1,234.5", "-3", "0.8%").
fn numbers_in(line: &str) -> Vec<f64> {
    let mut out = vec![];
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<f64>| {
        let t = cur.trim_end_matches(['.', ',']).replace(',', "");
        if let Ok(n) = t.parse::<f64>() {
            out.push(n);
        }
        cur.clear();
    };
    for c in line.chars() {
        if c.is_ascii_digit() || (matches!(c, '.' | ',') && !cur.is_empty()) || (c == '-' && cur.is_empty()) {
            cur.push(c);
        } else {
            flush(&mut cur, &mut out);
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// What `take` names in a tool's result: a dotted path, or `#key` for the length of the list at `key`.
fn take(v: &Value, take: &str) -> f64 {
    if let Some(key) = take.strip_prefix('#') {
        return v[key].as_array().map_or(f64::NAN, |a| a.len() as f64);
    }
    take.split('.').fold(v, |v, k| &v[k]).as_f64().unwrap_or(f64::NAN)
}

/// Why the answer to question `q` fails, if it does.
fn judge(env: &Env, q: &toml::Table) -> Option<String> {
    let ask = q["ask"].as_str().unwrap();
    let run = env.run(&["ask", ask, "--json"]);
    let doc: Value = serde_json::from_str(&run.stdout).ok()?;
    let answer = doc["answer"].as_str().unwrap_or_default();
    let first = answer.lines().next().unwrap_or_default().to_lowercase();
    let strs = |k: &str| q.get(k).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    for f in strs("facts") {
        let f = f.as_str().unwrap().to_lowercase();
        if !first.contains(&f) {
            return Some(format!("first line lacks '{f}': {first}"));
        }
    }
    for f in strs("not") {
        let f = f.as_str().unwrap().to_lowercase();
        if answer.to_lowercase().contains(&f) {
            return Some(format!("says '{f}'"));
        }
    }
    let have = numbers_in(&first);
    for n in strs("numbers") {
        let args: Map<String, Value> = serde_json::from_str(&serde_json::to_string(&n["args"]).unwrap()).unwrap();
        let out = env.run(&["call", n["call"].as_str().unwrap(), &Value::Object(args).to_string()]).ok().json();
        let want = take(&out, n["take"].as_str().unwrap());
        if !have.iter().any(|h| (h - want).abs() <= 0.05_f64.max(want.abs() * 0.001)) {
            return Some(format!("first line lacks the number {want}: {first}"));
        }
    }
    let want_error = q.get("error").and_then(|v| v.as_bool()).unwrap_or(false);
    let status = doc["status"].as_str().unwrap_or_default();
    if (status == "error") != want_error {
        return Some(format!("status {status}: {first}"));
    }
    let tools = env.run(&["tools", "--json"]).ok().json();
    for call in doc["tool_calls"].as_array().into_iter().flatten() {
        let t = tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == call["tool"]);
        if t.is_none_or(|t| t["kind"] != "read-only") {
            return Some(format!("called {}, not read-only", call["tool"]));
        }
    }
    None
}

/// Asks every question of `file` and checks each category's score against its floor.
fn evaluate(env: &Env, file: &str) {
    let doc = questions(file);
    let floors = doc["floor"].as_table().unwrap();
    let mut score: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = vec![];
    for q in doc["q"].as_array().unwrap() {
        let q = q.as_table().unwrap();
        let cat = q["cat"].as_str().unwrap().to_string();
        let s = score.entry(cat.clone()).or_default();
        s.1 += 1;
        match judge(env, q) {
            None => s.0 += 1,
            Some(why) => failures.push(format!("  [{cat}] {} — {why}", q["ask"].as_str().unwrap())),
        }
    }
    let (pass, all) = score.values().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
    println!("{file}: {pass}/{all} passed");
    for (cat, (p, n)) in &score {
        println!("  {cat:<10} {p}/{n}");
    }
    println!("failures:\n{}", failures.join("\n"));
    for (cat, (p, n)) in &score {
        let floor = floors.get(cat).and_then(|f| f.as_float()).unwrap_or_else(|| panic!("no floor for {cat}"));
        assert!(*p as f64 / *n as f64 >= floor, "{cat}: {p}/{n} is below the floor {floor}\n{}", failures.join("\n"));
    }
}

#[test]
fn planner_eval_over_the_demo_servers() {
    let mut env = Env::new();
    env.set("HUB_DEMO_CUSTOMERS", "600");
    evaluate(&env, "questions.toml");
}

#[test]
fn planner_eval_over_the_demo_servers_held_out() {
    let mut env = Env::new();
    env.set("HUB_DEMO_CUSTOMERS", "600");
    evaluate(&env, "heldout.toml");
}

#[test]
fn planner_eval_over_third_party_servers() {
    let Some(python) = crate::fleet_shared::interop_python() else { return };
    let home = python.parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let everything = home.join("npm-servers/node_modules/.bin/mcp-server-everything");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("../shared/interop/py_sdk_server.py");
    let stations = root.join("benches/planner/stations_server.py");
    let py = |name: &str, script: &std::path::Path| {
        format!(
            "[servers.{name}]\ncommand = {:?}\nargs = [{:?}]\n",
            python.display().to_string(),
            script.display().to_string()
        )
    };
    let env = Env::new();
    env.config(&format!(
        "[servers.everything]\ncommand = {:?}\nargs = [\"stdio\"]\n{}{}",
        everything.display().to_string(),
        py("pysdk", &fixture),
        py("stations", &stations)
    ));
    evaluate(&env, "third_party.toml");
}

#[test]
fn numbers_are_read_as_written() {
    assert_eq!(numbers_in("33 open tickets, 78,925.5 usd (-0.8%)."), [33.0, 78925.5, -0.8]);
}
