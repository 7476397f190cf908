//! One reader per host format, each from a real-shaped file: what its keys mean in servers.toml, and a note for
//! every key it has that hub does not carry over. All formats are read into JSON values first (TOML and YAML by
//! serde, Zed's JSON with comments after `jsonc` strips them).

use super::{Entry, Imported, Tools, literal};
use crate::exit::Failure;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Reads `text` as whichever host format it is (by file name, then by content).
pub fn read(text: &str, origin: &str) -> Result<Imported, Failure> {
    let bad = |what: &str, e: String| Failure::usage(format!("{origin}: not valid {what}: {e}"));
    let lower = origin.to_ascii_lowercase();
    let doc: Value = if lower.ends_with(".toml") {
        toml::from_str(text).map_err(|e| bad("TOML", e.to_string()))?
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        yaml_serde::from_str(text).map_err(|e| bad("YAML", e.to_string()))?
    } else {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => serde_json::from_str(&jsonc(text)).map_err(|_| bad("JSON", e.to_string()))?,
        }
    };
    let mut out = Imported::default();
    let (servers, host, read): (_, _, Reader) = if let Some(s) = doc.get("mcp_servers") {
        (s, "Codex", codex)
    } else if let Some(s) = doc.get("extensions") {
        (s, "goose", goose)
    } else if let Some(s) = doc.get("context_servers") {
        (s, "Zed", zed)
    } else if let (Some(s), true) = (doc.get("servers"), doc.get("mcpServers").is_none()) {
        (s, "VS Code", vscode)
    } else if doc.get("projects").is_some() {
        out.host = "Claude Code (~/.claude.json)";
        claude_code(&doc, &mut out)?;
        return Ok(out);
    } else {
        let s = doc.get("mcpServers").ok_or_else(|| {
            let keys = "mcpServers, servers, context_servers, mcp_servers or extensions";
            Failure::usage(format!("{origin}: no MCP servers here (looked for {keys})"))
        })?;
        (s, "an mcpServers file (Claude Desktop, Cursor, Windsurf, Claude Code)", mcp_servers)
    };
    out.host = host;
    each(servers, &mut out, read).map_err(|e| Failure::usage(format!("{origin}: {}", e.message))).map(|_| out)
}

type Reader = fn(&Obj) -> Result<Option<Entry>, Failure>;

fn each(servers: &Value, out: &mut Imported, read: Reader) -> Result<(), Failure> {
    let servers = servers.as_object().ok_or_else(|| Failure::usage("the servers are not an object"))?;
    for (name, s) in servers {
        let map = s.as_object().ok_or_else(|| Failure::usage(format!("{name}: must be an object")))?;
        let obj = Obj { name, map, used: RefCell::default(), notes: RefCell::default() };
        let entry = read(&obj)?;
        out.notes.extend(obj.notes.take());
        let unused = map.keys().filter(|k| !obj.used.borrow().contains(&k.as_str()));
        out.notes.extend(unused.map(|k| format!("{name}: '{k}' is not carried over")));
        if let Some(entry) = entry {
            out.add(name, entry);
        }
    }
    Ok(())
}

/// One server's table, remembering which keys were read.
struct Obj<'a> {
    name: &'a str,
    map: &'a Map<String, Value>,
    used: RefCell<Vec<&'a str>>,
    notes: RefCell<Vec<String>>,
}

