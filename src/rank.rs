//! Lexical relevance of tools to a text: tokenising (identifiers split on `_`, `-`, `.` and case), a light
//! Snowball English stemmer, stop words, and a BM25-style score over tool names and descriptions. Used by the offline
//! planner to rank tools, and (its tokenising and stemming) by the tool search (`search`).

use crate::registry::Entry;
use std::collections::{HashMap, HashSet};

const STOP: [&str; 44] = [
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "is", "are", "was", "were", "be", "do", "does",
    "did", "what", "which", "who", "how", "their", "they", "them", "it", "its", "this", "that", "with", "by", "at",
    "from", "as", "any", "have", "has", "my", "me", "i", "you", "your", "our", "we",
];

/// The Snowball English stem of a word, lowercased: "invoices" and "invoice", "dates" and "date", "tickets" and
/// "ticketing" meet.
pub fn stem(word: &str) -> String {
    static ENGLISH: std::sync::LazyLock<rust_stemmers::Stemmer> =
        std::sync::LazyLock::new(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));
    ENGLISH.stem(&word.to_lowercase()).into_owned()
}

/// Words of `text` (identifiers split, lowercased, stemmed, stop words dropped).
pub fn tokens(text: &str) -> Vec<String> {
    words(text).iter().filter_map(|w| token(w)).collect()
}

/// A word's stem, unless it is a stop word.
pub fn token(word: &str) -> Option<String> {
    if STOP.contains(&word.to_lowercase().as_str()) {
        return None; // "does" stems to "doe", "any" to "ani": the word as written is the stop word
    }
    Some(stem(word)).filter(|s| !s.is_empty() && !STOP.contains(&s.as_str()))
}

/// Words of `text` as written, lowercased: split at anything not a letter or digit and inside camelCase.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = c.is_lowercase();
            word.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The words of an index entry: its tool name (counted twice), server name and description.
fn entry_tokens(e: &Entry) -> Vec<String> {
    let mut t = tokens(&e.tool.name);
    t.extend(tokens(&e.tool.name));
    t.extend(tokens(&e.server));
    t.extend(tokens(e.description()));
    t
}

/// BM25 scores of `entries` for `query`, in entry order.
pub fn scores(entries: &[Entry], query: &str) -> Vec<f64> {
    let q: HashSet<String> = tokens(query).into_iter().collect();
    let docs: Vec<Vec<String>> = entries.iter().map(entry_tokens).collect();
    let n = docs.len().max(1) as f64;
    let avg = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut df: HashMap<&str, f64> = HashMap::new();
    for d in &docs {
        for t in d.iter().collect::<HashSet<_>>() {
            *df.entry(t.as_str()).or_default() += 1.0;
        }
    }
    docs.iter()
        .map(|d| {
            q.iter()
                .map(|t| {
                    let tf = d.iter().filter(|w| *w == t).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = ((n - df.get(t.as_str()).copied().unwrap_or(0.0) + 0.5)
                        / (df.get(t.as_str()).copied().unwrap_or(0.0) + 0.5)
                        + 1.0)
                        .ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * d.len() as f64 / avg.max(1.0)))
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_identifiers_and_stem() {
        assert_eq!(tokens("list_tickets getPaymentHistory"), ["list", "ticket", "get", "payment", "histori"]);
        assert_eq!(tokens("What are the open tickets?"), ["open", "ticket"]);
        assert_eq!(stem("companies"), stem("company"));
    }

    /// Regression: the suffix stripper gave invoice/invoices, date/dates and note/notes different stems.
    #[test]
    fn singular_and_plural_meet() {
        for (a, b) in [("invoice", "invoices"), ("date", "dates"), ("note", "notes"), ("ticket", "ticketing")] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
    }
}
