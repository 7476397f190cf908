//! The gateway's HTTP guards, in the order they run on every request: the per-client rate limit (before the
//! token check, so bad tokens are limited too), the lockout of a client that keeps sending wrong tokens, the
//! bearer token (constant-time compare; every route but /healthz; the admin token on the operator routes
//! `/servers/…`, which are off without one) — which names the caller (`Who`: `--token`, or one of the named tokens
//! of `[gateway.tokens]` with its policy and its own rate limit) —, and the body limit (413).
//!
//! Owns the limiter state and keeps it bounded: `governor`'s keyed limiters forget idle clients
//! (`retain_recent`, run by `prune`), and the lockout table drops expired entries whenever it grows.
//! Not: Host/Origin checks on /mcp (rmcp's streamable HTTP service does those, see `rest::router`).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens a client may send in a burst before it is locked out; then one more per `FAILURE_PERIOD`.
const FAILURE_BURST: u32 = 10;
const FAILURE_PERIOD: Duration = Duration::from_secs(6);

#[derive(Clone)]
pub struct Guards {
    pub token: Option<String>,
    /// The bearer token of the operator routes (`/servers/…`); they answer 403 when none is configured.
    pub admin_token: Option<String>,
    pub body_limit: usize,
    /// Requests per second per client address (None: no limit).
    pub rate: Option<f64>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    /// The named tokens and their policies (`[gateway.tokens]`).
    pub identities: Vec<crate::config::gateway::Identity>,
    /// JWT bearer tokens are accepted (`[gateway.auth]`): a token is needed even with no static one.
    pub jwt: bool,
}

/// A caller the gateway knows by its token: its name (in the audit log and metrics, never the token) and policy.
#[derive(Clone)]
pub struct Who {
    pub name: String,
    pub policy: crate::config::gateway::Policy,
    /// The JWT's `sub`, for a caller known by a JWT (the audit log names it).
    pub subject: Option<String>,
    /// Its own rate limit, requests per second (also applied cluster-wide with a fleet's Redis).
    pub rate: Option<f64>,
    limiter: Option<std::sync::Arc<governor::DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Who").field("name", &self.name).field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The limiter state behind the guards.
pub struct Limits {
    requests: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Clients locked out after too many wrong tokens, until the given time.
    locked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
    /// Each accepted token and whom it names.
    tokens: Vec<(String, std::sync::Arc<Who>)>,
    /// Every named policy (with or without a token), for JWT callers.
    named: HashMap<String, Who>,
}

/// A request refused by a guard.
pub struct Refused {
    status: StatusCode,
    message: &'static str,
    retry_after: Option<Duration>,
}

impl Refused {
    /// What the refusal says (the REST body's `error`).
    pub fn message(&self) -> &'static str {
        self.message
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({"success": false, "error": self.message}))).into_response();
        if let Some(wait) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

pub(super) fn too_many(message: &'static str, wait: Duration) -> Refused {
    Refused { status: StatusCode::TOO_MANY_REQUESTS, message, retry_after: Some(wait) }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

/// Constant-time comparison (the time taken does not depend on where the strings differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && a.len() == b.len()
}