impl<'a> Obj<'a> {
    fn get(&self, key: &'a str) -> Option<&'a Value> {
        self.used.borrow_mut().push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }
    fn bad(&self, msg: String) -> Failure {
        Failure::usage(format!("{}: {msg}", self.name))
    }
    fn note(&self, msg: String) {
        self.notes.borrow_mut().push(format!("{}: {msg}", self.name));
    }
    fn text(&self, key: &'a str) -> Result<Option<String>, Failure> {
        self.get(key)
            .map(|v| v.as_str().map(String::from).ok_or_else(|| self.bad(format!("{key} must be a string"))))
            .transpose()
    }
    fn strings(&self, key: &'a str) -> Result<Vec<String>, Failure> {
        let Some(v) = self.get(key) else { return Ok(vec![]) };
        let items = v.as_array().ok_or_else(|| self.bad(format!("{key} must be an array of strings")))?;
        items
            .iter()
            .map(|i| i.as_str().map(String::from).ok_or_else(|| self.bad(format!("{key} must be strings"))))
            .collect()
    }
    fn table(&self, key: &'a str) -> Result<BTreeMap<String, String>, Failure> {
        let Some(v) = self.get(key) else { return Ok(BTreeMap::new()) };
        let m = v.as_object().ok_or_else(|| self.bad(format!("{key} must be an object")))?;
        m.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                _ => Err(self.bad(format!("{key}.{k} must be a string"))),
            })
            .collect()
    }
    fn flag(&self, key: &'a str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }
    fn number(&self, key: &'a str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
}

fn escaped(m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().map(|(k, v)| (k, literal(&v))).collect()
}

/// A stdio entry (`command`) or a url entry; neither is an error.
fn endpoint(o: &Obj, command: Option<String>, url: Option<String>) -> Result<Entry, Failure> {
    match (command, url) {
        (Some(command), _) => Ok(Entry { command: Some(literal(&command)), ..Entry::default() }),
        (None, Some(url)) => Ok(Entry { url: Some(url), ..Entry::default() }),
        (None, None) => Err(o.bad("has neither a command nor a url".into())),
    }
}

/// Claude Desktop, Cursor, Windsurf, Claude Code's `.mcp.json`.
fn mcp_servers(o: &Obj) -> Result<Option<Entry>, Failure> {
    let url = o.text("url")?.or(o.text("serverUrl")?);
    let mut e = endpoint(o, o.text("command")?, url)?;
    if o.text("type")?.as_deref() == Some("sse") {
        o.note("an SSE server: hub speaks streamable HTTP, which many SSE servers also serve at another path".into());
    }
    e.args = o.strings("args")?.iter().map(|a| literal(a)).collect();
    e.env = escaped(o.table("env")?);
    e.cwd = o.text("cwd")?.map(|c| literal(&c));
    e.headers = escaped(o.table("headers")?);
    e.enabled = o.flag("disabled").filter(|d| *d).map(|_| false);
    Ok(Some(e))
}

/// `~/.claude.json`: the user's servers, then each project's.
fn claude_code(doc: &Value, out: &mut Imported) -> Result<(), Failure> {
    if let Some(s) = doc.get("mcpServers") {
        each(s, out, mcp_servers)?;
    }
    for (path, project) in doc["projects"].as_object().into_iter().flatten() {
        if let Some(s) = project.get("mcpServers").filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) {
            out.notes.push(format!("servers of project {path} are imported too"));
            each(s, out, mcp_servers)?;
        }
    }
    Ok(())
}

/// VS Code's `mcp.json`: `${input:ID}` becomes `${ID}` (set it in the environment), `${env:VAR}` becomes `${VAR}`.
fn vscode(o: &Obj) -> Result<Option<Entry>, Failure> {
    let value = |s: &str| -> String {
        let s = literal(s).replace("$${env:", "${").replace("$${workspaceFolder}", "${PWD}");
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find("$${input:") {
            let tail = &rest[i + 9..];
            let Some(end) = tail.find('}') else { break };
            let var: String = tail[..end]
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
                .collect();
            out.push_str(&format!("{}${{{var}}}", &rest[..i]));
            rest = &tail[end + 1..];
        }
        out + rest
    };
    let mut e = endpoint(o, o.text("command")?, o.text("url")?)?;
    o.text("type")?;
    e.command = e.command.map(|c| value(&c.replace("$$", "$")));
    e.args = o.strings("args")?.iter().map(|a| value(a)).collect();
    e.env = o.table("env")?.iter().map(|(k, v)| (k.clone(), value(v))).collect();
    e.headers = o.table("headers")?.iter().map(|(k, v)| (k.clone(), value(v))).collect();
    e.cwd = o.text("cwd")?.map(|c| value(&c));
    Ok(Some(e))
}

