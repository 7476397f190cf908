//! The registry-backed commands that need no model — `hub tools`, `hub call`, `hub status` — and
//! `hub import-config`, which needs no registry. Each takes a started registry (see `frame`) and returns its
//! exit code.

use crate::config;
use crate::exit::{self, Failure};
use crate::frame::read_stdin;
use crate::output;
use crate::registry::{CallError, Registry};
use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, clap::Subcommand)]
pub enum ToolsAction {
    /// Trust the current definitions of tools whose pinned definition changed (or all of a server's, or all)
    Accept {
        /// Tools by index name (server__tool)
        names: Vec<String>,
        /// Every tool of this server
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        /// Every tool of every server
        #[arg(long)]
        all: bool,
    },
    /// Find tools by what they do: the best matches for QUERY, best first, with a score
    Search {
        /// What the tool should do ("create an issue"), or its name, even misspelt
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only this server's tools
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        /// At most N hits (1-100)
        #[arg(long, value_name = "N", default_value_t = crate::search::found::DEFAULT_LIMIT)]
        limit: usize,
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
}

pub async fn tools(registry: Registry, json_out: bool) -> exit::Result<u8> {
    let behind = crate::attach::behind(&registry).await;
    for w in output::warnings(&registry, &behind) {
        eprintln!("warning: {w}");
    }
    if json_out {
        let mut doc = output::tool_list(&registry, &behind);
        doc["via"] = json!(crate::attach::via(&registry));
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    let index = registry.index();
    let rows: Vec<Vec<String>> = index
        .entries()
        .iter()
        .map(|e| vec![e.name.clone(), e.server.clone(), e.kind().to_string(), e.description().to_string()])
        .collect();
    print!("{}", output::table(&["NAME", "SERVER", "KIND", "DESCRIPTION"], &rows, 70));
    Ok(exit::OK)
}

/// `hub tools search` on this command's registry (its own servers, or a hub that would not search for it).
pub async fn search(registry: Registry, ask: crate::search::found::Ask<'_>, json_out: bool) -> exit::Result<u8> {
    let behind = crate::attach::behind(&registry).await;
    let mut doc = crate::search::found::found(&registry, &behind, &ask, |_| true).map_err(Failure::usage)?;
    doc["via"] = json!(crate::attach::via(&registry));
    print_found(&doc, &ask, json_out)
}

/// The hits of a search as a table (or one JSON document); servers that are down are named on stderr. Exit 1 when
/// the one server searched is down.
pub fn print_found(doc: &Value, ask: &crate::search::found::Ask<'_>, json_out: bool) -> exit::Result<u8> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(doc).unwrap_or_default());
    } else if doc["count"] == 0 {
        println!("no tool matches '{}'", doc["query"].as_str().unwrap_or_default());
    } else {
        let hits = doc["hits"].as_array().map(Vec::as_slice).unwrap_or_default();
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|h| {
                let cell = |k: &str| h[k].as_str().unwrap_or_default().to_string();
                vec![
                    cell("name"),
                    cell("server"),
                    cell("kind"),
                    format!("{:.2}", h["score"].as_f64().unwrap_or(0.0)),
                    cell("description"),
                ]
            })
            .collect();
        print!("{}", output::table(&["NAME", "SERVER", "KIND", "SCORE", "DESCRIPTION"], &rows, 70));
    }
    let down = crate::search::found::down_lines(doc);
    for line in &down {
        eprintln!("warning: {line}");
    }
    Ok(if ask.server.is_some() && !down.is_empty() { exit::RUNTIME } else { exit::OK })
}

