//! `hub ask`: one question, one answer. Picks the model agent or the offline planner, shows progress on stderr
//! (a spinner on a terminal, one line per tool call with `-v`), prints the answer on stdout (streamed when
//! stdout is a terminal or with `--stream`) or the versioned `--json` document, and maps the outcome to the
//! exit code (0 ok, 1 error, 3 turn cap, 130 interrupted).

use crate::agent::{self, Agent, Observer, Outcome, Status, ToolRecord, policy};
use crate::config::Config;
use crate::exit::{self, Failure};
use crate::llm::Llm;
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub struct AskArgs {
    pub question: String,
    pub json: bool,
    pub yes: bool,
    pub stream: bool,
    pub verbose: u8,
    pub quiet: bool,
}

/// Progress on stderr: a spinner while waiting (terminal only), tool calls with `-v`, streamed text on stdout.
pub struct Console {
    pub verbose: bool,
    pub stream_stdout: bool,
    pub streamed: AtomicBool,
    pub spinner: Option<indicatif::ProgressBar>,
}

impl Console {
    pub fn new(verbose: bool, quiet: bool, stream_stdout: bool) -> Console {
        let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            s.enable_steady_tick(std::time::Duration::from_millis(100));
            s
        });
        Console { verbose, stream_stdout, streamed: AtomicBool::new(false), spinner }
    }

    fn say(&self, line: &str) {
        match &self.spinner {
            Some(s) => s.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(s) = &self.spinner {
            s.finish_and_clear();
        }
    }
}

pub fn describe(r: &ToolRecord) -> String {
    let status = match &r.error {
        None => "ok".to_string(),
        Some(e) => format!("error: {}", crate::output::cut(e, 160)),
    };
    let trunc = if r.truncated { " (truncated)" } else { "" };
    let trunc = if r.grounded { format!("{trunc} (grounding)") } else { trunc.to_string() };
    format!(
        "  {} [{}] {:.0} ms {} B{trunc} {status}",
        r.tool,
        r.server.as_deref().unwrap_or("-"),
        r.duration_ms,
        r.bytes
    )
}

impl Observer for Console {
    fn waiting(&self, turn: u32) {
        if let Some(s) = &self.spinner {
            s.set_message(format!("thinking (turn {turn})"));
        }
    }
    fn text(&self, delta: &str) {
        if self.stream_stdout {
            self.streamed.store(true, Ordering::Relaxed);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
    }
    fn tool_start(&self, tool: &str, server: Option<&str>) {
        if let Some(s) = &self.spinner {
            s.set_message(format!("running {tool}"));
        }
        if self.verbose {
            self.say(&format!("→ {tool} [{}]", server.unwrap_or("-")));
        }
    }
    fn tool_end(&self, record: &ToolRecord) {
        if self.verbose {
            self.say(&describe(record));
        }
    }
    fn note(&self, message: &str) {
        if self.verbose {
            self.say(&format!("note: {message}"));
        }
    }
}

/// The versioned `--json` document of DESIGN.md.
pub fn document(
    o: &Outcome,
    registry: &Registry,
    behind: &[crate::registry::Status],
    started: Instant,
) -> serde_json::Value {
    let servers = crate::output::server_states(registry, behind);
    let asked = registry.server_requests();
    // The tokens spent on the question: the model loop's and the sampling requests hub's model answered.
    let mut usage = o.usage;
    asked.iter().filter_map(|a| a.usage).for_each(|u| usage.add(u));
    json!({
        "version": 1,
        "status": o.status,
        "answer": o.answer,
        "model": o.model,
        "turns": o.turns,
        "usage": usage,
        "duration_ms": crate::output::millis(started.elapsed()),
        "tool_calls": o.tool_calls,
        "servers": servers,
        "error": o.error,
        "tools_omitted": o.tools_omitted,
        "tool_search": o.tool_search,
        "facts": o.facts,
        "repairs": o.repairs,
        "server_requests": asked,
        "via": crate::attach::via(registry),
    })
}

pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Ok => exit::OK,
        Status::TurnCap => exit::TURN_CAP,
        Status::Interrupted => exit::INTERRUPTED,
        Status::Length | Status::ContentFilter | Status::Error => exit::RUNTIME,
    }
}

