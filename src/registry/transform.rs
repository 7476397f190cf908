//! Applying a server's declarative transforms (`config::transform`): the tool every face sees (renamed, its
//! description replaced or extended, fixed arguments gone from its schema, defaults in it), and for each call the
//! `Plan` that turns the arguments a caller sends into the ones the server gets and the server's result into the
//! one callers get (fields dropped by JSON pointer, text redacted by regex) — on the call path shared by ask,
//! chat, triage and serve, so no face sees what a transform removes.

mod schema;

use super::vet::{Action, Problem, problem};
use crate::config::transform::Transform;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents, Tool};
use serde_json::Value;
use std::sync::Arc;

/// What a call to one transformed tool needs.
#[derive(Debug, Default)]
pub struct Plan {
    /// The tool's name on its server (it may be exposed under another).
    pub upstream: String,
    fix: JsonObject,
    defaults: JsonObject,
    drop: Vec<Vec<String>>,
    redact: Vec<(regex::Regex, String)>,
}

/// The tool as exposed and its call plan (none when nothing changes at call time and the name is kept), or `None`
/// when a transform hides it.
pub fn apply(tool: Tool, transforms: &[Transform]) -> Option<(Tool, Option<Arc<Plan>>)> {
    let upstream = tool.name.to_string();
    let mine: Vec<&Transform> = transforms.iter().filter(|t| t.matches(&upstream)).collect();
    if mine.is_empty() {
        return Some((tool, None));
    }
    if mine.iter().any(|t| t.hide) {
        return None;
    }
    let mut shown = tool;
    let mut plan = Plan { upstream, ..Plan::default() };
    for t in &mine {
        if let Some(new) = &t.rename {
            shown.name = new.clone().into();
        }
        if let Some(d) = &t.description {
            shown.description = Some(d.clone().into());
        }
        if let Some(more) = &t.append_description {
            let now = shown.description.as_deref().unwrap_or("").trim_end().to_string();
            shown.description = Some(if now.is_empty() { more.clone() } else { format!("{now} {more}") }.into());
        }
        plan.fix.extend(t.fix.clone());
        plan.defaults.extend(t.defaults.clone());
        plan.drop.extend(t.drop.iter().cloned());
        plan.redact.extend(t.redact.iter().cloned());
    }
    if !plan.fix.is_empty() || !plan.defaults.is_empty() {
        let mut schema = (*shown.input_schema).clone();
        reshape(&mut schema, &plan.fix, &plan.defaults);
        shown.input_schema = Arc::new(schema);
    }
    if let Some(out) = shown.output_schema.as_ref().filter(|_| !plan.drop.is_empty()) {
        // Structured results must still validate against the declared schema: dropped fields leave it too.
        let mut schema = Value::Object((**out).clone());
        for path in &plan.drop {
            let mut found = Vec::new();
            schema::targets(&schema, Vec::new(), path, &mut found);
            schema::remove(&mut schema, found);
        }
        if let Value::Object(o) = schema {
            shown.output_schema = Some(Arc::new(o));
        }
    }
    let idle = plan.fix.is_empty() && plan.defaults.is_empty() && plan.drop.is_empty() && plan.redact.is_empty();
    let plan = (!idle || shown.name != plan.upstream).then(|| Arc::new(plan));
    Some((shown, plan))
}

/// The schema callers see: fixed arguments gone, defaults stated; neither is required of them any more.
fn reshape(schema: &mut JsonObject, fix: &JsonObject, defaults: &JsonObject) {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for k in fix.keys() {
            props.remove(k);
        }
        for (k, v) in defaults {
            if let Some(Value::Object(p)) = props.get_mut(k) {
                p.insert("default".into(), v.clone());
            }
        }
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r.as_str().is_none_or(|r| !fix.contains_key(r) && !defaults.contains_key(r)));
    }
}

impl Plan {
    /// The arguments the server gets: the caller's, with defaults where absent and the fixed values always.
    pub fn arguments(&self, given: Option<JsonObject>) -> Option<JsonObject> {
        if self.fix.is_empty() && self.defaults.is_empty() {
            return given;
        }
        let mut args = given.unwrap_or_default();
        for (k, v) in &self.defaults {
            if args.get(k).is_none_or(Value::is_null) {
                args.insert(k.clone(), v.clone());
            }
        }
        args.extend(self.fix.clone());
        Some(args)
    }

    /// The result callers get: dropped fields gone (from structured content and from text that is JSON), then
    /// every string redacted.
    pub fn result(&self, result: &mut CallToolResult) {
        if self.drop.is_empty() && self.redact.is_empty() {
            return;
        }
        if let Some(v) = result.structured_content.as_mut() {
            self.value(v);
        }
        for c in result.content.iter_mut() {
            match c {
                ContentBlock::Text(t) => t.text = self.text(&t.text),
                ContentBlock::Resource(r) => {
                    if let ResourceContents::TextResourceContents { text, .. } = &mut r.resource {
                        *text = self.text(text.as_str());
                    }
                }
                _ => {}
            }
        }
    }

    fn value(&self, v: &mut Value) {
        for p in &self.drop {
            remove(v, p);
        }
        if !self.redact.is_empty() {
            redact_strings(v, &|s| self.redact_text(s));
        }
    }

