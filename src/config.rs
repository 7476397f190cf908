//! Configuration: finding servers.toml, parsing it strictly, expanding variables, and resolving it once into
//! the validated `Config` the rest of hub uses. Every error names the file, line and key (exit 2).
//!
//! Owns: discovery, validation, defaults. Not: connecting (see `registry`), the model client (see `llm`).

mod expand;
pub mod gateway;
pub mod import;
pub mod init;
mod limits;
pub mod oauth;
mod offering;
pub mod plugin;
mod raw;
pub mod replicas;
mod resolve;
pub mod telemetry;
pub mod transform;

pub use expand::expand;
pub use limits::Limits;
pub use resolve::Ground;

use crate::exit::Failure;
pub use offering::{Approve, Code, Offering, ToolMode};
use raw::{RawConfig, RawServer};
use resolve::{locate, model, one_of, restart, secs, secs_or};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The repo's servers.toml, compiled in: used when no config file is found.
pub const BUILTIN: &str = include_str!("../servers.toml");
pub const OPENAI_DEFAULT_BASE: &str = "https://api.openai.com/v1";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path, or "built-in default".
    pub origin: String,
    pub model: ModelConfig,
    /// Enabled and disabled servers, sorted by name (the index order).
    pub servers: Vec<ServerConfig>,
    /// The face runs for long (serve, chat): servers are restarted forever unless `restart.give_up`.
    pub long_running: bool,
    /// The face is the gateway: what servers ask of their client goes to the downstream client of the call.
    pub serving: bool,
    /// The directories offered to servers as MCP roots (`roots = [...]`; empty: the working directory).
    pub roots: Vec<std::path::PathBuf>,
    /// `hub serve`'s named tokens (`[gateway.tokens.NAME]`), each with its policy.
    pub identities: Vec<gateway::Identity>,
    /// `[gateway.auth]`: JWT bearer tokens mapped to those policies.
    pub auth: Option<gateway::Auth>,
    /// `[gateway] redis`: the fleet's shared Redis.
    pub redis: Option<String>,
    /// `[security] pin`: what a changed tool definition does (see `registry::pins`).
    pub pin: PinMode,
    /// `[security] token_store`: where OAuth secrets go (see `auth::vault`).
    pub token_store: crate::auth::vault::Mode,
    /// `[[plugins]]`: processes that see, rewrite or deny calls (see `registry::plugin`).
    pub plugins: Vec<plugin::PluginConfig>,
    /// Attached to another hub (`attach`): the servers behind it as this configuration describes them, for the
    /// settings that stay on this side (approval, triage_allow). Empty otherwise.
    pub behind: Vec<ServerConfig>,
    /// Whether the command uses a running hub instead of starting the servers itself.
    pub hub: crate::attach::Hub,
    /// `[telemetry]` / `OTEL_*`: where traces and metrics go; `None` when off (the default).
    pub telemetry: Option<telemetry::Telemetry>,
}

