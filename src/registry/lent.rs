//! Requests a server asks hub to run as tasks — the client side of MCP 2025-11-25 `tasks`. hub declares
//! `capabilities.tasks.requests` for sampling and elicitation (only those it declares at all), so servers offer
//! the tools that need it (server-everything's `trigger-*-request-async`). A task-augmented `sampling/createMessage`
//! or `elicitation/create` (one with `params.task`) is answered at once with a task; the request runs in the
//! background, answered by the origin of the call in flight exactly as a plain one would be; the server polls
//! `tasks/get`, fetches the outcome with `tasks/result` (which waits for it), may `tasks/cancel` it and
//! `tasks/list` its own tasks. Tasks are per server (one server never sees another's), kept until their `ttl`
//! passes once ended, at most `LIVE` per server.
//!
//! rmcp 3.11 models the later tasks extension (SEP-2663), not 2025-11-25's: its `ClientCapabilities` has no
//! `tasks` field and its typed sampling/elicitation params drop `task`. So the transports (`wire`, `watched`)
//! send `initialize` as a custom request with `tasks` added (`initialize`), and rename a task-augmented request's
//! method (`rename`) so rmcp hands it to `on_custom_request` whole.

use rmcp::ErrorData;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, CustomRequest, JsonRpcMessage};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// The prefix a task-augmented request's method is given by the transport.
pub const TASKED: &str = "hub/tasked:";

/// The methods a server may ask hub to run as a task.
const LENDABLE: [&str; 2] = ["sampling/createMessage", "elicitation/create"];

/// Tasks kept per server (running, or ended and within their ttl); past it a new one is refused.
const LIVE: usize = 32;

/// How long an ended task is kept when the server gave no ttl.
const KEEP: Duration = Duration::from_secs(300);

/// The poll interval hub suggests.
const POLL_MS: u64 = 500;

/// `text` (one JSON-RPC message) with a task-augmented sampling or elicitation request's method prefixed by
/// `TASKED`; `None` when it is not one (cheap for everything else: no parse unless the words are there).
pub fn rename(text: &str) -> Option<String> {
    if !text.contains("\"task\"") || !LENDABLE.iter().any(|m| text.contains(m)) {
        return None;
    }
    let mut v: Value = serde_json::from_str(text).ok()?;
    let method = v.get("method")?.as_str()?;
    if !LENDABLE.contains(&method) || v.get("id").is_none() || !v["params"]["task"].is_object() {
        return None;
    }
    v["method"] = format!("{TASKED}{method}").into();
    serde_json::to_string(&v).ok()
}

/// `message` with `capabilities.tasks` declared when it is the initialize request: tasks for sampling and
/// elicitation as far as those are declared, with list and cancel. Every other message is returned as it is.
pub fn initialize(message: ClientJsonRpcMessage) -> ClientJsonRpcMessage {
    let JsonRpcMessage::Request(mut r) = message else { return message };
    let ClientRequest::InitializeRequest(init) = &r.request else { return JsonRpcMessage::Request(r) };
    let Ok(mut params) = serde_json::to_value(&init.params) else { return JsonRpcMessage::Request(r) };
    let caps = &mut params["capabilities"];
    let mut requests = serde_json::Map::new();
    if caps.get("sampling").is_some() {
        requests.insert("sampling".into(), json!({"createMessage": {}}));
    }
    if caps.get("elicitation").is_some() {
        requests.insert("elicitation".into(), json!({"create": {}}));
    }
    if !requests.is_empty() {
        caps["tasks"] = json!({"list": {}, "cancel": {}, "requests": requests});
        r.request = ClientRequest::CustomRequest(CustomRequest::new("initialize", Some(params)));
    }
    JsonRpcMessage::Request(r)
}

/// Where a task stands.
#[derive(Clone)]
struct State {
    status: &'static str,
    message: Option<String>,
    updated: SystemTime,
    /// The request's outcome, once it has one.
    outcome: Option<Result<Value, ErrorData>>,
}

