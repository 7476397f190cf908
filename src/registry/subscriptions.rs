//! Resource subscriptions through the registry: `subscribe(uri)` routes the URI like a read and subscribes
//! upstream once however many callers subscribe (counted per server and URI); `unsubscribe` drops a caller and
//! unsubscribes upstream with the last one. `notifications/resources/updated` from a server is published on
//! the registry's update channel (`updates`), for the gateway to pass to the sessions that subscribed.
//! When a server restarts it has forgotten its subscriptions: hub subscribes again to every URI still held there
//! (`renew`) and publishes an update for each, as the resource may have changed while the server was away.
#![allow(deprecated)] // resources/subscribe: legacy in rmcp (2026-07-28 replaces it), what servers use today

use super::{CallError, Registry};
use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
use rmcp::{Peer, RoleClient};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A resource a server says has changed.
#[derive(Debug, Clone)]
pub struct Updated {
    pub server: String,
    pub uri: String,
}

/// Upstream subscriptions and how many callers hold each.
#[derive(Default)]
pub struct Subscriptions(Mutex<HashMap<(String, String), usize>>);

impl Subscriptions {
    /// Counts one more holder; true when it is the first.
    fn hold(&self, server: &str, uri: &str) -> bool {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry((server.to_string(), uri.to_string())).or_default();
        *n += 1;
        *n == 1
    }

    /// The URIs held at `server`.
    fn held(&self, server: &str) -> Vec<String> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.keys().filter(|(s, _)| s == server).map(|(_, uri)| uri.clone()).collect()
    }

    /// Counts one holder less; true when it was the last.
    fn release(&self, server: &str, uri: &str) -> bool {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (server.to_string(), uri.to_string());
        match held.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                held.remove(&key);
                true
            }
            None => false,
        }
    }
}

/// After `server` (re)connected on `peer`: subscribes again, in the background, to each URI callers still hold
/// there, and tells them it may have changed (an update). A URI the server refuses now is logged; callers still
/// hold it, and the next restart tries again.
pub(super) fn renew(host: &std::sync::Arc<super::host::Host>, server: &str, peer: &Peer<RoleClient>, limit: Duration) {
    let uris = host.subscriptions.held(server);
    if uris.is_empty() {
        return;
    }
    let (host, server, peer) = (host.clone(), server.to_string(), peer.clone());
    tokio::spawn(async move {
        for uri in uris {
            let subscribed = tokio::time::timeout(limit, peer.subscribe(SubscribeRequestParams::new(&uri))).await;
            match subscribed {
                Ok(Ok(())) => tracing::info!(server = %server, "subscribed again to {uri} after a restart"),
                Ok(Err(e)) => tracing::warn!(server = %server, "subscribing again to {uri} failed: {e}"),
                Err(_) => tracing::warn!(server = %server, "subscribing again to {uri} timed out"),
            }
            let _ = host.updates.send(Updated { server: server.clone(), uri });
        }
    });
}

impl Registry {
    /// Subscribes to `uri` at the server that offers it (see `route`); returns that server's name.
    pub async fn subscribe_resource(&self, uri: &str) -> Result<String, CallError> {
        let server = self.route(uri, None)?;
        if self.inner.host.subscriptions.hold(&server, uri) {
            let what = format!("subscribe to {uri}");
            let params = SubscribeRequestParams::new(uri);
            let subscribed = self.upstream(&server, &what, |peer| async move { peer.subscribe(params).await }).await;
            if let Err(e) = subscribed {
                self.inner.host.subscriptions.release(&server, uri);
                return Err(e);
            }
        }
        Ok(server)
    }

    /// Drops one subscription to `uri`; the server is told when no caller holds it any more.
    pub async fn unsubscribe_resource(&self, uri: &str) -> Result<(), CallError> {
        let server = self.route(uri, None)?;
        if self.inner.host.subscriptions.release(&server, uri) {
            let what = format!("unsubscribe from {uri}");
            let params = UnsubscribeRequestParams::new(uri);
            self.upstream(&server, &what, |peer| async move { peer.unsubscribe(params).await }).await?;
        }
        Ok(())
    }

    /// The resources servers say have changed.
    pub fn updates(&self) -> tokio::sync::broadcast::Receiver<Updated> {
        self.inner.host.updates.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::Subscriptions;

    #[test]
    fn one_upstream_subscription_for_many_holders() {
        let s = Subscriptions::default();
        assert!(s.hold("a", "x://1"));
        assert!(!s.hold("a", "x://1"));
        assert!(s.hold("b", "x://1"), "per server");
        assert!(!s.release("a", "x://1"));
        assert!(s.release("a", "x://1"));
        assert!(!s.release("a", "x://1"), "nothing left to release");
    }
}
