//! Triage items from a tool (`hub triage --from TOOL [--args JSON]`): the list in the tool's result (the result
//! itself when it is an array, else its one field holding an array of objects), paged until done, each object an
//! item — its id from `id` (or `--id-field`), its text from the first of subject/title/name and the first of
//! body/text/description/message (or `--text-field`), its other fields context. Paging follows what the tool's input
//! schema takes: a cursor (`cursor`, `page_token`, `after`) the result hands back (`next_cursor`, `nextCursor`,
//! `next_page_token`), else an `offset`/`skip`, else a `page` number; the page size is the tool's maximum `limit`
//! when the arguments do not set one. A page that brings nothing new ends the listing (a server that ignores the
//! offset cannot loop it forever).

use super::input::Item;
use crate::exit::Failure;
use crate::registry::Registry;
use serde_json::{Map, Value};

/// What `--from` asked for.
pub struct FromTool {
    pub tool: String,
    pub args: Option<String>,
    pub id_field: Option<String>,
    pub text_field: Option<String>,
}

const CURSOR_IN: [&str; 4] = ["cursor", "page_token", "pageToken", "after"];
const CURSOR_OUT: [&str; 5] = ["next_cursor", "nextCursor", "next_page_token", "nextPageToken", "cursor"];
const OFFSET: [&str; 2] = ["offset", "skip"];
const HEADINGS: [&str; 3] = ["subject", "title", "name"];
const BODIES: [&str; 4] = ["body", "text", "description", "message"];
/// Pages read at most (a listing longer than this is cut, and said).
const MAX_PAGES: usize = 10_000;

/// How the tool pages.
enum Paging {
    Cursor(String),
    Offset(String),
    Page(String),
    None,
}

/// The items the tool lists, and one message per record that could not be an item.
pub async fn items(registry: &Registry, from: &FromTool) -> Result<(Vec<Item>, Vec<String>), Failure> {
    let entry = registry.resolve(&from.tool).map_err(|e| Failure::usage(format!("--from: {e}")))?;
    let mut args: Map<String, Value> = match from.args.as_deref().map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(m))) => m,
        Some(Ok(other)) => return Err(Failure::usage(format!("--args must be a JSON object, got {other}"))),
        Some(Err(e)) => return Err(Failure::usage(format!("--args is not valid JSON: {e}"))),
    };
    let props = entry.tool.input_schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let takes = |names: &[&str]| names.iter().find(|n| props.contains_key(**n)).map(|n| n.to_string());
    let paging = match (takes(&CURSOR_IN), takes(&OFFSET), takes(&["page"])) {
        (Some(c), _, _) => Paging::Cursor(c),
        (None, Some(o), _) => Paging::Offset(o),
        (None, None, Some(p)) => Paging::Page(p),
        _ => Paging::None,
    };
    if let Some(size) = takes(&crate::planner::LIMITS).filter(|s| !args.contains_key(s))
        && let Some(most) = props[&size].get("maximum").and_then(Value::as_i64)
    {
        args.insert(size, most.into());
    }
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for page in 1..=MAX_PAGES {
        let called =
            registry.call(&entry.name, Some(args.clone())).await.map_err(|e| Failure::runtime(e.to_string()))?;
        if called.result.is_error == Some(true) {
            let text = crate::output::result_text(&called.result);
            return Err(Failure::runtime(format!("{} failed: {}", entry.name, crate::output::cut(&text, 300))));
        }
        let value = crate::output::result_value(&called.result);
        let Some(list) = list_in(&value) else {
            return Err(Failure::runtime(format!("{}'s result holds no list of records to triage", entry.name)));
        };
        let before = seen.len();
        for record in list {
            match item(record, from, items.len() + problems.len() + 1) {
                Ok(i) if seen.insert(i.id.clone()) => items.push(i),
                Ok(_) => {}
                Err(why) => problems.push(why),
            }
        }
        let fresh = seen.len() - before;
        let next = match &paging {
            _ if fresh == 0 => None,
            Paging::Cursor(name) => CURSOR_OUT
                .iter()
                .find_map(|k| value.get(*k).and_then(Value::as_str).filter(|c| !c.is_empty()))
                .map(|c| (name.clone(), Value::from(c))),
            Paging::Offset(name) => {
                let total = value.get("total").and_then(Value::as_u64);
                let more = total.is_none_or(|t| (seen.len() as u64) < t);
                let at = args.get(name).and_then(Value::as_u64).unwrap_or(0) + list.len() as u64;
                more.then(|| (name.clone(), Value::from(at)))
            }
            Paging::Page(name) => {
                let at = args.get(name).and_then(Value::as_u64).unwrap_or(1);
                Some((name.clone(), Value::from(at + 1)))
            }
            Paging::None => None,
        };
        match next {
            Some((k, v)) => {
                args.insert(k, v);
            }
            None => return Ok((items, problems)),
        }
        if page == MAX_PAGES {
            problems.push(format!("stopped after {MAX_PAGES} pages of {}", entry.name));
        }
    }
    Ok((items, problems))
}

/// The records of a result: the result itself when it is a list, else its one field that is a list of objects when
/// the others are plain values (a count, a total, a cursor) — a record with lists inside it is not a listing.
fn list_in(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Array(a) => Some(a),
        Value::Object(o) => {
            let lists: Vec<&Vec<Value>> = o.values().filter_map(Value::as_array).collect();
            let plain = o.values().all(|v| v.is_array() || !v.is_object());
            match lists.as_slice() {
                [one] if plain && one.first().is_none_or(Value::is_object) => Some(one),
                _ => None,
            }
        }
        _ => None,
    }
}

/// One record as an item; `n` numbers it for messages.
fn item(record: &Value, from: &FromTool, n: usize) -> Result<Item, String> {
    let Some(o) = record.as_object() else { return Err(format!("record {n}: not an object")) };
    let text_of =
        |k: &str| o.get(k).and_then(|v| v.as_str().map(String::from).or_else(|| v.is_number().then(|| v.to_string())));
    let id_field = from.id_field.as_deref().unwrap_or("id");
    let id = text_of(id_field).filter(|s| !s.is_empty()).ok_or(format!("record {n}: no '{id_field}' field"))?;
    let first = |keys: &[&'static str]| -> Option<(&'static str, String)> {
        keys.iter().find_map(|k| text_of(k).filter(|s| !s.trim().is_empty()).map(|s| (*k, s)))
    };
    let (text, used): (String, Vec<&str>) = match &from.text_field {
        Some(f) => (text_of(f).ok_or(format!("record {id}: no '{f}' field"))?, vec![f.as_str()]),
        None => match (first(&HEADINGS), first(&BODIES)) {
            (Some((hk, h)), Some((bk, b))) => (format!("{h}\n\n{b}"), vec![hk, bk]),
            (Some((k, t)), None) | (None, Some((k, t))) => (t, vec![k]),
            (None, None) => return Err(format!("record {id}: no subject, title, body or text field (--text-field)")),
        },
    };
    let context = o
        .iter()
        .filter(|(k, _)| *k != id_field && !used.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Item { id, text, context, line: n })
}
