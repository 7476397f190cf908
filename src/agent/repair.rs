//! Repairs of what small models write, each one named so `-v` and `--json` show it (never silent):
//! tool calls written as text in the reply (a bare `{"name":…,"arguments":…}`, a fenced JSON block, Hermes/Qwen
//! `<tool_call>` tags, a list of calls) when the reply carries no real tool calls and every name is an offered
//! tool; a tool name without its server prefix; and arguments — an object sent as a JSON string inside the string,
//! `"null"`/`"None"`/`""` for an optional parameter (dropped), numbers and booleans written as strings (coerced per
//! the schema).

use serde_json::{Map, Value};

/// The id prefix of calls recovered from a reply's text (the record says so).
pub const TEXT_CALL: &str = "call_text_";

/// What the model is told when the endpoint could not parse its reply.
pub const CORRECTION: &str = "Your last reply could not be read. Reply with either a tool call in the required \
    format or a plain answer.";

/// One call recovered from text: the tool's name and its arguments as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCall {
    pub name: String,
    pub arguments: String,
}

/// The JSON documents a reply may hold calls in: `<tool_call>` tags, fenced blocks, or the whole reply.
fn candidates(content: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (open, close) in [("<tool_call>", "</tool_call>"), ("```json", "```"), ("```", "```")] {
        let mut rest = content;
        while let Some(a) = rest.find(open) {
            let after = &rest[a + open.len()..];
            let Some(b) = after.find(close) else { break };
            out.push(after[..b].trim());
            rest = &after[b + close.len()..];
        }
        if !out.is_empty() {
            return out;
        }
    }
    vec![content.trim()]
}

