//! The tools side of a turn: which index entries are offered to the model (all, or the ≤128 most relevant),
//! how each becomes an OpenAI function tool (optionally with a strict-mode schema rewrite), and how one call
//! the model asked for becomes a tool message — every failure explained so the model can recover — and how one
//! turn's calls run (approvals one by one, then all at once).

use super::policy::Policy;
use super::{Message, Outcome, offer, tool_message};
use crate::llm::{Completion, ToolCall};
use crate::output;
use crate::registry::{Entry, Registry};
use crate::truncate;
use serde_json::{Map, Value};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// OpenAI's cap on tools per request.
pub const MAX_TOOLS: usize = 128;

pub use super::defs::{all_definitions, function_tool, strict_schema, tokens_of};

/// One executed (or refused) tool call, as reported by `-v`, `--json` and triage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolRecord {
    pub id: String,
    pub tool: String,
    pub server: Option<String>,
    pub arguments: Value,
    pub ok: bool,
    pub error: Option<String>,
    pub duration_ms: f64,
    pub bytes: usize,
    pub truncated: bool,
    /// Refused by the approval policy (never sent to the server).
    pub denied: bool,
    /// Start and end, in ms since the run began (to show overlap).
    pub started_ms: f64,
    pub ended_ms: f64,
    /// What was repaired in the call the model wrote (a call written as text, a name, arguments).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    /// Made by hub before the model's first turn (grounding), not asked for by the model.
    pub grounded: bool,
}

impl ToolRecord {
    /// A record of a call not run yet.
    pub fn new(id: String, tool: String, server: Option<String>, arguments: Value) -> ToolRecord {
        ToolRecord {
            id,
            tool,
            server,
            arguments,
            ok: false,
            error: None,
            duration_ms: 0.0,
            bytes: 0,
            truncated: false,
            denied: false,
            started_ms: 0.0,
            ended_ms: 0.0,
            repaired: vec![],
            grounded: false,
        }
    }
}

/// What one call gave.
pub enum Ran {
    Value(Value),
    /// The tool ran and returned `isError`, with this text.
    ToolError(String),
    /// The call did not produce a result (down, timeout, cancelled, rejected).
    Failed(String),
}

/// Runs a resolved call through the registry and completes its record: times, size, ok or error. The one call
/// path of the agent and the offline planner.
pub async fn run_recorded(
    registry: &Registry,
    entry: &Entry,
    args: Map<String, Value>,
    rec: &mut ToolRecord,
    cancel: &CancellationToken,
    epoch: Instant,
) -> Ran {
    let start = Instant::now();
    rec.started_ms = precise_ms(start - epoch);
    let call = |arguments| registry.call_cancellable(&entry.name, arguments, cancel);
    let result = crate::telemetry::spans::tool_call(&entry.name, Some(&rec.id), Some(args), call).await;
    rec.duration_ms = output::millis(start.elapsed());
    rec.ended_ms = precise_ms(epoch.elapsed());
    match result {
        Err(e) => {
            rec.error = Some(e.to_string());
            Ran::Failed(e.to_string())
        }
        Ok(called) if called.result.is_error == Some(true) => {
            let text = output::result_text(&called.result);
            rec.bytes = text.len();
            rec.error = Some(output::cut(&text, 300));
            Ran::ToolError(text)
        }
        Ok(called) => {
            let value = output::result_value(&called.result);
            rec.bytes = value.to_string().len();
            rec.ok = true;
            Ran::Value(value)
        }
    }
}

/// The entries to offer for `query`: all of them, or the `MAX_TOOLS` most relevant by the tool search (then, if
/// fewer match, the rest in index order), kept in index order; and the names left out.
pub fn select(index: &crate::registry::Index, query: &str) -> (Vec<Entry>, Vec<String>) {
    let entries = index.entries();
    if entries.len() <= MAX_TOOLS {
        return (entries.to_vec(), vec![]);
    }
    let mut keep: Vec<usize> = index.searcher().search(query, MAX_TOOLS, |_| true).iter().map(|h| h.index).collect();
    let found: std::collections::HashSet<usize> = keep.iter().copied().collect();
    let room = MAX_TOOLS - keep.len();
    keep.extend((0..entries.len()).filter(|i| !found.contains(i)).take(room));
    keep.sort_unstable();
    let kept: Vec<Entry> = keep.iter().map(|&i| entries[i].clone()).collect();
    let left: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| keep.binary_search(i).is_err())
        .map(|(_, e)| e.name.clone())
        .collect();
    (kept, left)
}

