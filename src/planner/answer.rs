//! The sentence that answers, built from structured results by the kind of question: an attribute of the subject,
//! a count (a count field the question names, the items whose status it names, or the list's length — "at least"
//! when the list was cut), a list with its tally and first items, yes or no (a list's emptiness, a value said, a
//! field named by the word), the figures of a report or trend, or an overview of every view of the subject.

use super::fill::candidates;
use crate::rank::{stem, tokens};
use crate::registry::Entry;
use serde_json::{Map, Value};

/// One result the answer may use: the tool, its arguments, the stems its argument values were chosen by, and the
/// value.
pub struct Source<'a> {
    pub entry: &'a Entry,
    pub args: &'a Map<String, Value>,
    pub value: &'a Value,
}

/// A number as people write it: thousands separated, at most two decimals, no trailing zeros.
pub fn number(n: f64) -> String {
    if !n.is_finite() || n.abs() >= 1e15 {
        return n.to_string();
    }
    let rounded = (n * 100.0).round() / 100.0;
    let whole = rounded.trunc().abs() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let frac = ((rounded.abs() - whole as f64) * 100.0).round() as u64;
    let sign = if rounded < 0.0 { "-" } else { "" };
    match frac {
        0 => format!("{sign}{grouped}"),
        f if f % 10 == 0 => format!("{sign}{grouped}.{}", f / 10),
        f => format!("{sign}{grouped}.{f:02}"),
    }
}

/// A scalar as text (dates made readable); None for objects, arrays and null.
pub fn text(key: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(super::summary::pretty(key, crate::output::cut(s, 80))),
        Value::Number(n) => n.as_f64().map(number),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The record in a result: the object under the tool's noun, else the result when it is an object.
pub fn record<'v>(e: &Entry, v: &'v Value) -> Option<&'v Map<String, Value>> {
    let o = v.as_object()?;
    let noun = super::cover::nouns(e).concat();
    o.iter()
        .find(|(k, x)| x.is_object() && tokens(k).concat() == noun)
        .and_then(|(_, x)| x.as_object())
        .or_else(|| (!o.values().any(Value::is_object)).then_some(o))
}

/// The first list of objects in a result, with its key.
pub fn list(v: &Value) -> Option<(&str, &Vec<Value>)> {
    v.as_object()?.iter().find_map(|(k, x)| {
        let a = x.as_array()?;
        (k != "points" && a.iter().all(Value::is_object)).then_some((k.as_str(), a))
    })
}

/// `k v` for the fields of `o` whose names are like a focus word.
pub fn fields(o: &Map<String, Value>, focus: &[String]) -> Vec<String> {
    o.iter()
        .filter(|(k, _)| {
            let t = tokens(k);
            !k.ends_with("_cents") && t.iter().any(|w| focus.iter().any(|f| super::cover::like(f, w)))
        })
        .filter_map(|(k, v)| Some(format!("{} {}", k.replace('_', " "), text(k, v)?)))
        .collect()
}

const STATUS: [&str; 3] = ["status", "state", "outcome"];

pub fn status_of(item: &Value) -> Option<&str> {
    STATUS.iter().find_map(|k| item.get(*k).and_then(Value::as_str))
}

/// "TCK-01001 Subscription renewal failed (high, 2026-11-30)": an item in a few words.
pub fn brief(item: &Value) -> String {
    let s = |k: &str| item.get(k).and_then(|v| text(k, v));
    let head = ["id", "name", "email"].iter().find_map(|k| s(k)).unwrap_or_default();
    let title = ["title", "subject", "name"]
        .iter()
        .filter(|k| **k != "name" || head != s("name").unwrap_or_default())
        .find_map(|k| s(k));
    let mut extra: Vec<String> = ["priority", "amount", "company"].iter().filter_map(|k| s(k)).collect();
    let currency = item.get("currency").and_then(Value::as_str).filter(|_| item.get("amount").is_some());
    if let (Some(c), Some(a)) =
        (currency, extra.iter_mut().find(|x| x.chars().next().is_some_and(|c| c.is_ascii_digit())))
    {
        *a = format!("{a} {}", c.to_uppercase());
    }
    // When: a start at its time, other dates as the day ("2026-12-02").
    if let Some(d) = s("start") {
        extra.push(d);
    } else if let Some(d) = ["created_at", "issued_at", "date", "day"].iter().find_map(|k| s(k)) {
        extra.push(d.split(' ').next().unwrap_or_default().to_string());
    }
    let mut out = head;
    if let Some(t) = title {
        out = format!("{out} {t}").trim().to_string();
    }
    if !extra.is_empty() {
        out.push_str(&format!(" ({})", extra.join(", ")));
    }
    out
}

