//! Shell integration: completion scripts for bash, zsh, fish, PowerShell and elvish (clap_complete) and man pages
//! (clap_mangen), generated from the same clap definitions as `--help`, so they never drift from it.
//!
//! The default script is dynamic: the shell asks hub for candidates on TAB (`complete.rs`), so tool, server,
//! resource and prompt names come from the live setup. `--static` gives the ahead-of-time script instead
//! (subcommands, flags and the values clap knows), for packagers who want no process per TAB.

use crate::exit::{self, Failure};
use clap_complete::env::Shells;
use std::io::Write;
use std::path::Path;

/// `hub completions SHELL [--static]`: the script on stdout.
pub(super) fn completions(shell: clap_complete::Shell, fixed: bool) -> exit::Result<u8> {
    let mut script = Vec::new();
    if fixed {
        clap_complete::generate(shell, &mut super::command(), "hub", &mut script);
        return emit(&script);
    }
    let name = shell.to_string();
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        return Err(Failure::usage(format!("no dynamic completion for {name}; try --static")));
    };
    // The script calls this very binary back on TAB: found on PATH when it is the one there, else by its path.
    let me = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    let on_path = which("hub").and_then(|p| std::fs::canonicalize(p).ok());
    let path = match (&me, &on_path) {
        (Some(me), Some(found)) if me == found => "hub".to_string(),
        (Some(me), _) => me.display().to_string(),
        (None, _) => "hub".to_string(),
    };
    completer
        .write_registration(super::complete::VAR, "hub", "hub", &path, &mut script)
        .map_err(|e| Failure::runtime(format!("cannot write the script: {e}")))?;
    emit(&script)
}

/// The first `name` on PATH.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `hub man`: hub(1) on stdout; with `dir`, hub.1 and one hub-COMMAND.1 per command written there.
pub(super) fn man(dir: Option<&Path>) -> exit::Result<u8> {
    let hub = super::command();
    let Some(dir) = dir else { return emit(&page(hub)?) };
    let failed = |e: std::io::Error| Failure::runtime(format!("cannot write man pages to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut pages = vec![("hub".to_string(), hub.clone())];
    for sub in hub.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("hub-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name).bin_name(format!("hub {}", sub.get_name()))));
    }
    for (name, cmd) in pages {
        std::fs::write(dir.join(format!("{name}.1")), page(cmd)?).map_err(failed)?;
    }
    Ok(exit::OK)
}

fn page(cmd: clap::Command) -> exit::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Failure::runtime(format!("cannot render the man page: {e}")))?;
    Ok(out)
}

/// Writes to stdout; a reader that went away (`hub man | head`) is not an error.
fn emit(bytes: &[u8]) -> exit::Result<u8> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(exit::OK),
    }
}
