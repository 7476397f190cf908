//! What an operator can do to one server of a running registry — restart it now (resetting its crash-loop
//! counters) or take it out of service — and how a server's supervision shows: crashes in the last ten
//! minutes, the next attempt while backing off, the status row. The orders are carried out by the server's
//! supervisor task (`supervise`); concurrent restart requests make one restart.

use super::{Phase, Registry, Server, Status};
use std::time::{Duration, Instant};

/// Crashes are counted over this window in the status.
pub(super) const CRASH_WINDOW: Duration = Duration::from_secs(600);

/// The reason shown while a server is out of service on purpose.
pub(super) const STOPPED: &str = "stopped by the operator";

/// An operator's order to a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// Close the current connection (if any), reset the crash-loop counters, connect now.
    Restart,
    /// Close the connection and stay out of service until the next `Restart`.
    Stop,
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
        let mut first = false;
        server.update(|s| {
            first = !s.restart_pending;
            s.restart_pending = true;
        });
        if first {
            let _ = server.control.send(Order::Restart);
            Ok(Accepted::Now)
        } else {
            Ok(Accepted::AlreadyUnderWay)
        }
    }

    /// Takes server `name` out of service until it is restarted; its calls fail fast meanwhile.
    pub fn stop(&self, name: &str) -> Result<Accepted, ControlError> {
        let server = self.controllable(name)?;
        if server.read(|s| s.phase == Phase::Stopped && !s.restart_pending) {
            return Ok(Accepted::AlreadyUnderWay);
        }
        let _ = server.control.send(Order::Stop);
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
    /// While backing off: the time left until the next attempt.
    pub(super) fn retry_in(&self) -> Option<Duration> {
        self.read(|s| s.next_attempt.map(|t| t.saturating_duration_since(Instant::now())))
    }

    /// Notes that the server went down now (for the crash count of the last ten minutes).
    pub(super) fn crashed(&self) {
        self.update(|s| {
            let now = Instant::now();
            s.crashes.push_back(now);
            while s.crashes.front().is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW) {
                s.crashes.pop_front();
            }
        });
    }

    pub(super) fn status(&self, tools: usize, ping_ms: Option<f64>) -> Status {
        self.read(|st| {
            let now = Instant::now();
            let next = st.next_attempt.map(|t| t.saturating_duration_since(now));
            Status {
                name: self.cfg.name.clone(),
                state: st.phase,
                transport: match self.cfg.transport {
                    crate::config::Transport::Stdio { .. } => "stdio",
                    crate::config::Transport::Http { .. } => "http",
                },
                required: self.cfg.required,
                pid: st.pid,
                uptime_s: st.up_since.map(|t| (t.elapsed().as_secs_f64() * 10.0).round() / 10.0),
                restarts: st.restarts,
                crashes_10m: st.crashes.iter().filter(|t| now.duration_since(**t) <= CRASH_WINDOW).count(),
                last_error: st.last_error.clone(),
                next_attempt: next.map(|d| {
                    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now() + d)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                }),
                next_attempt_in_s: next.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
                tools,
                ping_ms,
                problems: st.listing.problems.clone(),
            }
        })
    }
}
