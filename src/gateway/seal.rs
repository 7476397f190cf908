//! Sealed MCP session ids, so that any replica of a fleet can serve the next request of a stateful (2025-11-25)
//! session without affinity at the balancer. With `HUB_SESSION_KEY` set, the id a client gets back from
//! `initialize` is not rmcp's random local id but that id, the caller's identity and the client's `initialize`
//! parameters, encrypted and authenticated (AES-256-GCM, key = SHA-256 of the secret). A replica that does not
//! know the session opens the id and replays the handshake (rmcp's `SessionStore` restore); one that does maps
//! it back to its local session (`sessions::Table`). A forged or altered id does not open and is an unknown
//! session (404: the client starts a new one), and so is one older than a day on a replica that does not have
//! it. Rotation: `HUB_SESSION_KEY_PREVIOUS` is accepted for opening,
//! never for sealing. No shared state: nothing is stored anywhere but in the id.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::InitializeRequestParams;
use rmcp::transport::streamable_http_server::session::store::{SessionState, SessionStore, SessionStoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What marks a sealed id (a local one never starts so).
const PREFIX: &str = "h1.";
/// Bound on handshakes whose response has not been sealed yet (each is removed when its response passes).
const FRESH_MAX: usize = 10_000;
/// How long after its creation a sealed session may still be taken over by another replica (a replica that has
/// it keeps serving it; a client refused starts a new session, as on any 404).
const MAX_AGE_SECS: u64 = 24 * 3600;
/// The shortest secret accepted.
const MIN_SECRET: usize = 32;

/// The keys: the first seals, every one opens.
pub struct Sealer {
    keys: Vec<LessSafeKey>,
}

impl Sealer {
    /// From `HUB_SESSION_KEY` (and `HUB_SESSION_KEY_PREVIOUS`); None when the first is unset.
    pub fn from_env() -> Result<Option<Sealer>, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match var("HUB_SESSION_KEY") {
            Some(current) => Sealer::new(&current, var("HUB_SESSION_KEY_PREVIOUS").as_deref()).map(Some),
            None if var("HUB_SESSION_KEY_PREVIOUS").is_some() => {
                Err("HUB_SESSION_KEY_PREVIOUS is set but HUB_SESSION_KEY is not".into())
            }
            None => Ok(None),
        }
    }

    pub fn new(current: &str, previous: Option<&str>) -> Result<Sealer, String> {
        let mut keys = Vec::new();
        for (name, secret) in [("HUB_SESSION_KEY", Some(current)), ("HUB_SESSION_KEY_PREVIOUS", previous)] {
            let Some(secret) = secret else { continue };
            if secret.len() < MIN_SECRET {
                return Err(format!(
                    "{name} must be a secret of at least {MIN_SECRET} characters (e.g. `openssl rand -base64 32`)"
                ));
            }
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
            let key = UnboundKey::new(&AES_256_GCM, digest.as_ref()).map_err(|_| format!("{name}: bad key"))?;
            keys.push(LessSafeKey::new(key));
        }
        Ok(Sealer { keys })
    }

    /// `plain`, encrypted under the current key with a fresh random nonce: `h1.` + base64url(nonce ‖ sealed).
    pub fn seal(&self, plain: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut data = plain.to_vec();
        self.keys[0]
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(PREFIX), &mut data)
            .ok()?;
        let mut raw = nonce.to_vec();
        raw.extend(data);
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// The plain text of a sealed id, when one of the keys opens it.
    pub fn open(&self, text: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(text.strip_prefix(PREFIX)?).ok()?;
        let (nonce, sealed) = raw.split_at_checked(NONCE_LEN)?;
        self.keys.iter().find_map(|key| {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut data = sealed.to_vec();
            key.open_in_place(nonce, Aad::from(PREFIX), &mut data).ok().map(|plain| plain.to_vec())
        })
    }
}

/// What a sealed id holds.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// The local session id on the replica that created it.
    id: String,
    /// The name of the caller that created it (None: no token needed); another caller cannot use it.
    who: Option<String>,
    /// When it was created (Unix seconds).
    issued: u64,
    init: InitializeRequestParams,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// rmcp's session store for sealed sessions: `load` opens the id; `store` only holds a new session's
/// `initialize` parameters until its response is sealed (`seal_new`).
pub struct Store {
    sealer: Sealer,
    /// The fleet's Redis, which knows the sessions their clients closed.
    cluster: Option<Arc<super::cluster::Cluster>>,
    fresh: Mutex<HashMap<String, InitializeRequestParams>>,
    restored: AtomicU64,
}

impl Store {
    pub fn new(sealer: Sealer, cluster: Option<Arc<super::cluster::Cluster>>) -> Store {
        Store { sealer, cluster, fresh: Mutex::default(), restored: AtomicU64::new(0) }
    }

