//! What a tool is searched by: its split name, its server, its description and its parameters (names,
//! descriptions, enum values, one level of nesting), each as words as written (lowercased); and the words of a
//! query.

use crate::rank::words as tokens;
use crate::registry::Entry;
use serde_json::{Map, Value};

/// Fields per tool: name, server, description, parameters.
pub const COUNT: usize = 4;
/// The words of a query taken (a longer text is cut: the faces refuse queries over 1 000 characters anyway).
const QUERY_WORDS: usize = 64;

/// A tool's fields as words.
pub fn of(e: &Entry) -> [Vec<String>; COUNT] {
    let mut params = vec![];
    parameters(&e.tool.input_schema, 0, &mut params);
    [tokens(&e.tool.name), tokens(&e.server), tokens(e.description()), params]
}

/// The words of `query`, in order.
pub fn query_words(query: &str) -> Vec<String> {
    let mut words = tokens(query);
    words.truncate(QUERY_WORDS);
    words
}

fn parameters(schema: &Map<String, Value>, depth: usize, out: &mut Vec<String>) {
    let Some(Value::Object(props)) = schema.get("properties") else { return };
    for (name, prop) in props {
        out.extend(tokens(name));
        let Value::Object(prop) = prop else { continue };
        if let Some(Value::String(d)) = prop.get("description") {
            out.extend(tokens(d));
        }
        for e in prop.get("enum").and_then(Value::as_array).into_iter().flatten() {
            if let Value::String(v) = e {
                out.extend(tokens(v));
            }
        }
        if depth < 1 {
            parameters(prop, depth + 1, out);
            if let Some(Value::Object(items)) = prop.get("items") {
                parameters(items, depth + 1, out);
            }
        }
    }
}
