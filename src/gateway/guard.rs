//! The gateway's HTTP guards, in the order they run on every request: the per-client rate limit (before the
//! token check, so bad tokens are limited too), the lockout of a client that keeps sending wrong tokens, the
//! bearer token (constant-time compare; every route but /healthz; the admin token on the operator routes
//! `/servers/…`, which are off without one), and the body limit (413).
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

pub struct Guards {
    pub token: Option<String>,
    /// The bearer token of the operator routes (`/servers/…`); they answer 403 when none is configured.
    pub admin_token: Option<String>,
    pub body_limit: usize,
    /// Requests per second per client address (None: no limit).
    pub rate: Option<f64>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// The limiter state behind the guards.
pub struct Limits {
    requests: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Clients locked out after too many wrong tokens, until the given time.
    locked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

/// A request refused by a guard.
pub struct Refused {
    status: StatusCode,
    message: &'static str,
    retry_after: Option<Duration>,
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

fn too_many(message: &'static str, wait: Duration) -> Refused {
    Refused { status: StatusCode::TOO_MANY_REQUESTS, message, retry_after: Some(wait) }
}

/// Constant-time comparison (the time taken does not depend on where the strings differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && a.len() == b.len()
}

impl Limits {
    pub fn new(rate: Option<f64>) -> Limits {
        let requests = rate.filter(|r| *r > 0.0).map(|r| {
            let burst =
                NonZeroU32::new((r * 2.0).ceil().clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs_f64(1.0 / r).max(Duration::from_nanos(1));
            DefaultKeyedRateLimiter::hashmap(
                Quota::with_period(period).unwrap_or(Quota::per_second(burst)).allow_burst(burst),
            )
        });
        let failures = Quota::with_period(FAILURE_PERIOD)
            .unwrap_or(Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(FAILURE_BURST).unwrap_or(NonZeroU32::MIN));
        Limits {
            requests,
            failures: DefaultKeyedRateLimiter::hashmap(failures),
            locked: Mutex::default(),
            clock: DefaultClock::default(),
        }
    }

    /// Checks one request from `ip` with `headers` against the guards; `path` /healthz skips them.
    pub fn check(&self, g: &Guards, ip: IpAddr, path: &str, headers: &HeaderMap) -> Result<(), Refused> {
        if path == "/healthz" {
            return Ok(());
        }
        if let Some(limiter) = &self.requests
            && let Err(not_until) = limiter.check_key(&ip)
        {
            return Err(too_many("rate limit exceeded", not_until.wait_time_from(self.clock.now())));
        }
        let admin = path.starts_with("/servers/");
        if admin && g.admin_token.is_none() {
            return Err(Refused {
                status: StatusCode::FORBIDDEN,
                message: "operator routes are off: start hub serve with --admin-token (or HUB_ADMIN_TOKEN)",
                retry_after: None,
            });
        }
        if let Some(token) = if admin { &g.admin_token } else { &g.token } {
            if let Some(wait) = self.locked_for(ip) {
                return Err(too_many("too many wrong tokens from this address; wait", wait));
            }
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
                if let Err(not_until) = self.failures.check_key(&ip) {
                    self.lock(ip, not_until.wait_time_from(self.clock.now()).max(FAILURE_PERIOD));
                }
                return Err(Refused {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing or wrong bearer token",
                    retry_after: None,
                });
            }
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
        }
    }

    #[test]
    fn wrong_tokens_lock_the_address_out_even_for_the_right_token() {
        let (g, limits) = (guards(Some("secret")), Limits::new(None));
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
        let limits = Limits::new(None);
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
    fn the_rate_limit_runs_before_the_token_check() {
        let limits = Limits::new(Some(1.0));
        let g = guards(Some("secret"));
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let statuses: Vec<StatusCode> =
            (0..4).map(|_| limits.check(&g, ip, "/call", &HeaderMap::new()).expect_err("refused").status).collect();
        assert_eq!(statuses[..2], [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED], "burst of 2");
        assert_eq!(statuses[2..], [StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
        limits.prune();
        assert!(limits.tracked() <= 2);
    }
}
