//! How tool search reads words it does not find as they are: near matches (names normalised for comparison, edit
//! distance, the nearest indexed word for a misspelt one), and the words it knows besides the index's own — other
//! spellings of one thing ("repo", "PR"), the words tools use for an action or thing and the everyday words people
//! ask with ("make" → create, "remember" → memory), and what a question's opening asks for ("how far" → distance).
//! All of it general English about tools, none of it about one server; tables are stemmed once.

use crate::rank::tokens;
use std::sync::LazyLock;

/// Abbreviations and other spellings of one thing: counted as the word itself.
const SAME: &[&[&str]] = &[
    &["pr", "pull request"],
    &["repo", "repository"],
    &["dir", "folder", "directory"],
    &["db", "database"],
    &["msg", "message"],
    &["doc", "document"],
    &["email", "mail"],
    &["k8s", "kubernetes"],
    &["js", "javascript"],
];

/// A word tools are named with, then everyday words for it. An everyday word finds the tools' word at `EVERYDAY`;
/// any word of a group finds the others at `RELATED`.
const WORDS: &[(&str, &[&str])] = &[
    ("delete", &["remove", "erase", "destroy", "forget"]),
    ("search", &["find", "lookup", "query"]),
    ("get", &["fetch", "retrieve", "read", "show", "view", "display", "see"]),
    ("create", &["add", "new", "make", "insert", "open", "book"]),
    ("update", &["edit", "modify", "change", "rename"]),
    ("list", &["enumerate", "browse"]),
    ("many", &["all", "bulk", "batch"]),
    ("run", &["execute", "exec", "invoke", "evaluate", "eval", "launch", "trigger"]),
    ("navigate", &["visit", "goto", "go"]),
    ("save", &["write", "store"]),
    ("memory", &["remember", "recall", "memorize", "forget", "knowledge"]),
    ("send", &["post"]),
    ("issue", &["ticket", "bug"]),
    ("user", &["member", "account", "people", "person"]),
    ("customer", &["client"]),
    ("invoice", &["bill"]),
    ("comment", &["reply"]),
    ("schema", &["field", "column", "structure"]),
    ("process", &["terminal", "shell", "command", "program"]),
    ("elevation", &["altitude", "height"]),
    ("distance", &["far"]),
];

/// What a question opening with these words asks for.
const ASKED: &[(&str, &[&str])] = &[
    ("how far", &["distance"]),
    ("how high", &["elevation", "height"]),
    ("how tall", &["elevation", "height"]),
    ("how big", &["size"]),
    ("how large", &["size"]),
    ("how many", &["count"]),
    ("how long", &["duration", "time"]),
    ("how much", &["cost", "price", "amount"]),
];

/// The weight of the tools' word for an everyday word, and of a related word.
pub const EVERYDAY: f64 = 0.8;
pub const RELATED: f64 = 0.4;

struct Tables {
    same: Vec<Vec<Vec<String>>>,
    words: Vec<(String, Vec<String>)>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    same: SAME.iter().map(|group| group.iter().map(|w| tokens(w)).collect()).collect(),
    words: WORDS
        .iter()
        .map(|(head, others)| (tokens(head).concat(), others.iter().map(|w| tokens(w).concat()).collect()))
        .collect(),
});

/// The stemmed words that also find what the stemmed `word` asks for, with their weights: its other spellings
/// (1.0), the tools' word for an everyday word (`EVERYDAY`), related words (`RELATED`).
pub fn also(word: &str) -> Vec<(String, f64)> {
    let t = &*TABLES;
    let mut out: Vec<(String, f64)> = t
        .same
        .iter()
        .filter(|group| group.iter().any(|w| w.len() == 1 && w[0] == word))
        .flat_map(|group| group.iter().flatten().filter(|w| *w != word).map(|w| (w.clone(), 1.0)))
        .collect();
    for (head, others) in &t.words {
        if head == word {
            out.extend(others.iter().map(|o| (o.clone(), RELATED)));
        } else if others.iter().any(|o| o == word) {
            out.push((head.clone(), EVERYDAY));
            out.extend(others.iter().filter(|o| *o != word).map(|o| (o.clone(), RELATED)));
        }
    }
    out
}

/// The stemmed words a question's "how far", "how many"… asks for (`EVERYDAY` each), from the query's words as
/// written.
pub fn asked(written: &[String]) -> Vec<(String, f64)> {
    written
        .windows(2)
        .filter_map(|pair| ASKED.iter().find(|(phrase, _)| *phrase == format!("{} {}", pair[0], pair[1])))
        .flat_map(|(_, words)| words.iter().map(|w| (tokens(w).concat(), EVERYDAY)))
        .collect()
}

/// Lowercase letters and digits only: `GitHub create-issue` and `github__create_issue` compare equal.
pub fn norm(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The typos allowed in a word or name of `len` characters.
fn allowed(len: usize) -> usize {
    match len {
        0..5 => 0,
        5..10 => 1,
        _ => 2,
    }
}

/// Levenshtein distance of `a` and `b` when it is at most `max`.
pub fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
        if row.iter().min().is_some_and(|&m| m > max) {
            return None;
        }
    }
    Some(row[b.len()]).filter(|&d| d <= max)
}

/// The edit distance of a normalised query from a normalised name, when it is a typo or two away.
pub fn near(query: &str, name: &str) -> Option<usize> {
    distance(query, name, allowed(name.len().min(query.len()))).filter(|&d| d > 0)
}

/// The indexed word nearest to `word` (not indexed itself): one typo in a word of 6 to 9 letters, two from 10,
/// never in the first letter (a short word or another first letter is far more often another word than a typo);
/// ties go to the first in byte order, so the answer does not depend on the map's order.
pub fn nearest<'a>(word: &str, vocabulary: impl Iterator<Item = &'a String>) -> Option<String> {
    let len = word.chars().count();
    let max = if len < 6 { 0 } else { allowed(len) };
    let first = word.chars().next()?;
    if max == 0 {
        return None;
    }
    vocabulary
        .filter(|v| v.starts_with(first))
        .filter_map(|v| Some((distance(word, v, max)?, v)))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, v)| v.clone())
}
