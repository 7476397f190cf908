//! `hub chat`: the interactive REPL. Line editing (rustyline, on its own thread, lines passed over a channel)
//! with persistent history, multi-line input, slash commands from one table, memory across turns within a
//! context budget, Ctrl-C that cancels only the running turn, and an approval prompt for write tools. The
//! servers' resources attach to a message with `@server:uri` (Tab completes them) and their prompts run as a turn
//! with `/prompt`; what a server asks of the person (sampling, a form) is asked here (`person`), and progress
//! shows in the spinner. With stdin not a terminal it reads one message per line and prints only the answers,
//! so it can be scripted.

mod commands;
mod offers;
mod person;
mod view;

use crate::agent::{self, Agent, Message, Status, policy};
use crate::config::Config;
use crate::exit::{self, Failure};
use crate::llm::Llm;
use crate::registry::{Entry, Registry};
use crate::shutdown::Shutdown;
use commands::Cmd;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

pub struct ChatArgs {
    pub verbose: bool,
    pub yes: bool,
}

enum Input {
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupt,
    Eof,
}

struct Ask {
    prompt: String,
    /// Keep the answer in the history file (messages yes, approval answers no).
    remember: bool,
    reply: oneshot::Sender<Input>,
}

/// `$XDG_STATE_HOME/hub`, else `~/.local/state/hub`.
pub fn state_dir() -> PathBuf {
    hub_servers::store::xdg_dir("XDG_STATE_HOME", ".local/state").join("hub")
}

/// The line reader: rustyline on a terminal (history, completion, `\` continuation), plain lines otherwise.
fn reader(tty: bool, mentions: Arc<Mutex<Vec<String>>>) -> mpsc::UnboundedSender<Ask> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ask>();
    std::thread::spawn(move || {
        if !tty {
            let mut lines = std::io::stdin().lock().lines();
            while let Some(ask) = rx.blocking_recv() {
                let input = match lines.next() {
                    Some(Ok(l)) => Input::Line(l),
                    _ => Input::Eof,
                };
                let _ = ask.reply.send(input);
            }
            return;
        }
        let history = state_dir().join("history");
        let mut editor = match rustyline::Editor::<commands::Completion, rustyline::history::DefaultHistory>::new() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("hub chat: cannot start the line editor: {e}");
                return;
            }
        };
        editor.set_helper(Some(commands::Completion { mentions }));
        let _ = editor.load_history(&history);
        while let Some(ask) = rx.blocking_recv() {
            let mut text = String::new();
            let mut prompt = ask.prompt.clone();
            let input = loop {
                match editor.readline(&prompt) {
                    Ok(l) => match l.strip_suffix('\\') {
                        Some(head) => {
                            text.push_str(head);
                            text.push('\n');
                            prompt = "... ".into();
                        }
                        None => {
                            text.push_str(&l);
                            break Input::Line(text);
                        }
                    },
                    Err(rustyline::error::ReadlineError::Interrupted) => break Input::Interrupt,
                    Err(_) => break Input::Eof,
                }
            };
            if let (Input::Line(l), true) = (&input, ask.remember)
                && !l.trim().is_empty()
            {
                let _ = editor.add_history_entry(l.as_str());
                let _ = std::fs::create_dir_all(state_dir());
                let _ = editor.save_history(&history);
            }
            let _ = ask.reply.send(input);
        }
    });
    tx
}

async fn ask(lines: &mpsc::UnboundedSender<Ask>, prompt: &str, remember: bool) -> Input {
    let (reply, rx) = oneshot::channel();
    if lines.send(Ask { prompt: prompt.to_string(), remember, reply }).is_err() {
        return Input::Eof;
    }
    rx.await.unwrap_or(Input::Eof)
}

/// Approval prompt for write tools: y, n, or a (always, for this tool, this session).
struct Prompter {
    lines: mpsc::UnboundedSender<Ask>,
    view: Arc<view::View>,
    always: Mutex<HashSet<String>>,
}

