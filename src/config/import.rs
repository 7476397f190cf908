//! `hub import-config`: turns a Claude Desktop / Cursor `mcpServers` JSON document into servers.toml entries
//! (stdio entries with command/args/env, url entries with headers), printed as TOML to append to a config.

use crate::exit::Failure;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Serialize, Default)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
}

#[derive(Serialize)]
struct Doc {
    servers: BTreeMap<String, Entry>,
}

/// Server ids in servers.toml: letters, digits, `_` and `-`; anything else becomes `_`.
fn server_id(name: &str) -> String {
    let id: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if id.is_empty() { "server".into() } else { id }
}

fn strings(v: Option<&Value>, what: &str, name: &str) -> Result<Vec<String>, Failure> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad(name, &format!("{what} must be strings"))))
            .collect(),
        Some(_) => Err(bad(name, &format!("{what} must be an array of strings"))),
    }
}

fn map(v: Option<&Value>, what: &str, name: &str) -> Result<BTreeMap<String, String>, Failure> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => v.to_string(),
                    _ => return Err(bad(name, &format!("{what}.{k} must be a string"))),
                };
                // A literal `$` must survive our own ${VAR} expansion.
                Ok((k.clone(), s.replace('$', "$$")))
            })
            .collect(),
        Some(_) => Err(bad(name, &format!("{what} must be an object"))),
    }
}

fn bad(name: &str, msg: &str) -> Failure {
    Failure::usage(format!("mcpServers.{name}: {msg}"))
}

/// The servers.toml text for the `mcpServers` in `json` (from `origin`, for messages).
pub fn convert(json: &str, origin: &str) -> Result<String, Failure> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| Failure::usage(format!("{origin}: not valid JSON: {e}")))?;
    let servers = doc
        .get("mcpServers")
        .or_else(|| doc.get("servers"))
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::usage(format!("{origin}: no \"mcpServers\" object found")))?;
    let mut out = BTreeMap::new();
    for (name, s) in servers {
        let s = s.as_object().ok_or_else(|| bad(name, "must be an object"))?;
        let mut e = Entry::default();
        match (
            s.get("command").and_then(Value::as_str),
            s.get("url").or_else(|| s.get("serverUrl")).and_then(Value::as_str),
        ) {
            (Some(cmd), _) => {
                e.command = Some(cmd.replace('$', "$$"));
                e.args = strings(s.get("args"), "args", name)?.into_iter().map(|a| a.replace('$', "$$")).collect();
                e.env = map(s.get("env"), "env", name)?;
            }
            (None, Some(url)) => {
                e.url = Some(url.to_string());
                e.headers = map(s.get("headers"), "headers", name)?;
            }
            (None, None) => return Err(bad(name, "has neither \"command\" nor \"url\"")),
        }
        if s.get("disabled").and_then(Value::as_bool) == Some(true) {
            e.enabled = Some(false);
        }
        let id = server_id(name);
        if out.insert(id.clone(), e).is_some() {
            return Err(bad(name, &format!("two servers map to the same id '{id}'")));
        }
    }
    toml::to_string(&Doc { servers: out }).map_err(|e| Failure::runtime(format!("cannot write TOML: {e}")))
}
