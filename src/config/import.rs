//! `hub import-config`: the MCP servers another host has configured, as servers.toml entries printed to append to a
//! config. The host is found from the content (or named with `--from`, which also finds its file): Claude Desktop,
//! Cursor, Windsurf and Claude Code's `.mcp.json` (`mcpServers`), Claude Code's `~/.claude.json` (also per project),
//! VS Code (`servers` with `inputs`), Zed (`context_servers`, JSON with comments), Codex (`[mcp_servers.NAME]`)
//! and goose (`extensions`, YAML). Keys hub has no use for are reported, never dropped silently.

pub(crate) mod hosts;

use crate::exit::Failure;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One imported server, as servers.toml writes it.
#[derive(Serialize, Default, Debug, PartialEq)]
pub(crate) struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    startup_timeout_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Tools>,
}

#[derive(Serialize, Default, Debug, PartialEq)]
struct Tools {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deny: Vec<String>,
}

/// What an import found: the entries by server id, and what it could not carry over.
#[derive(Default)]
pub struct Imported {
    /// The host it read (Claude Desktop…).
    pub host: &'static str,
    entries: BTreeMap<String, Entry>,
    pub notes: Vec<String>,
}

impl Imported {
    fn add(&mut self, name: &str, entry: Entry) {
        let id = server_id(name);
        match self.entries.entry(id) {
            std::collections::btree_map::Entry::Occupied(o) => {
                let note = format!("{name}: a server with id '{}' is already imported; this one is left out", o.key());
                self.notes.push(note);
            }
            std::collections::btree_map::Entry::Vacant(v) => drop(v.insert(entry)),
        }
    }

    /// The servers.toml text: one table per server, headed by where it came from.
    pub fn toml(&self, origin: &str) -> Result<String, Failure> {
        Ok(self.tables(origin)?.into_iter().map(|(_, text)| text).collect())
    }

    /// Each server's id and servers.toml table, headed by where it came from.
    pub fn tables(&self, origin: &str) -> Result<Vec<(String, String)>, Failure> {
        let mut out = Vec::new();
        for (id, entry) in &self.entries {
            let one = BTreeMap::from([("servers", BTreeMap::from([(id, entry)]))]);
            let text = toml::to_string(&one).map_err(|e| Failure::runtime(format!("cannot write TOML: {e}")))?;
            out.push((id.clone(), format!("# {id}: imported from {} ({origin})\n{text}\n", self.host)));
        }
        Ok(out)
    }
}

/// Server ids in servers.toml: letters, digits, `_` and `-`; anything else becomes `_`.
fn server_id(name: &str) -> String {
    let id: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if id.is_empty() { "server".into() } else { id }
}

/// A literal `$` must survive hub's own `${VAR}` expansion.
fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

/// The servers in `text` (read from `origin`; its name helps tell the host).
pub fn convert(text: &str, origin: &str) -> Result<Imported, Failure> {
    let imported = hosts::read(text, origin)?;
    if imported.entries.is_empty() {
        return Err(Failure::usage(format!("{origin}: no MCP servers found in this {} configuration", imported.host)));
    }
    Ok(imported)
}

/// The hosts `--from` knows, and where each keeps its configuration (the first that exists is read).
pub const HOSTS: [&str; 8] = ["claude-desktop", "claude-code", "cursor", "windsurf", "vscode", "codex", "goose", "zed"];

/// Where host `from` keeps its MCP servers, the first candidate that exists (all of them when none does).
pub fn locate(from: &str) -> Result<PathBuf, Failure> {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let config = hub_servers::store::xdg_dir("XDG_CONFIG_HOME", ".config");
    // macOS keeps application settings here, Windows under %APPDATA%: tried after the XDG place.
    let mac = home.join("Library/Application Support");
    let appdata = std::env::var_os("APPDATA").map(PathBuf::from);
    let everywhere = |xdg: &str, mac_dir: &str, win: &str| {
        let mut list = vec![config.join(xdg), mac.join(mac_dir)];
        list.extend(appdata.as_ref().map(|a| a.join(win)));
        list
    };
    let candidates: Vec<PathBuf> = match from {
        "claude-desktop" => everywhere(
            "Claude/claude_desktop_config.json",
            "Claude/claude_desktop_config.json",
            "Claude/claude_desktop_config.json",
        ),
        "claude-code" => vec![".mcp.json".into(), home.join(".claude.json")],
        "cursor" => vec![".cursor/mcp.json".into(), home.join(".cursor/mcp.json")],
        "windsurf" => vec![home.join(".codeium/windsurf/mcp_config.json")],
        "vscode" => {
            let mut list = vec![".vscode/mcp.json".into()];
            list.extend(everywhere("Code/User/mcp.json", "Code/User/mcp.json", "Code/User/mcp.json"));
            list
        }
        "codex" => {
            let codex = std::env::var_os("CODEX_HOME").map_or_else(|| home.join(".codex"), PathBuf::from);
            vec![codex.join("config.toml")]
        }
        "goose" => everywhere("goose/config.yaml", "goose/config.yaml", "Block/goose/config/config.yaml"),
        "zed" => everywhere("zed/settings.json", "Zed/settings.json", "Zed/settings.json"),
        other => return Err(Failure::usage(format!("unknown host '{other}': expected one of {}", HOSTS.join(", ")))),
    };
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        Failure::usage(format!("no {from} configuration found (looked at {})", tried.join(", ")))
    })
}
