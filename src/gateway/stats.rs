//! What the gateway counts and records: calls by server, tool and outcome, a call-duration histogram (both in
//! Prometheus text format for `/metrics`, label sets bounded by the index), and the audit log (see `audit`).

mod audit;

use crate::registry::{Phase, Registry};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters and histogram of one tool.
#[derive(Default)]
struct PerTool {
    outcomes: BTreeMap<&'static str, u64>,
    histogram: Histogram,
}

/// The label a call is counted under: its index entry, or `unknown` for a name the index does not have (so a
/// client cannot grow `/metrics` by inventing names — label sets are bounded by the index).
pub struct Label<'a> {
    pub server: &'a str,
    pub tool: &'a str,
}

impl Label<'_> {
    pub const UNKNOWN: Label<'static> = Label { server: "", tool: "unknown" };
}

#[derive(Default)]
pub struct Stats {
    /// server → tool → stats; looked up by `&str`, so the hot path allocates only for a new tool.
    tools: Mutex<BTreeMap<String, BTreeMap<String, PerTool>>>,
    /// Calls per named token and outcome (bounded by the configured tokens).
    identities: Mutex<BTreeMap<(String, &'static str), u64>>,
    audit: Option<audit::Audit>,
}

/// Who made a call: the client (address or MCP client name), the named token, the face.
pub struct Caller<'a> {
    pub client: &'a str,
    pub identity: Option<&'a str>,
    /// A JWT caller's `sub`.
    pub subject: Option<&'a str>,
    pub via: &'a str,
}

impl Stats {
    /// Counters, and the audit log writer task when `audit` is given.
    pub async fn new(audit: Option<&std::path::Path>) -> std::io::Result<Stats> {
        let audit = match audit {
            Some(p) => Some(audit::Audit::open(p).await?),
            None => None,
        };
        Ok(Stats { audit, ..Default::default() })
    }

