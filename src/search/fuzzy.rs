//! Near matches for tool search: names normalised for comparison, edit distance (a typo or two), the nearest
//! indexed word for a misspelt query word, and small tables of other spellings ("repo", "PR") and related words ("remove" for "delete") in tool vocabularies.

use crate::rank::tokens;
use std::sync::LazyLock;

/// Words for related actions and things in tool names and descriptions (a query word also finds tools using the
/// others, at a discount).
const RELATED: &[&[&str]] = &[
    &["delete", "remove", "erase", "destroy"],
    &["find", "search", "lookup", "query"],
    &["get", "fetch", "retrieve", "read", "show", "view", "display"],
    &["create", "add", "new", "make", "insert"],
    &["update", "edit", "modify", "change"],
    &["list", "enumerate", "browse"],
    &["run", "execute", "exec", "invoke"],
    &["navigate", "visit", "goto", "go"],
    &["save", "write", "store"],
    &["send", "post"],
    &["issue", "ticket", "bug"],
    &["user", "member", "account"],
    &["customer", "client"],
    &["invoice", "bill"],
    &["comment", "reply"],
];

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

type Groups = Vec<Vec<Vec<String>>>;
static STEMMED: LazyLock<(Groups, Groups)> = LazyLock::new(|| {
    let stem = |table: &[&[&str]]| table.iter().map(|group| group.iter().map(|w| tokens(w)).collect()).collect();
    (stem(SAME), stem(RELATED))
});

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

/// The stemmed words of `word`'s other spellings, then of its related words (`word` itself stemmed).
pub fn synonyms(word: &str) -> (Vec<String>, Vec<String>) {
    let of = |groups: &Groups| {
        groups
            .iter()
            .filter(|group| group.iter().any(|w| w.len() == 1 && w[0] == word))
            .flat_map(|group| group.iter().flatten().filter(|w| *w != word).cloned())
            .collect()
    };
    (of(&STEMMED.0), of(&STEMMED.1))
}
