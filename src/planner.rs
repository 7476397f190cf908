//! The built-in offline planner: answers without a model, deterministically, with the read-only tools.
//!
//! 1. Read the question: what it mentions (`entities`), what it asks and about what (`intent`).
//! 2. Find its subject: the record of an email or id it names, or of a name found by search (`subject`), and the
//!    references it asks about ("the customer of ticket …"), at most two hops.
//! 3. Choose the fewest read-only tools that cover what is asked (`cover`), arguments filled from the question,
//!    the subject and the servers' own catalogs (`fill`, `catalog`); every view of the subject only for an overview.
//! 4. Answer in a sentence built from the results (`compose`, `answer`), then the details (`summary`). Says what
//!    is missing — and what would be accepted — rather than inventing anything; never runs a tool that is not
//!    read-only.

mod answer;
mod catalog;
mod compose;
mod cover;
mod entities;
mod fill;
mod intent;
mod subject;
mod summary;

use crate::agent::tools::{Ran, run_recorded};
use crate::agent::{Outcome, Status, ToolRecord};
use crate::llm::Usage;
use crate::registry::{Entry, Registry};
use crate::{output, rank};
use entities::Entities;
/// The names a page-size parameter goes by (`limit`, `page_size`, …).
pub use fill::LIMITS;
use fill::{Ctx, Filled, Known, Mode};
use intent::Kind;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;
use subject::{Found, Thing};

pub const MODEL_NAME: &str = "offline-planner";
/// An overview's views per server.
const PER_SERVER: usize = 3;
/// A comparison's runs of one tool (one per thing compared).
const COMPARED: usize = 3;

struct Plan<'a> {
    registry: &'a Registry,
    /// The read-only tools.
    entries: Vec<Entry>,
    /// Their lexical relevance to the question (ties).
    scores: Vec<f64>,
    e: Entities,
    /// What is asked about, less what references have led to.
    focus: Vec<String>,
    catalogs: Vec<Catalog>,
    steps: Vec<Step>,
    epoch: Instant,
}

/// One call the planner made: its record and what it gave.
pub struct Step {
    pub record: ToolRecord,
    pub value: Result<Value, String>,
}

/// A read-only tool considered: its arguments, how well it covers the question, whether it can run.
struct Cand {
    i: usize,
    f: Filled,
    score: f64,
    runnable: bool,
}

impl Plan<'_> {
    async fn call(&mut self, entry: &Entry, args: Map<String, Value>) -> Result<Value, String> {
        let step = run_one(self.registry, entry, args, self.epoch).await;
        let value = step.value.clone();
        self.steps.push(step);
        value
    }

    fn fill(&self, i: usize, known: &Known, mode: Mode, all: bool, pick: usize) -> Filled {
        let ctx = Ctx { e: &self.e, known, mode, catalogs: &self.catalogs, all, pick };
        fill::fill(&Value::Object((*self.entries[i].tool.input_schema).clone()), &ctx)
    }

    /// Every read-only tool (catalogs aside), scored for the question, best first.
    fn candidates(&self, known: &Known, mode: Mode, kind: Kind) -> Vec<Cand> {
        let all = matches!(kind, Kind::Count | Kind::List | Kind::YesNo | Kind::Overview);
        let windowed = self.e.window.is_some() || self.e.numbers.iter().any(|(_, u)| u.starts_with("day"));
        let mut out: Vec<Cand> = (0..self.entries.len())
            .filter(|&i| catalog::noun(&self.entries[i]).is_none())
            .map(|i| {
                let f = self.fill(i, known, mode, all, usize::from(kind == Kind::Compare));
                let e = &self.entries[i];
                let weights = cover::of_tool(e, &f, &self.focus);
                // A tool about what is asked covers at least half its words; only then does fitting the kind of
                // question (a trend, a period) count, or the tool at all.
                let share = weights.iter().filter(|w| **w > 0.0).count() * 2 >= self.focus.len();
                let covered = if share { cover::total(&weights) } else { 0.0 };
                let fits =
                    if covered > 0.0 || self.focus.is_empty() { cover::kind_bonus(e, &f, kind, windowed) } else { 0.0 };
                let score = covered + fits + 0.01 * self.scores[i];
                let ids = e.tool.input_schema.get("properties").and_then(Value::as_object).is_some_and(|p| {
                    p.keys().any(|k| k == "id" || k.ends_with("_id") || k == "email" || k.ends_with("Id"))
                });
                let runnable = f.missing.is_empty()
                    && f.choices.as_ref().is_none_or(|_| f.missing.is_empty())
                    && (f.from_question + f.from_known > 0 || !ids);
                Cand { i, f, score, runnable }
            })
            .collect();
        out.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.i.cmp(&b.i)));
        out
    }
}

/// A catalog tool's name, its noun and its items.
type Catalog = (String, String, Arc<Vec<catalog::Item>>);

