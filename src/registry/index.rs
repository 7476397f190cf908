//! The merged tool index: every permitted tool of every server under one OpenAI-valid name
//! (`<server>__<tool>`, `^[a-zA-Z0-9_-]{1,64}$`). Names are deterministic (servers and tools sorted); names
//! that would be too long are cut and given a stable hash suffix; two tools that still collide both stay,
//! the later one disambiguated, and the collision is reported with both origins. Lookup accepts the index
//! name or `server.tool`; unknown names get the closest suggestions.

use super::transform::Plan;
use rmcp::model::Tool;
use std::collections::HashMap;
use std::sync::Arc;

pub const MAX_NAME: usize = 64;

#[derive(Debug, Clone)]
pub struct Entry {
    /// The index name the model and the user see.
    pub name: String,
    pub server: String,
    /// The tool as callers see it: as the server gave it (its own name, schemas, annotations), or as the server's
    /// transforms show it.
    pub tool: Tool,
    /// What a call needs when transforms apply (the server's own name for it, arguments, result rewriting).
    pub plan: Option<Arc<Plan>>,
    /// Set when the tool is reached through another hub (`attach`): `server` is the server behind that hub.
    pub via: Option<Arc<Via>>,
}

/// How a tool listed by another hub is reached: the connection to that hub, and the tool's own name on its server.
#[derive(Debug)]
pub struct Via {
    /// The local server (the connection to the hub) calls go to.
    pub route: String,
    /// The tool's name on the server behind the hub (what policies such as `triage_allow` match).
    pub own: String,
}

impl Entry {
    /// The name a call sends: the tool's name on its server, or the other hub's name for it.
    pub fn upstream(&self) -> &str {
        self.plan.as_ref().map_or(&self.tool.name, |p| &p.upstream)
    }
    /// The local server a call goes to.
    pub fn route(&self) -> &str {
        self.via.as_ref().map_or(&self.server, |v| &v.route)
    }
    /// The tool's name on the server that runs it.
    pub fn own_name(&self) -> &str {
        self.via.as_ref().map_or_else(|| self.upstream(), |v| &v.own)
    }
    pub fn read_only(&self) -> bool {
        self.tool.annotations.as_ref().and_then(|a| a.read_only_hint).unwrap_or(false)
    }
    /// Calling it again with the same arguments has no further effect (its `idempotentHint`).
    pub fn idempotent(&self) -> bool {
        self.tool.annotations.as_ref().and_then(|a| a.idempotent_hint).unwrap_or(false)
    }
    /// MCP's default for a tool that is not read-only is "may be destructive".
    pub fn destructive(&self) -> bool {
        !self.read_only() && self.tool.annotations.as_ref().and_then(|a| a.destructive_hint).unwrap_or(true)
    }
    pub fn kind(&self) -> &'static str {
        match (self.read_only(), self.destructive()) {
            (true, _) => "read-only",
            (false, true) => "destructive",
            (false, false) => "write",
        }
    }
    pub fn description(&self) -> &str {
        self.tool.description.as_deref().unwrap_or("")
    }
}

/// One tool as a server offers it to the index: as shown, with its call plan when transforms apply.
pub type Offered = (Tool, Option<Arc<Plan>>);

#[derive(Debug, Default, Clone)]
pub struct Index {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    by_origin: HashMap<(String, String), usize>,
    /// Human-readable reports of names that collided (both origins named).
    pub collisions: Vec<String>,
    /// The ranked search over these entries, built on first use.
    searcher: std::sync::OnceLock<Arc<crate::search::Searcher>>,
}

/// FNV-1a, for short stable suffixes (not for security).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `server__tool` made valid: other characters become `_`, over-long names are cut with a hash suffix.
pub fn sanitize(server: &str, tool: &str) -> String {
    let raw = format!("{server}__{tool}");
    let clean: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if clean.len() <= MAX_NAME && clean != format!("{server}__") {
        return clean;
    }
    let suffix = format!("_{:08x}", fnv(&raw) as u32);
    let keep = if clean.len() > MAX_NAME { MAX_NAME - suffix.len() } else { clean.len() };
    format!("{}{suffix}", &clean[..keep])
}

impl Index {
    /// Tool search over this snapshot (built once, on the first search).
    pub fn searcher(&self) -> &crate::search::Searcher {
        self.searcher.get_or_init(|| Arc::new(crate::search::Searcher::new(&self.entries)))
    }