/// `[security] pin = "enforce" | "warn" | "off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinMode {
    /// A changed tool is withheld until accepted (the default).
    #[default]
    Enforce,
    /// A changed tool is kept, with a warning.
    Warn,
    /// Definitions are not checked.
    Off,
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    /// True when a key or a non-default endpoint is configured.
    pub configured: bool,
    /// The offline planner answers: no model is configured, or `--offline`.
    pub offline: bool,
    pub max_turns: u32,
    pub system_prompt: Option<String>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub result_budget: usize,
    pub context_budget: usize,
    pub strict: bool,
    pub requests_per_minute: Option<u32>,
    /// Whether the offline planner's lookups start the conversation (see `agent::ground`).
    pub ground: Ground,
    /// The model's context in tokens when the endpoint does not say; whether small models' replies are repaired.
    pub context_window: Option<u32>,
    pub repair: bool,
    /// `[tools]`: every tool in every request, or a few and a search tool.
    pub tools: Offering,
    /// `[code]`: scripts against the tools.
    pub code: Code,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Stdio { command: String, args: Vec<String>, env: Vec<(String, String)>, cwd: Option<PathBuf> },
    Http { url: String, headers: Vec<(String, String)>, auth: oauth::HttpAuth, oauth: oauth::OAuthClient },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    pub max_restarts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Up this long without a crash resets the backoff and the crash count.
    pub stable: Duration,
    /// Whether the crash-loop cap ends the restarts for good; `None`: the face decides (one-shot commands give
    /// up, long-running ones — serve, chat — keep trying at `max_backoff`).
    pub give_up: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub name: String,
    pub transport: Transport,
    pub enabled: bool,
    /// Commands refuse to run (exit 2) while a required server is down; /healthz answers 503.
    pub required: bool,
    /// The deadline of one call.
    pub timeout: Duration,
    /// The deadline of connecting: spawn, initialize, first listing.
    pub startup_timeout: Duration,
    /// Tool-name globs: only these are indexed (all when empty); `deny` wins.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// Declarative changes to its tools, in the order written (see `transform`).
    pub transforms: Vec<transform::Transform>,
    pub approve: Approve,
    /// Whether the server's `sampling/createMessage` requests are answered with hub's model: after the user
    /// approves (ask; refused with no person present), always, or never.
    pub sampling: Approve,
    pub triage_allow: Vec<String>,
    pub restart: RestartPolicy,
    /// What hub accepts from it (message size, tools, descriptions, schemas).
    pub limits: Limits,
    /// How many processes or addresses serve it, and how calls pick one.
    pub replicas: replicas::Replicas,
    /// Another hub (`attach`): its tools keep the names and servers that hub gives them.
    pub flatten: bool,
}

impl ServerConfig {
    /// Whether the allow/deny globs let tool `name` through (deny wins).
    pub fn permits(&self, tool: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| glob(g, tool))) && !self.deny.iter().any(|g| glob(g, tool))
    }
}

/// `*` (any run) and `?` (one character) matching; on bytes when both are ASCII (tool names: no allocation, it
/// runs for every tool a gateway policy filters), else on characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return glob_in(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    glob_in(&p, &t, '*', '?')
}

fn glob_in<T: PartialEq + Copy>(p: &[T], t: &[T], many: T, one: T) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            (pi, ti) = (pi + 1, ti + 1);
        } else if pi < p.len() && p[pi] == many {
            (star, mark, pi) = (Some(pi), ti, pi + 1);
        } else if let Some(s) = star {
            (pi, mark, ti) = (s + 1, mark + 1, mark + 1);
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == many)
}

/// What the command line says about the model, applied once on top of the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub model: Option<String>,
    pub max_turns: Option<u32>,
    /// Use the offline planner even if a model is configured.
    pub offline: bool,
    pub requests_per_minute: Option<u32>,
    /// `--code`: offer the model `hub__run_code`.
    pub code: bool,
    /// The face runs for long (serve, chat); see `Config::long_running`.
    pub long_running: bool,
    /// The face is the gateway; see `Config::serving`.
    pub serving: bool,
    /// Whether to use a running hub (`--hub`, `--no-hub`; see `attach`).
    pub hub: crate::attach::Hub,
}

impl Config {
    /// The configuration with the command line's overrides applied (flags win).
    pub fn with(mut self, o: &Overrides) -> Config {
        let m = &mut self.model;
        if let Some(name) = &o.model {
            m.name = name.clone();
        }
        m.max_turns = o.max_turns.unwrap_or(m.max_turns);
        m.code.enabled |= o.code;
        m.requests_per_minute = o.requests_per_minute.or(m.requests_per_minute);
        m.offline |= o.offline;
        self.long_running = o.long_running;
        self.hub = o.hub.clone();
        self.serving = o.serving;
        self
    }
}

