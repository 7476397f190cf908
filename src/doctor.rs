//! `hub doctor [--json]`: one screen that says whether this setup works and, where it does not, what to do — the
//! configuration found (and where hub looked), every server (up with its tools, resources and prompts, ping,
//! protocol revision; or why not, with its stderr tail; OAuth servers' login state), the model endpoint (reachable,
//! key accepted, model listed, its context window against the size of the tool definitions hub would offer, and a
//! real probe that it answers a trivial tool with a tool call), the directories and files hub writes (data, state,
//! chat history, the gateway's audit log), and the versions. Exit 0 when nothing is broken, 1 when something is.

use crate::config::{self, Config};
use crate::exit::{self, Failure};
use crate::registry::{Phase, Registry};
use serde::Serialize;
use serde_json::json;
use std::path::Path;

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ok,
    Warn,
    Broken,
}

/// One line of the report.
#[derive(Serialize)]
pub struct Check {
    pub mark: Mark,
    pub area: &'static str,
    pub what: String,
    /// The next step, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(mark: Mark, area: &'static str, what: impl Into<String>, fix: Option<String>) -> Check {
    Check { mark, area, what: what.into(), fix }
}

/// Runs every check and prints the report; exit 1 when one is broken.
pub fn run(explicit: Option<&Path>, overrides: &config::Overrides, json_out: bool) -> exit::Result<u8> {
    let mut checks = Vec::new();
    let tried: Vec<String> = config::candidates().iter().map(|p| p.display().to_string()).collect();
    let loaded = config::load(explicit, overrides);
    match &loaded {
        Ok(c) => {
            let looked = if explicit.is_some() { String::new() } else { format!(" (looked at {})", tried.join(", ")) };
            let fix = (c.origin == "built-in default").then(|| "hub init writes one to edit".to_string());
            checks.push(check(Mark::Ok, "config", format!("{}{looked}", c.origin), fix));
        }
        Err(e) => {
            checks.push(check(Mark::Broken, "config", e.message.clone(), Some("fix the file at that line".into())))
        }
    }
    if let Ok(config) = &loaded {
        crate::auth::vault::configure(config.token_store);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))?;
        runtime.block_on(async {
            let registry = Registry::start(config).await;
            servers(&registry, &mut checks).await;
            logins(config, &mut checks);
            let tokens = tool_tokens(&registry);
            registry.shutdown().await;
            model(config, tokens, &mut checks).await;
            if let Some(t) = &config.telemetry {
                checks.push(telemetry(t).await);
            }
        });
    }
    paths(&mut checks);
    let revisions: Vec<&str> = rmcp::model::ProtocolVersion::KNOWN_VERSIONS.iter().map(|v| v.as_str()).collect();
    let speaks = format!("hub {}, MCP revisions {}", env!("CARGO_PKG_VERSION"), revisions.join(", "));
    checks.push(check(Mark::Ok, "version", speaks, None));
    let broken = checks.iter().any(|c| c.mark == Mark::Broken);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({"ok": !broken, "checks": checks})).unwrap_or_default());
    } else {
        for c in &checks {
            let mark = match c.mark {
                Mark::Ok => "✓",
                Mark::Warn => "!",
                Mark::Broken => "✗",
            };
            let fix = c.fix.as_ref().map(|f| format!(" — {f}")).unwrap_or_default();
            println!("{mark} {:<8} {}{fix}", c.area, c.what);
        }
    }
    Ok(if broken { exit::RUNTIME } else { exit::OK })
}

async fn servers(registry: &Registry, checks: &mut Vec<Check>) {
    for s in registry.status(true).await {
        let server = registry.server(&s.name);
        let what = match s.state {
            Phase::Up => {
                let (resources, prompts, protocol) = server.map(|sv| sv.offers()).unwrap_or_default();
                let ping = s.ping_ms.map(|p| format!(", ping {p:.1} ms")).unwrap_or_default();
                let several =
                    if s.replicas.is_empty() { String::new() } else { format!(", {} replicas", s.replicas.len()) };
                format!(
                    "{}: up, {} tools, {resources} resources, {prompts} prompts{ping}, protocol {protocol}{several}",
                    s.name, s.tools
                )
            }
            Phase::Disabled => format!("{}: disabled", s.name),
            _ => format!("{}: {}", s.name, s.last_error.clone().unwrap_or_else(|| "not connected".into())),
        };
        let (mark, fix) = match s.state {
            Phase::Up | Phase::Disabled => (Mark::Ok, None),
            Phase::NeedsLogin => (Mark::Broken, Some(format!("hub auth login {}", s.name))),
            _ => (Mark::Broken, Some("check its command and arguments (hub -v status shows more)".into())),
        };
        checks.push(check(mark, "server", what, fix));
        for p in server.map(|sv| sv.problems()).unwrap_or_default() {
            checks.push(check(Mark::Warn, "server", format!("{}: {p}", s.name), None));
        }
    }
}