    /// Builds the index from `(server, tools)` pairs; callers pass only permitted tools, as they are shown, each
    /// with its call plan when transforms apply.
    pub fn build(servers: Vec<(String, Vec<Offered>)>) -> Index {
        let mut idx = Index::default();
        let mut servers = servers;
        servers.sort_by(|a, b| a.0.cmp(&b.0));
        for (server, mut tools) in servers {
            tools.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            for (tool, plan) in tools {
                let origin = (server.clone(), tool.name.to_string());
                if idx.by_origin.contains_key(&origin) {
                    idx.collisions
                        .push(format!("server '{server}' lists tool '{}' twice; the first is used", tool.name));
                    continue;
                }
                let mut name = sanitize(&server, &tool.name);
                if let Some(&other) = idx.by_name.get(&name) {
                    let first = &idx.entries[other];
                    let salt = format!("{}.{}", server, tool.name);
                    let suffix = format!("_{:08x}", fnv(&salt) as u32);
                    let keep = name.len().min(MAX_NAME - suffix.len());
                    let renamed = format!("{}{suffix}", &name[..keep]);
                    idx.collisions.push(format!(
                        "'{}.{}' and '{}.{}' both map to '{name}'; the second is exposed as '{renamed}'",
                        first.server, first.tool.name, server, tool.name
                    ));
                    name = renamed;
                }
                let i = idx.entries.len();
                idx.by_name.insert(name.clone(), i);
                idx.by_origin.insert(origin, i);
                idx.entries.push(Entry { name, server: server.clone(), tool, plan, via: None });
            }
        }
        idx
    }

    /// Adds the tools another hub lists through the local server `route`, under the names that hub gives them
    /// (already `server__tool`); the server behind each is its `_meta["hub/server"]`, else the name's prefix.
    pub fn add_flat(&mut self, route: &str, tools: Vec<Tool>) {
        self.searcher = std::sync::OnceLock::new();
        for tool in tools {
            let name = tool.name.to_string();
            let meta = tool.meta.as_ref().and_then(|m| m.get("hub/server")).and_then(|v| v.as_str());
            let (server, own) = match (meta, name.split_once("__")) {
                (Some(s), Some((_, own))) => (s.to_string(), own.to_string()),
                (Some(s), None) => (s.to_string(), name.clone()),
                (None, Some((s, own))) => (s.to_string(), own.to_string()),
                (None, None) => (route.to_string(), name.clone()),
            };
            let valid =
                name.len() <= MAX_NAME && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if self.by_name.contains_key(&name) || name.is_empty() || !valid {
                self.collisions.push(format!("'{name}' from {route} is left out: the name is taken or not valid"));
                continue;
            }
            let via = Some(Arc::new(Via { route: route.to_string(), own: own.clone() }));
            let i = self.entries.len();
            self.by_name.insert(name.clone(), i);
            self.by_origin.insert((server.clone(), own), i);
            self.entries.push(Entry { name, server, tool, plan: None, via });
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for an index name or `server.tool`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(&self.entries[i]);
        }
        let (server, tool) = name.split_once('.')?;
        self.by_origin.get(&(server.to_string(), tool.to_string())).map(|&i| &self.entries[i])
    }

    /// Up to three names closest to `name` (edit distance, or containing it).
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let wanted = name.replace('.', "__").to_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .entries
            .iter()
            .map(|e| {
                let d = distance(&wanted, &e.name.to_lowercase());
                let d =
                    if e.name.to_lowercase().contains(&wanted) || e.tool.name.to_lowercase() == wanted { 0 } else { d };
                (d, e.name.as_str())
            })
            .filter(|(d, n)| *d <= (n.len() / 3).max(3))
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, n)| n.to_string()).collect()
    }
}

/// Levenshtein distance (also used by the REPL for unknown commands).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Offered {
        (Tool::new(name.to_string(), "d", Arc::new(serde_json::Map::new())), None)
    }

    pub fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_valid_unique_and_stable() {
        let long = "x".repeat(100);
        let servers = vec![
            ("b".to_string(), vec![tool("get"), tool("a.b"), tool("a_b"), tool(&long), tool("")]),
            ("a".to_string(), vec![tool("get"), tool("héllo wörld")]),
        ];
        let idx = Index::build(servers.clone());
        let names: Vec<_> = idx.entries().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names.len(), 7);
        assert!(names.iter().all(|n| valid(n)), "{names:?}");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 7);
        assert_eq!(names[0], "a__get");
        assert_eq!(idx.collisions.len(), 1, "{:?}", idx.collisions);
        assert!(idx.collisions[0].contains("b.a.b") && idx.collisions[0].contains("b.a_b"));
        assert_eq!(Index::build(servers).entries().iter().map(|e| e.name.clone()).collect::<Vec<_>>(), names);
        assert_eq!(idx.get("b.get").unwrap().name, "b__get");
        assert_eq!(idx.get("a__get").unwrap().server, "a");
        assert_eq!(idx.suggest("a__gte")[0], "a__get");
        assert!(idx.suggest("zzzzzzzz").is_empty());
    }
}
