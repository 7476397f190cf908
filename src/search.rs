//! Tool search: one ranked index over the merged tools, used by every face (`hub tools search`, REST
//! `/tools/search`, the agent's search mode). Each tool is four fields — its split name, its server, its description,
//! its parameters (names, descriptions, enum values) — scored with BM25F (per-field weights and length
//! normalisation), query words stemmed (fillers and values dropped: numbers, ids, quoted text, file names, the name
//! after "called"), misspelt words matched to the nearest indexed word, other spellings counted as the word ("PR"
//! for "pull request"), the tools' word for an everyday one ("make" → create) and related words at a discount
//! ("remove" for "delete"), what a question's opening asks for ("how far" → distance; "which …s" → a list), two
//! query words in a row found in a row counted again as a phrase, two words that the index writes as one joined
//! ("work log"), and read-only tools a little ahead for a question.
//! A query that is a tool's name, exactly or within a typo or two (`create_issue`, `github create issue`,
//! `creat_isue`), ranks that tool first. Its quality is measured on real tools: `tests/it/search_recall.rs`.
//!
//! Built once per index snapshot (`registry::Index::searcher`); a search is a scan of the posting lists of the
//! query's words.

mod fields;
pub mod found;
pub(crate) mod vocab;

use crate::registry::Entry;
use std::collections::HashMap;

/// Field weights: name, server, description, parameters.
const WEIGHT: [f64; fields::COUNT] = [3.0, 1.5, 1.0, 0.5];
/// Length normalisation per field (0: none).
const B: [f64; fields::COUNT] = [0.3, 0.0, 0.75, 0.75];
const K1: f64 = 1.2;
/// Added to the score of a tool whose name the query is (exact), or nearly is (minus the edit distance).
const EXACT: f64 = 100.0;
const NEAR: f64 = 50.0;
/// The weight of two query words in a row found in a row (besides each word's own).
const PHRASE: f64 = 0.3;
/// Read-only tools' scores are multiplied by this for a question.
const QUESTION: f64 = 1.2;

/// One tool found, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Position in the index's entries.
    pub index: usize,
    pub score: f64,
    /// The query named this tool (exactly or within a typo).
    pub named: bool,
}

/// The ranked index over one snapshot of the tools.
#[derive(Debug, Default)]
pub struct Searcher {
    /// term → (doc, per-field term frequencies)
    postings: HashMap<String, Vec<(u32, [u16; fields::COUNT])>>,
    /// Field lengths per doc.
    lengths: Vec<[u16; fields::COUNT]>,
    avg: [f64; fields::COUNT],
    /// Names normalised (lowercase letters and digits only): the tool's own, and server + tool.
    names: Vec<(String, String)>,
    /// Which tools are read-only (annotated so).
    reads: Vec<bool>,
    /// Every indexed word as written (lowercased) → its stem: where a misspelt query word is looked up.
    written: HashMap<String, String>,
}

impl Searcher {
    pub fn new(entries: &[Entry]) -> Searcher {
        let mut s = Searcher::default();
        let mut totals = [0f64; fields::COUNT];
        // Each word as written is stemmed once (stop words too: `None`); one term-frequency table serves every doc.
        let mut stems: HashMap<String, Option<String>> = HashMap::new();
        let mut tf: HashMap<String, [u16; fields::COUNT]> = HashMap::new();
        for (doc, e) in entries.iter().enumerate() {
            let terms = fields::of(e);
            for w in terms.iter().flatten() {
                if !stems.contains_key(w) {
                    stems.insert(w.clone(), crate::rank::token(w));
                }
            }
            let mut len = [0u16; fields::COUNT];
            for (f, words) in terms.iter().enumerate() {
                len[f] = words.len().min(u16::MAX as usize) as u16;
                totals[f] += f64::from(len[f]);
                let mut prev: Option<&str> = None;
                for w in words {
                    let Some(stem) = stems.get(w).and_then(Option::as_deref) else { continue };
                    // Two words in a row in a name or description also count as a phrase ("pull request").
                    if let Some(p) = prev.filter(|_| fields::PHRASES[f]) {
                        let c = &mut tf.entry([p, stem].join(" ")).or_default()[f];
                        *c = c.saturating_add(1);
                    }
                    let c = match tf.get_mut(stem) {
                        Some(c) => &mut c[f],
                        None => &mut tf.entry(stem.to_string()).or_default()[f],
                    };
                    *c = c.saturating_add(1);
                    prev = Some(stem);
                }
            }
            for (term, counts) in tf.drain() {
                s.postings.entry(term).or_default().push((doc as u32, counts));
            }
            s.lengths.push(len);
            s.reads.push(e.read_only());
            s.names.push((vocab::norm(&e.tool.name), vocab::norm(&format!("{} {}", e.server, e.tool.name))));
        }
        let n = entries.len().max(1) as f64;
        s.avg = totals.map(|t| (t / n).max(1.0));
        s.written = stems.into_iter().filter_map(|(w, stem)| Some((w, stem?))).collect();
        s
    }

