//! From a read question and its subject to the answer: which tools to run (the fewest that cover what is asked;
//! every view of the subject for an overview; one run per thing compared), running them at once, and the sentence
//! for the kind of question, with the facts it used.

use super::answer::{self, Source};
use super::cover::{self, nouns};
use super::fill::{Known, Mode};
use super::intent::{Intent, Kind};
use super::subject::Thing;
use super::{COMPARED, Cand, PER_SERVER, Plan, Solved, failed, only_writes, run_one};
use crate::registry::Entry;
use serde_json::{Map, Value, json};

/// Words that ask whether a figure went up, or down.
const UP: &[&str] = &["grow", "grew", "increase", "increasing", "rise", "rising", "up", "improve", "improving"];
const DOWN: &[&str] = &["fall", "fell", "drop", "decrease", "decreasing", "decline", "declining", "down", "shrink"];

/// What the question asks that no tool can run for: the parameter it needs and the values it accepts.
fn missing(plan: &Plan, c: &Cand) -> String {
    let name = &plan.entries[c.i].name;
    if let Some((param, values)) = &c.f.choices {
        let shown: Vec<&str> = values.iter().take(12).map(String::as_str).collect();
        return format!("Which {param}? {name} needs one of: {} — the question names none of them.", shown.join(", "));
    }
    let m = c.f.missing.join(", ");
    let noun = match m.trim_end_matches("id").trim_end_matches('_').replace('_', " ") {
        n if n.is_empty() => super::cover::noun_words(&plan.entries[c.i]),
        n => n,
    };
    // What the parameter takes, in the tool's own words ("Customer id such as cus_000042, or their email.").
    let first = c.f.missing.first().map(String::as_str).unwrap_or_default();
    let props = plan.entries[c.i].tool.input_schema.get("properties");
    let takes = props
        .and_then(|p| p.get(first)?.get("description")?.as_str())
        .map(|d| format!(" ({})", d.trim_end_matches('.')));
    format!("Which {noun}? {name} needs {m}{}, and the question does not say.", takes.unwrap_or_default())
}

/// Nothing covers the question: say so, with the closest tools (by the kind of question and its words) and the
/// values they accept.
fn nothing(plan: &Plan, cands: &[Cand]) -> String {
    let about =
        if plan.focus.is_empty() { String::new() } else { format!(" (nothing about {})", plan.focus.join(", ")) };
    let mut near: Vec<&Cand> = cands.iter().filter(|c| plan.scores[c.i] > 0.0).collect();
    near.sort_by(|a, b| plan.scores[b.i].partial_cmp(&plan.scores[a.i]).unwrap_or(std::cmp::Ordering::Equal));
    let closest: Vec<String> = near
        .iter()
        .take(2)
        .map(|c| match &c.f.choices {
            Some((param, values)) => format!("{} ({param}: {})", plan.entries[c.i].name, values.join(", ")),
            None => plan.entries[c.i].name.clone(),
        })
        .collect();
    match closest.is_empty() {
        true => format!("No tool of the configured servers answers this{about}."),
        false => format!("No tool of the configured servers answers this{about}. Closest: {}.", closest.join("; ")),
    }
}

/// A tool to run (its place among the read-only tools) with its arguments.
type Run = (usize, Map<String, Value>);

