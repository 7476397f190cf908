//! The built-in offline planner: answers without a model, deterministically, with the same index and calls.
//!
//! 1. Extract what the question mentions (`entities`) and rank the read-only tools lexically (`rank`).
//! 2. About a concrete thing (an email, id, uuid): gather a dossier — every read-only tool that takes it, and
//!    those that take an id a lookup tool's result provides (matched through output schemas), at most three
//!    per server. Otherwise (a topic): the most relevant runnable tools.
//! 3. Fill arguments by parameter name, format, enum and description (`fill`), run independent calls in
//!    parallel, and summarise the results by server (`summary`). Never runs a tool that is not read-only;
//!    says what is missing rather than inventing anything.

mod entities;
mod fill;
mod summary;

use crate::agent::tools::{Ran, run_recorded};
use crate::agent::{Outcome, Status, ToolRecord};
use crate::llm::Usage;
use crate::registry::{Entry, Registry};
use crate::{output, rank};
use entities::Entities;
use fill::{Filled, Known, Mode};
use serde_json::Value;
use std::time::Instant;

pub const MODEL_NAME: &str = "offline-planner";
const PER_SERVER: usize = 3;

/// Output paths of a tool (from its output schema): e.g. `["customers", "id"]`, arrays walked through.
fn output_paths(schema: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if prefix.len() > 4 {
        return;
    }
    let schema = schema.get("items").unwrap_or(schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            prefix.push(k.clone());
            out.push(prefix.clone());
            output_paths(v, prefix, out);
            prefix.pop();
        }
    }
}

/// How well an output path provides parameter `param` (`customer_id` ← `customers[].id`): shared stems,
/// and the leaf must be the param itself or `id`-like.
fn provides(path: &[String], param: &str) -> usize {
    let leaf = path.last().map(String::as_str).unwrap_or("");
    if leaf != param && leaf != "id" {
        return 0;
    }
    let want: Vec<String> = rank::tokens(param);
    let have: Vec<String> = path.iter().flat_map(|p| rank::tokens(p)).collect();
    want.iter().filter(|w| have.contains(w)).count()
}

/// The value at `path` in a result, taking the first element of arrays on the way.
fn value_at(v: &Value, path: &[String]) -> Option<Value> {
    let mut cur = v;
    for key in path {
        while let Value::Array(a) = cur {
            cur = a.first()?;
        }
        cur = cur.get(key)?;
    }
    while let Value::Array(a) = cur {
        cur = a.first()?;
    }
    (!cur.is_null()).then(|| cur.clone())
}

struct Plan<'a> {
    registry: &'a Registry,
    entries: Vec<Entry>,
    scores: Vec<f64>,
    e: Entities,
    known: Known,
    records: Vec<ToolRecord>,
    results: Vec<(Entry, Result<Value, String>)>,
    epoch: Instant,
}

impl Plan<'_> {
    fn fill(&self, i: usize, mode: Mode) -> Filled {
        fill::fill(&Value::Object((*self.entries[i].tool.input_schema).clone()), &self.e, &self.known, mode)
    }

    async fn call(&mut self, entry: &Entry, args: serde_json::Map<String, Value>) -> Result<Value, String> {
        let (value, record) = run_one(self.registry, entry, args, self.epoch).await;
        self.records.push(record);
        value
    }

    /// For each required id parameter nothing fills, a lookup tool (runnable now, taking the question's
    /// entity) whose output provides it: run it once and learn every id it provides. Returns the lookups' own
    /// failures ("no match") so the answer can say so.
    async fn chain(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let missing: Vec<String> = (0..self.entries.len())
            .flat_map(|i| self.fill(i, Mode::Entity).missing)
            // Only ids with a noun ("customer_id"): a bare "id" says nothing about what it identifies.
            .filter(|p| p.to_lowercase().ends_with("id") && rank::tokens(p).len() >= 2 && !self.known.contains_key(p))
            .collect();
        for param in missing {
            if self.known.contains_key(&param) {
                continue;
            }
            let mut best: Option<(usize, usize, Vec<String>)> = None;
            for i in 0..self.entries.len() {
                let f = self.fill(i, Mode::Entity);
                if !f.missing.is_empty() || f.from_entity == 0 {
                    continue;
                }
                let Some(schema) = self.entries[i].tool.output_schema.as_ref() else { continue };
                let mut paths = Vec::new();
                output_paths(&Value::Object((**schema).clone()), &mut vec![], &mut paths);
                for p in paths {
                    let s = provides(&p, &param);
                    if s >= 2 && best.as_ref().is_none_or(|b| s > b.1 || s == b.1 && self.scores[i] > self.scores[b.0])
                    {
                        best = Some((i, s, p));
                    }
                }
            }
            let Some((i, _, path)) = best else { continue };
            let entry = self.entries[i].clone();
            let args = self.fill(i, Mode::Entity).args;
            match self.call(&entry, args).await {
                Ok(v) => match value_at(&v, &path) {
                    Some(found) => {
                        self.known.insert(param.clone(), found);
                        self.results.push((entry, Ok(v)));
                    }
                    None => {
                        let noun = param.trim_end_matches("id").trim_end_matches('_').replace('_', " ");
                        problems.push(format!("No {noun} matches '{}'.", self.e.subject().unwrap_or_default()));
                        self.results.push((entry, Ok(v)));
                    }
                },
                Err(err) => {
                    problems.push(err.clone());
                    self.results.push((entry, Err(err)));
                }
            }
        }
        problems
    }
}

