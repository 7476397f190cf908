//! `hub triage`: many support items through the agent (or the offline planner) over ONE set of server
//! connections and one model endpoint limiter, N at a time, each result appended to the output as it completes.
//! Items from a file or a list tool's result (`source`). Resumable (ids already in the output are skipped),
//! read-only unless the policy allows writes for triage, with an optional JSON Schema the answer must satisfy (one
//! repair attempt) — or the built-in decision, decided offline by `classify` when no model is configured. Exit 0 all
//! ok, 4 some failed.

mod apply;
mod classify;
mod input;
mod output;
mod page;
mod progress;
mod report;
mod source;

pub use source::FromTool;

use crate::agent::{self, Agent, Outcome, Status, policy};
use crate::config::Config;
use crate::exit::{self, Failure};
use crate::llm::Llm;
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use async_openai::types::chat::{ResponseFormat, ResponseFormatJsonSchema};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub const DEFAULT_PROMPT: &str = "You triage customer support items. For each item, investigate the customer across the \
    available systems (account, subscription and payments, tickets, meetings) with the tools, in parallel where you \
    can. Then answer with: category (billing, technical, account, sales or other), priority (low, normal, high or \
    urgent), a two-sentence summary of what you found, and the next action for the support team. Do not change any \
    data.";

/// Where the items come from.
pub enum Source {
    /// A file, or `-` for stdin.
    File(String),
    /// A list tool's result.
    Tool(FromTool),
}

pub struct TriageArgs {
    pub source: Source,
    pub out: PathBuf,
    /// Items in flight at once.
    pub concurrency: usize,
    /// Instructions replacing the default triage prompt.
    pub prompt: Option<PathBuf>,
    /// JSON Schema the answer must satisfy; `triage`: the built-in decision (the default with `--from`).
    pub schema: Option<PathBuf>,
    /// The built-in decision's categories (`--categories`).
    pub categories: Option<String>,
    /// Make the decisions' calls (`--apply`), or only list them (`--dry-run`).
    pub apply: bool,
    pub dry_run: bool,
    pub retry_failed: bool,
    /// Also write the report here (`.md` or `.html`).
    pub report: Option<PathBuf>,
    pub quiet: bool,
}

fn read(path: &str, what: &str) -> exit::Result<String> {
    if path == "-" {
        return crate::frame::read_stdin(what);
    }
    std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {what} {path}: {e}")))
}

/// The user message for one item: its text, then its other fields as context.
fn message(item: &input::Item) -> String {
    if item.context.is_empty() {
        return item.text.clone();
    }
    format!("{}\n\nContext: {}", item.text, Value::Object(item.context.clone()))
}

/// The answer parsed as JSON (also from a ```json fence) and checked against the schema.
fn check(answer: &str, validator: &jsonschema::Validator) -> Result<Value, String> {
    let t = answer.trim();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).map_or(t, |r| r.trim_end_matches("```")).trim();
    let v: Value = serde_json::from_str(t).map_err(|e| format!("not valid JSON ({e})"))?;
    let errors: Vec<String> =
        validator.iter_errors(&v).take(5).map(|e| format!("{} at '{}'", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(v) } else { Err(errors.join("; ")) }
}

struct Shared {
    registry: Registry,
    agent: Option<Agent>,
    system: agent::Message,
    validator: Option<jsonschema::Validator>,
    /// The built-in decision's taxonomy, when it is the schema.
    taxonomy: Option<classify::Taxonomy>,
    /// `--apply` / `--dry-run`: the tools that apply decisions, and whether only to list the calls.
    apply: Option<(apply::Tools, bool)>,
    out: output::Out,
    /// The items in flight: cancelled by a second Ctrl-C or SIGTERM.
    cancel: CancellationToken,
    progress: progress::Progress,
}

