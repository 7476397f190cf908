//! What a script sees of the tools: one namespace per server with an async function per tool
//! (`await crm.get_customer({email})`), built as a JavaScript prelude from the index, and the TypeScript-style
//! declarations of the same (`hub code api`, and what the model is shown), generated from the input and output
//! schemas with the descriptions as doc comments.

use crate::registry::Entry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// `text` as a JavaScript identifier: letters, digits, `_` and `$` kept, anything else `_`, a leading digit prefixed.
pub fn ident(text: &str) -> String {
    let mut out: String = text.chars().map(|c| if c.is_alphanumeric() || c == '$' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The tools grouped by namespace (the server's name as an identifier), each with its method name, in index order.
fn namespaces(entries: &[Entry]) -> BTreeMap<String, Vec<(String, &Entry)>> {
    let mut out: BTreeMap<String, Vec<(String, &Entry)>> = BTreeMap::new();
    for e in entries {
        out.entry(ident(&e.server)).or_default().push((ident(&e.tool.name), e));
    }
    out
}

/// The JavaScript that defines the namespaces over `__tool(indexName, args)`. A namespace answers any other name
/// too, with a call the hub refuses naming the closest tools (not a bare "not a function").
pub fn prelude(entries: &[Entry]) -> String {
    let mut js = String::new();
    for (ns, tools) in namespaces(entries) {
        let server = serde_json::to_string(&tools[0].1.server).unwrap_or_default();
        let _ = write!(js, "globalThis.{ns} = __namespace({server}, {{");
        for (method, e) in tools {
            let name = serde_json::to_string(&e.name).unwrap_or_default();
            let _ =
                write!(js, "{}: (args) => __tool({name}, args), ", serde_json::to_string(&method).unwrap_or_default());
        }
        js.push_str("});\n");
    }
    js
}

/// The declarations of `entries` (of one server when `server` is given).
pub fn declarations(entries: &[Entry], server: Option<&str>) -> String {
    let mut out = String::from(
        "// Every function returns a Promise: `await` it, or run several at once with Promise.all.\n\
         // A tool's error is thrown as an Error; its result is the tool's structured content, or its text parsed as\n\
         // JSON when it is JSON, else the text.\n",
    );
    for (ns, tools) in namespaces(entries) {
        if server.is_some_and(|s| s != tools[0].1.server) {
            continue;
        }
        let _ = writeln!(out, "\ndeclare namespace {ns} {{");
        for (method, e) in tools {
            let input = ts_type(&Value::Object((*e.tool.input_schema).clone()), 1, true);
            let optional = e.tool.input_schema.get("required").and_then(Value::as_array).is_none_or(Vec::is_empty);
            let output = e
                .tool
                .output_schema
                .as_ref()
                .map_or("unknown".into(), |s| ts_type(&Value::Object((**s).clone()), 1, true));
            doc(&mut out, e.description(), "  ");
            let _ = writeln!(
                out,
                "  function {method}(args{}: {input}): Promise<{output}>;",
                if optional { "?" } else { "" }
            );
        }
        out.push_str("}\n");
    }
    out
}

/// One line for the model: `server.tool(args: {…})` and what the tool does, briefly.
pub fn signature(e: &Entry) -> String {
    let input = ts_type(&Value::Object((*e.tool.input_schema).clone()), 1, false);
    let what: String = e.description().split_whitespace().collect::<Vec<_>>().join(" ").chars().take(100).collect();
    format!("{}.{}(args: {input}) — {what}", ident(&e.server), ident(&e.tool.name))
}

/// `text` as a doc comment at `indent` (its first 300 characters).
fn doc(out: &mut String, text: &str, indent: &str) {
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
    if !text.is_empty() {
        let _ = writeln!(out, "{indent}/** {} */", text.replace("*/", "* /"));
    }
}

/// A JSON Schema as a TypeScript type, `depth` levels of objects deep at most (deeper: `object`).
fn ts_type(schema: &Value, depth: usize, docs: bool) -> String {
    let Value::Object(s) = schema else { return "unknown".into() };
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| serde_json::to_string(v).unwrap_or_default()).collect::<Vec<_>>().join(" | ");
    }
    if let Some(v) = s.get("const") {
        return serde_json::to_string(v).unwrap_or_default();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            return alts.iter().map(|a| ts_type(a, depth, docs)).collect::<Vec<_>>().join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::Array(types)) => {
            types.iter().map(|t| ts_type(&with_type(s, t), depth, docs)).collect::<Vec<_>>().join(" | ")
        }
        Some(Value::String(t)) => match t.as_str() {
            "string" => "string".into(),
            "number" | "integer" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => format!("Array<{}>", s.get("items").map_or("unknown".into(), |i| ts_type(i, depth, docs))),
            "object" => object(s, depth, docs),
            _ => "unknown".into(),
        },
        _ if s.contains_key("properties") => object(s, depth, docs),
        _ => "unknown".into(),
    }
}

fn with_type(s: &Map<String, Value>, t: &Value) -> Value {
    let mut one = s.clone();
    one.insert("type".into(), t.clone());
    Value::Object(one)
}

/// An object schema as `{ name: type; … }`: one property a line with its description as a doc comment (`docs`), or
/// all on one line.
fn object(s: &Map<String, Value>, depth: usize, docs: bool) -> String {
    let Some(Value::Object(props)) = s.get("properties") else { return "Record<string, unknown>".into() };
    if depth > 3 || props.is_empty() {
        return if props.is_empty() { "{}".into() } else { "object".into() };
    }
    let required: Vec<&str> =
        s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let pad = if docs { "  ".repeat(depth + 1) } else { " ".into() };
    let mut out = String::from(if docs { "{\n" } else { "{" });
    for (name, prop) in props {
        if let Some(d) = prop.get("description").and_then(Value::as_str).filter(|_| docs) {
            doc(&mut out, d, &pad);
        }
        let key = if ident(name) == *name { name.clone() } else { serde_json::to_string(name).unwrap_or_default() };
        let opt = if required.contains(&name.as_str()) { "" } else { "?" };
        let _ = write!(out, "{pad}{key}{opt}: {};{}", ts_type(prop, depth + 1, docs), if docs { "\n" } else { "" });
    }
    out.push_str(&if docs { "  ".repeat(depth) } else { " ".into() });
    out.push('}');
    out
}
