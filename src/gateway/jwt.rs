//! JWT bearer tokens for teams (`[gateway.auth]`): a token from the identity provider is validated with
//! `jsonwebtoken` against the provider's JWKS — signature by the key its `kid` names (asymmetric algorithms only:
//! RS*, PS*, ES*, EdDSA; `alg: none` and HMAC are refused), `exp` and `nbf` (30 s leeway), `aud` and `iss` — and
//! its claim (`scope`, or the configured one) is mapped to a named policy of `[gateway.tokens]`.
//!
//! Keys are fetched on first use and cached for `MAX_AGE`; an unknown `kid` refetches them (at most every
//! `REFETCH`). When the JWKS endpoint is down, the cached keys keep working; with none cached, the request gets
//! 503 — never "allow".
//! Also the RFC 9728 protected-resource metadata (`/.well-known/oauth-protected-resource`), so MCP clients can
//! find the authorization server.

use crate::config::gateway::Auth;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The least time between two fetches of the JWKS (an unknown `kid`).
const REFETCH: Duration = Duration::from_secs(30);

/// How long fetched keys are used before they are fetched again (a key the provider withdrew stops working).
const MAX_AGE: Duration = Duration::from_secs(600);

pub struct Jwt {
    auth: Auth,
    keys: tokio::sync::Mutex<(Option<JwkSet>, Option<Instant>)>,
    http: reqwest::Client,
}

/// What became of a bearer token.
pub enum Verdict {
    /// The named policy its claims grant, and its `sub`.
    Valid(String, Option<String>),
    /// Not valid (the reason, for the 401).
    Invalid(String),
    /// Cannot be checked now (no keys): 503.
    Unavailable(String),
}

/// Whether `token` has the shape of a JWT (three base64url parts).
pub fn looks_like(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("ey")
}

impl Jwt {
    pub fn new(auth: Auth) -> Jwt {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Jwt { auth, keys: Default::default(), http }
    }

    pub async fn verify(&self, token: &str) -> Verdict {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(h) => h,
            Err(e) => return Verdict::Invalid(format!("not a JWT: {e}")),
        };
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Verdict::Invalid(format!("algorithm {:?} is not accepted (asymmetric keys only)", header.alg));
        }
        let key = match self.key(header.kid.as_deref()).await {
            Ok(Some(k)) => k,
            Ok(None) => return Verdict::Invalid(format!("no key {:?} in the issuer's JWKS", header.kid)),
            Err(why) => return Verdict::Unavailable(why),
        };
        let mut v = Validation::new(header.alg);
        v.set_audience(&[&self.auth.audience]);
        v.set_issuer(&[&self.auth.issuer]);
        v.validate_nbf = true;
        v.leeway = 30;
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        let claims = match jsonwebtoken::decode::<Value>(token, &key, &v) {
            Ok(data) => data.claims,
            Err(e) => return Verdict::Invalid(format!("the token is not valid: {e}")),
        };
        let granted: Vec<String> = match &claims[&self.auth.claim] {
            Value::String(s) => s.split_whitespace().map(String::from).collect(),
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
            _ => vec![],
        };
        let Some((_, name)) = self.auth.policies.iter().find(|(value, _)| granted.contains(value)) else {
            return Verdict::Invalid(format!("its {} grants no policy of this gateway", self.auth.claim));
        };
        let subject = claims["sub"].as_str().map(|s| crate::output::cut(s, 200));
        Verdict::Valid(name.clone(), subject)
    }

    /// The decoding key `kid` names, fetching the JWKS when it is not cached (or does not have it); `Err` when
    /// no keys can be had at all.
    async fn key(&self, kid: Option<&str>) -> Result<Option<DecodingKey>, String> {
        let mut keys = self.keys.lock().await;
        let find = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let cached = keys.0.as_ref().and_then(find);
        let age = keys.1.map(|at| at.elapsed());
        let due = age.is_none_or(|a| a >= MAX_AGE) || (cached.is_none() && age.is_none_or(|a| a >= REFETCH));
        if due {
            match self.fetch().await {
                Ok(set) => *keys = (Some(set), Some(Instant::now())),
                Err(e) if keys.0.is_none() => {
                    return Err(format!("cannot validate tokens: the JWKS is unavailable ({e})"));
                }
                Err(e) => {
                    tracing::warn!("fetching the JWKS failed, using the cached keys: {e}");
                    keys.1 = Some(Instant::now());
                }
            }
        }
        let jwk = keys.0.as_ref().and_then(find);
        Ok(jwk.and_then(|k| DecodingKey::from_jwk(&k).ok()))
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let r = self.http.get(&self.auth.jwks_url).send().await.map_err(|e| e.to_string())?;
        let r = r.error_for_status().map_err(|e| e.to_string())?;
        r.json::<JwkSet>().await.map_err(|e| format!("not a JWKS: {e}"))
    }

    /// The RFC 9728 protected-resource metadata for the gateway reached at `base` (`http://host:port`).
    pub fn metadata(&self, base: &str) -> Value {
        let scopes: Vec<&str> = self.auth.policies.iter().map(|(v, _)| v.as_str()).collect();
        serde_json::json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [self.auth.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": scopes,
        })
    }
}
