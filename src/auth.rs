//! OAuth 2.1 for remote MCP servers (the MCP authorization spec, 2025-11-25), client side: `hub auth login |
//! logout | status`, and the authorized HTTP client a connection uses (`manager`).
//!
//! rmcp's `auth` module does discovery, registration, PKCE, the code exchange, refresh (before expiry, and once on
//! a 401) and step-up bookkeeping; hub adds the loopback redirect (`callback`), the browser, persistent per-server
//! storage (`store`), revocation at logout (RFC 7009, not in rmcp), the endpoint checks and the messages. Tokens
//! never appear in output or logs: rmcp's credential types redact them in `Debug`, and hub prints only expiry,
//! scopes and client ids.

mod callback;
pub mod login;
mod manage;
pub mod store;
pub mod vault;

pub use manage::{logout, status};

use crate::config::oauth::{HttpAuth, OAuthClient};
use crate::config::{ServerConfig, Transport};
use rmcp::transport::auth::{AuthorizationManager, AuthorizationMetadata, OAuthClientConfig};

/// The line every face shows for a server that needs a login.
/// A url server's stored login, as `hub auth status` reports it (`"authorized"`, `"expired"`, `"not logged in"`
/// with a detail); `None` for a server that does not use OAuth.
pub fn login_state(cfg: &ServerConfig) -> Option<(&'static str, String)> {
    let (url, _, _) = oauth_target(cfg)?;
    let record = store::load(&cfg.name).ok()?;
    Some(manage::state(&cfg.name, url, record.as_ref()))
}

pub fn needs_login(server: &str) -> String {
    format!("needs login: run `hub auth login {server}`")
}

/// `needs_login`, with the scope the server's challenge names when it names one.
pub fn login_hint(server: &str, challenge: Option<&str>) -> String {
    let base = reqwest::Url::parse("http://localhost/").expect("a valid URL");
    let scope = challenge.and_then(|c| rmcp::transport::auth::WWWAuthenticateParams::parse(c, &base).scope);
    match scope.filter(|s| !s.trim().is_empty()) {
        Some(s) if s.contains(' ') => format!("needs login: run `hub auth login {server} --scope \"{s}\"`"),
        Some(s) => format!("needs login: run `hub auth login {server} --scope {s}`"),
        None => needs_login(server),
    }
}

/// What to tell the user when a request failed on authorization (`None`: it did not): a login to run, a scope to
/// ask for (step-up, a 403 `insufficient_scope`), or why the token could not be had.
pub fn refused(e: &rmcp::service::ServiceError, server: &str) -> Option<String> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let rmcp::service::ServiceError::TransportSend(t) = e else { return None };
    match t.error.downcast_ref::<StreamableHttpError<reqwest::Error>>()? {
        StreamableHttpError::AuthRequired(a) => Some(login_hint(server, Some(&a.www_authenticate_header))),
        StreamableHttpError::InsufficientScope(s) => {
            let scope = s.required_scope.as_deref().unwrap_or("SCOPE");
            let scope = if scope.contains(' ') { format!("\"{scope}\"") } else { scope.to_string() };
            Some(format!("the token lacks the scope this needs: run `hub auth login {server} --scope {scope}`"))
        }
        StreamableHttpError::Auth(a) => {
            Some(format!("authorization failed ({a}); if it persists, run `hub auth login {server}`"))
        }
        _ => None,
    }
}

/// The challenge of a 403 `insufficient_scope` that failed request `e`, if that is why it failed.
pub fn scope_challenge(e: &rmcp::service::ServiceError) -> Option<String> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let rmcp::service::ServiceError::TransportSend(t) = e else { return None };
    match t.error.downcast_ref::<StreamableHttpError<reqwest::Error>>()? {
        StreamableHttpError::InsufficientScope(s) => Some(s.www_authenticate_header.clone()),
        _ => None,
    }
}

/// A url server's URL, static headers and OAuth client settings.
pub type Target<'a> = (&'a str, &'a [(String, String)], &'a OAuthClient);

/// A url server of `cfg` that may use OAuth: its URL, headers and client settings.
pub fn oauth_target(cfg: &ServerConfig) -> Option<Target<'_>> {
    match &cfg.transport {
        Transport::Http { url, headers, auth, oauth } if *auth != HttpAuth::None => {
            Some((url.as_str(), headers.as_slice(), oauth))
        }
        _ => None,
    }
}

