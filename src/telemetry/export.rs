//! The export pipeline: OTLP span and metric exporters (gRPC or HTTP/protobuf) for the configured collector, a
//! batch span processor with a bounded queue, a periodic metric reader, and the counts of what was exported and
//! what was dropped. The SDK exports from its own threads; the gRPC exporter's channel runs on hub's runtime, so
//! the pipeline is built inside it.

use crate::config::telemetry::{Protocol, Telemetry};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter, SpanProcessor,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Spans waiting for export; one more is dropped (and counted), never waited for.
const QUEUE: usize = 4096;
/// One export may take this long before it fails (and its spans are dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Metrics are pushed this often (and once more at exit). `OTEL_METRIC_EXPORT_INTERVAL` (ms) overrides it.
const METRIC_INTERVAL: Duration = Duration::from_secs(15);

static ENDED: AtomicU64 = AtomicU64::new(0);
static EXPORTED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Spans ended, accepted by the collector, and lost in a failed export.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub ended: u64,
    pub exported: u64,
    pub failed: u64,
}

impl Counts {
    /// Spans that never reached the collector: failed exports and a full queue (exact once flushed).
    pub fn dropped(&self) -> u64 {
        self.ended.saturating_sub(self.exported)
    }
}

pub fn counts() -> Counts {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Counts { ended: get(&ENDED), exported: get(&EXPORTED), failed: get(&FAILED) }
}

/// The tracer and meter providers of one collector.
pub struct Pipeline {
    traces: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Pipeline {
    pub fn new(c: &Telemetry) -> Result<Pipeline, String> {
        let resource = Resource::builder()
            .with_service_name(c.service_name.clone())
            .with_attributes([opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
            .build();
        let link = Link::new(c)?;
        let spans = Counted(link.spans(c).map_err(|e| e.to_string())?);
        let batch = BatchConfigBuilder::default().with_max_queue_size(QUEUE).with_max_export_batch_size(512).build();
        let processor = Ended(BatchSpanProcessor::builder(spans).with_batch_config(batch).build());
        let traces =
            SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource.clone()).build();
        let interval = std::env::var("OTEL_METRIC_EXPORT_INTERVAL")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(METRIC_INTERVAL, Duration::from_millis);
        let reader =
            PeriodicReader::builder(link.metrics(c).map_err(|e| e.to_string())?).with_interval(interval).build();
        let meters = SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build();
        Ok(Pipeline { traces, meters })
    }

    pub fn tracer(&self) -> SdkTracer {
        self.traces.tracer("hub")
    }

    pub fn meter(&self) -> opentelemetry::metrics::Meter {
        use opentelemetry::metrics::MeterProvider as _;
        self.meters.meter("hub")
    }

    /// Flushes and stops both providers at once (blocking), each within `within`; the counts after.
    pub fn shutdown(self, within: Duration) -> Counts {
        let meters = self.meters;
        let other = std::thread::spawn(move || meters.shutdown_with_timeout(within));
        let _ = self.traces.shutdown_with_timeout(within);
        let _ = other.join();
        counts()
    }
}

/// One signal's exporter on `link` (the span and metric builders are different types with the same methods).
macro_rules! exporter {
    ($builder:expr, $link:expr, $c:expr, $signal:literal) => {
        match $link {
            Link::Grpc(channel) => $builder
                .with_tonic()
                .with_channel(channel.clone())
                .with_retry_policy(retries())
                .with_metadata(metadata($c))
                .build(),
            Link::Http(client) => $builder
                .with_http()
                .with_http_client(client.clone())
                .with_endpoint(http_url($c, $signal))
                .with_timeout(EXPORT_TIMEOUT)
                .with_retry_policy(retries())
                .with_headers($c.headers.iter().cloned().collect())
                .build(),
        }
    };
}

/// The one connection both exporters share: a gRPC channel (connected on first use), or one HTTP client —
/// without the system's root certificates for a plain-HTTP collector, which cost milliseconds to load.
enum Link {
    Grpc(tonic::transport::Channel),
    Http(reqwest::blocking::Client),
}

impl Link {
    fn new(c: &Telemetry) -> Result<Link, String> {
        match c.protocol {
            Protocol::Grpc => {
                let endpoint = tonic::transport::Endpoint::from_shared(c.endpoint.clone())
                    .map_err(|e| format!("invalid endpoint: {e}"))?
                    .timeout(EXPORT_TIMEOUT)
                    .connect_timeout(EXPORT_TIMEOUT)
                    .tcp_nodelay(true);
                Ok(Link::Grpc(endpoint.connect_lazy()))
            }
            Protocol::HttpProtobuf => {
                let plain = c.endpoint.starts_with("http://");
                // A blocking client owns a runtime, which must not be made (or dropped) on hub's.
                let built = std::thread::spawn(move || {
                    let b = reqwest::blocking::Client::builder().timeout(EXPORT_TIMEOUT);
                    if plain { b.tls_certs_only(Vec::new()) } else { b }.build()
                });
                let client = built.join().map_err(|_| "the HTTP client could not be built".to_string())?;
                client.map(Link::Http).map_err(|e| e.to_string())
            }
        }
    }

    fn spans(&self, c: &Telemetry) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
        exporter!(opentelemetry_otlp::SpanExporter::builder(), self, c, "traces")
    }

    fn metrics(
        &self,
        c: &Telemetry,
    ) -> Result<opentelemetry_otlp::MetricExporter, opentelemetry_otlp::ExporterBuildError> {
        exporter!(opentelemetry_otlp::MetricExporter::builder(), self, c, "metrics")
    }
}

/// `endpoint` for HTTP: the signal's path is added (`/v1/traces`), as the OTLP spec says for the base endpoint.
fn http_url(c: &Telemetry, signal: &str) -> String {
    format!("{}/v1/{signal}", c.endpoint.trim_end_matches('/'))
}

/// No retries: a failed export drops its spans (counted) at once. Retrying would hold the export thread and, at
/// exit, the user — a refused connection then costs milliseconds, not a backoff.
fn retries() -> opentelemetry_otlp::RetryPolicy {
    opentelemetry_otlp::RetryPolicy::disabled()
}

fn metadata(c: &Telemetry) -> tonic::metadata::MetadataMap {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in &c.headers {
        if let (Ok(k), Ok(v)) = (k.parse::<tonic::metadata::MetadataKey<_>>(), v.parse()) {
            map.insert(k, v);
        }
    }
    map
}

/// The exporter, counting what the collector took and what a failed export lost.
#[derive(Debug)]
struct Counted<E>(E);

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let r = self.0.export(batch).await;
        let counter = if r.is_ok() { &EXPORTED } else { &FAILED };
        counter.fetch_add(n, Ordering::Relaxed);
        r
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// The batch processor, counting the spans that ended (so a full queue's drops are known).
#[derive(Debug)]
struct Ended<P>(P);

impl<P: SpanProcessor> SpanProcessor for Ended<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        ENDED.fetch_add(1, Ordering::Relaxed);
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}
