//! `hub auth login NAME`: the MCP authorization flow (2025-11-25) for one url server, on rmcp's `auth` module.
//!
//! hub asks the server unauthenticated and reads its 401 challenge; rmcp discovers from it (RFC 9728 protected
//! resource metadata → RFC 8414 / OIDC authorization-server metadata), picks the client identity (a configured
//! `client_id`, else a client ID metadata document when the server supports them and one is configured, else RFC
//! 7591 dynamic registration), builds the authorization URL with PKCE S256, `state` and the RFC 8707 `resource`,
//! and exchanges the code (checking `iss`, RFC 9207, when sent). What rmcp does not cover and hub does here: the
//! loopback redirect listener (`callback`), opening the browser, refusing plain-http authorization endpoints off
//! this machine, remembering a dynamically registered client per authorization server, keeping the metadata so a
//! later connection needs no discovery, and the timeout.
//!
//! Owns: one login. Not: where the tokens are kept (`store`), using them (`crate::registry::connect`).

use super::callback::Callback;
use super::store::{self, Client, FileStore, Record};
use crate::config::oauth::OAuthClient;
use rmcp::transport::auth::{
    AuthorizationManager, AuthorizationMetadata, AuthorizationRequest, AuthorizationSession, WWWAuthenticateParams,
};
use std::time::Duration;

pub struct LoginArgs {
    pub no_browser: bool,
    /// Scopes to ask for (`--scope`, repeatable or space-separated); default: the config's, else the server's.
    pub scopes: Vec<String>,
    pub timeout: Duration,
}

impl LoginArgs {
    /// `/login` in chat: the browser when there is a display, the default wait, the configured scopes.
    pub fn interactive() -> LoginArgs {
        LoginArgs { no_browser: false, scopes: Vec::new(), timeout: Duration::from_secs(300) }
    }
}

/// What a login got.
pub struct LoggedIn {
    pub client_id: String,
    pub how: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<u64>,
}

impl LoggedIn {
    /// The line that says so (no token in it).
    pub fn summary(&self, name: &str) -> String {
        let scopes = if self.scopes.is_empty() { "none named".into() } else { self.scopes.join(" ") };
        let until =
            self.expires_at.map(|t| format!("; token valid until {}", super::manage::when(t))).unwrap_or_default();
        format!("Logged in to {name} (client {}, {}; scopes: {scopes}{until})", self.client_id, self.how)
    }
}