/// The authorized client state for connecting to server `name`, when a login for this URL is stored; `None`
/// connects without a token (a 401 then means "needs login"). Uses the metadata kept at login: no discovery.
pub async fn manager(name: &str, url: &str, client: &OAuthClient) -> Result<Option<AuthorizationManager>, String> {
    vault::required()?;
    let at = store::stamp(name);
    let Some(record) = store::load(name)? else { return Ok(None) };
    let (Some(metadata), Some(kept), true) = (record.metadata, record.client, record.url == url) else {
        return Ok(None);
    };
    if record.credentials.is_none() {
        return Ok(None);
    }
    let mut manager = AuthorizationManager::new(url).await.map_err(|e| format!("bad server URL: {e}"))?;
    manager.set_metadata(metadata);
    // Seeded with what was just read: the keyring is asked once per connection, not again for the first request.
    manager.set_credential_store(store::FileStore::seeded(name, url, at, record.credentials));
    if !manager.initialize_from_store().await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    // rmcp configures a stored client without its secret; a confidential client needs it to refresh.
    if let Some(secret) = client.client_secret.clone().or(kept.client_secret) {
        let config = OAuthClientConfig::new(kept.client_id, kept.redirect_uri).with_client_secret(secret);
        manager.configure_client(config).map_err(|e| e.to_string())?;
    }
    Ok(Some(manager))
}

/// Asks the server unauthenticated: its `WWW-Authenticate` challenge when it answers 401 (or 403), `None` when it
/// answers without asking for authorization.
pub async fn challenge(url: &str, headers: &[(String, String)]) -> Result<Option<String>, String> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "hub", "version": env!("CARGO_PKG_VERSION")}}});
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .timeout(std::time::Duration::from_secs(30))
        .json(&body);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let response = request.send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status().as_u16();
    let header = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(String::from);
    match status {
        401 | 403 => Ok(Some(header.unwrap_or_default())),
        200..=299 => Ok(None),
        s => Err(format!("{url} answered HTTP {s} to an unauthenticated initialize")),
    }
}

/// Every endpoint hub will send a secret to is https, or http on this machine only.
pub fn check_endpoints(m: &AuthorizationMetadata) -> Result<(), String> {
    let revocation = m.additional_fields.get("revocation_endpoint").and_then(|v| v.as_str());
    let named = [
        ("authorization", Some(m.authorization_endpoint.as_str())),
        ("token", Some(m.token_endpoint.as_str())),
        ("registration", m.registration_endpoint.as_deref()),
        ("revocation", revocation),
    ];
    for (what, url) in named {
        let Some(url) = url else { continue };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("its authorization server's {what} endpoint '{url}' is not a URL: {e}"))?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "its authorization server's {what} endpoint {url} is not https (refused: only this machine may use http)"
                ));
            }
        }
    }
    Ok(())
}

/// `hub auth …`
#[derive(Debug, clap::Subcommand)]
pub enum AuthAction {
    /// Log in to a url server with OAuth (opens the browser, or prints the URL)
    Login {
        /// The server's name in servers.toml
        #[arg(add = crate::cli::live(crate::cli::servers))]
        name: String,
        /// Print the URL and wait instead of opening a browser (always so without a display)
        #[arg(long)]
        no_browser: bool,
        /// Scope to ask for (repeatable; default: the config's `oauth.scopes`, else what the server suggests)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Seconds to wait for the browser to come back
        #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout: u64,
    },
    /// Forget a server's tokens (revoking them when the server supports revocation)
    Logout {
        /// The server's name in servers.toml
        #[arg(add = crate::cli::live(crate::cli::servers))]
        name: String,
    },
    /// Per url server: logged in or not, token expiry, scopes (never a token)
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// Runs `hub auth ACTION` under `config`.
pub async fn run(config: &crate::config::Config, action: AuthAction) -> crate::exit::Result<u8> {
    use crate::exit::Failure;
    let server = |name: &str| {
        let cfg = config
            .servers
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Failure::usage(format!("no server '{name}' in {}", config.origin)))?;
        oauth_target(cfg)
            .map(|t| (cfg, t))
            .ok_or_else(|| Failure::usage(format!("server '{name}' is not a url server that may use OAuth")))
    };
    match action {
        AuthAction::Login { name, no_browser, scopes, timeout } => {
            let (_, (url, headers, client)) = server(&name)?;
            let scopes = scopes.iter().flat_map(|s| s.split_whitespace().map(String::from)).collect();
            let args = login::LoginArgs { no_browser, scopes, timeout: std::time::Duration::from_secs(timeout) };
            let done = login::login(&name, url, headers, client, &args)
                .await
                .map_err(|e| Failure::runtime(format!("cannot log in to {name}: {e}")))?;
            println!("{}", done.summary(&name));
            Ok(crate::exit::OK)
        }
        AuthAction::Logout { name } => {
            server(&name)?;
            let said = logout(&name).await.map_err(|e| Failure::runtime(format!("cannot log out of {name}: {e}")))?;
            println!("{said}");
            Ok(crate::exit::OK)
        }
        AuthAction::Status { json } => status(config, json),
    }
}
