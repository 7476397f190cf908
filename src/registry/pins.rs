//! Pinned tool definitions (the "rug pull" guard): the first time hub sees a server's tools it records each
//! definition — name, description, input and output schema, annotations — in `<data dir>/pins.json`. When a later
//! listing differs, the changed tool is withheld from the index (so from the model and the gateway) under
//! `[security] pin = "enforce"` (the default), kept with a warning under `"warn"`, and not checked under `"off"`;
//! either way hub says which tool changed and how (a short diff). New tools of a known server are pinned and
//! reported. `hub tools accept NAME | --server S | --all` trusts the current definitions.
//!
//! The definitions are kept whole (not only a hash) so the diff can say what changed. A store that cannot be
//! read or parsed is never taken as empty: under "enforce" every tool is withheld with the reason until it is
//! fixed or `hub tools accept --all` writes a new one; a store that cannot be written is reported the same way
//! for the tools it could not record.

use super::vet::{Action, Problem, problem};
use rmcp::model::Tool;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

pub use crate::config::PinMode as Mode;

/// server → tool (as the server names it) → definition.
type Store = BTreeMap<String, BTreeMap<String, Value>>;

pub struct Pins {
    path: PathBuf,
    mode: Mode,
    /// The store, or why it cannot be used; read at the first check (a registry whose servers are all another
    /// hub's — an attached command — never reads it).
    store: Mutex<Option<Result<Store, String>>>,
    /// (server, tool) → "pinned" | "new" | "changed" (kept under "warn") — for `hub tools --json`.
    states: Mutex<HashMap<(String, String), &'static str>>,
    /// The definitions the business servers ship with, for the configured servers that run them (`shipped`):
    /// pinned before the server ever runs.
    seeds: HashMap<String, Seed>,
}

/// The tool definitions a business server of this binary ships with, made when first needed: a server not
/// pinned yet, or a tool that differs from its pin. Making them builds every tool's schemas, which a command
/// whose servers' tools are pinned as they ship never needs (≈6% of a cold `hub tools`).
#[derive(Clone)]
pub struct Seed {
    /// The business server (`hub server NAME`).
    server: String,
    tools: OnceLock<Vec<Tool>>,
}

impl Seed {
    fn tools(&self) -> &[Tool] {
        self.tools.get_or_init(|| hub_servers::definitions(&self.server).unwrap_or_default())
    }
}

/// Given definitions (the tests' shipped servers).
#[cfg(test)]
impl From<Vec<Tool>> for Seed {
    fn from(tools: Vec<Tool>) -> Seed {
        Seed { server: String::new(), tools: OnceLock::from(tools) }
    }
}

/// The configured servers that run a business server of this very binary (`hub server NAME`), each with what it
/// ships with.
pub fn shipped(servers: &[crate::config::ServerConfig]) -> HashMap<String, Seed> {
    let mut seeds = HashMap::new();
    for s in servers {
        if let crate::config::Transport::Stdio { command, args, .. } = &s.transport
            && let Some(name) = super::own::own_server(command, args)
        {
            seeds.insert(s.name.clone(), Seed { server: name.to_string(), tools: OnceLock::new() });
        }
    }
    seeds
}

/// A tool's definition as pinned.
fn definition(t: &Tool) -> Value {
    json!({
        "description": t.description, "input_schema": t.input_schema, "output_schema": t.output_schema,
        "annotations": t.annotations,
    })
}

