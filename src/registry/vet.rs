//! Checking one listed tool before it enters the index: an entry that cannot be used is skipped with its name
//! and the reason, one that can be fixed without guessing is fixed and the fix reported, and the rest of the
//! server's tools are kept.
//!
//! Skipped: not an object, a name that is missing, not a string, empty, longer than 128 characters, or with
//! control characters; a duplicate name; no input schema, or one that is not an object schema,
//! or is over the size or depth limit. Fixed: a description over the limit is cut and marked as cut; an input
//! schema without `type` is treated as `"type": "object"`. Reported only: a name with characters model APIs
//! reject (a dot, a space, non-ASCII…), which the index maps to `_` (`index::sanitize`, deterministic).

use crate::config::Limits;
use rmcp::model::Tool;
use serde_json::Value;
use std::collections::HashSet;

/// Longest tool name accepted (MCP's limit; the index cuts names to the model APIs' 64 with a stable suffix).
pub const MAX_TOOL_NAME: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Left out of the index.
    Skipped,
    /// Kept with a part cut (its description).
    Cut,
    /// Kept, fixed or exposed under another name.
    Fixed,
    /// The listing stopped at a limit: tools past it are not indexed.
    Capped,
    /// Left out of the index until the user trusts it (a pinned definition changed, see `pins`).
    Withheld,
    /// Kept; reported so the user knows (a new tool of a pinned server, a changed one under `pin = "warn"`).
    Noted,
}

/// One thing wrong with a server's listing (read back from a hub's /status by a command attached to it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// What was listed: tool, resource, resource template, prompt.
    pub kind: &'static str,
    /// The entry, as the server named it (`#N` for the Nth entry when it has no usable name); none for the list.
    pub name: Option<String>,
    pub action: Action,
    pub reason: String,
}

/// Read back with its kind one of those hub reports ("entry" for any other).
impl<'de> serde::Deserialize<'de> for Problem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Problem, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            kind: String,
            name: Option<String>,
            action: Action,
            reason: String,
        }
        const KINDS: [&str; 4] = ["tool", "resource", "resource template", "prompt"];
        let r = <Raw as serde::Deserialize>::deserialize(d)?;
        let kind = KINDS.into_iter().find(|k| *k == r.kind).unwrap_or("entry");
        Ok(Problem { kind, name: r.name, action: r.action, reason: r.reason })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = serde_json::to_value(self.action).ok().and_then(|v| v.as_str().map(String::from));
        let (kind, action, reason) = (self.kind, action.unwrap_or_default(), &self.reason);
        match &self.name {
            Some(n) if n.starts_with('#') => write!(f, "{kind} entry {n} {action}: {reason}"),
            Some(n) => write!(f, "{kind} '{n}' {action}: {reason}"),
            None => write!(f, "{kind} listing {action}: {reason}"),
        }
    }
}

pub fn problem(kind: &'static str, name: impl Into<String>, action: Action, reason: impl Into<String>) -> Problem {
    Problem { kind, name: Some(name.into()), action, reason: reason.into() }
}

fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Problem {
    problem(TOOL, name, Action::Skipped, reason)
}

const TOOL: &str = "tool";

