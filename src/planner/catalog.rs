//! Vocabulary from the servers: catalog tools (read-only, no required arguments, named "list…", returning a list of
//! objects with a `name`, such as `list_metrics`) are called once per process and their items matched against a
//! question — by the words of each name and description (stemmed), by acronym ("monthly recurring revenue" → mrr),
//! and by the name said as it is. A parameter is fed by a catalog when its description names the catalog tool or its
//! name is the catalog's noun (`metric` ← `list_metrics`). No business word is written here.

use crate::rank::{stem, token, tokens, words};
use crate::registry::Entry;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// One valid value a catalog lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub description: String,
}

/// Catalog results, by tool: for the process (a REPL asks many questions).
static CACHE: LazyLock<Mutex<HashMap<String, Arc<Vec<Item>>>>> = LazyLock::new(Default::default);

/// Whether `e` is a catalog tool, and the noun of what it lists (`list_metrics` → "metric").
pub fn noun(e: &Entry) -> Option<String> {
    let schema = &e.tool.input_schema;
    let required = schema.get("required").and_then(Value::as_array).is_some_and(|r| !r.is_empty());
    let t = tokens(super::cover::own_name(e));
    if !e.read_only() || required || t.first().map(String::as_str) != Some("list") || t.len() != 2 {
        return None;
    }
    let out = e.tool.output_schema.as_ref()?;
    let named = out.get("properties").and_then(Value::as_object)?.values().any(|p| {
        let items = p.get("items").map(|i| resolve(out, i));
        items.and_then(|i| i.get("properties")).is_some_and(|props| props.get("name").is_some())
    });
    named.then(|| t[1].clone())
}

/// `{"$ref": "#/$defs/X"}` looked up in `root`.
pub fn resolve<'a>(root: &'a serde_json::Map<String, Value>, v: &'a Value) -> &'a Value {
    let target = v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/"));
    let Some((head, rest)) = target.map(|t| t.split_once('/').unwrap_or((t, ""))) else { return v };
    let found = root.get(head).and_then(|h| if rest.is_empty() { Some(h) } else { h.pointer(&format!("/{rest}")) });
    found.unwrap_or(v)
}

/// Whether parameter `name` (with schema `prop`) takes values from the catalog `tool` listing `noun`s.
pub fn feeds(tool: &str, noun: &str, name: &str, prop: &Value) -> bool {
    let desc = prop.get("description").and_then(Value::as_str).unwrap_or("");
    let own = tool.rsplit("__").next().unwrap_or(tool);
    desc.contains(own) || tokens(name) == [noun.to_string()]
}

/// The items of catalog tool `name` when it was called before in this process.
pub fn cached(name: &str) -> Option<Arc<Vec<Item>>> {
    CACHE.lock().ok()?.get(name).cloned()
}

/// Reads a catalog tool's result (its first list of objects with a `name`) and keeps it for the process.
pub fn store(name: &str, v: &Value) -> Arc<Vec<Item>> {
    let list = v.as_object().and_then(|o| o.values().find_map(Value::as_array)).cloned().unwrap_or_default();
    let items: Vec<Item> = list
        .iter()
        .filter_map(|i| {
            Some(Item {
                name: i.get("name")?.as_str()?.to_string(),
                description: i.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
            })
        })
        .collect();
    let items = Arc::new(items);
    if let Ok(mut c) = CACHE.lock() {
        c.insert(name.to_string(), items.clone());
    }
    items
}

/// How well `item` matches a question whose words (as written, lowercased) are `said`; the stems its name (or
/// acronym) matched, and those only its description did.
pub fn score(item: &Item, said: &[String]) -> (f64, Vec<String>, Vec<String>) {
    let stems: Vec<String> = said.iter().filter_map(|w| token(w)).collect();
    let name_words = words(&item.name);
    let name_stems: Vec<String> = name_words.iter().map(|w| stem(w)).collect();
    let mut matched: Vec<String> = name_stems.iter().filter(|s| stems.contains(s)).cloned().collect();
    let mut s = matched.len() as f64;
    if !matched.is_empty() && matched.len() == name_stems.len() {
        s += 1.0;
    }
    let plain = item.name.to_lowercase();
    if said.contains(&plain) {
        s += 2.0;
    }
    // An acronym: the initials of words said in a row.
    if (2..=5).contains(&plain.len()) && plain.chars().all(|c| c.is_ascii_alphabetic()) {
        let n = plain.len();
        for run in said.windows(n) {
            let initials: String = run.iter().filter_map(|w| w.chars().next()).collect();
            if initials == plain {
                s += 4.0;
                matched.extend(run.iter().filter_map(|w| token(w)));
                break;
            }
        }
    }
    let mut described: Vec<String> = Vec::new();
    for d in tokens(&item.description) {
        if stems.contains(&d) && !name_stems.contains(&d) && !described.contains(&d) {
            s += 0.5;
            described.push(d);
        }
    }
    matched.sort();
    matched.dedup();
    (s, matched, described)
}

/// The best items for a question: one, or (`several`, for comparisons) one per distinct thing said. Empty when
/// nothing matches well enough (a name word, an acronym, or two description words).
pub fn best<'a>(items: &'a [Item], said: &[String], several: bool) -> Vec<&'a Item> {
    let mut scored: Vec<(f64, Vec<String>, &Item)> = items
        .iter()
        .map(|i| {
            let (s, m, _) = score(i, said);
            (s, m, i)
        })
        .filter(|(s, _, _)| *s >= 1.0)
        .collect();
    scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let Some(top) = scored.first() else { return vec![] };
    if !several {
        // A tie at the top is not a choice.
        if scored.get(1).is_some_and(|second| second.0 >= top.0) {
            return scored.iter().take_while(|s| s.0 >= top.0).map(|s| s.2).collect();
        }
        return vec![top.2];
    }
    let mut used: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (_, m, item) in &scored {
        let new: Vec<&String> = m.iter().filter(|w| !used.contains(w)).collect();
        if !new.is_empty() && new.iter().any(|w| !out.iter().any(|o: &&Item| stem(&o.name).contains(w.as_str()))) {
            used.extend(m.iter().cloned());
            out.push(*item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Item> {
        let i = |n: &str, d: &str| Item { name: n.into(), description: d.into() };
        vec![
            i("mrr", "Monthly recurring revenue of active and past-due subscriptions at the end of the day"),
            i("active_customers", "Customers with a live subscription (trialing, active or past due)"),
            i("new_signups", "Customers who signed up that day"),
            i("churned_customers", "Subscriptions canceled that day"),
            i("tickets_opened", "Support tickets created that day"),
            i("tickets_resolved", "Support tickets resolved or closed that day"),
            i("revenue", "Successful payments collected that day"),
        ]
    }

    fn said(q: &str) -> Vec<String> {
        super::super::entities::extract(q, chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()).words
    }

    #[test]
    fn long_names_acronyms_and_stems_find_the_item() {
        let items = items();
        let one = |q: &str| best(&items, &said(q), false).iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        assert_eq!(one("monthly recurring revenue last month"), ["mrr"]);
        assert_eq!(one("How is MRR trending?"), ["mrr"]);
        assert_eq!(one("revenue collected"), ["revenue"]);
        assert_eq!(one("how many customers churned"), ["churned_customers"]);
        assert_eq!(one("new sign-ups this week"), ["new_signups"]);
        assert_eq!(one("our NPS"), Vec::<String>::new());
        let two: Vec<String> =
            best(&items, &said("sign-ups versus churn"), true).iter().map(|i| i.name.clone()).collect();
        assert_eq!(two, ["new_signups", "churned_customers"]);
    }
}