/// Runs the whole flow for server `name` at `url`; every failure is one line saying what to do.
pub async fn login(
    name: &str,
    url: &str,
    headers: &[(String, String)],
    client: &OAuthClient,
    args: &LoginArgs,
) -> Result<LoggedIn, String> {
    super::vault::in_use()?;
    // The challenge of an unauthenticated initialize, when it gets one (a server may ask only for some calls;
    // then discovery starts from the well-known locations).
    let challenge = super::challenge(url, headers).await?;
    let mut manager = AuthorizationManager::new(url).await.map_err(|e| format!("bad server URL: {e}"))?;
    let discovered = async {
        let r = manager.resolve_metadata_from_challenge(challenge.as_deref()).await;
        r.map_err(|e| format!("cannot discover its authorization server: {e}"))
    };
    let resolved = step("discovering its authorization server", discovered).await?;
    if !resolved.source.is_discovered() {
        let base = reqwest::Url::parse(url).map_err(|e| format!("bad server URL: {e}"))?;
        let pointed = challenge.as_deref().map(|c| WWWAuthenticateParams::parse(c, &base).resource_metadata_url);
        match pointed {
            None => return Err(format!("{url} neither asks for authorization nor publishes OAuth metadata")),
            Some(Some(prm)) => {
                return Err(format!("its protected-resource metadata at {prm} is malformed or unusable"));
            }
            // A 2025-03-26 server: no metadata, the default endpoints on its origin.
            Some(None) => eprintln!("note: it publishes no OAuth metadata; using the default endpoints on its origin"),
        }
    }
    let metadata = resolved.metadata;
    super::check_endpoints(&metadata)?;
    manager.set_metadata(metadata.clone());
    manager.set_credential_store(FileStore::new(name, url));
    let issuer = metadata.issuer.clone().unwrap_or_else(|| metadata.authorization_endpoint.clone());

    // The client identity, in the spec's order, and the redirect it was registered with.
    let cimd = metadata.additional_fields.get("client_id_metadata_document_supported").and_then(|v| v.as_bool());
    let remembered = store::registered(&issuer).filter(|_| client.client_id.is_none());
    let (mut callback, mut how) = (None, "registered");
    if let Some(c) = &remembered {
        // The registration names its redirect exactly: reuse it when its port is free, else register again.
        callback = Callback::bind(Some(&c.redirect_uri)).await.ok();
    }
    let callback = match callback {
        Some(cb) => cb,
        None => Callback::bind(client.redirect_uri.as_deref()).await?,
    };
    let redirect_uri = callback.redirect_uri();
    let mut request = AuthorizationRequest::new(&redirect_uri).with_client_name("hub");
    if let Some(id) = &client.client_id {
        request = request.with_preregistered_client(id);
        if let Some(secret) = &client.client_secret {
            request = request.with_client_secret(secret);
        }
        how = "configured";
    } else if let Some(doc) = client.client_metadata_url.as_ref().filter(|_| cimd == Some(true)) {
        request = request.with_client_metadata_url(doc);
        how = "metadata document";
    } else if let Some(c) = remembered.as_ref().filter(|c| c.redirect_uri == redirect_uri) {
        request = request.with_preregistered_client(&c.client_id);
        how = "registered earlier";
    }
    if how == "registered" && metadata.registration_endpoint.is_none() {
        return Err("its authorization server offers no dynamic client registration: register hub there and set \
                    oauth.client_id (and client_secret) in servers.toml"
            .into());
    }
    let scopes: Vec<String> = if args.scopes.is_empty() { client.scopes.clone() } else { args.scopes.clone() };
    request = if scopes.is_empty() { request.with_initial_scope_selection() } else { request.with_scopes(scopes) };
    let registered = async { AuthorizationSession::new(manager, request).await.map_err(|(_, e)| e.to_string()) };
    let session = step("registering with its authorization server", registered).await?;
    let auth_url = session.get_authorization_url().to_string();
    let state = reqwest::Url::parse(&auth_url)
        .ok()
        .and_then(|u| u.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()))
        .ok_or("the authorization URL carries no state")?;

    eprintln!("To authorize hub with {name}, open this URL in a browser:\n\n  {auth_url}\n");
    if !args.no_browser && open_browser(&auth_url) {
        eprintln!("(a browser was opened)");
    }
    eprintln!("Waiting up to {} s for the authorization on {redirect_uri} …", args.timeout.as_secs());
    let back = callback.wait(&state, args.timeout).await?;
    let exchanged = async {
        let r = session.handle_callback_with_issuer(&back.code, &back.state, back.iss.as_deref()).await;
        r.map(drop).map_err(|e| format!("the authorization server did not give a token: {e}"))
    };
    step("exchanging the code for a token", exchanged).await?;

    let (client_id, _) = session.get_credentials().await.map_err(|e| e.to_string())?;
    let kept = Client {
        client_id: client_id.clone(),
        client_secret: client.client_secret.clone(),
        redirect_uri: redirect_uri.clone(),
        how: how.trim_end_matches(" earlier").to_string(),
    };
    if how == "registered" {
        store::remember(&issuer, &kept)?;
    }
    let mut record = store::load(name)?.unwrap_or_else(|| Record { url: url.to_string(), ..Record::default() });
    record.issuer = Some(issuer);
    record.revocation_endpoint = revocation_endpoint(&metadata);
    record.metadata = Some(metadata);
    record.client = Some(kept);
    store::save(name, &record)?;
    let granted = record.credentials.as_ref().map(|c| c.granted_scopes.as_slice()).unwrap_or_default();
    let scopes = granted.iter().filter(|s| !s.is_empty()).cloned().collect();
    Ok(LoggedIn { client_id, how: how.to_string(), scopes, expires_at: record.expires_at() })
}

/// How long one exchange with the authorization server may take (the user's wait is `--timeout`).
const STEP: Duration = Duration::from_secs(30);

/// `f`, bounded by `STEP`: an authorization server that does not answer ends the login with `what` it was doing.
async fn step<T>(what: &str, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(STEP, f).await.map_err(|_| format!("{what}: no answer within {} s", STEP.as_secs()))?
}

fn revocation_endpoint(metadata: &AuthorizationMetadata) -> Option<String> {
    metadata.additional_fields.get("revocation_endpoint").and_then(|v| v.as_str()).map(String::from)
}

/// Opens `url` in the user's browser when there is a display to show it on.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
    {
        "xdg-open"
    } else {
        return false;
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // The opener hands the URL to the browser and exits; it is reaped off the async threads.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}
