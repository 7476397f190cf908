//! Filling a tool's arguments from what the question mentions, by each parameter's name, type, format,
//! enum, description and the catalog that feeds it (`catalog`) — never by knowing the tool. Also the values
//! learned from earlier results (`Known`), which is how a lookup's id reaches the tools that need it.

use super::catalog::{self, Item};
use super::entities::Entities;
use crate::rank::stem;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Values learned from earlier tool results, by parameter name (e.g. `customer_id` → `cus_000001`).
pub type Known = BTreeMap<String, Value>;

/// The arguments filled for one tool.
#[derive(Debug, Default, Clone)]
pub struct Filled {
    pub args: Map<String, Value>,
    /// Required parameters nothing could fill.
    pub missing: Vec<String>,
    /// Parameters filled from the question's own entities (not defaults, not learned values).
    pub from_question: usize,
    /// Parameters filled from learned values.
    pub from_known: usize,
    /// Parameters filled with a concrete thing the question names (an email, id, uuid, name or quote).
    pub from_entity: usize,
    /// Stems of the question's words a value was chosen by (an enum value said, a catalog item matched).
    pub matched: Vec<String>,
    /// A parameter whose values are known but none (or more than one) fits the question: its name and values.
    pub choices: Option<(String, Vec<String>)>,
    /// Whether a date window or period of the question was applied.
    pub windowed: bool,
}

/// What arguments are filled from.
pub struct Ctx<'a> {
    pub e: &'a Entities,
    pub known: &'a Known,
    pub mode: Mode,
    /// Catalogs: (tool name, noun, items).
    pub catalogs: &'a [(String, String, std::sync::Arc<Vec<Item>>)],
    /// Ask for as many results as the tool gives (counts and lists are complete, or known not to be).
    pub all: bool,
    /// Which of several matched catalog items to use (comparisons run a tool once per item).
    pub pick: usize,
}

enum Source {
    Known,
    Entity,
    Question,
    /// Not from the question: as many results as the tool gives.
    Default,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    /// About one entity: optional date windows are not applied (a dossier shows everything current).
    Entity,
    Topic,
}

/// Values a parameter accepts: its `enum`, or a list in its description made only of single words
/// ("open, pending, resolved or closed", "e.g. mrr, failed_payments").
pub fn candidates(prop: &Value) -> Vec<String> {
    if let Some(e) = prop.get("enum").and_then(Value::as_array) {
        return e.iter().filter_map(Value::as_str).map(str::to_string).collect();
    }
    let desc = prop.get("description").and_then(Value::as_str).unwrap_or("");
    let desc = desc.rsplit_once("e.g.").map(|(_, l)| l).unwrap_or(desc);
    for segment in desc.split(['.', ';', ')', '(', ':']) {
        let items: Vec<&str> =
            segment.split(',').flat_map(|p| p.split(" or ")).map(str::trim).filter(|w| !w.is_empty()).collect();
        let word = |w: &&str| w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if items.len() >= 2 && items.iter().all(word) {
            return items.into_iter().map(str::to_string).collect();
        }
    }
    vec![]
}

/// The JSON type of a property (`["integer", "null"]` counts as integer).
fn type_of(prop: &Value) -> &str {
    match prop.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string"),
        _ => "string",
    }
}

/// The id prefix a parameter's description shows by example ("such as INV-000123" → "INV-").
fn example_prefix(desc: &str) -> Option<String> {
    desc.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')).find_map(
        |w| {
            let cut = w.rfind(['-', '_'])?;
            (w[cut + 1..].chars().all(|c| c.is_ascii_digit()) && cut + 1 < w.len()).then(|| w[..=cut].to_string())
        },
    )
}

fn is_id_name(name: &str) -> bool {
    let n = name.to_lowercase();
    n == "id" || n.ends_with("_id") || n.ends_with("id") && name.ends_with("Id")
}

pub const LIMITS: [&str; 5] = ["limit", "max", "max_results", "page_size", "per_page"];
const SEARCHY: [&str; 8] = ["query", "q", "search", "keyword", "keywords", "term", "name", "filter"];
const FREE_TEXT: [&str; 5] = ["message", "text", "input", "prompt", "content"];
const FROM: [&str; 5] = ["from", "start", "since", "after", "begin"];
const TO: [&str; 4] = ["to", "end", "until", "before"];