impl policy::Approver for Prompter {
    fn approve<'a>(&'a self, entry: &'a Entry, arguments: &'a Value) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            if self.always.lock().unwrap_or_else(|p| p.into_inner()).contains(&entry.name) {
                return true;
            }
            self.view.clear();
            let q = format!(
                "Allow {} on server '{}' ({}) with {}? [y]es / [n]o / [a]lways: ",
                entry.tool.name,
                entry.server,
                entry.kind(),
                crate::output::cut(&arguments.to_string(), 300)
            );
            if !self.view.decorate {
                eprint!("{q}");
            }
            match ask(&self.lines, &q, false).await {
                Input::Line(a) if a.trim().eq_ignore_ascii_case("a") || a.trim().eq_ignore_ascii_case("always") => {
                    self.always.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.name.clone());
                    true
                }
                Input::Line(a) => matches!(a.trim().to_lowercase().as_str(), "y" | "yes"),
                _ => false,
            }
        })
    }
}

/// Drops the oldest turns until the conversation fits `budget` bytes; returns how many messages went.
fn trim(history: &mut Vec<Message>, budget: usize) -> usize {
    let size = |h: &[Message]| serde_json::to_vec(h).map_or(0, |v| v.len());
    let mut dropped = 0;
    while size(history) > budget {
        // The oldest turn: from the first user message up to (not including) the next one.
        let users: Vec<usize> =
            history.iter().enumerate().filter(|(_, m)| matches!(m, Message::User(_))).map(|(i, _)| i).collect();
        if users.len() < 2 {
            break;
        }
        history.drain(users[0]..users[1]);
        dropped += users[1] - users[0];
    }
    dropped
}

/// The REPL until Ctrl-D, `/exit` or `shutdown` (SIGTERM; or SIGINT while waiting for a line from a pipe).
/// SIGINT during a turn cancels only that turn. Either way it returns, and the frame stops the servers.
pub async fn run(config: &Config, registry: Registry, a: ChatArgs, mut shutdown: Shutdown) -> exit::Result<u8> {
    let tty = std::io::stdin().is_terminal();
    let cfg = config.model.clone();
    let offline = cfg.offline;
    let mentions = Arc::new(Mutex::new(offers::mention_candidates(&registry)));
    let lines = reader(tty, mentions.clone());
    let view = Arc::new(view::View::new(tty, a.verbose));
    let person = person::Person {
        lines: lines.clone(),
        view: view.clone(),
        sampler: crate::sampling::Sampler::new(config),
        always: Mutex::default(),
    };
    let person = Arc::new(person);
    registry.set_origin(person.clone());
    show_progress(&registry, &view);
    let (mut registry, mut own) = (registry, None::<Registry>);
    let mut agent = Agent {
        registry: registry.clone(),
        llm: Llm::new(&cfg).map_err(|e| Failure::runtime(e.to_string()))?,
        policy: policy::Policy::new(policy::Mode::Chat, a.yes),
        observer: view.clone(),
        stream: tty,
        response_format: None,
        cfg: cfg.clone(),
        loaded: Some(Default::default()),
    };
    agent.policy.approver =
        Some(Box::new(Prompter { lines: lines.clone(), view: view.clone(), always: Mutex::default() }));
    let mut history = vec![agent::system_message(&cfg)];
    if tty {
        let up = registry.servers().iter().filter(|s| s.phase() == crate::registry::Phase::Up).count();
        let who = if offline { "the offline planner".to_string() } else { format!("model {}", cfg.name) };
        println!(
            "hub chat — {up} servers, {} tools, {who}. /help for commands, Ctrl-D to leave.",
            registry.index().len()
        );
    }
    let (mut ended, stop) = (Ok(exit::OK), shutdown.token());
    let mut told = std::collections::HashSet::new();
    loop {
        view::tell_logins(&registry, &mut told);
        let input = tokio::select! {
            i = ask(&lines, "hub> ", true) => i,
            _ = stop.cancelled() => { ended = Err(crate::frame::interrupted()); break }
            _ = shutdown.interrupt() => { ended = Err(crate::frame::interrupted()); break }
        };
        let line = match input {
            Input::Eof => break,
            Input::Interrupt => continue,
            Input::Line(l) => l,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(fresh) = fall_back(config, &registry).await {
            eprintln!("(the hub is gone: the servers now run here, for the rest of this chat)");
            fresh.set_origin(person.clone());
            show_progress(&fresh, &view);
            agent.registry = fresh.clone();
            registry = fresh.clone();
            own = Some(fresh);
        }
        let message = if line.starts_with('/') {
            let prompted = match commands::parse(line) {
                Err(msg) => {
                    eprintln!("{msg}");
                    None
                }
                Ok((Cmd::Exit, _)) => break,
                Ok((Cmd::Prompt, Some(arg))) => match offers::prompt(&registry, &arg, cfg.result_budget).await {
                    Ok(text) => Some(text),
                    Err(e) => {
                        eprintln!("hub: {e}");
                        None
                    }
                },
                Ok((cmd, arg)) => {
                    // A command (a /login waiting for the browser, a slow /resources) ends at Ctrl-C too.
                    tokio::select! {
                        () = commands::run(cmd, arg, &registry, &mut agent, &mut history, &view) => {}
                        _ = shutdown.interrupt() => eprintln!("(interrupted)"),
                        _ = stop.cancelled() => { ended = Err(crate::frame::interrupted()); break }
                    }
                    None
                }
            };
            *mentions.lock().unwrap_or_else(|p| p.into_inner()) = offers::mention_candidates(&registry);
            match prompted {
                Some(text) => text,
                None => continue,
            }
        } else {
            match offers::attach(&registry, line, cfg.result_budget).await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("hub: cannot attach {e}");
                    continue;
                }
            }
        };
        let line = message.as_str();
        if offline {
            tokio::select! {
                out = crate::planner::answer(&registry, line) => println!("{}", out.answer),
                _ = stop.cancelled() => { ended = Err(crate::frame::interrupted()); break }
            }
            continue;
        }
        let dropped = trim(&mut history, cfg.context_budget);
        if dropped > 0 && tty {
            eprintln!("(the conversation is over the context budget: dropped the {dropped} oldest messages)");
        }
        view.streamed.store(false, Ordering::Relaxed);
        let cancel = shutdown.token().child_token();
        let span = crate::telemetry::spans::question("chat", line, None);
        let turn = span.within(agent.run(&mut history, line, &cancel));
        tokio::pin!(turn);
        let outcome = loop {
            tokio::select! {
                o = &mut turn => break o,
                _ = shutdown.interrupt() => cancel.cancel(),
            }
        };
        view.clear();
        crate::telemetry::spans::answered(&span, outcome.turns, outcome.status, outcome.status == Status::Ok);
        span.end();
        match outcome.status {
            Status::Interrupted => eprintln!("(interrupted)"),
            _ if view.streamed.load(Ordering::Relaxed) => println!(),
            _ => println!("{}", outcome.answer),
        }
        if let Some(e) = &outcome.error {
            eprintln!("hub: {e}");
        }
        if shutdown.is_cancelled() {
            ended = Err(crate::frame::interrupted());
            break;
        }
    }
    view.clear();
    if let Some(r) = own {
        r.shutdown().await;
    }
    ended
}