/// The tools to run, with their arguments.
fn choose(plan: &Plan, intent: &Intent, subject: Option<&Thing>, known: &Known) -> Result<Vec<Run>, String> {
    let kind = intent.kind;
    let mode = if subject.is_some() { Mode::Entity } else { Mode::Topic };
    let cands = plan.candidates(known, mode, kind);
    let uses = |c: &Cand| subject.is_none() || c.f.from_known + c.f.from_entity > 0;
    let usable: Vec<&Cand> = cands
        .iter()
        .filter(|c| c.runnable && uses(c) && subject.is_none_or(|t| plan.entries[c.i].name != t.tool))
        .collect();
    if let (Kind::Overview, Some(t)) = (kind, subject) {
        let mut chosen: Vec<(usize, Map<String, Value>)> = Vec::new();
        // Views of the subject, not other ways to find it.
        for c in usable.iter().filter(|c| nouns(&plan.entries[c.i]).concat() != t.noun) {
            let server = &plan.entries[c.i].server;
            if chosen.iter().filter(|(i, _)| plan.entries[*i].server == *server).count() < PER_SERVER {
                chosen.push((c.i, c.f.args.clone()));
            }
        }
        return Ok(chosen);
    }
    let record = subject.map_or(0.0, |t| cover::total(&cover::of_record(&t.noun, &t.record, &plan.focus)));
    // Every read-only tool counts here, runnable or not: a write is what is asked only when it beats them all.
    let best_ro = cands.first().map_or(0.0, |c| c.score).max(record);
    tracing::debug!(focus = ?plan.focus, record, "planner: candidates");
    for c in cands.iter().take(5) {
        tracing::debug!(tool = %plan.entries[c.i].name, score = c.score, runnable = c.runnable, args = ?c.f.args, "planner: candidate");
    }
    // No tool's words cover it, but a read-only one takes exactly what the question wrote out: that answers.
    if best_ro < 0.5
        && subject.is_none()
        && let Some(c) = taking_what_was_said(plan, &cands)
    {
        return Ok(vec![(c.i, c.f.args.clone())]);
    }
    if let Some(why) = only_writes(plan.registry.index().entries(), &plan.focus, best_ro) {
        return Err(why);
    }
    let lists = matches!(kind, Kind::Count | Kind::List | Kind::YesNo);
    match usable.first() {
        // The record in hand answers as well as any tool would (and the question is not about a list).
        Some(c) if subject.is_some() && (record >= c.score.floor() && !(lists && c.score >= 2.0)) => Ok(vec![]),
        None if subject.is_some() => Ok(vec![]),
        Some(c) if c.score >= 0.5 || subject.is_some() => {
            let top = cands
                .iter()
                .find(|x| x.score >= c.score && !x.runnable && subject.is_none() && x.score > c.score + 0.5);
            if let Some(t) = top {
                return Err(missing(plan, t));
            }
            if kind != Kind::Compare {
                return Ok(vec![(c.i, c.f.args.clone())]);
            }
            let mut runs = Vec::new();
            for pick in 1..=COMPARED {
                let f = plan.fill(c.i, known, mode, false, pick);
                if f.missing.is_empty() && !runs.iter().any(|(_, a): &(usize, Map<String, Value>)| *a == f.args) {
                    runs.push((c.i, f.args));
                }
            }
            Ok(if runs.is_empty() { vec![(c.i, c.f.args.clone())] } else { runs })
        }
        _ => match cands.first().filter(|c| c.score >= 0.5) {
            Some(c) => Err(missing(plan, c)),
            None => Err(nothing(plan, &cands)),
        },
    }
}

/// When no tool's words cover the question ("Add 2 and 3" and a tool that "returns the sum of two numbers"): the
/// one runnable tool whose required arguments are all numbers the question wrote out. (Text is weaker evidence:
/// any tool taking a string would take a quote.)
fn taking_what_was_said<'c>(plan: &Plan, cands: &'c [Cand]) -> Option<&'c Cand> {
    let said = |v: &Value| v.as_f64().is_some_and(|n| plan.e.numbers.iter().any(|(x, _)| *x == n));
    let fits: Vec<&Cand> = cands
        .iter()
        .filter(|c| {
            let required = plan.entries[c.i].tool.input_schema.get("required").and_then(Value::as_array);
            let required: Vec<&str> = required.map_or(vec![], |r| r.iter().filter_map(Value::as_str).collect());
            c.runnable && !required.is_empty() && required.iter().all(|r| c.f.args.get(*r).is_some_and(said))
        })
        .collect();
    match fits.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

pub(super) async fn compose(
    plan: &mut Plan<'_>,
    intent: &Intent,
    subject: Option<Thing>,
    origin: Option<Thing>,
    known: Known,
) -> Solved {
    let chosen = match choose(plan, intent, subject.as_ref(), &known) {
        Ok(c) => c,
        Err(why) => return failed(why),
    };
    let calls = chosen.iter().map(|(i, args)| {
        let (entry, args, epoch, registry) = (plan.entries[*i].clone(), args.clone(), plan.epoch, plan.registry);
        async move {
            let step = run_one(registry, &entry, args.clone(), epoch).await;
            (entry, args, step)
        }
    });
    let mut results = Vec::new();
    for (entry, args, step) in futures::future::join_all(calls).await {
        results.push((entry, args, step.value.clone()));
        plan.steps.push(step);
    }
    let label = subject.as_ref().map(|t| match &origin {
        Some(o) => format!("{}, the {} of {}", t.label(), t.word, o.label()),
        None => t.label(),
    });
    let oks: Vec<Source> =
        results.iter().filter_map(|(e, a, v)| Some(Source { entry: e, args: a, value: v.as_ref().ok()? })).collect();
    if oks.is_empty() && !results.is_empty() {
        let (e, _, err) = &results[0];
        let err = err.as_ref().err().cloned().unwrap_or_default();
        return Solved {
            sentence: format!("{} failed: {}", e.name, crate::output::cut(&err, 200)),
            ok: false,
            results,
            facts: vec![],
        };
    }
    let mut facts: Vec<Value> = Vec::new();
    if let Some(t) = &subject {
        facts.push(json!({"tool": t.tool, "subject": t.label(), "id": t.record.get("id")}));
    }
    let body = sentence(plan, intent, subject.as_ref(), &oks, &mut facts);
    let sentence = match (&label, body) {
        (Some(l), Some(b)) if b.starts_with("Yes — ") || b.starts_with("No — ") => {
            let (yn, rest) = b.split_once(" — ").unwrap_or(("", &b));
            format!("{yn} — {l}: {rest}")
        }
        (Some(l), Some(b)) => format!("{l}: {b}"),
        (None, Some(b)) => b,
        (Some(l), None) => {
            let t = subject.as_ref().unwrap();
            format!("{l}: {}", super::summary::item_line(&t.record))
        }
        (None, None) => String::from("The tools returned nothing to answer with."),
    };
    let sentence = format!("{}.", sentence.trim_end_matches('.'));
    Solved { sentence, ok: !oks.is_empty() || subject.is_some(), results, facts }
}

