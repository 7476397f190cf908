//! Code mode: a script against the tools instead of many round trips. A run gets the tools as async functions
//! grouped by server (`api`), runs in a sandboxed QuickJS engine with hard limits (`engine`), and every tool call
//! it makes passes the gate here: the same name resolution, argument checks and approval policy as the agent's
//! calls (`agent::tools::prepare`), a cap on the number of calls, and a record of each (tool, arguments, duration,
//! outcome). Faces: `hub run FILE.js`, `hub code api`.

mod api;
mod engine;
pub mod tool;

pub use api::declarations;

use crate::agent::policy::Policy;
use crate::agent::tools::{self, Prepared, ToolRecord};
use crate::registry::{CallError, Called, Entry, Registry};
use futures::future::BoxFuture;
use rmcp::model::JsonObject;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Scripts that may run at once in one process: each is a thread and a heap of up to `[code] memory_mb`.
pub const AT_ONCE: usize = 8;
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(AT_ONCE);

/// The limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    /// Bytes of heap.
    pub memory: usize,
    pub max_calls: usize,
    /// Bytes of the returned value (compact JSON); more is cut, and the run says so.
    pub output: usize,
}

impl Limits {
    pub fn new(code: &crate::config::Code, output: usize) -> Limits {
        Limits { timeout: code.timeout, memory: code.memory, max_calls: code.max_calls, output }
    }
}

/// How a run ended.
#[derive(Debug, serde::Serialize)]
pub struct Run {
    /// The script's return value (null when it returned nothing or failed).
    pub value: Value,
    /// Why the run failed: a syntax error, an uncaught exception, a limit.
    pub error: Option<String>,
    /// `value` was cut to the output limit.
    pub truncated: bool,
    pub logs: Vec<String>,
    /// Log lines past the kept ones.
    pub logs_dropped: usize,
    /// Every tool call the script made, in the order they ended.
    pub calls: Vec<ToolRecord>,
    /// Calls refused because the run had made `max_calls` already.
    pub calls_refused: usize,
    pub duration_ms: u64,
}

/// A call under way.
pub type Pending<'a> = BoxFuture<'a, Result<Called, CallError>>;

/// How a run's calls are made once the policy let them through: the agent's and `hub run`'s go to the registry; the
/// gateway's are made on behalf of its client (its token's policy), and counted and audited like its other calls.
pub trait Calls: Send + Sync {
    fn call<'a>(&'a self, entry: &'a Entry, args: JsonObject, cancel: &'a CancellationToken) -> Pending<'a>;
}

/// Calls straight to the registry.
pub struct Direct(pub Registry);

impl Calls for Direct {
    fn call<'a>(&'a self, entry: &'a Entry, args: JsonObject, cancel: &'a CancellationToken) -> Pending<'a> {
        Box::pin(self.0.call_cancellable(&entry.name, Some(args), cancel))
    }
}

/// What every tool call of one run passes.
pub struct Gate {
    registry: Registry,
    policy: Policy,
    calls: Arc<dyn Calls>,
    max_calls: usize,
    made: AtomicUsize,
    refused: AtomicUsize,
    records: Mutex<Vec<ToolRecord>>,
    cancel: CancellationToken,
    epoch: Instant,
}

/// The gate's answer to the script: `{"error": …}`.
fn error_json(message: &str) -> String {
    json!({ "error": message }).to_string()
}

