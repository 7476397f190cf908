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
            let input_schema = Value::Object((*e.tool.input_schema).clone());
            let input = ts_type(&input_schema, Ty::new(&input_schema, true), 1);
            let optional = e.tool.input_schema.get("required").and_then(Value::as_array).is_none_or(Vec::is_empty);
            let output = e.tool.output_schema.as_ref().map_or("unknown".into(), |s| {
                let schema = Value::Object((**s).clone());
                ts_type(&schema, Ty::new(&schema, true), 1)
            });
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
    let schema = Value::Object((*e.tool.input_schema).clone());
    let input = ts_type(&schema, Ty::new(&schema, false), 1);
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

/// How a schema is written as a type: the schema local `$ref`s (`#/$defs/…`) are looked up in, doc comments or one
/// line, and how many `$ref`s were followed to get here (a cycle of them ends as `object`).
#[derive(Clone, Copy)]
struct Ty<'a> {
    root: &'a Value,
    docs: bool,
    hops: usize,
}

impl<'a> Ty<'a> {
    fn new(root: &'a Value, docs: bool) -> Ty<'a> {
        Ty { root, docs, hops: 0 }
    }
}

/// A JSON Schema as a TypeScript type, `depth` levels of objects deep at most (deeper: `object`).
fn ts_type(schema: &Value, t: Ty<'_>, depth: usize) -> String {
    let Value::Object(s) = schema else { return "unknown".into() };
    if let Some(target) = s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        return match t.root.pointer(target) {
            Some(found) if t.hops < 8 => ts_type(found, Ty { hops: t.hops + 1, ..t }, depth),
            Some(_) => "object".into(),
            None => "unknown".into(),
        };
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| serde_json::to_string(v).unwrap_or_default()).collect::<Vec<_>>().join(" | ");
    }
    if let Some(v) = s.get("const") {
        return serde_json::to_string(v).unwrap_or_default();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            return alts.iter().map(|a| ts_type(a, t, depth)).collect::<Vec<_>>().join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::Array(types)) => {
            types.iter().map(|ty| ts_type(&with_type(s, ty), t, depth)).collect::<Vec<_>>().join(" | ")
        }
        Some(Value::String(name)) => match name.as_str() {
            "string" => "string".into(),
            "number" | "integer" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => format!("Array<{}>", s.get("items").map_or("unknown".into(), |i| ts_type(i, t, depth))),
            "object" => object(s, t, depth),
            _ => "unknown".into(),
        },
        _ if s.contains_key("properties") => object(s, t, depth),
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
fn object(s: &Map<String, Value>, t: Ty<'_>, depth: usize) -> String {
    let docs = t.docs;
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
        let _ = write!(out, "{pad}{key}{opt}: {};{}", ts_type(prop, t, depth + 1), if docs { "\n" } else { "" });
    }
    out.push_str(&if docs { "  ".repeat(depth) } else { " ".into() });
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(schema: Value) -> String {
        ts_type(&schema, Ty::new(&schema, false), 1)
    }

    #[test]
    fn references_are_followed_and_cycles_end() {
        let item = json!({"$defs": {"Row": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
            "type": "object", "properties": {"rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}}}});
        assert_eq!(typed(item), "{ rows?: Array<{ id: string; }>; }");
        let cycle = json!({"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"});
        assert_eq!(typed(cycle), "object");
        let tree = json!({"type": "object", "properties": {"child": {"$ref": "#"}}});
        assert!(typed(tree).starts_with("{ child?: { child?:"), "a recursive schema is cut at a depth");
        assert_eq!(typed(json!({"$ref": "#/nowhere"})), "unknown");
        assert_eq!(typed(json!({"enum": ["a", "b"]})), "\"a\" | \"b\"");
        assert_eq!(ident("my-server"), "my_server");
        assert_eq!(ident("2fa"), "_2fa");
    }
}