/// Parses `hub call` arguments: a JSON object, `-` for stdin, or nothing.
pub fn parse_args(raw: Option<&str>) -> exit::Result<Option<serde_json::Map<String, Value>>> {
    let text = match raw {
        None => return Ok(None),
        Some("-") => read_stdin("arguments")?,
        Some(s) => s.to_string(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(other) => Err(Failure::usage(format!("arguments must be a JSON object, got {}", output::json_kind(&other)))),
        Err(e) => Err(Failure::usage(format!("arguments are not valid JSON: {e}"))),
    }
}

pub async fn call(
    registry: Registry,
    tool: &str,
    args: Option<serde_json::Map<String, Value>>,
    json_out: bool,
    cancel: &tokio_util::sync::CancellationToken,
) -> exit::Result<u8> {
    match registry.call_cancellable(tool, args, cancel).await {
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
        Err(CallError::Cancelled { .. }) => Err(crate::frame::interrupted()),
        // Unknown tool (with suggestions), down server, timeout: all runtime failures, exit 1.
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
}

/// `hub tools accept NAME… | --server S | --all`: trusts the tools' current definitions (see `registry::pins`).
pub async fn accept(registry: Registry, names: &[String], server: Option<&str>, all: bool) -> exit::Result<u8> {
    if names.is_empty() && server.is_none() && !all {
        return Err(Failure::usage("name the tools to accept (server__tool), or give --server NAME or --all"));
    }
    let wanted = |s: &str, t: &str| {
        all || server == Some(s) || names.iter().any(|n| *n == format!("{s}__{t}") || *n == format!("{s}.{t}"))
    };
    let accepted = registry.accept_pins(&wanted).map_err(Failure::runtime)?;
    if accepted.is_empty() {
        return Err(Failure::runtime("no listed tool matches: see `hub tools` and its warnings for the names"));
    }
    for name in accepted {
        println!("accepted {name}");
    }
    Ok(exit::OK)
}

pub async fn status(registry: Registry, only: Vec<String>, json_out: bool) -> exit::Result<u8> {
    let mut statuses = registry.status(true).await;
    // Attached, the statuses are the hub's: all of its servers.
    statuses.retain(|s| only.is_empty() || only.contains(&s.name));
    let via = crate::attach::via(&registry);
    if json_out {
        let doc = json!({"servers": statuses, "tools": registry.index().len(), "via": via});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", output::status_table(&statuses));
        if via != "spawned" {
            println!("(via {via})");
        }
    }
    Ok(exit::OK)
}

/// The configuration cut down to the servers `names` asks for (all of them when it is empty); a name the
/// configuration does not have is a usage error naming the closest ones.
pub fn only_servers(mut config: crate::config::Config, names: &[String]) -> exit::Result<crate::config::Config> {
    if names.is_empty() {
        return Ok(config);
    }
    if let Some(name) = names.iter().find(|n| !config.servers.iter().any(|s| &s.name == *n)) {
        let mut known: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
        known.sort_by_key(|k| crate::registry::index::distance(name, k));
        return Err(Failure::usage(format!("no server '{name}' in {}; it has {}", config.origin, known.join(", "))));
    }
    config.servers.retain(|s| names.contains(&s.name));
    Ok(config)
}

/// `hub restart NAME [--stop]`: the order, sent to a running gateway's operator route.
pub async fn operate(hub: &str, name: &str, action: &str, token: Option<&str>) -> exit::Result<u8> {
    let Some(token) = token else {
        return Err(Failure::usage("the gateway's admin token is needed: --admin-token or HUB_ADMIN_TOKEN"));
    };
    let url = format!("{}/servers/{name}/{action}", hub.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let response = http
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| Failure::runtime(format!("cannot reach the gateway at {hub}: {e}")))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        let how = if body["accepted"] == "already_under_way" { " (already under way)" } else { "" };
        println!("{action} of '{name}' accepted{how}; `hub status` or GET {hub}/status shows its progress");
        Ok(exit::OK)
    } else {
        let why = body["error"].as_str().map(str::to_string).unwrap_or_else(|| status.to_string());
        Err(Failure::runtime(format!("the gateway refused to {action} '{name}' ({}): {why}", status.as_u16())))
    }
}

pub fn import_config(file: Option<&Path>, from: Option<&str>) -> exit::Result<u8> {
    let file = match (file, from) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(host)) => config::import::locate(host)?,
        (None, None) => return Err(Failure::usage("name a file or --from HOST")),
    };
    let text = if file == Path::new("-") {
        read_stdin("the config")?
    } else {
        std::fs::read_to_string(&file).map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?
    };
    let origin = file.display().to_string();
    let imported = config::import::convert(&text, &origin)?;
    print!("{}", imported.toml(&origin)?);
    for note in &imported.notes {
        eprintln!("hub: note: {note}");
    }
    Ok(exit::OK)
}