/// OAuth servers' stored logins: when the token runs out, or that there is none.
fn logins(config: &Config, checks: &mut Vec<Check>) {
    for cfg in config.servers.iter().filter(|c| c.enabled) {
        let Some((state, detail)) = crate::auth::login_state(cfg) else { continue };
        checks.push(if state == "authorized" {
            check(Mark::Ok, "auth", format!("{}: logged in, token {detail}", cfg.name), None)
        } else {
            check(Mark::Broken, "auth", format!("{}: {state}", cfg.name), Some(format!("hub auth login {}", cfg.name)))
        });
    }
}

/// An estimate (4 bytes a token) of what the tool definitions hub offers take of every request's prompt.
fn tool_tokens(registry: &Registry) -> usize {
    use crate::agent::tools;
    tools::tokens_of(&tools::all_definitions(&registry.index(), false))
}

/// The model endpoint: its `/models` list, its context window, then a one-tool probe.
async fn model(config: &Config, tool_tokens: usize, checks: &mut Vec<Check>) {
    let m = &config.model;
    if m.offline || !m.configured {
        let fix = "set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint) to have a model answer".to_string();
        checks.push(check(Mark::Warn, "model", "none configured: the offline planner answers", Some(fix)));
        return;
    }
    let base = m.base_url.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default();
    let mut request = http.get(format!("{base}/models"));
    if let Some(k) = &m.api_key {
        request = request.bearer_auth(k);
    }
    match request.send().await {
        Err(e) => {
            let fix = Some("check OPENAI_BASE_URL and that the server runs".to_string());
            checks.push(check(Mark::Broken, "model", format!("cannot reach {base}: {e}"), fix));
            return;
        }
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            let (what, fix) = match &m.api_key {
                Some(_) => {
                    ("refused the key", "set OPENAI_API_KEY (or [model] api_key) to a key this endpoint accepts")
                }
                None => ("wants a key and none was sent", "set OPENAI_API_KEY (or [model] api_key in servers.toml)"),
            };
            checks.push(check(Mark::Broken, "model", format!("{base} {what} ({})", r.status()), Some(fix.into())));
            return;
        }
        Ok(r) if r.status().is_success() => {
            let listed: serde_json::Value = r.json().await.unwrap_or_default();
            let models = listed["data"].as_array().cloned().unwrap_or_default();
            let ids: Vec<&str> = models.iter().filter_map(|d| d["id"].as_str()).collect();
            let this = models.iter().find(|d| d["id"] == m.name.as_str()).or(models.first().filter(|_| ids.len() == 1));
            let window = match this.and_then(crate::llm::window::of_entry) {
                Some(n) => Some(n),
                None => crate::llm::window::of_props(&http, base).await,
            };
            checks.push(context(window, tool_tokens));
            if ids.contains(&m.name.as_str()) || ids.is_empty() {
                checks.push(check(Mark::Ok, "model", format!("{base} lists {}", m.name), None));
            } else {
                let fix = Some(format!(
                    "--model or HUB_MODEL: one of {}",
                    ids.iter().take(8).copied().collect::<Vec<_>>().join(", ")
                ));
                checks.push(check(Mark::Broken, "model", format!("{base} does not list model '{}'", m.name), fix));
            }
        }
        Ok(r) => {
            let said = format!("{base}/models answered {}; probing anyway", r.status());
            checks.push(check(Mark::Warn, "model", said, None));
            checks.push(context(crate::llm::window::of_props(&http, base).await, tool_tokens));
        }
    }
    checks.push(probe(m).await);
}

/// The tool definitions against the window: a warning past half of it, broken past all of it.
fn context(window: Option<u64>, tokens: usize) -> Check {
    let tokens = tokens as u64;
    let fewer = Some("offer fewer tools: disable servers, or filter their tools (allow/deny in servers.toml)".into());
    match window {
        None => check(
            Mark::Ok,
            "model",
            format!("context window not reported; the tool definitions take ≈{tokens} tokens of every request"),
            None,
        ),
        Some(w) if tokens >= w => check(
            Mark::Broken,
            "model",
            format!("the tool definitions (≈{tokens} tokens) do not fit the {w}-token context window"),
            fewer,
        ),
        Some(w) if tokens * 2 >= w => check(
            Mark::Warn,
            "model",
            format!("the tool definitions take ≈{tokens} tokens, over half of the {w}-token context window"),
            fewer,
        ),
        Some(w) => check(
            Mark::Ok,
            "model",
            format!("context window {w} tokens; the tool definitions take ≈{tokens} ({}%)", tokens * 100 / w),
            None,
        ),
    }
}

