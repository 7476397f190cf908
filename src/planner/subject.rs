//! The thing a question is about, found: the record a getter gives for an email or id ("TCK-01001" → the tool whose
//! `id` takes TCK-…), a search for a name (one match, or say which), and references followed — an `X_id` in a record
//! leads to X's record when the question asks about X ("the customer of ticket TCK-01001"), at most two hops.

use super::cover::{like, nouns};
use super::fill::{self, Ctx, Known, Mode};
use super::intent::Kind;
use super::{Plan, catalog};
use crate::registry::Entry;
use serde_json::{Map, Value};

/// A record found, and what it is.
#[derive(Debug, Clone)]
pub struct Thing {
    /// The stem of what it is (`custom`), for matching question words.
    pub noun: String,
    /// What it is, as a word (`customer`): its id is known to other tools as `<word>_id`.
    pub word: String,
    pub record: Map<String, Value>,
    /// The tool that gave it.
    pub tool: String,
}

/// How a search for the subject ended.
pub enum Found {
    One(Thing),
    /// Nothing matches: what was looked for, with what, and the tool's own message if it failed.
    None(String),
    /// Several match: their labels.
    Several(String, Vec<String>),
    /// Nothing to look for, or no tool to look with.
    Nothing,
}

const MAX_HOPS: usize = 2;

impl Thing {
    /// "John Smith (Acme Corp)", "TCK-01001 (Subscription renewal failed)", "INV-000012".
    pub fn label(&self) -> String {
        let s = |k: &str| self.record.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        match (s("name"), s("id")) {
            (Some(name), _) => match s("company").or(s("organization")) {
                Some(c) => format!("{name} ({c})"),
                None => name.to_string(),
            },
            (None, Some(id)) => match s("title").or(s("subject")) {
                Some(t) => format!("{id} ({t})"),
                None => id.to_string(),
            },
            (None, None) => self.noun.clone(),
        }
    }

    /// A person or organisation (it has a name or an email), rather than a document about one.
    pub fn is_party(&self) -> bool {
        self.record.contains_key("name") || self.record.contains_key("email")
    }

    /// What it makes known to other tools: its id as `<word>_id` (references it holds are followed, not learned:
    /// a question about an invoice is not about every invoice of its customer).
    pub fn learn(&self, known: &mut Known) {
        if let Some(id) = self.record.get("id") {
            known.insert(format!("{}_id", self.word.replace(' ', "_")), id.clone());
        }
    }
}

/// The record in a getter's result: the object under the tool's noun, else the result itself when it has an id.
fn record_of(noun: &str, v: &Value) -> Option<Map<String, Value>> {
    let o = v.as_object()?;
    if let Some(inner) = o.iter().find(|(k, x)| x.is_object() && crate::rank::tokens(k).concat() == noun) {
        return inner.1.as_object().cloned();
    }
    (o.contains_key("id") || o.contains_key("email")).then(|| o.clone())
}