struct Task {
    created: SystemTime,
    ttl: Option<u64>,
    state: watch::Sender<State>,
    abort: tokio::task::AbortHandle,
}

/// The tasks servers asked hub to run, per server.
#[derive(Default)]
pub struct Lent {
    tasks: Mutex<HashMap<(String, String), Task>>,
    next: AtomicU64,
}

fn time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Lent {
    /// Starts `work` as a task for `server` (`ttl` in ms, as the server asked): the `CreateTaskResult`.
    pub fn start<F>(&self, server: &str, ttl: Option<u64>, work: F) -> Result<Value, ErrorData>
    where
        F: Future<Output = Result<Value, ErrorData>> + Send + 'static,
    {
        let mut tasks = self.lock();
        let now = SystemTime::now();
        tasks.retain(|_, t| !expired(t, now));
        if tasks.keys().filter(|(s, _)| s == server).count() >= LIVE {
            return Err(ErrorData::invalid_request(format!("hub keeps at most {LIVE} tasks per server"), None));
        }
        let id = format!("hub-task-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let initial = State { status: "working", message: None, updated: now, outcome: None };
        let (state, _) = watch::channel(initial);
        let report = state.clone();
        let abort = tokio::spawn(async move {
            let outcome = work.await;
            report.send_modify(|s| {
                s.status = if outcome.is_ok() { "completed" } else { "failed" };
                s.message = outcome.as_ref().err().map(|e| e.message.to_string());
                s.updated = SystemTime::now();
                s.outcome = Some(outcome);
            });
        })
        .abort_handle();
        let task = Task { created: now, ttl, state, abort };
        let shown = describe(&id, &task);
        tasks.insert((server.to_string(), id), task);
        Ok(json!({ "task": shown }))
    }

    /// Answers a server's `tasks/get`, `tasks/result`, `tasks/cancel` or `tasks/list` about its own tasks;
    /// `None` for any other method.
    pub async fn answer(&self, server: &str, method: &str, params: &Value) -> Option<Result<Value, ErrorData>> {
        let id = params.get("taskId").and_then(Value::as_str).unwrap_or_default().to_string();
        let key = (server.to_string(), id.clone());
        let unknown = || ErrorData::invalid_params(format!("no task {id:?} (unknown, or expired)"), None);
        Some(match method {
            "tasks/get" => self.lock().get(&key).map(|t| describe(&id, t)).ok_or_else(unknown),
            "tasks/result" => {
                let Some(mut state) = self.lock().get(&key).map(|t| t.state.subscribe()) else {
                    return Some(Err(unknown()));
                };
                let ended = state.wait_for(|s| s.outcome.is_some()).await.map(|s| s.clone());
                match ended.ok().and_then(|s| s.outcome) {
                    Some(Ok(mut result)) => {
                        let meta = result.as_object_mut().map(|r| r.entry("_meta").or_insert_with(|| json!({})));
                        if let Some(meta) = meta.and_then(Value::as_object_mut) {
                            meta.insert("io.modelcontextprotocol/related-task".into(), json!({"taskId": id}));
                        }
                        Ok(result)
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(unknown()),
                }
            }
            "tasks/cancel" => self.cancel(&key).ok_or_else(unknown).and_then(|r| r),
            "tasks/list" => {
                let tasks = self.lock();
                let mine = tasks.iter().filter(|((s, _), _)| s == server).map(|((_, id), t)| describe(id, t));
                Ok(json!({ "tasks": mine.collect::<Vec<_>>() }))
            }
            _ => return None,
        })
    }

    fn cancel(&self, key: &(String, String)) -> Option<Result<Value, ErrorData>> {
        let tasks = self.lock();
        let task = tasks.get(key)?;
        let status = task.state.borrow().status;
        if status != "working" {
            let message = format!("task {} has already ended ({status})", key.1);
            return Some(Err(ErrorData::invalid_params(message, None)));
        }
        task.abort.abort();
        task.state.send_modify(|s| {
            s.status = "cancelled";
            s.message = Some("cancelled by the server".into());
            s.updated = SystemTime::now();
            s.outcome = Some(Err(ErrorData::invalid_request("the task was cancelled", None)));
        });
        Some(Ok(describe(&key.1, task)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Task>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An ended task whose ttl (or `KEEP`) has passed since it ended.
fn expired(task: &Task, now: SystemTime) -> bool {
    let state = task.state.borrow();
    let keep = task.ttl.map_or(KEEP, Duration::from_millis);
    state.outcome.is_some() && now.duration_since(state.updated).is_ok_and(|d| d > keep)
}

/// A task as 2025-11-25 shows it.
fn describe(id: &str, task: &Task) -> Value {
    let state = task.state.borrow();
    let mut shown = json!({
        "taskId": id,
        "status": state.status,
        "createdAt": time(task.created),
        "lastUpdatedAt": time(state.updated),
        "ttl": task.ttl,
        "pollInterval": POLL_MS,
    });
    if let Some(m) = &state.message {
        shown["statusMessage"] = m.clone().into();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_task_augmented_sampling_and_elicitation_are_renamed() {
        let tasked =
            r#"{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{"task":{"ttl":1000},"message":"m"}}"#;
        let renamed: Value = serde_json::from_str(&rename(tasked).unwrap()).unwrap();
        assert_eq!(renamed["method"], "hub/tasked:elicitation/create");
        assert_eq!(renamed["params"]["task"]["ttl"], 1000);
        let plain =
            r#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}"#;
        assert!(rename(plain).is_none());
        let other =
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"task":{},"name":"sampling/createMessage"}}"#;
        assert!(rename(other).is_none());
        let notification = r#"{"jsonrpc":"2.0","method":"elicitation/create","params":{"task":{}}}"#;
        assert!(rename(notification).is_none());
    }

    #[tokio::test]
    async fn a_task_runs_is_polled_and_its_result_fetched() {
        let lent = Lent::default();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let created = lent.start("s", Some(60_000), async move {
            let _ = wait.await;
            Ok(json!({"action": "decline"}))
        });
        let id = created.unwrap()["task"]["taskId"].as_str().unwrap().to_string();
        let asked = json!({"taskId": id});
        let get = |server: &'static str| lent.answer(server, "tasks/get", &asked);
        assert_eq!(get("s").await.unwrap().unwrap()["status"], "working");
        assert!(get("other").await.unwrap().is_err(), "another server does not see the task");
        go.send(()).unwrap();
        let result = lent.answer("s", "tasks/result", &json!({"taskId": id})).await.unwrap().unwrap();
        assert_eq!(result["action"], "decline");
        assert_eq!(result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id.as_str());
        assert_eq!(get("s").await.unwrap().unwrap()["status"], "completed");
        let listed = lent.answer("s", "tasks/list", &json!({})).await.unwrap().unwrap();
        assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);
        assert!(lent.answer("s", "tasks/cancel", &json!({"taskId": id})).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_cancelled_task_stops_and_says_so() {
        let lent = Lent::default();
        let created = lent.start("s", None, std::future::pending()).unwrap();
        let id = created["task"]["taskId"].clone();
        let cancelled = lent.answer("s", "tasks/cancel", &json!({"taskId": id})).await.unwrap().unwrap();
        assert_eq!(cancelled["status"], "cancelled");
        let result = lent.answer("s", "tasks/result", &json!({"taskId": id})).await.unwrap();
        assert!(result.unwrap_err().message.contains("cancelled"));
    }

    #[tokio::test]
    async fn tasks_per_server_are_capped() {
        let lent = Lent::default();
        for _ in 0..LIVE {
            lent.start("s", None, std::future::pending()).unwrap();
        }
        assert!(lent.start("s", None, std::future::pending()).is_err());
        assert!(lent.start("t", None, std::future::pending()).is_ok());
    }
}
