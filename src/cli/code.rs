//! `hub run FILE.js` (a script against the tools, no model: its value on stdout, its `console.log` lines and — with
//! `-v` — its tool calls on stderr, or everything as one JSON document) and `hub code api` (the declarations a
//! script, and the model in code mode, is shown).

use super::setup::{init_logging, with_registry};
use super::{Global, config};
use crate::agent::policy::{Mode, Policy};
use crate::code::{self, Limits};
use crate::exit::{self, Failure};
use crate::frame::OnSignal;
use clap::{Args, Subcommand};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The script: a file, or '-' for stdin. Its body may `await` tools and `return` the answer
    pub file: String,
    /// Print the run (value, error, logs, every tool call) as one JSON document
    #[arg(long)]
    pub json: bool,
    /// Let the script call tools that change data (read-only tools always run)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CodeAction {
    /// Print the TypeScript-style declarations of the tools, as a script (and the model) sees them
    Api {
        /// Only this server's tools
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
    },
}

/// `hub run`: exit 0 when the script returned, 1 when it failed (an exception, a limit), 2 when it cannot be read.
pub fn run(g: &Global, args: RunArgs, config: config::Config) -> exit::Result<u8> {
    init_logging(g, "warn,rmcp=error");
    let script = if args.file == "-" {
        crate::frame::read_stdin("the script")?
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| Failure::usage(format!("cannot read {}: {e}", args.file)))?
    };
    if script.trim().is_empty() {
        return Err(Failure::usage(format!("the script {} is empty", args.file)));
    }
    let verbose = g.verbose > 0;
    with_registry(config, false, OnSignal::Graceful, move |c, r, s| async move {
        let limits = Limits::new(&c.model.code, c.model.result_budget);
        let run = code::run(&r, Policy::new(Mode::Ask, args.yes), limits, &script, s.token()).await;
        if s.is_cancelled() {
            return Err(crate::frame::interrupted());
        }
        if args.json {
            let mut doc = serde_json::to_value(&run).unwrap_or_default();
            doc["via"] = crate::attach::via(&r).into();
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            for line in &run.logs {
                eprintln!("{line}");
            }
            if run.logs_dropped > 0 {
                eprintln!("({} more log lines not kept)", run.logs_dropped);
            }
            if run.calls_refused > 0 {
                eprintln!(
                    "warning: {} tool calls refused: a run may make {} ([code] max_calls)",
                    run.calls_refused, c.model.code.max_calls
                );
            }
            if run.truncated {
                eprintln!("warning: the value was cut to {} bytes (the result budget)", c.model.result_budget);
            }
            if verbose {
                for call in &run.calls {
                    let outcome = call.error.as_deref().unwrap_or("ok");
                    eprintln!("  {} {} ({:.1} ms): {outcome}", call.tool, call.arguments, call.duration_ms);
                }
            }
            match &run.value {
                serde_json::Value::Null if run.error.is_some() => {}
                serde_json::Value::String(text) => println!("{text}"),
                value => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
            }
        }
        match run.error {
            Some(e) if !args.json => Err(Failure::runtime(format!("the script failed: {e}"))),
            Some(_) => Ok(exit::RUNTIME),
            None => Ok(exit::OK),
        }
    })
}

/// `hub code api [--server S]`.
pub fn api(g: &Global, server: Option<String>, config: config::Config) -> exit::Result<u8> {
    init_logging(g, "warn,rmcp=error");
    with_registry(config, false, OnSignal::Stop, move |c, r, _| async move {
        // Attached, the registry's one connection is the hub: the servers are the configured ones behind it.
        let index = r.index();
        if let Some(s) = &server
            && !c.servers.iter().any(|cfg| cfg.name == *s)
            && !index.entries().iter().any(|e| e.server == *s)
        {
            let names: Vec<&str> = c.servers.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::usage(format!("no server named '{s}' (servers: {})", names.join(", "))));
        }
        print!("{}", code::declarations(index.entries(), server.as_deref()));
        Ok(exit::OK)
    })
}
