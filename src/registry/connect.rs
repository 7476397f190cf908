//! Opening one MCP connection: spawning a stdio server (piped stdio, stderr drained into a tail kept for error
//! messages, killed with the hub even on SIGKILL via PDEATHSIG) or opening a streamable-HTTP session, then the
//! MCP handshake under the server's startup timeout and the first, checked tool listing (`listing`).
//!
//! Owns: the child process. Not: restarts (see `supervise`), the stdio framing (`wire`), what the client side
//! declares and answers (`host`).

use super::host::{Handler, Host};
use super::listing::{self, Listing};
use super::watched::Watched;
use super::wire::{self, Fault, Wire};
use crate::config::{ServerConfig, Transport};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

const TAIL_LINES: usize = 20;

/// The last lines a child wrote on stderr, and how many stderr pipes are still being read.
#[derive(Clone)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>, Arc<tokio::sync::watch::Sender<usize>>);

impl Default for Tail {
    fn default() -> Self {
        Tail(Arc::default(), Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Tail {
    /// Waits (at most `within`) until every stderr pipe has been read to its end: a child that just exited has
    /// said all it will, and its last words make the error message.
    pub async fn settled(&self, within: std::time::Duration) {
        let mut open = self.1.subscribe();
        let _ = tokio::time::timeout(within, open.wait_for(|n| *n == 0)).await;
    }
    fn push(&self, line: String) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
    /// The last few lines, joined, for an error message (empty when there are none).
    pub fn summary(&self) -> String {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let lines: Vec<&str> = t.iter().rev().take(5).rev().map(String::as_str).collect();
        lines.join(" | ")
    }
}

pub type Service = RunningService<RoleClient, Handler>;

/// An open connection: the MCP service, its child (stdio only), its protocol-error latch and the first listing.
pub struct Conn {
    pub service: Service,
    pub child: Option<tokio::process::Child>,
    pub fault: Fault,
    pub listing: Listing,
}

/// A bare command name is looked up beside the running hub executable first, then on PATH.
pub fn resolve_command(command: &str) -> PathBuf {
    if !command.contains('/')
        && let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(PathBuf::from))
    {
        let beside = dir.join(command);
        if beside.is_file() {
            return beside;
        }
    }
    PathBuf::from(command)
}

/// Connects to `cfg`'s server: spawn or dial, handshake, list tools — all within the startup timeout.
pub async fn connect(
    cfg: &ServerConfig,
    tail: &Tail,
    lists_changed: Arc<Notify>,
    host: Arc<Host>,
) -> Result<Conn, Failed> {
    let fault = Fault::default();
    let sampling = host.can_sample && cfg.sampling != crate::config::Approve::Never;
    let progress = fault.progress.clone();
    let said = Arc::new(super::transform::Said::of(&cfg.transforms));
    let relays = cfg.flatten;
    let handler = Handler { server: cfg.name.clone(), host, lists_changed, sampling, progress, said, relays };
    let attempt = async {
        match &cfg.transport {
            Transport::Stdio { command, args, env, cwd } => {
                let mut cmd = super::own::command(command, args);
                cmd.envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                if let Some(dir) = cwd {
                    cmd.current_dir(dir);
                }
                die_with_parent(&mut cmd);
                let mut child = cmd.spawn().map_err(|e| format!("cannot start '{command}': {e}"))?;
                let (Some(stdout), Some(stdin), Some(stderr)) =
                    (child.stdout.take(), child.stdin.take(), child.stderr.take())
                else {
                    return Err("child process has no stdio pipes".to_string());
                };
                drain(cfg.name.clone(), stderr, tail.clone());
                let options = wire::Options {
                    max_message_bytes: cfg.limits.max_message_bytes,
                    max_tools: cfg.limits.max_tools,
                    lists_changed: handler.lists_changed.clone(),
                    fault: fault.clone(),
                };
                let wire = Wire::new(stdout, stdin, options);
                let service = handler.serve(wire).await.map_err(|e| {
                    fault
                        .reason()
                        .map_or_else(|| format!("MCP handshake failed: {e}"), |f| format!("MCP handshake failed: {f}"))
                });
                let service = match service {
                    Ok(s) => s,
                    Err(e) if fault.reason().is_some() => return Err(e),
                    Err(e) => return Err(with_exit(e, &mut child).await),
                };
                Ok((service, Some(child)))
            }
            Transport::Http { url, headers, auth, oauth } => {
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let mut map = std::collections::HashMap::new();
                for (k, v) in headers {
                    let name = k.parse().map_err(|_| format!("invalid header name '{k}'"))?;
                    let value = v.parse().map_err(|_| format!("invalid value for header '{k}'"))?;
                    map.insert(name, value);
                }
                // `unix:///path/hub.sock`: another hub's socket, spoken to as http://localhost.
                let socket = url.strip_prefix("unix://").map(std::path::Path::new);
                let uri = if socket.is_some() { "http://localhost/mcp" } else { url.as_str() };
                let mut config = StreamableHttpClientTransportConfig::with_uri(uri).custom_headers(map);
                if socket.is_some() {
                    // A hub whose socket closed is gone (or restarted, with other sessions): no stream to resume.
                    config.retry_config = Arc::new(NoResume);
                }
                let authorized = match auth {
                    crate::config::oauth::HttpAuth::None => None,
                    _ => crate::auth::manager(&cfg.name, url, oauth).await?,
                };
                let service = match authorized {
                    Some(m) => {
                        let client = rmcp::transport::AuthClient::new(super::watched::client(), m);
                        dial(handler, Watched::around(client, fault.clone()), config).await
                    }
                    None => match socket {
                        Some(path) => {
                            let client = super::watched::unix_client(path);
                            dial(handler, Watched::around(client, fault.clone()), config).await
                        }
                        None => dial(handler, Watched::new(fault.clone()), config).await,
                    },
                };
                Ok((service.map_err(|e| format!("cannot connect to {url}: {e}"))?, None))
            }
        }
    };
    let timeout = cfg.startup_timeout;
    let (service, mut child) = match tokio::time::timeout(timeout, attempt).await {
        Ok(Err(_)) if fault.needs_login() => return Err(Failed::NeedsLogin(fault.challenge())),
        Ok(r) => r?,
        Err(_) => return Err(format!("no answer to initialize within {:.1}s", timeout.as_secs_f64()).into()),
    };
    // The tool listing shares the startup budget's spirit: bounded by the call timeout.
    let mut caps = service.peer().peer_info().map(|i| i.capabilities.clone());
    if let Some(c) = caps.as_mut().filter(|_| cfg.flatten) {
        // An attached hub is used for its tools only (resources and prompts are read from the servers).
        (c.resources, c.prompts) = (None, None);
    }
    let listed = listing::list_all(service.peer(), caps.as_ref(), &cfg.limits, &fault);
    match tokio::time::timeout(cfg.timeout, listed).await {
        Ok(Ok(listing)) => Ok(Conn { service, child, fault, listing }),
        Ok(Err(msg)) => {
            service.cancellation_token().cancel();
            Err(match child.as_mut() {
                Some(c) if fault.reason().is_none() => with_exit(msg, c).await.into(),
                _ if fault.needs_login() => Failed::NeedsLogin(fault.challenge()),
                _ => msg.into(),
            })
        }
        Err(_) => Err(format!("no answer to tools/list within {:.1}s", cfg.timeout.as_secs_f64()).into()),
    }
}

/// The stream of a hub's socket is never resumed: a hub whose socket closed is gone (or is another one now).
#[derive(Debug)]
struct NoResume;

impl rmcp::transport::common::client_side_sse::SseRetryPolicy for NoResume {
    fn retry(&self, _: usize) -> Option<std::time::Duration> {
        None
    }
}

/// Why a connection could not be opened.
pub enum Failed {
    Error(String),
    /// The server wants an OAuth login hub does not have (or has lost): nothing to retry until someone logs in.
    /// With the server's challenge.
    NeedsLogin(Option<String>),
}

impl From<String> for Failed {
    fn from(e: String) -> Failed {
        Failed::Error(e)
    }
}

type HttpTransport<C> = rmcp::transport::StreamableHttpClientTransport<Watched<C>>;

/// The MCP handshake over streamable HTTP with `client` (plain or authorized).
async fn dial<C>(
    handler: Handler,
    client: Watched<C>,
    config: rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig,
) -> Result<Service, rmcp::service::ClientInitializeError>
where
    C: rmcp::transport::streamable_http_client::StreamableHttpClient<Error = reqwest::Error> + Sync,
{
    handler.serve(HttpTransport::with_client(client, config)).await
}

/// A stdio server's failure to start, with the command line that was run (as a shell would take it).
pub fn with_command(cfg: &ServerConfig, msg: String) -> String {
    let Transport::Stdio { command, args, .. } = &cfg.transport else { return msg };
    let words = std::iter::once(command.as_str()).chain(args.iter().map(String::as_str));
    // A word shlex cannot quote (a NUL byte) is shown as Rust would debug-print it.
    let line = shlex::try_join(words.clone())
        .unwrap_or_else(|_| words.map(|w| format!("{w:?}")).collect::<Vec<_>>().join(" "));
    format!("{msg}; command: {line}")
}

/// Adds the child's exit status to `msg` if it has exited (waiting briefly for it to do so).
async fn with_exit(msg: String, child: &mut tokio::process::Child) -> String {
    match tokio::time::timeout(std::time::Duration::from_millis(200), child.wait()).await {
        Ok(Ok(status)) => format!("{msg} ({})", describe_exit(status)),
        _ => msg,
    }
}

pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "exited".to_string(),
    }
}

/// Reads the child's stderr line by line: kept in the tail, logged at debug level.
fn drain(server: String, stderr: tokio::process::ChildStderr, tail: Tail) {
    tail.1.send_modify(|n| *n += 1);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(server = %server, "stderr: {line}");
            tail.push(line.chars().take(500).collect());
        }
        tail.1.send_modify(|n| *n = n.saturating_sub(1));
    });
}

/// The child is in its own process group, so a terminal's Ctrl-C reaches hub alone, which decides what stops (triage
/// finishes its running items; chat cancels the turn). On Linux, the child gets SIGKILL when the hub dies, however
/// it dies.
pub(crate) fn die_with_parent(cmd: &mut tokio::process::Command) {
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the child's own state between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
