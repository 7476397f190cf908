//! testkit's tools that exercise the client side of MCP: `steps` (progress notifications for the call's
//! progress token and a log message per step), `roots` (`roots/list`), `elicit` (a form elicitation) and
//! `sample` (`sampling/createMessage`, sent whatever the client declared — a client must refuse it clearly).
//! Each returns what the client answered, so a test sees the host's behaviour from the server's side.
#![allow(deprecated)] // roots, sampling and logging: deprecated by SEP-2577, still what 2025-11-25 servers use

use rmcp::RoleServer;
use rmcp::model::{
    CallToolResult, ContentBlock, CreateMessageRequestParams, ElicitRequestParams, ElicitationSchema, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, SamplingMessage,
};
use rmcp::service::RequestContext;
use serde_json::json;

pub async fn run(name: &str, n: u64, ctx: &RequestContext<RoleServer>) -> CallToolResult {
    let failed = |what: &str, e: rmcp::service::ServiceError| {
        CallToolResult::error(vec![ContentBlock::text(format!("{what} failed: {e}"))])
    };
    match name {
        "steps" => {
            let n = n.max(1);
            let token = ctx.meta.get_progress_token();
            for i in 1..=n {
                if let Some(token) = &token {
                    let mut p = ProgressNotificationParam::new(token.clone(), i as f64);
                    p.total = Some(n as f64);
                    p.message = Some(format!("step {i}"));
                    let _ = ctx.peer.notify_progress(p).await;
                }
                let log =
                    LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(format!("took step {i} of {n}")))
                        .with_logger("testkit");
                let _ = ctx.peer.notify_logging_message(log).await;
            }
            CallToolResult::structured(json!({"steps": n, "had_token": token.is_some()}))
        }
        "roots" => match ctx.peer.list_roots().await {
            Ok(r) => CallToolResult::structured(json!({"roots": r.roots.iter().map(|r| &r.uri).collect::<Vec<_>>()})),
            Err(e) => failed("roots/list", e),
        },
        "elicit" if n == 1 => {
            // A schema no client can render (a property of an unknown type), sent as it is.
            let params = json!({"message": "Pick one", "requestedSchema": {"type": "object",
                "properties": {"x": {"type": "banana"}}}});
            let request = rmcp::model::CustomRequest::new("elicitation/create", Some(params));
            match ctx.peer.send_request(rmcp::model::ServerRequest::CustomRequest(request)).await {
                Ok(r) => CallToolResult::structured(json!({"answered": format!("{r:?}")})),
                Err(e) => failed("elicitation/create", e),
            }
        }
        "elicit" if n == 2 => match lend(ctx).await {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => failed("a task-augmented elicitation", e),
        },
        "elicit" => {
            let schema = match ElicitationSchema::builder().required_string("plan").build() {
                Ok(s) => s,
                Err(e) => return CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
            };
            let params = ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "Which plan should the account move to?".into(),
                requested_schema: schema,
            };
            match ctx.peer.create_elicitation(params).await {
                Ok(r) => CallToolResult::structured(json!({"action": r.action, "content": r.content})),
                Err(e) => failed("elicitation/create", e),
            }
        }
        _ => {
            let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text("Say hello.")], 50);
            match ctx.peer.create_message(params).await {
                Ok(r) => CallToolResult::structured(json!({"model": r.model})),
                Err(e) => failed("sampling/createMessage", e),
            }
        }
    }
}

/// Asks the client to run a form elicitation as a task (2025-11-25 `params.task`), polls `tasks/get` until it
/// ends, fetches `tasks/result` and lists the client's tasks: what each step answered.
async fn lend(ctx: &RequestContext<RoleServer>) -> Result<serde_json::Value, rmcp::service::ServiceError> {
    let ask = |method: &str, params: serde_json::Value| {
        let request = rmcp::model::CustomRequest::new(method, Some(params));
        let sent = ctx.peer.send_request(rmcp::model::ServerRequest::CustomRequest(request));
        async move { sent.await.map(|r| serde_json::to_value(r).unwrap_or_default()) }
    };
    let params = json!({"message": "Which plan?", "task": {"ttl": 60000}, "requestedSchema": {"type": "object",
        "properties": {"plan": {"type": "string"}}, "required": ["plan"]}});
    let created = ask("elicitation/create", params).await?;
    let id = created["task"]["taskId"].clone();
    let mut polls = vec![created["task"]["status"].clone()];
    while polls.last().is_some_and(|s| s == "working") && polls.len() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        polls.push(ask("tasks/get", json!({"taskId": id})).await?["status"].clone());
    }
    let result = ask("tasks/result", json!({"taskId": id})).await?;
    let listed = ask("tasks/list", json!({})).await?;
    let unknown = ask("tasks/get", json!({"taskId": "no-such-task"})).await.err().map(|e| e.to_string());
    Ok(json!({"task": id, "polls": polls, "result": result, "listed": listed, "unknown": unknown}))
}
