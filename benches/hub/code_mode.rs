//! The `code_mode` scenario (issue 23): the engine's own overhead (one run with no call; one inner call against a
//! direct call of the same tool), and three questions that span many records on the demo data, answered by a
//! scripted model with a fixed plan two ways — the tool-calling loop (a turn per step, every intermediate list
//! through the model) and code mode (one `hub__run_code` script, then the answer): turns, prompt tokens sent
//! (request bytes / 4, as `hub doctor` estimates) and wall time of the whole `hub ask`.

use super::model::{Model, Reply, answer, calls};
use super::{HUB, summary};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn code_mode() {
    overhead();
    questions();
}

fn overhead() {
    println!("## code_mode: the engine's overhead (in-process, testkit server), n=200");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let text = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
        // Pins off: an in-process registry would keep them in the user's data dir.
        let config = hub::config::Config {
            pin: hub::config::PinMode::Off,
            ..hub::config::parse(&text, "bench", &|_| None).unwrap()
        };
        let registry = hub::registry::Registry::start(&config).await;
        let limits = hub::code::Limits::new(&Default::default(), 16_000);
        let policy = || hub::agent::policy::Policy::new(hub::agent::policy::Mode::Ask, false);
        let time = |script: &'static str| {
            let registry = registry.clone();
            async move {
                let start = Instant::now();
                let run = hub::code::run(&registry, policy(), limits, script, Default::default()).await;
                assert!(run.error.is_none(), "{:?}", run.error);
                start.elapsed()
            }
        };
        let mut empty = vec![];
        let mut one = vec![];
        let mut direct = vec![];
        for _ in 0..200 {
            empty.push(time("return 1").await);
            one.push(time("return await kit.echo({ text: 'x' })").await);
            let args = json!({"text": "x"}).as_object().cloned();
            let start = Instant::now();
            registry.call("kit__echo", args).await.unwrap();
            direct.push(start.elapsed());
        }
        summary("one run, no tool call (thread, runtime, context, prelude, script)", empty);
        summary("one run with one call of kit.echo", one);
        summary("the same call made directly (registry.call)", direct);
        let mut hundred = vec![];
        for _ in 0..20 {
            hundred.push(time("for (let i = 0; i < 100; i++) await kit.echo({ text: 'x' }); return 1").await);
        }
        summary("one run with 100 sequential calls (n=20)", hundred);
        registry.shutdown().await;
    });
}

/// A question, its loop plan (each turn's calls) and the script code mode runs instead.
struct Question {
    text: &'static str,
    turns: Vec<Vec<(String, Value)>>,
    script: &'static str,
}