    /// The tools most relevant to `query` among those `keep` admits, best first (ties in index order), at most
    /// `limit`. Tools that match no word of the query are left out.
    pub fn search(&self, query: &str, limit: usize, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for (term, weight) in self.query_terms(query) {
            let Some(list) = self.postings.get(&term) else { continue };
            let idf = self.idf(list.len());
            for (doc, tf) in list {
                let len = &self.lengths[*doc as usize];
                let weighted: f64 = (0..fields::COUNT)
                    .map(|f| {
                        let norm = 1.0 - B[f] + B[f] * f64::from(len[f]) / self.avg[f];
                        WEIGHT[f] * f64::from(tf[f]) / norm
                    })
                    .sum();
                *scores.entry(*doc).or_default() += weight * idf * weighted / (K1 + weighted);
            }
        }
        let q = vocab::norm(query);
        let mut named = vec![];
        if !q.is_empty() && query.split_whitespace().count() <= 4 {
            for (doc, (own, full)) in self.names.iter().enumerate() {
                let boost = if *own == q || *full == q {
                    EXACT
                } else {
                    match vocab::near(&q, own).or_else(|| vocab::near(&q, full)) {
                        Some(d) => NEAR - d as f64,
                        None => continue,
                    }
                };
                *scores.entry(doc as u32).or_default() += boost;
                named.push(doc as u32);
            }
        }
        // A question ("which…", "show…") is answered by reading: read-only tools rank a little higher for it.
        if fields::asks(query) {
            for (doc, score) in scores.iter_mut() {
                if self.reads[*doc as usize] {
                    *score *= QUESTION;
                }
            }
        }
        let mut hits: Vec<Hit> = scores
            .into_iter()
            .filter(|&(doc, score)| score > 0.0 && keep(doc as usize))
            .map(|(doc, score)| Hit { index: doc as usize, score, named: named.contains(&doc) })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        hits.truncate(limit);
        hits
    }

    fn idf(&self, df: usize) -> f64 {
        let (n, df) = (self.lengths.len() as f64, df as f64);
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// The query's words with their weights: each stemmed word (1.0), or the nearest indexed word when it is not
    /// indexed (a typo, 0.8); its other spellings (1.0) and related words (0.4) that are indexed; phrases of two
    /// (`PHRASE`); two words joined when the index has them as one (1.0). A term given twice counts once.
    fn query_terms(&self, query: &str) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = vec![];
        let mut add = |term: String, weight: f64| match out.iter_mut().find(|(t, _)| *t == term) {
            Some(slot) => slot.1 = slot.1.max(weight),
            None => out.push((term, weight)),
        };
        let mut prev: Option<String> = None;
        let mut before: Option<String> = None;
        for written in fields::query_words(query) {
            let Some(word) = crate::rank::token(&written) else { continue };
            let known = if self.postings.contains_key(&word) {
                add(word.clone(), 1.0);
                Some(word.clone())
            } else if let Some(near) = vocab::nearest(&written, self.written.keys()) {
                add(self.written[&near].clone(), 0.8);
                Some(self.written[&near].clone())
            } else {
                None
            };
            if let (Some(p), Some(k)) = (&prev, &known) {
                let phrase = format!("{p} {k}");
                if self.postings.contains_key(&phrase) {
                    add(phrase, PHRASE);
                }
            }
            prev = known;
            // Two words written apart that an index writes as one ("work log" for "worklog").
            if let Some(joined) = before.replace(written.clone()).map(|b| b + &written)
                && let Some(stem) = self.written.get(&joined)
            {
                add(stem.clone(), 1.0);
            }
            for (syn, weight) in vocab::also(&word) {
                if self.postings.contains_key(syn.as_str()) {
                    add(syn, weight);
                }
            }
        }
        let many = fields::asks_for_many(query).then(|| ("list".to_string(), vocab::RELATED));
        for (word, weight) in vocab::asked(&crate::rank::words(query)).into_iter().chain(many) {
            if self.postings.contains_key(word.as_str()) {
                add(word, weight);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
