//! Code mode through the gateway (`hub serve --code`): the search profile lists `run_code` (annotated read-only: a
//! script through it may call read-only tools only) and `run_code_write` (annotated destructive: it may call any
//! tool the caller's token permits), so a client's own permission prompt stays meaningful. Each inner call is made
//! on behalf of the caller (its token's policy, never more) and counted and audited like a direct call; the limits
//! are `[code]`'s.

use super::Gateway;
use super::guard::Who;
use crate::agent::policy::{Mode, Policy};
use crate::code::{Calls, Limits, Pending};
use crate::registry::{CallError, Entry};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub const RUN_CODE: &str = "run_code";
pub const RUN_CODE_WRITE: &str = "run_code_write";

/// The search profile's instructions with code mode on.
pub const INSTRUCTIONS: &str = "This hub connects many servers; only a few of their tools are listed here. To find \
    a tool, call search_tools with what it should do; describe_tools gives the full input schemas of tools by name; \
    call a tool with call_tool (read-only tools) or call_tool_write (tools that change things), or by its exact \
    name. Tool names are <server>__<name>. For work over many records, send one script to run_code (read-only \
    tools) or run_code_write instead of many calls: tools are async functions per server there, `await \
    server.tool({...})`.";

/// The two tools, as the search profile lists them (built once: rmcp looks a tool up on every call).
pub fn tools() -> &'static [Tool] {
    static TOOLS: std::sync::LazyLock<Vec<Tool>> = std::sync::LazyLock::new(build);
    &TOOLS
}

fn build() -> Vec<Tool> {
    let schema = json!({"type": "object", "properties": {
        "code": {"type": "string", "description": "JavaScript: the body of an async function. Tools are async \
            functions per server (`await crm.get_customer({id})`, names as search_tools gives them, without the \
            server prefix); `return` the answer."}
    }, "required": ["code"]});
    let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
    let read = ToolAnnotations::new().read_only(true).open_world(true);
    let write = ToolAnnotations::new().read_only(false).destructive(true).open_world(true);
    vec![
        Tool::new(
            RUN_CODE,
            "Run one script against the tools instead of many calls (read-only tools only; run_code_write for the rest). \
             Answers with what the script returns, its console.log lines, and each call it made.",
            schema.clone(),
        )
        .annotate(read),
        Tool::new(RUN_CODE_WRITE, "Run one script that may call tools that change things.", schema).annotate(write),
    ]
}

/// A script's calls on behalf of one caller.
struct OnBehalf {
    gateway: Arc<Gateway>,
    who: Option<Who>,
    client: String,
    via: &'static str,
    write: bool,
}

impl Calls for OnBehalf {
    fn call<'a>(&'a self, entry: &'a Entry, args: JsonObject, cancel: &'a CancellationToken) -> Pending<'a> {
        Box::pin(async move {
            let start = Instant::now();
            let result = if !self.write && !entry.read_only() {
                Err(CallError::Forbidden {
                    identity: self.who.as_ref().map_or("this client".into(), |w| w.name.clone()),
                    what: format!("call {} from {RUN_CODE}", entry.name),
                    why: format!("it is not read-only ({}): run the script with {RUN_CODE_WRITE}", entry.kind()),
                })
            } else {
                self.gateway.call(self.who.as_ref(), &entry.name, Some(args), cancel, None).await
            };
            let who = self.who.as_ref();
            self.gateway.record(&self.client, who, self.via, &entry.name, &result, start.elapsed()).await;
            result
        })
    }
}

/// Runs the script of a `run_code`/`run_code_write` call for `who`.
pub async fn run(
    gateway: &Arc<Gateway>,
    who: Option<&Who>,
    client: &str,
    via: &'static str,
    name: &str,
    args: Option<JsonObject>,
    cancel: &CancellationToken,
) -> CallToolResult {
    let Some(limits) = gateway.code else {
        return CallToolResult::error(vec![ContentBlock::text("code mode is off: start hub serve with --code")]);
    };
    let Some(code) = args.as_ref().and_then(|a| a.get("code")).and_then(Value::as_str).filter(|c| !c.trim().is_empty())
    else {
        return CallToolResult::error(vec![ContentBlock::text(format!("{name} needs {{\"code\": \"the script\"}}"))]);
    };
    let write = name == RUN_CODE_WRITE;
    let calls = Arc::new(OnBehalf { gateway: gateway.clone(), who: who.cloned(), client: client.into(), via, write });
    // The caller's token decides what runs (checked per call above); the servers' `approve = "never"` still holds.
    let policy = Policy::new(Mode::Ask, true);
    let run = crate::code::run_with(&gateway.registry, policy, calls, limits, code, cancel.child_token()).await;
    let failed = run.error.is_some();
    let mut result = CallToolResult::structured(serde_json::to_value(&run).unwrap_or_default());
    if failed {
        result.is_error = Some(true);
    }
    result
}

/// The limits of a gateway's scripts, when `--code` (or `[code] enabled`) turned code mode on.
pub fn limits(config: &crate::config::Config) -> Option<Limits> {
    let m = &config.model;
    m.code.enabled.then(|| Limits::new(&m.code, m.result_budget))
}
