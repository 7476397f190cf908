//! What the REPL shows while a turn runs: a spinner while waiting (terminal only), each tool call as it starts
//! and finishes, the answer streamed as it arrives, and (once) which server needs a login. With stdin not a
//! terminal, nothing but the answers and those notes.

use crate::agent::{Observer, ToolRecord};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct View {
    pub decorate: bool,
    pub verbose: AtomicBool,
    pub streamed: AtomicBool,
    spinner: Mutex<Option<indicatif::ProgressBar>>,
}

impl View {
    pub fn new(decorate: bool, verbose: bool) -> View {
        View {
            decorate,
            verbose: AtomicBool::new(verbose),
            streamed: AtomicBool::new(false),
            spinner: Mutex::new(None),
        }
    }

    /// Removes the spinner (before printing, prompting or asking for approval).
    pub fn clear(&self) {
        if let Some(s) = self.spinner.lock().unwrap_or_else(|p| p.into_inner()).take() {
            s.finish_and_clear();
        }
    }

    /// A server's progress on a running call, in the spinner (terminal only).
    pub fn progress(&self, p: &crate::registry::host::Progress) {
        if !self.decorate {
            return;
        }
        let mut s = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        let bar = s.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        bar.set_message(p.to_string());
    }

    fn line(&self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }
}

impl Observer for View {
    fn waiting(&self, _turn: u32) {
        if !self.decorate || self.streamed.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("thinking");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            *s = Some(bar);
        }
    }
    fn text(&self, delta: &str) {
        self.clear();
        self.streamed.store(true, Ordering::Relaxed);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(delta.as_bytes());
        let _ = out.flush();
    }
    fn tool_start(&self, tool: &str, server: Option<&str>) {
        if self.decorate {
            self.line(&format!("  → {tool} [{}]", server.unwrap_or("-")));
        }
    }
    fn tool_end(&self, r: &ToolRecord) {
        if !self.decorate {
            return;
        }
        let mark = if r.ok { "✓" } else { "✗" };
        let detail = match &r.error {
            Some(e) => format!("error: {}", crate::output::cut(e, 120)),
            None => "ok".into(),
        };
        self.line(&format!("  {mark} {} {:.0} ms {detail}", r.tool, r.duration_ms));
        if self.verbose.load(Ordering::Relaxed) {
            self.line(&format!("    arguments: {}", crate::output::cut(&r.arguments.to_string(), 200)));
        }
    }
    fn note(&self, message: &str) {
        if self.decorate && self.verbose.load(Ordering::Relaxed) {
            self.line(&format!("  note: {message}"));
        }
    }
}

/// Says once (until it is up again) that a server needs a login, and how to give it one.
pub fn tell_logins(registry: &crate::registry::Registry, told: &mut std::collections::HashSet<String>) {
    for s in registry.servers() {
        let name = &s.cfg.name;
        if s.phase() != crate::registry::Phase::NeedsLogin {
            told.remove(name);
        } else if told.insert(name.clone()) {
            let hint = s.down_reason().unwrap_or_default();
            let scope =
                hint.split_once("--scope ").map(|(_, s)| format!(" {}", s.trim_end_matches('`').trim_matches('"')));
            eprintln!("({name} needs a login: /login {name}{})", scope.unwrap_or_default());
        }
    }
}
