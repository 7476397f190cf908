//! How much of what a question asks a tool covers: the question's focus words found in the tool's name (its noun),
//! in the values chosen for its arguments, in its output's field names, or in its descriptions. The planner runs the
//! fewest tools that cover the focus, best first.

use super::fill::Filled;
use super::intent::Kind;
use crate::rank::tokens;
use crate::registry::Entry;
use serde_json::{Map, Value};

/// Verbs tool names start with: not what a tool is about.
const VERBS: &[&str] = &["get", "list", "search", "find", "fetch", "read", "show", "query", "lookup", "retriev"];

/// The tool's own name on its server (an attached hub's index names it `server__tool`).
pub fn own_name(e: &Entry) -> &str {
    match &e.via {
        Some(via) => &via.own,
        None => e.tool.name.strip_prefix(&format!("{}__", e.server)).unwrap_or(&e.tool.name),
    }
}

/// The nouns of a tool's name (`get_payment_history` → payment, histori).
pub fn nouns(e: &Entry) -> Vec<String> {
    tokens(own_name(e)).into_iter().filter(|t| !VERBS.contains(&t.as_str())).collect()
}

/// The nouns of a tool's name as words (`get_payment_history` → "payment history").
pub fn noun_words(e: &Entry) -> String {
    let words: Vec<String> = crate::rank::words(own_name(e))
        .into_iter()
        .filter(|w| crate::rank::token(w).is_some_and(|t| !VERBS.contains(&t.as_str())))
        .collect();
    words.join(" ")
}

/// Field names and field descriptions of an output schema, stemmed, at any depth ($refs followed).
pub fn output_words(e: &Entry) -> (Vec<String>, Vec<String>) {
    let (mut names, mut descs) = (vec![], vec![]);
    if let Some(root) = e.tool.output_schema.as_ref() {
        walk(root, &Value::Object((**root).clone()), &mut names, &mut descs, 0);
    }
    (names, descs)
}

fn walk(root: &Map<String, Value>, v: &Value, names: &mut Vec<String>, descs: &mut Vec<String>, depth: usize) {
    if depth > 5 {
        return;
    }
    let v = super::catalog::resolve(root, v);
    let v = v.get("items").map(|i| super::catalog::resolve(root, i)).unwrap_or(v);
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            names.extend(tokens(k));
            if let Some(d) = p.get("description").and_then(Value::as_str) {
                descs.extend(tokens(d));
            }
            walk(root, p, names, descs, depth + 1);
        }
    }
}

/// What one source covers of `focus`: a weight per focus word (0 when not covered).
pub fn of_tool(e: &Entry, f: &Filled, focus: &[String]) -> Vec<f64> {
    let nouns = nouns(e);
    let (fields, field_descs) = output_words(e);
    let desc = tokens(e.description());
    let params: Vec<String> = e
        .tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().flat_map(|k| tokens(k)).collect())
        .unwrap_or_default();
    focus
        .iter()
        .map(|w| {
            let any = |xs: &[String]| xs.iter().any(|x| like(x, w));
            if any(&nouns) {
                2.0
            } else if f.matched.contains(w) || any(&fields) {
                1.0
            } else if any(&desc) || any(&field_descs) || any(&params) {
                0.5
            } else {
                0.0
            }
        })
        .collect()
}

/// What a record already in hand covers: its field names (and the noun of what it is).
pub fn of_record(noun: &str, record: &Map<String, Value>, focus: &[String]) -> Vec<f64> {
    let fields: Vec<String> = record.keys().flat_map(|k| tokens(k)).collect();
    focus
        .iter()
        .map(|w| {
            if like(w, noun) {
                2.0
            } else if fields.iter().any(|f| like(f, w)) {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// A bonus for tools that fit the kind of question: a trend tool for a trend, a tool that took the question's
/// period for a count or report over one, a list for a list.
pub fn kind_bonus(e: &Entry, f: &Filled, kind: Kind, windowed_question: bool) -> f64 {
    let words: Vec<String> = tokens(own_name(e)).into_iter().chain(tokens(e.description())).collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    let mut bonus = 0.0;
    if kind == Kind::Trend && (has("trend") || has("daili")) {
        bonus += 1.5;
    }
    let figures = matches!(kind, Kind::Report | Kind::Compare | Kind::Count | Kind::Lookup);
    if figures && (has("report") || has("summaris") || has("total")) {
        bonus += 1.0;
    }
    if windowed_question && f.windowed {
        bonus += 1.5;
    }
    bonus
}

/// The sum of `weights`.
pub fn total(weights: &[f64]) -> f64 {
    weights.iter().sum()
}

/// Two stems name one thing: equal, or one begins the other and the shorter has five letters or more
/// ("assign" / "assigne", "subscript" / "subscription").
pub fn like(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    a == b || short.len() >= 5 && long.starts_with(short)
}
