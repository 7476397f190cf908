//! A server's replicas: one connection each (a process of its command, or one of its urls), each supervised on
//! its own (`supervise`). A server without `replicas`/`urls` has exactly one. Calls lease the healthy replica
//! with the fewest calls in flight (ties: round robin), or the one a downstream session already uses
//! (`balance = "sticky"`); a lease counts the call in flight until it is dropped.
//!
//! The replicas must list the same tools: the list most of the live ones agree on is the server's (ties: the
//! lowest-numbered replica's), and a replica listing anything else is reported and kept out of rotation until
//! its list agrees again (`agree`).

use super::connect::Tail;
use super::control::Order;
use super::listing::Listing;
use super::vet::{Action, Problem, problem};
use super::{Phase, Server, State, wire};
use crate::config::replicas::Balance;
use crate::config::{ServerConfig, Transport};
use rmcp::{Peer, RoleClient};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sticky sessions kept per server; past this, those idle longest are forgotten.
const STICKY_SESSIONS: usize = 4096;

pub struct Replica {
    /// 1-based.
    pub(super) number: usize,
    /// `NAME#N` when the server has several replicas, else `NAME`.
    pub label: String,
    /// The server's configuration as this replica connects: its own url, `HUB_REPLICA=N` in a child's env.
    pub(super) cfg: ServerConfig,
    state: Mutex<State>,
    pub(super) tail: Tail,
    pub(super) control: tokio::sync::mpsc::UnboundedSender<Order>,
    in_flight: AtomicUsize,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl Replica {
    pub(super) fn new(cfg: &ServerConfig, number: usize, control: tokio::sync::mpsc::UnboundedSender<Order>) -> Self {
        let mut cfg = cfg.clone();
        let several = cfg.replicas.count > 1;
        match &mut cfg.transport {
            Transport::Stdio { env, .. } if several => env.push(("HUB_REPLICA".into(), number.to_string())),
            Transport::Http { url, .. } => {
                if let Some(u) = cfg.replicas.urls.get(number - 1) {
                    *url = u.clone();
                }
            }
            Transport::Stdio { .. } => {}
        }
        let label = if several { format!("{}#{number}", cfg.name) } else { cfg.name.clone() };
        let (in_flight, calls, errors) = (AtomicUsize::new(0), AtomicU64::new(0), AtomicU64::new(0));
        Replica {
            number,
            label,
            cfg,
            state: Mutex::default(),
            tail: Tail::default(),
            control,
            in_flight,
            calls,
            errors,
        }
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }
    /// Counts a restart (status and metrics).
    pub(super) fn restarted(&self) {
        self.update(|s| s.restarts += 1);
        crate::telemetry::metrics::restart(&self.cfg.name);
    }
    pub(super) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Up, agreeing with the others, and connected: the peer and fault latch to call it with.
    fn live(&self) -> Option<(Peer<RoleClient>, wire::Fault)> {
        self.read(|s| match (s.phase, &s.mismatch) {
            (Phase::Up, None) => s.peer.clone().zip(s.fault.clone()),
            _ => None,
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.calls.load(Ordering::Relaxed), self.errors.load(Ordering::Relaxed))
    }
    /// Its address: the url of a url server (none for a stdio one).
    pub(super) fn url(&self) -> Option<&str> {
        match &self.cfg.transport {
            Transport::Http { url, .. } => Some(url),
            Transport::Stdio { .. } => None,
        }
    }
}

/// One replica chosen for one request, counted in flight until dropped.
pub(super) struct Lease {
    pub replica: Arc<Replica>,
    pub peer: Peer<RoleClient>,
    pub fault: wire::Fault,
}

impl Lease {
    /// The request failed on this replica (it went down, timed out or broke the protocol).
    pub fn failed(&self) {
        self.replica.errors.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.replica.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Round robin among equals, and the sticky sessions' replicas.
#[derive(Default)]
pub(super) struct Balancer {
    next: AtomicUsize,
    sticky: Mutex<HashMap<String, (usize, Instant)>>,
}

impl Server {
    /// Up when a replica is up; else the state of the one closest to it.
    pub fn phase(&self) -> Phase {
        let rank = |p: Phase| {
            [Phase::Up, Phase::Starting, Phase::NeedsLogin, Phase::Down, Phase::Failed].iter().position(|q| *q == p)
        };
        let phases = self.replicas.iter().map(|r| r.read(|s| s.phase));
        phases.min_by_key(|p| rank(*p).unwrap_or(usize::MAX)).unwrap_or_default()
    }
    /// What was wrong with its last tool listing, and what the pins say of its tools.
    pub fn problems(&self) -> Vec<Problem> {
        let noted = self.noted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.listed(|l| l.problems.clone()).into_iter().chain(noted).collect()
    }
    /// Why the server is not up (its last error), if it is not.
    pub fn down_reason(&self) -> Option<String> {
        match self.phase() {
            Phase::Up => None,
            Phase::Disabled => Some("disabled in the configuration".into()),
            _ => Some(self.lead().read(|s| s.last_error.clone()).unwrap_or_else(|| "not connected yet".into())),
        }
    }
    /// What it offers besides tools — resources (with templates) and prompts — and the protocol revision it
    /// speaks (empty when it is not up).
    pub fn offers(&self) -> (usize, usize, String) {
        let (resources, prompts) = self.listed(|l| (l.resources.len() + l.templates.len(), l.prompts.len()));
        let protocol = self.lead().read(|s| {
            s.peer.as_ref().and_then(|p| p.peer_info()).map(|i| i.protocol_version.to_string()).unwrap_or_default()
        });
        (resources, prompts, protocol)
    }
    /// Its replicas (one unless configured otherwise).
    pub fn replicas(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    /// A live replica for one request, other than replica `avoid`: session `session`'s own under sticky
    /// balancing while it is live, else the least busy (ties: round robin). None when no replica is live.
    pub(super) fn lease(&self, session: Option<&str>, avoid: Option<usize>) -> Option<Lease> {
        let live: Vec<_> = self
            .replicas
            .iter()
            .filter(|r| Some(r.number) != avoid)
            .filter_map(|r| r.live().map(|(peer, fault)| (r, peer, fault)))
            .collect();
        if live.is_empty() {
            return None;
        }
        let session = session.filter(|_| self.cfg.replicas.balance == Balance::Sticky && self.replicas.len() > 1);
        let kept =
            session.and_then(|k| self.balancer.sticky.lock().unwrap_or_else(|p| p.into_inner()).get(k).map(|e| e.0));
        let chosen = match kept.and_then(|n| live.iter().position(|(r, ..)| r.number == n)) {
            Some(i) => i,
            None => {
                let start = self.balancer.next.fetch_add(1, Ordering::Relaxed);
                let order = (0..live.len()).map(|i| (start + i) % live.len());
                order.min_by_key(|&i| live[i].0.in_flight()).unwrap_or(0)
            }
        };
        let (replica, peer, fault) = live.into_iter().nth(chosen)?;
        if let Some(key) = session {
            self.remember(key, replica.number);
        }
        replica.in_flight.fetch_add(1, Ordering::Relaxed);
        replica.calls.fetch_add(1, Ordering::Relaxed);
        Some(Lease { replica: replica.clone(), peer, fault })
    }

    fn remember(&self, session: &str, number: usize) {
        let mut sticky = self.balancer.sticky.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if sticky.len() >= STICKY_SESSIONS && !sticky.contains_key(session) {
            let mut ages: Vec<Instant> = sticky.values().map(|e| e.1).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            sticky.retain(|_, e| e.1 > cut);
        }
        sticky.insert(session.to_string(), (number, now));
    }

    /// The replica that speaks for the server: the first one up, else the first.
    pub(super) fn lead(&self) -> &Replica {
        self.replicas.iter().find(|r| r.read(|s| s.phase == Phase::Up)).unwrap_or(&self.replicas[0])
    }

    /// Reads the server's listing: the one its live replicas agree on, else the last one a replica made.
    pub(super) fn listed<T>(&self, f: impl FnOnce(&Listing) -> T) -> T {
        let agreed = self.replicas.iter().find(|r| r.read(|s| s.phase == Phase::Up && s.mismatch.is_none()));
        let listed = || self.replicas.iter().find(|r| r.read(|s| !s.listing.tools.is_empty()));
        agreed.or_else(listed).unwrap_or(&self.replicas[0]).read(|s| f(&s.listing))
    }

    /// Compares the live replicas' tool lists: those outside the largest agreeing group (ties: the group of the
    /// lowest-numbered replica) are marked out of rotation; returns what to report of them.
    pub(super) fn agree(&self) -> Vec<Problem> {
        if self.replicas.len() < 2 {
            return Vec::new();
        }
        let print = |r: &Replica| {
            r.read(|s| (s.phase == Phase::Up).then(|| serde_json::to_string(&sorted(&s.listing)).unwrap_or_default()))
        };
        let prints: Vec<Option<String>> = self.replicas.iter().map(|r| print(r)).collect();
        let count = |p: &String| prints.iter().filter(|q| q.as_ref() == Some(p)).count();
        let best = prints.iter().flatten().fold(None::<&String>, |b, p| match b {
            Some(b) if count(b) >= count(p) => Some(b),
            _ => Some(p),
        });
        let reference = best.and_then(|b| prints.iter().position(|p| p.as_ref() == Some(b)));
        let mut problems = Vec::new();
        for (r, p) in self.replicas.iter().zip(&prints) {
            let why = match (p, best, reference) {
                (Some(p), Some(b), Some(i)) if p != b => Some(differences(&self.replicas[i], r)),
                _ => None,
            };
            if let Some(why) = &why {
                let reason = format!("{why}; kept out of rotation until its list agrees");
                problems.push(problem("replica", r.label.clone(), Action::Skipped, reason));
            }
            r.update(|s| s.mismatch = why);
        }
        problems
    }
}

fn sorted(listing: &Listing) -> Vec<&rmcp::model::Tool> {
    let mut tools: Vec<_> = listing.tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// How replica `other`'s tools differ from replica `reference`'s, in a few words.
fn differences(reference: &Replica, other: &Replica) -> String {
    let names = |r: &Replica| r.read(|s| s.listing.tools.iter().map(|t| (t.name.to_string(), t.clone())).collect());
    let (a, b): (HashMap<String, _>, HashMap<String, _>) = (names(reference), names(other));
    let mut extra: Vec<&str> = b.keys().filter(|k| !a.contains_key(*k)).map(String::as_str).collect();
    let mut missing: Vec<&str> = a.keys().filter(|k| !b.contains_key(*k)).map(String::as_str).collect();
    let mut changed: Vec<&str> =
        a.iter().filter(|(k, t)| b.get(*k).is_some_and(|u| u != *t)).map(|(k, _)| k.as_str()).collect();
    let mut parts = Vec::new();
    for (what, list) in [("extra", &mut extra), ("missing", &mut missing), ("changed", &mut changed)] {
        list.sort();
        if !list.is_empty() {
            parts.push(format!("{what}: {}", list.join(", ")));
        }
    }
    format!("its tools differ from {}'s ({})", reference.label, parts.join("; "))
}

impl Replica {
    /// While backing off: the time left until its next attempt.
    pub(super) fn retry_in(&self) -> Option<Duration> {
        self.read(|s| s.next_attempt.map(|t| t.saturating_duration_since(Instant::now())))
    }
}
