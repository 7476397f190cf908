//! Declarative tool transforms, as servers.toml writes them (`[[servers.NAME.transform]]`) and as they are checked
//! at load: which tool (a name, a glob, or every tool of the server), a new name, a replaced or extended
//! description, hiding, arguments fixed (the model no longer sees them; hub always sends the value) or given a
//! default, result fields dropped (JSON pointers, `*` for every element) and text redacted by regex. A bad
//! pointer or regex, a rename of more than one tool, a key both fixed and defaulted, or a transform that does
//! nothing is a config error with file:line. `registry::transform` applies them.

use super::ErrAt;
use super::raw::Str;
use crate::exit::Failure;
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTransform {
    /// The server's own tool name, or a glob of them; every tool of the server when absent.
    pub tool: Option<Str>,
    pub rename: Option<Str>,
    pub description: Option<Str>,
    pub append_description: Option<Str>,
    pub hide: Option<bool>,
    pub fix: Option<Spanned<toml::Table>>,
    pub defaults: Option<Spanned<toml::Table>>,
    pub drop: Option<Vec<Str>>,
    pub redact: Option<Vec<Str>>,
    pub redact_with: Option<Str>,
}

/// One checked transform.
#[derive(Debug, Clone, Default)]
pub struct Transform {
    /// A tool-name glob; `None`: every tool of the server.
    pub tool: Option<String>,
    /// Where it is written (`file:line`), for reports.
    pub at: String,
    pub rename: Option<String>,
    pub description: Option<String>,
    pub append_description: Option<String>,
    pub hide: bool,
    pub fix: Map<String, Value>,
    pub defaults: Map<String, Value>,
    /// JSON pointers as their unescaped segments (`*`: every key or element).
    pub drop: Vec<Vec<String>>,
    /// Each pattern with what replaces its matches.
    pub redact: Vec<(regex::Regex, String)>,
}

impl Transform {
    /// Whether it applies to the server's tool `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.tool.as_deref().is_none_or(|g| super::glob(g, name))
    }

    /// The one tool it names, when it names one exactly (no glob).
    pub fn exact(&self) -> Option<&str> {
        self.tool.as_deref().filter(|t| !t.contains(['*', '?']))
    }
}

/// Checks server `name`'s transforms; `line` turns a byte offset into `file:line`.
pub fn resolve(
    name: &str,
    raw: &[Spanned<RawTransform>],
    line: &dyn Fn(usize) -> String,
    err: &ErrAt<'_>,
) -> Result<Vec<Transform>, Failure> {
    let mut out = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let (t, at) = (spanned.get_ref(), spanned.span().start);
        let key = |k: &str| format!("servers.{name}.transform[{i}].{k}");
        let text = |s: &Option<Str>| s.as_ref().map(|s| s.get_ref().clone());
        let mut done = Transform {
            tool: text(&t.tool),
            at: line(at),
            description: text(&t.description),
            append_description: text(&t.append_description),
            hide: t.hide.unwrap_or(false),
            fix: json_table(t.fix.as_ref()),
            defaults: json_table(t.defaults.as_ref()),
            ..Transform::default()
        };
        if let Some(new) = &t.rename {
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if done.exact().is_none() {
                return Err(err(new.span().start, &key("rename"), "renames one tool: set `tool` to its exact name"));
            }
            if new.get_ref().is_empty() || new.get_ref().len() > 64 || !new.get_ref().chars().all(valid) {
                return Err(err(new.span().start, &key("rename"), "must be 1-64 letters, digits, '_' or '-'"));
            }
            done.rename = Some(new.get_ref().clone());
        }
        if let Some(both) = done.fix.keys().find(|k| done.defaults.contains_key(*k)) {
            return Err(err(at, &key("fix"), &format!("'{both}' is both fixed and given a default; keep one")));
        }
        for p in t.drop.iter().flatten() {
            done.drop.push(pointer(p.get_ref()).map_err(|m| err(p.span().start, &key("drop"), &m))?);
        }
        let with = t.redact_with.as_ref().map_or("[redacted]", |w| w.get_ref().as_str());
        for r in t.redact.iter().flatten() {
            let re = regex::Regex::new(r.get_ref()).map_err(|e| {
                let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                err(r.span().start, &key("redact"), &format!("not a valid regex: {first}"))
            })?;
            done.redact.push((re, with.to_string()));
        }
        let changes = done.rename.is_some()
            || done.description.is_some()
            || done.append_description.is_some()
            || done.hide
            || !done.fix.is_empty()
            || !done.defaults.is_empty()
            || !done.drop.is_empty()
            || !done.redact.is_empty();
        if !changes {
            return Err(err(at, &format!("servers.{name}.transform[{i}]"), "changes nothing"));
        }
        out.push(done);
    }
    Ok(out)
}

fn json_table(t: Option<&Spanned<toml::Table>>) -> Map<String, Value> {
    match t.map(|t| serde_json::to_value(t.get_ref())) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    }
}

/// An RFC 6901 pointer as its unescaped segments; the whole document (`""`) cannot be dropped.
fn pointer(text: &str) -> Result<Vec<String>, String> {
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("'{text}' is not a JSON pointer (it starts with '/', like \"/card/number\")"));
    };
    Ok(rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect())
}

#[cfg(test)]
mod tests {
    use super::pointer;

    #[test]
    fn pointers_unescape_and_must_start_with_a_slash() {
        assert_eq!(pointer("/a~1b/~0c/*/0").unwrap(), ["a/b", "~c", "*", "0"]);
        assert!(pointer("a/b").unwrap_err().contains("not a JSON pointer"));
        assert!(pointer("").is_err());
    }
}
