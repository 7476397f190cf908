//! The registry: every configured server connected concurrently under supervision, the merged tool index,
//! and tool calls routed to the right server under that server's deadline.
//!
//! Owns: server state (phase, pid, tools, restarts, last error), the index and its change notifications, the
//! call path and its errors. Not: the agent's policy about which calls may run (see `agent`).

mod call;
pub mod connect;
mod control;
pub mod host;
pub mod index;
mod kinds;
mod lent;
mod listing;
pub mod origin;
mod own;
mod pins;
pub mod plugin;
mod prompts;
pub mod replica;
mod resources;
mod subscriptions;
mod supervise;
mod tasks;
pub mod transform;
pub mod vet;
mod watched;
mod wire;

use crate::config::{Config, ServerConfig};
pub use control::{Accepted, ControlError, ReplicaStatus, Status};
pub use index::{Entry, Index};
pub use prompts::{Offered, describe as describe_argument};
use rmcp::model::CallToolResult;
use rmcp::{Peer, RoleClient};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
pub use subscriptions::Updated;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
pub use vet::Problem;
pub use watched::unix_client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Starting,
    Up,
    Down,
    /// Gave up after the crash-loop cap.
    Failed,
    /// An OAuth server that wants `hub auth login NAME` (no token, or one it refused and no refresh helped).
    NeedsLogin,
    Disabled,
    Stopped,
}

#[derive(Default)]
struct State {
    phase: Phase,
    peer: Option<Peer<RoleClient>>,
    /// The live connection's protocol-error latch (the call path trips it for HTTP servers).
    fault: Option<wire::Fault>,
    /// Its tools, resources and templates as last listed, and what was wrong with that listing.
    listing: listing::Listing,
    pid: Option<u32>,
    up_since: Option<Instant>,
    restarts: u32,
    last_error: Option<String>,
    /// When it went down, over the last `control::CRASH_WINDOW`.
    crashes: std::collections::VecDeque<Instant>,
    /// While backing off: when the next attempt starts.
    next_attempt: Option<Instant>,
    /// An operator's restart was asked for and has not been carried out yet (concurrent requests: one restart).
    restart_pending: bool,
    /// Its tools differ from those the other replicas agree on (why): out of rotation meanwhile.
    mismatch: Option<String>,
}

pub struct Server {
    pub cfg: ServerConfig,
    /// One, or `replicas = N` / one per url; each supervised on its own.
    replicas: Vec<Arc<replica::Replica>>,
    balancer: replica::Balancer,
    /// What the pins say of its tools (withheld, new, changed), transforms naming no tool, replicas that
    /// disagree, as of the last rebuild.
    noted: Mutex<Vec<Problem>>,
    /// A hub this registry is attached to (`cfg.flatten`, never restarted) that failed a call by going away: known
    /// from the call itself, before its supervisor has noticed.
    gone: std::sync::OnceLock<String>,
}

/// Why a call did not produce a tool result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("unknown tool '{name}'{}", hint(.suggestions))]
    UnknownTool { name: String, suggestions: Vec<String> },
    #[error("cannot read '{uri}': {why}")]
    UnknownResource { uri: String, why: String },
    #[error("unknown prompt '{name}'{}", hint(.suggestions))]
    UnknownPrompt { name: String, suggestions: Vec<String> },
    #[error("prompt '{name}': {why}")]
    BadArguments { name: String, why: String },
    #[error("server '{server}' is down: {reason}{}", retry_hint(.retry_in))]
    Down { server: String, reason: String, retry_in: Option<Duration> },
    #[error("call to '{tool}' timed out after {:.1}s (cancelled on the server)", .after.as_secs_f64())]
    Timeout { tool: String, after: Duration },
    #[error("call to '{tool}' was cancelled")]
    Cancelled { tool: String },
    #[error("server '{server}' rejected the call: {message}")]
    Protocol { server: String, message: String },
    /// Outside the caller's gateway policy (`what`: "call TOOL", "read URI", "get prompt NAME").
    #[error("token '{identity}' may not {what}: {why}")]
    Forbidden { identity: String, what: String, why: String },
    /// A plugin refused the call, or failed under `on_error = "deny"`.
    #[error("plugin '{plugin}' denied the call to '{tool}': {reason}")]
    Denied { plugin: String, tool: String, reason: String },
}

fn retry_hint(d: &Option<Duration>) -> String {
    d.map(|d| format!("; next attempt in {:.1}s", d.as_secs_f64())).unwrap_or_default()
}

fn hint(s: &[String]) -> String {
    if s.is_empty() { String::new() } else { format!("; did you mean {}?", s.join(", ")) }
}