/// A call the model asked for, resolved and checked, ready to run (or already answered with an error).
pub enum Prepared {
    Run { entry: Box<Entry>, args: Map<String, Value> },
    Answer(String),
}

/// Resolves the name, parses the arguments and applies the approval policy.
pub async fn prepare(
    registry: &Registry,
    policy: &Policy,
    call: &ToolCall,
    strict: bool,
    repair: bool,
) -> (Prepared, ToolRecord) {
    let mut rec = ToolRecord::new(call.id.clone(), call.name.clone(), None, Value::String(call.arguments.clone()));
    let fail = |mut rec: ToolRecord, msg: String| {
        rec.error = Some(msg.clone());
        (Prepared::Answer(format!("Error: {msg}")), rec)
    };
    if call.id.starts_with(super::repair::TEXT_CALL) {
        rec.repaired.push("the call was written as text in the reply".into());
    }
    let index = registry.index();
    let near = || {
        let (entries, name) = (index.entries(), &call.name);
        let found = super::repair::unprefixed(entries, name).map(|e| (e, ""));
        found.or_else(|| super::repair::misspelt(entries, name).map(|e| (e, " (a typo; read-only)"))).filter(|_| repair)
    };
    let entry = match registry.resolve(&call.name) {
        Ok(e) => e,
        Err(crate::registry::CallError::UnknownTool { .. }) if near().is_some() => {
            let (e, why) = near().unwrap_or_else(|| unreachable!());
            rec.repaired.push(format!("the tool name {:?} read as {}{why}", call.name, e.name));
            e.clone()
        }
        Err(e) => {
            let index = registry.index();
            let near: Vec<&str> = index
                .searcher()
                .search(&call.name, 3, |_| true)
                .iter()
                .map(|h| index.entries()[h.index].name.as_str())
                .collect();
            // The index suggests names close in spelling; the search adds names close in meaning.
            let said = e.to_string();
            let hint = match near.iter().filter(|n| !said.contains(*n)).copied().collect::<Vec<_>>() {
                more if more.is_empty() => String::new(),
                more => format!(" Did you mean {}?", more.join(", ")),
            };
            return fail(rec, format!("{e}.{hint} Use only the tools provided."));
        }
    };
    rec.tool = entry.name.clone();
    rec.server = Some(entry.server.clone());
    let text = call.arguments.trim();
    let args = match serde_json::from_str::<Value>(if text.is_empty() { "{}" } else { text }) {
        Ok(Value::Object(m)) => m,
        Ok(Value::String(inner)) if repair && super::repair::object_in(&inner).is_some() => {
            rec.repaired.push("the arguments were a JSON string holding the object".into());
            super::repair::object_in(&inner).unwrap_or_default()
        }
        Ok(other) => {
            return fail(rec, format!("the arguments for '{}' must be a JSON object, got {other}", entry.name));
        }
        Err(e) => {
            return fail(
                rec,
                format!(
                    "the arguments for '{}' are not valid JSON ({e}); send a JSON object matching the tool's input schema",
                    entry.name
                ),
            );
        }
    };
    let args = if strict { args.into_iter().filter(|(_, v)| !v.is_null()).collect() } else { args };
    let args = if repair {
        let (args, repairs) = super::repair::arguments(args, &Value::Object((*entry.tool.input_schema).clone()));
        rec.repaired.extend(repairs);
        args
    } else {
        args
    };
    rec.arguments = Value::Object(args.clone());
    if let Err(reason) = policy.check(registry, &entry, &rec.arguments).await {
        rec.denied = true;
        return fail(rec, reason);
    }
    (Prepared::Run { entry: Box::new(entry), args }, rec)
}

