//! Hostile `tools/list` replies, one per mode, shared by `badkit` (stdio) and hub's HTTP test server: what a
//! broken or malicious server can send in place of a tool list.
//! - `bad_utf8`    a tool name with a byte that is not UTF-8
//! - `deep`        JSON nested 100 000 levels
//! - `long_desc`   a 50 MB description (`HUB_BADKIT_MB` to change)
//! - `endless`     a reply that starts and never ends (spaces, no newline)
//! - `not_jsonrpc` valid JSON that is not a JSON-RPC message
//! - `mixed`       valid tools among invalid entries of every kind (see `mixed_tools`)
//! - `many`        `HUB_BADKIT_TOOLS` small tools (default 100 000), `ping` first, in pages of `HUB_BADKIT_PAGE`
//!
//! Any other mode: `Reply::Default`, the caller's own well-formed list.

use serde_json::{Value, json};

pub enum Reply {
    /// The caller's well-formed list.
    Default,
    /// These bytes, newline included where the wire needs one.
    Bytes(Vec<u8>),
    /// This prefix, then spaces forever.
    Endless(Vec<u8>),
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn line(v: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// The reply to `tools/list` request `id` (page `cursor`) in `mode`.
pub fn tools_list(mode: &str, id: &Value, cursor: Option<&str>) -> Reply {
    let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":["#).into_bytes();
    let answer = |result: Value| line(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    match mode {
        "bad_utf8" => {
            let mut bytes = head;
            bytes.extend_from_slice(b"{\"name\":\"caf\xe9\",\"inputSchema\":{\"type\":\"object\"}}]}}\n");
            Reply::Bytes(bytes)
        }
        "deep" => {
            let mut bytes = head;
            bytes.extend(std::iter::repeat_n(b'[', 100_000));
            bytes.extend(std::iter::repeat_n(b']', 100_000));
            bytes.extend_from_slice(b"]}}\n");
            Reply::Bytes(bytes)
        }
        "long_desc" => {
            let description = "d".repeat(number("HUB_BADKIT_MB", 50) * 1024 * 1024);
            Reply::Bytes(answer(
                json!({"tools": [{"name": "ping", "description": description, "inputSchema": schema()}]}),
            ))
        }
        "endless" => Reply::Endless(head),
        "not_jsonrpc" => Reply::Bytes(line(&json!({"hello": "world", "tools": []}))),
        "mixed" => Reply::Bytes(answer(json!({"tools": mixed_tools()}))),
        "many" => {
            let total = number("HUB_BADKIT_TOOLS", 100_000);
            let page = number("HUB_BADKIT_PAGE", total).max(1);
            let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
            let end = (start + page).min(total);
            let tools: Vec<Value> = (start..end)
                .map(|i| match i {
                    0 => json!({"name": "ping", "inputSchema": schema(), "annotations": {"readOnlyHint": true}}),
                    _ => json!({"name": format!("t{i:06}"), "description": "one of many", "inputSchema": schema()}),
                })
                .collect();
            let mut result = json!({"tools": tools});
            if end < total {
                result["nextCursor"] = json!(end.to_string());
            }
            Reply::Bytes(answer(result))
        }
        _ => Reply::Default,
    }
}

/// Six usable tools (`ping`, `ok_two`, `has space`, `dotted.name`, `untyped`, `wordy`) among ten unusable entries.
pub fn mixed_tools() -> Value {
    let mut deep = json!({"type": "object"});
    for _ in 0..40 {
        deep = json!({"type": "object", "properties": {"x": deep}});
    }
    json!([
        {"name": "ping", "description": "Answers pong.", "inputSchema": schema(), "annotations": {"readOnlyHint": true}},
        {"name": "ok_two", "inputSchema": schema()},
        {"name": 42, "inputSchema": schema()},
        {"name": "no_schema"},
        {"name": "", "inputSchema": schema()},
        {"name": "ping", "inputSchema": schema()},
        {"name": "stringy", "inputSchema": {"type": "string"}},
        {"name": "has space", "inputSchema": schema()},
        {"name": "bell\u{7}", "inputSchema": schema()},
        {"name": "x".repeat(200), "inputSchema": schema()},
        {"name": "dotted.name", "inputSchema": schema()},
        {"name": "untyped", "inputSchema": {"properties": {}}},
        {"name": "wordy", "description": "w".repeat(100_000), "inputSchema": schema()},
        {"name": "deep_schema", "inputSchema": deep},
        {"name": "big_schema", "inputSchema": {"type": "object", "description": "b".repeat(300_000)}},
        "just a string",
    ])
}
