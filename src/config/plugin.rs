//! `[[plugins]]` in servers.toml: an external process that speaks JSON lines on stdio and sees the calls of the
//! tools it names (`tools`, globs over index names) at the hooks it names (`before_call`, `after_call`), answering
//! each within `timeout_ms` (default 200) or else `on_error` applies ("deny", the default, or "pass").
//! `registry::plugin` runs them.

use super::ErrAt;
use super::raw::Str;
use crate::exit::Failure;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub name: Option<Str>,
    pub command: Option<Str>,
    pub args: Option<Vec<Str>>,
    pub env: Option<std::collections::BTreeMap<String, Str>>,
    pub hooks: Option<Vec<Str>>,
    pub tools: Option<Vec<String>>,
    pub timeout_ms: Option<Spanned<i64>>,
    pub on_error: Option<Str>,
}

#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// For messages: `name`, else the script's or the command's file name.
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub before_call: bool,
    pub after_call: bool,
    /// Globs over index names (`crm__*`); every tool when empty.
    pub tools: Vec<String>,
    /// The deadline of one hook's answer.
    pub timeout: Duration,
    /// Whether a plugin that fails (down, late, garbled) lets the call through.
    pub pass_on_error: bool,
}

impl PluginConfig {
    /// Whether it sees calls of tool `name` (an index name).
    pub fn covers(&self, name: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|g| super::glob(g, name))
    }
}

/// Checks the `[[plugins]]` entries.
pub fn resolve(
    raw: &[Spanned<RawPlugin>],
    exp: &dyn Fn(&Str, &str) -> Result<String, Failure>,
    err: &ErrAt<'_>,
) -> Result<Vec<PluginConfig>, Failure> {
    let mut out: Vec<PluginConfig> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let (p, at) = (spanned.get_ref(), spanned.span().start);
        let key = |k: &str| format!("plugins[{i}].{k}");
        let Some(cmd) = &p.command else { return Err(err(at, &format!("plugins[{i}]"), "set command")) };
        let command = exp(cmd, &key("command"))?;
        if command.trim().is_empty() {
            return Err(err(cmd.span().start, &key("command"), "must not be empty"));
        }
        let args: Vec<String> = p.args.iter().flatten().map(|a| exp(a, &key("args"))).collect::<Result<_, _>>()?;
        let env = p.env.iter().flatten().map(|(k, v)| Ok((k.clone(), exp(v, &key(&format!("env.{k}")))?)));
        let file_name = |s: &str| std::path::Path::new(s).file_name().map(|f| f.to_string_lossy().into_owned());
        let name = match &p.name {
            Some(n) => n.get_ref().clone(),
            None => args.first().and_then(|a| file_name(a)).or_else(|| file_name(&command)).unwrap_or_default(),
        };
        if out.iter().any(|o| o.name == name) {
            return Err(err(at, &format!("plugins[{i}]"), &format!("a second plugin named '{name}': set `name`")));
        }
        let (mut before_call, mut after_call) = (false, false);
        for h in p.hooks.iter().flatten() {
            match h.get_ref().as_str() {
                "before_call" => before_call = true,
                "after_call" => after_call = true,
                other => {
                    let msg = format!("must be \"before_call\" or \"after_call\", got \"{other}\"");
                    return Err(err(h.span().start, &key("hooks"), &msg));
                }
            }
        }
        if !before_call && !after_call {
            return Err(err(at, &key("hooks"), "name at least one hook: \"before_call\", \"after_call\""));
        }
        let timeout = match &p.timeout_ms {
            None => Duration::from_millis(200),
            Some(t) if (1..=60_000).contains(t.get_ref()) => Duration::from_millis(*t.get_ref() as u64),
            Some(t) => return Err(err(t.span().start, &key("timeout_ms"), "must be 1-60000")),
        };
        let pass_on_error = match p.on_error.as_ref().map(|o| (o.get_ref().as_str(), o.span().start)) {
            None | Some(("deny", _)) => false,
            Some(("pass", _)) => true,
            Some((other, at)) => {
                return Err(err(at, &key("on_error"), &format!("must be \"deny\" or \"pass\", got \"{other}\"")));
            }
        };
        out.push(PluginConfig {
            name,
            command,
            args,
            env: env.collect::<Result<_, Failure>>()?,
            before_call,
            after_call,
            tools: p.tools.clone().unwrap_or_default(),
            timeout,
            pass_on_error,
        });
    }
    Ok(out)
}
