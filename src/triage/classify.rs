//! The built-in triage decision (`--schema triage`, the default with `--from`): its JSON Schema — category (from the
//! taxonomy), priority, sentiment, customer, summary, next action, duplicate_of, confidence — and, with no model, a
//! deterministic classifier that fills it: the category from the item's words against each category's keywords, the
//! customer's context from the offline planner's overview of the customer the item names (`customer_id` or an
//! email), the priority from urgent words (at least the item's own) raised a step for a billing item of a customer in billing trouble (a
//! past-due / unpaid state or a failed record), and `duplicate_of` from the customer's other open items of the same
//! kind (same id prefix) whose words mostly match, the earliest first.
//!
//! Owns: the decision's shape and the offline reading. Not: running items (see `triage`).

use super::input::Item;
use crate::agent::{Outcome, Status};
use crate::rank;
use crate::registry::Registry;
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// The default taxonomy: each category with the words that point to it (stems as `rank::tokens` makes them).
const DEFAULT: [(&str, &str); 5] = [
    ("billing", "invoice payment pay charge charged refund card billing bill renewal declined receipt price amount"),
    ("technical", "error bug api crash timeout slow outage down webhook export integration 429 500 load broken"),
    ("account", "login log password sso access account user teammate invite permission locked cancel credentials"),
    ("sales", "upgrade pricing quote plan annual demo discount trial enterprise contract seats"),
    ("other", ""),
];
const URGENT: [&str; 9] =
    ["urgent", "asap", "immediately", "outage", "down", "critical", "production", "blocked", "losing"];
const LOW: [&str; 5] = ["question", "wondering", "request", "fyi", "whenever"];
const NEGATIVE: [&str; 8] =
    ["angry", "frustrated", "unacceptable", "terrible", "disappointed", "still", "again", "worst"];
const POSITIVE: [&str; 5] = ["thanks", "thank", "great", "love", "appreciate"];
const TROUBLE: [&str; 5] = ["past_due", "unpaid", "overdue", "suspended", "failed"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// The categories and their keywords.
pub struct Taxonomy(Vec<(String, Vec<String>)>);

impl Taxonomy {
    /// `billing,technical,shipping:parcel+courier,other`: known names keep their keywords, others take their own
    /// name and the words after `:`. Empty: the default taxonomy.
    pub fn parse(spec: Option<&str>) -> Result<Taxonomy, String> {
        let words = |s: &str| s.split([' ', '+']).flat_map(rank::tokens).collect::<Vec<_>>();
        let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else {
            return Ok(Taxonomy(DEFAULT.iter().map(|(n, k)| (n.to_string(), words(k))).collect()));
        };
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, extra) = part.split_once(':').unwrap_or((part, ""));
            let name = name.trim().to_lowercase();
            if name.is_empty() || out.iter().any(|(n, _)| *n == name) {
                return Err(format!("--categories: empty or repeated category in '{spec}'"));
            }
            let known = DEFAULT.iter().find(|(n, _)| *n == name).map_or("", |(_, k)| k);
            let mut kw = words(known);
            kw.extend(words(extra));
            if name != "other" {
                kw.extend(rank::tokens(&name));
            }
            out.push((name, kw));
        }
        Ok(Taxonomy(out))
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// The decision's JSON Schema.
pub fn schema(t: &Taxonomy) -> Value {
    let text = json!({"type": "string"});
    let maybe = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "required": ["category", "priority", "sentiment", "customer", "summary", "next_action", "duplicate_of", "confidence"],
        "properties": {
            "category": {"type": "string", "enum": t.names()},
            "priority": {"type": "string", "enum": PRIORITIES},
            "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
            "customer": {"type": ["object", "null"], "properties": {
                "id": text, "name": maybe, "plan": maybe, "account_state": {"type": "array", "items": text}}},
            "summary": text, "next_action": text, "duplicate_of": maybe,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
    })
}