/// Whether `t` is what `pinned` records — `definition(t) == *pinned` without building the definition (its schemas
/// are compared where they are, not copied: every tool of every server is checked at every listing).
fn same(t: &Tool, pinned: &Value) -> bool {
    const KEYS: [&str; 4] = ["description", "input_schema", "output_schema", "annotations"];
    let Some(p) = pinned.as_object().filter(|p| p.len() == KEYS.len() && KEYS.iter().all(|k| p.contains_key(*k)))
    else {
        return false;
    };
    let description = match (&t.description, &p["description"]) {
        (Some(d), Value::String(s)) => d == s,
        (None, Value::Null) => true,
        _ => false,
    };
    let output = match (&t.output_schema, &p["output_schema"]) {
        (Some(o), Value::Object(s)) => **o == *s,
        (None, Value::Null) => true,
        _ => false,
    };
    description
        && output
        && p["input_schema"].as_object() == Some(&*t.input_schema)
        && serde_json::to_value(&t.annotations).is_ok_and(|a| a == p["annotations"])
}

/// What changed between two definitions, briefly: each changed part, a description as old → new (cut).
fn diff(old: &Value, new: &Value) -> String {
    let cut = |v: &Value| crate::output::cut(&v.as_str().map_or_else(|| v.to_string(), String::from), 80);
    let mut parts = Vec::new();
    for key in ["description", "input_schema", "output_schema", "annotations"] {
        let (a, b) = (&old[key], &new[key]);
        if a == b {
            continue;
        }
        if key == "description" {
            parts.push(format!("description {:?} -> {:?}", cut(a), cut(b)));
            continue;
        }
        let props = |v: &Value| v["properties"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
        match (props(a), props(b)) {
            (Some(x), Some(y)) if x != y => {
                let added: Vec<_> = y.iter().filter(|k| !x.contains(k)).collect();
                let removed: Vec<_> = x.iter().filter(|k| !y.contains(k)).collect();
                parts.push(format!("{key} properties added {added:?}, removed {removed:?}"));
            }
            _ => parts.push(format!("{key} changed")),
        }
    }
    parts.join("; ")
}

impl Pins {
    /// The store at `path` (none yet: empty), read when first needed; `seeds` as from `shipped`.
    pub fn open(path: PathBuf, mode: Mode, seeds: HashMap<String, Seed>) -> Pins {
        Pins { path, mode, store: Mutex::new(None), states: Mutex::default(), seeds }
    }

    /// The store as read from its file, or why it cannot be used.
    fn read(&self) -> Result<Store, String> {
        let path = self.path.display();
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str::<Store>(&text).map_err(|e| {
                format!(
                    "the pin store {path} is corrupt ({e}); fix it, or trust every tool again: hub tools accept --all"
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::new()),
            Err(e) => Err(format!("the pin store {path} cannot be read: {e}")),
        }
    }

    /// `server`'s listed tools checked against the pins: those to index, and what to report. Tools seen for the
    /// first time are recorded.
    pub fn check(&self, server: &str, tools: Vec<Tool>) -> (Vec<Tool>, Vec<Problem>) {
        if self.mode == Mode::Off {
            return (tools, vec![]);
        }
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let store = guard.get_or_insert_with(|| self.read());
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let (mut kept, mut problems) = (Vec::new(), Vec::new());
        let withhold = self.mode == Mode::Enforce;
        let mut added = false;
        let pinned = match store.as_mut() {
            Ok(s) => s,
            Err(why) => {
                let action = if withhold { Action::Withheld } else { Action::Noted };
                problems.push(Problem { kind: "tool", name: None, action, reason: why.clone() });
                return (if withhold { vec![] } else { tools }, problems);
            }
        };
        let seed = || self.seeds.get(server).map_or(&[][..], Seed::tools);
        // A business server of this binary not pinned yet: what it ships with is its pin.
        if !pinned.contains_key(server) && !seed().is_empty() {
            let seeded = seed().iter().map(|t| (t.name.to_string(), definition(t))).collect();
            pinned.insert(server.to_string(), seeded);
            added = true;
        }
        // Known: its tools were pinned before (a server is entered only with its first tool).
        let known = pinned.contains_key(server);
        for tool in tools {
            let name = tool.name.to_string();
            // Its definition is built only when it is to be stored or told apart from its pin.
            let now = || definition(&tool);
            let ships = |t: &Tool| t.name == tool.name && same(&tool, &definition(t));
            let state = match pinned.get(server).and_then(|of_server| of_server.get(&name)) {
                Some(old) if same(&tool, old) => "pinned",
                // Changed with hub itself: what this binary's own server ships with is as trusted as the binary.
                Some(old) if seed().iter().any(ships) => {
                    let now = now();
                    let reason = format!("changed with this hub build ({}); pinned now", diff(old, &now));
                    problems.push(problem("tool", &name, Action::Noted, reason));
                    pinned.entry(server.to_string()).or_default().insert(name.clone(), now);
                    added = true;
                    "pinned"
                }
                Some(old) => {
                    let how = diff(old, &now());
                    let (action, then) =
                        if withhold { (Action::Withheld, "withheld") } else { (Action::Noted, "kept") };
                    let reason = format!(
                        "changed since it was pinned ({how}); {then} until `hub tools accept {server}__{name}`"
                    );
                    problems.push(problem("tool", &name, action, reason));
                    if withhold {
                        continue;
                    }
                    "changed"
                }
                None => {
                    pinned.entry(server.to_string()).or_default().insert(name.clone(), now());
                    added = true;
                    if known {
                        problems.push(problem(
                            "tool",
                            &name,
                            Action::Noted,
                            "new since the server's tools were pinned; pinned now",
                        ));
                    }
                    "new"
                }
            };
            states.insert((server.to_string(), name), state);
            kept.push(tool);
        }
        if added && let Err(e) = write(&self.path, pinned) {
            problems.push(Problem { kind: "tool", name: None, action: Action::Noted, reason: e });
        }
        (kept, problems)
    }

    /// Trusts the current definitions of `tools` (server, tool): records them and writes the store (a corrupt one
    /// is replaced by what is given).
    pub fn accept(&self, tools: &[(String, Tool)]) -> Result<(), String> {
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let store = guard.get_or_insert_with(|| self.read());
        if store.is_err() {
            *store = Ok(Store::new());
        }
        let pinned = store.as_mut().map_err(|e| e.clone())?;
        for (server, tool) in tools {
            pinned.entry(server.clone()).or_default().insert(tool.name.to_string(), definition(tool));
        }
        write(&self.path, pinned)
    }

    /// The pin state of `tool` of `server` at the last check ("off" when pins are off).
    pub fn state(&self, server: &str, tool: &str) -> &'static str {
        if self.mode == Mode::Off {
            return "off";
        }
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.get(&(server.to_string(), tool.to_string())).copied().unwrap_or("pinned")
    }
}

impl super::Registry {
    /// Trusts the current definitions of the tools `select` picks (by index name `server__tool`, or by server
    /// when given as `server:*`), then rebuilds the index: the index names accepted.
    pub fn accept_pins(&self, select: &dyn Fn(&str, &str) -> bool) -> Result<Vec<String>, String> {
        let mut chosen = Vec::new();
        for s in self.servers() {
            let listed: Vec<Tool> = s.listed(|l| l.tools.clone());
            for t in listed.into_iter().filter(|t| s.cfg.permits(&t.name) && select(&s.cfg.name, &t.name)) {
                chosen.push((s.cfg.name.clone(), t));
            }
        }
        self.inner.pins.accept(&chosen)?;
        self.inner.rebuild();
        Ok(chosen.iter().map(|(s, t)| format!("{s}__{}", t.name)).collect())
    }

    /// The pin state of a tool (`hub tools --json`): pinned, new, changed (kept under "warn") or off.
    pub fn pin_state(&self, server: &str, tool: &str) -> &'static str {
        self.inner.pins.state(server, tool)
    }
}

/// Writes the store whole (a temporary file renamed over it).
fn write(path: &std::path::Path, store: &Store) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("cannot record pins in {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(store).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

#[cfg(test)]
mod tests;