/// Calls the catalogs that feed a read-only tool's parameter (once per process), with the calls made.
async fn load_catalogs(registry: &Registry, entries: &[Entry], epoch: Instant) -> (Vec<Catalog>, Vec<Step>) {
    let mut out = Vec::new();
    let mut steps = Vec::new();
    for entry in entries {
        let Some(noun) = catalog::noun(entry) else { continue };
        let fed =
            entries.iter().any(|t| {
                t.tool.input_schema.get("properties").and_then(Value::as_object).is_some_and(|props| {
                    props.iter().any(|(name, prop)| catalog::feeds(&entry.name, &noun, name, prop))
                })
            });
        if !fed {
            continue;
        }
        let items = match catalog::cached(&entry.name) {
            Some(items) => items,
            None => {
                let step = run_one(registry, entry, Map::new(), epoch).await;
                let v = step.value.clone();
                steps.push(step);
                match v {
                    Ok(v) => catalog::store(&entry.name, &v),
                    Err(_) => continue,
                }
            }
        };
        // An empty catalog says nothing about the values: the parameter is filled as any other.
        if !items.is_empty() {
            out.push((entry.name.clone(), noun, items));
        }
    }
    (out, steps)
}

/// Runs one call and records it.
async fn run_one(registry: &Registry, entry: &Entry, args: Map<String, Value>, epoch: Instant) -> Step {
    let id = format!("plan_{}", entry.name);
    let mut rec = ToolRecord::new(id, entry.name.clone(), Some(entry.server.clone()), Value::Object(args.clone()));
    let never = tokio_util::sync::CancellationToken::new();
    let value = match run_recorded(registry, entry, args, &mut rec, &never, epoch).await {
        Ran::Value(v) => Ok(v),
        Ran::ToolError(e) | Ran::Failed(e) => Err(e),
    };
    Step { record: rec, value }
}

/// Why the question cannot be answered as asked, when a tool that is not read-only is what it asks for.
fn only_writes(index: &[Entry], focus: &[String], best: f64) -> Option<String> {
    let (w, e) = index
        .iter()
        .filter(|e| !e.read_only())
        .map(|e| (cover::total(&cover::of_tool(e, &Filled::default(), focus)), e))
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))?;
    (w >= 2.0 && w > best).then(|| {
        format!(
            "{} would do this, but it is not marked read-only, and the offline planner runs read-only tools only \
             (`hub call {}` runs it; a model can too).",
            e.name, e.name
        )
    })
}

/// Answers `question` with the read-only tools of `registry`.
pub async fn answer(registry: &Registry, question: &str) -> Outcome {
    let (plan, solved) = think(registry, question).await;
    finish(plan, solved)
}

/// The planner's lookups for a question, to start a model from facts (see `agent::ground`).
pub struct Grounding {
    /// Every call the answer made, in order (the catalogs, the servers' vocabulary, aside).
    pub steps: Vec<Step>,
    /// The planner's own conclusion.
    pub sentence: String,
}

/// Runs the read-only plan for `question` and hands over its calls rather than an answer.
pub async fn ground(registry: &Registry, question: &str) -> Grounding {
    let (plan, solved) = think(registry, question).await;
    let catalogs: Vec<&String> = plan.catalogs.iter().map(|(name, _, _)| name).collect();
    let steps = plan.steps.into_iter().filter(|s| !catalogs.contains(&&s.record.tool)).collect();
    Grounding { steps, sentence: solved.sentence }
}

/// Whether the question names a record: an email, an id (`INV-000012`, `cus_000001`) or a uuid.
pub fn names_records(question: &str) -> bool {
    let e = entities::extract(question, chrono::Utc::now().date_naive());
    !(e.emails.is_empty() && e.ids.is_empty() && e.uuids.is_empty())
}

async fn think<'r>(registry: &'r Registry, question: &str) -> (Plan<'r>, Solved) {
    let index = registry.index();
    let entries: Vec<Entry> = index.entries().iter().filter(|e| e.read_only()).cloned().collect();
    let scores = rank::scores(&entries, question);
    let e = entities::extract(question, chrono::Utc::now().date_naive());
    let verbs: Vec<String> =
        index.entries().iter().filter_map(|x| rank::tokens(cover::own_name(x)).into_iter().next()).collect();
    let intent = intent::read(question, &e, &verbs);
    let mut plan = Plan {
        registry,
        entries,
        scores,
        e,
        focus: intent.focus.clone(),
        catalogs: vec![],
        steps: vec![],
        epoch: Instant::now(),
    };
    let solved = solve(&mut plan, &intent).await;
    (plan, solved)
}

/// A tool called: the tool, its arguments, its result.
type Called = (Entry, Map<String, Value>, Result<Value, String>);

/// What the planner concluded: the sentence, whether it answers, the results behind it, the facts used.
struct Solved {
    sentence: String,
    ok: bool,
    results: Vec<Called>,
    facts: Vec<Value>,
}

fn failed(why: String) -> Solved {
    Solved { sentence: why, ok: false, results: vec![], facts: vec![] }
}

