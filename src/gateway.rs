//! `hub serve`: the gateway. All tools of all servers as ONE MCP server (stdio and/or streamable HTTP at /mcp)
//! plus a small REST API on the same port, over one set of upstream connections shared by every client.
//!
//! Binds 127.0.0.1 by default; a non-loopback bind needs a token. `run(registry, listener, options, shutdown)` is
//! the one entry the binary and the tests share; on `shutdown` it stops accepting, lets in-flight calls finish
//! (bounded) and writes out the audit log, then the caller's frame stops the children.

pub mod browser;
mod downstream;
pub mod guard;
pub mod jwt;
pub mod mcp;
mod offers;
pub mod rest;
pub mod sessions;
pub mod socket;
pub mod stats;
mod stream;
mod watch;
mod ws;

use crate::exit::{self, Failure};
use crate::registry::{CallError, Called, Registry};
use rmcp::ServiceExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Gateway {
    pub registry: Registry,
    pub stats: stats::Stats,
    pub peers: sessions::Peers,
    pub table: sessions::Table,
    /// Which sessions watch which resources.
    pub watchers: watch::Watchers,
    pub started: Instant,
    /// Cancelled when the gateway stops (a signal, or the stdio client leaving when stdio is the only face).
    pub shutdown: CancellationToken,
}

/// The metrics label of a failed call.
pub fn outcome(e: &CallError) -> &'static str {
    match e {
        CallError::UnknownTool { .. } => "unknown_tool",
        CallError::UnknownResource { .. } => "unknown_resource",
        CallError::UnknownPrompt { .. } => "unknown_prompt",
        CallError::BadArguments { .. } => "bad_arguments",
        CallError::Down { .. } => "server_down",
        CallError::Timeout { .. } => "timeout",
        CallError::Cancelled { .. } => "cancelled",
        CallError::Protocol { .. } => "protocol_error",
        CallError::Forbidden { .. } => "forbidden",
        CallError::Denied { .. } => "denied",
    }
}

impl Gateway {
    /// Counts and audits one call (every face calls this once per call): its outcome, under the entry the call
    /// resolved — looked up again only for a failure that carries none — or under `unknown` for a name the index
    /// does not have.
    pub async fn record(
        &self,
        client: &str,
        who: Option<&guard::Who>,
        via: &str,
        requested: &str,
        result: &Result<Called, CallError>,
        took: Duration,
    ) {
        let (outcome, index) = match result {
            Ok(c) => (if c.result.is_error == Some(true) { "tool_error" } else { "ok" }, None),
            Err(e @ CallError::UnknownTool { .. }) => (outcome(e), None),
            Err(e) => (outcome(e), Some(self.registry.index())),
        };
        let label = match (result, &index) {
            (Ok(c), _) => stats::Label { server: &c.entry.server, tool: &c.entry.name },
            (Err(_), Some(index)) => index
                .get(requested)
                .map_or(stats::Label::UNKNOWN, |e| stats::Label { server: &e.server, tool: &e.name }),
            (Err(_), None) => stats::Label::UNKNOWN,
        };
        let (identity, subject) = (who.map(|w| w.name.as_str()), who.and_then(|w| w.subject.as_deref()));
        self.stats.record(stats::Caller { client, identity, subject, via }, requested, label, outcome, took).await;
    }

    /// A call on behalf of `who` (None: no token is needed): outside its policy it is refused (`Forbidden`,
    /// naming the rule) and never run.
    pub async fn call(
        &self,
        who: Option<&guard::Who>,
        name: &str,
        arguments: Option<rmcp::model::JsonObject>,
        cancel: &CancellationToken,
        origin: Option<Arc<dyn crate::registry::origin::Origin>>,
    ) -> Result<Called, CallError> {
        if let Some(who) = who {
            let entry = self.registry.resolve(name)?;
            who.policy.permits(&entry.name, &entry.server, entry.read_only()).map_err(|why| CallError::Forbidden {
                identity: who.name.clone(),
                what: format!("call {}", entry.name),
                why,
            })?;
        }
        self.registry.call_from(name, arguments, cancel, origin).await
    }

    /// Refuses `who` resource `uri` (`act`: "read", "subscribe to") when its policy does not include the server that
    /// offers it. Nothing is looked up unless the policy names servers; an unknown URI is left to the read to report.
    pub fn may_read(
        &self,
        who: Option<&guard::Who>,
        uri: &str,
        server: Option<&str>,
        act: &str,
    ) -> Result<(), CallError> {
        let Some(w) = who.filter(|w| !w.policy.servers.is_empty()) else { return Ok(()) };
        match self.registry.route(uri, server) {
            Ok(s) => Self::may_use(w, &s, || format!("{act} {uri}")),
            Err(_) => Ok(()),
        }
    }

    /// Refuses `who` prompt `name` when its policy does not include the server that offers it (looked up only then).
    pub fn may_prompt(&self, who: Option<&guard::Who>, name: &str) -> Result<(), CallError> {
        let Some(w) = who.filter(|w| !w.policy.servers.is_empty()) else { return Ok(()) };
        match self.registry.prompts().into_iter().find(|o| o.name == name) {
            Some(o) => Self::may_use(w, &o.server, || format!("get prompt {name}")),
            None => Ok(()),
        }
    }

    fn may_use(w: &guard::Who, server: &str, what: impl FnOnce() -> String) -> Result<(), CallError> {
        if w.policy.uses(server) {
            return Ok(());
        }
        let why = format!("its policy does not include server '{server}'");
        Err(CallError::Forbidden { identity: w.name.clone(), what: what(), why })
    }
}