/// Counts by status, most common first: "10 succeeded, 2 failed".
fn tally(items: &[Value]) -> Vec<(String, usize)> {
    let mut t: Vec<(String, usize)> = Vec::new();
    for s in items.iter().filter_map(status_of) {
        match t.iter_mut().find(|(k, _)| k == s) {
            Some((_, n)) => *n += 1,
            None => t.push((s.to_string(), 1)),
        }
    }
    t.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    t
}

/// What a list result says for a question about `focus`: how many (of the status the question names, or a count
/// field it names), of what, and which.
pub struct Counted {
    pub n: usize,
    /// The list was cut at the limit asked for: there may be more.
    pub more: bool,
    pub noun: String,
    /// The status or filter words the count is of ("open urgent", "failed").
    pub filters: Vec<String>,
    pub items: Vec<Value>,
    pub tally: Vec<(String, usize)>,
}

pub fn count(src: &Source, focus: &[String], said: &[String]) -> Option<Counted> {
    let (key, items) = list(src.value)?;
    let o = src.value.as_object()?;
    let mut filters: Vec<String> = src
        .args
        .iter()
        .filter(|(k, v)| {
            !k.ends_with("id") && v.is_string() && said.iter().any(|w| stem(w) == stem(v.as_str().unwrap_or("")))
        })
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect();
    let limit = src.args.iter().find(|(k, _)| super::fill::LIMITS.contains(&k.as_str()));
    let more = limit.and_then(|(_, l)| l.as_u64()).is_some_and(|l| items.len() as u64 >= l);
    // A count field the question names ("failed": 2), or the items of a status it names.
    let named = o.iter().find(|(k, v)| v.is_u64() && focus.iter().any(|f| super::cover::like(f, &tokens(k).concat())));
    let status_said: Option<String> = tally(items)
        .into_iter()
        .map(|(s, _)| s)
        .find(|s| said.iter().any(|w| stem(w) == stem(s)) && !filters.contains(s));
    let (n, chosen): (usize, Vec<Value>) = match (named, &status_said) {
        (Some((k, v)), _) => {
            filters.push(k.replace('_', " "));
            let n = v.as_u64().unwrap_or(0) as usize;
            (n, items.iter().filter(|i| status_of(i).is_some_and(|s| stem(s) == stem(k))).cloned().collect())
        }
        (None, Some(s)) => {
            filters.push(s.clone());
            let chosen: Vec<Value> = items.iter().filter(|i| status_of(i) == Some(s.as_str())).cloned().collect();
            (chosen.len(), chosen)
        }
        (None, None) => (items.len(), items.clone()),
    };
    let more = more && named.is_none();
    Some(Counted { n, more, noun: key.replace('_', " "), filters, tally: tally(items), items: chosen })
}

impl Counted {
    /// "33 open urgent tickets", "at least 200 closed tickets", "1 failed invoice".
    pub fn phrase(&self) -> String {
        let noun = if self.n == 1 { singular(&self.noun) } else { self.noun.clone() };
        let at_least = if self.more { "at least " } else { "" };
        let filters = if self.filters.is_empty() { String::new() } else { format!("{} ", self.filters.join(" ")) };
        format!("{at_least}{} {filters}{noun}", number(self.n as f64))
    }

    /// The phrase, the tally when it says more, and the first items.
    pub fn line(&self, shown: usize) -> String {
        let mut s = self.phrase();
        if self.filters.is_empty() && self.tally.len() > 1 {
            let t: Vec<String> = self.tally.iter().map(|(k, n)| format!("{n} {k}")).collect();
            s.push_str(&format!(" ({})", t.join(", ")));
        }
        if !self.items.is_empty() && shown > 0 {
            let first: Vec<String> = self.items.iter().take(shown).map(brief).collect();
            let rest = self.items.len().saturating_sub(shown);
            s.push_str(&format!(": {}", first.join(", ")));
            if rest > 0 {
                s.push_str(&format!(" and {} more", number(rest as f64)));
            }
        }
        s
    }
}

