//! `[gateway.tokens.NAME]` in servers.toml: the named tokens `hub serve` accepts, each an identity with a policy —
//! tool globs allowed and denied (deny wins), the servers it may use, whether it may call tools that are not
//! read-only (`write`, default false), and its own rate limit. Read by every face but used only by the gateway,
//! so a token's `${VAR}` left unset is an error of `hub serve` alone (kept here as the message).
//!
//! ```toml
//! [gateway.tokens.support]
//! token = "${SUPPORT_TOKEN}"
//! allow = ["crm__*", "tickets__*"]
//! deny = ["*__delete_*"]
//! servers = ["crm", "tickets"]
//! write = true
//! rate = 20        # requests per second
//! ```

use super::{ErrAt, Failure, glob};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub tokens: Option<BTreeMap<String, Spanned<RawToken>>>,
    pub auth: Option<Spanned<RawAuth>>,
    /// The fleet's Redis, `redis://[user:password@]host[:port][/db]`.
    pub redis: Option<Spanned<String>>,
}

/// `[gateway.auth]`: JWT bearer tokens from an identity provider, their claims mapped to the named policies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub issuer: Spanned<String>,
    pub audience: Spanned<String>,
    pub jwks_url: Spanned<String>,
    /// The claim that names policies: "scope" (space-separated, the default) or a claim holding a string list.
    pub claim: Option<String>,
    /// Claim value → the name of a `[gateway.tokens]` entry whose policy it grants (several granted: the first
    /// claim value in sorted order wins).
    pub policies: Option<BTreeMap<String, String>>,
}

/// `[gateway.auth]`, resolved.
#[derive(Debug, Clone)]
pub struct Auth {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    pub claim: String,
    /// (claim value, policy name), in order.
    pub policies: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// None: a policy only, granted by `[gateway.auth]` claims.
    pub token: Option<Spanned<String>>,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub servers: Option<Vec<String>>,
    pub write: Option<bool>,
    pub rate: Option<Spanned<f64>>,
}

/// One named token and what it may do.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    /// The token, or why it could not be read (an unset variable: an error when the gateway starts); None: a
    /// policy that only `[gateway.auth]` claims grant.
    pub token: Option<Result<String, String>>,
    pub policy: Policy,
    /// Requests per second for this identity (None: only the per-address limit).
    pub rate: Option<f64>,
}

/// What an identity may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Tool globs over index names (`crm__*`); empty: every tool.
    pub allow: Vec<String>,
    /// Tool globs that are refused even when allowed.
    pub deny: Vec<String>,
    /// Servers it may use; empty: every server.
    pub servers: Vec<String>,
    /// May call tools that are not annotated read-only.
    pub write: bool,
}

impl Policy {
    /// Everything (the single `--token`, or no token on loopback).
    pub fn full() -> Policy {
        Policy { allow: vec![], deny: vec![], servers: vec![], write: true }
    }