/// Answers one question; on `shutdown` the turn is cancelled (its tool calls upstream too) and the run ends
/// with exit 130. With telemetry on, all of it is one trace (`invoke_agent hub`).
pub async fn run(config: &Config, registry: Registry, a: AskArgs, shutdown: &Shutdown) -> exit::Result<u8> {
    let span = crate::telemetry::spans::question("ask", &a.question, None);
    span.run(answer(config, registry, a, shutdown)).await
}

async fn answer(config: &Config, registry: Registry, a: AskArgs, shutdown: &Shutdown) -> exit::Result<u8> {
    let started = Instant::now();
    // The servers behind an attached hub, for the warnings and `--json` (none when not attached) — asked while the
    // model's context window is (asked once per process, for the agent below): two round trips waited for as one.
    let window = async {
        if !config.model.offline {
            crate::agent::defs::window(&config.model).await;
        }
    };
    let (behind, ()) = tokio::join!(crate::attach::behind(&registry), window);
    if !a.quiet {
        for w in crate::output::warnings(&registry, &behind) {
            eprintln!("warning: {w}");
        }
    }
    let cfg = config.model.clone();
    if cfg.offline {
        let outcome = tokio::select! {
            o = crate::planner::answer(&registry, &a.question) => o,
            _ = shutdown.cancelled() => return Err(crate::frame::interrupted()),
        };
        if let Some(why) = crate::attach::lost(&registry) {
            return Err(Failure::runtime(why));
        }
        return report(&outcome, &registry, &behind, started, a.json, false);
    }
    let stream = !a.json && (a.stream || std::io::stdout().is_terminal());
    let console = Arc::new(Console::new(a.verbose > 0, a.quiet, stream));
    if let Some(spinner) = console.spinner.clone() {
        // A server's progress on a running call, in the spinner.
        let mut progress = registry.progress();
        tokio::spawn(async move {
            while let Ok(p) = progress.recv().await {
                spinner.set_message(p.to_string());
            }
        });
    }
    let agent = Agent {
        registry: registry.clone(),
        llm: Llm::new(&cfg).map_err(|e| Failure::runtime(e.to_string()))?,
        policy: policy::Policy::new(policy::Mode::Ask, a.yes),
        observer: console.clone(),
        stream,
        response_format: None,
        cfg: cfg.clone(),
        loaded: Some(Default::default()),
    };
    let mut history = vec![agent::system_message(&cfg)];
    let outcome = agent.run(&mut history, &a.question, &shutdown.token()).await;
    console.finish();
    let offered = registry.index().len();
    if outcome.tool_calls.is_empty() && offered > 0 && outcome.status == Status::Ok && !a.quiet {
        eprintln!(
            "note: the model answered without calling any of the {offered} tools offered; if the answer should come \
             from your servers, `hub doctor` checks whether this model makes tool calls"
        );
    }
    report(&outcome, &registry, &behind, started, a.json, console.streamed.load(Ordering::Relaxed))
}

/// Prints the outcome (answer or document) and returns its exit code; errors and caps also go to stderr.
pub fn report(
    o: &Outcome,
    registry: &Registry,
    behind: &[crate::registry::Status],
    started: Instant,
    json_out: bool,
    streamed: bool,
) -> exit::Result<u8> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(&document(o, registry, behind, started)).unwrap_or_default());
    } else if streamed {
        println!();
    } else if !o.answer.is_empty() {
        println!("{}", o.answer);
    }
    tracing::info!(
        turns = o.turns,
        prompt_tokens = o.usage.prompt_tokens,
        completion_tokens = o.usage.completion_tokens,
        "usage"
    );
    let code = exit_code(o.status);
    crate::telemetry::spans::answered(&crate::telemetry::spans::Span::current(), o.turns, o.status, code == exit::OK);
    match (&o.error, code) {
        (Some(e), c) if c != exit::OK => Err(Failure { code: c, message: e.clone() }),
        _ => Ok(code),
    }
}
