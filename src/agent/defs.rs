//! Tool definitions as the model sees them: each index entry as an OpenAI function tool (description prefixed with
//! its server; the input schema as given, or its strict-mode rewrite), what they weigh in tokens, and how they are
//! fitted to a small context: when they would take more than a third of the model's context window they are
//! compacted — the first sentence of each description (the tool's and its parameters'), titles, examples and
//! comments gone; types, enums, defaults and required fields kept — and, if still too large, the tools least
//! relevant to the question are left out until they fit. The window comes from `[model] context_window`, else from
//! the endpoint where it says (a `/models` entry, llama.cpp's `/props`, Ollama's `/api/show`); asked once per
//! process, and only of an endpoint on this machine or network (a hosted API's windows are large).
//!
//! Owns: the definitions and their fitting. Not: which tools are offered (see `offer`).

use crate::config::ModelConfig;
use crate::registry::Entry;
use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Map, Value};
use std::collections::HashMap;
use tokio::sync::OnceCell;

/// The definitions may take one part in this many of the window.
const SHARE: usize = 3;

static WINDOW: OnceCell<Option<u64>> = OnceCell::const_new();

/// What tool definitions weigh in a request, in tokens (an estimate: 4 bytes a token).
pub fn tokens_of(defs: &[ChatCompletionTools]) -> usize {
    defs.iter().map(|d| serde_json::to_vec(d).map_or(0, |v| v.len())).sum::<usize>() / 4
}

/// Every tool as the "all" mode would offer it (at most `super::tools::MAX_TOOLS`): what search mode is weighed against.
pub fn all_definitions(index: &crate::registry::Index, strict: bool) -> Vec<ChatCompletionTools> {
    index.entries().iter().take(super::tools::MAX_TOOLS).map(|e| function_tool(e, strict)).collect()
}

/// The function tool for `entry`: description prefixed with the server; the MCP schema as given, or its
/// strict rewrite when `strict` and the schema allows one.
pub fn function_tool(entry: &Entry, strict: bool) -> ChatCompletionTools {
    let schema = Value::Object((*entry.tool.input_schema).clone());
    let rewritten = if strict { strict_schema(&schema) } else { None };
    let strict_flag = rewritten.as_ref().map(|_| true);
    let mut parameters = rewritten.unwrap_or(schema);
    if let Some(o) = parameters.as_object_mut() {
        o.remove("$schema");
        o.entry("type").or_insert_with(|| "object".into());
        o.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    }
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: entry.name.clone(),
            description: Some(format!("[{}] {}", entry.server, entry.description())),
            parameters: Some(parameters),
            strict: strict_flag,
        },
    })
}

/// Strict-mode rewrite of a flat object schema: every property required, optional ones nullable,
/// `additionalProperties: false`, no `format`. `None` when the schema is not flat enough to rewrite safely.
pub fn strict_schema(schema: &Value) -> Option<Value> {
    let props = schema.get("properties")?.as_object()?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or(vec![], |r| r.iter().filter_map(Value::as_str).collect());
    let mut out = Map::new();
    for (name, p) in props {
        let mut p = p.as_object()?.clone();
        if p.contains_key("$ref")
            || p.contains_key("anyOf")
            || p.contains_key("oneOf")
            || p.get("type")?.as_str() == Some("object")
        {
            return None;
        }
        p.remove("format");
        if !required.contains(&name.as_str()) {
            let nullable = match p.get("type")? {
                Value::String(t) => Value::Array(vec![t.clone().into(), "null".into()]),
                Value::Array(ts) if ts.iter().any(|t| t == "null") => Value::Array(ts.clone()),
                _ => return None,
            };
            p.insert("type".into(), nullable);
        }
        out.insert(name.clone(), Value::Object(p));
    }
    Some(serde_json::json!({
        "type": "object", "properties": out, "required": props.keys().collect::<Vec<_>>(), "additionalProperties": false,
    }))
}

/// The model's context window in tokens, when it is known.
pub async fn window(cfg: &ModelConfig) -> Option<u64> {
    if let Some(w) = cfg.context_window {
        return Some(u64::from(w));
    }
    if !crate::llm::window::is_local(&cfg.base_url) {
        return None;
    }
    *WINDOW
        .get_or_init(|| async {
            let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5));
            let http = crate::llm::client_for(&cfg.base_url, builder).build().ok()?;
            let w = crate::llm::window::discover(&http, cfg).await;
            tracing::debug!(window = ?w, "the model's context window");
            w
        })
        .await
}