/// Fills `schema`'s parameters for a question (its entities, learned values, catalogs).
pub fn fill(schema: &Value, ctx: &Ctx) -> Filled {
    let (e, known, mode) = (ctx.e, ctx.known, ctx.mode);
    let mut f = Filled::default();
    let props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or(vec![], |r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect());
    let stems: Vec<String> = e.words.iter().map(|w| stem(w)).collect();
    let said = format!(" {} ", e.words.join(" "));
    let window_days = e.window.map(|(a, b)| (b - a).num_days());
    let mut numbers = e.numbers.iter().filter(|(_, u)| !u.starts_with("day")).map(|(n, _)| *n);
    for (name, prop) in &props {
        let lname = name.to_lowercase();
        let desc = prop.get("description").and_then(Value::as_str).unwrap_or("").to_lowercase();
        let ty = type_of(prop);
        let format = prop.get("format").and_then(Value::as_str).unwrap_or("");
        let req = required.contains(name);
        let (value, source): (Option<Value>, Source) = if let Some(v) = known.get(name) {
            (Some(v.clone()), Source::Known)
        } else if lname.contains("email") || format == "email" {
            (e.emails.first().map(|m| Value::String(m.clone())), Source::Entity)
        } else if is_id_name(name) {
            let prefix = example_prefix(prop.get("description").and_then(Value::as_str).unwrap_or(""));
            let by_prefix =
                prefix.as_ref().and_then(|p| e.ids.iter().find(|i| i.to_lowercase().starts_with(&p.to_lowercase())));
            let uuid = (format == "uuid" || desc.contains("uuid")).then(|| e.uuids.first()).flatten();
            let email = desc.contains("email").then(|| e.emails.first()).flatten();
            let any = (prefix.is_none() && e.ids.len() == 1).then(|| e.ids.first()).flatten();
            (by_prefix.or(uuid).or(email).or(any).map(|s| Value::String(s.clone())), Source::Entity)
        } else if FROM.contains(&lname.as_str())
            || TO.contains(&lname.as_str())
            || lname.contains("date")
            || format.starts_with("date")
        {
            let window = if mode == Mode::Topic || req { e.window } else { None };
            f.windowed |= window.is_some();
            let v = window.map(|(a, b)| {
                let d = if TO.contains(&lname.as_str()) { b } else { a };
                if format == "date-time" || desc.contains("rfc 3339") || desc.contains("timestamp") {
                    Value::String(format!("{d}T00:00:00Z"))
                } else {
                    Value::String(d.to_string())
                }
            });
            (v, Source::Question)
        } else if ty == "integer" || ty == "number" {
            let by_unit =
                e.numbers.iter().find(|(_, u)| !u.is_empty() && lname.contains(stem(u).as_str())).map(|(n, _)| *n);
            let by_window = (lname.contains("day") && mode == Mode::Topic).then_some(window_days).flatten();
            let most = (ctx.all && LIMITS.contains(&lname.as_str())).then(|| prop.get("maximum")?.as_f64()).flatten();
            let n = by_unit
                .or(by_window.map(|d| d as f64))
                .or(most)
                .or_else(|| if req && !LIMITS.contains(&lname.as_str()) { numbers.next() } else { None });
            if by_unit.is_some() || by_window.is_some() {
                f.windowed = true;
            }
            let source = if by_unit.is_none() && by_window.is_none() && most.is_some() {
                Source::Default
            } else {
                Source::Question
            };
            (n.map(|n| if ty == "integer" { serde_json::json!(n as i64) } else { serde_json::json!(n) }), source)
        } else if ty == "boolean" {
            (None, Source::Question)
        } else {
            let fed = ctx.catalogs.iter().find(|(tool, noun, _)| catalog::feeds(tool, noun, name, prop));
            let mut cands = candidates(prop);
            let mut by_catalog: Option<String> = None;
            if let Some((_, _, items)) = fed {
                let best = catalog::best(items, &e.words, ctx.pick > 0);
                let one = if ctx.pick > 0 { best.get(ctx.pick - 1) } else { best.first().filter(|_| best.len() == 1) };
                match one {
                    Some(item) => {
                        let (_, named, described) = catalog::score(item, &e.words);
                        f.matched.extend(named.into_iter().chain(described));
                        by_catalog = Some(item.name.clone());
                    }
                    _ => {
                        let shown = if best.len() > 1 { best } else { items.iter().collect() };
                        f.choices = Some((name.clone(), shown.iter().map(|i| i.name.clone()).collect()));
                    }
                }
                cands = items.iter().map(|i| i.name.clone()).collect();
            }
            let chosen = by_catalog.as_ref().or_else(|| {
                cands.iter().find(|c| {
                    let phrase = c.contains(' ') && said.contains(&format!(" {} ", c.to_lowercase()));
                    let cs = stem(c);
                    phrase
                        || stems.contains(&cs)
                        || e.numbers.iter().any(|(n, u)| u.starts_with("day") && **c == format!("{}d", *n as i64))
                        || window_days.is_some_and(|d| mode == Mode::Topic && **c == format!("{d}d"))
                })
            });
            if let Some(c) = chosen.filter(|_| fed.is_none()) {
                f.matched.extend(crate::rank::tokens(c));
                if c.ends_with('d') && c[..c.len() - 1].chars().all(|x| x.is_ascii_digit()) {
                    f.windowed = true;
                }
            }
            if chosen.is_none() && req && !cands.is_empty() && f.choices.is_none() {
                f.choices = Some((name.clone(), cands.clone()));
            }
            if let Some(c) = chosen {
                (Some(Value::String(c.clone())), Source::Question)
            } else if SEARCHY.contains(&lname.as_str())
                || (req && cands.is_empty() && !FREE_TEXT.contains(&lname.as_str()))
            {
                (e.subject().map(Value::String), Source::Entity)
            } else if FREE_TEXT.contains(&lname.as_str()) && req {
                (e.quoted.first().cloned().map(Value::String), Source::Entity)
            } else {
                (None, Source::Question)
            }
        };
        match value {
            Some(v) => {
                match source {
                    Source::Known => f.from_known += 1,
                    Source::Entity => {
                        f.from_entity += 1;
                        f.from_question += 1;
                    }
                    Source::Question => f.from_question += 1,
                    Source::Default => {}
                }
                f.args.insert(name.clone(), v);
            }
            None if req => f.missing.push(name.clone()),
            None => {}
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::super::entities::extract;
    use super::*;
    use serde_json::json;

    fn ctx<'a>(e: &'a Entities, known: &'a Known) -> Ctx<'a> {
        Ctx { e, known, mode: Mode::Topic, catalogs: &[], all: false, pick: 0 }
    }

    #[test]
    fn fills_by_name_format_enum_and_description() {
        let schema = json!({"type": "object", "required": ["customer_id"], "properties": {
            "customer_id": {"type": "string", "description": "Customer id such as cus_000042, or their email."},
            "status": {"type": "string", "description": "open, pending, resolved or closed"},
            "priority": {"type": "string", "enum": ["low", "high"]},
            "limit": {"type": "integer"}
        }});
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let e = extract("Open high-priority tickets of john.smith@acme.com", today);
        let k = Known::new();
        let f = fill(&schema, &ctx(&e, &k));
        assert_eq!(f.args["customer_id"], "john.smith@acme.com");
        assert_eq!(f.args["status"], "open");
        assert_eq!(f.args["priority"], "high");
        assert!(!f.args.contains_key("limit") && f.missing.is_empty());
        let none = fill(&schema, &ctx(&extract("open tickets", today), &k));
        assert_eq!(none.missing, ["customer_id"]);
        let days = json!({"properties": {"days": {"type": ["integer", "null"], "description": "Number of most recent days, 2-180 (default 30)."}}});
        assert_eq!(fill(&days, &ctx(&extract("the last 30 days", today), &k)).args["days"], 30);
        let period = json!({"properties": {"metric": {"type": "string", "description": "Metric name (e.g. mrr, failed_payments)."},
            "period": {"type": "string", "description": "7d, 30d or 90d."}}});
        let f = fill(&period, &ctx(&extract("mrr over the last 30 days", today), &k));
        assert_eq!((f.args["metric"].as_str(), f.args["period"].as_str()), (Some("mrr"), Some("30d")));
    }
}
