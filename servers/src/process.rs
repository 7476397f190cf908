//! The server process, whichever binary runs it: `hub-server NAME` (a binary of its own, a fifth of hub's size,
//! so a server maps less and starts sooner) or `hub server NAME`. The name checked, logs on stderr, one
//! single-threaded runtime, stdin/stdout. hub runs its configured `hub server NAME` entries as `hub-server NAME`
//! when one lies beside it, telling it the build it expects (`BUILD`) and where hub is; a `hub-server` built from
//! other server code (a `cargo run` rebuilds only the binary it runs) hands over to hub's own `hub server NAME` —
//! the same process, exec'd, on the same pipes — instead of serving old code.

use std::ffi::OsString;
use std::process::ExitCode;

/// This build of the servers' code (a hash of their sources, the lock file and the profile; `build.rs`).
pub const BUILD: &str = env!("HUB_SERVERS_BUILD");
/// Set by hub for a `hub-server` it spawns: the build it expects.
pub const EXPECT: &str = "HUB_SERVER_BUILD";
/// Set by hub for a `hub-server` it spawns: hub's own executable, to hand over to on a build mismatch.
pub const FALLBACK: &str = "HUB_SERVER_FALLBACK";
/// The names besides the business servers that `run` serves: the test kits and the catalog replayer.
const KITS: [&str; 3] = ["testkit", "badkit", "replay"];

/// Whether `run` serves `name`.
pub fn serves(name: &str) -> bool {
    crate::SERVERS.contains(&name) || KITS.contains(&name)
}

/// Why `name` is not served, in the words both binaries print.
pub fn unknown(name: &str) -> String {
    format!("unknown server '{name}': expected one of {}", crate::SERVERS.join(", "))
}

/// Serves `name` over stdio on a single-threaded runtime until the client goes away.
pub fn serve_blocking(name: &str) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    rt.block_on(crate::run(name))
}

/// `hub-server NAME`: exit 0 when the client closes, 2 for a bad argument, 1 when the server fails.
pub fn main() -> ExitCode {
    // Read as OS strings: a name that is not UTF-8 is an unknown name (exit 2), not a panic.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let name = match args.as_slice() {
        [flag] if flag == "--build" => {
            println!("{BUILD}");
            return ExitCode::SUCCESS;
        }
        [name] if serves(name) => name.as_str(),
        [name] if !name.starts_with('-') => return fail(2, &unknown(name)),
        _ => return fail(2, "usage: hub-server NAME (crm, tickets, payments, calendar or analytics)"),
    };
    if let Some(want) = std::env::var_os(EXPECT)
        && want != BUILD
    {
        return hand_over(name, &want);
    }
    logging();
    match serve_blocking(name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("{e:#}")),
    }
}

/// Replaces this process with hub's `hub server NAME` (returns only if that cannot be done).
fn hand_over(name: &str, want: &OsString) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let Some(hub) = std::env::var_os(FALLBACK) else {
        let want = want.to_string_lossy();
        return fail(1, &format!("built from other server code ({BUILD}) than the hub that started it ({want})"));
    };
    let err = std::process::Command::new(&hub).args(["server", name]).env_remove(EXPECT).env_remove(FALLBACK).exec();
    fail(1, &format!("cannot hand over to {}: {err}", hub.to_string_lossy()))
}

/// Warnings and errors on stderr, as `hub server` logs them; `RUST_LOG` takes `target=level` directives (a
/// `Targets` filter: no pattern matching, so the binary stays small).
fn logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let targets = std::env::var("RUST_LOG").ok().and_then(|s| s.parse::<Targets>().ok()).unwrap_or_else(|| {
        Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("rmcp", LevelFilter::ERROR)
            .with_target("rmcp::transport::worker", LevelFilter::OFF)
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .with_target(false);
    let _ = tracing_subscriber::registry().with(logs.with_filter(targets)).try_init();
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("hub-server: {message}");
    ExitCode::from(code)
}
