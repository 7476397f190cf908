//! The gateway's resource subscriptions: which MCP session watches which URI. A session's `resources/subscribe`
//! is routed upstream by the registry (one upstream subscription however many sessions hold it); the server's
//! `notifications/resources/updated` goes to the sessions that subscribed to that URI; a session that is gone
//! loses its subscriptions (and the upstream one goes with the last holder).

use crate::registry::Registry;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

struct Watch {
    uri: String,
    /// The session (`downstream::session_key`).
    session: String,
    peer: Peer<RoleServer>,
}

#[derive(Clone, Default)]
pub struct Watchers(Arc<Mutex<Vec<Watch>>>);

impl Watchers {
    pub fn add(&self, uri: &str, session: String, peer: Peer<RoleServer>) {
        let watch = Watch { uri: uri.to_string(), session, peer };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(watch);
    }

    /// Drops `session`'s subscription to `uri`; whether it had one.
    pub fn remove(&self, uri: &str, session: &str) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match all.iter().position(|w| w.uri == uri && w.session == session) {
            Some(i) => {
                all.remove(i);
                true
            }
            None => false,
        }
    }

    /// Passes every update to the sessions watching its URI, until `stop`.
    pub fn forward(&self, registry: Registry, stop: CancellationToken) {
        let (watchers, mut updates) = (self.clone(), registry.updates());
        tokio::spawn(async move {
            loop {
                let updated = tokio::select! {
                    u = updates.recv() => u,
                    _ = stop.cancelled() => break,
                };
                let Ok(updated) = updated else { continue };
                let (live, gone) = watchers.split(&updated.uri);
                for peer in live {
                    let _ = peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(&updated.uri)).await;
                }
                for _ in 0..gone {
                    let _ = registry.unsubscribe_resource(&updated.uri).await;
                }
            }
        });
    }

    /// The live sessions watching `uri`, and how many watching it were gone (now forgotten).
    fn split(&self, uri: &str) -> (Vec<Peer<RoleServer>>, usize) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = all.len();
        all.retain(|w| w.uri != uri || !w.peer.is_transport_closed());
        let gone = before - all.len();
        (all.iter().filter(|w| w.uri == uri).map(|w| w.peer.clone()).collect(), gone)
    }
}
