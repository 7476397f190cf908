//! Turning tool results into a readable answer without a model: grouped by server; for each result its
//! salient fields (names, statuses, amounts, dates, ids — chosen by common field naming, not by tool),
//! list sizes with counts by status, and the most recent items. Deterministic: same results, same text.

use crate::output::cut;
use serde_json::{Map, Value};

const IDENTITY: [&str; 7] = ["name", "title", "subject", "email", "company", "metric", "text"];
const STATE: [&str; 8] = ["status", "state", "outcome", "direction", "priority", "plan", "kind", "type"];
const AMOUNT: [&str; 10] =
    ["amount", "total", "price", "balance", "value", "change", "change_pct", "average", "last", "count"];
const DATES: [&str; 10] =
    ["start", "end", "date", "day", "created_at", "issued_at", "due_at", "paid_at", "current_period_end", "from"];
const MAX_ITEMS: usize = 3;

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(cut(s, 70)),
        Value::Number(n) if n.is_f64() => Some(format!("{:.2}", n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Timestamps shown as `2026-11-25 15:00 UTC` (midnight as the date alone, unless the key is a start), any other
/// text as it is. Parsed, never sliced: a value from a server is not ASCII just because it looks like a date.
pub fn pretty(key: &str, text: String) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text) else { return text };
    let t = t.with_timezone(&chrono::Utc);
    if t.format("%H:%M:%S").to_string() == "00:00:00" && !key.contains("start") {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// Appends `key value` (or just the value) for each of `keys` present in `o` and not used yet.
fn take(
    o: &Map<String, Value>,
    keys: &[&'static str],
    labelled: bool,
    parts: &mut Vec<String>,
    used: &mut Vec<&'static str>,
) {
    for &k in keys {
        let Some(v) = o.get(k) else { continue };
        if used.contains(&k) || (v.as_str().is_some_and(|s| s.len() > 120) && k != "subject") {
            continue;
        }
        if let Some(s) = scalar(v) {
            let s = pretty(k, s);
            parts.push(if labelled { format!("{k} {s}") } else { s });
            used.push(k);
        }
    }
}

/// One line for an object: its salient scalar fields, identity first.
pub fn item_line(o: &Map<String, Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut used: Vec<&'static str> = Vec::new();
    take(o, &IDENTITY, false, &mut parts, &mut used);
    take(o, &STATE, true, &mut parts, &mut used);
    // Amounts: prefer a decimal field over its *_cents twin, with the currency when there is one.
    let currency =
        o.get("currency").and_then(Value::as_str).map(|c| format!(" {}", c.to_uppercase())).unwrap_or_default();
    for k in AMOUNT {
        if used.contains(&k) {
            continue;
        }
        if let Some(s) = o.get(k).and_then(scalar) {
            let unit = if k.starts_with("amount") || k == "total" || k == "price" || k == "balance" {
                currency.as_str()
            } else {
                ""
            };
            parts.push(format!("{k} {s}{unit}"));
            used.push(k);
        }
    }
    take(o, &DATES, true, &mut parts, &mut used);
    if let Some(id) = o.get("id").and_then(scalar) {
        parts.push(format!("id {id}"));
    }
    if parts.is_empty() {
        // Nothing recognisable: the first few scalar fields as they are.
        parts = o.iter().filter_map(|(k, v)| scalar(v).map(|s| format!("{k} {s}"))).take(5).collect();
    }
    parts.truncate(9);
    parts.join(" · ")
}

/// Counts by a status-like field of the items, most common first ("11 succeeded, 1 failed").
fn counts(items: &[Value]) -> Option<String> {
    let key = ["status", "state", "outcome"]
        .into_iter()
        .find(|k| items.iter().any(|i| i.get(*k).is_some_and(Value::is_string)))?;
    let mut tally: Vec<(String, usize)> = Vec::new();
    for i in items {
        let s = i.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
        match tally.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => tally.push((s, 1)),
        }
    }
    tally.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Some(tally.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", "))
}

fn list_lines(key: &str, items: &[Value], out: &mut Vec<String>, indent: &str) {
    let noun = key.replace('_', " ");
    if items.is_empty() {
        out.push(format!("{indent}{noun}: none"));
        return;
    }
    let tally = counts(items).map(|c| format!(" ({c})")).unwrap_or_default();
    out.push(format!("{indent}{noun}: {}{tally}", items.len()));
    for item in items.iter().take(MAX_ITEMS) {
        match item {
            Value::Object(o) => out.push(format!("{indent}  - {}", item_line(o))),
            other => out.push(format!("{indent}  - {}", scalar(other).unwrap_or_else(|| cut(&other.to_string(), 100)))),
        }
    }
    if items.len() > MAX_ITEMS {
        out.push(format!("{indent}  … and {} more", items.len() - MAX_ITEMS));
    }
}

/// Lines describing one tool result.
pub fn describe(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Value::Object(o) => {
            let own = item_line(&Map::from_iter(
                o.iter().filter(|(_, v)| !v.is_object() && !v.is_array()).map(|(k, v)| (k.clone(), v.clone())),
            ));
            let has_lists = o.values().any(|v| v.is_array() || v.is_object());
            if !own.is_empty() && (!has_lists || o.values().filter(|v| !v.is_object() && !v.is_array()).count() > 2) {
                out.push(format!("  {own}"));
            }
            for (k, v) in o {
                match v {
                    Value::Array(items)
                        if items.iter().all(|i| !i.is_array()) && !(k == "points" && items.len() > MAX_ITEMS) =>
                    {
                        list_lines(k, items, &mut out, "  ")
                    }
                    Value::Array(items) => out.push(format!("  {}: {} values", k.replace('_', " "), items.len())),
                    Value::Object(inner) => out.push(format!("  {}: {}", k.replace('_', " "), item_line(inner))),
                    _ => {}
                }
            }
        }
        Value::Array(items) => list_lines("items", items, &mut out, "  "),
        Value::String(s) => out.extend(s.lines().take(8).map(|l| format!("  {}", cut(l, 160)))),
        other => out.push(format!("  {other}")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn salient_fields_lists_and_counts() {
        let v = json!({"customer_id": "c1", "count": 3, "payments": [
            {"id": "p3", "status": "failed", "amount": 299.0, "currency": "usd", "created_at": "2026-11-17T08:00:00Z"},
            {"id": "p2", "status": "succeeded", "amount": 299.0, "currency": "usd", "created_at": "2026-10-17T08:00:00Z"},
            {"id": "p1", "status": "succeeded", "amount": 299.0, "currency": "usd", "created_at": "2026-09-17T08:00:00Z"}]});
        let lines = describe(&v);
        assert!(lines.iter().any(|l| l == "  payments: 3 (2 succeeded, 1 failed)"), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("status failed · amount 299.00 USD · created_at 2026-11-17 08:00 UTC · id p3")),
            "{lines:?}"
        );
        let one =
            describe(&json!({"customer": {"name": "John Smith", "email": "j@a.com", "status": "active"}, "notes": []}));
        assert_eq!(one[0], "  customer: John Smith · j@a.com · status active");
        assert_eq!(one[1], "  notes: none");
    }
}