/// Finds and loads the configuration: `--config`, `./servers.toml`, `$XDG_CONFIG_HOME/hub/servers.toml`,
/// the built-in default; then applies the command line's overrides.
pub fn load(explicit: Option<&Path>, overrides: &Overrides) -> Result<Config, Failure> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => candidates().into_iter().find(|p| p.is_file()),
    };
    let config = match path {
        None => parse(BUILTIN, "built-in default", &expand::process_env)?,
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let next = match e.kind() {
                    std::io::ErrorKind::NotFound => format!("; `hub init {}` writes one to start from", path.display()),
                    _ => String::new(),
                };
                Failure::usage(format!("cannot read config {}: {e}{next}", path.display()))
            })?;
            parse(&text, &path.display().to_string(), &expand::process_env)?
        }
    };
    Ok(config.with(overrides))
}

/// Where hub looks for servers.toml without `--config`, in order.
pub fn candidates() -> Vec<PathBuf> {
    vec![
        PathBuf::from("servers.toml"),
        hub_servers::store::xdg_dir("XDG_CONFIG_HOME", ".config").join("hub/servers.toml"),
    ]
}

/// Parses config `text` from `origin` with variables looked up in `env`.
pub fn parse(text: &str, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Failure> {
    let err = |at: usize, key: &str, msg: &str| {
        let (line, col, section) = locate(text, at);
        let key = match (section, key.is_empty()) {
            (Some(s), true) => format!(" in {s}"),
            (_, false) => format!(" {key}"),
            (None, true) => String::new(),
        };
        Failure::usage(format!("{origin}:{line}:{col}:{key}: {msg}"))
    };
    let line_of = |at: usize| format!("{origin}:{}", locate(text, at).0);
    let raw: RawConfig = toml::from_str(text).map_err(|e| err(e.span().map_or(0, |s| s.start), "", e.message()))?;
    let exp = |s: &raw::Str, key: &str| expand(s.get_ref(), env).map_err(|m| err(s.span().start, key, &m));
    let defaults = raw.defaults.unwrap_or_default();
    let default_timeout = secs(defaults.timeout_s.as_ref(), 30.0, "defaults.timeout_s", &err)?;
    let default_startup = secs(defaults.startup_timeout_s.as_ref(), 10.0, "defaults.startup_timeout_s", &err)?;
    let default_restart = defaults.restart.unwrap_or_default();

    let mut servers = Vec::new();
    for (name, spanned) in &raw.servers {
        let at = spanned.span().start;
        let key = |k: &str| format!("servers.{name}.{k}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(err(at, &format!("servers.{name}"), "server ids may use letters, digits, '_' and '-' only"));
        }
        let s: &RawServer = spanned.get_ref();
        let replicas = replicas::resolve(name, s, &exp, &err)?;
        let transport = match (&s.command, replicas::first_url(s)) {
            (Some(_), Some(_)) => {
                return Err(err(at, &format!("servers.{name}"), "set either command or url, not both"));
            }
            (None, None) => {
                return Err(err(at, &format!("servers.{name}"), "set command (stdio) or url (streamable HTTP)"));
            }
            (Some(cmd), None) => {
                if s.headers.is_some() || s.auth.is_some() || s.oauth.is_some() {
                    return Err(err(
                        at,
                        &format!("servers.{name}"),
                        "headers, auth and oauth apply to url servers only",
                    ));
                }
                let args = s.args.iter().flatten().map(|a| exp(a, &key("args"))).collect::<Result<_, _>>()?;
                let env_pairs =
                    s.env.iter().flatten().map(|(k, v)| Ok((k.clone(), exp(v, &key(&format!("env.{k}")))?)));
                let cwd = s.cwd.as_ref().map(|c| exp(c, &key("cwd")).map(PathBuf::from)).transpose()?;
                let command = exp(cmd, &key("command"))?;
                if command.trim().is_empty() {
                    return Err(err(cmd.span().start, &key("command"), "must not be empty"));
                }
                Transport::Stdio { command, args, env: env_pairs.collect::<Result<_, Failure>>()?, cwd }
            }
            (None, Some(url)) => {
                if s.args.is_some() || s.env.is_some() || s.cwd.is_some() {
                    return Err(err(at, &format!("servers.{name}"), "args, env and cwd apply to command servers only"));
                }
                oauth::http(name, url, s, &exp, &err)?
            }
        };
        let policy =
            |value: &Option<toml::Spanned<String>>, name: &str| match value.as_ref().map(|a| a.get_ref().as_str()) {
                None | Some("ask") => Ok(Approve::Ask),
                Some("always") => Ok(Approve::Always),
                Some("never") => Ok(Approve::Never),
                Some(other) => {
                    let at = value.as_ref().map_or(at, |a| a.span().start);
                    Err(err(at, &key(name), &format!("must be \"ask\", \"always\" or \"never\", got \"{other}\"")))
                }
            };
        let (approve, sampling) = (policy(&s.approve, "approve")?, policy(&s.sampling, "sampling")?);
        let tools = s.tools.as_ref();
        servers.push(ServerConfig {
            name: name.clone(),
            transport,
            enabled: s.enabled.unwrap_or(true),
            required: s.required.unwrap_or(false),
            timeout: secs_or(s.timeout_s.as_ref(), default_timeout, &key("timeout_s"), &err)?,
            startup_timeout: secs_or(s.startup_timeout_s.as_ref(), default_startup, &key("startup_timeout_s"), &err)?,
            allow: tools.and_then(|t| t.allow.clone()).unwrap_or_default(),
            deny: tools.and_then(|t| t.deny.clone()).unwrap_or_default(),
            transforms: transform::resolve(name, s.transform.as_deref().unwrap_or_default(), &line_of, &err)?,
            approve,
            sampling,
            triage_allow: s.triage_allow.clone().unwrap_or_default(),
            restart: restart(s.restart.as_ref().unwrap_or(&default_restart), &default_restart),
            limits: limits::resolve(s.limits.as_ref(), defaults.limits.as_ref(), &format!("servers.{name}."), &err)?,
            replicas,
            flatten: false,
        });
    }
    let mut model = model(raw.model.unwrap_or_default(), env, &exp, &err)?;
    model.tools = offering::resolve(raw.tools.unwrap_or_default(), &err)?;
    model.code = offering::resolve_code(raw.code.unwrap_or_default(), &err)?;
    // A server's own pins, as index names (`server__tool`).
    for (name, s) in &raw.servers {
        let pins = s.get_ref().tools.as_ref().and_then(|t| t.pin.as_ref()).into_iter().flatten();
        model.tools.pin.extend(pins.map(|p| format!("{name}__{p}")));
    }
    let mut roots = Vec::new();
    for r in raw.roots.iter().flatten() {
        let path = std::path::PathBuf::from(exp(r, "roots")?);
        if !path.is_absolute() {
            return Err(err(r.span().start, "roots", "must be an absolute path"));
        }
        roots.push(path);
    }
    let (identities, auth, redis) = gateway::resolve(raw.gateway, env, &err)?;
    let security = raw.security.unwrap_or_default();
    let pins = [("enforce", PinMode::Enforce), ("warn", PinMode::Warn), ("off", PinMode::Off)];
    let pin = one_of(security.pin.as_ref(), "security.pin", &pins, &err)?;
    use crate::auth::vault::Mode;
    let stores = [("auto", Mode::Auto), ("keyring", Mode::Keyring), ("file", Mode::File)];
    let token_store = one_of(security.token_store.as_ref(), "security.token_store", &stores, &err)?;
    let plugins = plugin::resolve(raw.plugins.as_deref().unwrap_or_default(), &exp, &err)?;
    let telemetry = telemetry::resolve(raw.telemetry, env, &err)?;
    let (long_running, serving) = (false, false);
    Ok(Config {
        origin: origin.to_string(),
        model,
        servers,
        long_running,
        serving,
        roots,
        identities,
        auth,
        redis,
        pin,
        token_store,
        plugins,
        behind: Vec::new(),
        hub: crate::attach::Hub::Off,
        telemetry,
    })
}

type ErrAt<'a> = dyn Fn(usize, &str, &str) -> Failure + 'a;

#[cfg(test)]
mod tests;
