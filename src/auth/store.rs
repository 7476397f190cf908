//! Where OAuth credentials live: one file per server in the state directory (`$XDG_STATE_HOME/hub/auth/NAME.json`,
//! the directory 0700, the file 0600, written whole and renamed into place), never servers.toml; with the OS
//! keyring in use (`vault`), the secrets — tokens and a client secret — are there and the file keeps the rest
//! (and its modification time says when anything changed). A record is bound
//! to the server's URL: tokens stored for another URL are never sent (a server whose URL changed needs a new
//! login). Clients hub registered dynamically are remembered per authorization server (`clients.json`), so a new
//! login reuses the registration. A refresh holds an advisory lock (`NAME.lock`) so two hub processes sharing
//! the tokens do not both spend a rotating refresh token.
//!
//! Owns: the files and their format. Not: the flow (`login`), what rmcp does with the credentials.

use rmcp::transport::auth::{AuthError, CredentialRefreshGuard, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The directory of the credential files.
pub fn dir() -> PathBuf {
    crate::repl::state_dir().join("auth")
}

/// The client hub is to the authorization server of one server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Client {
    pub client_id: String,
    /// Only for a client registered with a secret (from servers.toml; never printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    /// How it was obtained: "configured", "metadata document" or "registered".
    pub how: String,
}

/// What is kept for one server.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub url: String,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client: Option<Client>,
    /// The authorization server's metadata as discovered at login: a connection needs no discovery.
    #[serde(default)]
    pub metadata: Option<rmcp::transport::auth::AuthorizationMetadata>,
    /// RFC 7009, when the authorization server offers it (used by `hub auth logout`).
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub credentials: Option<StoredCredentials>,
    /// The keyring account holding this record's secrets, when they are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
}

/// What goes to the keyring.
#[derive(Serialize, Deserialize, Default)]
struct Secrets {
    token_response: Option<rmcp::transport::auth::OAuthTokenResponse>,
    client_secret: Option<String>,
}

impl Record {
    /// When the access token expires (seconds since the epoch), when the server said.
    pub fn expires_at(&self) -> Option<u64> {
        use oauth2::TokenResponse;
        let c = self.credentials.as_ref()?;
        Some(c.token_received_at? + c.token_response.as_ref()?.expires_in()?.as_secs())
    }
    pub fn has_refresh_token(&self) -> bool {
        use oauth2::TokenResponse;
        self.credentials.as_ref().and_then(|c| c.token_response.as_ref()).is_some_and(|t| t.refresh_token().is_some())
    }
}

fn path(server: &str) -> PathBuf {
    dir().join(format!("{server}.json"))
}

/// The record of `server`, if there is a readable one (its secrets fetched from the keyring when they are there).
pub fn load(server: &str) -> Result<Option<Record>, String> {
    let Some(mut record) = read_json::<Record>(&path(server))? else { return Ok(None) };
    if let Some(account) = record.keyring.clone() {
        let secrets: Secrets = match super::vault::get(&account)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| format!("the keyring's entry is damaged: {e}"))?,
            None => Secrets::default(),
        };
        if let Some(c) = record.credentials.as_mut() {
            c.token_response = secrets.token_response;
        }
        if let Some(c) = record.client.as_mut() {
            c.client_secret = secrets.client_secret;
        }
    }
    Ok(Some(record))
}

/// Stores `record`: the secrets in the keyring when it is in use (then the rest in the file), else all in the file.
pub fn save(server: &str, record: &Record) -> Result<(), String> {
    let mut kept = record.clone();
    kept.keyring = None;
    if super::vault::in_use()? {
        let secrets = Secrets {
            token_response: kept.credentials.as_mut().and_then(|c| c.token_response.take()),
            client_secret: kept.client.as_mut().and_then(|c| c.client_secret.take()),
        };
        let text = serde_json::to_string(&secrets).map_err(|e| e.to_string())?;
        super::vault::set(server, &text)?;
        kept.keyring = Some(server.to_string());
    }
    write_json(&path(server), &kept)
}

/// When `server`'s record last changed (`None`: there is none) — how a waiting supervisor sees a new login.
pub fn stamp(server: &str) -> Option<std::time::SystemTime> {
    std::fs::metadata(path(server)).and_then(|m| m.modified()).ok()
}