/// The name of a raw list entry (`field` of an object), or why it has none: the entry is skipped.
pub fn entry_name(kind: &'static str, entry: &Value, field: &str, position: usize) -> Result<String, Problem> {
    let label = format!("#{position}");
    let Value::Object(map) = entry else {
        return Err(problem(
            kind,
            label,
            Action::Skipped,
            format!("is {}, not an object", crate::output::json_kind(entry)),
        ));
    };
    match map.get(field) {
        None => Err(problem(kind, label, Action::Skipped, format!("has no {field}"))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(problem(
            kind,
            label,
            Action::Skipped,
            format!("{field} is {}, not a string", crate::output::json_kind(other)),
        )),
    }
}

/// Why `name` cannot be used as an entry's name (empty, too long, control characters, already `seen`).
pub fn name_refusal(name: &str, seen: &HashSet<String>) -> Option<String> {
    let chars = name.chars().count();
    if name.is_empty() {
        Some("has an empty name".to_string())
    } else if chars > MAX_TOOL_NAME {
        Some(format!("name is {chars} characters; at most {MAX_TOOL_NAME} are accepted"))
    } else if let Some(c) = name.chars().find(|c| c.is_control()) {
        Some(format!("name contains the control character U+{:04X}", c as u32))
    } else if seen.contains(name) {
        Some("is listed twice; the first is kept".to_string())
    } else {
        None
    }
}

/// `description` cut to the limit and marked as cut, with the report, when it is over the limit.
pub fn cut_description(description: &str, limits: &Limits) -> Option<(String, String)> {
    let total = description.chars().count();
    if total <= limits.max_description_chars {
        return None;
    }
    let kept: String = description.chars().take(limits.max_description_chars).collect();
    let reason = format!(
        "description is {total} characters; cut to {} (limits.max_description_chars)",
        limits.max_description_chars
    );
    Some((format!("{kept}… [cut by hub: {total} characters]"), reason))
}

/// A raw list entry (a reply that did not parse as a tool list as a whole) turned into a tool, or why not.
pub fn from_value(entry: Value, position: usize) -> Result<Tool, Problem> {
    let name = entry_name(TOOL, &entry, "name", position)?;
    match entry.get("inputSchema") {
        None => return Err(skipped(name, "has no inputSchema")),
        Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(skipped(
                name,
                format!("inputSchema is {}, not an object schema", crate::output::json_kind(other)),
            ));
        }
    }
    serde_json::from_value(entry).map_err(|e| skipped(name, format!("is not a valid tool: {e}")))
}

/// Checks `tool` against `limits` and the names already `seen`: the tool to keep (possibly fixed), and what was
/// wrong with it.
pub fn check(mut tool: Tool, limits: &Limits, seen: &mut HashSet<String>) -> (Option<Tool>, Vec<Problem>) {
    let name = tool.name.to_string();
    let mut problems = Vec::new();
    if let Some(reason) = name_refusal(&name, seen).or_else(|| schema_problem(&mut tool, limits)) {
        return (None, vec![skipped(if name.is_empty() { "\"\"".into() } else { name }, reason)]);
    }
    seen.insert(name.clone());
    if tool.input_schema.get("type").is_none() {
        std::sync::Arc::make_mut(&mut tool.input_schema).insert("type".into(), Value::from("object"));
        let reason = "input schema has no \"type\"; treated as an object schema";
        problems.push(problem(TOOL, &name, Action::Fixed, reason));
    }
    if let Some(odd) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        let reason = format!("name contains {odd:?}, which model APIs reject; it is indexed with '_' in its place");
        problems.push(problem(TOOL, &name, Action::Fixed, reason));
    }
    if let Some((cut, reason)) = tool.description.as_deref().and_then(|d| cut_description(d, limits)) {
        tool.description = Some(cut.into());
        problems.push(problem(TOOL, name, Action::Cut, reason));
    }
    (Some(tool), problems)
}

/// Why the input schema cannot be used, if it cannot.
fn schema_problem(tool: &mut Tool, limits: &Limits) -> Option<String> {
    match tool.input_schema.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => return Some(format!("input schema has type {other}, not \"object\"")),
    }
    let schema = Value::Object((*tool.input_schema).clone());
    let bytes = serde_json::to_vec(&schema).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > limits.max_schema_bytes {
        return Some(format!(
            "input schema is {bytes} bytes; at most {} are accepted (limits.max_schema_bytes)",
            limits.max_schema_bytes
        ));
    }
    let depth = depth(&schema);
    if depth > limits.max_schema_depth {
        return Some(format!(
            "input schema nests {depth} levels; at most {} are accepted (limits.max_schema_depth)",
            limits.max_schema_depth
        ));
    }
    None
}

/// Nesting depth of a JSON value (a scalar is 0, `{}` is 1).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