/// Runs one call and records it.
async fn run_one(
    registry: &Registry,
    entry: &Entry,
    args: serde_json::Map<String, Value>,
    epoch: Instant,
) -> (Result<Value, String>, ToolRecord) {
    let id = format!("plan_{}", entry.name);
    let mut rec = ToolRecord::new(id, entry.name.clone(), Some(entry.server.clone()), Value::Object(args.clone()));
    let never = tokio_util::sync::CancellationToken::new();
    let value = match run_recorded(registry, entry, args, &mut rec, &never, epoch).await {
        Ran::Value(v) => Ok(v),
        Ran::ToolError(e) | Ran::Failed(e) => Err(e),
    };
    (value, rec)
}

/// Answers `question` with the read-only tools of `registry`.
pub async fn answer(registry: &Registry, question: &str) -> Outcome {
    let index = registry.index();
    let entries: Vec<Entry> = index.entries().iter().filter(|e| e.read_only()).cloned().collect();
    let scores = rank::scores(&entries, question);
    let e = entities::extract(question, chrono::Utc::now().date_naive());
    let mut plan = Plan {
        registry,
        entries,
        scores,
        e,
        known: Known::new(),
        records: vec![],
        results: vec![],
        epoch: Instant::now(),
    };
    let concrete = !plan.e.emails.is_empty() || !plan.e.ids.is_empty() || !plan.e.uuids.is_empty();
    let mut problems = Vec::new();
    let mode = if concrete { Mode::Entity } else { Mode::Topic };
    if concrete {
        problems = plan.chain().await;
    }
    // Candidates: runnable tools, best first (relevance, then what the question filled, then index order).
    let mut order: Vec<usize> = (0..plan.entries.len()).collect();
    let filled: Vec<Filled> = order.iter().map(|&i| plan.fill(i, mode)).collect();
    let weight = |i: usize| plan.scores[i] + 0.5 * filled[i].from_question as f64 + filled[i].from_known as f64;
    order.sort_by(|&a, &b| weight(b).partial_cmp(&weight(a)).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
    let already: Vec<String> = plan.results.iter().map(|(e, _)| e.name.clone()).collect();
    let mut chosen: Vec<usize> = Vec::new();
    if concrete {
        for &i in &order {
            let f = &filled[i];
            let per_server = chosen.iter().filter(|&&c| plan.entries[c].server == plan.entries[i].server).count()
                + already
                    .iter()
                    .filter(|n| plan.entries.iter().any(|x| &x.name == *n && x.server == plan.entries[i].server))
                    .count();
            if f.missing.is_empty()
                && f.from_entity + f.from_known > 0
                && per_server < PER_SERVER
                && !already.contains(&plan.entries[i].name)
            {
                chosen.push(i);
            }
        }
    } else if let Some(&top) = order.first().filter(|&&i| weight(i) > 0.0) {
        let best = weight(top);
        let near: Vec<usize> = order
            .iter()
            .copied()
            .take_while(|&i| weight(i) >= 0.6 * best)
            .filter(|&i| filled[i].missing.is_empty())
            .collect();
        // When some of them use what the question says, the ones that use nothing of it are noise.
        let specific = near.iter().any(|&i| filled[i].from_question > 0);
        chosen.extend(near.into_iter().filter(|&i| !specific || filled[i].from_question > 0).take(3));
        if chosen.is_empty() {
            let t = &plan.entries[top];
            let missing = filled[top].missing.join(", ");
            let noun = missing.trim_end_matches("id").trim_end_matches('_').replace('_', " ");
            problems.push(format!("Which {noun}? {} needs {missing}, and the question does not say.", t.name));
        }
    }
    // Independent calls, all at once.
    let calls = chosen.iter().map(|&i| {
        let entry = plan.entries[i].clone();
        let args = filled[i].args.clone();
        let epoch = plan.epoch;
        async move {
            let (v, rec) = run_one(registry, &entry, args, epoch).await;
            (entry, v, rec)
        }
    });
    for (entry, v, rec) in futures::future::join_all(calls).await {
        plan.records.push(rec);
        plan.results.push((entry, v));
    }
    let about = if concrete { plan.e.subject() } else { None };
    finish(plan, problems, question, about)
}

/// Whether a result holds nothing: every list in it empty (or an empty list itself).
fn is_empty_result(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => {
            let lists: Vec<&Value> = o.values().filter(|x| x.is_array()).collect();
            !lists.is_empty() && lists.iter().all(|x| is_empty_result(x))
        }
        _ => false,
    }
}

