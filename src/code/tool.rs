//! `hub__run_code`: code mode in the agent. Offered beside the tools when `[code] enabled` (or `--code`), its
//! description carries the one-line signatures of the tools offered in that turn (so in search mode, of the ones
//! found); a call runs the script (`code::run`) under the agent's approval policy — never asking a person from
//! inside a script — and answers the model with the value, the logs and the error, cut to the result budget. Every
//! inner call is recorded as if the model had made it.

use super::{Limits, Run, api};
use crate::agent::policy::{Mode, Policy};
use crate::agent::tools::ToolRecord;
use crate::registry::{Entry, Registry};
use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const RUN_CODE: &str = "hub__run_code";

/// The tool's definition, with the signatures of `offered`.
pub fn definition(offered: &[&Entry]) -> ChatCompletionTools {
    let signatures: Vec<String> = offered.iter().map(|e| api::signature(e)).collect();
    let description = format!(
        "Run a JavaScript script against the tools, instead of many separate calls: for questions that span many \
         records, or where one result decides the next calls. The script is the body of an async function: `await` \
         tools, run independent ones together with Promise.all, compute, and `return` the answer (JSON). Tools are \
         async functions per server; a tool's error is thrown. console.log lines come back too. No network, files \
         or modules. Tools that change data run only when the user allowed them. Available:\n{}",
        signatures.join("\n")
    );
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: RUN_CODE.into(),
            description: Some(description),
            parameters: Some(json!({
                "type": "object",
                "properties": {"code": {"type": "string", "description": "The script's body (JavaScript)."}},
                "required": ["code"],
                "additionalProperties": false,
            })),
            strict: None,
        },
    })
}

/// Runs the model's `hub__run_code` call: the text for the model, and the run (None when the call was not a
/// script to run).
pub async fn call(
    registry: &Registry,
    policy: &Policy,
    limits: Limits,
    arguments: &str,
    cancel: &CancellationToken,
) -> (String, Option<Run>) {
    let code = match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(args)) => args.get("code").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return (format!("Error: {RUN_CODE} takes a JSON object: {{\"code\": \"the script\"}}"), None);
    };
    // A script never stops to ask a person: in chat, write tools need --yes or approve = "always" here.
    let mode = if policy.mode == Mode::Chat { Mode::Ask } else { policy.mode };
    let run = super::run(registry, Policy::new(mode, policy.yes), limits, &code, cancel.clone()).await;
    let mut answer = json!({ "value": run.value });
    if let Some(e) = &run.error {
        answer["error"] = json!(e);
    }
    if !run.logs.is_empty() {
        answer["logs"] = json!(run.logs);
    }
    if run.truncated {
        answer["note"] = json!(format!("the value was cut to {} bytes: return less", limits.output));
    }
    if run.calls_refused > 0 {
        answer["calls_refused"] = json!(run.calls_refused);
    }
    let (answer, _) = crate::truncate::truncate(&answer, limits.output);
    (answer.to_string(), Some(run))
}

/// The record of the `hub__run_code` call itself, beside those of its inner calls.
pub fn record(id: &str, arguments: &str, text: &str, run: Option<&Run>) -> ToolRecord {
    let args = serde_json::from_str(arguments).unwrap_or(Value::Null);
    let mut rec = ToolRecord::new(id.to_string(), RUN_CODE.to_string(), None, args);
    rec.bytes = text.len();
    match run {
        Some(run) => {
            rec.ok = run.error.is_none();
            rec.error = run.error.clone();
            rec.duration_ms = run.duration_ms as f64;
        }
        None => rec.error = Some(text.to_string()),
    }
    rec
}
