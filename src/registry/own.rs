//! The configured servers that run this very binary's `hub server NAME` (the built-in five, the test kits), and
//! the program that starts them: `hub-server NAME` when that binary lies beside hub — a fifth of hub's size, so
//! each server maps less and starts sooner (BENCHMARKS.md, issue 20) — told the build of the servers' code hub
//! carries and where hub is, so a `hub-server` left from another build hands over to `hub server NAME`
//! (`hub_servers::process`); else `hub server NAME` itself.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The server binary's name, beside hub's.
pub const SERVER_BINARY: &str = "hub-server";

/// This executable, canonical (None if it cannot be found).
fn me() -> Option<&'static Path> {
    static ME: OnceLock<Option<PathBuf>> = OnceLock::new();
    ME.get_or_init(|| std::env::current_exe().and_then(std::fs::canonicalize).ok()).as_deref()
}

/// The server's name when `command args` is this binary's `hub server NAME` for a server it carries.
pub fn own_server<'a>(command: &str, args: &'a [String]) -> Option<&'a str> {
    let [verb, name] = args else { return None };
    if verb != "server" || !hub_servers::process::serves(name) {
        return None;
    }
    let path = std::fs::canonicalize(super::connect::resolve_command(command)).ok()?;
    (Some(path.as_path()) == me()).then_some(name.as_str())
}

/// The process to spawn for a configured `command args`.
pub fn command(command: &str, args: &[String]) -> tokio::process::Command {
    let server = own_server(command, args).zip(me()).and_then(|(name, hub)| {
        let beside = hub.parent()?.join(SERVER_BINARY);
        beside.is_file().then_some((name, hub, beside))
    });
    match server {
        Some((name, hub, beside)) => {
            let mut cmd = tokio::process::Command::new(beside);
            cmd.arg(name)
                .env(hub_servers::process::EXPECT, hub_servers::process::BUILD)
                .env(hub_servers::process::FALLBACK, hub);
            cmd
        }
        None => {
            let mut cmd = tokio::process::Command::new(super::connect::resolve_command(command));
            cmd.args(args);
            cmd
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn this() -> String {
        std::env::current_exe().unwrap().display().to_string()
    }

    #[test]
    fn only_this_binarys_server_verb_with_a_name_it_carries_is_its_own() {
        assert_eq!(own_server(&this(), &args(&["server", "crm"])), Some("crm"));
        assert_eq!(own_server(&this(), &args(&["server", "testkit"])), Some("testkit"));
        assert_eq!(own_server(&this(), &args(&["server", "nope"])), None);
        assert_eq!(own_server(&this(), &args(&["serve", "crm"])), None);
        assert_eq!(own_server(&this(), &args(&["server", "crm", "--extra"])), None);
        assert_eq!(own_server("/bin/sh", &args(&["server", "crm"])), None);
        assert_eq!(own_server("no-such-command-here", &args(&["server", "crm"])), None);
    }

    #[test]
    fn without_a_server_binary_beside_it_the_entry_runs_as_configured() {
        // The test binary lies in target/*/deps, where no hub-server is built.
        assert!(!me().unwrap().parent().unwrap().join(SERVER_BINARY).exists());
        let cmd = command(&this(), &args(&["server", "crm"]));
        let std = cmd.as_std();
        assert_eq!(std.get_program(), std::ffi::OsStr::new(&this()));
        assert_eq!(std.get_args().collect::<Vec<_>>(), ["server", "crm"]);
        assert_eq!(std.get_envs().count(), 0);
        let other = command("/bin/echo", &args(&["hi"]));
        assert_eq!(other.as_std().get_program(), "/bin/echo");
    }
}
