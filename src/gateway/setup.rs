//! `hub serve`'s command line: its flags (`ServeArgs`) and their resolution into the gateway's `Options` — the
//! listen address and the refusal of a non-loopback bind without a token, the Unix socket, the rate limit's
//! default, the sealed-session key (`HUB_SESSION_KEY`) and the fleet's Redis — then `run`.

use super::{Options, browser, guard, jwt, run, seal, socket};
use crate::exit::{self, Failure};
use crate::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `hub serve` as typed on the command line (its flags are defined here, beside what they configure).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen address for HTTP (MCP at /mcp, REST API); default 127.0.0.1:8080 unless only --stdio
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Serve MCP over stdin/stdout
    #[arg(long)]
    pub stdio: bool,
    /// The MCP face over stdio: every tool (full), or the pinned ones and a search for the rest (search); over
    /// HTTP both are served, at /mcp and /mcp/search
    #[arg(long, value_enum, default_value_t = super::profile::Profile::Full)]
    pub profile: super::profile::Profile,
    /// Bearer token required on every HTTP route but /healthz (required for non-loopback binds)
    #[arg(long, env = "HUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Bearer token of the operator routes (POST /servers/NAME/restart, /stop); they are off without one
    #[arg(long, env = "HUB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Append one JSON line per tool call to this file
    #[arg(long, value_name = "FILE", env = "HUB_AUDIT_LOG")]
    pub audit: Option<PathBuf>,
    /// Largest accepted request body in bytes (413 above)
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576)]
    pub body_limit: usize,
    /// Requests per second per client (429 above; 0 = off; default off on loopback, 50 otherwise)
    #[arg(long, value_name = "RPS")]
    pub rate_limit: Option<f64>,
    /// Extra Host names accepted (every route answers only to loopback names, the bound address and these)
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Browser Origins accepted, with CORS for them (a request carrying any other Origin is refused, 403)
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Also listen on this Unix socket, for this user's hub commands to attach to (default:
    /// $XDG_RUNTIME_DIR/hub/hub.sock when HTTP is served)
    #[arg(long, value_name = "PATH", conflicts_with = "no_socket")]
    pub socket: Option<PathBuf>,
    /// No Unix socket
    #[arg(long)]
    pub no_socket: bool,
    /// The fleet's Redis (overrides `[gateway] redis`): cluster-wide rate limits, list changes between replicas
    #[arg(long, value_name = "URL", env = "HUB_REDIS")]
    pub redis: Option<String>,
    /// MCP-over-HTTP sessions idle this many seconds are closed and forgotten
    #[arg(long = "session-idle", value_name = "SECS", default_value = "1800", value_parser = seconds)]
    pub session_idle: Duration,
}

/// A whole number of seconds, 1 to a week.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(n @ 1..=604_800) => Ok(Duration::from_secs(n)),
        _ => Err(format!("'{text}' is not a number of seconds between 1 and 604800")),
    }
}

/// Resolves the arguments, binds the listener and runs the gateway until `shutdown`.
pub async fn serve(
    registry: Registry,
    a: ServeArgs,
    config: &crate::config::Config,
    shutdown: CancellationToken,
) -> exit::Result<u8> {
    let (identities, auth, redis) = (&config.identities, config.auth.as_ref(), config.redis.as_deref());
    let sealer = seal::Sealer::from_env().map_err(Failure::usage)?;
    let cluster = match a.redis.as_deref().or(redis) {
        Some(url) => Some(super::cluster::Cluster::new(url).map_err(Failure::usage)?),
        None => None,
    };
    let http = match (&a.http, a.stdio) {
        (Some(addr), _) => Some(addr.clone()),
        (None, true) => None,
        (None, false) => Some("127.0.0.1:8080".to_string()),
    };
    let mut guards = guard::Guards {
        token: a.token.clone(),
        admin_token: a.admin_token.clone(),
        body_limit: a.body_limit,
        rate: None,
        allowed_hosts: vec![],
        allowed_origins: a.allow_origins.clone(),
        identities: identities.to_vec(),
        jwt: auth.is_some(),
    };
    for i in identities {
        if let Some(Err(e)) = &i.token {
            return Err(Failure::usage(e.clone()));
        }
    }
    warn_policies(&registry, identities);
    // The socket is on whenever HTTP is served (a stdio-only gateway belongs to the host that launched it).
    let socket = match (&a.socket, a.no_socket) {
        (_, true) => None,
        (Some(path), _) => Some(path.clone()),
        (None, _) if http.is_some() => Some(crate::attach::default_socket()),
        (None, _) => None,
    };
    let socket = match socket {
        Some(path) => {
            let bound = socket::bind(&path).await?;
            eprintln!("hub serve: socket {} — hub commands of this user attach to it", path.display());
            Some(bound)
        }
        None => None,
    };
    let mut listener = None;
    if let Some(addr) = http {
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| Failure::usage(format!("--http: '{addr}' is not an address like 127.0.0.1:8080")))?;
        let loopback = addr.ip().is_loopback();
        if !loopback && a.token.is_none() && identities.iter().all(|i| i.token.is_none()) && auth.is_none() {
            return Err(Failure::usage(format!(
                "refusing to bind {addr} (not loopback) without a token: set --token or HUB_TOKEN, or [gateway.tokens]"
            )));
        }
        guards.allowed_hosts = browser::LOOPBACK.iter().map(|h| h.to_string()).collect();
        if !loopback {
            guards.allowed_hosts.push(addr.ip().to_string());
        }
        guards.allowed_hosts.extend(a.allow_hosts.iter().cloned());
        guards.rate = match a.rate_limit {
            Some(r) if r > 0.0 => Some(r),
            Some(_) => None,
            None if loopback => None,
            None => Some(50.0),
        };
        let l = TcpListener::bind(addr).await.map_err(|e| Failure::runtime(format!("cannot listen on {addr}: {e}")))?;
        let bound = l.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
        eprintln!(
            "hub serve: http://{bound} — MCP at /mcp (search profile: /mcp/search); REST at /tools /call /status /healthz /metrics"
        );
        listener = Some(l);
    }
    let jwt = auth.map(|auth| Arc::new(jwt::Jwt::new(auth.clone())));
    let session_idle = a.session_idle;
    let pins = config.model.tools.pin.clone();
    let (stdio, profile) = (a.stdio, a.profile);
    let code = super::code::limits(config);
    let opts =
        Options { stdio, profile, pins, code, guards, audit: a.audit, socket, session_idle, jwt, sealer, cluster };
    run(registry, listener, opts, shutdown).await
}

/// Warns (stderr) about a token policy that names servers that are not configured or globs that match no tool.
fn warn_policies(registry: &Registry, identities: &[crate::config::gateway::Identity]) {
    let index = registry.index();
    for i in identities {
        for s in i.policy.servers.iter().filter(|s| registry.server(s).is_none()) {
            eprintln!("hub serve: warning: token '{}' names server '{s}', which is not configured", i.name);
        }
        for g in i.policy.allow.iter().chain(&i.policy.deny) {
            if !index.entries().iter().any(|e| crate::config::glob(g, &e.name)) {
                eprintln!("hub serve: warning: token '{}': '{g}' matches no tool", i.name);
            }
        }
    }
}
