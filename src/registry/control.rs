//! What an operator can do to one server of a running registry — restart it now (resetting its crash-loop
//! counters) or take it out of service — and how a server's supervision shows: crashes in the last ten
//! minutes, the next attempt while backing off, the status row. The orders are carried out by the server's
//! supervisor task (`supervise`); concurrent restart requests make one restart.

use super::{Phase, Registry, Server};
use std::time::{Duration, Instant};

/// Crashes are counted over this window in the status.
pub(super) const CRASH_WINDOW: Duration = Duration::from_secs(600);

/// The reason shown while a server is out of service on purpose.
pub(super) const STOPPED: &str = "stopped by the operator";

/// An operator's order to a supervisor (or the call path's, for `Retire`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Order {
    /// Close the current connection (if any), reset the crash-loop counters, connect now.
    Restart,
    /// Close the connection and stay out of service until the next `Restart`.
    Stop,
    /// Take this replica out as if it had crashed (why): a call on it timed out. Back through the backoff.
    Retire(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    #[error("no server '{name}'; configured: {known}")]
    Unknown { name: String, known: String },
    #[error("server '{0}' is disabled in the configuration")]
    Disabled(String),
}

/// What became of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Accepted {
    /// The supervisor will carry it out now.
    Now,
    /// The same order is already under way (a second restart request while one is pending).
    AlreadyUnderWay,
}

impl Registry {
    /// Restarts server `name` now and resets its crash-loop counters (a failed server is brought back too).
    pub fn restart(&self, name: &str) -> Result<Accepted, ControlError> {
        let server = self.controllable(name)?;
        let mut any = false;
        for replica in &server.replicas {
            let mut first = false;
            replica.update(|s| {
                first = !s.restart_pending;
                s.restart_pending = true;
            });
            if first {
                let _ = replica.control.send(Order::Restart);
                any = true;
            }
        }
        Ok(if any { Accepted::Now } else { Accepted::AlreadyUnderWay })
    }

    /// Takes server `name` out of service until it is restarted; its calls fail fast meanwhile.
    pub fn stop(&self, name: &str) -> Result<Accepted, ControlError> {
        let server = self.controllable(name)?;
        if server.replicas.iter().all(|r| r.read(|s| s.phase == Phase::Stopped && !s.restart_pending)) {
            return Ok(Accepted::AlreadyUnderWay);
        }
        for replica in &server.replicas {
            let _ = replica.control.send(Order::Stop);
        }
        Ok(Accepted::Now)
    }

    fn controllable(&self, name: &str) -> Result<&std::sync::Arc<Server>, ControlError> {
        let server = self.server(name).ok_or_else(|| ControlError::Unknown {
            name: name.to_string(),
            known: self.servers().iter().map(|s| s.cfg.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        if !server.cfg.enabled {
            return Err(ControlError::Disabled(name.to_string()));
        }
        Ok(server)
    }
}

impl Server {
    /// While backing off: the time left until the next attempt of the replica that comes back first.
    pub(super) fn retry_in(&self) -> Option<Duration> {
        self.replicas.iter().filter_map(|r| r.retry_in()).min()
    }

    pub(super) fn status(&self, tools: usize, ping_ms: Option<f64>) -> Status {
        let now = Instant::now();
        let crashes = |s: &super::State| s.crashes.iter().filter(|t| now.duration_since(**t) <= CRASH_WINDOW).count();
        let several = self.replicas.len() > 1;
        let lead = self.lead();
        let (mut restarts, mut crashes_10m) = (0, 0);
        let replicas = self.replicas.iter().map(|r| {
            let (calls, errors) = r.counts();
            r.read(|s| {
                restarts += s.restarts;
                crashes_10m += crashes(s);
                ReplicaStatus {
                    replica: r.label.clone(),
                    state: s.phase,
                    pid: s.pid,
                    url: r.url().map(String::from),
                    in_flight: r.in_flight(),
                    calls,
                    errors,
                    restarts: s.restarts,
                    last_error: s
                        .mismatch
                        .clone()
                        .or_else(|| (s.phase != Phase::Up).then(|| s.last_error.clone()).flatten()),
                }
            })
        });
        let replicas: Vec<ReplicaStatus> = replicas.collect();
        // Read before the lead's lock is taken (they take every replica's, the lead's too).
        let (next, state) = (self.retry_in(), self.phase());
        lead.read(|st| Status {
            name: self.cfg.name.clone(),
            state,
            transport: match self.cfg.transport {
                crate::config::Transport::Stdio { .. } => "stdio",
                crate::config::Transport::Http { .. } => "http",
            }
            .to_string(),
            required: self.cfg.required,
            pid: st.pid,
            uptime_s: st.up_since.map(|t| (t.elapsed().as_secs_f64() * 10.0).round() / 10.0),
            restarts,
            crashes_10m,
            last_error: st.last_error.clone(),
            next_attempt: next.map(|d| {
                chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now() + d)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            next_attempt_in_s: next.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
            tools,
            ping_ms,
            problems: st.listing.problems.clone(),
            replicas: if several { replicas } else { Vec::new() },
        })
    }
}

/// A server's status, for `hub status`, `/status` and the REPL (read back from a hub's `/status` when attached).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub name: String,
    /// starting, up, down (backing off until `next_attempt`), failed (gave up), disabled, stopped.
    pub state: Phase,
    pub transport: String,
    pub required: bool,
    pub pid: Option<u32>,
    pub uptime_s: Option<f64>,
    pub restarts: u32,
    /// Times it went down in the last 10 minutes.
    pub crashes_10m: usize,
    /// The last exit reason with the tail of its stderr.
    pub last_error: Option<String>,
    /// While backing off: when the next attempt starts (RFC 3339) and in how many seconds.
    pub next_attempt: Option<String>,
    pub next_attempt_in_s: Option<f64>,
    pub tools: usize,
    pub ping_ms: Option<f64>,
    /// What was wrong with its last tool listing: entries skipped, cut or fixed, and the cap.
    #[serde(default)]
    pub problems: Vec<super::Problem>,
    /// Each replica, when it has several.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub replicas: Vec<ReplicaStatus>,
}

/// One replica's row in a server's status.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReplicaStatus {
    /// `NAME#N`.
    pub replica: String,
    pub state: Phase,
    pub pid: Option<u32>,
    pub url: Option<String>,
    pub in_flight: usize,
    /// Requests sent to it, and those that failed on it (it went down, timed out or broke the protocol).
    pub calls: u64,
    pub errors: u64,
    pub restarts: u32,
    /// Why it is not in rotation: its last error, or how its tools differ from the others'.
    pub last_error: Option<String>,
}

impl super::replica::Replica {
    /// Notes that the replica went down now (for the crash count of the last ten minutes).
    pub(super) fn crashed(&self) {
        self.update(|s| {
            let now = Instant::now();
            s.crashes.push_back(now);
            while s.crashes.front().is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW) {
                s.crashes.pop_front();
            }
        });
    }
}
