//! MCP sessions of the gateway, kept bounded: the peers told about tool-list changes (pruned as sessions
//! close), and the streamable-HTTP session table — rmcp's `LocalSessionManager` wrapped so that a session
//! whose worker ends (closed by the client, idled out after `keep_alive`, never initialised) leaves the table
//! too. rmcp's own manager removes a session only on an explicit DELETE; an idled-out one would stay forever.
//! With sealed ids (`seal`), every id rmcp hands the table is mapped to the local session it seals, and a sealed
//! session this replica does not have is restored under its local id.
//!
//! The table also knows each session's client (its name, and whether it is *plain*: it declared no sampling,
//! elicitation or roots, so nothing a server asks mid-call is relayed to it — see `fast`), and when its client
//! was last heard from: a session whose client has sent nothing for `keep_alive` is closed (here, not by rmcp's
//! worker, which cannot see the calls `fast` answers).

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{RestoreOutcome, ServerSseMessage, SessionId, SessionManager};
use rmcp::{Peer, RoleServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Connected MCP sessions (stdio and HTTP), told about tool list changes.
#[derive(Default, Clone)]
pub struct Peers(Arc<Mutex<Vec<Peer<RoleServer>>>>);

impl Peers {
    pub fn add(&self, peer: Peer<RoleServer>) {
        let mut peers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.push(peer);
    }

    /// The sessions still open (the closed ones are forgotten).
    pub fn live(&self) -> usize {
        let mut peers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.len()
    }

    /// Sends `tools/list_changed` to every session, and the resource and prompt ones when `changed` says so,
    /// forgetting the sessions that are gone.
    pub async fn notify_all(&self, changed: Changed) {
        let peers: Vec<Peer<RoleServer>> = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for p in peers.iter().filter(|p| !p.is_transport_closed()) {
            let _ = p.notify_tool_list_changed().await;
            if changed.resources {
                let _ = p.notify_resource_list_changed().await;
            }
            if changed.prompts {
                let _ = p.notify_prompt_list_changed().await;
            }
        }
        self.live();
    }
}

/// Which lists other than tools changed since the sessions were last told.
#[derive(Debug, Default, Clone, Copy)]
pub struct Changed {
    pub resources: bool,
    pub prompts: bool,
}

/// Fingerprints of the merged resource and prompt lists, to tell sessions only about the lists that changed.
#[derive(Default)]
pub struct Fingerprints {
    resources: u64,
    prompts: u64,
}

impl Fingerprints {
    /// What changed since the last call (the first call reports what is not empty).
    pub fn update(&mut self, registry: &crate::registry::Registry) -> Changed {
        let resources = fingerprint(&(registry.resources(), registry.templates()));
        let offered: Vec<_> = registry.prompts().into_iter().map(|o| (o.name, o.prompt)).collect();
        let prompts = fingerprint(&offered);
        let changed = Changed { resources: resources != self.resources, prompts: prompts != self.prompts };
        (self.resources, self.prompts) = (resources, prompts);
        changed
    }
}

fn fingerprint(value: &impl serde::Serialize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(value).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// The streamable-HTTP session table; cheap to clone.
#[derive(Clone)]
pub struct Table {
    local: Arc<LocalSessionManager>,
    sealed: Option<Arc<super::seal::Store>>,
    keep_alive: Duration,
    clients: Arc<Mutex<HashMap<SessionId, Client>>>,
}

/// What the table knows of a session's client.
struct Client {
    name: String,
    plain: bool,
    seen: Instant,
}

impl Table {
    /// Sessions idle for `keep_alive` are closed (and forgotten) until `stop`; `sealed`: ids are sealed (`seal`).
    pub fn new(keep_alive: Duration, sealed: Option<Arc<super::seal::Store>>, stop: CancellationToken) -> Table {
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive = None;
        let table = Table { local: Arc::new(manager), sealed, keep_alive, clients: Default::default() };
        let reaper = table.clone();
        tokio::spawn(async move {
            let mut every =
                tokio::time::interval((keep_alive / 4).clamp(Duration::from_millis(50), Duration::from_secs(30)));
            loop {
                tokio::select! {
                    _ = every.tick() => reaper.close_idle().await,
                    _ = stop.cancelled() => break,
                }
            }
        });
        table
    }

    /// Closes the sessions whose clients have been silent for `keep_alive` (and forgets those never initialised).
    async fn close_idle(&self) {
        let ids: Vec<SessionId> = self.local.sessions.read().await.keys().cloned().collect();
        let idle: Vec<SessionId> = {
            let mut clients = self.lock();
            let now = Instant::now();
            ids.into_iter()
                .filter(|id| {
                    let seen = clients.entry(id.clone()).or_insert_with(|| Client::unknown(now)).seen;
                    now.duration_since(seen) >= self.keep_alive
                })
                .collect()
        };
        for id in idle {
            self.lock().remove(&id);
            let _ = self.local.close_session(&id).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the client of local session `id` as heard from now.
    fn seen(&self, id: &SessionId) {
        let now = Instant::now();
        self.lock().entry(id.clone()).or_insert_with(|| Client::unknown(now)).seen = now;
    }

    /// The name of the client of session `id` (as presented, sealed or not) when the session is here and plain —
    /// its calls may be answered without rmcp (`fast`) — marking it heard from; the local id too.
    pub fn plain(&self, id: &SessionId) -> Option<(SessionId, String)> {
        let local = self.id(id);
        let mut clients = self.lock();
        let client = clients.get_mut(&local).filter(|c| c.plain)?;
        client.seen = Instant::now();
        let name = client.name.clone();
        Some((local, name))
    }

    /// How long an idle session lives.
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// Closes local session `id` if there is one (its client closed it on another replica).
    pub async fn close_local(&self, id: &str) {
        let _ = self.local.close_session(&id.into()).await;
    }

    /// Sessions in the table.
    pub async fn count(&self) -> usize {
        self.local.sessions.read().await.len()
    }

    /// The local session a client's id names (itself unless sealed).
    pub fn local(&self, id: &SessionId) -> SessionId {
        self.id(id)
    }

    fn id(&self, id: &SessionId) -> SessionId {
        match self.sealed.as_ref().and_then(|s| s.local_id(id)) {
            Some((local, _)) => local.into(),
            None => id.clone(),
        }
    }

    fn track(&self, id: SessionId, inner: WorkerTransport<LocalSessionWorker>) -> Tracked {
        self.seen(&id);
        Tracked { inner, _forget: Forget { id, table: self.local.clone(), clients: self.clients.clone() } }
    }
}

impl Client {
    fn unknown(now: Instant) -> Client {
        Client { name: "mcp".into(), plain: false, seen: now }
    }

    /// The client an initialize request presents.
    fn of(message: &ClientJsonRpcMessage) -> Option<Client> {
        let ClientJsonRpcMessage::Request(r) = message else { return None };
        let ClientRequest::InitializeRequest(init) = &r.request else { return None };
        let caps = &init.params.capabilities;
        let plain = caps.sampling.is_none() && caps.elicitation.is_none() && caps.roots.is_none();
        Some(Client { name: init.params.client_info.name.clone(), plain, seen: Instant::now() })
    }
}

/// A stream of the local table, no longer tied to the id it was asked for by.
fn boxed(stream: impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static) -> SseStream {
    Box::pin(stream)
}

type SseStream = std::pin::Pin<Box<dyn futures::Stream<Item = ServerSseMessage> + Send + Sync>>;

/// Removes its session from the table when the session's transport goes (the session ended).
struct Forget {
    id: SessionId,
    table: Arc<LocalSessionManager>,
    clients: Arc<Mutex<HashMap<SessionId, Client>>>,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        let (id, table) = (self.id.clone(), self.table.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                table.sessions.write().await.remove(&id);
            });
        }
    }
}

/// A session's transport, with the guard that forgets the session when it is dropped.
pub struct Tracked {
    inner: WorkerTransport<LocalSessionWorker>,
    _forget: Forget,
}

impl Transport<RoleServer> for Tracked {
    type Error = <WorkerTransport<LocalSessionWorker> as Transport<RoleServer>>::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl SessionManager for Table {
    type Error = LocalSessionManagerError;
    type Transport = Tracked;

    async fn create_session(&self) -> Result<(SessionId, Tracked), Self::Error> {
        let (id, inner) = self.local.create_session().await?;
        Ok((id.clone(), self.track(id, inner)))
    }

    /// A sealed session this replica does not have: a new local worker under the id it seals.
    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Tracked>, Self::Error> {
        let local = self.id(&id);
        Ok(match self.local.restore_session(local.clone()).await? {
            RestoreOutcome::Restored(inner) => RestoreOutcome::Restored(self.track(local, inner)),
            RestoreOutcome::AlreadyPresent => RestoreOutcome::AlreadyPresent,
            _ => RestoreOutcome::NotSupported,
        })
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let local = self.id(id);
        if let Some(client) = Client::of(&message) {
            self.lock().insert(local.clone(), client);
        }
        self.local.initialize_session(&local, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(&self.id(id)).await
    }

    /// DELETE from the client: the session goes at once (and `Forget` then finds nothing left to remove).
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.local.close_session(&self.id(id)).await
    }

    /// The SSE stream that answers one POSTed request.
    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let local = self.id(id);
        self.seen(&local);
        Ok(boxed(self.local.create_stream(&local, message).await?))
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        let local = self.id(id);
        self.seen(&local);
        self.local.accept_message(&local, message).await
    }

    /// The GET stream of server-initiated messages (list_changed and the like).
    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let local = self.id(id);
        self.seen(&local);
        Ok(boxed(self.local.create_standalone_stream(&local).await?))
    }

    /// A reconnecting client's stream from `last_event_id` on.
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let local = self.id(id);
        self.seen(&local);
        Ok(boxed(self.local.resume(&local, last_event_id).await?))
    }
}