/// `r` requests per second with a burst of two seconds' worth.
fn quota(r: f64) -> Quota {
    let burst = NonZeroU32::new((r * 2.0).ceil().clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs_f64(1.0 / r).max(Duration::from_nanos(1));
    Quota::with_period(period).unwrap_or(Quota::per_second(burst)).allow_burst(burst)
}

impl Limits {
    pub fn new(g: &Guards) -> Limits {
        let requests = g.rate.filter(|r| *r > 0.0).map(|r| DefaultKeyedRateLimiter::hashmap(quota(r)));
        let (mut tokens, mut named) = (Vec::new(), HashMap::new());
        if let Some(t) = &g.token {
            let policy = crate::config::gateway::Policy::full();
            let who = Who { name: "token".into(), policy, subject: None, rate: None, limiter: None };
            tokens.push((t.clone(), std::sync::Arc::new(who)));
        }
        for i in &g.identities {
            let limiter = i.rate.map(|r| std::sync::Arc::new(governor::RateLimiter::direct(quota(r))));
            let who = Who { name: i.name.clone(), policy: i.policy.clone(), subject: None, rate: i.rate, limiter };
            if let Some(Ok(t)) = &i.token {
                tokens.push((t.clone(), std::sync::Arc::new(who.clone())));
            }
            named.insert(i.name.clone(), who);
        }
        let failures = Quota::with_period(FAILURE_PERIOD)
            .unwrap_or(Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(FAILURE_BURST).unwrap_or(NonZeroU32::MIN));
        Limits {
            requests,
            failures: DefaultKeyedRateLimiter::hashmap(failures),
            locked: Mutex::default(),
            clock: DefaultClock::default(),
            tokens,
            named,
        }
    }

    /// Checks one request from `ip` with `headers` against the guards; `path` /healthz skips them. The caller
    /// its token names, when tokens are configured (None: no token needed, or the operator).
    pub fn check(
        &self,
        g: &Guards,
        ip: IpAddr,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Option<std::sync::Arc<Who>>, Refused> {
        if path == "/healthz" || path.starts_with("/.well-known/") {
            return Ok(None);
        }
        let admin = path.starts_with("/servers/");
        if admin && g.admin_token.is_none() {
            self.admit(ip)?;
            return Err(Refused {
                status: StatusCode::FORBIDDEN,
                message: "operator routes are off: start hub serve with --admin-token (or HUB_ADMIN_TOKEN)",
                retry_after: None,
            });
        }
        let needed = if admin { g.admin_token.is_some() } else { !self.tokens.is_empty() || g.jwt };
        let mut who = None;
        if needed {
            self.admit(ip)?;
            let given = bearer(headers).unwrap_or_default();
            let known = match &g.admin_token {
                Some(t) if admin => same(given.as_bytes(), t.as_bytes()),
                _ => {
                    // Every token compared (constant time each), so the time taken does not say which matched.
                    let mut found = None;
                    for (t, w) in &self.tokens {
                        if same(given.as_bytes(), t.as_bytes()) {
                            found = Some(w.clone());
                        }
                    }
                    who = found;
                    who.is_some()
                }
            };
            if !known {
                self.failed(ip);
                return Err(Refused {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing or wrong bearer token",
                    retry_after: None,
                });
            }
        } else if let Some(limiter) = &self.requests
            && let Err(not_until) = limiter.check_key(&ip)
        {
            return Err(too_many("rate limit exceeded", not_until.wait_time_from(self.clock.now())));
        }
        self.after(g, who.as_deref(), headers)?;
        Ok(who)
    }

    /// The per-address rate limit and the lockout of an address that kept sending wrong tokens.
    pub fn admit(&self, ip: IpAddr) -> Result<(), Refused> {
        if let Some(limiter) = &self.requests
            && let Err(not_until) = limiter.check_key(&ip)
        {
            return Err(too_many("rate limit exceeded", not_until.wait_time_from(self.clock.now())));
        }
        match self.locked_for(ip) {
            Some(wait) => Err(too_many("too many wrong tokens from this address; wait", wait)),
            None => Ok(()),
        }
    }

    /// Counts a wrong token from `ip` (locking it out past the burst).
    pub fn failed(&self, ip: IpAddr) {
        if let Err(not_until) = self.failures.check_key(&ip) {
            self.lock(ip, not_until.wait_time_from(self.clock.now()).max(FAILURE_PERIOD));
        }
    }

    /// Once the caller is known: its own rate limit, and the body limit.
    pub fn after(&self, g: &Guards, who: Option<&Who>, headers: &HeaderMap) -> Result<(), Refused> {
        if let Some(w) = who
            && let Some(limiter) = &w.limiter
            && let Err(not_until) = limiter.check()
        {
            return Err(too_many("this token's rate limit is exceeded", not_until.wait_time_from(self.clock.now())));
        }
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if length.is_some_and(|n| n > g.body_limit) {
            return Err(Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "request body too large",
                retry_after: None,
            });
        }
        Ok(())
    }

    /// The caller a JWT's claims name: the named policy `name`, as `subject`.
    pub fn named(&self, name: &str, subject: Option<String>) -> Option<std::sync::Arc<Who>> {
        self.named.get(name).map(|w| std::sync::Arc::new(Who { subject, ..w.clone() }))
    }

    fn locked_for(&self, ip: IpAddr) -> Option<Duration> {
        let locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        locked.get(&ip).and_then(|until| until.checked_duration_since(Instant::now()))
    }

    fn lock(&self, ip: IpAddr, wait: Duration) {
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        locked.retain(|_, until| *until > now);
        locked.insert(ip, now + wait);
    }

    /// Forgets clients that have been idle long enough to be back at a full burst (bounded state).
    pub fn prune(&self) {
        if let Some(r) = &self.requests {
            r.retain_recent();
            r.shrink_to_fit();
        }
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = Instant::now();
        self.locked.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, until| *until > now);
    }

    /// Clients the limiters currently remember (for /metrics).
    pub fn tracked(&self) -> usize {
        self.requests.as_ref().map_or(0, |r| r.len()) + self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards(token: Option<&str>) -> Guards {
        Guards {
            token: token.map(str::to_string),
            admin_token: None,
            body_limit: 100,
            rate: None,
            allowed_hosts: vec![],
            allowed_origins: vec![],
            identities: vec![],
            jwt: false,
        }
    }

    #[test]
    fn wrong_tokens_lock_the_address_out_even_for_the_right_token() {
        let g = guards(Some("secret"));
        let limits = Limits::new(&g);
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let mut bad = HeaderMap::new();
        bad.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer nope"));
        let mut good = HeaderMap::new();
        good.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        for _ in 0..FAILURE_BURST {
            assert_eq!(limits.check(&g, ip, "/tools", &bad).expect_err("refused").status, StatusCode::UNAUTHORIZED);
        }
        assert!(limits.check(&g, ip, "/tools", &good).is_ok(), "within the burst the right token still works");
        assert_eq!(limits.check(&g, ip, "/tools", &bad).expect_err("refused").status, StatusCode::UNAUTHORIZED);
        let locked = limits.check(&g, ip, "/tools", &good).expect_err("locked out");
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(locked.retry_after.is_some());
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        assert!(limits.check(&g, other, "/tools", &good).is_ok(), "another address is not affected");
        assert!(limits.check(&g, ip, "/healthz", &bad).is_ok());
    }

    #[test]
    fn operator_routes_need_the_admin_token_and_are_off_without_one() {
        let limits = Limits::new(&guards(Some("user")));
        let ip: IpAddr = "10.0.0.10".parse().unwrap();
        let bearer = |t: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
            h
        };
        let off = guards(Some("user"));
        let refused = limits.check(&off, ip, "/servers/crm/restart", &bearer("user")).expect_err("off");
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let on = Guards { admin_token: Some("admin".into()), ..guards(Some("user")) };
        let refused = limits.check(&on, ip, "/servers/crm/restart", &bearer("user")).expect_err("user token");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(limits.check(&on, ip, "/servers/crm/restart", &bearer("admin")).is_ok());
        assert!(limits.check(&on, ip, "/call", &bearer("user")).is_ok());
    }

    #[test]
    fn named_tokens_name_their_caller_and_have_their_own_rate() {
        use crate::config::gateway::{Identity, Policy};
        let reader = Policy { write: false, ..Policy::full() };
        let named = |name: &str, token: &str, rate| Identity {
            name: name.into(),
            token: Some(Ok(token.into())),
            policy: reader.clone(),
            rate,
        };
        let g = Guards {
            identities: vec![named("alice", "a-token", None), named("bob", "b-token", Some(1.0))],
            ..guards(None)
        };
        let limits = Limits::new(&g);
        let ip: IpAddr = "10.0.0.11".parse().unwrap();
        let bearer = |t: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
            h
        };
        let alice = limits.check(&g, ip, "/tools", &bearer("a-token")).ok().flatten().expect("alice");
        assert_eq!((alice.name.as_str(), alice.policy.write), ("alice", false));
        assert_eq!(limits.check(&g, ip, "/tools", &bearer("x")).expect_err("unknown").status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            limits.check(&g, ip, "/tools", &HeaderMap::new()).expect_err("none").status,
            StatusCode::UNAUTHORIZED
        );
        let bob: Vec<_> = (0..3)
            .map(|_| limits.check(&g, ip, "/tools", &bearer("b-token")).map(|w| w.map(|w| w.name.clone())))
            .collect();
        assert!(matches!(&bob[0], Ok(Some(n)) if n == "bob"));
        assert_eq!(bob[2].as_ref().expect_err("bob's own limit").status, StatusCode::TOO_MANY_REQUESTS);
        assert!(limits.check(&g, ip, "/tools", &bearer("a-token")).is_ok(), "alice is not limited by bob's rate");
    }

    #[test]
    fn the_rate_limit_runs_before_the_token_check() {
        let g = Guards { rate: Some(1.0), ..guards(Some("secret")) };
        let limits = Limits::new(&g);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let statuses: Vec<StatusCode> =
            (0..4).map(|_| limits.check(&g, ip, "/call", &HeaderMap::new()).expect_err("refused").status).collect();
        assert_eq!(statuses[..2], [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED], "burst of 2");
        assert_eq!(statuses[2..], [StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
        limits.prune();
        assert!(limits.tracked() <= 2);
    }
}