fn finish(mut plan: Plan<'_>, mut problems: Vec<String>, question: &str, about: Option<String>) -> Outcome {
    // About one thing: if no system knows it, say so (and fail); otherwise leave out the systems that had
    // nothing, naming them.
    let mut empty: Vec<String> = Vec::new();
    if let Some(subject) = &about {
        let has_data = plan.results.iter().any(|(_, r)| r.as_ref().is_ok_and(|v| !is_empty_result(v)));
        if !has_data && problems.is_empty() {
            problems.push(format!("No system has anything about '{subject}'."));
        } else if has_data {
            plan.results.retain(|(e, r)| {
                let keep = !r.as_ref().is_ok_and(is_empty_result);
                if !keep {
                    empty.push(e.name.clone());
                }
                keep
            });
        }
    }
    let mut text = String::from(
        "Answer from hub's offline planner (no model configured: set OPENAI_API_KEY, and OPENAI_BASE_URL for another \
         OpenAI-compatible endpoint, to have a model write the answer).\n",
    );
    let mut servers: Vec<&str> = plan.results.iter().map(|(e, _)| e.server.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    for server in &servers {
        text.push_str(&format!("\n{server}\n"));
        let mut mine: Vec<&(Entry, Result<Value, String>)> =
            plan.results.iter().filter(|(e, _)| e.server == *server).collect();
        mine.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (entry, result) in mine {
            text.push_str(&format!("  {}:\n", entry.tool.name));
            match result {
                Ok(v) => summary::describe(v).iter().for_each(|l| text.push_str(&format!("  {l}\n"))),
                Err(e) => text.push_str(&format!("    error: {}\n", output::cut(e, 200))),
            }
        }
    }
    if !empty.is_empty() {
        empty.sort();
        text.push_str(&format!("\nNothing found by: {}\n", empty.join(", ")));
    }
    for p in &problems {
        text.push_str(&format!("\n{p}\n"));
    }
    let found = plan.results.iter().any(|(_, r)| r.is_ok());
    if plan.results.is_empty() && problems.is_empty() {
        text.push_str(&format!("\nNo tool of the configured servers matches '{}'.\n", output::cut(question, 80)));
    }
    let mut called: Vec<String> = plan.records.iter().map(|r| r.tool.clone()).collect();
    called.sort();
    if !called.is_empty() {
        text.push_str(&format!("\nTools called: {}\n", called.join(", ")));
    }
    let ok = found && problems.is_empty();
    Outcome {
        status: if ok { Status::Ok } else { Status::Error },
        error: (!ok).then(|| {
            problems.first().cloned().unwrap_or_else(|| "the offline planner found nothing to answer with".into())
        }),
        answer: text.trim_end().to_string(),
        turns: 1,
        usage: Usage::default(),
        tool_calls: plan.records,
        model: MODEL_NAME.to_string(),
        tools_omitted: vec![],
        tool_search: None,
    }
}