    /// The sealed id for the new local session `local` created by `who`, once its handshake was stored.
    pub fn seal_new(&self, local: &str, who: Option<&str>) -> Option<String> {
        let init = self.fresh.lock().unwrap_or_else(|p| p.into_inner()).remove(local)?;
        let payload = Payload { id: local.to_string(), who: who.map(str::to_string), issued: now(), init };
        self.sealer.seal(&serde_json::to_vec(&payload).ok()?)
    }

    /// The local id and creator of a sealed id (None: not sealed, or not by any of our keys).
    pub fn local_id(&self, id: &str) -> Option<(String, Option<String>)> {
        let payload: Payload = serde_json::from_slice(&self.sealer.open(id)?).ok()?;
        Some((payload.id, payload.who))
    }

    /// Sessions this replica took over from a sealed id it did not create (or no longer had).
    pub fn restored(&self) -> u64 {
        self.restored.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl SessionStore for Store {
    /// The session a sealed id holds, unless its client closed it (as far as the fleet's Redis knows).
    async fn load(&self, id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(payload) = self.sealer.open(id).and_then(|plain| serde_json::from_slice::<Payload>(&plain).ok())
        else {
            return Ok(None);
        };
        if now().saturating_sub(payload.issued) > MAX_AGE_SECS {
            return Ok(None);
        }
        if let Some(cluster) = &self.cluster
            && cluster.is_closed(&payload.id).await
        {
            return Ok(None);
        }
        self.restored.fetch_add(1, Ordering::Relaxed);
        Ok(Some(SessionState::new(payload.init)))
    }

    async fn store(&self, id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        if fresh.len() >= FRESH_MAX {
            fresh.clear();
        }
        fresh.insert(id.to_string(), state.initialize_params.clone());
        Ok(())
    }

    /// Nothing is kept, so nothing to delete (the replicas' local sessions close on their own).
    async fn delete(&self, _id: &str) -> Result<(), SessionStoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "an example secret of more than thirty-two chars";
    const B: &str = "another secret, also longer than thirty-two chars";

    #[test]
    fn sealed_ids_open_under_the_current_and_the_previous_key_only() {
        let old = Sealer::new(A, None).unwrap();
        let id = old.seal(b"local-1").unwrap();
        assert!(id.starts_with(PREFIX) && !id.contains("local"), "{id}");
        assert_eq!(old.open(&id).as_deref(), Some(&b"local-1"[..]));
        let rotated = Sealer::new(B, Some(A)).unwrap();
        assert_eq!(rotated.open(&id).as_deref(), Some(&b"local-1"[..]), "the previous key still opens");
        let new = rotated.seal(b"local-2").unwrap();
        assert!(old.open(&new).is_none(), "a replica without the new key cannot open what it seals");
        assert!(Sealer::new(B, None).unwrap().open(&id).is_none(), "the retired key no longer opens");
        assert_ne!(old.seal(b"local-1").unwrap(), id, "a fresh nonce each time");
    }

    #[test]
    fn altered_or_foreign_ids_do_not_open() {
        let s = Sealer::new(A, None).unwrap();
        let id = s.seal(b"local-1").unwrap();
        let mut altered = id.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(s.open(std::str::from_utf8(&altered).unwrap()).is_none());
        for junk in ["", "h1.", "h1.!!", "6c1b2e9e-local-id", &id[..id.len() / 2]] {
            assert!(s.open(junk).is_none(), "{junk}");
        }
    }

    #[tokio::test]
    async fn a_replica_takes_over_a_fresh_session_not_a_stale_one() {
        let store = Store::new(Sealer::new(A, None).unwrap(), None);
        let init: InitializeRequestParams = serde_json::from_value(serde_json::json!({
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}
        }))
        .unwrap();
        store.store("local-1", &SessionState::new(init.clone())).await.unwrap();
        let id = store.seal_new("local-1", Some("team-a")).unwrap();
        assert_eq!(store.local_id(&id), Some(("local-1".into(), Some("team-a".into()))));
        let state = store.load(&id).await.unwrap().expect("a fresh id is taken over");
        assert_eq!(state.initialize_params.client_info.name, "c");
        assert!(store.seal_new("local-1", None).is_none(), "sealed once, when its handshake response passes");
        let stale = Payload { id: "local-2".into(), who: None, issued: now() - MAX_AGE_SECS - 1, init };
        let stale = store.sealer.seal(&serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(store.load(&stale).await.unwrap().is_none(), "a day-old id is not taken over");
        assert_eq!(store.restored(), 1);
    }

    #[test]
    fn short_or_orphaned_secrets_are_refused() {
        let refusal = |r: Result<Sealer, String>| r.err().unwrap_or_default();
        assert!(refusal(Sealer::new("short", None)).contains("at least 32"));
        assert!(refusal(Sealer::new(A, Some("short"))).contains("HUB_SESSION_KEY_PREVIOUS"));
    }
}
