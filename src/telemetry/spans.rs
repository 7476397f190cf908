//! The spans hub makes, one constructor each, named and attributed by the OpenTelemetry semantic conventions
//! for GenAI (`invoke_agent`, `chat {model}`, `execute_tool {tool}`) and MCP (`tools/call {tool}`, client and
//! server side): the tree is question → model requests → tool calls → upstream request, and in the gateway
//! request → tool call → upstream.
//!
//! They are made on the SDK's tracer directly, not through `tracing` and a bridge (issue 19: the bridge's
//! bookkeeping was most of export's cost per call). A `Span` carries its OpenTelemetry context; the work inside
//! it runs `within` it, so the spans made there — and the trace context sent upstream — find their parent in
//! `Context::current()`. With telemetry off a constructor returns an empty `Span`: one atomic load, nothing else.

use crate::registry::{CallError, Called};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, Value};
use rmcp::model::JsonObject;
use std::borrow::Cow;

/// A span being made, with its context (its parent's and itself) for the work inside it; empty with telemetry
/// off. Ended by `end` (or `run`), or else when the last clone is dropped.
#[derive(Clone, Default)]
pub struct Span(Option<Context>);

type Name = Cow<'static, str>;

impl Span {
    /// Starts a span under `parent`; empty when telemetry is off. Its name and attributes (`described`) are only
    /// made when the span is sampled: the samplers hub offers (`OTEL_TRACES_SAMPLER`) decide by the trace alone.
    fn start(kind: SpanKind, parent: &Context, described: impl FnOnce() -> (Name, Vec<KeyValue>)) -> Span {
        let Some(tracer) = super::tracer() else { return Span(None) };
        let mut span = tracer.span_builder("hub").with_kind(kind).start_with_context(tracer, parent);
        if span.is_recording() {
            let (name, attrs) = described();
            span.update_name(name);
            span.set_attributes(attrs);
        }
        Span(Some(parent.with_span(span)))
    }

    /// The span the current work runs within, if any.
    pub fn current() -> Span {
        if !super::on() {
            return Span(None);
        }
        let cx = Context::current();
        Span(cx.has_active_span().then_some(cx))
    }

    /// Its context, for the trace context sent on (`propagate`).
    pub fn context(&self) -> Option<&Context> {
        self.0.as_ref()
    }

    /// Sets attribute `key`.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Adds an event (a retry of a model request, say) named `what`.
    pub fn event(&self, what: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.0 {
            cx.span().add_event(what, Vec::new());
        }
    }

    /// Marks it failed with `kind` (a short class: `timeout`, `down`, `tool_error` …).
    pub fn failed(&self, kind: &str) {
        if let Some(cx) = &self.0 {
            let span = cx.span();
            span.set_status(Status::error(""));
            span.set_attribute(KeyValue::new("error.type", kind.to_string()));
        }
    }

    /// Marks it by a call's outcome (see `gateway::outcome_of`), which it returns.
    pub fn ended(&self, called: &Result<Called, CallError>) -> &'static str {
        let outcome = crate::gateway::outcome_of(called);
        if outcome != "ok" {
            self.failed(outcome);
        }
        outcome
    }

    /// Records `text` under `key` when content is recorded (`record_content`), cut.
    pub fn content(&self, key: &'static str, text: impl FnOnce() -> String) {
        if let Some(cx) = &self.0
            && super::records_content()
            && cx.span().is_recording()
        {
            self.set(key, super::content(&text()));
        }
    }

    /// Ends it now (the SDK ignores what is set after).
    pub fn end(&self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }

    /// `work` run within the span: the spans made inside are its children.
    pub fn within<F: Future>(&self, work: F) -> Within<F> {
        Within { span: self.clone(), end: false, work }
    }

    /// `work` run within the span, which ends with it.
    pub fn run<F: Future>(self, work: F) -> Within<F> {
        Within { span: self, end: true, work }
    }
}

