//! What every command needs before it runs: logging (stderr, or a file for the REPL), the tokio runtime, the
//! registry under one `Shutdown`, the question read from the argument or stdin; and `hub server NAME`.

use crate::config::Config;
use crate::exit::{self, Failure};
use crate::frame::{self, OnSignal};
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use clap::{Args, FromArgMatches};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Configuration file (default: ./servers.toml, else $XDG_CONFIG_HOME/hub/servers.toml, else built-in)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// More output on stderr (repeatable: -v tool calls, -vv debug logs)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Model name (overrides HUB_MODEL and the config)
    #[arg(long, global = true, value_name = "NAME")]
    pub model: Option<String>,
    /// Use the built-in offline planner even if a model is configured
    #[arg(long, global = true)]
    pub offline: bool,
    /// Use this running hub (URL, or the path of its socket) instead of starting the servers
    #[arg(long, global = true, value_name = "URL|PATH", env = "HUB_URL")]
    pub hub: Option<String>,
    /// Start the servers here even when a hub is running
    #[arg(long, global = true, conflicts_with = "hub")]
    pub no_hub: bool,
    /// Code mode: offer the model `hub__run_code`, a script against the tools (also `[code] enabled`)
    #[arg(long, global = true)]
    pub code: bool,
}

pub(super) fn init_logging(global: &Global, default: &str) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        // rmcp's worker logs a failed connection as an error; hub reports it itself, with the server's name.
        (_, 0) if default.contains("rmcp=error") => &format!("{default},rmcp::transport::worker=off"),
        (_, 0) => default,
        (_, 1) => "info,rmcp=warn",
        _ => "debug,rmcp=info",
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .with_target(false);
    install(logs, level);
}

/// The subscriber: the log layer under its filter (`RUST_LOG`, else `level`). The telemetry spans do not go
/// through it (see `telemetry::spans`).
fn install<L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>(logs: L, level: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::registry().with(logs.with_filter(filter)).try_init();
}

/// The question argument, or stdin for `-`; empty questions are a usage error.
pub(super) fn read_question(q: String) -> exit::Result<String> {
    let q = if q == "-" { crate::frame::read_stdin("the question")? } else { q };
    let q = q.trim().to_string();
    if q.is_empty() { Err(Failure::usage("the question is empty")) } else { Ok(q) }
}

/// The runtime: one worker per core the machine gives this process (tokio's default, which
/// `TOKIO_WORKER_THREADS` overrides).
pub(super) fn runtime() -> exit::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))
}

/// One malloc arena for every thread of a command that is not a gateway. glibc gives each further thread an arena
/// of its own, and such an arena grows a page at a time — a system call and a fault per page, ≈190 of them in an
/// attached `hub ask` — where the main one grows 128 KiB at a time (BENCHMARKS.md, issue 18). A gateway under load
/// on many cores keeps the default (an arena per busy thread). Called before any thread is started.
pub(super) fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; no other thread exists yet to be allocating.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Runs a registry-backed command: the runtime, the one `Shutdown` (SIGINT stays with the REPL when
/// `owns_sigint`), the resolved config and the frame.
pub(super) fn with_registry<F, Fut>(config: Config, owns_sigint: bool, on_signal: OnSignal, f: F) -> exit::Result<u8>
where
    F: FnOnce(Config, Registry, Shutdown) -> Fut,
    Fut: std::future::Future<Output = exit::Result<u8>>,
{
    runtime()?.block_on(async move {
        // Telemetry is set up while the servers start, on from the command's first step, flushed while they stop.
        let export = crate::telemetry::Export::prepare(config.telemetry.as_ref());
        let shutdown = Shutdown::listen(owns_sigint);
        let cfg = config.clone();
        let ours = export.clone();
        let code = frame::with_registry(&config, &shutdown.clone(), on_signal, move |r| async move {
            if let Some(e) = &ours {
                e.begin().await;
            }
            let code = f(cfg, r, shutdown).await;
            ours.inspect(crate::telemetry::Export::end);
            code
        })
        .await;
        if let Some(e) = export {
            e.finish().await;
        }
        code
    })
}

pub(super) fn init_logging_file(global: &Global, path: &std::path::Path) {
    let file = path
        .parent()
        .and_then(|d| std::fs::create_dir_all(d).ok())
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    let Some(file) = file else { return init_logging(global, "off") };
    let logs = tracing_subscriber::fmt::layer().with_writer(std::sync::Mutex::new(file)).with_ansi(false);
    install(logs, "info,rmcp=warn");
}

/// `hub server NAME`: one business server (or a test kit) over stdio, on a single-threaded runtime — what
/// `hub-server NAME` runs too (hub_servers::process).
pub(super) fn business_server(name: &str) -> exit::Result<u8> {
    if !hub_servers::process::serves(name) {
        return Err(Failure::usage(hub_servers::process::unknown(name)));
    }
    hub_servers::process::serve_blocking(name)?;
    Ok(exit::OK)
}

/// The process: answers a shell's completion request, or parses the command line, runs it and turns the
/// outcome into the exit code (printing the error, one line, `hub: …`).
pub fn main() -> ExitCode {
    super::complete::answer_if_asked();
    let cli = match super::command().try_get_matches().and_then(|m| super::Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match super::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("hub: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
