//! What the model is offered, turn by turn (`[tools] mode`). "all": every tool (past OpenAI's cap of 128, the most
//! relevant to the question). Search mode — asked for, or "auto" past `search_above` tools: `hub__search_tools`, the
//! pinned tools, the `seed` best for the question (weak models often never search), and every tool found or called
//! since, for the rest of the conversation. New tools are appended in the order they came, so what the request
//! carries before them stays byte-identical (the provider's prompt cache holds). A system note lists each server and
//! what it covers, and says plainly that the list is partial.

use super::tools;
use crate::config::{Offering, ToolMode};
use crate::registry::{Index, Registry};
use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Value, json};
use std::sync::Mutex;

/// The search tool's name (the `hub__` prefix is never a server's: server names cannot hold `__`).
pub const SEARCH_TOOL: &str = "hub__search_tools";
/// What the catalog note starts with (how a conversation knows it has one).
const NOTE: &str = "Tool search is on:";

/// The tools offered so far in one conversation (a chat keeps them across its questions).
#[derive(Debug, Default)]
pub struct Loaded(Mutex<Vec<String>>);

/// One question's offer.
#[derive(Debug)]
pub struct Offer {
    pub searching: bool,
    /// Offered tools by index name, in the order they joined.
    names: Vec<String>,
    /// "all" past the cap: the tools left out.
    pub omitted: Vec<String>,
    /// Each search the model made: its query, server and what it found.
    pub searches: Vec<Value>,
    /// Per turn (search mode): the tools offered and what their definitions weigh in tokens.
    pub per_turn: Vec<(usize, usize)>,
}

impl Offer {
    pub fn new(index: &Index, cfg: &Offering, question: &str, loaded: Option<&Loaded>) -> Offer {
        let searching = match cfg.mode {
            ToolMode::All => false,
            ToolMode::Search => true,
            ToolMode::Auto => index.len() > cfg.search_above,
        };
        if !searching {
            let (kept, omitted) = tools::select(index, question);
            let names = kept.into_iter().map(|e| e.name).collect();
            return Offer { searching, names, omitted, searches: vec![], per_turn: vec![] };
        }
        let names = loaded.map(|l| lock(l).clone()).unwrap_or_default();
        let mut offer = Offer { searching, names, omitted: vec![], searches: vec![], per_turn: vec![] };
        if offer.names.is_empty() {
            let pinned = index.entries().iter().filter(|e| cfg.pin.iter().any(|p| crate::config::glob(p, &e.name)));
            offer.names.extend(pinned.map(|e| e.name.clone()));
        }
        let seeds: Vec<String> = match question.trim() {
            "" => vec![],
            q => index
                .searcher()
                .search(q, cfg.seed, |_| true)
                .iter()
                .map(|h| index.entries()[h.index].name.clone())
                .collect(),
        };
        offer.load(&seeds);
        offer
    }

    /// Offers `names` from now on (those not offered yet, in the order given).
    pub fn load(&mut self, names: &[String]) {
        for n in names {
            if !self.names.contains(n) {
                self.names.push(n.clone());
            }
        }
    }

    /// Keeps what was offered for the conversation's next question.
    pub fn keep(&self, loaded: &Loaded) {
        *lock(loaded) = self.names.clone();
    }

    pub fn offered(&self) -> &[String] {
        &self.names
    }

    /// The function tools of this turn: the search tool first (in search mode), then the offered tools that are
    /// still in the index.
    pub fn definitions(&self, index: &Index, strict: bool) -> Vec<ChatCompletionTools> {
        let search = self.searching.then(search_definition);
        search
            .into_iter()
            .chain(self.names.iter().filter_map(|n| Some(tools::function_tool(index.get(n)?, strict))))
            .collect()
    }

    /// Runs the model's `hub__search_tools` call: the answer for the model (the hits with their input schemas), and
    /// whether it was a search that could be made. The tools found are offered from the next turn on.
    pub fn search(&mut self, registry: &Registry, arguments: &str) -> (String, bool) {
        let args = match serde_json::from_str::<Value>(if arguments.trim().is_empty() { "{}" } else { arguments }) {
            Ok(Value::Object(args)) => args,
            _ => {
                return (
                    format!("Error: {SEARCH_TOOL} takes a JSON object: {{\"query\": \"what the tool should do\"}}"),
                    false,
                );
            }
        };
        let searched = crate::search::found::Ask::from_args(&args, 5, true)
            .and_then(|ask| Ok((ask.query, ask.server, crate::search::found::found(registry, &[], &ask, |_| true)?)));
        match searched {
            Err(why) => (format!("Error: {why}"), false),
            Ok((query, server, doc)) => {
                let found: Vec<String> = doc["hits"]
                    .as_array()
                    .map(|hits| hits.iter().filter_map(|h| h["name"].as_str().map(String::from)).collect())
                    .unwrap_or_default();
                self.load(&found);
                self.searches.push(json!({"query": query, "server": server, "found": found}));
                let note = if found.is_empty() {
                    "No tool matches; try other words, or another server."
                } else {
                    "These tools are offered from now on: call them by name."
                };
                (json!({"note": note, "hits": doc["hits"], "down": doc["down"]}).to_string(), true)
            }
        }
    }
}

