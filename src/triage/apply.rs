//! `hub triage --from TOOL --apply` (or `--dry-run`): a built-in decision made tool calls on the server the items
//! came from — an internal comment (a write tool taking the item's id and a `body`/`text`/`comment`) with the
//! decision, the customer's context, the next action and the duplicate, then the item's priority set and its
//! duplicate linked (a write tool taking the item's id and `priority`, and `duplicate_of` if it has one) where they
//! differ — each through the triage policy (the server's `triage_allow`), each recorded in the item's line.
//! Idempotent: the comment ends with a marker naming the item, the priority decided, a key of the decision and the
//! duplicate; the item's record is read first (its getter), and an item that already carries hub's marker is not
//! decided again — only what its marker names is completed if a crash came between the calls — on a rerun, a resume
//! after a crash, or into another output file.
//!
//! Owns: which calls a decision makes, and the marker. Not: the decision (see `classify`).

use super::input::Item;
use crate::agent::policy::{Mode, Policy};
use crate::registry::{Entry, Registry};
use serde_json::{Map, Value, json};

const MARKER: &str = "[hub-triage ";

/// The tools that apply decisions on one server.
pub struct Tools {
    getter: Option<Entry>,
    setter: Option<Entry>,
    commenter: Option<Entry>,
}

fn props(e: &Entry) -> Vec<String> {
    e.tool.input_schema.get("properties").and_then(Value::as_object).map_or(vec![], |p| p.keys().cloned().collect())
}

/// The parameter that takes the item's id: `id`, else the one `<noun>_id` (`ticket_id`).
fn id_param(e: &Entry) -> Option<String> {
    let p = props(e);
    let ids: Vec<&String> = p.iter().filter(|k| k.ends_with("_id")).collect();
    p.iter().find(|k| *k == "id").or(ids.first().filter(|_| ids.len() == 1).copied()).cloned()
}

impl Tools {
    /// The tools of `server`: a read-only getter taking only the id, an update/set tool taking the id and `priority`,
    /// a comment/note tool taking the id and a text.
    pub fn of(registry: &Registry, server: &str) -> Tools {
        let index = registry.index();
        let on: Vec<&Entry> = index.entries().iter().filter(|e| e.server == server).collect();
        let find = |f: &dyn Fn(&Entry) -> bool| on.iter().find(|e| id_param(e).is_some() && f(e)).map(|e| (*e).clone());
        let required = |e: &Entry| e.tool.input_schema.get("required").and_then(Value::as_array).map_or(0, Vec::len);
        let verb = |e: &Entry, verbs: &[&str]| verbs.iter().any(|v| e.own_name().split('_').any(|w| w == *v));
        Tools {
            getter: find(&|e| e.read_only() && required(e) <= 1 && props(e).len() == 1),
            setter: find(&|e| {
                !e.read_only()
                    && verb(e, &["update", "set", "edit", "change"])
                    && props(e).iter().any(|k| k == "priority")
            }),
            commenter: find(&|e| {
                !e.read_only()
                    && verb(e, &["comment", "note", "reply"])
                    && props(e).iter().any(|k| ["body", "text", "comment"].contains(&k.as_str()))
            }),
        }
    }
}

/// FNV-1a: a short, stable key for a decision (the same on every machine and build).
fn key(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:08x}", h >> 32)
}

/// The setter's parameter that links a duplicate, if it has one.
fn link_param(e: &Entry) -> Option<String> {
    props(e).into_iter().find(|k| k == "duplicate_of")
}

/// The comment's text, ending with the marker.
fn comment(item: &Item, d: &Value) -> String {
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    let mut text = format!("Triage: {} / {} ({}). {}", s("category"), s("priority"), s("sentiment"), s("summary"));
    text.push_str(&format!(" Next: {}", s("next_action")));
    if let Some(dup) = d["duplicate_of"].as_str() {
        text.push_str(&format!(" Duplicate of {dup}."));
    }
    let decided = format!("{}|{}|{}|{}", item.id, s("category"), s("priority"), d["duplicate_of"]);
    let dup = d["duplicate_of"].as_str().map(|d| format!(" duplicate-of {d}")).unwrap_or_default();
    format!("{text} {MARKER}{} {} {}{dup}]", item.id, s("priority"), key(&decided))
}

