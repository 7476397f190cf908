//! An OTLP receiver for the telemetry tests (issue 19): no collector installs from the registries here, so this is
//! one built on the official `opentelemetry-proto` definitions — gRPC (tonic's generated `TraceService` and
//! `MetricsService`) and HTTP/protobuf (`POST /v1/traces`, `/v1/metrics`, bodies decoded by prost). It keeps
//! every span it receives, flattened, and the names of the metrics.

#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span: ids in hex, kind and status code as the proto's numbers (kind 2 server, 3 client; status 0
/// unset, 2 error), attributes as strings.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace: String,
    pub id: String,
    pub parent: String,
    pub name: String,
    pub kind: i32,
    pub status: i32,
    pub attrs: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub service: String,
}

impl Span {
    pub fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Seen {
    spans: Vec<Span>,
    metrics: Vec<String>,
    bytes: usize,
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Seen>>);

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

impl Sink {
    fn traces(&self, req: ExportTraceServiceRequest) {
        let mut seen = self.0.lock().unwrap();
        for rs in req.resource_spans {
            let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
            let service = attrs.iter().find(|a| a.key == "service.name").map(|a| text(&a.value)).unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    seen.spans.push(Span {
                        trace: hex(&s.trace_id),
                        id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        name: s.name,
                        kind: s.kind,
                        status: s.status.map_or(0, |st| st.code),
                        attrs: s.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect(),
                        events: s.events.iter().map(|e| e.name.clone()).collect(),
                        service: service.clone(),
                    });
                }
            }
        }
    }

    fn metrics(&self, req: ExportMetricsServiceRequest) {
        let mut seen = self.0.lock().unwrap();
        for rm in req.resource_metrics {
            for sm in rm.scope_metrics {
                seen.metrics.extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A running receiver; `endpoint` is what `OTEL_EXPORTER_OTLP_ENDPOINT` takes.
pub struct Collector {
    sink: Sink,
    pub endpoint: String,
    /// "grpc" or "http/protobuf".
    pub protocol: &'static str,
}

impl Collector {
    /// An OTLP/gRPC receiver on 127.0.0.1 (port 0), on its own thread.
    pub fn grpc() -> Collector {
        Self::start("grpc", |sink, listener| {
            Box::pin(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                let _ = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(sink.clone()))
                    .add_service(MetricsServiceServer::new(sink))
                    .serve_with_incoming(incoming)
                    .await;
            })
        })
    }

    /// An OTLP/HTTP (protobuf) receiver on 127.0.0.1 (port 0), on its own thread.
    pub fn http() -> Collector {
        Self::start("http/protobuf", |sink, listener| {
            Box::pin(async move {
                use axum::routing::post;
                let (t, m) = (sink.clone(), sink);
                let app = axum::Router::new()
                    .route(
                        "/v1/traces",
                        post(move |body: axum::body::Bytes| async move {
                            t.traces(ExportTraceServiceRequest::decode(body).expect("an OTLP trace request"));
                            (
                                [("content-type", "application/x-protobuf")],
                                ExportTraceServiceResponse::default().encode_to_vec(),
                            )
                        }),
                    )
                    .route(
                        "/v1/metrics",
                        post(move |body: axum::body::Bytes| async move {
                            m.metrics(ExportMetricsServiceRequest::decode(body).expect("an OTLP metrics request"));
                            (
                                [("content-type", "application/x-protobuf")],
                                ExportMetricsServiceResponse::default().encode_to_vec(),
                            )
                        }),
                    );
                let _ = axum::serve(listener, app).await;
            })
        })
    }

    /// An OTLP/HTTP receiver that answers every export without reading it (counts the bytes only): the cheapest
    /// collector there can be, for measuring what exporting costs hub itself.
    pub fn discard() -> Collector {
        Self::start("http/protobuf", |sink, listener| {
            Box::pin(async move {
                let handler = move |body: axum::body::Bytes| {
                    let sink = sink.clone();
                    async move {
                        sink.0.lock().unwrap().bytes += body.len();
                        [("content-type", "application/x-protobuf")]
                    }
                };
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(handler.clone()))
                    .route("/v1/metrics", axum::routing::post(handler));
                let _ = axum::serve(listener, app).await;
            })
        })
    }

    /// Bytes a `discard` receiver was sent.
    pub fn bytes(&self) -> usize {
        self.sink.0.lock().unwrap().bytes
    }

    fn start(
        protocol: &'static str,
        serve: impl FnOnce(Sink, tokio::net::TcpListener) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + 'static,
    ) -> Collector {
        let sink = Sink::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = sink.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                serve(s, listener).await;
            });
        });
        let addr = rx.recv().unwrap();
        Collector { sink, endpoint: format!("http://{addr}"), protocol }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.sink.0.lock().unwrap().spans.clone()
    }

    pub fn metrics(&self) -> Vec<String> {
        self.sink.0.lock().unwrap().metrics.clone()
    }

    /// Waits (up to a minute, for the spans still on their way) until `done` holds of what was received.
    pub fn wait(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let limit = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans();
            if done(&spans) || std::time::Instant::now() > limit {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
