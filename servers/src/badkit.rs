//! `badkit`: a deliberately broken MCP server, hand-rolled over stdio (no SDK, so it can break the protocol),
//! for hub's reliability tests. It completes the handshake and lists one tool, `ping`; then, by
//! `HUB_BADKIT_MODE`:
//! - `garbage`   writes a non-JSON line before every answer
//! - `garbage_call` answers `tools/call` with a non-JSON line
//! - `wrong_ids` answers `tools/call` with an id nobody asked for
//! - `silent`    never answers `tools/call`
//! - `huge`      answers `ping` with a 50 MB text result (`HUB_BADKIT_MB` to change)
//! - `flood`     sends 100 000 log notifications and 1 000 `tools/list_changed` after the handshake, then
//!   behaves
//!
//! and with a hostile `tools/list` reply (the answers themselves are in `hostile`, shared with the HTTP test
//! server): `bad_utf8`, `deep`, `long_desc`, `endless`, `not_jsonrpc`, `mixed`, `many` (`HUB_BADKIT_TOOLS`
//! tools, default 100 000, in pages of `HUB_BADKIT_PAGE`, default all in one), `relist_flood`
//! (`HUB_BADKIT_COUNT` `list_changed` notifications, default 200 000, after the handshake).
//!
//! `ping` answers `pong; tools/list served N times`. Anything else (or unset): a well-behaved server.

pub mod hostile;

use serde_json::{Value, json};
use std::io::{BufRead, Write};

fn send(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

fn answer(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Notifications sent once the client says it is initialized.
fn after_handshake(mode: &str, out: &mut impl Write) -> std::io::Result<()> {
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    match mode {
        "flood" => {
            for i in 0..100_000 {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": format!("flood {i}")}});
                send(out, &note)?;
            }
            (0..1_000).try_for_each(|_| send(out, &changed))
        }
        "relist_flood" => (0..env_number("HUB_BADKIT_COUNT", 200_000)).try_for_each(|_| send(out, &changed)),
        _ => Ok(()),
    }
}

pub fn run() -> std::io::Result<()> {
    let mode = std::env::var("HUB_BADKIT_MODE").unwrap_or_default();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut listed = 0usize;
    for line in stdin.lock().lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = msg.get("id").cloned() else {
            if msg["method"] == "notifications/initialized" {
                after_handshake(&mode, &mut out)?;
            }
            continue;
        };
        if mode == "garbage" {
            out.write_all(b"this is not JSON-RPC {{{\n")?;
        }
        let method = msg["method"].as_str().unwrap_or("");
        let reply = match method {
            "initialize" => answer(
                &id,
                json!({"protocolVersion": msg["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                       "capabilities": {"tools": {"listChanged": true}}, "serverInfo": {"name": "badkit", "version": "0"}}),
            ),
            "tools/list" => {
                listed += 1;
                let cursor = msg["params"]["cursor"].as_str();
                match hostile::tools_list(&mode, &id, cursor) {
                    hostile::Reply::Bytes(bytes) => {
                        out.write_all(&bytes)?;
                        out.flush()?;
                        continue;
                    }
                    hostile::Reply::Endless(head) => {
                        out.write_all(&head)?;
                        loop {
                            out.write_all(&[b' '; 65_536])?;
                        }
                    }
                    hostile::Reply::Default => answer(
                        &id,
                        json!({"tools": [{"name": "ping", "description": "Answers pong (or misbehaves).",
                                          "inputSchema": {"type": "object", "properties": {}},
                                          "annotations": {"readOnlyHint": true}}]}),
                    ),
                }
            }
            "ping" => answer(&id, json!({})),
            "tools/call" => match mode.as_str() {
                "silent" => continue,
                "garbage_call" => {
                    out.write_all(b"this is not JSON-RPC {{{\n")?;
                    out.flush()?;
                    continue;
                }
                "wrong_ids" => {
                    let wrong = json!(format!("not-{id}"));
                    answer(&wrong, json!({"content": [{"type": "text", "text": "pong"}]}))
                }
                "huge" => {
                    let mb = env_number("HUB_BADKIT_MB", 50);
                    answer(&id, json!({"content": [{"type": "text", "text": "x".repeat(mb * 1024 * 1024)}]}))
                }
                _ => {
                    let text = format!("pong; tools/list served {listed} times");
                    answer(&id, json!({"content": [{"type": "text", "text": text}]}))
                }
            },
            _ => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("method not found: {method}")}})
            }
        };
        send(&mut out, &reply)?;
    }
    Ok(())
}
