//! Rendering: aligned text tables, tool results as readable text, durations, and the one JSON shape of the tool
//! list and of the servers' states that every face prints. Everything here returns a value; callers decide
//! between stdout (results) and stderr (diagnostics).

use crate::registry::{Phase, Registry, Status};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// An aligned table; the last column is cut to `max_last` characters.
pub fn table(headers: &[&str], rows: &[Vec<String>], max_last: usize) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n.saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == n {
                l.push_str(&cut(cell, max_last));
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

/// What a JSON value is, for error messages ("a number").
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` cut to `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}

/// The text parts of a tool result, joined.
pub fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .map(|c| match c {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => format!("[image {}]", i.mime_type),
            ContentBlock::Audio(_) => "[audio]".to_string(),
            ContentBlock::Resource(_) => "[embedded resource]".to_string(),
            ContentBlock::ResourceLink(r) => format!("[resource {}]", r.uri),
            _ => "[unsupported content]".to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The result's payload as JSON: structured content when the server gave it, else the text parsed as JSON
/// when it is JSON, else the text as a string.
pub fn result_value(result: &CallToolResult) -> Value {
    if let Some(s) = &result.structured_content {
        return s.clone();
    }
    let text = result_text(result);
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// A tool result for a person: pretty JSON when structured, else the text.
pub fn render_result(result: &CallToolResult) -> String {
    match result_value(result) {
        Value::String(s) => s,
        v => serde_json::to_string_pretty(&v).unwrap_or_default(),
    }
}

pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Each server's state and, when it is not up, why: the `servers` map of `hub tools --json`, `hub ask --json`
/// and REST `/tools` — with the servers `behind` an attached hub, as it reported them.
pub fn server_states(registry: &Registry, behind: &[Status]) -> serde_json::Map<String, Value> {
    let own = registry.servers().iter().map(|s| {
        let doc = serde_json::json!({"state": s.phase(), "error": s.down_reason(), "problems": s.problems()});
        (s.cfg.name.clone(), doc)
    });
    let theirs = behind.iter().map(|s| {
        let error = (s.state != Phase::Up).then(|| s.last_error.clone()).flatten();
        (s.name.clone(), serde_json::json!({"state": s.state, "error": error, "problems": s.problems}))
    });
    own.chain(theirs).collect()
}

/// What the person should know about the servers before reading a result, one line each: servers that are
/// not up and why, what was wrong with their tool listings, name collisions. `hub tools` and `hub ask` print
/// them on stderr; `--json` carries the same facts in `servers`.
pub fn warnings(registry: &Registry, behind: &[Status]) -> Vec<String> {
    let mut lines = Vec::new();
    for s in registry.servers().iter().filter(|s| s.cfg.enabled) {
        if let Some(reason) = s.down_reason() {
            lines.push(format!("server '{}' is {:?}: {reason}", s.cfg.name, s.phase()));
        }
        lines.extend(s.problems().iter().map(|p| format!("server '{}': {p}", s.cfg.name)));
    }
    for s in behind.iter().filter(|s| !matches!(s.state, Phase::Up | Phase::Disabled)) {
        let reason = s.last_error.as_deref().unwrap_or("no reason given");
        lines.push(format!("server '{}' (behind the hub) is {:?}: {reason}", s.name, s.state));
    }
    for s in behind {
        lines.extend(s.problems.iter().map(|p| format!("server '{}': {p}", s.name)));
    }
    lines.extend(registry.index().collisions.iter().cloned());
    lines.extend(registry.resource_collisions());
    lines
}

/// The tool index as one document — the same shape for `hub tools --json` and REST `GET /tools`.
pub fn tool_list(registry: &Registry, behind: &[Status]) -> Value {
    tool_list_of(registry, behind, |_| true)
}

/// `tool_list` with only the entries `keep` lets through (a gateway identity's view).
pub fn tool_list_of(
    registry: &Registry,
    behind: &[Status],
    keep: impl Fn(&crate::registry::index::Entry) -> bool,
) -> Value {
    let index = registry.index();
    let tools: Vec<Value> = index
        .entries()
        .iter()
        .filter(|e| keep(e))
        .map(|e| {
            serde_json::json!({
                "name": e.name, "server": e.server, "tool": e.upstream(), "kind": e.kind(),
                "read_only": e.read_only(), "destructive": e.destructive(), "description": e.description(),
                "input_schema": e.tool.input_schema, "output_schema": e.tool.output_schema,
                "annotations": e.tool.annotations, "pin": registry.pin_state(&e.server, e.upstream()),
            })
        })
        .collect();
    serde_json::json!({"tools": tools, "count": tools.len(), "collisions": index.collisions, "servers": server_states(registry, behind)})
}

/// A state as the tables write it ("needs login").
fn state_word(state: crate::registry::Phase) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(|t| t.replace('_', " "))).unwrap_or_default()
}

/// The `hub status` table (also the REPL's `/servers`), then one row per replica of servers that have several.
pub fn status_table(statuses: &[Status]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                state_word(s.state),
                opt(s.pid.map(|p| p.to_string())),
                opt(s.uptime_s.map(|u| format!("{u:.1}s"))),
                s.restarts.to_string(),
                s.crashes_10m.to_string(),
                opt(s.next_attempt_in_s.map(|d| format!("in {d:.1}s"))),
                s.tools.to_string(),
                opt(s.ping_ms.map(|p| format!("{p:.1}ms"))),
                opt(s.last_error.clone()),
            ]
        })
        .collect();
    let headers =
        ["SERVER", "STATE", "PID", "UPTIME", "RESTARTS", "CRASHES/10M", "NEXT", "TOOLS", "PING", "LAST ERROR"];
    let mut out = table(&headers, &rows, 100);
    let replicas: Vec<Vec<String>> = statuses
        .iter()
        .flat_map(|s| &s.replicas)
        .map(|r| {
            vec![
                r.replica.clone(),
                state_word(r.state),
                opt(r.pid.map(|p| p.to_string()).or_else(|| r.url.clone())),
                r.in_flight.to_string(),
                r.calls.to_string(),
                r.errors.to_string(),
                r.restarts.to_string(),
                opt(r.last_error.clone()),
            ]
        })
        .collect();
    if !replicas.is_empty() {
        let headers = ["REPLICA", "STATE", "PID/URL", "IN FLIGHT", "CALLS", "ERRORS", "RESTARTS", "OUT OF ROTATION"];
        out.push('\n');
        out.push_str(&table(&headers, &replicas, 100));
    }
    for s in statuses {
        for p in &s.problems {
            out.push_str(&format!("{}: {p}\n", s.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_cuts() {
        let t = table(&["A", "BB"], &[vec!["long cell".into(), "x".repeat(50)]], 10);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines[0], "A          BB");
        assert!(lines[1].starts_with("long cell  xxxxxxxxx…"));
    }
}
