//! What a tool search answers — one document for `hub tools search --json`, REST `GET /tools/search` and the agent's
//! `hub__search_tools` — and the checks on what was asked: an empty or over-long query, a limit out of range, a server
//! that does not exist. A server that is down is named with its reason (its tools cannot be searched while it is
//! down), never passed over in silence.

use crate::output::cut;
use crate::registry::{Entry, Phase, Registry, Status};
use serde_json::{Value, json};

/// The longest query taken, in characters.
pub const MAX_QUERY: usize = 1000;
/// The most hits one search returns.
pub const MAX_LIMIT: usize = 100;
/// The hits returned when no limit is given.
pub const DEFAULT_LIMIT: usize = 10;
/// A hit's description is cut to this many characters (the full one is in the tool's definition).
const DESCRIPTION: usize = 160;

/// A search as asked.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub query: &'a str,
    pub server: Option<&'a str>,
    pub limit: usize,
    /// Each hit carries the tool's full input schema (the agent's search tool; the others list).
    pub schemas: bool,
}

impl<'a> Ask<'a> {
    /// A search asked as a tool's arguments (`{"query", "server"?, "limit"?}`: the agent's `hub__search_tools`, the
    /// search profile's `search_tools`); a missing query is the empty one `found` refuses with its reason.
    pub fn from_args(args: &'a serde_json::Map<String, Value>, limit: usize, schemas: bool) -> Result<Ask<'a>, String> {
        let limit = match args.get("limit") {
            None | Some(Value::Null) => limit,
            Some(v) => {
                v.as_u64().map(|l| l as usize).ok_or_else(|| format!("limit must be a whole number, got {v}"))?
            }
        };
        let query = args.get("query").and_then(Value::as_str).unwrap_or_default();
        let server = args.get("server").and_then(Value::as_str).filter(|s| !s.is_empty());
        Ok(Ask { query, server, limit, schemas })
    }
}

/// The search's answer, or why it cannot be made (a message for the user: a usage error). `behind`: the servers
/// of the hub this one is attached to (`attach::behind`; empty when not attached).
pub fn found(
    registry: &Registry,
    behind: &[Status],
    ask: &Ask,
    allowed: impl Fn(&Entry) -> bool,
) -> Result<Value, String> {
    let query = ask.query.trim();
    if query.is_empty() {
        return Err("the search query is empty: say what the tool should do, e.g. \"create an issue\"".into());
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY {
        return Err(format!("the search query is {chars} characters long; at most {MAX_QUERY} are taken"));
    }
    if ask.limit == 0 || ask.limit > MAX_LIMIT {
        return Err(format!("limit must be between 1 and {MAX_LIMIT}, got {}", ask.limit));
    }
    let servers = registry.servers();
    let local = servers.iter().filter(|s| !s.cfg.flatten);
    let index = registry.index();
    let entries = index.entries();
    if let Some(name) = ask.server
        && !local.clone().any(|s| s.cfg.name == name)
        && !behind.iter().any(|s| s.name == name)
        && !entries.iter().any(|e| e.server == name)
    {
        return Err(format!("no server named '{name}' (`hub status` lists the servers)"));
    }
    let keep = |i: usize| ask.server.is_none_or(|s| entries[i].server == s) && allowed(&entries[i]);
    let hits: Vec<Value> = index
        .searcher()
        .search(query, ask.limit, keep)
        .into_iter()
        .map(|h| {
            let e = &entries[h.index];
            let mut hit = json!({
                "name": e.name, "server": e.server, "kind": e.kind(), "description": cut(e.description(), DESCRIPTION),
                "score": (h.score * 1000.0).round() / 1000.0, "named": h.named,
            });
            if ask.schemas {
                hit["input_schema"] = Value::Object((*e.tool.input_schema).clone());
            }
            hit
        })
        .collect();
    let asked = |name: &str| ask.server.is_none_or(|n| n == name);
    let down: Vec<Value> = local
        .filter(|s| s.cfg.enabled && asked(&s.cfg.name) && s.phase() != Phase::Up)
        .map(|s| json!({"server": s.cfg.name, "state": s.phase(), "reason": s.down_reason()}))
        .chain(
            behind
                .iter()
                .filter(|s| asked(&s.name) && !matches!(s.state, Phase::Up | Phase::Disabled))
                .map(|s| json!({"server": s.name, "state": s.state, "reason": s.last_error})),
        )
        .collect();
    Ok(json!({"query": query, "count": hits.len(), "hits": hits, "down": down}))
}

/// The lines that tell a person which servers' tools were not searched (from `found`'s "down").
pub fn down_lines(doc: &Value) -> Vec<String> {
    let down = doc["down"].as_array().map(Vec::as_slice).unwrap_or_default();
    down.iter()
        .map(|d| {
            let reason = d["reason"].as_str().unwrap_or("no reason given");
            format!(
                "server '{}' is {}: its tools were not searched ({reason})",
                d["server"].as_str().unwrap_or("?"),
                d["state"].as_str().unwrap_or("down").replace('_', " ")
            )
        })
        .collect()
}