fn questions() {
    println!("## code_mode: three multi-record questions, loop vs code mode (scripted model, whole `hub ask`), n=5");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("servers.toml"), hub::config::BUILTIN).unwrap();
    // The loop plans name the records the data has: read them with a script first.
    let find = r#"const c = await crm.search_customers({ query: "Acme" });
        const open = await Promise.all(c.customers.map((x) => tickets.list_tickets({ customer_id: x.id, status: "open" })));
        const high = await tickets.list_tickets({ status: "open", priority: "high", limit: 100 });
        const owners = [...new Set(high.tickets.map((t) => t.customer_id))];
        const failed = await Promise.all(owners.map((id) => payments.list_invoices({ customer_id: id, status: "failed" })));
        return { acme: c.customers.map((x) => x.id), withOpen: c.customers.filter((_, i) => open[i].count > 0).map((x) => x.id),
                 owners, both: owners.filter((_, i) => failed[i].count > 0) };"#;
    let mut cmd = Command::new(HUB);
    cmd.args(["run", "-", "--json"]).current_dir(dir.path()).env("HUB_DATA_DIR", dir.path());
    let data = run_with_stdin(cmd, find)["value"].clone();
    let ids =
        |k: &str| -> Vec<String> { data[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect() };
    let each = |tool: &str, ids: &[String], extra: Value| -> Vec<(String, Value)> {
        ids.iter()
            .map(|id| {
                let mut args = json!({"customer_id": id});
                args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
                (tool.to_string(), args)
            })
            .collect()
    };
    let questions = [
        Question {
            text: "Which of Acme's customers have an open ticket, and what plan is each of them on?",
            turns: vec![
                vec![("crm__search_customers".into(), json!({"query": "Acme"}))],
                each("tickets__list_tickets", &ids("acme"), json!({"status": "open"})),
                each("payments__get_subscription", &ids("withOpen"), json!({})),
            ],
            script: r#"const c = await crm.search_customers({ query: "Acme" });
                const open = await Promise.all(c.customers.map((x) => tickets.list_tickets({ customer_id: x.id, status: "open" })));
                const hit = c.customers.filter((_, i) => open[i].count > 0);
                const subs = await Promise.all(hit.map((x) => payments.get_subscription({ customer_id: x.id })));
                return hit.map((x, i) => ({ name: x.name, open: open[c.customers.indexOf(x)].count, plan: subs[i].plan }));"#,
        },
        Question {
            text: "Which customers with a failed invoice also have an open high-priority ticket, and who is assigned?",
            turns: vec![
                vec![("tickets__list_tickets".into(), json!({"status": "open", "priority": "high", "limit": 100}))],
                each("payments__list_invoices", &ids("owners"), json!({"status": "failed"})),
                ids("both").iter().map(|id| ("crm__get_customer".to_string(), json!({"id": id}))).collect(),
            ],
            script: r#"const high = await tickets.list_tickets({ status: "open", priority: "high", limit: 100 });
                const owners = [...new Set(high.tickets.map((t) => t.customer_id))];
                const failed = await Promise.all(owners.map((id) => payments.list_invoices({ customer_id: id, status: "failed" })));
                const both = owners.filter((_, i) => failed[i].count > 0);
                const people = await Promise.all(both.map((id) => crm.get_customer({ id })));
                return people.map(({ customer: p }) => ({ name: p.name, assignee: high.tickets.find((t) => t.customer_id === p.id).assignee }));"#,
        },
        Question {
            text: "How many failed payment attempts has each Acme customer had?",
            turns: vec![
                vec![("crm__search_customers".into(), json!({"query": "Acme"}))],
                each("payments__get_payment_history", &ids("acme"), json!({})),
            ],
            script: r#"const c = await crm.search_customers({ query: "Acme" });
                const h = await Promise.all(c.customers.map((x) => payments.get_payment_history({ customer_id: x.id })));
                return c.customers.map((x, i) => ({ name: x.name, failed: h[i].failed ?? h[i] }));"#,
        },
    ];
    for q in &questions {
        let mut loop_plan: Vec<Reply> = q
            .turns
            .iter()
            .filter(|calls_of| !calls_of.is_empty())
            .enumerate()
            .map(|(t, calls_of)| {
                let list: Vec<(String, String, String)> = calls_of
                    .iter()
                    .enumerate()
                    .map(|(i, (tool, args))| (format!("t{t}c{i}"), tool.clone(), args.to_string()))
                    .collect();
                calls(&list.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect::<Vec<_>>())
            })
            .collect();
        loop_plan.push(answer("(the answer)"));
        let code = json!({"code": q.script}).to_string();
        let code_plan = vec![calls(&[("s", "hub__run_code", &code)]), answer("(the answer)")];
        let calls_in_loop: usize = q.turns.iter().map(Vec::len).sum();
        println!("{} ({} tool calls in the loop's plan)", q.text, calls_in_loop);
        for (label, plan, extra) in [("  loop", loop_plan, None), ("  code mode", code_plan, Some("--code"))] {
            let (walls, turns, tokens) = measure(dir.path(), q.text, plan, extra);
            println!("{label}: {turns} turns, {tokens} prompt tokens sent");
            summary(&format!("{label}: wall"), walls);
        }
    }
}

/// Runs `hub ask` 5 times against a model replaying `plan` (by turn); the walls, and one run's turns and tokens.
fn measure(
    dir: &std::path::Path,
    question: &str,
    plan: Vec<Reply>,
    extra: Option<&str>,
) -> (Vec<Duration>, usize, usize) {
    let plan = std::sync::Arc::new(plan);
    let replies = plan.clone();
    let m = Model::start_fn(Duration::ZERO, move |request: &Value| {
        let turn = request["messages"].as_array().map_or(0, |m| m.iter().filter(|x| x["role"] == "assistant").count());
        replies.get(turn).cloned().unwrap_or_else(|| answer("(past the plan)"))
    });
    let mut walls = vec![];
    for i in 0..6 {
        let mut cmd = Command::new(HUB);
        cmd.args(extra.into_iter().chain(["ask", question, "--json", "--yes"]))
            .current_dir(dir)
            .env("HUB_DATA_DIR", dir)
            .env("OPENAI_BASE_URL", &m.url)
            .env("HUB_GROUND", "never") // the scripted model scripts every call
            .env("OPENAI_API_KEY", "bench")
            .env("HUB_MODEL", "scripted");
        let start = Instant::now();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if i > 0 {
            walls.push(start.elapsed());
        }
    }
    // Every run makes the same requests: the first run's are the first sixth.
    let requests = m.requests();
    if extra.is_some() {
        let said = super::model::tool_messages(&requests[1]);
        assert!(!said[0].1.contains("\"error\""), "the script failed: {}", said[0].1);
    }
    let one_run = &requests[..requests.len() / 6];
    let tokens = one_run.iter().map(|r| r.to_string().len() / 4).sum();
    (walls, one_run.len(), tokens)
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Value {
    use std::io::Write;
    let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}
