//! Attaching to a running hub: `hub ask`, `chat`, `triage`, `tools`, `call` and `status` use the servers a
//! `hub serve` already has up — found on its Unix socket (`$XDG_RUNTIME_DIR/hub/hub.sock`), or named with
//! `--hub URL|PATH` / `HUB_URL` — instead of starting their own; with none there they start their own, and
//! `--no-hub` always does.
//!
//! The attached registry has one server, the hub, connected over MCP like any url server (one session, one
//! listing); its tools keep the hub's names and the servers behind them (`Index::add_flat`), so the index, the
//! routing, the supervision and the errors are the hub's, while the model loop and the approvals stay here
//! (approval settings come from this side's configuration of those servers). The hub is a required server that
//! is never restarted: if it goes away the question fails at once, and the next command starts its own servers.

use crate::config::{Config, ServerConfig, Transport, oauth};
use crate::exit::{self, Failure};
use crate::registry::Registry;
use std::path::PathBuf;
use std::time::Duration;

/// The name of the connection to the hub in the attached registry.
pub const NAME: &str = "hub";

/// Whether a command uses a running hub.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Hub {
    /// The default socket when a hub answers there, else the command's own servers.
    Auto,
    /// Always the command's own servers (`--no-hub`; also `serve` and `doctor`).
    #[default]
    Off,
    /// This hub (`--hub`, `HUB_URL`): a URL, or the path of a socket. Not reaching it is an error.
    At(String),
}

/// Where `hub serve` listens for this user by default, and where commands look for it.
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("hub/hub.sock"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => std::env::temp_dir().join(format!("hub-{}", unsafe { libc::getuid() })).join("hub.sock"),
    }
}

/// The URL of the hub `config.hub` names (`unix://PATH` or http(s)), or of the default socket when something
/// takes connections there; None when the command is to use its own servers.
async fn target(config: &Config) -> Option<String> {
    match &config.hub {
        Hub::Off => None,
        Hub::Auto => {
            let socket = default_socket();
            // Only a socket that takes a connection is worth a handshake; a stale file is not.
            let live = tokio::net::UnixStream::connect(&socket).await.is_ok();
            live.then(|| format!("unix://{}", socket.display()))
        }
        Hub::At(hub) if hub.starts_with("http://") || hub.starts_with("https://") => {
            let base = hub.trim_end_matches('/');
            Some(if base.ends_with("/mcp") { base.to_string() } else { format!("{base}/mcp") })
        }
        Hub::At(path) => Some(format!("unix://{path}")),
    }
}

/// The registry a command runs on: the running hub's when `config.hub` finds one, else its own servers.
pub async fn start(config: &Config) -> exit::Result<Registry> {
    let Some(url) = target(config).await else {
        if config.hub == Hub::Auto {
            tracing::info!("no hub answers on {}; starting the servers here", default_socket().display());
        }
        return Ok(Registry::start(config).await);
    };
    let attached = Config { servers: vec![server(config, &url)], behind: config.servers.clone(), ..config.clone() };
    let registry = Registry::start(&attached).await;
    let Some((_, why)) = registry.required_down().into_iter().next() else {
        tracing::info!("attached to the hub at {url}");
        return Ok(registry);
    };
    registry.shutdown().await;
    match &config.hub {
        Hub::At(hub) => Err(Failure::runtime(format!("no hub answers at {hub}: {why}"))),
        _ => {
            tracing::info!("the hub at {url} did not answer ({why}); starting the servers here");
            Ok(Registry::start(config).await)
        }
    }
}

/// The connection to the hub at `url` (`unix://PATH` or http(s)): required, never restarted, its calls bounded
/// by the hub's own deadlines (this side waits longer than any of them).
fn server(config: &Config, url: &str) -> ServerConfig {
    let mut headers = vec![];
    if let Some(token) = std::env::var("HUB_TOKEN").ok().filter(|t| !t.is_empty() && !url.starts_with("unix://")) {
        headers.push(("Authorization".to_string(), format!("Bearer {token}")));
    }
    let longest = config.servers.iter().map(|s| s.timeout).max().unwrap_or(Duration::from_secs(60));
    ServerConfig {
        name: NAME.to_string(),
        transport: Transport::Http {
            url: url.to_string(),
            headers,
            auth: oauth::HttpAuth::None,
            oauth: oauth::OAuthClient::default(),
        },
        enabled: true,
        required: true,
        timeout: longest * 2 + Duration::from_secs(30),
        startup_timeout: Duration::from_secs(5),
        allow: vec![],
        deny: vec![],
        transforms: vec![],
        approve: crate::config::Approve::Ask,
        sampling: crate::config::Approve::Ask,
        triage_allow: vec![],
        restart: never_restart(),
        limits: Default::default(),
        replicas: Default::default(),
        flatten: true,
    }
}