async fn one(s: &Shared, item: input::Item) -> Option<Value> {
    let started = Instant::now();
    let text = message(&item);
    let mut history = vec![s.system.clone()];
    // The item's calls carry its id, so what servers ask during them is told in the item's line.
    let caller = &crate::registry::origin::CALLER;
    let span = crate::telemetry::spans::question("triage", &text, Some(&item.id));
    let mut outcome: Outcome = match &s.agent {
        Some(a) => span.within(caller.scope(item.id.clone(), a.run(&mut history, &text, &s.cancel))).await,
        None => match &s.taxonomy {
            Some(t) => span.within(caller.scope(item.id.clone(), classify::decide(&s.registry, &item, t))).await,
            None => {
                let planned = caller.scope(item.id.clone(), crate::planner::answer(&s.registry, &item.text));
                span.within(planned).await
            }
        },
    };
    crate::telemetry::spans::answered(&span, outcome.turns, outcome.status, outcome.status == Status::Ok);
    span.end();
    if outcome.status == Status::Interrupted {
        return None;
    }
    let mut status = match outcome.status {
        Status::Ok => "ok",
        Status::TurnCap => "turn_cap",
        _ => "error",
    };
    if status == "ok" && outcome.tool_calls.iter().any(|c| c.denied) {
        status = "denied";
    }
    let mut answer = Value::String(outcome.answer.clone());
    if let (Some(v), "ok") = (&s.validator, status) {
        let mut checked = check(&outcome.answer, v);
        if let (Err(why), Some(a)) = (&checked, &s.agent) {
            let repair = format!(
                "Your answer does not satisfy the required JSON Schema: {why}. Reply with only the corrected JSON."
            );
            let again = caller.scope(item.id.clone(), a.run(&mut history, &repair, &s.cancel)).await;
            outcome.usage.add(again.usage);
            outcome.tool_calls.extend(again.tool_calls);
            checked = check(&again.answer, v);
            answer = Value::String(again.answer);
        }
        match checked {
            Ok(json) => answer = json,
            Err(why) => {
                status = "invalid_output";
                outcome.error = Some(format!("the answer does not satisfy the schema: {why}"));
            }
        }
    }
    let mut applied = Value::Null;
    if let (Some((tools, dry)), "ok") = (&s.apply, status) {
        let (records, denied) = apply::apply(&s.registry, tools, &item, &answer, *dry).await;
        if *dry {
            let mut stdout = std::io::stdout().lock();
            for r in records.iter().filter(|r| r.get("tool").is_some()) {
                let line = json!({"id": item.id, "tool": r["tool"], "arguments": r["arguments"]});
                // A closed pipe (`| head`) ends the listing, not the run.
                let _ = std::io::Write::write_all(&mut stdout, format!("{line}\n").as_bytes());
            }
        }
        if denied {
            status = "denied";
            outcome.error = Some("a write the decision needs is not allowed by the server's triage_allow".into());
        } else if records.iter().any(|r| r["ok"] == false) {
            status = "error";
            outcome.error = Some("applying the decision failed (see applied)".into());
        }
        applied = Value::Array(records);
    }
    let asked: Vec<_> = s.registry.server_requests().into_iter().filter(|a| a.during.contains(&item.id)).collect();
    // Sampling answered by hub's model for this item alone counts with its usage.
    asked.iter().filter(|a| a.during.len() == 1).filter_map(|a| a.usage).for_each(|u| outcome.usage.add(u));
    let calls: Vec<Value> = outcome
        .tool_calls
        .iter()
        .map(|c| json!({"tool": c.tool, "server": c.server, "ok": c.ok, "duration_ms": c.duration_ms}))
        .collect();
    s.progress.count(status, outcome.usage);
    Some(json!({
        "id": item.id, "status": status, "answer": answer, "tool_calls": calls, "server_requests": asked,
        "usage": outcome.usage,
        "turns": outcome.turns, "duration_ms": crate::output::millis(started.elapsed()), "applied": applied,
        "error": if status == "ok" { None } else { outcome.error.clone() },
    }))
}

/// Rows per list in the report printed at the end of a run (`hub triage report` prints more).
const TERMINAL_ROWS: usize = 15;

/// Where the report's terminal tables go, at most that many rows per list.
enum Print {
    Stderr(usize),
    Stdout(usize),
    Nowhere,
}

