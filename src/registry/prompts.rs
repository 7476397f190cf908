//! Prompts through the registry: every server's prompts (as last listed) under namespaced names
//! (`server__prompt`, like tools; `server.prompt` is accepted too), and getting one filled in from the server
//! that offers it. Arguments are checked against the prompt's listing before anything is sent: a missing
//! required argument, an unknown one or a value that is not a string is the caller's error, named.

use super::{CallError, Registry};
use rmcp::model::{GetPromptRequestParams, GetPromptResult, JsonObject, Prompt};

/// A prompt as the registry offers it: its namespaced name, its server and the prompt as the server listed it.
#[derive(Debug, Clone)]
pub struct Offered {
    pub name: String,
    pub server: String,
    pub prompt: Prompt,
}

impl Registry {
    /// Every server's prompts, in server order, each under its namespaced name.
    pub fn prompts(&self) -> Vec<Offered> {
        let each = |s: &super::Server| s.listed(|l| l.prompts.clone());
        let named = |s: &super::Server, p: Prompt| Offered {
            name: format!("{}__{}", s.cfg.name, p.name),
            server: s.cfg.name.clone(),
            prompt: p,
        };
        self.servers().iter().flat_map(|s| each(s).into_iter().map(|p| named(s, p))).collect()
    }

    /// The prompt called `name` (`server__prompt` or `server.prompt`).
    pub fn prompt(&self, name: &str) -> Result<Offered, CallError> {
        let all = self.prompts();
        let wanted = |o: &Offered| o.name == name || format!("{}.{}", o.server, o.prompt.name) == name;
        if let Some(found) = all.iter().find(|o| wanted(o)) {
            return Ok(found.clone());
        }
        let lower = name.replace('.', "__").to_lowercase();
        let mut scored: Vec<(usize, String)> = all
            .iter()
            .map(|o| (super::index::distance(&lower, &o.name.to_lowercase()), o.name.clone()))
            .filter(|(d, n)| *d <= (n.len() / 3).max(3) || n.to_lowercase().contains(&lower))
            .collect();
        scored.sort();
        let suggestions = scored.into_iter().take(3).map(|(_, n)| n).collect();
        Err(CallError::UnknownPrompt { name: name.to_string(), suggestions })
    }

    /// The prompt `name` filled in with `arguments` by its server, under that server's deadline.
    pub async fn get_prompt(&self, name: &str, arguments: JsonObject) -> Result<(Offered, GetPromptResult), CallError> {
        let offered = self.prompt(name)?;
        check_arguments(&offered, &arguments)?;
        let mut params = GetPromptRequestParams::new(offered.prompt.name.clone());
        if !arguments.is_empty() {
            params = params.with_arguments(arguments);
        }
        let what = format!("prompt {}", offered.name);
        let result = self.upstream(&offered.server, &what, |peer| async move { peer.get_prompt(params).await }).await?;
        Ok((offered, result))
    }
}

/// Arguments against the prompt's listing: every required one given, none unknown, each a string (MCP prompt
/// arguments are strings).
fn check_arguments(offered: &Offered, arguments: &JsonObject) -> Result<(), CallError> {
    let bad = |why: String| CallError::BadArguments { name: offered.name.clone(), why };
    let listed = offered.prompt.arguments.as_deref().unwrap_or_default();
    let missing: Vec<&str> = listed
        .iter()
        .filter(|a| a.required == Some(true) && !arguments.contains_key(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    if !missing.is_empty() {
        let all: Vec<String> = listed.iter().map(describe).collect();
        return Err(bad(format!("missing required argument {} (it takes {})", missing.join(", "), all.join(", "))));
    }
    if let Some(unknown) = arguments.keys().find(|k| !listed.iter().any(|a| &a.name == *k)) {
        let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
        let takes = if names.is_empty() { "no arguments".to_string() } else { names.join(", ") };
        return Err(bad(format!("unknown argument '{unknown}' (it takes {takes})")));
    }
    match arguments.iter().find(|(_, v)| !v.is_string()) {
        Some((k, v)) => Err(bad(format!("argument '{k}' must be a string, got {}", crate::output::json_kind(v)))),
        None => Ok(()),
    }
}

/// `name` or `name?` (optional), for error messages and listings.
pub fn describe(a: &rmcp::model::PromptArgument) -> String {
    if a.required == Some(true) { a.name.clone() } else { format!("{}?", a.name) }
}