impl Gate {
    /// One call from the script: `name` (index name or `server.tool`), `args` as JSON text. The answer is JSON
    /// text, `{"value": …}` or `{"error": …}`.
    async fn call(&self, name: String, args: String) -> String {
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.max_calls {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return error_json(&format!(
                "not run: the script has made {} tool calls, the limit of one run ([code] max_calls)",
                self.max_calls
            ));
        }
        let call = crate::llm::wire::ToolCall { id: format!("code-{n}"), name: name.clone(), arguments: args };
        let (prepared, mut rec) = tools::prepare(&self.registry, &self.policy, &call, false, true).await;
        rec.started_ms = ms(self.epoch.elapsed());
        let answer = match prepared {
            Prepared::Answer(_) if rec.server.is_none() => {
                let known = self.tools_of(&name);
                error_json(&format!("{}{known}", rec.error.as_deref().unwrap_or("unknown tool")))
            }
            Prepared::Answer(_) => error_json(rec.error.as_deref().unwrap_or("not run")),
            Prepared::Run { entry, args } => match self.calls.call(&entry, args, &self.cancel).await {
                Ok(called) if called.result.is_error == Some(true) => {
                    let text = crate::output::result_text(&called.result);
                    rec.error = Some(text.clone());
                    error_json(&format!("{} failed: {text}", entry.name))
                }
                Ok(called) => {
                    rec.ok = true;
                    let answer = json!({ "value": crate::output::result_value(&called.result) }).to_string();
                    rec.bytes = answer.len();
                    answer
                }
                Err(e) => {
                    rec.error = Some(e.to_string());
                    error_json(&e.to_string())
                }
            },
        };
        rec.ended_ms = ms(self.epoch.elapsed());
        rec.duration_ms = rec.ended_ms - rec.started_ms;
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
        answer
    }

    /// For a name that is not a tool, `server.tool` or `server__tool`: what that server has (" crm has: a, b…"),
    /// as the script would write them.
    fn tools_of(&self, name: &str) -> String {
        let Some((server, _)) = name.split_once('.').or_else(|| name.split_once("__")) else { return String::new() };
        let index = self.registry.index();
        let names: Vec<String> =
            index.entries().iter().filter(|e| e.server == server).map(|e| api::ident(&e.tool.name)).collect();
        match names.len() {
            0 => String::new(),
            n if n > 20 => format!(" {server} has {n} tools: {}, …", names[..20].join(", ")),
            _ => format!(" {server} has: {}", names.join(", ")),
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `script` against `registry`'s tools under `policy` and `limits`; `cancel` stops it (and its calls).
pub async fn run(registry: &Registry, policy: Policy, limits: Limits, script: &str, cancel: CancellationToken) -> Run {
    run_with(registry, policy, Arc::new(Direct(registry.clone())), limits, script, cancel).await
}

/// `run`, its calls made by `calls`.
pub async fn run_with(
    registry: &Registry,
    policy: Policy,
    calls: Arc<dyn Calls>,
    limits: Limits,
    script: &str,
    cancel: CancellationToken,
) -> Run {
    let index = registry.index();
    let prelude = api::prelude(index.entries());
    let gate = Arc::new(Gate {
        registry: registry.clone(),
        policy,
        calls,
        max_calls: limits.max_calls,
        made: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        records: Mutex::new(vec![]),
        cancel: cancel.child_token(),
        epoch: Instant::now(),
    });
    let started = Instant::now();
    let deadline = started + limits.timeout;
    // At most `AT_ONCE` scripts run in one process (a thread and a heap each); the wait for a turn counts against
    // the run's time, and one that waits it out fails saying so.
    let ended = match tokio::time::timeout_at(deadline.into(), RUNNING.acquire()).await {
        Ok(Ok(_turn)) => engine::spawn(prelude, script.to_string(), limits, deadline, gate.clone()).await,
        _ => Ok(engine::Ended {
            value: Err(format!(
                "{AT_ONCE} scripts are running in this process already: none ended within this run's {}s",
                limits.timeout.as_secs()
            )),
            logs: vec![],
            dropped: 0,
        }),
    };
    // Calls still in flight when the script ended (it did not await them) are cancelled.
    gate.cancel.cancel();
    let ended = ended.unwrap_or_else(|_| engine::Ended {
        value: Err("the script's thread ended without an answer".to_string()),
        logs: vec![],
        dropped: 0,
    });
    let (value, error) = match ended.value {
        Ok(text) => (serde_json::from_str(&text).unwrap_or(Value::Null), None),
        Err(e) => (Value::Null, Some(e)),
    };
    let (value, truncated) = crate::truncate::truncate(&value, limits.output);
    let calls = std::mem::take(&mut *gate.records.lock().unwrap_or_else(|p| p.into_inner()));
    Run {
        value,
        error,
        truncated,
        logs: ended.logs,
        logs_dropped: ended.dropped,
        calls,
        calls_refused: gate.refused.load(Ordering::SeqCst),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}