/// A server's progress on a running call, shown as it comes.
fn show_progress(registry: &Registry, view: &Arc<view::View>) {
    let (mut progress, shown) = (registry.progress(), view.clone());
    tokio::spawn(async move {
        while let Ok(p) = progress.recv().await {
            shown.progress(&p);
        }
    });
}

/// When the hub this chat attached to is gone, the chat's own servers (`None` while it is there, or when the chat
/// started its own, or they cannot be had).
async fn fall_back(config: &Config, registry: &Registry) -> Option<Registry> {
    if crate::attach::via(registry) == "spawned" || registry.required_down().is_empty() {
        return None;
    }
    let own = Config { hub: crate::attach::Hub::Off, ..config.clone() };
    crate::attach::start(&own).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_drops_whole_oldest_turns_within_budget() {
        let cfg = crate::config::parse("", "t", &|_| None).unwrap().model;
        let mut h = vec![agent::system_message(&cfg)];
        for i in 0..10 {
            h.push(agent::user_message(&format!("question {i} {}", "x".repeat(200))));
            h.push(agent::tool_message("id", "y".repeat(300)));
        }
        let before = serde_json::to_vec(&h).unwrap().len();
        let dropped = trim(&mut h, before / 2);
        assert!(dropped > 0 && dropped.is_multiple_of(2), "whole turns: {dropped}");
        assert!(serde_json::to_vec(&h).unwrap().len() <= before / 2);
        assert!(matches!(h[0], Message::System(_)) && matches!(h[1], Message::User(_)));
        trim(&mut h, 1);
        assert_eq!(h.iter().filter(|m| matches!(m, Message::User(_))).count(), 1, "the latest turn is always kept");
    }
}