impl super::Agent {
    /// Runs one turn's tool calls: approvals one by one (a person may be asked), then every approved call at
    /// once. Appends one tool message per call id, in call order. Returns true if the run was cancelled.
    pub(super) async fn run_tools(
        &self,
        history: &mut Vec<Message>,
        completion: &Completion,
        out: &mut Outcome,
        offer: &mut offer::Offer,
        cancel: &CancellationToken,
        epoch: Instant,
    ) -> bool {
        let mut prepared = Vec::new();
        let mut inner = Vec::new();
        for call in &completion.tool_calls {
            if self.cfg.code.enabled && call.name == crate::code::tool::RUN_CODE {
                let limits = crate::code::Limits::new(&self.cfg.code, self.cfg.result_budget);
                let (text, run) =
                    crate::code::tool::call(&self.registry, &self.policy, limits, &call.arguments, cancel).await;
                let rec = crate::code::tool::record(&call.id, &call.arguments, &text, run.as_ref());
                self.observer.note(&format!("ran a script: {} tool calls", run.as_ref().map_or(0, |r| r.calls.len())));
                inner.extend(run.into_iter().flat_map(|r| r.calls));
                prepared.push((Prepared::Answer(text), rec));
                continue;
            }
            if offer.searching && call.name == offer::SEARCH_TOOL {
                let (text, ok) = offer.search(&self.registry, &call.arguments);
                let args = serde_json::from_str(&call.arguments).unwrap_or(serde_json::Value::Null);
                let mut rec = ToolRecord::new(call.id.clone(), call.name.clone(), None, args);
                (rec.ok, rec.bytes) = (ok, text.len());
                if let Some(found) = offer.searches.last().filter(|_| ok) {
                    self.observer.note(&format!("searched tools for {}: found {}", found["query"], found["found"]));
                } else {
                    rec.error = Some(text.clone());
                }
                prepared.push((Prepared::Answer(text), rec));
                continue;
            }
            let p = prepare(&self.registry, &self.policy, call, self.cfg.strict, self.cfg.repair).await;
            if let Prepared::Run { entry, .. } = &p.0 {
                // A tool called without having been offered (the model knew its name) stays offered.
                offer.load(std::slice::from_ref(&entry.name));
            }
            prepared.push(p);
        }
        let runs = prepared.into_iter().map(|(p, rec)| async move {
            match p {
                Prepared::Answer(text) => (text, rec, false),
                Prepared::Run { entry, args } => {
                    self.observer.tool_start(&entry.name, Some(&entry.server));
                    let (text, rec) =
                        execute(&self.registry, *entry, args, rec, self.cfg.result_budget, cancel, epoch).await;
                    self.observer.tool_end(&rec);
                    (text, rec, true)
                }
            }
        });
        let results = futures::future::join_all(runs).await;
        let cancelled = cancel.is_cancelled();
        for (text, mut rec, executed) in results {
            if cancelled && !rec.ok {
                rec.error = Some("interrupted by the user".into());
            }
            let text = if cancelled && !rec.ok { "Error: interrupted by the user".to_string() } else { text };
            if !executed {
                self.observer.tool_end(&rec);
            }
            history.push(tool_message(&rec.id, text));
            out.tool_calls.push(rec);
        }
        // A script's own calls, as if the model had made them (after the script's record).
        for rec in inner {
            self.observer.tool_end(&rec);
            out.tool_calls.push(rec);
        }
        cancelled
    }
}

/// Milliseconds with microsecond precision (start/end stamps must order calls that take under 0.1 ms).
fn precise_ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs a prepared call; returns the tool message text and completes the record.
pub async fn execute(
    registry: &Registry,
    entry: Entry,
    args: Map<String, Value>,
    mut rec: ToolRecord,
    budget: usize,
    cancel: &CancellationToken,
    epoch: Instant,
) -> (String, ToolRecord) {
    let message = match run_recorded(registry, &entry, args, &mut rec, cancel, epoch).await {
        Ran::Failed(e) => format!("Error: {e}"),
        Ran::ToolError(text) => format!("Error from {}: {text}", entry.name),
        Ran::Value(value) => {
            let (text, cut) = result_message(&value, budget);
            rec.truncated = cut;
            text
        }
    };
    (message, rec)
}

/// A result as the tool message the model reads: cut to `budget` bytes JSON-aware; whether it was cut.
pub fn result_message(value: &Value, budget: usize) -> (String, bool) {
    let (value, cut) = truncate::truncate(value, budget);
    let text = match value {
        Value::String(s) => s,
        v => v.to_string(),
    };
    (text, cut)
}