/// Whether the model answers a trivial tool with a tool call.
async fn probe(m: &config::ModelConfig) -> Check {
    let request = json!({
        "model": m.name,
        "messages": [{"role": "user", "content": "Call the hub_doctor_ping tool once. Do not answer in text."}],
        "tools": [{"type": "function", "function": {"name": "hub_doctor_ping", "description": "Answers pong.",
                   "parameters": {"type": "object", "properties": {}}}}],
        "tool_choice": "auto",
    });
    let request = match serde_json::from_value(request) {
        Ok(r) => r,
        Err(e) => return check(Mark::Broken, "model", format!("cannot build the probe: {e}"), None),
    };
    let llm = match crate::llm::Llm::new(m) {
        Ok(l) => l,
        Err(e) => return check(Mark::Broken, "model", e.to_string(), None),
    };
    match llm.complete(&request, None).await {
        Ok(c) if c.tool_calls.iter().any(|t| t.name == "hub_doctor_ping") => {
            check(Mark::Ok, "model", format!("{} answers with tool calls", m.name), None)
        }
        Ok(_) => check(
            Mark::Broken,
            "model",
            format!("{} answered a tool request without a tool call", m.name),
            Some("use a tool-capable model or template (llama.cpp: --jinja; Ollama: a model tagged 'tools')".into()),
        ),
        Err(e) => check(Mark::Broken, "model", e.to_string(), None),
    }
}

/// Whether the collector telemetry goes to accepts connections (an export to one that does not drops spans).
async fn telemetry(t: &config::telemetry::Telemetry) -> Check {
    let protocol = match t.protocol {
        config::telemetry::Protocol::Grpc => "grpc",
        config::telemetry::Protocol::HttpProtobuf => "http/protobuf",
    };
    let url = reqwest::Url::parse(&t.endpoint).ok();
    let addr = url.as_ref().and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)));
    let Some((host, port)) = addr else {
        return check(Mark::Broken, "otel", format!("{} is not a URL with a host", t.endpoint), None);
    };
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => {
            check(Mark::Ok, "otel", format!("exporting traces and metrics to {} ({protocol})", t.endpoint), None)
        }
        Ok(Err(e)) => {
            let fix = Some("start the collector, or fix OTEL_EXPORTER_OTLP_ENDPOINT / [telemetry] endpoint".into());
            check(Mark::Warn, "otel", format!("cannot reach {}: {e}; spans are dropped (counted)", t.endpoint), fix)
        }
        Err(_) => check(Mark::Warn, "otel", format!("{} did not accept a connection within 3 s", t.endpoint), None),
    }
}

/// The directories hub writes — its data (pins, stores), its state (OAuth, logs) — and the files it appends to:
/// chat's history, and the gateway's audit log when HUB_AUDIT_LOG names one.
fn paths(checks: &mut Vec<Check>) {
    dirs(checks);
    let history = crate::repl::state_dir().join("history");
    let audit = std::env::var_os("HUB_AUDIT_LOG").filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    for (what, file) in [("chat history", Some(history)), ("audit log", audit)] {
        let Some(file) = file else {
            checks.push(check(
                Mark::Ok,
                "paths",
                format!("{what}: off (hub serve --audit FILE or HUB_AUDIT_LOG)"),
                None,
            ));
            continue;
        };
        checks.push(match appendable(&file) {
            Ok(_) => check(Mark::Ok, "paths", format!("{what} {} is writable", file.display()), None),
            Err(e) => check(
                Mark::Broken,
                "paths",
                format!("{what} {}: {e}", file.display()),
                Some("make it (or its directory) writable".into()),
            ),
        });
    }
}

/// Whether `file` can be appended to — or, when it does not exist yet, created in its directory (a probe file
/// is written and removed there; `file` itself is not created).
fn appendable(file: &Path) -> std::io::Result<()> {
    if file.exists() {
        return std::fs::OpenOptions::new().append(true).open(file).map(drop);
    }
    writable(file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Whether a file can be created in `dir`: a probe is written there and removed.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".hub-doctor-{}", std::process::id()));
    let written = std::fs::write(&probe, b"ok");
    let _ = std::fs::remove_file(&probe);
    written
}

fn dirs(checks: &mut Vec<Check>) {
    let state = hub_servers::store::xdg_dir("XDG_STATE_HOME", ".local/state").join("hub");
    for (what, dir) in [("data", hub_servers::store::data_dir()), ("state", state)] {
        checks.push(match std::fs::create_dir_all(&dir).and_then(|_| writable(&dir)) {
            Ok(()) => check(Mark::Ok, "paths", format!("{what} directory {} is writable", dir.display()), None),
            Err(e) => check(
                Mark::Broken,
                "paths",
                format!("{what} directory {}: {e}", dir.display()),
                Some("make it writable, or set HUB_DATA_DIR / XDG_STATE_HOME".into()),
            ),
        });
    }
}
