//! The spans hub makes, one constructor each, named and attributed by the OpenTelemetry semantic conventions
//! for GenAI (`invoke_agent`, `chat {model}`, `execute_tool {tool}`) and MCP (`tools/call {tool}`, client and
//! server side): the tree is question → model requests → tool calls → upstream request, and in the gateway
//! request → tool call → upstream. With telemetry off and logs below INFO they are disabled spans (no cost);
//! fields recorded later are declared `Empty` here.

use crate::registry::{CallError, Called};
use rmcp::model::JsonObject;
use tracing::Instrument;
use tracing::field::Empty;

/// One question: `hub ask`, a `hub chat` turn, a triage item (`item` its id).
pub fn question(command: &'static str, question: &str, item: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent hub",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = "hub",
        hub.command = command,
        hub.item = item,
        hub.question = Empty,
        hub.turns = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    );
    if super::records_content() {
        span.record("hub.question", super::content(question));
    }
    span
}

/// One request to the model endpoint.
pub fn model(model: &str, server: &str) -> tracing::Span {
    tracing::info_span!(
        "chat",
        otel.name = format!("chat {model}"),
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = model,
        server.address = server,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// One tool call the model (or the planner, or a gateway client) made; `call_id` the model's id for it.
pub fn tool(name: &str, call_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format!("execute_tool {name}"),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.type = "function",
        gen_ai.tool.call.id = call_id,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// `call` — the registry's call of tool `name` with `arguments` — in its `execute_tool` span (`call_id` the
/// model's id for it), marked by its outcome, with the arguments and the result when content is recorded. Just
/// the call while telemetry is off.
pub async fn tool_call<F: std::future::Future<Output = Result<Called, CallError>>>(
    name: &str,
    call_id: Option<&str>,
    arguments: Option<JsonObject>,
    call: impl FnOnce(Option<JsonObject>) -> F,
) -> Result<Called, CallError> {
    if !super::on() {
        return call(arguments).await;
    }
    let span = tool(name, call_id);
    content(&span, "gen_ai.tool.call.arguments", || serde_json::to_string(&arguments).unwrap_or_default());
    let called = call(arguments).instrument(span.clone()).await;
    ended(&span, &called);
    if let Ok(c) = &called {
        content(&span, "gen_ai.tool.call.result", || match c.result.is_error {
            Some(true) => crate::output::result_text(&c.result),
            _ => crate::output::result_value(&c.result).to_string(),
        });
    }
    called
}

/// Marks `span` by the call's outcome (see `gateway::outcome_of`), which it returns.
pub fn ended(span: &tracing::Span, called: &Result<Called, CallError>) -> &'static str {
    let outcome = crate::gateway::outcome_of(called);
    if outcome != "ok" {
        failed(span, outcome);
    }
    outcome
}

/// The `tools/call` request to the upstream server (`transport`: "pipe" for stdio, "tcp" for HTTP).
pub fn upstream(server: &str, tool: &str, transport: &'static str) -> tracing::Span {
    tracing::info_span!(
        "tools/call",
        otel.name = format!("tools/call {tool}"),
        otel.kind = "client",
        mcp.method.name = "tools/call",
        gen_ai.tool.name = tool,
        hub.server.name = server,
        network.transport = transport,
        jsonrpc.request.id = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// One request a client made to `hub serve` (MCP `method`, or a REST route), `target` the tool when it names one.
pub fn gateway(method: &str, target: Option<&str>, session: Option<&str>) -> tracing::Span {
    let name = match target {
        Some(t) => format!("{method} {t}"),
        None => method.to_string(),
    };
    tracing::info_span!(
        "gateway",
        otel.name = name,
        otel.kind = "server",
        mcp.method.name = method,
        gen_ai.tool.name = target,
        mcp.session.id = session,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// Marks `span` failed with `kind` (a short class: `timeout`, `down`, `tool_error` …).
pub fn failed(span: &tracing::Span, kind: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind);
}

/// Records `text` on `span` under `field` when content is recorded (`record_content`), cut.
pub fn content(span: &tracing::Span, field: &'static str, text: impl FnOnce() -> String) {
    if super::records_content() {
        span.record(field, super::content(&text()));
    }
}

/// Ends a question's span: how many model turns it took and, unless `ok`, its status as the error type.
pub fn answered(span: &tracing::Span, turns: u32, status: impl serde::Serialize, ok: bool) {
    if !super::on() {
        return;
    }
    span.record("hub.turns", turns);
    if !ok {
        let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from));
        failed(span, status.as_deref().unwrap_or("error"));
    }
}