async fn solve(plan: &mut Plan<'_>, intent: &intent::Intent) -> Solved {
    let kind = intent.kind;
    // 1. The subject: a concrete value the question names, else a name searched for when the tools need one.
    let concrete = plan.e.emails.first().or(plan.e.ids.first()).or(plan.e.uuids.first()).cloned();
    let mut subject: Option<Thing> = None;
    // The servers' catalogs load alongside the first lookup.
    let looked = {
        let p: &Plan = plan;
        let lookup = async {
            match &concrete {
                Some(v) => Some(p.fetch(v).await),
                None => None,
            }
        };
        let (looked, (catalogs, steps)) = futures::join!(lookup, load_catalogs(p.registry, &p.entries, p.epoch));
        plan.catalogs = catalogs;
        plan.steps.extend(steps);
        looked
    };
    if let Some((found, step)) = looked {
        plan.steps.extend(step);
        match found {
            Found::One(t) => subject = Some(t),
            Found::None(why) => return failed(why),
            Found::Several(..) | Found::Nothing => {}
        }
    }
    if subject.is_none() && concrete.is_none() && !plan.e.names.is_empty() {
        let top = plan.candidates(&Known::new(), Mode::Topic, kind);
        // A question about one thing named by name (a lookup, a yes/no) is about its record; a list or count
        // needs one when its best tool cannot run and no tool taking the name does nearly as well.
        let named = top.iter().filter(|c| c.runnable && c.f.from_entity > 0).map(|c| c.score).fold(0.0, f64::max);
        let one = matches!(kind, Kind::Lookup | Kind::YesNo);
        let needs_one = top.first().is_some_and(|c| c.score >= 0.5 && (one || !c.runnable && named + 0.25 < c.score));
        if matches!(kind, Kind::Who | Kind::Overview) || needs_one {
            match plan.search(&plan.e.names.join(" ")).await {
                Found::One(t) => subject = Some(t),
                Found::None(why) => return failed(why),
                Found::Several(noun, labels) => {
                    let name = plan.e.names.join(" ");
                    return failed(format!(
                        "{} {}s match '{name}': {} — which one? Ask again with the email or id.",
                        labels.len(),
                        noun,
                        labels.join("; ")
                    ));
                }
                Found::Nothing => {}
            }
        }
    }
    // 2. References the question asks about.
    let mut origin: Option<Thing> = None;
    if let Some(t) = subject.take() {
        let first = t.clone();
        match plan.follow(t, kind).await {
            Ok(t) => {
                if t.record.get("id") != first.record.get("id") || t.noun != first.noun {
                    // The word that named where the question started ("ticket" TCK-01001) is not asked about.
                    plan.focus.retain(|w| !cover::like(w, &first.noun));
                    origin = Some(first);
                }
                subject = Some(t);
            }
            Err(why) => return failed(why),
        }
    }
    let mut known = Known::new();
    if let Some(t) = &subject {
        t.learn(&mut known);
        plan.focus.retain(|w| *w != t.noun);
    }
    if origin.is_some() {
        // What the question named led elsewhere: its values no longer fill arguments (the subject's id does).
        let e = &mut plan.e;
        (e.emails, e.ids, e.uuids, e.names, e.quoted) = Default::default();
    }
    compose::compose(plan, intent, subject, origin, known).await
}

fn finish(plan: Plan<'_>, solved: Solved) -> Outcome {
    let mut text = solved.sentence.trim().to_string();
    text.push('\n');
    let mut servers: Vec<&str> = solved.results.iter().map(|(e, _, _)| e.server.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    for server in &servers {
        text.push_str(&format!("\n{server}\n"));
        for (entry, _, result) in solved.results.iter().filter(|(e, _, _)| e.server == *server) {
            text.push_str(&format!("  {}:\n", cover::own_name(entry)));
            match result {
                Ok(v) => summary::describe(v).iter().for_each(|l| text.push_str(&format!("  {l}\n"))),
                Err(e) => text.push_str(&format!("    error: {}\n", output::cut(e, 200))),
            }
        }
    }
    // The answer's own calls: a catalog is read once per process, so whether this answer read it depends on what
    // came before (`--json` records it when it did); the text stays the same either way.
    let catalogs: Vec<&str> = plan.catalogs.iter().map(|(name, _, _)| name.as_str()).collect();
    let mut called: Vec<String> =
        plan.steps.iter().map(|s| s.record.tool.clone()).filter(|t| !catalogs.contains(&t.as_str())).collect();
    called.sort();
    called.dedup();
    if !called.is_empty() {
        text.push_str(&format!("\nTools called: {}\n", called.join(", ")));
    }
    text.push_str(
        "\n(hub's offline planner: no model configured. Set OPENAI_API_KEY, and OPENAI_BASE_URL for another \
         OpenAI-compatible endpoint, to have a model answer.)",
    );
    let first = solved.sentence.lines().next().unwrap_or_default().to_string();
    Outcome {
        status: if solved.ok { Status::Ok } else { Status::Error },
        error: (!solved.ok).then_some(first),
        answer: text.trim_end().to_string(),
        turns: 1,
        usage: Usage::default(),
        tool_calls: plan.steps.into_iter().map(|s| s.record).collect(),
        model: MODEL_NAME.to_string(),
        tools_omitted: vec![],
        tool_search: None,
        facts: Some(Value::Array(solved.facts)),
        repairs: vec![],
    }
}
