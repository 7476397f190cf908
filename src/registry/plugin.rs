//! Plugins at run time: each `[[plugins]]` process is started at its first call, killed with hub, and restarted
//! after it dies (with backoff: 100 ms doubling to 30 s). For each call of a tool it covers, each hook it names
//! gets one JSON line and must answer with one line (up to 16 MiB) carrying the same `id`, within its deadline:
//!
//! ```text
//! hub → {"id": 7, "hook": "before_call", "tool": "crm__get_customer", "server": "crm", "arguments": {…}}
//! hub → {"id": 8, "hook": "after_call", "tool": …, "server": …, "arguments": {…}, "result": {CallToolResult}}
//! ←     {"id": 7}                         let it through unchanged
//! ←     {"id": 7, "arguments": {…}}       before_call: send these arguments instead
//! ←     {"id": 8, "result": {…}}          after_call: return this result instead (a CallToolResult)
//! ←     {"id": 7, "deny": "why"}          refuse the call (after_call: withhold its result)
//! ```
//!
//! The first answer of a freshly started process may take up to 10 s (the interpreter starting), later ones
//! `timeout_ms`. A plugin that is down, late, answers garbage or answers a call it was not asked about fails that hook: the
//! call is denied, or with `on_error = "pass"` goes on unchanged (a warning is logged). Plugins run in the order
//! written; one plugin's rewrite is what the next one sees.

use super::{CallError, Entry};
use crate::config::plugin::PluginConfig;
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, oneshot};

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// The longest answer line read (16 MiB); a longer one breaks the plugin.
const MAX_LINE: u64 = 16 << 20;

/// How long a freshly started plugin has for its first answer.
const STARTUP: Duration = Duration::from_secs(10);

/// A plugin's verdict at one hook.
pub enum Verdict {
    Pass,
    Arguments(JsonObject),
    Result(Box<CallToolResult>),
    Deny(String),
}

/// One configured plugin and its process, when running.
pub struct Plugin {
    pub cfg: PluginConfig,
    running: Mutex<Option<Running>>,
    next_id: AtomicU64,
    /// Restarts in a row and when the next start may happen.
    backoff: std::sync::Mutex<(u32, Option<Instant>)>,
}

struct Running {
    stdin: tokio::process::ChildStdin,
    pending: Pending,
    /// Fired by the reader when the plugin's stdout ends (it died).
    gone: tokio_util::sync::CancellationToken,
    /// Set once it has answered: its start-up is over.
    proven: Arc<AtomicBool>,
    _child: tokio::process::Child,
}

impl Plugin {
    pub fn new(cfg: PluginConfig) -> Plugin {
        Plugin { cfg, running: Mutex::new(None), next_id: AtomicU64::new(1), backoff: Default::default() }
    }

    /// Asks the plugin about one call at `hook`; `Err` says why it could not answer.
    pub async fn ask(&self, hook: &str, mut message: JsonObject) -> Result<Verdict, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        message.insert("id".into(), id.into());
        message.insert("hook".into(), hook.into());
        let mut line = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        // Handing the line over is bounded too: a plugin that stops reading its input fills the pipe, and the
        // calls behind the one that waits for it wait for the lock.
        let Ok(mut running) = tokio::time::timeout(STARTUP.max(self.cfg.timeout), self.running.lock()).await else {
            return Err("it is busy: the call could not be handed to it in time".into());
        };
        if running.as_ref().is_none_or(|r| r.gone.is_cancelled()) {
            *running = Some(self.start()?);
        }
        let r = running.as_mut().expect("started above");
        r.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        let deadline = if r.proven.load(Ordering::Relaxed) { self.cfg.timeout } else { self.cfg.timeout.max(STARTUP) };
        let written = tokio::time::timeout(deadline, r.stdin.write_all(&line)).await;
        let gone = r.gone.clone();
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                r.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                return Err(format!("cannot write to it: {e}"));
            }
            Err(_) => {
                // Half a line may be in the pipe: this process is done with (dropping it kills it).
                *running = None;
                return Err(format!("it took no input for {} ms; it was stopped", deadline.as_millis()));
            }
        }
        drop(running);
        let answer = tokio::select! {
            a = tokio::time::timeout(deadline, rx) => a,
            () = gone.cancelled() => return Err("it exited".into()),
        };
        let answer = match answer {
            Ok(Ok(a)) => {
                self.answered();
                a
            }
            Ok(Err(_)) => return Err("it exited".into()),
            Err(_) => {
                self.forget(id).await;
                return Err(format!("no answer within {} ms", deadline.as_millis()));
            }
        };
        verdict(hook, answer)
    }

    async fn forget(&self, id: u64) {
        if let Some(r) = self.running.lock().await.as_ref() {
            r.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    }

    /// Starts the process unless its backoff says not yet.
    fn start(&self) -> Result<Running, String> {
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = backoff.1.filter(|at| *at > Instant::now()) {
            return Err(format!("it is down; next start in {:.1}s", (at - Instant::now()).as_secs_f64()));
        }
        let delay = Duration::from_millis(100).saturating_mul(1 << backoff.0.min(9)).min(Duration::from_secs(30));
        *backoff = (backoff.0 + 1, Some(Instant::now() + delay));
        let mut cmd = tokio::process::Command::new(super::connect::resolve_command(&self.cfg.command));
        cmd.args(&self.cfg.args)
            .envs(self.cfg.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        super::connect::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start '{}': {e}", self.cfg.command))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("it has no stdio pipes".into());
        };
        let pending: Pending = Arc::default();
        let gone = tokio_util::sync::CancellationToken::new();
        let proven = Arc::new(AtomicBool::new(false));
        tokio::spawn(read(self.cfg.name.clone(), stdout, pending.clone(), gone.clone(), proven.clone()));
        Ok(Running { stdin, pending, gone, proven, _child: child })
    }

    /// A hook answered: the plugin works, its backoff starts over.
    fn answered(&self) {
        *self.backoff.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
    }
}