fn never_restart() -> crate::config::RestartPolicy {
    crate::config::RestartPolicy {
        max_restarts: 0,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
        stable: Duration::from_secs(60),
        give_up: Some(true),
    }
}

/// Why the question in progress cannot go on: a required server went down during it — the hub this command
/// attached to, or one of its own required servers.
pub fn lost(registry: &Registry) -> Option<String> {
    let (name, why) = registry.required_down().into_iter().next()?;
    Some(match name == NAME {
        true => format!("the hub went away during the question ({why}); the next command starts its own servers"),
        false => format!("required server '{name}' went down during the question: {why}"),
    })
}

/// How a registry reaches its servers: `"hub <path or url>"` when attached, else `"spawned"`.
pub fn via(registry: &Registry) -> String {
    let hub = registry.servers().iter().find(|s| s.cfg.flatten).map(|s| match &s.cfg.transport {
        Transport::Http { url, .. } => url.strip_prefix("unix://").unwrap_or(url).to_string(),
        Transport::Stdio { command, .. } => command.clone(),
    });
    hub.map_or_else(|| "spawned".to_string(), |h| format!("hub {h}"))
}

/// The servers behind the hub a registry is attached to, as the hub reports them (none when not attached, or
/// when the hub does not answer — the command's own error then says so).
pub async fn behind(registry: &Registry) -> Vec<crate::registry::Status> {
    match registry.servers().iter().find(|s| s.cfg.flatten) {
        Some(hub) => statuses(&hub.cfg, false).await.unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The hub's own `/status` (pinging its servers when `ping`), for `hub status` and `/servers` when attached.
pub async fn statuses(hub: &ServerConfig, ping: bool) -> Result<Vec<crate::registry::Status>, String> {
    let (status, mut doc) = get(hub, &format!("/status?ping={ping}")).await?;
    if status != 200 {
        return Err(format!("the hub's /status answered {status}"));
    }
    serde_json::from_value(doc["servers"].take()).map_err(|e| format!("the hub's /status: {e}"))
}

/// A tool search made by the running hub `config.hub` finds (its index, its servers' states), so the command
/// neither connects over MCP, nor lists every tool, nor builds a search index of its own. None when there is no
/// hub to ask or it cannot be asked (the command then starts as any other, and searches its own index); `Err` with
/// the hub's reason for a bad search.
pub async fn search(config: &Config, ask: &crate::search::found::Ask<'_>) -> Option<Result<serde_json::Value, String>> {
    let url = target(config).await?;
    let hub = server(config, &url);
    let mut query = vec![("q", ask.query.to_string()), ("limit", ask.limit.to_string())];
    query.extend(ask.server.map(|s| ("server", s.to_string())));
    let encoded = reqwest::Url::parse_with_params("http://hub/tools/search", &query).ok()?;
    let (status, mut doc) = get(&hub, &format!("/tools/search?{}", encoded.query().unwrap_or_default())).await.ok()?;
    match status {
        200 => {
            doc["via"] = format!("hub {}", url.strip_prefix("unix://").unwrap_or(&url)).into();
            Some(Ok(doc))
        }
        400 => Some(Err(doc["error"].as_str().unwrap_or("the hub refused the search").to_string())),
        _ => None,
    }
}

/// GET `path` from the hub `hub` names (its Unix socket, or its URL), with its headers: the status and the JSON.
async fn get(hub: &ServerConfig, path: &str) -> Result<(u16, serde_json::Value), String> {
    let Transport::Http { url, headers, .. } = &hub.transport else { return Err("not a hub".into()) };
    let (client, base) = match url.strip_prefix("unix://") {
        Some(path) => (crate::registry::unix_client(std::path::Path::new(path)), "http://localhost"),
        None => (reqwest::Client::new(), url.trim_end_matches("/mcp")),
    };
    let mut request = client.get(format!("{base}{path}")).timeout(Duration::from_secs(10));
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.map_err(|e| e.to_string())?))
}