/// Reads the output file back (once) and prints its report as `print` says and/or writes it to `file`.
fn report_of(out: &std::path::Path, file: Option<&std::path::Path>, print: Print) -> exit::Result<()> {
    let r = report::Report::read(out).map_err(|e| Failure::usage(format!("cannot read {}: {e}", out.display())))?;
    match print {
        Print::Stderr(rows) => eprint!("\n{}", r.terminal(rows)),
        Print::Stdout(rows) => print!("{}", r.terminal(rows)),
        Print::Nowhere => {}
    }
    if let Some(file) = file {
        let text = match report::kind(file).map_err(Failure::usage)? {
            report::Kind::Markdown => r.markdown(),
            report::Kind::Html => page::html(&r, &out.display().to_string()),
        };
        std::fs::write(file, text).map_err(|e| Failure::runtime(format!("cannot write {}: {e}", file.display())))?;
    }
    Ok(())
}

/// `hub triage report OUT.jsonl [--report FILE]`: the report of an output file, on stdout (all rows up to `rows`).
pub fn report(out: &std::path::Path, file: Option<&std::path::Path>, rows: usize) -> exit::Result<u8> {
    if let Some(f) = file {
        report::kind(f).map_err(Failure::usage)?;
    }
    report_of(out, file, Print::Stdout(rows))?;
    Ok(exit::OK)
}

