//! `hub init`: a commented servers.toml to start from — the built-in default (the five business servers and the
//! model) plus the MCP servers of the user's other hosts (`import::HOSTS`, each file where that host keeps it),
//! every one marked with where it came from. A server whose table would not load today (a `${VAR}` that is not
//! set, say) is written commented out with the reason, so the file always loads.

use super::import::{self, HOSTS};
use crate::exit::Failure;
use std::collections::BTreeSet;

/// What `hub init` writes, and what it has to say about it.
pub struct Composed {
    pub text: String,
    /// Per host: where its servers were found and how many were taken.
    pub found: Vec<String>,
    pub notes: Vec<String>,
}

/// The file for the hosts' files in `found` (host, path, contents), with variables looked up in `env`.
pub fn compose(found: &[(&str, String, String)], env: &dyn Fn(&str) -> Option<String>) -> Composed {
    let mut text = super::BUILTIN.to_string();
    let builtin = super::parse(super::BUILTIN, "built-in default", &|_| None).map(|c| c.servers).unwrap_or_default();
    let mut ids: BTreeSet<String> = builtin.into_iter().map(|s| s.name).collect();
    let (mut lines, mut notes) = (Vec::new(), Vec::new());
    for (host, path, contents) in found {
        let imported = match import::convert(contents, path).and_then(|i| Ok((i.tables(path)?, i.notes))) {
            Ok(i) => i,
            Err(e) => {
                notes.push(format!("{host}: {} (left out)", e.message));
                continue;
            }
        };
        let (tables, host_notes) = imported;
        notes.extend(host_notes.into_iter().map(|n| format!("{host}: {n}")));
        let mut taken = 0;
        for (id, table) in tables {
            if !ids.insert(id.clone()) {
                notes.push(format!("{host}: server '{id}' is already in the file; the one in {path} is left out"));
                continue;
            }
            taken += 1;
            text.push('\n');
            match super::parse(&table, path, env) {
                Ok(_) => text.push_str(&table),
                Err(e) => {
                    let why = e.message.rsplit(": ").next().unwrap_or_default().to_string();
                    text.push_str(&format!("# left commented out: {why}\n"));
                    let commented = |l: &str| match l {
                        "" => "\n".to_string(),
                        l if l.starts_with('#') => format!("{l}\n"),
                        l => format!("# {l}\n"),
                    };
                    text.extend(table.lines().map(commented));
                    notes.push(format!("{host}: server '{id}' is commented out: {why}"));
                }
            }
        }
        lines.push(format!("{host}: {taken} server(s) from {path}"));
    }
    Composed { text, found: lines, notes }
}

/// The hosts' files that exist, with their contents (unreadable ones are noted).
pub fn discover(notes: &mut Vec<String>) -> Vec<(&'static str, String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for host in HOSTS {
        let Ok(path) = import::locate(host) else { continue };
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((host, path.display().to_string(), text)),
            Err(e) => notes.push(format!("{host}: cannot read {}: {e}", path.display())),
        }
    }
    out
}

/// Refuses to replace an existing file unless forced.
pub fn check_target(path: &std::path::Path, force: bool) -> Result<(), Failure> {
    if path.exists() && !force {
        return Err(Failure::usage(format!("{} exists; keep it, or replace it with --force", path.display())));
    }
    Ok(())
}

/// `hub init [PATH] [--force] [--no-import]`: writes the file (default `$XDG_CONFIG_HOME/hub/servers.toml`) and
/// says on stderr what went in.
pub fn run(path: Option<&std::path::Path>, force: bool, import: bool) -> crate::exit::Result<u8> {
    let path = path
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| hub_servers::store::xdg_dir("XDG_CONFIG_HOME", ".config").join("hub/servers.toml"));
    check_target(&path, force)?;
    let mut notes = Vec::new();
    let found = if import { discover(&mut notes) } else { Vec::new() };
    let composed = compose(&found, &super::expand::process_env);
    let failed = |e: std::io::Error| Failure::runtime(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(&path, &composed.text).map_err(failed)?;
    eprintln!("hub: wrote {} — the five business servers and the model settings", path.display());
    for line in composed.found.iter().chain(&notes).chain(&composed.notes) {
        eprintln!("hub: {line}");
    }
    if import && found.is_empty() {
        eprintln!("hub: no other host's MCP servers found ({})", HOSTS.join(", "));
    }
    eprintln!("hub: next: hub status (are they up?), then hub ask \"…\"");
    Ok(crate::exit::OK)
}
