//! What the gateway counts and records: calls by server, tool and outcome, a call-duration histogram (both in
//! Prometheus text format for `/metrics`), and the audit log — one JSONL line per call, flushed as written.

use crate::registry::{Phase, Registry};
use std::collections::BTreeMap;
use std::io::Write;
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

#[derive(Default)]
pub struct Stats {
    /// server → tool → stats; looked up by `&str`, so the hot path allocates only for a new tool.
    tools: Mutex<BTreeMap<String, BTreeMap<String, PerTool>>>,
    audit: Option<Mutex<std::fs::File>>,
}

impl Stats {
    pub fn new(audit: Option<&std::path::Path>) -> std::io::Result<Stats> {
        let audit = match audit {
            Some(p) => Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?)),
            None => None,
        };
        Ok(Stats { audit, ..Default::default() })
    }

    /// Records one call: counters, histogram, and an audit line.
    pub fn record(&self, client: &str, via: &str, tool: &str, server: &str, outcome: &'static str, took: Duration) {
        {
            let mut all = self.tools.lock().unwrap_or_else(|p| p.into_inner());
            if !all.contains_key(server) {
                all.insert(server.to_string(), BTreeMap::new());
            }
            let per_server = all.get_mut(server).expect("inserted above");
            if !per_server.contains_key(tool) {
                per_server.insert(tool.to_string(), PerTool::default());
            }
            let t = per_server.get_mut(tool).expect("inserted above");
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
        if let Some(f) = &self.audit {
            let line = serde_json::json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "client": client, "via": via, "tool": tool, "server": server, "outcome": outcome,
                "duration_ms": crate::output::millis(took),
            });
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                tracing::error!("audit log write failed: {e}");
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn prometheus(&self, registry: &Registry, statuses: &[crate::registry::Status]) -> String {
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
        out.push_str(&format!(
            "# HELP hub_tools Tools in the index.\n# TYPE hub_tools gauge\nhub_tools {}\n",
            registry.index().len()
        ));
        out
    }
}
