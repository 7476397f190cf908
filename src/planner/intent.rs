//! What a question asks: its kind (a status, a list, a count, a trend, a report, a comparison, who/which, a yes/no,
//! an overview) and its focus — the words that say what is asked about, stemmed, with the entities' own words, the
//! phrasing of the kind and the period taken out. General English about questions; nothing here knows a tool.

use super::entities::Entities;
use crate::rank::{stem, token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "What's going on with…", "overview", several questions at once: every read-only view of the subject.
    Overview,
    Compare,
    Trend,
    Count,
    YesNo,
    /// Totals, averages, "how much", "right now": the figures of a period.
    Report,
    Who,
    List,
    /// One attribute of one thing ("what plan…", "what's the status of…").
    Lookup,
}

#[derive(Debug, Clone)]
pub struct Intent {
    pub kind: Kind,
    /// Stems of the words that say what is asked about (not the entities, the kind's phrasing or the period).
    pub focus: Vec<String>,
    /// The words as written, lowercased (for yes/no values and phrases).
    pub words: Vec<String>,
}

const OVERVIEW: &[&str] = &["overview", "everything", "summary", "summarize", "summarise", "going on", "tell me about"];
const COMPARE: &[&str] = &["compare", "compared", "comparison", "versus", "vs", "against"];
const TREND: &[&str] =
    &["trend", "trending", "increasing", "decreasing", "growing", "going up", "going down", "changed", "over time"];
const COUNT: &[&str] = &["how many", "number of", "count"];
const REPORT: &[&str] = &["how much", "total", "average", "report", "right now", "currently", "current"];
const LIST: &[&str] = &["list", "show", "which", "what"];
/// "Which company filed …": a question about the party behind a record, as "who" is.
const PARTIES: &[&str] = &["customer", "company", "client", "person", "user", "organization", "organisation"];
const YES_NO: &[&str] = &["is", "are", "does", "do", "did", "has", "have", "was", "were", "can", "any"];
/// Words a request opens with.
const COMMANDS: &[&str] =
    &["please", "show", "list", "give", "tell", "get", "find", "compare", "count", "echo", "sum", "make"];
const HEADS: &[&str] = &["what", "do", "does", "is", "are", "how", "which", "who", "when", "has", "have", "did"];
/// Words that only phrase a question or a period, never what it is about.
const PHRASING: &[&str] = &[
    "show",
    "list",
    "give",
    "tell",
    "me",
    "please",
    "get",
    "find",
    "many",
    "much",
    "number",
    "count",
    "trend",
    "trending",
    "going",
    "up",
    "down",
    "or",
    "compare",
    "compared",
    "versus",
    "vs",
    "against",
    "report",
    "total",
    "overview",
    "everything",
    "summary",
    "last",
    "past",
    "next",
    "previous",
    "this",
    "days",
    "day",
    "weeks",
    "week",
    "months",
    "month",
    "today",
    "yesterday",
    "tomorrow",
    "daily",
    "there",
    "about",
    "all",
    "been",
    "had",
    "did",
    "doing",
    "look",
    "like",
    "right",
    "now",
    "currently",
    "current",
    "we",
    "us",
    "our",
    "on",
    "period",
    "changed",
    "over",
    "time",
    "increasing",
    "decreasing",
    "growing",
    "s",
    "say",
    "says",
    "said",
    "whose",
    "coming",
    "upcoming",
];

fn has(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        if p.contains(' ') { text.contains(p) } else { text.split(|c: char| !c.is_alphanumeric()).any(|w| w == *p) }
    })
}

/// Several questions in one: two or more clause heads after the first ("what is…, do they…, and what…").
fn several(lower: &str) -> bool {
    let clauses = lower.split([',', ';', '?']).skip(1).filter(|c| {
        let first = c.split_whitespace().find(|w| *w != "and" && *w != "or");
        first.is_some_and(|w| HEADS.contains(&w))
    });
    clauses.count() >= 1 && lower.matches('?').count() + lower.matches(", ").count() >= 2
}