/// Applies (or, `dry`, only lists) the calls of one decision; the records of what was done, and whether a call was
/// refused by the policy. The comment goes first: once it is there the decision is on record, and a later run only
/// completes what it says (the priority), whatever it would decide itself.
pub async fn apply(registry: &Registry, tools: &Tools, item: &Item, d: &Value, dry: bool) -> (Vec<Value>, bool) {
    let mut out = Vec::new();
    let mut current = item.context.get("priority").cloned();
    let mut priority = d["priority"].clone();
    let mut duplicate = d["duplicate_of"].as_str().map(String::from);
    let mut linked: Option<String> = None;
    let mut commented = false;
    if let Some(g) = &tools.getter {
        let mut args = Map::new();
        args.insert(id_param(g).unwrap_or_default(), item.id.clone().into());
        if let Ok(called) = registry.call(&g.name, Some(args)).await {
            let record = crate::output::result_value(&called.result);
            let noun = super::classify::noun(&g.name);
            let own = record.get(&noun).unwrap_or(&record);
            current = own.get("priority").cloned().or(current);
            linked = own.get("duplicate_of").and_then(Value::as_str).map(String::from);
            let text = record.to_string();
            let mark = format!("{MARKER}{} ", item.id);
            if let Some(at) = text.find(&mark) {
                // Decided before: the priority and the duplicate it named stand.
                let rest = &text[at + mark.len()..];
                let said: Vec<&str> = rest[..rest.find(']').unwrap_or(rest.len())].split_whitespace().collect();
                let clean = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
                priority = Value::from(clean(said.first().copied().unwrap_or_default()));
                duplicate =
                    said.iter().position(|w| *w == "duplicate-of").and_then(|i| said.get(i + 1)).map(|w| clean(w));
                commented = true;
                out.push(json!({"skipped": format!("{} already carries hub's triage of it; completed, not redone", item.id)}));
            }
        }
    }
    let mut calls: Vec<(&Entry, Map<String, Value>)> = Vec::new();
    if let Some(c) = tools.commenter.as_ref().filter(|_| !commented) {
        let field =
            props(c).into_iter().find(|k| ["body", "text", "comment"].contains(&k.as_str())).unwrap_or_default();
        let mut args = Map::new();
        args.insert(id_param(c).unwrap_or_default(), item.id.clone().into());
        args.insert(field, comment(item, d).into());
        if props(c).iter().any(|k| k == "author") {
            args.insert("author".into(), "hub-triage".into());
        }
        calls.push((c, args));
    }
    if let Some(set) = &tools.setter {
        let mut args = Map::new();
        if current.as_ref() != Some(&priority) {
            args.insert("priority".into(), priority);
        }
        if let (Some(param), Some(dup)) = (link_param(set), duplicate.filter(|d| linked.as_ref() != Some(d))) {
            args.insert(param, dup.into());
        }
        if !args.is_empty() {
            args.insert(id_param(set).unwrap_or_default(), item.id.clone().into());
            calls.push((set, args));
        }
    }
    if calls.is_empty() && !commented {
        out.push(json!({"skipped": "no tool on the server sets a priority, links a duplicate or adds a comment"}));
    }
    let policy = Policy::new(Mode::Triage, false);
    let mut denied = false;
    for (entry, args) in calls {
        let mut rec = json!({"tool": entry.name, "arguments": args});
        if dry {
            rec["dry_run"] = true.into();
        } else if let Err(why) = policy.check(registry, entry, &Value::Object(args.clone())).await {
            (rec["denied"], rec["error"], denied) = (true.into(), why.into(), true);
        } else {
            match registry.call(&entry.name, Some(args)).await {
                Ok(c) if c.result.is_error != Some(true) => {
                    rec["ok"] = true.into();
                    rec["result"] = crate::output::result_value(&c.result);
                }
                Ok(c) => (rec["ok"], rec["error"]) = (false.into(), crate::output::result_text(&c.result).into()),
                Err(e) => (rec["ok"], rec["error"]) = (false.into(), e.to_string().into()),
            }
        }
        out.push(rec);
    }
    (out, denied)
}
