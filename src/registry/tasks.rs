//! Tool calls a server runs as tasks (MCP 2025-11-25 `tasks`): a tool whose `execution.taskSupport` is
//! "required" refuses a plain call ("requires task augmentation"); hub then calls it again with
//! `params.task`, gets a task back, polls `tasks/get` (at the server's `pollInterval`, within 50 ms–5 s) until
//! the task ends or needs input, and fetches the result with `tasks/result` — all under the call's deadline.
//! The caller's cancellation and the deadline cancel the task (`tasks/cancel`).
//!
//! rmcp 3.11 models the later tasks extension (SEP-2663), not 2025-11-25's, so these requests are sent as
//! custom requests and their replies read as JSON (rmcp keeps them whole as `CustomResult`).

use rmcp::model::{CallToolResult, ClientRequest, CustomRequest, JsonObject, ServerResult};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How a task call ended, when it did not end with a result.
pub enum Ended {
    Cancelled,
    Timeout,
    /// The server failed the task or answered something hub cannot read.
    Failed(String),
}

/// Whether a refusal of a plain call says the tool must be called as a task.
pub fn required(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("task augmentation") || m.contains("tasksupport")
}

/// Calls `tool` as a task and waits for its result until `deadline`.
pub async fn call(
    peer: &Peer<RoleClient>,
    tool: &str,
    arguments: Option<JsonObject>,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<CallToolResult, Ended> {
    let ttl = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
    let params = json!({"name": tool, "arguments": arguments.unwrap_or_default(), "task": {"ttl": ttl}});
    let created = request(peer, "tools/call", params).await?;
    let task =
        created.get("task").ok_or_else(|| Ended::Failed(format!("the server did not start a task: {created}")))?;
    let id = task["taskId"].as_str().ok_or_else(|| Ended::Failed(format!("a task without a taskId: {task}")))?;
    tracing::info!(tool, task = id, "running as a task");
    let mut status = task.clone();
    loop {
        let state = status["status"].as_str().unwrap_or("working");
        if let Some(message) = status["statusMessage"].as_str() {
            tracing::info!(tool, task = id, "task {state}: {message}");
        }
        if state != "working" {
            break;
        }
        let pause = Duration::from_millis(status["pollInterval"].as_u64().unwrap_or(500).clamp(50, 5_000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = cancel.cancelled() => return Err(cancel_task(peer, id, Ended::Cancelled).await),
            _ = tokio::time::sleep_until(deadline.into()) => return Err(cancel_task(peer, id, Ended::Timeout).await),
        }
        status = request(peer, "tasks/get", json!({"taskId": id})).await?;
    }
    // Completed, failed, cancelled or waiting for input: tasks/result gives the outcome (or waits for it).
    let result = tokio::select! {
        r = request(peer, "tasks/result", json!({"taskId": id})) => r?,
        _ = cancel.cancelled() => return Err(cancel_task(peer, id, Ended::Cancelled).await),
        _ = tokio::time::sleep_until(deadline.into()) => return Err(cancel_task(peer, id, Ended::Timeout).await),
    };
    serde_json::from_value(result.clone())
        .map_err(|e| Ended::Failed(format!("the task's result is not a tool result ({e}): {result}")))
}

/// Cancels task `id` on the server (best effort, said in the log), then reports `why`.
async fn cancel_task(peer: &Peer<RoleClient>, id: &str, why: Ended) -> Ended {
    let cancel = request(peer, "tasks/cancel", json!({"taskId": id}));
    match tokio::time::timeout(Duration::from_secs(2), cancel).await {
        Ok(Ok(status)) => tracing::info!(task = id, "task cancelled at the server ({})", status["status"]),
        Ok(Err(Ended::Failed(e))) => tracing::warn!(task = id, "cancelling the task failed: {e}"),
        Ok(Err(_)) => {}
        Err(_) => tracing::warn!(task = id, "cancelling the task: no answer within 2 s"),
    }
    why
}

/// One request and its reply as JSON.
async fn request(peer: &Peer<RoleClient>, method: &str, params: Value) -> Result<Value, Ended> {
    let reply = peer.send_request(ClientRequest::CustomRequest(CustomRequest::new(method, Some(params)))).await;
    match reply {
        Ok(ServerResult::CustomResult(custom)) => Ok(custom.0),
        Ok(typed) => serde_json::to_value(typed).map_err(|e| Ended::Failed(e.to_string())),
        Err(ServiceError::McpError(e)) => Err(Ended::Failed(format!("{method}: {}", e.message))),
        Err(e) => Err(Ended::Failed(format!("{method}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_that_ask_for_a_task() {
        assert!(super::required("Tool simulate-research-query requires task augmentation (taskSupport: 'required')"));
        assert!(super::required("taskSupport is required"));
        assert!(!super::required("unknown tool"));
    }
}
