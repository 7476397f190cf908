//! The registry-backed commands that need no model: `hub tools`, `hub call`, `hub status`, and
//! `hub import-config`. Also `with_registry`, the frame every such command runs in: load the config, connect
//! the servers, check the required ones, run, and always shut the children down — on Ctrl-C/SIGTERM too.

use crate::cli::Global;
use crate::config::{self, Config};
use crate::exit::{self, Failure};
use crate::output::{self, table};
use crate::registry::Registry;
use serde_json::{Value, json};
use std::future::Future;
use std::path::Path;

/// Loads the config, starts the registry, runs `f`, shuts down. SIGINT/SIGTERM end it with exit 130.
pub async fn with_registry<F, Fut>(global: &Global, f: F) -> exit::Result<u8>
where
    F: FnOnce(Config, Registry) -> Fut,
    Fut: Future<Output = exit::Result<u8>>,
{
    with_registry_signals(global, true, f).await
}

/// `with_registry`; with `catch_signals` false, `f` handles SIGINT/SIGTERM itself (graceful shutdowns).
pub async fn with_registry_signals<F, Fut>(global: &Global, catch_signals: bool, f: F) -> exit::Result<u8>
where
    F: FnOnce(Config, Registry) -> Fut,
    Fut: Future<Output = exit::Result<u8>>,
{
    let config = config::load(global.config.as_deref())?;
    let registry = Registry::start(&config).await;
    let down = registry.required_down();
    let result = if let Some((name, reason)) = down.first() {
        Err(Failure::usage(format!("required server '{name}' is not available: {reason}")))
    } else {
        let signal = async { if catch_signals { interrupted().await } else { std::future::pending().await } };
        tokio::select! {
            r = f(config, registry.clone()) => r,
            _ = signal => Err(Failure { code: exit::INTERRUPTED, message: "interrupted".into() }),
        }
    };
    registry.shutdown().await;
    result
}

/// Resolves on SIGINT or SIGTERM.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        }
        _ => std::future::pending().await,
    }
}

pub async fn tools(registry: Registry, json_out: bool) -> exit::Result<u8> {
    let index = registry.index();
    if json_out {
        let tools: Vec<Value> = index
            .entries()
            .iter()
            .map(|e| {
                json!({
                    "name": e.name, "server": e.server, "tool": e.tool.name, "kind": e.kind(),
                    "read_only": e.read_only(), "destructive": e.destructive(), "description": e.description(),
                    "input_schema": e.tool.input_schema, "output_schema": e.tool.output_schema,
                    "annotations": e.tool.annotations,
                })
            })
            .collect();
        let servers: serde_json::Map<String, Value> = registry
            .servers()
            .iter()
            .map(|s| (s.cfg.name.clone(), json!({"state": s.phase(), "error": s.down_reason()})))
            .collect();
        let doc = json!({"tools": tools, "count": tools.len(), "collisions": index.collisions, "servers": servers});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let rows: Vec<Vec<String>> = index
            .entries()
            .iter()
            .map(|e| vec![e.name.clone(), e.server.clone(), e.kind().to_string(), e.description().to_string()])
            .collect();
        print!("{}", table(&["NAME", "SERVER", "KIND", "DESCRIPTION"], &rows, 70));
        for s in registry.servers() {
            if let Some(reason) = s.down_reason().filter(|_| s.cfg.enabled) {
                eprintln!("warning: server '{}' is {:?}: {reason}", s.cfg.name, s.phase());
            }
        }
        for c in &index.collisions {
            eprintln!("warning: {c}");
        }
    }
    Ok(exit::OK)
}

/// Parses `hub call` arguments: a JSON object, `-` for stdin, or nothing.
pub fn parse_args(raw: Option<&str>) -> exit::Result<Option<serde_json::Map<String, Value>>> {
    let text = match raw {
        None => return Ok(None),
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Failure::usage(format!("cannot read arguments from stdin: {e}")))?;
            s
        }
        Some(s) => s.to_string(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(other) => Err(Failure::usage(format!("arguments must be a JSON object, got {}", kind(&other)))),
        Err(e) => Err(Failure::usage(format!("arguments are not valid JSON: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub async fn call(
    registry: Registry,
    tool: &str,
    args: Option<serde_json::Map<String, Value>>,
    json_out: bool,
) -> exit::Result<u8> {
    match registry.call(tool, args).await {
        Ok(called) => {
            let is_error = called.result.is_error == Some(true);
            if json_out {
                println!("{}", serde_json::to_string_pretty(&called.result).unwrap_or_default());
            } else if is_error {
                eprintln!("{}", output::result_text(&called.result));
            } else {
                println!("{}", output::render_result(&called.result));
            }
            tracing::info!(server = %called.entry.server, tool = %called.entry.tool.name, ms = output::millis(called.duration), "called");
            if is_error {
                Err(Failure::runtime(format!("tool '{}' returned an error", called.entry.name)))
            } else {
                Ok(exit::OK)
            }
        }
        // Unknown tool (with suggestions), down server, timeout: all runtime failures, exit 1.
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
}

pub async fn status(registry: Registry, json_out: bool) -> exit::Result<u8> {
    let statuses = registry.status(true).await;
    if json_out {
        let doc = json!({"servers": statuses, "tools": registry.index().len()});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                serde_json::to_value(s.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                opt(s.pid.map(|p| p.to_string())),
                opt(s.uptime_s.map(|u| format!("{u:.1}s"))),
                s.restarts.to_string(),
                s.tools.to_string(),
                opt(s.ping_ms.map(|p| format!("{p:.1}ms"))),
                opt(s.last_error.clone()),
            ]
        })
        .collect();
    print!("{}", table(&["SERVER", "STATE", "PID", "UPTIME", "RESTARTS", "TOOLS", "PING", "LAST ERROR"], &rows, 100));
    Ok(exit::OK)
}

pub fn import_config(file: &Path) -> exit::Result<u8> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?
    };
    print!("{}", config::import::convert(&text, &file.display().to_string())?);
    Ok(exit::OK)
}