/// Runs the batch, then prints the report. On the first Ctrl-C no new item starts and those in flight finish; on
/// a second one (or SIGTERM) they are cancelled and not recorded (a rerun resumes them); either way exit 130.
pub async fn run(config: &Config, registry: Registry, a: TriageArgs, shutdown: &Shutdown) -> exit::Result<u8> {
    if let Some(f) = &a.report {
        report::kind(f).map_err(Failure::usage)?;
    }
    let (items, problems, origin) = match &a.source {
        Source::File(path) => {
            let content = read(path, "the input")?;
            let (items, problems) = input::parse(&content, input::Format::detect(path, &content));
            (items, problems, path.clone())
        }
        Source::Tool(from) => {
            // Nothing runs yet: a Ctrl-C (or SIGTERM) while the items are listed stops at once.
            let mut signals = shutdown.clone();
            let (items, problems) = tokio::select! {
                listed = source::items(&registry, from) => listed?,
                _ = signals.interrupt() => return Err(crate::frame::interrupted()),
                _ = shutdown.cancelled() => return Err(crate::frame::interrupted()),
            };
            (items, problems, from.tool.clone())
        }
    };
    for p in &problems {
        eprintln!("hub triage: {origin}: {p}");
    }
    let builtin = match &a.schema {
        Some(p) => p.as_os_str() == "triage",
        None => matches!(a.source, Source::Tool(_)),
    };
    let taxonomy = if builtin {
        Some(classify::Taxonomy::parse(a.categories.as_deref()).map_err(Failure::usage)?)
    } else if a.categories.is_some() {
        return Err(Failure::usage("--categories belongs to the built-in decision (--schema triage)"));
    } else {
        None
    };
    let apply = match &a.source {
        Source::Tool(from) if a.apply || a.dry_run => {
            if !builtin {
                return Err(Failure::usage("--apply and --dry-run apply the built-in decision (--schema triage)"));
            }
            let server = registry.resolve(&from.tool).map_err(|e| Failure::usage(e.to_string()))?.server;
            Some((apply::Tools::of(&registry, &server), a.dry_run))
        }
        _ => None,
    };
    let validator = match &a.schema {
        _ if builtin => {
            let schema = classify::schema(taxonomy.as_ref().unwrap_or_else(|| unreachable!()));
            let v = jsonschema::validator_for(&schema).map_err(|e| Failure::runtime(e.to_string()))?;
            Some((v, schema))
        }
        None => None,
        Some(p) => {
            let text = read(&p.display().to_string(), "the schema")?;
            let schema: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::usage(format!("{}: not valid JSON: {e}", p.display())))?;
            Some((
                jsonschema::validator_for(&schema)
                    .map_err(|e| Failure::usage(format!("{}: not a valid JSON Schema: {e}", p.display())))?,
                schema,
            ))
        }
    };
    let prompt = match &a.prompt {
        Some(p) => read(&p.display().to_string(), "the prompt")?,
        None => DEFAULT_PROMPT.to_string(),
    };
    let done = output::resume(&a.out, a.retry_failed)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", a.out.display())))?;
    let out =
        output::Out::open(&a.out).map_err(|e| Failure::usage(format!("cannot write {}: {e}", a.out.display())))?;
    let todo: Vec<input::Item> = items.into_iter().filter(|i| !done.ids.contains(&i.id)).collect();
    let skipped = done.ids.len();

    let cfg = config.model.clone();
    let agent = if cfg.offline {
        None
    } else {
        let format = validator.as_ref().map(|(_, schema)| ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                name: "triage".into(),
                schema: schema.clone(),
                strict: Some(false),
                description: None,
            },
        });
        Some(Agent {
            registry: registry.clone(),
            llm: Llm::new(&cfg).map_err(|e| Failure::runtime(e.to_string()))?,
            policy: policy::Policy::new(policy::Mode::Triage, false),
            observer: Arc::new(agent::Quiet),
            stream: false,
            response_format: format,
            cfg: cfg.clone(),
            loaded: None,
        })
    };
    let shared = Arc::new(Shared {
        registry,
        agent,
        system: agent::system_message(&crate::config::ModelConfig { system_prompt: Some(prompt), ..cfg }),
        validator: validator.map(|(v, _)| v),
        taxonomy,
        apply,
        out,
        cancel: shutdown.token().child_token(),
        progress: progress::Progress::new(todo.len(), a.quiet),
    });
    let started = Instant::now();
    let total = todo.len();
    let write_error: Mutex<Option<String>> = Mutex::new(None);
    // Each item waiting for a worker holds its share of the `hub.triage.queue` gauge.
    let todo: Vec<_> = todo.into_iter().map(|item| (item, crate::telemetry::metrics::queued())).collect();
    let work = futures::stream::iter(todo).for_each_concurrent(a.concurrency.max(1), |(item, queued)| {
        let s = shared.clone();
        let write_error = &write_error;
        async move {
            drop(queued);
            if s.cancel.is_cancelled() || !s.progress.begin() {
                return;
            }
            let Some(record) = one(&s, item).await else { return s.progress.abandon() };
            if let Err(e) = s.out.append(&record) {
                *write_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("cannot write {}: {e}", s.out.path.display()));
                s.cancel.cancel();
            }
            s.progress.written();
        }
    });
    tokio::select! {
        _ = work => {}
        _ = shared.progress.watch(shutdown, &shared.cancel) => {}
    }
    let interrupted = shared.progress.stopped();
    let (tally, usage) = shared.progress.finish();
    if let Some(e) = write_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(Failure::runtime(e));
    }
    let counts: Vec<String> = tally.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let secs = started.elapsed().as_secs_f64();
    if !a.quiet {
        eprintln!(
            "hub triage: {} of {total} items done ({}){}{}; {} tokens; {secs:.1} s; results in {}",
            tally.values().sum::<usize>(),
            if counts.is_empty() { "nothing to do".to_string() } else { counts.join(", ") },
            if skipped > 0 { format!("; {skipped} already done") } else { String::new() },
            if problems.is_empty() { String::new() } else { format!("; {} input lines skipped", problems.len()) },
            usage.total_tokens,
            shared.out.path.display()
        );
    }
    report_of(&a.out, a.report.as_deref(), if a.quiet { Print::Nowhere } else { Print::Stderr(TERMINAL_ROWS) })?;
    if interrupted {
        return Err(Failure {
            code: exit::INTERRUPTED,
            message: "interrupted; rerun the same command to resume".into(),
        });
    }
    let failed = tally.iter().any(|(k, n)| *k != "ok" && *n > 0);
    Ok(if failed || !problems.is_empty() { exit::FAILED_ITEMS } else { exit::OK })
}