/// Routes each answer line to the call waiting for its id; a line that is not an answer to a waiting call is
/// logged and dropped (that call then fails at its deadline).
async fn read(
    name: String,
    stdout: tokio::process::ChildStdout,
    pending: Pending,
    gone: tokio_util::sync::CancellationToken,
    proven: Arc<AtomicBool>,
) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) if buf.len() as u64 > MAX_LINE => {
                tracing::warn!(plugin = %name, "a line over {MAX_LINE} bytes: the plugin is taken as broken");
                break;
            }
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let value: Option<Value> = serde_json::from_str(&line).ok();
        let id = value.as_ref().and_then(|v| v.get("id")).and_then(Value::as_u64);
        let waiting = id.and_then(|id| pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id));
        match (waiting, value) {
            (Some(tx), Some(v)) => {
                proven.store(true, Ordering::Relaxed);
                drop(tx.send(v))
            }
            _ => {
                tracing::warn!(plugin = %name, "a line that answers no waiting call: {}", crate::output::cut(line.trim_end(), 200))
            }
        }
    }
    tracing::warn!(plugin = %name, "the plugin exited");
    gone.cancel();
}

/// What an answer says; an answer of the wrong shape is an error.
fn verdict(hook: &str, answer: Value) -> Result<Verdict, String> {
    let Value::Object(mut a) = answer else { return Err("its answer is not an object".into()) };
    if let Some(why) = a.remove("deny") {
        return Ok(Verdict::Deny(why.as_str().map_or_else(|| why.to_string(), String::from)));
    }
    match (hook, a.remove("arguments"), a.remove("result")) {
        ("before_call", Some(Value::Object(args)), None) => Ok(Verdict::Arguments(args)),
        ("after_call", None, Some(result)) => serde_json::from_value::<CallToolResult>(result)
            .map(|r| Verdict::Result(Box::new(r)))
            .map_err(|e| format!("its result is not a tool result: {e}")),
        (_, None, None) => Ok(Verdict::Pass),
        _ => Err(format!(
            "its answer does not fit the {hook} hook (before_call may rewrite arguments, after_call the result)"
        )),
    }
}

/// The message for one call at one hook.
pub fn message(
    tool: &str,
    server: &str,
    arguments: &Option<JsonObject>,
    result: Option<&CallToolResult>,
) -> JsonObject {
    let mut m = json!({"tool": tool, "server": server, "arguments": arguments.clone().unwrap_or_default()});
    if let Some(r) = result {
        m["result"] = serde_json::to_value(r).unwrap_or_default();
    }
    match m {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

/// The `before_call` hooks of the plugins covering `entry`, in order: the arguments to send, or the refusal.
pub async fn before(
    plugins: &[Arc<Plugin>],
    entry: &Entry,
    mut arguments: Option<JsonObject>,
) -> Result<Option<JsonObject>, CallError> {
    for p in plugins.iter().filter(|p| p.cfg.before_call && p.cfg.covers(&entry.name)) {
        match p.ask("before_call", message(&entry.name, &entry.server, &arguments, None)).await {
            Ok(Verdict::Arguments(a)) => arguments = Some(a),
            Ok(Verdict::Deny(why)) => return Err(denied(p, entry, why)),
            Ok(_) => {}
            Err(why) => failed(p, entry, "before_call", why)?,
        }
    }
    Ok(arguments)
}

/// The `after_call` hooks of the plugins covering `entry`, in order: the result callers get, or the refusal.
pub async fn after(
    plugins: &[Arc<Plugin>],
    entry: &Entry,
    arguments: &Option<JsonObject>,
    mut result: CallToolResult,
) -> Result<CallToolResult, CallError> {
    for p in plugins.iter().filter(|p| p.cfg.after_call && p.cfg.covers(&entry.name)) {
        match p.ask("after_call", message(&entry.name, &entry.server, arguments, Some(&result))).await {
            Ok(Verdict::Result(r)) => result = *r,
            Ok(Verdict::Deny(why)) => return Err(denied(p, entry, why)),
            Ok(_) => {}
            Err(why) => failed(p, entry, "after_call", why)?,
        }
    }
    Ok(result)
}

fn denied(p: &Plugin, entry: &Entry, reason: String) -> CallError {
    CallError::Denied { plugin: p.cfg.name.clone(), tool: entry.name.clone(), reason }
}

/// A hook that failed: the call goes on (`on_error = "pass"`, logged) or is refused.
fn failed(p: &Plugin, entry: &Entry, hook: &str, why: String) -> Result<(), CallError> {
    if p.cfg.pass_on_error {
        tracing::warn!(plugin = %p.cfg.name, tool = %entry.name, "{hook} failed ({why}); passed (on_error = \"pass\")");
        return Ok(());
    }
    Err(denied(p, entry, format!("its {hook} hook failed ({why}); on_error = \"deny\"")))
}