    fn text(&self, text: &str) -> String {
        if !self.drop.is_empty()
            && let Ok(mut v @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(text)
        {
            self.value(&mut v);
            return v.to_string();
        }
        self.redact_text(text)
    }

    fn redact_text(&self, text: &str) -> String {
        redact(&self.redact, text)
    }
}

fn redact(rules: &[(regex::Regex, String)], text: &str) -> String {
    let mut out = text.to_string();
    for (re, with) in rules {
        if let std::borrow::Cow::Owned(s) = re.replace_all(&out, with.as_str()) {
            out = s;
        }
    }
    out
}

/// Every redaction of a server's transforms, whatever tools they name: applied to what the server says during
/// calls — progress and log messages — which no one tool's plan covers.
#[derive(Default)]
pub struct Said(Vec<(regex::Regex, String)>);

impl Said {
    pub fn of(transforms: &[Transform]) -> Said {
        Said(transforms.iter().flat_map(|t| t.redact.iter().cloned()).collect())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn text(&self, text: &str) -> String {
        redact(&self.0, text)
    }
    pub fn value(&self, v: &mut Value) {
        if !self.0.is_empty() {
            redact_strings(v, &|s| redact(&self.0, s));
        }
    }
}

/// Removes what `path` points at (`*` matches every key or element).
fn remove(v: &mut Value, path: &[String]) {
    let Some((head, rest)) = path.split_first() else { return };
    let all = head == "*";
    match v {
        Value::Object(m) if rest.is_empty() => {
            if all {
                m.clear()
            } else {
                m.remove(head);
            }
        }
        Value::Array(a) if rest.is_empty() => match head.parse::<usize>() {
            _ if all => a.clear(),
            Ok(i) if i < a.len() => drop(a.remove(i)),
            _ => {}
        },
        Value::Object(m) if all => m.values_mut().for_each(|x| remove(x, rest)),
        Value::Array(a) if all => a.iter_mut().for_each(|x| remove(x, rest)),
        Value::Object(m) => m.get_mut(head).into_iter().for_each(|x| remove(x, rest)),
        Value::Array(a) => {
            head.parse::<usize>().ok().and_then(|i| a.get_mut(i)).into_iter().for_each(|x| remove(x, rest))
        }
        _ => {}
    }
}

fn redact_strings(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_strings(x, f)),
        Value::Object(m) => m.values_mut().for_each(|x| redact_strings(x, f)),
        _ => {}
    }
}

/// Transforms naming one tool the server does not list (reported with where they are written).
pub fn unknown(transforms: &[Transform], listed: &[Tool]) -> Vec<Problem> {
    transforms
        .iter()
        .filter_map(|t| t.exact().filter(|name| !listed.iter().any(|l| l.name == *name)).map(|name| (t, name)))
        .map(|(t, name)| {
            let why = format!("the transform at {} names it, but the server lists no such tool", t.at);
            problem("tool", name, Action::Noted, why)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn transform(doc: &str) -> Vec<Transform> {
        let text = format!("[servers.s]\ncommand = \"x\"\n{doc}");
        crate::config::parse(&text, "t.toml", &|_| None).map_err(|e| e.message).unwrap().servers[0].transforms.clone()
    }

    fn tool() -> Tool {
        let schema = json!({"type": "object", "required": ["query", "limit"],
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "org": {"type": "string"}}});
        Tool::new("search", "Finds things.", Arc::new(schema.as_object().unwrap().clone()))
    }

    #[test]
    fn a_tool_is_renamed_described_reshaped_or_hidden() {
        let t = transform(
            "[[servers.s.transform]]\ntool = \"search\"\nrename = \"find\"\nappend_description = \"One at a time.\"\n\
             fix = { org = \"acme\" }\ndefaults = { limit = 5 }\n",
        );
        let (shown, plan) = apply(tool(), &t).unwrap();
        assert_eq!(shown.name, "find");
        assert_eq!(shown.description.as_deref(), Some("Finds things. One at a time."));
        assert_eq!(shown.input_schema["required"], json!(["query"]));
        assert!(shown.input_schema["properties"].get("org").is_none());
        assert_eq!(shown.input_schema["properties"]["limit"]["default"], 5);
        let plan = plan.unwrap();
        assert_eq!(plan.upstream, "search");
        let sent = plan.arguments(Some(json!({"query": "q", "org": "evil"}).as_object().unwrap().clone())).unwrap();
        assert_eq!(Value::Object(sent), json!({"query": "q", "limit": 5, "org": "acme"}));
        let other = Tool::new("other", "", Arc::new(Default::default()));
        assert!(apply(other, &t).unwrap().1.is_none(), "a transform of one tool leaves the others alone");
        assert!(apply(tool(), &transform("[[servers.s.transform]]\ntool = \"se*\"\nhide = true\n")).is_none());
    }

    #[test]
    fn results_lose_dropped_fields_and_redacted_text() {
        let t = transform(
            "[[servers.s.transform]]\ndrop = [\"/items/*/secret\", \"/total\"]\n\
             redact = ['\\d{4}-\\d{4}']\nredact_with = \"[card]\"\n",
        );
        let (_, plan) = apply(tool(), &t).unwrap();
        let doc = json!({"items": [{"id": 1, "secret": "s", "note": "card 1234-5678"}], "total": 3});
        let mut result = CallToolResult::success(vec![ContentBlock::text(doc.to_string())]);
        result.structured_content = Some(doc);
        plan.unwrap().result(&mut result);
        let want = json!({"items": [{"id": 1, "note": "card [card]"}]});
        assert_eq!(result.structured_content.unwrap(), want);
        let ContentBlock::Text(text) = &result.content[0] else { panic!("text") };
        assert_eq!(serde_json::from_str::<Value>(&text.text).unwrap(), want);
    }

    #[test]
    fn a_transform_for_a_tool_not_listed_is_reported_with_its_place() {
        let t = transform("[[servers.s.transform]]\ntool = \"nope\"\nhide = true\n");
        let found = unknown(&t, &[tool()]);
        assert_eq!(found.len(), 1);
        assert!(found[0].to_string().contains("t.toml:3"), "{}", found[0]);
    }
}