/// `list` (a `--json` document) without the entries of servers `who` may not use: each array's items that name
/// such a `server`.
pub fn only_usable(who: Option<&guard::Who>, mut list: serde_json::Value) -> serde_json::Value {
    let Some(w) = who else { return list };
    if let Some(map) = list.as_object_mut() {
        for items in map.values_mut().filter_map(serde_json::Value::as_array_mut) {
            items.retain(|i| i["server"].as_str().is_none_or(|s| w.policy.uses(s)));
        }
    }
    list
}

/// Whether `who` may see (and call) the tool `e` — every tool when no token is needed.
pub fn visible(who: Option<&guard::Who>, e: &crate::registry::Entry) -> bool {
    who.is_none_or(|w| w.policy.permits(&e.name, &e.server, e.read_only()).is_ok())
}

/// `hub serve` as typed on the command line (its flags are defined here, beside what they configure).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen address for HTTP (MCP at /mcp, REST API); default 127.0.0.1:8080 unless only --stdio
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Serve MCP over stdin/stdout
    #[arg(long)]
    pub stdio: bool,
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

/// What `run` serves, resolved from `ServeArgs` (or built by a test).
pub struct Options {
    pub stdio: bool,
    /// The HTTP guards; used when `run` is given a listener.
    pub guards: guard::Guards,
    pub audit: Option<PathBuf>,
    /// The Unix socket to serve on too (bound already).
    pub socket: Option<socket::Bound>,
    /// MCP-over-HTTP sessions idle this long are closed.
    pub session_idle: Duration,
    /// JWT bearer tokens (`[gateway.auth]`).
    pub jwt: Option<Arc<jwt::Jwt>>,
}

/// Resolves the arguments, binds the listener and runs the gateway until `shutdown`.
pub async fn serve(
    registry: Registry,
    a: ServeArgs,
    identities: &[crate::config::gateway::Identity],
    auth: Option<&crate::config::gateway::Auth>,
    shutdown: CancellationToken,
) -> exit::Result<u8> {
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
        eprintln!("hub serve: http://{bound} — MCP at /mcp; REST at /tools /call /status /healthz /metrics");
        listener = Some(l);
    }
    let jwt = auth.map(|auth| Arc::new(jwt::Jwt::new(auth.clone())));
    let opts = Options { stdio: a.stdio, guards, audit: a.audit, socket, session_idle: a.session_idle, jwt };
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

/// The gateway: MCP over stdio when `opts.stdio`, HTTP (MCP + REST) on `listener` when given, until `shutdown`
/// (or until the stdio client leaves, when stdio is the only face). Then it stops accepting, lets in-flight
/// requests finish (bounded), and writes out the audit log. The registry is the caller's to shut down.
pub async fn run(
    registry: Registry,
    listener: Option<TcpListener>,
    opts: Options,
    shutdown: CancellationToken,
) -> exit::Result<u8> {
    let stats = stats::Stats::new(opts.audit.as_deref()).await.map_err(|e| {
        Failure::usage(format!(
            "cannot open the audit log {}: {e}",
            opts.audit.as_deref().unwrap_or_else(|| "".as_ref()).display()
        ))
    })?;
    let gateway = Arc::new(Gateway {
        registry: registry.clone(),
        stats,
        peers: sessions::Peers::default(),
        table: sessions::Table::new(opts.session_idle),
        watchers: watch::Watchers::default(),
        started: Instant::now(),
        shutdown: shutdown.child_token(),
    });
    gateway.watchers.forward(registry.clone(), gateway.shutdown.clone());
    // Tell every MCP session when servers or their lists change.
    let mut changes = registry.subscribe();
    let (peers, stop, watched) = (gateway.peers.clone(), gateway.shutdown.clone(), registry.clone());
    tokio::spawn(async move {
        let mut fingerprints = sessions::Fingerprints::default();
        fingerprints.update(&watched);
        loop {
            tokio::select! {
                c = changes.changed() => if c.is_err() { break },
                _ = stop.cancelled() => break,
            }
            peers.notify_all(fingerprints.update(&watched)).await;
        }
    });

    let socket_task = opts.socket.map(|bound| socket::serve(bound, gateway.clone(), &opts.guards));
    let http_task = listener.map(|listener| {
        let app = rest::router(gateway.clone(), opts.guards, opts.jwt.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = gateway.shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        })
    });
    let stdio_task = opts.stdio.then(|| {
        let hub = mcp::Hub { gateway: gateway.clone(), via: "mcp-stdio" };
        tokio::spawn(async move {
            match hub.serve(rmcp::transport::stdio()).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(e) => tracing::error!("stdio MCP session failed: {e}"),
            }
        })
    });
    tokio::select! {
        _ = gateway.shutdown.cancelled() => eprintln!("hub serve: shutting down"),
        _ = async {
            match stdio_task {
                Some(t) if http_task.is_none() => { let _ = t.await; }
                _ => std::future::pending::<()>().await,
            }
        } => {}
    }
    gateway.shutdown.cancel();
    if let Some(t) = socket_task {
        let _ = tokio::time::timeout(DRAIN, t).await;
    }
    if let Some(t) = http_task
        && let Ok(Ok(Err(e))) = tokio::time::timeout(DRAIN, t).await
    {
        tracing::error!("http server: {e}");
    }
    gateway.stats.close().await;
    Ok(exit::OK)
}