/// "tickets" → "ticket", "companies" → "company".
pub fn singular(noun: &str) -> String {
    if let Some(s) = noun.strip_suffix("ies") {
        format!("{s}y")
    } else if noun.ends_with("ss") {
        noun.to_string()
    } else {
        noun.strip_suffix('s').unwrap_or(noun).to_string()
    }
}

/// The schema of output field `key` of `e`: in the object schema (any depth, `$defs` too) that has the most of
/// `record`'s fields.
pub fn field_schema(e: &Entry, key: &str, record: &Map<String, Value>) -> Option<Value> {
    let root = e.tool.output_schema.as_ref()?;
    let mut stack: Vec<Value> = vec![Value::Object((**root).clone())];
    if let Some(defs) = root.get("$defs").and_then(Value::as_object) {
        stack.extend(defs.values().cloned());
    }
    let mut best: Option<(usize, Value)> = None;
    while let Some(v) = stack.pop() {
        if let Some(props) = v.get("properties").and_then(Value::as_object) {
            if let Some(p) = props.get(key) {
                let fit = record.keys().filter(|k| props.contains_key(*k)).count();
                if best.as_ref().is_none_or(|b| fit > b.0) {
                    best = Some((fit, p.clone()));
                }
            }
            stack.extend(props.values().cloned());
        }
    }
    best.map(|b| b.1)
}

/// Yes or no for a question about one record: a word said that is a field's value (yes), a value the field could
/// have but does not — by its schema here, or a field of that name in any tool's output (`domains`) — (no), a
/// field named by the word that is a date, a flag or empty (`paid_at`: set is yes, empty is no).
pub fn yes_no(
    e: &Entry,
    o: &Map<String, Value>,
    said: &[String],
    skip: &[String],
    domains: &dyn Fn(&str) -> Vec<String>,
) -> Option<(bool, String)> {
    let words: Vec<String> = said
        .iter()
        .filter(|w| w.chars().all(char::is_alphabetic) && !skip.contains(&stem(w)))
        .map(|w| stem(w))
        .collect();
    for (k, v) in o {
        if let Some(s) = v.as_str().filter(|s| words.contains(&stem(s))) {
            return Some((true, format!("{} {s}", k.replace('_', " "))));
        }
    }
    for (k, v) in o {
        let mut domain: Vec<String> = field_schema(e, k, o).map(|p| candidates(&p)).unwrap_or_default();
        if domain.is_empty() {
            domain = domains(k);
        }
        if let (Some(s), true) = (v.as_str(), domain.iter().any(|d| words.contains(&stem(d)))) {
            return Some((false, format!("{} {s}", k.replace('_', " "))));
        }
    }
    for (k, v) in o {
        let t = tokens(k);
        let flag = v.is_null() || v.is_boolean() || k.ends_with("_at");
        if flag && t.first().is_some_and(|f| words.contains(f)) {
            let set = !(v.is_null() || v == &Value::Bool(false));
            let shown = text(k, v).unwrap_or_else(|| "none".into());
            return Some((set, format!("{} {shown}", k.replace('_', " "))));
        }
    }
    None
}

/// The values a field called `key` takes, from the first read-only tool's output schema that lists them.
pub fn domain(entries: &[Entry], key: &str) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| field_schema(e, key, &Map::new()))
        .map(|p| candidates(&p))
        .find(|d| !d.is_empty())
        .unwrap_or_default()
}