/// The answer's words after the subject's label, by kind of question.
fn sentence(
    plan: &Plan,
    intent: &Intent,
    subject: Option<&Thing>,
    oks: &[Source],
    facts: &mut Vec<Value>,
) -> Option<String> {
    let focus = &plan.focus;
    let said = &intent.words;
    if oks.is_empty() {
        // The subject's own record answers.
        let t = subject?;
        let entry = plan.entries.iter().find(|e| e.name == t.tool)?;
        if intent.kind == Kind::YesNo {
            let skip: Vec<String> = crate::rank::tokens(&t.label()).into_iter().chain([t.noun.clone()]).collect();
            let domains = |k: &str| answer::domain(&plan.entries, k);
            if let Some((yes, detail)) = answer::yes_no(entry, &t.record, said, &skip, &domains) {
                return Some(format!("{} — {detail}", if yes { "Yes" } else { "No" }));
            }
        }
        let f = answer::fields(&t.record, focus);
        if !(f.is_empty() || intent.kind == Kind::Who && t.is_party() && focus.is_empty()) {
            facts.push(json!({"tool": t.tool, "fields": f}));
            return Some(f.join(", "));
        }
        let rest: Map<String, Value> = t
            .record
            .iter()
            .filter(|(k, _)| !["name", "company", "title", "subject"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return Some(super::summary::item_line(&rest).replace(" · ", ", "));
    }
    let mut parts = Vec::new();
    if let (Kind::Overview, Some(t)) = (intent.kind, subject) {
        // The subject's own standing first ("customer active, plan business").
        let own: Vec<String> = ["status", "state", "plan", "tier", "priority"]
            .iter()
            .filter_map(|k| Some(format!("{k} {}", t.record.get(*k)?.as_str()?)))
            .collect();
        if !own.is_empty() {
            parts.push(format!("{} {}", t.word, own.join(", ").trim_start_matches("status ")));
        }
    }
    // An overview reads records (a subscription's status) before lists.
    let mut oks: Vec<&Source> = oks.iter().collect();
    if intent.kind == Kind::Overview {
        oks.sort_by_key(|s| answer::list(s.value).is_some());
    }
    for src in oks {
        let part = match intent.kind {
            Kind::Overview => overview_part(src, said),
            Kind::Count | Kind::List | Kind::YesNo => counted_part(src, intent, subject, &plan.entries),
            Kind::Trend | Kind::Report | Kind::Compare => figures_part(src, said),
            Kind::Lookup | Kind::Who => lookup_part(src, focus, said),
        };
        if let Some(p) = part {
            facts.push(json!({"tool": src.entry.name, "arguments": src.args, "said": p}));
            parts.push(p);
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("; "))
}

/// The arguments' values the question chose ("Chicago", "mrr"): what a topic answer is about.
fn chosen_values(src: &Source, said: &[String]) -> Vec<String> {
    let text = format!(" {} ", said.join(" "));
    src.args
        .values()
        .filter_map(Value::as_str)
        .filter(|v| {
            // Values chosen by the question's words, not the ids and emails it named.
            let w = crate::rank::words(v).join(" ");
            !w.is_empty() && !v.chars().any(|c| c.is_ascii_digit() || c == '@') && text.contains(&format!(" {w} "))
                || catalog_like(v, said)
        })
        .map(str::to_string)
        .collect()
}

/// A value such as `new_signups` chosen from a catalog by the question's words (some of them said).
fn catalog_like(v: &str, said: &[String]) -> bool {
    v.contains('_') && !v.chars().any(|c| c.is_ascii_digit()) && crate::rank::words(v).iter().any(|w| said.contains(w))
}

fn lookup_part(src: &Source, focus: &[String], said: &[String]) -> Option<String> {
    // A result that is a list with its counts is read as a list.
    let whole = src.value.as_object().is_some_and(|o| o.values().any(Value::is_array));
    let record = answer::record(src.entry, src.value).filter(|r| !(whole && Some(*r) == src.value.as_object()));
    if let Some(o) = record {
        let f = answer::fields(o, focus);
        let noun = super::cover::noun_words(src.entry);
        let about = chosen_values(src, said);
        let head = if about.is_empty() { noun.clone() } else { format!("{}:", about.join(", ")) };
        if o.values().filter(|v| v.is_number()).count() >= 3 && !o.contains_key("id") {
            return Some(answer::figures(o, about.first().map(String::as_str), said));
        }
        return Some(match f.is_empty() {
            false => format!("{head} {}", f.join(", ")).trim().to_string(),
            true => format!("{head} {}", super::summary::item_line(o).replace(" · ", ", ")).trim().to_string(),
        });
    }
    if answer::list(src.value).is_some() {
        return answer::count(src, focus, said).map(|c| c.line(3));
    }
    let text = match src.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.lines().find(|l| !l.trim().is_empty()).map(|l| crate::output::cut(l.trim(), 240))
}

fn counted_part(src: &Source, intent: &Intent, subject: Option<&Thing>, entries: &[Entry]) -> Option<String> {
    let Some(c) = answer::count(src, &intent.focus, &intent.words) else {
        if intent.kind == Kind::YesNo {
            let o = answer::record(src.entry, src.value)?;
            let mut skip: Vec<String> = nouns(src.entry);
            if let Some(t) = subject {
                skip.extend(crate::rank::tokens(&t.label()));
            }
            let domains = |k: &str| answer::domain(entries, k);
            if let Some((yes, detail)) = answer::yes_no(src.entry, o, &intent.words, &skip, &domains) {
                let noun = super::cover::noun_words(src.entry);
                return Some(format!("{} — {noun} {detail}", if yes { "Yes" } else { "No" }));
            }
        }
        return lookup_part(src, &intent.focus, &intent.words).or_else(|| figures_part(src, &intent.words));
    };
    let shown = if intent.kind == Kind::Count { 3.min(c.n).min(if c.n <= 5 { 5 } else { 0 }) } else { 3 };
    let line = c.line(shown);
    Some(match intent.kind {
        Kind::YesNo if c.n > 0 => format!("Yes — {line}"),
        Kind::YesNo => format!("No — {line}"),
        _ => line,
    })
}

fn figures_part(src: &Source, said: &[String]) -> Option<String> {
    let o = src.value.as_object()?;
    let label = chosen_values(src, said);
    let line = answer::figures(o, label.first().map(String::as_str), said);
    let change = ["change_pct", "change"].iter().find_map(|k| o.get(*k)?.as_f64());
    let asks_up = said.iter().any(|w| UP.contains(&w.as_str()));
    let asks_down = said.iter().any(|w| DOWN.contains(&w.as_str()));
    Some(match (change, asks_up, asks_down) {
        (Some(c), true, false) => format!("{} — {line}", if c > 0.0 { "Yes" } else { "No" }),
        (Some(c), false, true) => format!("{} — {line}", if c < 0.0 { "Yes" } else { "No" }),
        _ => line,
    })
}

/// One view of the subject in a few words: a record's status, a list's size with its rarer statuses named.
fn overview_part(src: &Source, said: &[String]) -> Option<String> {
    let noun = nouns(src.entry).join(" ");
    if let Some((_, items)) = answer::list(src.value) {
        let c = answer::count(src, &[], said)?;
        if items.is_empty() || c.tally.len() <= 1 || !c.filters.is_empty() {
            return Some(c.line(2));
        }
        // The rarer statuses are what stands out: "12 payments (2 failed: …)".
        let rare: Vec<String> = c.tally[1..]
            .iter()
            .map(|(s, n)| {
                let these = items.iter().filter(|i| answer::status_of(i) == Some(s.as_str())).take(3);
                format!("{n} {s}: {}", these.map(answer::brief).collect::<Vec<_>>().join(", "))
            })
            .collect();
        return Some(format!("{} ({})", c.phrase(), rare.join(", ")));
    }
    let o = answer::record(src.entry, src.value)?;
    let status = ["status", "state"].iter().find_map(|k| o.get(*k)?.as_str());
    Some(match status {
        Some(s) => format!("{} {s}", super::cover::noun_words(src.entry)),
        None => format!("{noun} {}", super::summary::item_line(o).replace(" · ", ", ")),
    })
}
