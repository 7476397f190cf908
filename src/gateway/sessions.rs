//! MCP sessions of the gateway, kept bounded: the peers told about tool-list changes (pruned as sessions
//! close), and the streamable-HTTP session table — rmcp's `LocalSessionManager` wrapped so that a session
//! whose worker ends (closed by the client, idled out after `keep_alive`, never initialised) leaves the table
//! too. rmcp's own manager removes a session only on an explicit DELETE; an idled-out one would stay forever.
//! With sealed ids (`seal`), every id rmcp hands the table is mapped to the local session it seals, and a sealed
//! session this replica does not have is restored under its local id.

use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{RestoreOutcome, ServerSseMessage, SessionId, SessionManager};
use rmcp::{Peer, RoleServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl Table {
    /// Sessions idle for `keep_alive` are closed (and forgotten); `sealed`: ids are sealed (`seal`).
    pub fn new(keep_alive: Duration, sealed: Option<Arc<super::seal::Store>>) -> Table {
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive = Some(keep_alive);
        Table { local: Arc::new(manager), sealed, keep_alive }
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
    fn id(&self, id: &SessionId) -> SessionId {
        match self.sealed.as_ref().and_then(|s| s.local_id(id)) {
            Some((local, _)) => local.into(),
            None => id.clone(),
        }
    }

    fn track(&self, id: SessionId, inner: WorkerTransport<LocalSessionWorker>) -> Tracked {
        Tracked { inner, _forget: Forget { id, table: self.local.clone() } }
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
}

impl Drop for Forget {
    fn drop(&mut self) {
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
        self.local.initialize_session(&self.id(id), message).await
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
        Ok(boxed(self.local.create_stream(&local, message).await?))
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.local.accept_message(&self.id(id), message).await
    }

    /// The GET stream of server-initiated messages (list_changed and the like).
    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let local = self.id(id);
        Ok(boxed(self.local.create_standalone_stream(&local).await?))
    }

    /// A reconnecting client's stream from `last_event_id` on.
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let local = self.id(id);
        Ok(boxed(self.local.resume(&local, last_event_id).await?))
    }
}
