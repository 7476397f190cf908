//! The REPL's slash commands: ONE table (name, arguments, help) that drives `/help`, tab completion and
//! validation (an unknown command gets the closest name) — and what each command does (`run`).

use super::view::View;
use crate::agent::{Agent, Message};
use crate::registry::Registry;
use crate::registry::index::distance;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Help,
    Tools,
    Servers,
    Reset,
    Model,
    History,
    Save,
    Verbose,
    Resources,
    Prompts,
    Prompt,
    Login,
    Exit,
}

pub struct Spec {
    pub cmd: Cmd,
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
    /// Whether the argument is required.
    pub needs_arg: bool,
}

pub const TABLE: [Spec; 13] = [
    Spec { cmd: Cmd::Help, name: "/help", args: "", help: "this list", needs_arg: false },
    Spec {
        cmd: Cmd::Tools,
        name: "/tools",
        args: "[query]",
        help: "the tool index, or the tools that do QUERY, best first",
        needs_arg: false,
    },
    Spec {
        cmd: Cmd::Servers,
        name: "/servers",
        args: "",
        help: "each server's state, pid, uptime, restarts, tools, last error",
        needs_arg: false,
    },
    Spec { cmd: Cmd::Reset, name: "/reset", args: "", help: "forget the conversation so far", needs_arg: false },
    Spec { cmd: Cmd::Model, name: "/model", args: "[name]", help: "show or change the model", needs_arg: false },
    Spec { cmd: Cmd::History, name: "/history", args: "", help: "the conversation so far", needs_arg: false },
    Spec { cmd: Cmd::Save, name: "/save", args: "FILE", help: "save the transcript as JSON", needs_arg: true },
    Spec {
        cmd: Cmd::Verbose,
        name: "/verbose",
        args: "",
        help: "toggle showing tool arguments and logs",
        needs_arg: false,
    },
    Spec {
        cmd: Cmd::Resources,
        name: "/resources",
        args: "",
        help: "the servers' resources and templates (attach one with @server:uri)",
        needs_arg: false,
    },
    Spec { cmd: Cmd::Prompts, name: "/prompts", args: "", help: "the servers' prompts", needs_arg: false },
    Spec {
        cmd: Cmd::Prompt,
        name: "/prompt",
        args: "NAME [ARGS]",
        help: "run a server's prompt as the next turn (ARGS: key=value … or a JSON object)",
        needs_arg: true,
    },
    Spec {
        cmd: Cmd::Login,
        name: "/login",
        args: "SERVER [SCOPE…]",
        help: "log in to an OAuth server that needs it (see /servers), asking for SCOPEs if given",
        needs_arg: true,
    },
    Spec { cmd: Cmd::Exit, name: "/exit", args: "", help: "leave (Ctrl-D works too)", needs_arg: false },
];

/// The `/help` text, from the table.
pub fn help() -> String {
    let mut out = String::from("Commands:\n");
    for s in &TABLE {
        out.push_str(&format!("  {:<18} {}\n", format!("{} {}", s.name, s.args).trim_end(), s.help));
    }
    out.push_str("End a line with \\ to continue it on the next line. Ctrl-C cancels a running turn or command.\n");
    out
}

/// Parses a `/command [arg]` line: the command and its argument, or a message for the user.
pub fn parse(line: &str) -> Result<(Cmd, Option<String>), String> {
    let mut parts = line.trim().splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or("");
    let arg = parts.next().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
    match TABLE.iter().find(|s| s.name == name) {
        Some(s) if s.needs_arg && arg.is_none() => Err(format!("usage: {} {}", s.name, s.args)),
        Some(s) => Ok((s.cmd, arg)),
        None => {
            let closest = TABLE.iter().min_by_key(|s| distance(name, s.name)).map(|s| s.name).unwrap_or("/help");
            Err(format!("unknown command {name}; did you mean {closest}? (/help lists them)"))
        }
    }
}

