//! What a tool is searched by: its split name, its server, its description and its parameters (names,
//! descriptions, enum values, one level of nesting), each as words as written (lowercased); and the words of a
//! query.

use crate::rank::words as tokens;
use crate::registry::Entry;
use serde_json::{Map, Value};

/// Fields per tool: name, server, description, parameters.
pub const COUNT: usize = 4;
/// The fields whose adjacent words are also indexed as phrases: name and description.
pub const PHRASES: [bool; COUNT] = [true, false, true, false];
/// The words of a query taken (a longer text is cut: the faces refuse queries over 1 000 characters anyway).
const QUERY_WORDS: usize = 64;

/// A tool's fields as words.
pub fn of(e: &Entry) -> [Vec<String>; COUNT] {
    let mut params = vec![];
    parameters(&e.tool.input_schema, 0, &mut params);
    [tokens(&e.tool.name), tokens(&e.server), tokens(e.description()), params]
}

/// Words that open a question or a request to be shown something.
const ASKING: &[&str] = &[
    "what", "which", "who", "whose", "how", "is", "are", "was", "were", "did", "does", "do", "show", "list", "find",
    "get", "when", "where", "why", "any", "can", "look", "search", "read", "check", "tell", "see",
];

/// Whether `query` asks to be told or shown something (rather than to change something).
pub fn asks(query: &str) -> bool {
    tokens(query).first().is_some_and(|w| ASKING.contains(&w.as_str()))
}

/// Whether `query` asks which or what things are so ("which pull requests are open"): a question opening with
/// "which" or "what" about a plural — a list answers it.
pub fn asks_for_many(query: &str) -> bool {
    let words = tokens(query);
    matches!(words.first().map(String::as_str), Some("which" | "what"))
        && words.iter().skip(1).any(|w| {
            w.len() > 3
                && w.ends_with('s')
                && !w.ends_with("ss")
                && !w.ends_with("us")
                && !["does", "this", "thus", "plus", "yes"].contains(&w.as_str())
        })
}

/// Words of a question that say nothing about which tool answers it (beyond the stop words every ranking drops):
/// question words, pronouns, fillers.
const FILLERS: &[&str] = &[
    "about",
    "also",
    "am",
    "been",
    "can",
    "could",
    "each",
    "every",
    "everything",
    "here",
    "him",
    "her",
    "his",
    "into",
    "just",
    "much",
    "please",
    "s",
    "she",
    "should",
    "so",
    "some",
    "still",
    "than",
    "then",
    "there",
    "these",
    "those",
    "through",
    "until",
    "up",
    "us",
    "very",
    "want",
    "when",
    "where",
    "why",
    "will",
    "would",
];

/// Words after which comes a value the user gives (a name, a text), not a word about the tool.
const NAMING: &[&str] = &["called", "named", "titled", "saying"];

/// The words of `query`, in order, as written (lowercased), without fillers and values: bare numbers and ids (a
/// count or `abc123` names no tool), quoted text, file names and addresses (`notes.txt`, `example.com`), and the
/// word after "called", "named", "titled" or "saying".
pub fn query_words(query: &str) -> Vec<String> {
    let unquoted: String = query.split(['"', '“', '”', '`']).step_by(2).collect::<Vec<_>>().join(" ");
    let unquoted: Vec<&str> = unquoted.split_whitespace().filter(|w| !dotted(w)).collect();
    let mut words = vec![];
    let mut value = false;
    for w in tokens(&unquoted.join(" ")) {
        let naming = NAMING.contains(&w.as_str());
        if !std::mem::replace(&mut value, naming) && !naming && !FILLERS.contains(&w.as_str()) && !is_id(&w) {
            words.push(w);
        }
    }
    words.truncate(QUERY_WORDS);
    words
}

/// A file name, address or version written with a dot inside (`report.csv`, `example.com`, `1.2`): a value.
fn dotted(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    word.split('.').count() > 1 && word.split('.').all(|part| !part.is_empty())
}

/// A number, or a hexadecimal id of 6 or more characters with digits in it (`abc123`, a commit).
fn is_id(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
        || (word.len() >= 6 && word.chars().all(|c| c.is_ascii_hexdigit()) && word.chars().any(|c| c.is_ascii_digit()))
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
