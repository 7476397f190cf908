//! `hub serve`: the gateway. All tools of all servers as ONE MCP server (stdio and/or streamable HTTP at /mcp)
//! plus a small REST API on the same port, over one set of upstream connections shared by every client.
//!
//! Binds 127.0.0.1 by default; a non-loopback bind needs a token. `run(registry, listener, options, shutdown)` is
//! the one entry the binary and the tests share; on `shutdown` it stops accepting, lets in-flight calls finish
//! (bounded) and writes out the audit log, then the caller's frame stops the children.

pub mod browser;
pub mod cluster;
pub mod code;
mod downstream;
mod fast;
mod fleet;
pub mod guard;
pub mod jwt;
pub mod mcp;
mod offers;
pub mod profile;
pub mod rest;
pub mod seal;
pub mod sessions;
mod setup;
pub mod socket;
pub mod stats;
mod stream;
mod watch;
mod ws;

pub use setup::{ServeArgs, serve};

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
    /// Sealed session ids (`HUB_SESSION_KEY`), so that any replica serves any session.
    pub sealed: Option<Arc<seal::Store>>,
    /// The fleet's Redis: cluster-wide rate limits, `list_changed` between replicas.
    pub cluster: Option<Arc<cluster::Cluster>>,
    /// `[tools] pin`: the tools the search profile lists besides its own.
    pub pins: Vec<String>,
    /// Code mode's limits, when `--code` or `[code] enabled` turned it on: the search profile offers `run_code`.
    pub code: Option<crate::code::Limits>,
}

/// The metrics label of a call's result: `ok`, `tool_error` (the tool said `isError`), or its failure's.
pub fn outcome_of(result: &Result<Called, CallError>) -> &'static str {
    match result {
        Ok(c) if c.result.is_error == Some(true) => "tool_error",
        Ok(_) => "ok",
        Err(e) => outcome(e),
    }
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
        let index = match result {
            Ok(_) | Err(CallError::UnknownTool { .. }) => None,
            Err(_) => Some(self.registry.index()),
        };
        let outcome = outcome_of(result);
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
        // The tool call, between the gateway's span of the request and the upstream request.
        let call = |arguments| self.registry.call_from(name, arguments, cancel, origin);
        crate::telemetry::spans::tool_call(name, None, arguments, call).await
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

/// What `run` serves, resolved from `ServeArgs` (or built by a test).
pub struct Options {
    pub stdio: bool,
    /// The MCP face over stdio.
    pub profile: profile::Profile,
    /// `[tools] pin`: the tools the search profile lists.
    pub pins: Vec<String>,
    /// Code mode's limits (None: off).
    pub code: Option<crate::code::Limits>,
    /// The HTTP guards; used when `run` is given a listener.
    pub guards: guard::Guards,
    pub audit: Option<PathBuf>,
    /// The Unix socket to serve on too (bound already).
    pub socket: Option<socket::Bound>,
    /// MCP-over-HTTP sessions idle this long are closed.
    pub session_idle: Duration,
    /// JWT bearer tokens (`[gateway.auth]`).
    pub jwt: Option<Arc<jwt::Jwt>>,
    /// Seals session ids (`HUB_SESSION_KEY`).
    pub sealer: Option<seal::Sealer>,
    /// The fleet's Redis (`[gateway] redis`, `--redis`).
    pub cluster: Option<cluster::Cluster>,
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
    let cluster = opts.cluster.map(Arc::new);
    let sealed = opts.sealer.map(|s| Arc::new(seal::Store::new(s, cluster.clone())));
    let gateway = Arc::new(Gateway {
        registry: registry.clone(),
        stats,
        peers: sessions::Peers::default(),
        table: sessions::Table::new(opts.session_idle, sealed.clone(), shutdown.clone()),
        watchers: watch::Watchers::default(),
        started: Instant::now(),
        shutdown: shutdown.child_token(),
        sealed,
        cluster,
        pins: opts.pins,
        code: opts.code,
    });
    gateway.watchers.forward(registry.clone(), gateway.shutdown.clone());
    // Tell every MCP session when servers or their lists change — here, and through Redis on the other replicas.
    let mut changes = registry.subscribe();
    let (peers, stop, watched) = (gateway.peers.clone(), gateway.shutdown.clone(), registry.clone());
    let cluster = gateway.cluster.clone();
    if let Some(c) = &cluster {
        c.clone().listen(peers.clone(), gateway.table.clone(), stop.clone());
    }
    tokio::spawn(async move {
        let mut fingerprints = sessions::Fingerprints::default();
        fingerprints.update(&watched);
        loop {
            tokio::select! {
                c = changes.changed() => if c.is_err() { break },
                _ = stop.cancelled() => break,
            }
            let changed = fingerprints.update(&watched);
            peers.notify_all(changed).await;
            if let Some(c) = &cluster {
                c.publish(changed).await;
            }
        }
    });

    let socket_task = opts.socket.map(|bound| socket::serve(bound, gateway.clone(), &opts.guards));
    let http_task = listener.map(|listener| {
        let app = rest::router(gateway.clone(), opts.guards, opts.jwt.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = gateway.shutdown.clone();
        // No Nagle: an answer written in pieces (SSE) would wait for the client's delayed ACK (API-NOTES).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        })
    });
    let stdio_task = opts.stdio.then(|| {
        let hub = mcp::Hub { gateway: gateway.clone(), via: "mcp-stdio", profile: opts.profile };
        tokio::spawn(async move {
            // The reactor-driven pipes when a client launched us (see `hub_servers::serve`).
            match hub.serve(rmcp::transport::io::stdio_pipes()).await {
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