/// Forgets everything about `server` (its registration stays remembered per authorization server).
pub fn remove(server: &str) -> Result<bool, String> {
    if let Ok(Some(Record { keyring: Some(account), .. })) = read_json::<Record>(&path(server)) {
        super::vault::delete(&account)?;
    }
    match std::fs::remove_file(path(server)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot remove {}: {e}", path(server).display())),
    }
}

/// The client registered earlier at the authorization server `issuer`, if any.
pub fn registered(issuer: &str) -> Option<Client> {
    let all: BTreeMap<String, Client> = read_json(&dir().join("clients.json")).ok().flatten()?;
    all.get(issuer).cloned()
}

pub fn remember(issuer: &str, client: &Client) -> Result<(), String> {
    let file = dir().join("clients.json");
    let mut all: BTreeMap<String, Client> = read_json(&file)?.unwrap_or_default();
    all.insert(issuer.to_string(), client.clone());
    write_json(&file, &all)
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<Option<T>, String> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is damaged ({e}); remove it and log in again", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

/// Writes `value` to `file` through a 0600 temporary file renamed into place (a reader never sees half of it).
fn write_json<T: Serialize>(file: &Path, value: &T) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()));
    written.and_then(|()| std::fs::rename(&tmp, file)).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// rmcp's view of one server's record: its credentials, only while the record is for `url`. rmcp reads them for
/// every request: they are read again only when the file changed (a login or a refresh, by any process).
pub struct FileStore {
    server: String,
    url: String,
    cache: std::sync::Mutex<Option<(std::time::SystemTime, Option<StoredCredentials>)>>,
}

impl FileStore {
    pub fn new(server: &str, url: &str) -> FileStore {
        FileStore { server: server.to_string(), url: url.to_string(), cache: Default::default() }
    }

    /// A store whose cache already holds `credentials`, read when the file's time was `at`.
    pub fn seeded(
        server: &str,
        url: &str,
        at: Option<std::time::SystemTime>,
        credentials: Option<StoredCredentials>,
    ) -> FileStore {
        let store = FileStore::new(server, url);
        store.remember(at, credentials);
        store
    }

    fn cached(&self, at: Option<std::time::SystemTime>) -> Option<Option<StoredCredentials>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.as_ref().filter(|(t, _)| Some(*t) == at).map(|(_, c)| c.clone())
    }

    fn remember(&self, at: Option<std::time::SystemTime>, credentials: Option<StoredCredentials>) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = at.map(|t| (t, credentials));
    }
}

/// Runs the blocking store work `f` off the async threads (the keyring is another process).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| store_error(e.to_string()))?.map_err(store_error)
}

fn store_error(e: String) -> AuthError {
    AuthError::CredentialStoreError(e)
}

#[async_trait::async_trait]
impl CredentialStore for FileStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let at = stamp(&self.server);
        if let Some(hit) = self.cached(at) {
            return Ok(hit);
        }
        let (server, url) = (self.server.clone(), self.url.clone());
        let credentials =
            blocking(move || Ok(load(&server)?.filter(|r| r.url == url).and_then(|r| r.credentials))).await?;
        self.remember(at, credentials.clone());
        Ok(credentials)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let (server, url, kept) = (self.server.clone(), self.url.clone(), credentials.clone());
        blocking(move || {
            let record = load(&server)?.filter(|r| r.url == url);
            let mut record = record.unwrap_or_else(|| Record { url, ..Record::default() });
            record.credentials = Some(kept);
            save(&server, &record)
        })
        .await?;
        self.remember(stamp(&self.server), Some(credentials));
        Ok(())
    }

    async fn clear(&self) -> Result<(), AuthError> {
        let server = self.server.clone();
        blocking(move || {
            let Some(mut record) = load(&server)? else { return Ok(()) };
            record.credentials = None;
            save(&server, &record)
        })
        .await?;
        self.remember(None, None);
        Ok(())
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        let lock = dir().join(format!("{}.lock", self.server));
        let file = tokio::task::spawn_blocking(move || lock_file(&lock))
            .await
            .map_err(|e| store_error(e.to_string()))?
            .map_err(store_error)?;
        Ok(Some(CredentialRefreshGuard::new(file)))
    }
}

/// An exclusive `flock` on `file` (released when the returned file is closed).
fn lock_file(file: &Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    if let Some(dir) = file.parent() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!("cannot lock {}: {}", file.display(), std::io::Error::last_os_error()));
    }
    Ok(f)
}