/// A finished call: the server's result (which may be an `isError` result) and where it ran.
#[derive(Debug, Clone)]
pub struct Called {
    pub entry: Entry,
    pub result: CallToolResult,
    pub duration: Duration,
}

pub(crate) struct Inner {
    servers: Vec<Arc<Server>>,
    index: RwLock<Arc<Index>>,
    generation: watch::Sender<u64>,
    shutdown: CancellationToken,
    last_refresh: Mutex<Option<std::time::SystemTime>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// A long-running face (serve, chat): servers are restarted forever unless their policy says give up.
    long_running: bool,
    /// The face is the gateway: a call without an origin of its own is a REST call, not one session's.
    serving: bool,
    /// What every connection's client side shares (roots, progress tokens and channel).
    host: Arc<host::Host>,
    /// Held while the index is rebuilt (see `rebuild`).
    rebuilding: Mutex<()>,
    /// The pinned tool definitions, checked at every rebuild.
    pins: pins::Pins,
    /// `[[plugins]]`, in the order written.
    plugins: Vec<Arc<plugin::Plugin>>,
    /// The servers behind an attached hub, as the local configuration describes them.
    behind: Vec<crate::config::ServerConfig>,
}

impl Inner {
    /// Rebuilds the index from every server's last known tools (a down server's tools stay listed).
    fn rebuild(&self) {
        // One rebuild at a time: two supervisors rebuilding at once could otherwise store the one that read the
        // servers' lists first last, losing the other's tools (seen: a server up and listed, its tools unknown).
        let _one = self.rebuilding.lock().unwrap_or_else(|p| p.into_inner());
        let (flat, plain): (Vec<_>, Vec<_>) = self.servers.iter().partition(|s| s.cfg.flatten);
        let lists = plain
            .into_iter()
            .map(|s| {
                let disagree = s.agree();
                let (tools, unknown) = s.listed(|l| {
                    let permitted = l.tools.iter().filter(|t| s.cfg.permits(&t.name)).cloned().collect();
                    let listed = !l.tools.is_empty();
                    (permitted, if listed { transform::unknown(&s.cfg.transforms, &l.tools) } else { vec![] })
                });
                let (tools, mut problems) = self.pins.check(&s.cfg.name, tools);
                problems.extend(unknown);
                problems.extend(disagree);
                let tools = tools.into_iter().filter_map(|t| transform::apply(t, &s.cfg.transforms)).collect();
                if self.long_running {
                    problems.iter().for_each(|p| tracing::warn!(server = %s.cfg.name, "{p}"));
                }
                *s.noted.lock().unwrap_or_else(|p| p.into_inner()) = problems;
                (s.cfg.name.clone(), tools)
            })
            .collect();
        let mut index = Index::build(lists);
        for s in flat {
            // Another hub's index, as it lists it: its names, policies and pins are that hub's.
            index.add_flat(&s.cfg.name, s.listed(|l| l.tools.clone()));
        }
        for c in &index.collisions {
            tracing::warn!("tool name collision: {c}");
        }
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        *self.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::SystemTime::now());
        self.changed();
    }

    /// Tells watchers (the gateway) that servers or tools changed.
    fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