pin_project_lite::pin_project! {
    /// `work` within a span: its context is the current one while `work` is polled (nothing is done without a
    /// span). A wrapper, not an `async fn`, so that the call path's large futures are not moved into a bigger one.
    pub struct Within<F> {
        span: Span,
        end: bool,
        #[pin]
        work: F,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let Some(otel) = &this.span.0 else { return this.work.poll(cx) };
        let _current = otel.clone().attach();
        let out = std::task::ready!(this.work.poll(cx));
        if *this.end {
            otel.span().end();
        }
        std::task::Poll::Ready(out)
    }
}

/// One question: `hub ask`, a `hub chat` turn, a triage item (`item` its id). A root span.
pub fn question(command: &'static str, question: &str, item: Option<&str>) -> Span {
    let span = Span::start(SpanKind::Internal, &Context::new(), || {
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.name", "hub"),
            KeyValue::new("hub.command", command),
        ];
        if let Some(item) = item {
            attrs.push(KeyValue::new("hub.item", item.to_string()));
        }
        ("invoke_agent hub".into(), attrs)
    });
    span.content("hub.question", || question.to_string());
    span
}

/// Ends a question's span: how many model turns it took and, unless `ok`, its status as the error type.
pub fn answered(span: &Span, turns: u32, status: impl serde::Serialize, ok: bool) {
    if span.0.is_none() {
        return;
    }
    span.set("hub.turns", i64::from(turns));
    if !ok {
        let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from));
        span.failed(status.as_deref().unwrap_or("error"));
    }
}

/// One request to the model endpoint (`server` its host), under the current span.
pub fn model(model: &str, server: &str) -> Span {
    Span::start(SpanKind::Client, &Context::current(), || {
        let attrs = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", model.to_string()),
            KeyValue::new("server.address", server.to_string()),
        ];
        (format!("chat {model}").into(), attrs)
    })
}

/// One tool call the model (or the planner, or a gateway client) made, under the current span; `call_id` the
/// model's id for it.
pub fn tool(name: &str, call_id: Option<&str>) -> Span {
    Span::start(SpanKind::Internal, &Context::current(), || {
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", name.to_string()),
            KeyValue::new("gen_ai.tool.type", "function"),
        ];
        if let Some(id) = call_id {
            attrs.push(KeyValue::new("gen_ai.tool.call.id", id.to_string()));
        }
        (format!("execute_tool {name}").into(), attrs)
    })
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
    span.content("gen_ai.tool.call.arguments", || serde_json::to_string(&arguments).unwrap_or_default());
    let called = span.within(call(arguments)).await;
    span.ended(&called);
    if let Ok(c) = &called {
        span.content("gen_ai.tool.call.result", || match c.result.is_error {
            Some(true) => crate::output::result_text(&c.result),
            _ => crate::output::result_value(&c.result).to_string(),
        });
    }
    span.end();
    called
}

/// The `tools/call` request to the upstream server, under the current span (`transport`: "pipe" for stdio,
/// "tcp" for HTTP).
pub fn upstream(server: &str, tool: &str, transport: &'static str) -> Span {
    Span::start(SpanKind::Client, &Context::current(), || {
        let attrs = vec![
            KeyValue::new("mcp.method.name", "tools/call"),
            KeyValue::new("gen_ai.tool.name", tool.to_string()),
            KeyValue::new("hub.server.name", server.to_string()),
            KeyValue::new("network.transport", transport),
        ];
        (format!("tools/call {tool}").into(), attrs)
    })
}

/// One request a client made to `hub serve` (MCP `method`, or a REST route), `target` the tool when it names one;
/// `parent` the client's trace context (`propagate::serving`), or a new trace.
pub fn gateway(method: &str, target: Option<&str>, session: Option<&str>, parent: &Context) -> Span {
    Span::start(SpanKind::Server, parent, || {
        let name = match target {
            Some(t) => format!("{method} {t}"),
            None => method.to_string(),
        };
        let mut attrs = vec![KeyValue::new("mcp.method.name", method.to_string())];
        if let Some(t) = target {
            attrs.push(KeyValue::new("gen_ai.tool.name", t.to_string()));
        }
        if let Some(s) = session {
            attrs.push(KeyValue::new("mcp.session.id", s.to_string()));
        }
        (name.into(), attrs)
    })
}