/// The figures of a report or trend: "mrr (2026-11-06 to 2026-12-05): total 78,925, average 78,423.33, …".
pub fn figures(o: &Map<String, Value>, label: Option<&str>, said: &[String]) -> String {
    let name = label
        .map(str::to_string)
        .or_else(|| ["metric", "name"].iter().find_map(|k| o.get(*k)?.as_str().map(str::to_string)));
    let from = ["from", "start_date", "since"].iter().find_map(|k| o.get(*k)?.as_str());
    let to = ["to", "end_date", "until"].iter().find_map(|k| o.get(*k)?.as_str());
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in o {
        if ["metric", "name", "from", "to", "period", "days"].contains(&k.as_str()) || v.is_array() || v.is_object() {
            continue;
        }
        let Some(t) = text(k, v) else { continue };
        // A change and its percentage read as one: "change 630 (0.8%)".
        let pct = o.get(&format!("{k}_pct")).and_then(Value::as_f64).map(|p| format!(" ({}%)", number(p)));
        match k.strip_suffix("_pct") {
            Some(base) if o.get(base).is_some_and(Value::is_number) => {}
            Some(base) => parts.push(format!("{} {t}%", base.replace('_', " "))),
            None => parts.push(format!("{} {t}{}", k.replace('_', " "), pct.unwrap_or_default())),
        }
    }
    // The figure the question asks for first: an average, the latest value, or the total.
    let lead = if said.iter().any(|w| w == "average" || w == "mean") {
        "average"
    } else if said.iter().any(|w| ["now", "current", "currently", "today", "latest"].contains(&w.as_str())) {
        "last"
    } else {
        "total"
    };
    // A trend leads with its direction.
    for lead in [lead, "direction"] {
        if let Some(at) = parts.iter().position(|p| p.split(' ').next() == Some(lead)) {
            let first = parts.remove(at);
            parts.insert(0, first);
        }
    }
    let span = match (from, to, o.get("days").and_then(Value::as_u64)) {
        (Some(a), Some(b), _) => format!(" ({a} to {b})"),
        (_, _, Some(d)) => format!(" (last {d} days)"),
        _ => String::new(),
    };
    format!("{}{span}: {}", name.unwrap_or_default(), parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(78925.0), "78,925");
        assert_eq!(number(78423.333), "78,423.33");
        assert_eq!(number(0.8), "0.8");
        assert_eq!(number(-1234.5), "-1,234.5");
        assert_eq!(number(1e20), "100000000000000000000");
        assert_eq!(singular("companies"), "company");
        assert_eq!(singular("tickets"), "ticket");
    }

    #[test]
    fn counts_say_what_they_count_and_when_a_list_was_cut() {
        let entry = |name: &str| Entry {
            name: name.into(),
            server: "s".into(),
            tool: serde_json::from_value(json!({"name": name, "inputSchema": {"type": "object"}})).unwrap(),
            plan: None,
            via: None,
        };
        let e = entry("list_tickets");
        let v = json!({"tickets": [{"id": "T-1", "status": "open"}, {"id": "T-2", "status": "closed"}]});
        let args = serde_json::from_value(json!({"status": "open", "limit": 2})).unwrap();
        let c = count(&Source { entry: &e, args: &args, value: &v }, &[], &["open".into()]).unwrap();
        assert_eq!(c.phrase(), "at least 2 open tickets", "the list filled the limit");
        let pays = json!({"failed": 2, "payments": [{"id": "p1", "status": "failed"}, {"id": "p2", "status": "ok"}]});
        let none = serde_json::Map::new();
        let c = count(&Source { entry: &e, args: &none, value: &pays }, &["fail".into()], &[]).unwrap();
        assert_eq!((c.n, c.phrase().as_str()), (2, "2 failed payments"), "a count field the question names");
    }

    #[test]
    fn yes_or_no_from_values_domains_and_flags() {
        let e = Entry {
            name: "get_invoice".into(),
            server: "s".into(),
            tool: serde_json::from_value(json!({"name": "get_invoice", "inputSchema": {"type": "object"},
                "outputSchema": {"type": "object", "properties": {"status": {"type": "string", "description": "paid or failed"}}}}))
            .unwrap(),
            plan: None,
            via: None,
        };
        let o = json!({"id": "INV-1", "status": "failed", "paid_at": null}).as_object().unwrap().clone();
        let said = |q: &str| q.split(' ').map(String::from).collect::<Vec<_>>();
        let none = |_: &str| vec![];
        assert_eq!(yes_no(&e, &o, &said("is it failed"), &[], &none), Some((true, "status failed".into())));
        assert_eq!(yes_no(&e, &o, &said("is it paid"), &[], &none), Some((false, "status failed".into())));
        let flags = json!({"id": "INV-1", "paid_at": null}).as_object().unwrap().clone();
        assert_eq!(yes_no(&e, &flags, &said("is it paid"), &[], &none), Some((false, "paid at none".into())));
    }
}