impl Plan<'_> {
    /// The getter for a concrete value the question (or a record) names: the read-only tool whose own `id` or
    /// `email` parameter takes it (by the id's prefix in its description), a `get` tool before others.
    fn getter(&self, e: &super::entities::Entities) -> Option<(usize, Map<String, Value>)> {
        let known = Known::new();
        let ctx = Ctx { e, known: &known, mode: Mode::Entity, catalogs: &[], all: false, pick: 0 };
        let mut best: Option<(f64, usize, Map<String, Value>)> = None;
        for (i, entry) in self.entries.iter().enumerate() {
            let f = fill::fill(&Value::Object((*entry.tool.input_schema).clone()), &ctx);
            if !f.missing.is_empty() || f.from_entity == 0 || catalog::noun(entry).is_some() {
                continue;
            }
            let own = f.args.keys().any(|k| k == "id" || k == "email");
            let get = crate::rank::tokens(super::cover::own_name(entry)).first().is_some_and(|t| t == "get");
            let score = 3.0 * f64::from(own) + f64::from(get) + 0.01 * self.scores[i];
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, i, f.args));
            }
        }
        best.filter(|b| b.0 >= 3.0).map(|(_, i, args)| (i, args))
    }

    /// Looks up the record of a concrete value (email, id, uuid), with the record of the call.
    pub(super) async fn fetch(&self, value: &str) -> (Found, Option<super::Step>) {
        let today = chrono::Utc::now().date_naive();
        let e = super::entities::extract(value, today);
        let Some((i, args)) = self.getter(&e) else { return (Found::Nothing, None) };
        let entry: Entry = self.entries[i].clone();
        let step = super::run_one(self.registry, &entry, args, self.epoch).await;
        (self.found(&entry, value, step.value.clone()), Some(step))
    }

    fn found(&self, entry: &Entry, value: &str, v: Result<Value, String>) -> Found {
        let noun = nouns(entry).concat();
        let word = super::cover::noun_words(entry);
        match v {
            Ok(v) => match record_of(&noun, &v) {
                Some(record) => Found::One(Thing { noun, word, record, tool: entry.name.clone() }),
                None => Found::None(format!("No {word} {value} ({} found nothing).", entry.name)),
            },
            Err(err) => Found::None(format!("No {word} {value}: {}", crate::output::cut(&err, 160))),
        }
    }

    /// Searches for a name with the best search tool (a read-only tool with a required query-like parameter).
    pub(super) async fn search(&mut self, name: &str) -> Found {
        let pick = self.entries.iter().position(|e| {
            let req = e.tool.input_schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
            req.len() == 1 && req[0].as_str().is_some_and(|r| ["query", "q", "search", "keyword", "term"].contains(&r))
        });
        let Some(i) = pick else { return Found::Nothing };
        let entry = self.entries[i].clone();
        let param = entry.tool.input_schema["required"][0].as_str().unwrap_or("query").to_string();
        let args = Map::from_iter([(param, Value::String(name.to_string()))]);
        let v = match self.call(&entry, args).await {
            Ok(v) => v,
            Err(err) => {
                return Found::None(format!("Searching for '{name}' failed: {}", crate::output::cut(&err, 160)));
            }
        };
        let Some((key, items)) = v.as_object().and_then(|o| o.iter().find_map(|(k, x)| Some((k, x.as_array()?))))
        else {
            return Found::Nothing;
        };
        let noun = crate::rank::tokens(key).concat();
        let word = super::answer::singular(&key.replace('_', " "));
        let things: Vec<Thing> = items
            .iter()
            .filter_map(|x| {
                let record = x.as_object()?.clone();
                Some(Thing { noun: noun.clone(), word: word.clone(), record, tool: entry.name.clone() })
            })
            .collect();
        let exact: Vec<&Thing> = things
            .iter()
            .filter(|t| {
                ["name", "title", "company"]
                    .iter()
                    .any(|k| t.record.get(*k).and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case(name)))
            })
            .collect();
        let pool: Vec<&Thing> = if exact.is_empty() { things.iter().collect() } else { exact };
        match pool.as_slice() {
            [] => Found::None(format!("No {word} matches '{name}' ({} found nothing).", entry.name)),
            [one] => Found::One((*one).clone()),
            many => {
                let labels = many
                    .iter()
                    .map(|t| {
                        let email = t.record.get("email").and_then(Value::as_str).map(|m| format!(", {m}"));
                        format!("{}{}", t.label(), email.unwrap_or_default())
                    })
                    .collect();
                Found::Several(word, labels)
            }
        }
    }

    /// Follows references from `thing` to what the question asks about (at most two hops), taking the nouns it
    /// followed out of the focus. A "who" question about a document leads to the party it references.
    pub(super) async fn follow(&mut self, mut thing: Thing, kind: Kind) -> Result<Thing, String> {
        for _ in 0..MAX_HOPS {
            let refs: Vec<(String, String)> = thing
                .record
                .iter()
                .filter_map(|(k, v)| Some((k.strip_suffix("_id")?.to_string(), v.as_str()?.to_string())))
                .collect();
            let asked = refs.iter().find(|(noun, _)| {
                let n = crate::rank::tokens(noun).concat();
                self.focus.iter().any(|w| like(w, &n))
            });
            let answered_here =
                self.focus.iter().any(|w| thing.record.keys().any(|k| like(w, &crate::rank::tokens(k).concat())));
            let who = (kind == Kind::Who && !thing.is_party() && !answered_here).then(|| refs.first()).flatten();
            let Some((noun, id)) = asked.or(who).cloned() else { break };
            let n = crate::rank::tokens(&noun).concat();
            self.focus.retain(|w| !like(w, &n));
            let (found, step) = self.fetch(&id).await;
            self.steps.extend(step);
            match found {
                Found::One(next) => thing = next,
                Found::None(why) => return Err(why),
                Found::Several(..) | Found::Nothing => break,
            }
        }
        Ok(thing)
    }
}