/// The call one JSON value describes: `{"name", "arguments"|"parameters"}`, or `{"function": {…}}`.
fn call_of(v: &Value) -> Option<TextCall> {
    let v = v.get("function").unwrap_or(v);
    let name = v.get("name")?.as_str()?.to_string();
    let args = v.get("arguments").or_else(|| v.get("parameters")).cloned().unwrap_or(Value::Object(Map::new()));
    let arguments = match args {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Some(TextCall { name, arguments })
}

/// Tool calls written as text in `content`, when every one names a tool `offered` accepts; None otherwise (the
/// reply is an answer, or names something that is not a tool: left as it is).
pub fn calls_in_text(content: &str, offered: impl Fn(&str) -> bool) -> Option<Vec<TextCall>> {
    let mut calls = Vec::new();
    for doc in candidates(content) {
        let v: Value = serde_json::from_str(doc).ok()?;
        match &v {
            Value::Array(items) => {
                for item in items {
                    calls.push(call_of(item)?);
                }
            }
            _ => calls.push(call_of(&v)?),
        }
    }
    (!calls.is_empty() && calls.iter().all(|c| offered(&c.name))).then_some(calls)
}

/// The JSON type a schema property declares (`["integer", "null"]` is integer).
fn declared(prop: &Value) -> Option<&str> {
    match prop.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// Arguments repaired against `schema`; the repairs made, in words.
pub fn arguments(args: Map<String, Value>, schema: &Value) -> (Map<String, Value>, Vec<String>) {
    let props = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or(vec![], |r| r.iter().filter_map(Value::as_str).collect());
    let mut out = Map::new();
    let mut repairs = Vec::new();
    for (k, v) in args {
        let prop = props.and_then(|p| p.get(&k));
        let Value::String(s) = &v else {
            out.insert(k, v);
            continue;
        };
        let blank = matches!(s.trim(), "" | "null" | "None" | "none" | "undefined");
        if blank && !required.contains(&k.as_str()) {
            repairs.push(format!("dropped {k}={s:?} (an optional parameter given as no value)"));
            continue;
        }
        let coerced = match prop.and_then(declared) {
            Some("integer") => s.trim().parse::<i64>().ok().map(Value::from),
            Some("number") => {
                s.trim().parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            }
            Some("boolean") => match s.trim() {
                "true" | "True" => Some(Value::Bool(true)),
                "false" | "False" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        match coerced {
            Some(c) => {
                repairs.push(format!("{k}: the string {s:?} read as {c}"));
                out.insert(k, c);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    (out, repairs)
}

/// The one tool an unprefixed name means: the only tool with that name on any server.
pub fn unprefixed<'a>(entries: &'a [crate::registry::Entry], name: &str) -> Option<&'a crate::registry::Entry> {
    let mut same = entries.iter().filter(|e| e.name.split_once("__").is_some_and(|(_, own)| own == name));
    let one = same.next()?;
    same.next().is_none().then_some(one)
}

/// The one read-only tool a misspelt name means: within one edit (two for names over eight letters) of its name,
/// with or without the server prefix, and no other tool as close. A tool that writes is never guessed: the model is
/// told the names near it and calls again.
pub fn misspelt<'a>(entries: &'a [crate::registry::Entry], name: &str) -> Option<&'a crate::registry::Entry> {
    let most = if name.chars().count() > 8 { 2 } else { 1 };
    let d = |e: &crate::registry::Entry| {
        let own = e.name.split_once("__").map_or(e.name.as_str(), |(_, own)| own);
        crate::registry::index::distance(name, &e.name).min(crate::registry::index::distance(name, own))
    };
    let mut near: Vec<(usize, &crate::registry::Entry)> =
        entries.iter().map(|e| (d(e), e)).filter(|(n, _)| *n <= most).collect();
    near.sort_by_key(|(n, _)| *n);
    match near.as_slice() {
        [(_, one)] if one.read_only() => Some(one),
        [(a, one), (b, _), ..] if a < b && one.read_only() && *b > most => Some(one),
        _ => None,
    }
}

/// Makes the calls a reply wrote as text real calls (ids marked with `TEXT_CALL`, the text cleared); the note that
/// says so. `offered` tells which names are tools the model may call.
pub fn text_calls(c: &mut crate::llm::Completion, turn: u32, offered: impl Fn(&str) -> bool) -> Option<String> {
    if !c.tool_calls.is_empty() || c.content.trim().is_empty() {
        return None;
    }
    let calls = calls_in_text(&c.content, offered)?;
    let names: Vec<&str> = calls.iter().map(|t| t.name.as_str()).collect();
    let note = format!("repaired: {} tool call(s) written as text in the reply ({})", calls.len(), names.join(", "));
    c.tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, t)| crate::llm::ToolCall {
            id: format!("{TEXT_CALL}{turn}_{i}"),
            name: t.name,
            arguments: t.arguments,
        })
        .collect();
    c.content.clear();
    if c.finish_reason.as_deref() == Some("stop") {
        c.finish_reason = Some("tool_calls".into());
    }
    Some(note)
}

/// The object a string argument text holds (`"{\"id\": 1}"` arrives as the string `{"id": 1}`); None when it
/// holds none.
pub fn object_in(inner: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(inner).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_written_as_text_are_found_only_for_offered_tools() {
        let offered = |n: &str| n == "crm__get_customer" || n == "tickets__list_tickets";
        let bare = r#"{"name": "crm__get_customer", "arguments": {"email": "a@b.c"}}"#;
        assert_eq!(calls_in_text(bare, offered).unwrap()[0].arguments, r#"{"email":"a@b.c"}"#);
        let fenced = "I will look it up.\n```json\n{\"name\": \"crm__get_customer\", \"arguments\": \"{}\"}\n```";
        assert_eq!(calls_in_text(fenced, offered).unwrap()[0].name, "crm__get_customer");
        let tags = "<tool_call>\n{\"name\": \"crm__get_customer\", \"arguments\": {}}\n</tool_call>\n<tool_call>{\"name\": \"tickets__list_tickets\", \"arguments\": {\"status\": \"open\"}}</tool_call>";
        assert_eq!(calls_in_text(tags, offered).unwrap().len(), 2);
        let list = r#"[{"name": "crm__get_customer", "arguments": {}}, {"function": {"name": "tickets__list_tickets", "arguments": {}}}]"#;
        assert_eq!(calls_in_text(list, offered).unwrap().len(), 2);
        assert!(calls_in_text(r#"{"name": "rm_rf", "arguments": {}}"#, offered).is_none(), "not a tool");
        assert!(calls_in_text("John Smith is past due.", offered).is_none(), "an answer");
        assert!(calls_in_text(r#"{"status": "ok"}"#, offered).is_none(), "JSON that is not a call");
    }

    #[test]
    fn arguments_are_repaired_against_the_schema() {
        let schema = json!({"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "status": {"type": ["string", "null"]}, "limit": {"type": "integer"},
            "all": {"type": "boolean"}, "min": {"type": "number"}}});
        let args = json!({"id": "T-1", "status": "null", "limit": "20", "all": "true", "min": "1.5"});
        let (out, repairs) = arguments(args.as_object().unwrap().clone(), &schema);
        assert_eq!(Value::Object(out), json!({"id": "T-1", "limit": 20, "all": true, "min": 1.5}));
        assert_eq!(repairs.len(), 4, "{repairs:?}");
        let kept = json!({"id": "null"});
        assert_eq!(
            arguments(kept.as_object().unwrap().clone(), &schema).0["id"],
            "null",
            "required: left for the tool"
        );
        assert_eq!(object_in(r#"{"id": "T-1"}"#).unwrap()["id"], "T-1");
        assert!(object_in(r#""just text""#).is_none());
    }
}