/// The first sentence of a description (up to the first ". " or line break).
fn first_sentence(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// A schema with every description cut to its first sentence and what a model does not need removed.
fn compact_schema(schema: &mut Value) {
    match schema {
        Value::Object(o) => {
            for k in ["title", "examples", "$comment", "$schema"] {
                o.remove(k);
            }
            if let Some(Value::String(d)) = o.get_mut("description") {
                *d = first_sentence(d);
            }
            for (k, v) in o.iter_mut() {
                match (k.as_str(), v) {
                    // These hold parameter names, not keywords: a parameter called `title` stays.
                    ("properties" | "$defs" | "definitions" | "patternProperties", Value::Object(named)) => {
                        named.values_mut().for_each(compact_schema)
                    }
                    ("description" | "enum" | "required" | "default" | "const", _) => {}
                    (_, v) => compact_schema(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(compact_schema),
        _ => {}
    }
}

/// One definition compacted.
pub fn compact(def: &mut ChatCompletionTools) {
    let ChatCompletionTools::Function(t) = def else { return };
    if let Some(d) = &mut t.function.description {
        *d = first_sentence(d);
    }
    if let Some(p) = &mut t.function.parameters {
        compact_schema(p);
    }
}

/// The definitions fitted to `window`: as they are when they fit, else compacted, else the least relevant left out
/// (`relevance` ranks a tool's name; definitions that are not ranked, such as the search tool, stay). Returns what
/// was done, to be said.
pub fn fit(
    defs: &mut Vec<ChatCompletionTools>,
    window: u64,
    relevance: impl Fn(&str) -> Option<f64>,
) -> Option<String> {
    let budget = (window as usize) / SHARE;
    let before = tokens_of(defs);
    if before <= budget {
        return None;
    }
    defs.iter_mut().for_each(compact);
    let compacted = tokens_of(defs);
    let mut left_out = Vec::new();
    while tokens_of(defs) > budget {
        let worst = defs
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                ChatCompletionTools::Function(t) => Some((i, relevance(&t.function.name)?)),
                _ => None,
            })
            .min_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
        let Some((i, _)) = worst.filter(|_| defs.len() > 1) else { break };
        if let ChatCompletionTools::Function(t) = defs.remove(i) {
            left_out.push(t.function.name);
        }
    }
    let mut note = format!(
        "the tool definitions (≈{before} tokens) exceed a third of the {window}-token context window: compacted to \
         ≈{compacted}"
    );
    if !left_out.is_empty() {
        note.push_str(&format!(", then ≈{} leaving out the least relevant: {}", tokens_of(defs), left_out.join(", ")));
    }
    Some(note)
}

/// How relevant each tool is to `question`, to leave out the least when the window is small: the tool search's
/// score (0 to 1), and more for a tool that takes what the question names (an email, an id) or that grounding
/// called.
pub fn relevance(index: &crate::registry::Index, question: &str, grounded: &[&str]) -> HashMap<String, f64> {
    let entries = index.entries();
    let mut out: HashMap<String, f64> = entries.iter().map(|e| (e.name.clone(), 0.0)).collect();
    let hits = index.searcher().search(question, entries.len(), |_| true);
    let top = hits.first().map_or(1.0, |h| h.score.max(f64::EPSILON));
    for h in &hits {
        out.insert(entries[h.index].name.clone(), h.score / top);
    }
    let (email, ids) = (question.contains('@'), crate::planner::names_records(question));
    for e in entries {
        let props = e.tool.input_schema.get("properties").and_then(Value::as_object);
        let takes = |f: &dyn Fn(&str) -> bool| props.is_some_and(|p| p.keys().any(|k| f(k)));
        let mut bonus = 0.0;
        if email && takes(&|k| k == "email") {
            bonus += 1.0;
        }
        if ids && takes(&|k| k == "id" || k.ends_with("_id")) {
            bonus += 0.5;
        }
        if grounded.contains(&e.name.as_str()) {
            bonus += 2.0;
        }
        *out.entry(e.name.clone()).or_default() += bonus;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(name: &str, words: usize) -> ChatCompletionTools {
        let long = "Looks a thing up. ".to_string() + &"More detail that a small model can do without. ".repeat(words);
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: name.into(),
                description: Some(long.clone()),
                parameters: Some(json!({"type": "object", "title": "T", "properties": {
                    "status": {"type": "string", "enum": ["open", "closed"], "description": long, "examples": ["open"]},
                    "description": {"type": "string"}, "title": {"type": "string"}}, "required": ["status"]})),
                strict: None,
            },
        })
    }

    #[test]
    fn compacting_keeps_what_a_call_needs() {
        let mut d = def("t", 20);
        compact(&mut d);
        let ChatCompletionTools::Function(t) = d else { unreachable!() };
        assert_eq!(t.function.description.as_deref(), Some("Looks a thing up."));
        let p = t.function.parameters.unwrap();
        assert_eq!(p["properties"]["status"]["enum"], json!(["open", "closed"]));
        assert_eq!(p["properties"]["status"]["description"], "Looks a thing up.");
        assert_eq!(p["required"], json!(["status"]));
        assert!(p.get("title").is_none() && p["properties"]["status"].get("examples").is_none());
        // A parameter named like a keyword is a parameter.
        assert_eq!(p["properties"]["description"]["type"], "string");
        assert_eq!(p["properties"]["title"]["type"], "string");
    }

    #[test]
    fn fitting_compacts_then_leaves_out_the_least_relevant() {
        let mut defs = vec![def("a", 40), def("b", 40), def("c", 40)];
        let full = super::tokens_of(&defs);
        assert!(fit(&mut defs, (full * SHARE) as u64, |_| Some(1.0)).is_none(), "fits as it is");
        let note = fit(&mut defs, 600, |n| Some(if n == "b" { 2.0 } else { 1.0 })).unwrap();
        assert!(note.contains("compacted"), "{note}");
        let names: Vec<String> = defs
            .iter()
            .map(|d| match d {
                ChatCompletionTools::Function(t) => t.function.name.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert!(names.contains(&"b".to_string()), "the most relevant stays: {names:?}");
        assert!(super::tokens_of(&defs) <= 150 || names.len() == 1, "{note}");
    }
}