    /// Whether `tool` (its index name) of `server` may be called; else why not, naming the rule.
    pub fn permits(&self, tool: &str, server: &str, read_only: bool) -> Result<(), String> {
        if !self.servers.is_empty() && !self.servers.iter().any(|s| s == server) {
            return Err(format!("its policy does not include server '{server}' (servers = {:?})", self.servers));
        }
        if let Some(g) = self.deny.iter().find(|g| glob(g, tool)) {
            return Err(format!("its policy denies {tool} (deny '{g}')"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|g| glob(g, tool)) {
            return Err(format!("{tool} is not in its policy's allow list ({:?})", self.allow));
        }
        if !self.write && !read_only {
            return Err(format!("{tool} is not read-only and its policy has write = false"));
        }
        Ok(())
    }

    /// Whether `server` is one the policy may use (for resources and prompts).
    pub fn uses(&self, server: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == server)
    }
}

/// `[gateway]` resolved: the identities of `[gateway.tokens]` (sorted by name), `[gateway.auth]`, `redis`.
pub type Resolved = (Vec<Identity>, Option<Auth>, Option<String>);

/// `[gateway]`, checked, with `${VAR}`s expanded.
pub fn resolve(
    raw: Option<RawGateway>,
    env: &dyn Fn(&str) -> Option<String>,
    err: &ErrAt<'_>,
) -> Result<Resolved, Failure> {
    let mut identities = Vec::new();
    let (tokens, auth, redis) = raw.map(|g| (g.tokens, g.auth, g.redis)).unwrap_or_default();
    let redis = match redis {
        None => None,
        Some(r) => match super::expand(r.get_ref(), env) {
            Ok(url) if url.starts_with("redis://") => Some(url),
            Ok(_) => {
                return Err(err(
                    r.span().start,
                    "gateway.redis",
                    "must be a redis:// URL (rediss:// is not supported)",
                ));
            }
            Err(m) => return Err(err(r.span().start, "gateway.redis", &m)),
        },
    };
    for (name, spanned) in tokens.unwrap_or_default() {
        let at = spanned.span().start;
        let key = |k: &str| format!("gateway.tokens.{name}.{k}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(err(at, &format!("gateway.tokens.{name}"), "names may use letters, digits, '_' and '-' only"));
        }
        let t = spanned.into_inner();
        let token = t.token.map(|tok| {
            super::expand(tok.get_ref(), env)
                .and_then(|v| if v.trim().is_empty() { Err("must not be empty".into()) } else { Ok(v) })
                .map_err(|m| err(tok.span().start, &key("token"), &m).message)
        });
        let rate = match t.rate {
            Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
                return Err(err(r.span().start, &key("rate"), "must be a number of requests per second above 0"));
            }
            r => r.map(|r| *r.get_ref()),
        };
        let policy = Policy {
            allow: t.allow.unwrap_or_default(),
            deny: t.deny.unwrap_or_default(),
            servers: t.servers.unwrap_or_default(),
            write: t.write.unwrap_or(false),
        };
        identities.push(Identity { name, token, policy, rate });
    }
    let auth = match auth {
        None => None,
        Some(a) => {
            let at = a.span().start;
            let a = a.into_inner();
            let exp = |s: &Spanned<String>, k: &str| {
                super::expand(s.get_ref(), env).map_err(|m| err(s.span().start, &format!("gateway.auth.{k}"), &m))
            };
            let policies: Vec<(String, String)> = a.policies.unwrap_or_default().into_iter().collect();
            if let Some((_, name)) = policies.iter().find(|(_, n)| !identities.iter().any(|i| &i.name == n)) {
                let msg = format!("names policy '{name}', which no [gateway.tokens.{name}] defines");
                return Err(err(at, "gateway.auth.policies", &msg));
            }
            let jwks_url = exp(&a.jwks_url, "jwks_url")?;
            if !(jwks_url.starts_with("https://") || jwks_url.starts_with("http://")) {
                return Err(err(a.jwks_url.span().start, "gateway.auth.jwks_url", "must be an http(s) URL"));
            }
            let (issuer, audience) = (exp(&a.issuer, "issuer")?, exp(&a.audience, "audience")?);
            Some(Auth { issuer, audience, jwks_url, claim: a.claim.unwrap_or_else(|| "scope".into()), policies })
        }
    };
    Ok((identities, auth, redis))
}

#[cfg(test)]
mod tests {
    use super::Policy;

    #[test]
    fn deny_wins_servers_bound_and_writes_need_a_grant() {
        let p = Policy {
            allow: vec!["crm__*".into(), "calendar__*".into()],
            deny: vec!["crm__delete_*".into(), "crm__*".into()],
            servers: vec!["crm".into(), "calendar".into()],
            write: false,
        };
        let denied = p.permits("crm__get_customer", "crm", true).unwrap_err();
        assert!(denied.contains("denies crm__get_customer (deny 'crm__*')"), "deny wins over allow: {denied}");
        assert!(p.permits("calendar__list_meetings", "calendar", true).is_ok());
        assert!(p.permits("calendar__cancel_meeting", "calendar", false).unwrap_err().contains("write = false"));
        assert!(p.permits("tickets__get_ticket", "tickets", true).unwrap_err().contains("server 'tickets'"));
        let writer = Policy { write: true, ..p.clone() };
        assert!(writer.permits("calendar__cancel_meeting", "calendar", false).is_ok());
        assert!(Policy::full().permits("anything", "any", false).is_ok());
        assert!(p.uses("crm") && !p.uses("payments"));
    }
}