    /// Records one call: counters and histogram under `label`, and an audit line (with the name as the client
    /// wrote it when that differs).
    pub async fn record(
        &self,
        Caller { client, identity, subject, via }: Caller<'_>,
        requested: &str,
        label: Label<'_>,
        outcome: &'static str,
        took: Duration,
    ) {
        {
            let mut all = self.tools.lock().unwrap_or_else(|p| p.into_inner());
            if !all.contains_key(label.server) {
                all.insert(label.server.to_string(), BTreeMap::new());
            }
            let per_server = all.get_mut(label.server).expect("inserted above");
            if !per_server.contains_key(label.tool) {
                per_server.insert(label.tool.to_string(), PerTool::default());
            }
            let t = per_server.get_mut(label.tool).expect("inserted above");
            *t.outcomes.entry(outcome).or_default() += 1;
            let h = &mut t.histogram;
            let s = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += s;
            h.count += 1;
        }
        if let Some(identity) = identity {
            let mut by = self.identities.lock().unwrap_or_else(|p| p.into_inner());
            *by.entry((identity.to_string(), outcome)).or_default() += 1;
        }
        if let Some(a) = &self.audit {
            let mut line = serde_json::json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "client": client, "via": via, "tool": label.tool, "server": label.server,
                "outcome": outcome, "duration_ms": crate::output::millis(took),
            });
            if let Some(identity) = identity {
                line["identity"] = identity.into();
            }
            if let Some(subject) = subject {
                line["subject"] = subject.into();
            }
            if requested != label.tool {
                // As the client wrote it (`server.tool`, or a name the index does not have), bounded.
                line["requested"] = crate::output::cut(requested, 200).into();
            }
            a.write(line.to_string()).await;
        }
    }

    /// Writes out what the audit log has queued and stops its writer (on shutdown).
    pub async fn close(&self) {
        if let Some(a) = &self.audit {
            a.close().await;
        }
    }

    /// The Prometheus text exposition; `extra` is appended (gauges the gateway owns: sessions, limiter state).
    pub fn prometheus(&self, registry: &Registry, statuses: &[crate::registry::Status], extra: &str) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let mut out = String::new();
        out.push_str("# HELP hub_tool_calls_total Tool calls through the gateway by server, tool and outcome.\n");
        out.push_str("# TYPE hub_tool_calls_total counter\n");
        let all = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        let each = || all.iter().flat_map(|(server, tools)| tools.iter().map(move |(tool, t)| (server, tool, t)));
        for (server, tool, t) in each() {
            for (outcome, n) in &t.outcomes {
                out.push_str(&format!(
                    "hub_tool_calls_total{{server=\"{}\",tool=\"{}\",outcome=\"{outcome}\"}} {n}\n",
                    esc(server),
                    esc(tool)
                ));
            }
        }
        out.push_str("# HELP hub_tool_call_duration_seconds Duration of tool calls through the gateway.\n");
        out.push_str("# TYPE hub_tool_call_duration_seconds histogram\n");
        for (server, tool, t) in each() {
            let h = &t.histogram;
            let labels = format!("server=\"{}\",tool=\"{}\"", esc(server), esc(tool));
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                out.push_str(&format!("hub_tool_call_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}\n"));
            }
            out.push_str(&format!("hub_tool_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n", h.count));
            out.push_str(&format!("hub_tool_call_duration_seconds_sum{{{labels}}} {}\n", h.sum));
            out.push_str(&format!("hub_tool_call_duration_seconds_count{{{labels}}} {}\n", h.count));
        }
        let by = self.identities.lock().unwrap_or_else(|p| p.into_inner());
        if !by.is_empty() {
            out.push_str("# HELP hub_identity_calls_total Tool calls per named token (never the token) and outcome.\n");
            out.push_str("# TYPE hub_identity_calls_total counter\n");
            for ((identity, outcome), n) in by.iter() {
                let labels = format!("identity=\"{}\",outcome=\"{outcome}\"", esc(identity));
                out.push_str(&format!("hub_identity_calls_total{{{labels}}} {n}\n"));
            }
        }
        drop(by);
        out.push_str(
            "# HELP hub_server_up Whether the server is connected (1) or not (0).\n# TYPE hub_server_up gauge\n",
        );
        for s in statuses {
            out.push_str(&format!("hub_server_up{{server=\"{}\"}} {}\n", esc(&s.name), u8::from(s.state == Phase::Up)));
        }
        out.push_str("# HELP hub_server_restarts_total Restarts of the server since the hub started.\n");
        out.push_str("# TYPE hub_server_restarts_total counter\n");
        for s in statuses {
            out.push_str(&format!("hub_server_restarts_total{{server=\"{}\"}} {}\n", esc(&s.name), s.restarts));
        }
        let replicas: Vec<_> = statuses.iter().flat_map(|s| s.replicas.iter().map(move |r| (&s.name, r))).collect();
        if !replicas.is_empty() {
            type Of = fn(&crate::registry::ReplicaStatus) -> u64;
            let series: [(&str, &str, &str, Of); 4] = [
                ("hub_replica_up", "gauge", "Whether the replica is connected and in rotation (1) or not (0).", |r| {
                    u64::from(r.state == Phase::Up && r.last_error.is_none())
                }),
                ("hub_replica_in_flight", "gauge", "Requests in flight on the replica.", |r| r.in_flight as u64),
                ("hub_replica_calls_total", "counter", "Requests sent to the replica.", |r| r.calls),
                ("hub_replica_errors_total", "counter", "Requests that failed on the replica (down, timeout).", |r| {
                    r.errors
                }),
            ];
            for (name, kind, help, of) in series {
                out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
                for (server, r) in &replicas {
                    let labels = format!("server=\"{}\",replica=\"{}\"", esc(server), esc(&r.replica));
                    out.push_str(&format!("{name}{{{labels}}} {}\n", of(r)));
                }
            }
        }
        out.push_str(&format!(
            "# HELP hub_tools Tools in the index.\n# TYPE hub_tools gauge\nhub_tools {}\n",
            registry.index().len()
        ));
        if let Some(a) = &self.audit {
            out.push_str(&format!(
                "# HELP hub_audit_backpressure_total Audit lines that had to wait for room in the writer's queue.\n\
                 # TYPE hub_audit_backpressure_total counter\nhub_audit_backpressure_total {}\n",
                a.backpressure()
            ));
        }
        out.push_str(&crate::telemetry::prometheus());
        out.push_str(extra);
        out
    }
}
