//! The metrics hub pushes through OTLP (issue 19), under the OpenTelemetry semantic conventions where they
//! exist: tool calls by server, tool and outcome (`hub.tool.calls`, `mcp.client.operation.duration`), tool
//! calls and model requests in flight, the model's token usage and request duration (`gen_ai.client.*`), the
//! servers' restarts, and the triage queue. Every function here is a no-op until `install` (telemetry off).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};
use std::sync::OnceLock;
use std::time::Duration;

struct Instruments {
    tool_calls: Counter<u64>,
    tool_duration: Histogram<f64>,
    tools_in_flight: UpDownCounter<i64>,
    tokens: Histogram<u64>,
    model_duration: Histogram<f64>,
    model_in_flight: UpDownCounter<i64>,
    restarts: Counter<u64>,
    queue: UpDownCounter<i64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// Seconds buckets from a fast local call to a slow model turn.
const SECONDS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

pub(super) fn install(meter: Meter) {
    let seconds = |name: &'static str, what: &'static str| {
        meter.f64_histogram(name).with_unit("s").with_description(what).with_boundaries(SECONDS.to_vec()).build()
    };
    let _ = INSTRUMENTS.set(Instruments {
        tool_calls: meter
            .u64_counter("hub.tool.calls")
            .with_description("Tool calls by server, tool and outcome")
            .build(),
        tool_duration: seconds("mcp.client.operation.duration", "Duration of tools/call requests to MCP servers"),
        tools_in_flight: meter
            .i64_up_down_counter("hub.tool.calls.in_flight")
            .with_description("Tool calls sent and not yet answered")
            .build(),
        tokens: meter
            .u64_histogram("gen_ai.client.token.usage")
            .with_unit("{token}")
            .with_description("Tokens of model requests, by type (input, output)")
            .with_boundaries(vec![16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0])
            .build(),
        model_duration: seconds("gen_ai.client.operation.duration", "Duration of model requests"),
        model_in_flight: meter
            .i64_up_down_counter("hub.model.requests.in_flight")
            .with_description("Model requests sent and not yet answered")
            .build(),
        restarts: meter.u64_counter("hub.server.restarts").with_description("Restarts of MCP servers").build(),
        queue: meter
            .i64_up_down_counter("hub.triage.queue")
            .with_description("Triage items waiting for a worker")
            .build(),
    });
}

fn tool_attrs(server: &str, tool: &str) -> [KeyValue; 3] {
    [
        KeyValue::new("mcp.method.name", "tools/call"),
        KeyValue::new("hub.server.name", server.to_string()),
        KeyValue::new("gen_ai.tool.name", tool.to_string()),
    ]
}

/// One tool call's end: counted under its outcome (`ok`, `error`, `timeout`, `down`, `cancelled`, `protocol`).
pub fn tool_call(server: &str, tool: &str, outcome: &'static str, took: Duration) {
    let Some(i) = INSTRUMENTS.get() else { return };
    let [method, server, tool] = tool_attrs(server, tool);
    let attrs = [method, server, tool, KeyValue::new("hub.outcome", outcome)];
    i.tool_calls.add(1, &attrs);
    i.tool_duration.record(took.as_secs_f64(), &attrs);
}

/// A gauge's share while it lives: +1 now, −1 when dropped.
pub struct Held(Option<(&'static UpDownCounter<i64>, Vec<KeyValue>)>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((c, attrs)) = self.0.take() {
            c.add(-1, &attrs);
        }
    }
}

fn hold(pick: fn(&'static Instruments) -> &'static UpDownCounter<i64>, attrs: Vec<KeyValue>) -> Held {
    Held(INSTRUMENTS.get().map(|i| {
        let c = pick(i);
        c.add(1, &attrs);
        (c, attrs)
    }))
}

/// A tool call in flight on `server`.
pub fn tool_in_flight(server: &str) -> Held {
    hold(|i| &i.tools_in_flight, vec![KeyValue::new("hub.server.name", server.to_string())])
}

/// A model request in flight.
pub fn model_in_flight(model: &str) -> Held {
    hold(|i| &i.model_in_flight, vec![KeyValue::new("gen_ai.request.model", model.to_string())])
}

/// A triage item waiting for a worker (the share ends when a worker takes it).
pub fn queued() -> Held {
    hold(|i| &i.queue, Vec::new())
}

/// One model request's end: its duration and, when the endpoint said, its tokens.
pub fn model_request(model: &str, took: Duration, tokens: Option<(u32, u32)>, error: Option<&'static str>) {
    let Some(i) = INSTRUMENTS.get() else { return };
    let mut attrs = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", "openai"),
        KeyValue::new("gen_ai.request.model", model.to_string()),
    ];
    if let Some((input, output)) = tokens {
        for (kind, n) in [("input", input), ("output", output)] {
            let mut a = attrs.clone();
            a.push(KeyValue::new("gen_ai.token.type", kind));
            i.tokens.record(u64::from(n), &a);
        }
    }
    if let Some(e) = error {
        attrs.push(KeyValue::new("error.type", e));
    }
    i.model_duration.record(took.as_secs_f64(), &attrs);
}

/// A server restarted by its supervisor.
pub fn restart(server: &str) {
    if let Some(i) = INSTRUMENTS.get() {
        i.restarts.add(1, &[KeyValue::new("hub.server.name", server.to_string())]);
    }
}
