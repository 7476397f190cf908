//! OpenTelemetry export (issue 19), received by a real OTLP receiver (`otlp`, built on the official proto
//! definitions): one `hub ask` with two tool calls is one trace, question → model requests → tool calls →
//! upstream requests, with the GenAI and MCP attributes; the model endpoint gets the trace context; content is
//! recorded only when asked; a traceparent sent to `hub serve` is the parent of its spans and travels upstream;
//! a dead collector changes nothing for the user.

use crate::model::{Model, answer, calls};
use crate::otlp::{Collector, Span};
use crate::util::{Env, HUB};

fn env_for(m: &Model, c: Option<&Collector>) -> Env {
    let mut env = Env::new();
    env.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key");
    if let Some(c) = c {
        env.set("OTEL_EXPORTER_OTLP_ENDPOINT", &c.endpoint).set("OTEL_EXPORTER_OTLP_PROTOCOL", c.protocol);
    }
    env.config(&format!(
        "{}{}{}",
        m.config(""),
        Env::server_entry("crm", "crm"),
        Env::server_entry("tickets", "tickets")
    ));
    env
}

fn two_calls() -> Model {
    Model::start(vec![
        calls(&[
            ("call_a", "crm__search_customers", r#"{"query":"acme"}"#),
            ("call_b", "tickets__list_tickets", r#"{"status":"open","limit":2}"#),
        ]),
        answer("Acme has open tickets."),
    ])
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// The whole tree of one `hub ask` over gRPC, and the trace context the model endpoint received.
#[test]
fn one_ask_with_two_tool_calls_is_one_trace() {
    let collector = Collector::grpc();
    let m = two_calls();
    let env = env_for(&m, Some(&collector));
    let run = env.run(&["ask", "what about acme?"]).ok();
    assert!(run.stdout.contains("Acme has open tickets."), "{}", run.stdout);
    let spans = collector.wait(|s| s.iter().any(|s| s.name == "invoke_agent hub"));
    let roots = named(&spans, "invoke_agent hub");
    assert_eq!(roots.len(), 1, "{spans:#?}");
    let root = roots[0];
    assert!(root.parent.is_empty(), "the question is the root: {root:?}");
    assert_eq!(root.attr("gen_ai.operation.name"), "invoke_agent");
    assert_eq!(root.attr("hub.command"), "ask");
    assert_eq!(root.attr("hub.turns"), "2");
    assert_eq!(root.service, "hub");
    assert!(spans.iter().all(|s| s.trace == root.trace), "one trace: {spans:#?}");

    let chats = named(&spans, "chat scripted");
    assert_eq!(chats.len(), 2, "{spans:#?}");
    for c in &chats {
        assert_eq!(c.parent, root.id);
        assert_eq!(c.kind, 3, "client");
        assert_eq!(c.attr("gen_ai.operation.name"), "chat");
        assert_eq!(c.attr("gen_ai.request.model"), "scripted");
        assert_eq!(c.attr("gen_ai.usage.input_tokens"), "100");
        assert_eq!(c.attr("gen_ai.usage.output_tokens"), "20");
    }
    let tools: Vec<&Span> = spans.iter().filter(|s| s.name.starts_with("execute_tool ")).collect();
    assert_eq!(tools.len(), 2, "{spans:#?}");
    let mut ids: Vec<&str> = tools.iter().map(|t| t.attr("gen_ai.tool.call.id")).collect();
    ids.sort();
    assert_eq!(ids, ["call_a", "call_b"]);
    for t in &tools {
        assert_eq!(t.parent, root.id);
        assert_eq!(t.attr("gen_ai.operation.name"), "execute_tool");
        assert!(!t.attrs.contains_key("gen_ai.tool.call.arguments"), "content is not recorded by default: {t:?}");
        let up: Vec<&Span> = spans.iter().filter(|s| s.parent == t.id).collect();
        assert_eq!(up.len(), 1, "one upstream request under {t:?}");
        assert_eq!(up[0].kind, 3, "client");
        assert_eq!(up[0].attr("mcp.method.name"), "tools/call");
        assert_eq!(up[0].attr("network.transport"), "pipe");
        let server = up[0].attr("hub.server.name");
        assert!(t.attr("gen_ai.tool.name").starts_with(&format!("{server}__")), "{t:?} {up:?}");
        assert_eq!(up[0].name, format!("tools/call {}", up[0].attr("gen_ai.tool.name")));
    }
    // Each model request carried its own span's context.
    let sent = m.traceparents();
    assert_eq!(sent.len(), 2);
    for (header, chat) in sent.iter().zip(&chats) {
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "a W3C traceparent: {header:?}");
        assert_eq!(parts[1], root.trace);
        assert!(chats.iter().any(|c| c.id == parts[2]), "{header} names a chat span ({chat:?})");
    }
}

/// `[telemetry]` in servers.toml over HTTP/protobuf, with `record_content`: arguments and results on the tool
/// spans (cut), the question on the root; and the metrics arrive.
#[test]
fn record_content_over_http_protobuf_and_metrics() {
    let collector = Collector::http();
    let m = two_calls();
    let env = env_for(&m, None);
    let config = std::fs::read_to_string(env.path("servers.toml")).unwrap();
    let telemetry = format!(
        "[telemetry]\nendpoint = \"{}\"\nprotocol = \"http/protobuf\"\nrecord_content = true\n",
        collector.endpoint
    );
    env.config(&format!("{config}\n{telemetry}"));
    env.run(&["ask", "what about acme?"]).ok();
    let spans = collector.wait(|s| s.iter().any(|s| s.name == "invoke_agent hub"));
    let root = named(&spans, "invoke_agent hub")[0];
    assert_eq!(root.attr("hub.question"), "what about acme?");
    let search = named(&spans, "execute_tool crm__search_customers")[0];
    assert_eq!(search.attr("gen_ai.tool.call.arguments"), r#"{"query":"acme"}"#);
    let result = search.attr("gen_ai.tool.call.result");
    assert!(result.contains("Acme"), "{result}");
    assert!(result.len() <= hub::telemetry::CONTENT_BYTES + 64, "cut: {} bytes", result.len());
    let metrics = collector.metrics();
    for name in ["hub.tool.calls", "mcp.client.operation.duration", "gen_ai.client.token.usage"] {
        assert!(metrics.iter().any(|m| m == name), "{name} in {metrics:?}");
    }
}

/// A collector that is not there (nothing listening) or that never answers (connections accepted by the
/// kernel, never read): the answer, the exit code and stderr are what they are without telemetry.
#[test]
fn a_dead_collector_changes_nothing_for_the_user() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for (dead, protocol) in
        [(refused, "grpc"), (refused, "http/protobuf"), (silent_addr, "grpc"), (silent_addr, "http/protobuf")]
    {
        let m = two_calls();
        let mut env = env_for(&m, None);
        env.set("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{dead}")).set("OTEL_EXPORTER_OTLP_PROTOCOL", protocol);
        let run = env.run(&["ask", "what about acme?"]);
        assert_eq!(run.code, 0, "{dead} {protocol}: {}", run.stderr);
        assert_eq!(run.stdout.trim(), "Acme has open tickets.");
        assert_eq!(run.stderr, "", "{dead} {protocol}: nothing about telemetry on stderr");
    }
    drop(silent);
}

/// A tool call that fails is marked so on its span and on the upstream request's, with the error's class; the
/// question, which the model still answered, is not.
#[test]
fn a_failed_tool_call_is_an_error_span() {
    let collector = Collector::grpc();
    let m = Model::start(vec![
        calls(&[("call_x", "crm__get_customer", r#"{"id":"nobody"}"#)]),
        answer("There is no such customer."),
    ]);
    let env = env_for(&m, Some(&collector));
    env.run(&["ask", "who is nobody?"]).ok();
    let spans = collector.wait(|s| s.iter().any(|s| s.name == "invoke_agent hub"));
    let tool = named(&spans, "execute_tool crm__get_customer");
    let up = named(&spans, "tools/call get_customer");
    assert_eq!((tool.len(), up.len()), (1, 1), "{spans:#?}");
    for s in [tool[0], up[0]] {
        assert_eq!((s.status, s.attr("error.type")), (2, "tool_error"), "{s:?}");
    }
    let root = named(&spans, "invoke_agent hub")[0];
    assert_eq!((root.status, root.attr("error.type")), (0, ""), "{root:?}");
    assert!(named(&spans, "chat scripted").iter().all(|c| c.status == 0));
}

/// A trace the sampler drops exports no span, yet its context still travels (flagged not sampled), so the model
/// endpoint and the servers can follow the decision.
#[test]
fn a_trace_the_sampler_drops_exports_no_span_but_still_propagates() {
    let collector = Collector::grpc();
    let m = two_calls();
    let mut env = env_for(&m, Some(&collector));
    env.set("OTEL_TRACES_SAMPLER", "parentbased_traceidratio").set("OTEL_TRACES_SAMPLER_ARG", "0");
    let run = env.run(&["ask", "what about acme?"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The metrics are exported at exit like the spans: once they are in, nothing else is coming.
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while collector.metrics().is_empty() && std::time::Instant::now() < limit {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!collector.metrics().is_empty(), "the metrics arrived");
    assert!(collector.spans().is_empty(), "{:#?}", collector.spans());
    let sent = m.traceparents();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|t| t.len() == 55 && t.ends_with("-00")), "not sampled: {sent:?}");
}

/// A model request that is retried is one span, its retries events of it.
#[test]
fn retries_of_a_model_request_are_events_of_its_span() {
    let collector = Collector::grpc();
    let m = Model::start(vec![crate::model::status(503, "overloaded", &[("retry-after", "0")]), answer("fine")]);
    let env = env_for(&m, Some(&collector));
    env.run(&["ask", "hello"]).ok();
    let spans = collector.wait(|s| s.iter().any(|s| s.name == "invoke_agent hub"));
    let chats = named(&spans, "chat scripted");
    assert_eq!(chats.len(), 1, "{spans:#?}");
    assert!(chats[0].events.iter().any(|e| e.contains("retry 1/")), "{:?}", chats[0].events);
    assert_eq!(m.traceparents().len(), 2, "two attempts");
    assert!(m.traceparents().iter().all(|t| t.contains(&chats[0].id)), "both attempts carry the span's context");
}

/// Each triage item is a trace of its own, named by the item's id.
#[test]
fn each_triage_item_is_its_own_trace() {
    let collector = Collector::http();
    let m = Model::start(vec![]);
    let env = env_for(&m, Some(&collector));
    env.write("items.jsonl", "{\"id\":\"T-1\",\"text\":\"who is john.smith@acme.com\"}\n{\"id\":\"T-2\",\"text\":\"open tickets of acme\"}\n");
    env.run(&["triage", "items.jsonl", "--out", "out.jsonl", "--offline"]).ok();
    let spans = collector.wait(|s| s.iter().filter(|s| s.name == "invoke_agent hub").count() >= 2);
    let items = named(&spans, "invoke_agent hub");
    let mut ids: Vec<&str> = items.iter().map(|s| s.attr("hub.item")).collect();
    ids.sort();
    assert_eq!(ids, ["T-1", "T-2"]);
    assert_ne!(items[0].trace, items[1].trace);
    assert!(items.iter().all(|s| s.attr("hub.command") == "triage" && s.parent.is_empty()));
    for item in &items {
        let calls = spans.iter().filter(|s| s.trace == item.trace && s.name.starts_with("tools/call ")).count();
        assert!(calls > 0, "the planner's calls are in the item's trace: {spans:#?}");
    }
}

/// `hub doctor` says where telemetry goes and whether the collector is there.
#[test]
fn doctor_checks_the_collector() {
    let collector = Collector::grpc();
    let m = two_calls();
    let env = env_for(&m, Some(&collector));
    let doc = env.run(&["doctor", "--json"]).json();
    let otel: Vec<&serde_json::Value> =
        doc["checks"].as_array().unwrap().iter().filter(|c| c["area"] == "otel").collect();
    assert_eq!(otel.len(), 1, "{doc}");
    assert_eq!(otel[0]["mark"], "ok", "{doc}");
    assert!(otel[0]["what"].as_str().unwrap().contains("(grpc)"), "{doc}");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut env = env_for(&m, None);
    env.set("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{dead}"));
    let doc = env.run(&["doctor", "--json"]).json();
    let otel = doc["checks"].as_array().unwrap().iter().find(|c| c["area"] == "otel").cloned().unwrap();
    assert_eq!(otel["mark"], "warn", "{doc}");
    assert!(otel["what"].as_str().unwrap().contains("cannot reach"), "{doc}");
}

/// Bad telemetry settings are usage errors naming the key.
#[test]
fn bad_telemetry_settings_are_usage_errors() {
    let m = two_calls();
    let mut env = env_for(&m, None);
    env.set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318").set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    let run = env.run(&["tools"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{}", run.stderr);
    let env = env_for(&m, None);
    env.config("[telemetry]\nendpoint = \"localhost:4317\"\n");
    let run = env.run(&["tools"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("telemetry.endpoint"), "{}", run.stderr);
    let _ = HUB;
}