/// Zed's `context_servers`: `command` is a string (with `args`, `env`) or `{path, args, env}`.
fn zed(o: &Obj) -> Result<Option<Entry>, Failure> {
    let command = o.get("command");
    let nested = command.and_then(Value::as_object);
    let (path, args, env) = match nested {
        Some(c) => {
            let inner = Obj { name: o.name, map: c, used: RefCell::default(), notes: RefCell::default() };
            (inner.text("path")?, inner.strings("args")?, inner.table("env")?)
        }
        None => (o.text("command")?, o.strings("args")?, o.table("env")?),
    };
    if o.text("source")?.as_deref() == Some("extension") {
        o.note("a Zed extension's server: its command comes from the extension and is not in the file".into());
        return Ok(None);
    }
    let mut e = endpoint(o, path, o.text("url")?)?;
    e.args = args.iter().map(|a| literal(a)).collect();
    e.env = escaped(env);
    e.headers = escaped(o.table("headers")?);
    e.enabled = o.flag("enabled").filter(|on| !on);
    Ok(Some(e))
}

/// Codex's `[mcp_servers.NAME]`.
fn codex(o: &Obj) -> Result<Option<Entry>, Failure> {
    let mut e = endpoint(o, o.text("command")?, o.text("url")?)?;
    e.args = o.strings("args")?.iter().map(|a| literal(a)).collect();
    e.env = escaped(o.table("env")?);
    e.cwd = o.text("cwd")?.map(|c| literal(&c));
    e.headers = escaped(o.table("http_headers")?);
    for (header, var) in o.table("env_http_headers")? {
        e.headers.insert(header, format!("${{{var}}}"));
    }
    if let Some(var) = o.text("bearer_token_env_var")? {
        e.headers.insert("Authorization".into(), format!("Bearer ${{{var}}}"));
    }
    if !o.strings("env_vars")?.is_empty() {
        o.note("env_vars: hub's servers inherit its environment already".into());
    }
    e.enabled = o.flag("enabled").filter(|on| !on);
    e.startup_timeout_s = o.number("startup_timeout_sec").or(o.number("startup_timeout_ms").map(|ms| ms / 1000.0));
    e.timeout_s = o.number("tool_timeout_sec");
    let (allow, deny) = (o.strings("enabled_tools")?, o.strings("disabled_tools")?);
    e.tools = (!allow.is_empty() || !deny.is_empty()).then_some(Tools { allow, deny });
    Ok(Some(e))
}

/// goose's `extensions`: `cmd`/`args`/`envs` (stdio) or `uri` (sse, streamable_http); built-ins are goose's own.
fn goose(o: &Obj) -> Result<Option<Entry>, Failure> {
    for known in ["name", "display_name", "description", "bundled"] {
        o.get(known);
    }
    let kind = o.text("type")?.unwrap_or_else(|| "stdio".into());
    if !matches!(kind.as_str(), "stdio" | "sse" | "streamable_http") {
        o.note(format!("a goose '{kind}' extension, not an MCP server hub can start; left out"));
        return Ok(None);
    }
    let mut e = endpoint(o, o.text("cmd")?, o.text("uri")?)?;
    e.args = o.strings("args")?.iter().map(|a| literal(a)).collect();
    e.env = escaped(o.table("envs")?);
    for key in o.strings("env_keys")? {
        e.env.entry(key.clone()).or_insert(format!("${{{key}}}"));
    }
    e.headers = escaped(o.table("headers")?);
    e.enabled = o.flag("enabled").filter(|on| !on);
    e.timeout_s = o.number("timeout");
    let tools = o.strings("available_tools")?;
    e.tools = (!tools.is_empty()).then(|| Tools { allow: tools, deny: vec![] });
    Ok(Some(e))
}

/// JSON with `//` and `/* */` comments and trailing commas (Zed's settings) made plain JSON; strings are kept.
pub fn jsonc(text: &str) -> String {
    let (mut out, mut chars) = (String::with_capacity(text.len()), text.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => while chars.next_if(|c| *c != '\n').is_some() {},
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                while let Some(x) = chars.next() {
                    if x == '*' && chars.next_if_eq(&'/').is_some() {
                        break;
                    }
                }
            }
            ']' | '}' => {
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