/// rustyline helper: completes slash commands from the table, and `@server:uri` mentions from `mentions` (the
/// resources, and the templates' fixed prefixes, as last listed).
pub struct Completion {
    pub mentions: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Completer for Completion {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let word = &line[..pos];
        let start = word.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        if word[start..].starts_with('@') {
            let partial = &word[start..];
            let mentions = self.mentions.lock().unwrap_or_else(|p| p.into_inner());
            let matches = mentions.iter().filter(|m| m.starts_with(partial));
            let pairs = matches.map(|m| Pair { display: m.clone(), replacement: m.clone() }).collect();
            return Ok((start, pairs));
        }
        if !word.starts_with('/') || word.contains(' ') {
            return Ok((0, vec![]));
        }
        let matches = TABLE
            .iter()
            .filter(|s| s.name.starts_with(word))
            .map(|s| Pair { display: format!("{} {}", s.name, s.args), replacement: s.name.to_string() })
            .collect();
        Ok((0, matches))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// Carries out one slash command other than /exit and /prompt.
pub async fn run(
    cmd: Cmd,
    arg: Option<String>,
    registry: &Registry,
    agent: &mut Agent,
    history: &mut Vec<Message>,
    view: &View,
) {
    match cmd {
        Cmd::Help => print!("{}", help()),
        Cmd::Tools => {
            let index = registry.index();
            let row =
                |e: &crate::registry::Entry| vec![e.name.clone(), e.kind().to_string(), e.description().to_string()];
            let rows: Vec<Vec<String>> = match arg.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                None => index.entries().iter().map(row).collect(),
                Some(q) => {
                    index.searcher().search(q, 20, |_| true).iter().map(|h| row(&index.entries()[h.index])).collect()
                }
            };
            print!("{}", crate::output::table(&["NAME", "KIND", "DESCRIPTION"], &rows, 70));
        }
        Cmd::Servers => print!("{}", crate::output::status_table(&registry.status(true).await)),
        Cmd::Reset => {
            history.truncate(1);
            if let Some(loaded) = &agent.loaded {
                loaded.clear();
            }
            println!("(conversation cleared)");
        }
        Cmd::Model => match arg {
            Some(m) => {
                agent.llm.model = m.clone();
                println!("(model: {m})");
            }
            None => println!("model: {}", agent.llm.model),
        },
        Cmd::History => {
            for m in history.iter().skip(1) {
                let v = serde_json::to_value(m).unwrap_or_default();
                let role = v["role"].as_str().unwrap_or("?");
                let text = v["content"].as_str().map(str::to_string).unwrap_or_else(|| {
                    let calls: Vec<&str> = v["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["function"]["name"].as_str())
                        .collect();
                    format!("(calls {})", calls.join(", "))
                });
                println!("{role:>9}: {}", crate::output::cut(&text, 160));
            }
        }
        Cmd::Save => {
            let path = arg.unwrap_or_default();
            let doc = serde_json::json!({"version": 1, "model": agent.llm.model, "messages": history});
            match std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
                Ok(()) => println!("(saved {} messages to {path})", history.len()),
                Err(e) => eprintln!("cannot write {path}: {e}"),
            }
        }
        Cmd::Verbose => {
            let now = !view.verbose.load(Ordering::Relaxed);
            view.verbose.store(now, Ordering::Relaxed);
            println!("(verbose {})", if now { "on" } else { "off" });
        }
        Cmd::Resources => {
            let _ = crate::catalog::resources(registry.clone(), false).await;
        }
        Cmd::Prompts => {
            let _ = crate::catalog::prompts(registry.clone(), false).await;
        }
        Cmd::Login => super::offers::login(registry, &arg.unwrap_or_default()).await,
        Cmd::Exit | Cmd::Prompt => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_validates_against_the_table() {
        assert_eq!(parse("/tools crm").unwrap(), (Cmd::Tools, Some("crm".into())));
        assert_eq!(parse("/reset").unwrap(), (Cmd::Reset, None));
        assert!(parse("/save").unwrap_err().contains("usage: /save FILE"));
        assert!(parse("/tols").unwrap_err().contains("did you mean /tools"));
        assert!(help().contains("/history") && help().lines().count() == TABLE.len() + 2);
    }
}