impl Loaded {
    /// Forgets the conversation's tools (`/reset`).
    pub fn clear(&self) {
        lock(self).clear();
    }
}

fn lock(loaded: &Loaded) -> std::sync::MutexGuard<'_, Vec<String>> {
    loaded.0.lock().unwrap_or_else(|p| p.into_inner())
}

fn search_definition() -> ChatCompletionTools {
    let parameters = json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What the tool should do, in a few words, or its name"},
            "server": {"type": "string", "description": "Only this server's tools"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20, "description": "At most this many tools (default 5)"}
        },
        "required": ["query"]
    });
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: SEARCH_TOOL.into(),
            description: Some(
                "Find tools by what they do. Only some tools are offered; this finds the others (with their input \
                 schemas) and offers them from the next step on."
                    .into(),
            ),
            parameters: Some(parameters),
            strict: None,
        },
    })
}

/// The system note of search mode: that the list is partial, how to search, and each server with its tool count
/// and some of its tools — or None when `history` has it already (it is written once, to keep the prefix stable).
pub fn catalog_note(index: &Index, history: &[super::Message]) -> Option<String> {
    let has = history.iter().any(|m| {
        matches!(m, super::Message::System(s) if matches!(&s.content,
            async_openai::types::chat::ChatCompletionRequestSystemMessageContent::Text(t) if t.starts_with(NOTE)))
    });
    if has {
        return None;
    }
    let mut servers: Vec<(&str, Vec<&str>)> = vec![];
    for e in index.entries() {
        match servers.iter_mut().find(|(s, _)| *s == e.server) {
            Some((_, tools)) => tools.push(e.own_name()),
            None => servers.push((&e.server, vec![e.own_name()])),
        }
    }
    let lines: Vec<String> = servers
        .iter()
        .map(|(s, tools)| {
            let some: Vec<&str> = tools.iter().take(5).copied().collect();
            let more = if tools.len() > some.len() { ", …" } else { "" };
            let about = topics(s, tools);
            let about = if about.is_empty() { String::new() } else { format!(" about {}", about.join(", ")) };
            let n = tools.len();
            format!("- {s} ({n} tool{}{about}; e.g. {}{more})", if n == 1 { "" } else { "s" }, some.join(", "))
        })
        .collect();
    Some(format!(
        "{NOTE} only some of the {} tools are offered to you. When none of them fits, call {SEARCH_TOOL} with what \
         the tool should do; what it finds is offered from the next step on. The servers:\n{}",
        index.len(),
        lines.join("\n")
    ))
}

/// Words of tool names that say what they act on, not how.
const ACTIONS: &[&str] = &[
    "get", "list", "create", "update", "delete", "search", "add", "remove", "set", "run", "find", "read", "write",
    "move", "edit", "fetch", "check", "show", "new", "batch", "start", "stop", "close", "open", "take", "upload",
    "download", "retrieve", "post", "patch", "put", "all", "by", "to", "from", "of", "for", "and", "a", "the", "or",
    "with",
];

/// What a server's tools act on, most named first (at most 8): the words of their names (a word and its plural
/// once), less the actions, the server's own name and a prefix most of them start with (`browser_`, `jira_`).
fn topics(server: &str, tools: &[&str]) -> Vec<String> {
    use crate::rank::{stem, words};
    let firsts: Vec<String> = tools.iter().filter_map(|t| words(t).into_iter().next()).collect();
    let prefix = |w: &str| tools.len() >= 4 && firsts.iter().filter(|f| *f == w).count() * 2 >= tools.len();
    let mut counts: Vec<(String, String, usize)> = vec![];
    for name in tools {
        let mut seen = vec![];
        for w in words(name).into_iter().filter(|w| w.len() > 2 && !ACTIONS.contains(&w.as_str()) && !prefix(w)) {
            let key = stem(&w);
            if key == stem(server) || seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            match counts.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, shown, n)) => {
                    *n += 1;
                    if w.len() < shown.len() {
                        *shown = w;
                    }
                }
                None => counts.push((key, w, 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.2));
    counts.into_iter().take(8).map(|(_, w, _)| w).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn topics_are_what_the_tools_act_on() {
        let github = ["create_issue", "list_issues", "get_pull_request", "create_pull_request", "add_issue_comment"];
        assert_eq!(super::topics("github", &github), ["issue", "pull", "request", "comment"]);
        let browser = ["browser_click", "browser_close", "browser_drag", "browser_drop"];
        assert_eq!(super::topics("playwright", &browser), ["click", "drag", "drop"], "a shared prefix says nothing");
        assert_eq!(super::topics("tickets", &["get_ticket", "list_tickets"]), Vec::<String>::new());
    }
}