/// The connected servers and their merged index. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// Connects every enabled server concurrently and returns once each has connected or failed its first
    /// attempt (each bounded by its own startup timeout). Supervision continues in the background.
    pub async fn start(config: &Config) -> Registry {
        let mut orders = Vec::new();
        let servers: Vec<Arc<Server>> = config
            .servers
            .iter()
            .map(|cfg| {
                let replicas = (1..=cfg.replicas.count)
                    .map(|n| {
                        let (control, rx) = tokio::sync::mpsc::unbounded_channel();
                        let replica = Arc::new(replica::Replica::new(cfg, n, control));
                        orders.push((replica.clone(), rx));
                        replica
                    })
                    .collect();
                let (balancer, noted) = (Default::default(), Mutex::default());
                Arc::new(Server { cfg: cfg.clone(), replicas, balancer, noted, gone: Default::default() })
            })
            .collect();
        let inner = Arc::new(Inner {
            servers,
            index: RwLock::default(),
            generation: watch::channel(0).0,
            shutdown: CancellationToken::new(),
            last_refresh: Mutex::new(None),
            tasks: Mutex::default(),
            long_running: config.long_running,
            serving: config.serving,
            host: Arc::new(host::Host::new(&config.roots, config.serving || !config.model.offline)),
            rebuilding: Mutex::new(()),
            pins: pins::Pins::open(
                hub_servers::store::data_dir().join("pins.json"),
                config.pin,
                pins::shipped(&config.servers),
            ),
            plugins: config.plugins.iter().map(|p| Arc::new(plugin::Plugin::new(p.clone()))).collect(),
            behind: config.behind.clone(),
        });
        let mut waits = Vec::new();
        for (replica, orders) in orders {
            if !replica.cfg.enabled {
                replica.update(|s| s.phase = Phase::Disabled);
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let task = tokio::spawn(supervise::supervise(inner.clone(), replica, tx, orders));
            inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
            waits.push(rx);
        }
        for w in waits {
            let _ = w.await;
        }
        Registry { inner }
    }

    /// Sets who answers servers' requests outside calls with an origin of their own (the face: a person in
    /// chat, a model for sampling in ask).
    pub fn set_origin(&self, origin: Arc<dyn origin::Origin>) {
        self.inner.host.origins.set_default(origin);
    }

    /// The requests servers made of hub (sampling, elicitation) and what became of them, oldest first.
    pub fn server_requests(&self) -> Vec<origin::Asked> {
        self.inner.host.asked()
    }

    /// Progress reported by servers for the calls in flight.
    pub fn progress(&self) -> tokio::sync::broadcast::Receiver<host::Progress> {
        self.inner.host.subscribe()
    }

    /// A snapshot of the current index.
    pub fn index(&self) -> Arc<Index> {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn servers(&self) -> &[Arc<Server>] {
        &self.inner.servers
    }

    /// The configuration of server `name`: a local server's, or one behind an attached hub as the local
    /// configuration describes it.
    pub fn settings(&self, name: &str) -> Option<&crate::config::ServerConfig> {
        self.server(name).map(|s| &s.cfg).or_else(|| self.inner.behind.iter().find(|c| c.name == name))
    }

    pub fn server(&self, name: &str) -> Option<&Arc<Server>> {
        self.inner.servers.iter().find(|s| s.cfg.name == name)
    }

    /// Changes to servers or tools (a counter that goes up).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    pub fn last_refresh(&self) -> Option<std::time::SystemTime> {
        *self.inner.last_refresh.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The required servers that are not up, with their reasons.
    pub fn required_down(&self) -> Vec<(String, String)> {
        self.servers()
            .iter()
            .filter(|s| s.cfg.required && (s.phase() != Phase::Up || s.gone.get().is_some()))
            .map(|s| (s.cfg.name.clone(), s.gone.get().cloned().or_else(|| s.down_reason()).unwrap_or_default()))
            .collect()
    }

    /// Resolves a tool name (index name or `server.tool`), with suggestions when it is unknown.
    /// A tool of a server that is not up (so not indexed) is reported as that server's state: "down: needs login…".
    pub fn resolve(&self, name: &str) -> Result<Entry, CallError> {
        let index = self.index();
        if let Some(entry) = index.get(name) {
            return Ok(entry.clone());
        }
        let prefix = name.split_once("__").or_else(|| name.split_once('.')).map(|(server, _)| server);
        if let Some(server) = prefix.and_then(|p| self.server(p)).filter(|s| s.phase() != Phase::Up) {
            return Err(CallError::Down {
                server: server.cfg.name.clone(),
                reason: server.down_reason().unwrap_or_else(|| format!("{:?}", server.phase()).to_lowercase()),
                retry_in: server.retry_in(),
            });
        }
        Err(CallError::UnknownTool { name: name.to_string(), suggestions: index.suggest(name) })
    }

    /// Status of every configured server; `ping` measures a round trip to each one that is up.
    pub async fn status(&self, ping: bool) -> Vec<Status> {
        if let Some(hub) = self.servers().iter().find(|s| s.cfg.flatten && s.phase() == Phase::Up)
            && let Ok(statuses) = crate::attach::statuses(&hub.cfg, ping).await
        {
            return statuses;
        }
        let pings = self.servers().iter().map(|s| async move {
            let peer = s.lead().read(|st| st.peer.clone());
            match (ping, peer) {
                (true, Some(peer)) => {
                    let t = Instant::now();
                    let req = rmcp::model::ClientRequest::PingRequest(Default::default());
                    let ok = tokio::time::timeout(Duration::from_secs(2), peer.send_request(req)).await;
                    matches!(ok, Ok(Ok(_))).then(|| (t.elapsed().as_secs_f64() * 1e4).round() / 10.0)
                }
                _ => None,
            }
        });
        let pings = futures::future::join_all(pings).await;
        let index = self.index();
        self.servers()
            .iter()
            .zip(pings)
            .map(|(s, ping_ms)| {
                let tools = index.entries().iter().filter(|e| e.server == s.cfg.name).count();
                s.status(tools, ping_ms)
            })
            .collect()
    }

    /// Stops supervision, closes every session and waits (bounded) for the children to exit.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = tokio::time::timeout(Duration::from_secs(3), futures::future::join_all(tasks)).await;
    }
}
