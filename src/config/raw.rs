//! servers.toml exactly as written: serde structs that reject unknown keys and keep the byte span of every
//! value that may need an error message later (variables to expand, command/url conflicts).

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type Str = Spanned<String>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub model: Option<RawModel>,
    #[serde(default)]
    pub servers: BTreeMap<String, Spanned<RawServer>>,
    pub defaults: Option<RawDefaults>,
    /// Directories offered to servers as MCP roots (default: the working directory).
    pub roots: Option<Vec<Str>>,
    /// `hub serve`'s named tokens and their policies.
    pub gateway: Option<super::gateway::RawGateway>,
    pub security: Option<RawSecurity>,
    pub plugins: Option<Vec<Spanned<super::plugin::RawPlugin>>>,
    /// What the model is offered: every tool, or a few and a search tool.
    pub tools: Option<RawOffering>,
    /// Code mode: scripts against the tools.
    pub code: Option<RawCode>,
    /// OpenTelemetry export (issue 19).
    pub telemetry: Option<super::telemetry::RawTelemetry>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCode {
    /// Offer `hub__run_code` to the model.
    pub enabled: Option<bool>,
    pub timeout_s: Option<Spanned<i64>>,
    pub memory_mb: Option<Spanned<i64>>,
    pub max_calls: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOffering {
    /// "auto" (default), "all" or "search".
    pub mode: Option<Spanned<String>>,
    /// Index names (globs) always offered in search mode.
    pub pin: Option<Vec<String>>,
    /// Tools offered from the question itself in search mode.
    pub seed: Option<Spanned<i64>>,
    /// In auto mode, search when the index has more tools than this.
    pub search_above: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    /// "enforce" (default), "warn" or "off": what a changed tool definition does.
    pub pin: Option<Spanned<String>>,
    /// "auto" (default), "keyring" or "file": where OAuth secrets go.
    pub token_store: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: Option<Str>,
    pub base_url: Option<Str>,
    pub api_key: Option<Str>,
    pub max_turns: Option<Spanned<i64>>,
    pub system_prompt: Option<Str>,
    pub timeout_s: Option<Spanned<f64>>,
    pub max_retries: Option<Spanned<i64>>,
    /// Bytes of one tool result sent to the model before JSON-aware truncation.
    pub result_budget: Option<Spanned<i64>>,
    /// Bytes of conversation history kept across turns in `hub chat`.
    pub context_budget: Option<Spanned<i64>>,
    pub strict: Option<bool>,
    pub requests_per_minute: Option<Spanned<i64>>,
    /// "auto" (default), "always" or "never": the offline planner's lookups put before the model's first turn.
    pub ground: Option<Spanned<String>>,
    /// Tokens of the model's context, when the endpoint does not say.
    pub context_window: Option<Spanned<i64>>,
    /// Whether replies small models get wrong are repaired (calls written as text, loose arguments).
    pub repair: Option<bool>,
}

/// Defaults every server inherits unless it sets its own.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// For every server that does not set its own.
    pub timeout_s: Option<Spanned<f64>>,
    /// For every server that does not set its own.
    pub startup_timeout_s: Option<Spanned<f64>>,
    /// For every server that does not set its own.
    pub restart: Option<RawRestart>,
    /// Keys every server inherits unless it sets its own (see `limits`).
    pub limits: Option<super::limits::RawLimits>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub command: Option<Str>,
    pub args: Option<Vec<Str>>,
    pub env: Option<BTreeMap<String, Str>>,
    pub cwd: Option<Str>,
    pub url: Option<Str>,
    /// Several addresses of one url server, one replica each (see `replicas`).
    pub urls: Option<Spanned<Vec<Str>>>,
    /// N processes of one command server.
    pub replicas: Option<Spanned<i64>>,
    /// "least_busy" (default) or "sticky".
    pub balance: Option<Spanned<String>>,
    pub headers: Option<BTreeMap<String, Str>>,
    /// "oauth" or "none" (default: OAuth when the server asks for it).
    pub auth: Option<Str>,
    pub oauth: Option<super::oauth::RawOAuth>,
    pub enabled: Option<bool>,
    pub required: Option<bool>,
    pub timeout_s: Option<Spanned<f64>>,
    pub startup_timeout_s: Option<Spanned<f64>>,
    pub tools: Option<RawTools>,
    /// Declarative changes to its tools (`[[servers.NAME.transform]]`).
    pub transform: Option<Vec<Spanned<super::transform::RawTransform>>>,
    pub approve: Option<Spanned<String>>,
    pub sampling: Option<Spanned<String>>,
    /// Tool-name globs that triage may run even though they write (triage is read-only otherwise).
    pub triage_allow: Option<Vec<String>>,
    pub restart: Option<RawRestart>,
    pub limits: Option<super::limits::RawLimits>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTools {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    /// Its tools (own names, globs) always offered in search mode (`[tools] pin` with this server's prefix).
    pub pin: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub max_restarts: Option<u32>,
    pub backoff_ms: Option<u64>,
    pub max_backoff_ms: Option<u64>,
    pub stable_s: Option<u64>,
    /// Stop restarting after `max_restarts` even in a long-running face (serve, chat).
    pub give_up: Option<bool>,
}