/// Reads `question` (with its entities already extracted); `verbs` are the first words of the tools' names (a
/// sentence opening with one, or with an everyday word for one, is a request, not a message).
pub fn read(question: &str, e: &Entities, verbs: &[String]) -> Intent {
    let lower = question.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'");
    let first = lower.split_whitespace().next().unwrap_or("").trim_matches(|c: char| !c.is_alphanumeric());
    // A message about something rather than a question ("Customer … says the renewal failed"), when it asks
    // nothing else: what is going on with its subject.
    let request = token(first)
        .is_some_and(|t| verbs.contains(&t) || crate::search::vocab::also(&t).iter().any(|(w, _)| verbs.contains(w)));
    let message = !lower.contains('?') && !HEADS.contains(&first) && !COMMANDS.contains(&first) && !request;
    let kind = if has(&lower, OVERVIEW) || several(&lower) {
        Kind::Overview
    } else if has(&lower, COMPARE) {
        Kind::Compare
    } else if has(&lower, TREND) {
        Kind::Trend
    } else if has(&lower, COUNT) {
        Kind::Count
    } else if YES_NO.contains(&first) {
        Kind::YesNo
    } else if has(&lower, REPORT) {
        Kind::Report
    } else if first == "who" || first == "whose" || PARTIES.iter().any(|p| lower.starts_with(&format!("which {p} "))) {
        Kind::Who
    } else if has(&lower, LIST) && (LIST.contains(&first) && plural_after(&lower) || first == "show" || first == "list")
    {
        Kind::List
    } else if message && (!e.emails.is_empty() || !e.ids.is_empty() || !e.uuids.is_empty() || !e.names.is_empty()) {
        Kind::Overview
    } else {
        Kind::Lookup
    };
    // The words of the entities are not what is asked about.
    let mut skip: Vec<String> = Vec::new();
    for v in e.emails.iter().chain(&e.ids).chain(&e.uuids).chain(&e.names).chain(&e.quoted) {
        skip.extend(crate::rank::words(v));
        skip.push(v.to_lowercase());
    }
    let words: Vec<String> = e.words.clone();
    let focus = words
        .iter()
        .filter(|w| !skip.contains(w) && !PHRASING.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|w| token(w))
        .fold(Vec::new(), |mut acc: Vec<String>, s| {
            if !acc.contains(&s) {
                acc.push(s);
            }
            acc
        });
    Intent { kind, focus, words }
}

/// "which customers…", "what meetings…": a plural noun right after the opening word asks for a list.
fn plural_after(lower: &str) -> bool {
    let mut it = lower.split_whitespace().skip(1);
    let next = it.next().unwrap_or("").trim_matches(|c: char| !c.is_alphanumeric());
    next.len() > 3 && next.ends_with('s') && !next.ends_with("ss") && stem(next) != next
}

#[cfg(test)]
mod tests {
    use super::super::entities::extract;
    use super::*;

    fn kind(q: &str) -> Kind {
        let verbs = ["get", "list", "creat", "updat", "cancel"].map(String::from);
        read(q, &extract(q, chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()), &verbs).kind
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("What's going on with john.smith@acme.com?"), Kind::Overview);
        assert_eq!(kind("What is their status, do they have open tickets, and what is their history?"), Kind::Overview);
        assert_eq!(kind("Compare tickets opened and tickets resolved"), Kind::Compare);
        assert_eq!(kind("Is churn going up or down?"), Kind::Trend);
        assert_eq!(kind("How many open tickets are there?"), Kind::Count);
        assert_eq!(kind("Is invoice INV-000012 paid?"), Kind::YesNo);
        assert_eq!(kind("How much revenue did we collect?"), Kind::Report);
        assert_eq!(kind("Who is anna.adams@initech.com?"), Kind::Who);
        assert_eq!(kind("Which company filed ticket TCK-01003?"), Kind::Who);
        assert_eq!(kind("Which customers do we have at Initech?"), Kind::List);
        assert_eq!(kind("Show the open urgent tickets"), Kind::List);
        assert_eq!(kind("What plan is Quinn Martin on?"), Kind::Lookup);
        assert_eq!(kind("Customer john.smith@acme.com says the renewal failed"), Kind::Overview);
        assert_eq!(kind("Book a meeting with John Smith tomorrow"), Kind::Lookup, "a request, not a message");
    }

    #[test]
    fn focus_leaves_out_entities_phrasing_and_periods() {
        let q = "What is the subscription status of john.smith@acme.com over the last 30 days?";
        let i = read(q, &extract(q, chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()), &[]);
        assert_eq!(i.focus, ["subscript", "status"]);
    }
}
