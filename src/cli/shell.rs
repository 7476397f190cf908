//! Shell integration: completion scripts for bash, zsh, fish, PowerShell and elvish (clap_complete) and man pages
//! (clap_mangen), generated from the same clap definitions as `--help`, so they never drift from it.
//!
//! Completion is static: subcommands, flags and the values clap knows (shells, formats). Tool and server names
//! are not completed from the live index.

use crate::exit::{self, Failure};
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// `hub completions SHELL`: the script on stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> exit::Result<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "hub", &mut script);
    emit(&script)
}

/// `hub man`: hub(1) on stdout; with `dir`, hub.1 and one hub-COMMAND.1 per command written there.
pub(super) fn man(dir: Option<&Path>) -> exit::Result<u8> {
    let hub = super::Cli::command();
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
