//! Trace context through `hub serve` (issue 19): a `traceparent` a client sends — as an HTTP header on the REST
//! API, or in `params._meta` of an MCP `tools/call` — is the parent of the gateway's spans (request → tool call
//! → upstream request), and the upstream request carries the context on: to a server on the official Python
//! SDK, which reports the `_meta` and the header it received, and to another hub, whose own spans join the trace.

use crate::fleet_shared::interop_python;
use crate::otlp::{Collector, Span};
use crate::util::{Env, LIMIT, client, eventually, rt, serve};
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn telemetry_env(c: &Collector, service: &str) -> Env {
    let mut env = Env::new();
    env.set("OTEL_EXPORTER_OTLP_ENDPOINT", &c.endpoint)
        .set("OTEL_EXPORTER_OTLP_PROTOCOL", c.protocol)
        .set("OTEL_SERVICE_NAME", service);
    env
}

/// The one span of `service` named `name`, its chain of children down: tool call, then upstream request.
fn chain<'a>(spans: &'a [Span], service: &str, name: &str) -> (&'a Span, &'a Span, &'a Span) {
    let of = |s: &&Span| s.service == service;
    let top = spans.iter().filter(of).find(|s| s.name == name).unwrap_or_else(|| panic!("{name}: {spans:#?}"));
    let child = |p: &Span| spans.iter().filter(of).find(|s| s.parent == p.id).unwrap_or_else(|| panic!("{p:?}"));
    let tool = child(top);
    let up = child(tool);
    (top, tool, up)
}

#[test]
fn a_traceparent_sent_to_hub_serve_is_the_parent_of_its_spans_and_reaches_the_python_sdk_server() {
    let Some(python) = interop_python() else { return };
    let collector = Collector::grpc();
    let port = free_port();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace_server.py");
    let mut upstream = std::process::Command::new(python)
        .args([fixture.to_str().unwrap(), "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listening = eventually(LIMIT, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(listening, "the Python fixture did not start");
    let env = telemetry_env(&collector, "gateway");
    env.config(&format!("[servers.trace]\nurl = \"http://127.0.0.1:{port}/mcp\"\n"));
    let mut served = serve(&env, &[]);
    let sent = format!("00-{TRACE}-{PARENT}-01");
    let body: Value = rt().block_on(async {
        let r = client()
            .post(format!("{}/call", served.base))
            .header("traceparent", &sent)
            .header("tracestate", "vendor=1")
            .json(&json!({"tool": "trace__trace_context", "arguments": {}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    });
    served.stop();
    let _ = upstream.kill();
    let _ = upstream.wait();
    let text = body.to_string();
    let got: Value = serde_json::from_str(body["result"]["result"].as_str().unwrap_or("{}")).unwrap_or_default();
    let spans = collector.wait(|s| s.iter().any(|s| s.kind == 2));
    let (top, tool, up) = chain(&spans, "gateway", "tools/call trace__trace_context");
    assert_eq!((top.trace.as_str(), top.parent.as_str(), top.kind), (TRACE, PARENT, 2), "{top:?}");
    assert_eq!(top.attr("mcp.method.name"), "tools/call");
    assert_eq!(tool.name, "execute_tool trace__trace_context");
    assert_eq!((up.trace.as_str(), up.kind), (TRACE, 3));
    assert_eq!(up.attr("network.transport"), "tcp");
    // The server we did not write saw the upstream span as the parent, in `_meta` and in the header.
    let expected = format!("00-{TRACE}-{}-01", up.id);
    assert_eq!(got["meta_traceparent"], expected.as_str(), "{text}");
    assert_eq!(got["header_traceparent"], expected.as_str(), "{text}");
    assert_eq!(got["meta_tracestate"], "vendor=1", "tracestate travels too: {text}");
}

#[test]
fn a_traceparent_in_mcp_meta_is_the_parent_and_a_second_hub_joins_the_trace() {
    let collector = Collector::http();
    // The upstream: another hub serving the crm server over HTTP, exporting as "upstream-hub".
    let inner_env = telemetry_env(&collector, "upstream-hub");
    inner_env.config(&Env::server_entry("crm", "crm"));
    let mut inner = serve(&inner_env, &[]);
    let env = telemetry_env(&collector, "gateway");
    env.config(&format!("[servers.up]\nurl = \"{}/mcp\"\n", inner.base));
    let mut served = serve(&env, &[]);
    let base = served.base.clone();
    rt().block_on(async move {
        use rmcp::ServiceExt;
        use rmcp::model::{CallToolRequestParams, RequestMetaObject};
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
        let mcp = ().serve(transport).await.unwrap();
        let mut meta = RequestMetaObject::new();
        meta.set_traceparent(format!("00-{TRACE}-{PARENT}-01"));
        let mut params = CallToolRequestParams::new("up__crm__search_customers");
        params = params.with_arguments(json!({"query": "acme"}).as_object().unwrap().clone());
        params.meta = Some(meta);
        let result = mcp.peer().call_tool(params).await.unwrap();
        assert_ne!(result.is_error, Some(true), "{result:?}");
        let _ = mcp.cancel().await;
    });
    // The export's own counts are on /metrics.
    let metrics = rt().block_on(async {
        client().get(format!("{}/metrics", served.base)).send().await.unwrap().text().await.unwrap()
    });
    assert!(metrics.contains("hub_telemetry_spans_exported_total"), "{metrics}");
    served.stop();
    inner.stop();
    let spans = collector.wait(|s| s.iter().filter(|s| s.kind == 2).count() >= 2);
    let (top, _, up) = chain(&spans, "gateway", "tools/call up__crm__search_customers");
    assert_eq!((top.trace.as_str(), top.parent.as_str()), (TRACE, PARENT), "{top:?}");
    let (second, _, last) = chain(&spans, "upstream-hub", "tools/call crm__search_customers");
    assert_eq!((second.trace.as_str(), second.parent.as_str()), (TRACE, up.id.as_str()), "{second:?}");
    assert_eq!(last.attr("network.transport"), "pipe");
    assert_eq!(last.attr("hub.server.name"), "crm");
}