/// What the servers say about the item's customer.
#[derive(Default)]
struct Context {
    customer: Option<Map<String, Value>>,
    /// `subscription past_due`, `customer active`, `1 failed invoice (INV-000012)`.
    state: Vec<String>,
    trouble: bool,
    /// Other items of the same kind (id prefix) of this customer: id, words, created.
    siblings: Vec<(String, HashSet<String>, String)>,
    calls: Vec<crate::agent::ToolRecord>,
}

fn prefix(id: &str) -> &str {
    id.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn words(text: &str) -> HashSet<String> {
    rank::tokens(text).into_iter().collect()
}

/// The noun of a getter or lister (`payments__get_subscription` → subscription).
pub(super) fn noun(tool: &str) -> String {
    let own = tool.split_once("__").map_or(tool, |(_, o)| o);
    own.split_once('_').map_or(own, |(_, n)| n).trim_end_matches('s').replace('_', " ")
}

async fn context(registry: &Registry, item: &Item) -> Context {
    let who = ["customer_id", "customer", "email"].iter().find_map(|k| item.context.get(*k).and_then(Value::as_str));
    let Some(who) = who else { return Context::default() };
    let g = crate::planner::ground(registry, &format!("What's going on with {who}?")).await;
    let mut c = Context::default();
    let kind = prefix(&item.id);
    for step in g.steps {
        let noun = noun(&step.record.tool);
        c.calls.push(step.record);
        let Ok(value) = step.value else { continue };
        let lists: Vec<(&String, &Vec<Value>)> =
            value.as_object().map_or(vec![], |o| o.iter().filter_map(|(k, v)| Some((k, v.as_array()?))).collect());
        let has = |o: &&Map<String, Value>| o.contains_key("status") || o.contains_key("id");
        let record = value.get(&noun).and_then(Value::as_object).or_else(|| value.as_object().filter(has));
        {
            if let Some(r) = record {
                if let Some(s) = r.get("status").and_then(Value::as_str) {
                    c.state.push(format!("{noun} {s}"));
                    c.trouble |= TROUBLE.contains(&s);
                }
                if r.get("id").and_then(Value::as_str) == Some(who)
                    || r.get("email").and_then(Value::as_str) == Some(who)
                {
                    c.customer = Some(r.clone());
                }
            }
        }
        for (key, list) in lists {
            let failed: Vec<&str> = list
                .iter()
                .filter(|x| x.get("status").and_then(Value::as_str).is_some_and(|s| TROUBLE.contains(&s)))
                .filter_map(|x| x.get("id").and_then(Value::as_str))
                .collect();
            if !failed.is_empty() && !kind.is_empty() && !failed.iter().any(|id| prefix(id) == kind) {
                let what = key.trim_end_matches('s');
                c.state.push(format!(
                    "{} failed {what}{} ({})",
                    failed.len(),
                    if failed.len() > 1 { "s" } else { "" },
                    failed.join(", ")
                ));
                c.trouble = true;
            }
            for x in list.iter().filter_map(Value::as_object) {
                let (Some(id), Some(status)) =
                    (x.get("id").and_then(Value::as_str), x.get("status").and_then(Value::as_str))
                else {
                    continue;
                };
                if prefix(id) == kind && id != item.id && status == "open" {
                    let text = ["subject", "title", "body", "text"]
                        .iter()
                        .filter_map(|k| x.get(*k)?.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let created = x.get("created_at").and_then(Value::as_str).unwrap_or_default().to_string();
                    c.siblings.push((id.to_string(), words(&text), created));
                }
            }
        }
    }
    c
}

/// The decision for one item, with no model, as an outcome: its JSON the answer, its tool calls those that read the
/// customer's context.
pub async fn decide(registry: &Registry, item: &Item, t: &Taxonomy) -> Outcome {
    let mine = words(&item.text);
    let c = context(registry, item).await;
    let hits = |kw: &[String]| kw.iter().filter(|k| mine.contains(*k)).count();
    let mut scored: Vec<(usize, &str)> = t.0.iter().map(|(n, kw)| (hits(kw), n.as_str())).collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    let fallback = t.names().into_iter().find(|n| *n == "other").unwrap_or(t.0.last().map_or("other", |(n, _)| n));
    let (best, category) = match scored.first() {
        Some((n, name)) if *n > 0 => (*n, *name),
        _ => (0, fallback),
    };
    let margin = best - scored.get(1).map_or(0, |s| s.0);
    let said = |list: &[&str]| list.iter().filter(|w| mine.contains(**w)).count();
    let heard = match (said(&URGENT), said(&LOW)) {
        (0, l) if l > 0 => Some(0),
        (0, _) => None,
        (1, _) => Some(2),
        _ => Some(3),
    };
    // The priority the item already has is a floor: triage does not quietly lower what a person set, and raises it
    // only for what the text says. With none set, normal unless the text says otherwise.
    let set = item.context.get("priority").and_then(Value::as_str);
    let own = PRIORITIES.iter().position(|p| Some(*p) == set);
    let mut level = match (own, heard) {
        (Some(o), h) => o.max(h.unwrap_or(0)),
        (None, h) => h.unwrap_or(1),
    };
    let billing_trouble = category == "billing" && c.trouble;
    if billing_trouble {
        level = (level + 1).min(3);
    }
    let sentiment = match (said(&NEGATIVE), said(&POSITIVE)) {
        (n, p) if n > p => "negative",
        (n, p) if p > n => "positive",
        _ => "neutral",
    };
    let mine_created = item.context.get("created_at").and_then(Value::as_str).unwrap_or("~");
    let duplicate = c
        .siblings
        .iter()
        .filter(|(id, _, created)| (created.as_str(), id.as_str()) < (mine_created, item.id.as_str()))
        .filter(|(_, w, _)| similarity(&mine, w) >= 0.6)
        .min_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)))
        .map(|(id, _, _)| id.clone());
    let s = |k: &str| c.customer.as_ref().and_then(|r| r.get(k)?.as_str().map(String::from));
    let label = match (s("name"), s("company")) {
        (Some(n), Some(co)) => format!("{n} ({co})"),
        (Some(n), None) => n,
        _ => "The customer".into(),
    };
    let first = item.text.lines().next().unwrap_or_default().trim().trim_end_matches('.');
    let mut summary = format!("{label}: {first}");
    if !c.state.is_empty() {
        summary.push_str(&format!(" — {}", c.state.join(", ")));
    }
    let next_action = match (&duplicate, category, billing_trouble) {
        (Some(d), _, _) => format!("Merge into {d}: same customer, same request, still open."),
        (None, _, true) => "Ask the customer to update the payment method, then retry the failed payment.".into(),
        (None, "billing", _) => "Check the invoices and charges against the plan and answer the customer.".into(),
        (None, "technical", _) => "Reproduce the problem and escalate to engineering with the details.".into(),
        (None, "account", _) => "Verify the requester and fix the account's access or settings.".into(),
        (None, "sales", _) => "Hand over to the account manager with the plan options.".into(),
        (None, other, _) => format!("Route to the {other} queue and reply to the customer."),
    };
    let customer = c
        .customer
        .as_ref()
        .map(|r| json!({"id": r.get("id"), "name": r.get("name"), "plan": r.get("plan"), "account_state": c.state}));
    let confidence = if best == 0 { 0.3 } else { (0.5 + 0.15 * margin as f64).min(0.95) };
    let decision = json!({
        "category": category, "priority": PRIORITIES[level], "sentiment": sentiment, "customer": customer,
        "summary": format!("{}.", summary.trim_end_matches('.')), "next_action": next_action, "duplicate_of": duplicate,
        "confidence": (confidence * 100.0).round() / 100.0,
    });
    // Its JSON is the answer, checked against the schema like a model's.
    Outcome {
        status: Status::Ok,
        answer: decision.to_string(),
        turns: 0,
        usage: crate::llm::Usage::default(),
        tool_calls: c.calls,
        error: None,
        model: crate::planner::MODEL_NAME.to_string(),
        tools_omitted: vec![],
        tool_search: None,
        facts: None,
        repairs: vec![],
    }
}

/// Shared words over the smaller set's size (a short subject inside a longer text still matches).
fn similarity(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let small = a.len().min(b.len());
    if small == 0 { 0.0 } else { a.intersection(b).count() as f64 / small as f64 }
}
