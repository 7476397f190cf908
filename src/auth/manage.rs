//! `hub auth status` and `hub auth logout`: what is stored per server, read without contacting anyone, and
//! forgetting it — revoking the tokens first (RFC 7009) when the authorization server offers revocation.
//!
//! Owns: those two commands' output. Not: the files (`store`).

use super::store::{self, Record};
use crate::config::Config;
use serde_json::json;

/// A UTC time for people: `2026-12-03 16:20 UTC`.
pub fn when(epoch_secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(epoch_secs).unwrap_or(i64::MAX), 0)
        .map_or_else(|| epoch_secs.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One server's login state, as `status` reports it.
pub(super) fn state(name: &str, url: &str, record: Option<&Record>) -> (&'static str, String) {
    let Some(r) = record.filter(|r| r.credentials.as_ref().is_some_and(|c| c.token_response.is_some())) else {
        return ("not logged in", super::needs_login(name));
    };
    if r.url != url {
        return ("not logged in", format!("the login was for {} — {}", r.url, super::needs_login(name)));
    }
    match r.expires_at() {
        Some(t) if t <= now() && r.has_refresh_token() => ("authorized", "expired; refreshed on next use".into()),
        Some(t) if t <= now() => ("expired", super::needs_login(name)),
        Some(t) => ("authorized", format!("until {}", when(t))),
        None => ("authorized", "no expiry given".into()),
    }
}

pub fn status(config: &Config, json_out: bool) -> crate::exit::Result<u8> {
    let mut rows = Vec::new();
    for cfg in &config.servers {
        let Some((url, _, _)) = super::oauth_target(cfg) else { continue };
        let record = store::load(&cfg.name).map_err(crate::exit::Failure::runtime)?;
        let (state, detail) = state(&cfg.name, url, record.as_ref());
        let r = record.as_ref().filter(|r| r.url == url);
        let creds = r.and_then(|r| r.credentials.as_ref());
        rows.push(json!({
            "server": cfg.name,
            "url": url,
            "state": state,
            "detail": detail,
            "expires_at": r.and_then(Record::expires_at),
            "refreshable": r.is_some_and(Record::has_refresh_token),
            "scopes": creds.map(|c| c.granted_scopes.iter().filter(|s| !s.is_empty()).collect::<Vec<_>>()),
            "client_id": r.and_then(|r| r.client.as_ref()).map(|c| c.client_id.clone()),
            "issuer": r.and_then(|r| r.issuer.clone()),
        }));
    }
    if json_out {
        let doc = json!({"store": {"dir": store::dir(), "secrets": super::vault::describe()}, "servers": rows});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(crate::exit::OK);
    }
    if rows.is_empty() {
        println!("No url servers in {}.", config.origin);
    }
    for r in &rows {
        let scopes = r["scopes"].as_array().filter(|s| !s.is_empty()).map(|s| {
            let names: Vec<&str> = s.iter().filter_map(|v| v.as_str()).collect();
            format!(" (scopes: {})", names.join(" "))
        });
        let (server, state, detail) = (r["server"].as_str(), r["state"].as_str(), r["detail"].as_str());
        println!(
            "{:<16} {:<14} {}{}",
            server.unwrap_or_default(),
            state.unwrap_or_default(),
            detail.unwrap_or_default(),
            scopes.unwrap_or_default()
        );
    }
    Ok(crate::exit::OK)
}

/// Revokes what can be revoked and forgets the rest; says which happened.
pub async fn logout(name: &str) -> Result<String, String> {
    let Some(record) = store::load(name)? else { return Ok(format!("Not logged in to {name}.")) };
    let mut said = format!("Logged out of {name}");
    if let (Some(endpoint), Some(client), Some(tokens)) = (
        record.revocation_endpoint.as_deref(),
        record.client.as_ref(),
        record.credentials.as_ref().and_then(|c| c.token_response.as_ref()),
    ) {
        use oauth2::TokenResponse;
        let mut pending = vec![("access_token", tokens.access_token().secret().clone())];
        if let Some(refresh) = tokens.refresh_token() {
            pending.insert(0, ("refresh_token", refresh.secret().clone()));
        }
        let mut failed = None;
        for (hint, token) in pending {
            if let Err(e) = revoke(endpoint, client, hint, &token).await {
                failed = Some(e);
            }
        }
        said += &match failed {
            None => " (tokens revoked at the server).".to_string(),
            Some(e) => format!(" (revocation failed: {e}; the tokens were forgotten here)."),
        };
    } else {
        said += " (the server offers no revocation; the tokens were forgotten here).";
    }
    store::remove(name)?;
    Ok(said)
}

/// RFC 7009: POST the token to the revocation endpoint as the client (basic auth when it has a secret). The
/// official Python SDK's endpoint wants a `client_secret` field even from a public client (a 400 naming it): then
/// once more with an empty one.
async fn revoke(endpoint: &str, client: &store::Client, hint: &str, token: &str) -> Result<(), String> {
    let mut form = vec![("token", token), ("token_type_hint", hint)];
    if client.client_secret.is_none() {
        form.push(("client_id", client.client_id.as_str()));
    }
    for attempt in 0..2 {
        let mut request = reqwest::Client::new().post(endpoint).timeout(std::time::Duration::from_secs(15));
        if let Some(secret) = &client.client_secret {
            request = request.basic_auth(&client.client_id, Some(secret));
        }
        let response = request.form(&form).send().await.map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body: String = response.text().await.unwrap_or_default().chars().take(200).collect();
        if attempt == 0 && status == 400 && body.contains("client_secret") && client.client_secret.is_none() {
            form.push(("client_secret", ""));
            continue;
        }
        return Err(format!("{endpoint} answered HTTP {status}: {body}"));
    }
    Err(format!("{endpoint} refused the revocation"))
}
