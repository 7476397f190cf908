//! A url server in servers.toml: its URL and static headers, and `auth` and `oauth` — whether hub authorizes to
//! it with OAuth 2.1 (MCP authorization spec) and what it knows of its client there. Tokens are never here —
//! `hub auth login` keeps them in the state directory (see `crate::auth`).
//!
//! ```toml
//! [servers.linear]
//! url = "https://mcp.linear.app/mcp"
//! auth = "oauth"                       # default: OAuth when the server answers 401 with a Bearer challenge
//! oauth = { client_id = "…", client_secret = "${LINEAR_SECRET}", scopes = ["read"],
//!           client_metadata_url = "https://example.com/hub-client.json", redirect_uri = "http://127.0.0.1:8976/callback" }
//! ```

use super::raw::{RawServer, Str};
use super::{ErrAt, Failure, Transport};
use serde::Deserialize;

/// The transport of url server `name` (`url` set, no command).
pub fn http(
    name: &str,
    url: &Str,
    s: &RawServer,
    exp: &dyn Fn(&Str, &str) -> Result<String, Failure>,
    err: &ErrAt<'_>,
) -> Result<Transport, Failure> {
    let key = |k: &str| format!("servers.{name}.{k}");
    let u = exp(url, &key("url"))?;
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(err(url.span().start, &key("url"), &format!("must start with http:// or https://, got '{u}'")));
    }
    let headers = s.headers.iter().flatten().map(|(k, v)| Ok((k.clone(), exp(v, &key(&format!("headers.{k}")))?)));
    let headers: Vec<(String, String)> = headers.collect::<Result<_, Failure>>()?;
    let authorization = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let (auth, oauth) = resolve(name, s.auth.as_ref(), s.oauth.as_ref(), authorization, exp, err)?;
    Ok(Transport::Http { url: u, headers, auth, oauth })
}

/// How hub authorizes to a url server.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HttpAuth {
    /// OAuth when the server asks for it (a 401 with a Bearer challenge) and no `Authorization` header is set.
    #[default]
    Auto,
    /// Always OAuth (`auth = "oauth"` or an `oauth` table).
    OAuth,
    /// Never: only the static headers (`auth = "none"`).
    None,
}

/// `oauth = { … }`: all optional. Without a `client_id`, hub uses a client ID metadata document (when the
/// authorization server supports one and `client_metadata_url` is set) or registers itself (RFC 7591).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OAuthClient {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub client_metadata_url: Option<String>,
    /// A fixed loopback redirect (for a client registered with one); default: 127.0.0.1, an ephemeral port.
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    pub client_id: Option<Str>,
    pub client_secret: Option<Str>,
    pub scopes: Option<Vec<String>>,
    pub client_metadata_url: Option<Str>,
    pub redirect_uri: Option<Str>,
}

/// Resolves `auth` and `oauth` of server `name` (`exp` expands `${VAR}`s).
fn resolve(
    name: &str,
    auth: Option<&Str>,
    oauth: Option<&RawOAuth>,
    has_authorization_header: bool,
    exp: &dyn Fn(&Str, &str) -> Result<String, Failure>,
    err: &ErrAt<'_>,
) -> Result<(HttpAuth, OAuthClient), Failure> {
    let key = |k: &str| format!("servers.{name}.{k}");
    let mode = match auth.map(|a| (a.span().start, a.get_ref().as_str())) {
        None if oauth.is_some() => HttpAuth::OAuth,
        None => HttpAuth::Auto,
        Some((_, "oauth")) => HttpAuth::OAuth,
        Some((_, "none")) => HttpAuth::None,
        Some((at, other)) => {
            return Err(err(at, &key("auth"), &format!("must be \"oauth\" or \"none\", got \"{other}\"")));
        }
    };
    if mode == HttpAuth::OAuth && has_authorization_header {
        let at = auth.map_or(0, |a| a.span().start);
        return Err(err(at, &key("auth"), "OAuth and a static Authorization header exclude each other"));
    }
    let Some(raw) = oauth else { return Ok((mode, OAuthClient::default())) };
    let opt = |v: &Option<Str>, k: &str| v.as_ref().map(|s| exp(s, &key(&format!("oauth.{k}")))).transpose();
    let client = OAuthClient {
        client_id: opt(&raw.client_id, "client_id")?,
        client_secret: opt(&raw.client_secret, "client_secret")?,
        scopes: raw.scopes.clone().unwrap_or_default(),
        client_metadata_url: opt(&raw.client_metadata_url, "client_metadata_url")?,
        redirect_uri: opt(&raw.redirect_uri, "redirect_uri")?,
    };
    if client.client_secret.is_some() && client.client_id.is_none() {
        let at = raw.client_secret.as_ref().map_or(0, |s| s.span().start);
        return Err(err(at, &key("oauth.client_secret"), "a client_secret needs its client_id"));
    }
    if let (Some(url), Some(raw_url)) = (&client.client_metadata_url, &raw.client_metadata_url)
        && !url.starts_with("https://")
    {
        let at = raw_url.span().start;
        return Err(err(at, &key("oauth.client_metadata_url"), "must be an https:// URL"));
    }
    if let (Some(uri), Some(raw_uri)) = (&client.redirect_uri, &raw.redirect_uri)
        && let Err(why) = loopback_redirect(uri)
    {
        return Err(err(raw_uri.span().start, &key("oauth.redirect_uri"), &why));
    }
    Ok((mode, client))
}

/// A redirect URI hub can receive: `http://` on a loopback host (RFC 8252 §7.3) with a port.
pub fn loopback_redirect(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| format!("must be an http:// loopback URL (RFC 8252), got '{uri}'"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
    if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        return Err(format!("must point at this machine (127.0.0.1, [::1] or localhost), not '{host}'"));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("needs a port to listen on, got '{uri}'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_redirects_are_accepted() {
        assert!(super::loopback_redirect("http://127.0.0.1:8976/callback").is_ok());
        assert!(super::loopback_redirect("http://localhost:1/cb").is_ok());
        assert!(super::loopback_redirect("http://[::1]:9000/").is_ok());
        assert!(super::loopback_redirect("https://127.0.0.1:8976/cb").unwrap_err().contains("http://"));
        assert!(super::loopback_redirect("http://evil.example:8976/cb").unwrap_err().contains("evil.example"));
        assert!(super::loopback_redirect("http://127.0.0.1/cb").unwrap_err().contains("port"));
    }
}
