//! OpenTelemetry export of hub's spans and of its metrics (issue 19), off unless `[telemetry]` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
//!
//! The spans (`spans`) are made on the SDK's tracer once `Export::begin` has set it; until then, and with
//! telemetry off, making one costs an atomic load. Export runs on the SDK's own threads with a bounded queue: a
//! slow or dead collector drops spans (counted, see `export`) and never holds a call; `Export::finish` flushes
//! at exit within a bound.
//!
//! Owns: the switch, the tracer, start and finish, and how content is cut; `export` builds the exporters,
//! `metrics` the instruments, `propagate` carries the W3C trace context in and out.

mod export;
pub mod metrics;
pub mod propagate;
pub mod spans;

use crate::config::telemetry::Telemetry;
use opentelemetry_sdk::trace::SdkTracer;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ON: AtomicBool = AtomicBool::new(false);
static CONTENT: AtomicBool = AtomicBool::new(false);
/// The tracer of the export, once `begin` made it (at most one export per process).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Bytes of an argument, result or question recorded on a span under `record_content`.
pub const CONTENT_BYTES: usize = 1024;
/// How long the export may hold the process at exit to deliver the last spans: a healthy collector takes
/// milliseconds; a dead one costs at most this (nothing when every export so far failed).
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// Whether spans and metrics are being exported.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The tracer while spans are exported.
fn tracer() -> Option<&'static SdkTracer> {
    if on() { TRACER.get() } else { None }
}

/// The export of one command, cheap to clone: set up in the background while the servers start (`prepare`),
/// switched on when the command's work begins (`begin`), flushed as soon as the work ends (`end`, so that the
/// flush overlaps the servers' shutdown), waited for — within `FINISH_WITHIN` — at exit (`finish`). Dropped
/// without `finish`, the flush runs on a thread nobody waits for.
#[derive(Clone)]
pub struct Export(std::sync::Arc<std::sync::Mutex<State>>);

struct State {
    config: Telemetry,
    setting_up: Option<tokio::task::JoinHandle<Result<export::Pipeline, String>>>,
    pipeline: Option<export::Pipeline>,
    flushing: Option<(std::time::Instant, tokio::sync::oneshot::Receiver<export::Counts>)>,
}

impl Export {
    /// Starts building the exporters when `config` says where to (inside the runtime: the gRPC channel runs on
    /// it); `None` when telemetry is off or was already started in this process.
    pub fn prepare(config: Option<&Telemetry>) -> Option<Export> {
        let config = config?.clone();
        if TRACER.get().is_some() {
            return None;
        }
        let c = config.clone();
        let setting_up = Some(tokio::task::spawn_blocking(move || export::Pipeline::new(&c)));
        Some(Export(std::sync::Arc::new(std::sync::Mutex::new(State {
            config,
            setting_up,
            pipeline: None,
            flushing: None,
        }))))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches the export on once the exporters are built. One that cannot be built is a warning, never a
    /// failed command.
    pub async fn begin(&self) {
        let Some(task) = self.state().setting_up.take() else { return };
        let endpoint = self.state().config.endpoint.clone();
        let pipeline = match task.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return tracing::warn!("telemetry: cannot export to {endpoint}: {e}"),
            Err(e) => return tracing::warn!("telemetry: cannot export to {endpoint}: {e}"),
        };
        if TRACER.set(pipeline.tracer()).is_err() {
            return;
        }
        metrics::install(pipeline.meter());
        let mut state = self.state();
        CONTENT.store(state.config.record_content, Ordering::Relaxed);
        ON.store(true, Ordering::Relaxed);
        state.pipeline = Some(pipeline);
    }

    /// Stops taking spans and flushes the rest on a thread of its own (once).
    pub fn end(&self) {
        ON.store(false, Ordering::Relaxed);
        let mut state = self.state();
        let Some(pipeline) = state.pipeline.take() else { return };
        let before = export::counts();
        let within = if before.exported == 0 && before.failed > 0 { Duration::ZERO } else { FINISH_WITHIN };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let flush = move || {
            let _ = tx.send(pipeline.shutdown(within));
        };
        if std::thread::Builder::new().name("telemetry-flush".into()).spawn(flush).is_ok() {
            state.flushing = Some((std::time::Instant::now(), rx));
        }
    }

    /// Flushes (unless `end` began it) and waits at most `FINISH_WITHIN` for the collector; says (with -v) what
    /// was dropped.
    pub async fn finish(self) {
        self.end();
        let Some((started, done)) = self.state().flushing.take() else { return };
        let left = FINISH_WITHIN.saturating_sub(started.elapsed()) + Duration::from_millis(100);
        match tokio::time::timeout(left, done).await {
            Ok(Ok(c)) if c.dropped() > 0 => tracing::info!(
                "telemetry: {} spans exported, {} dropped (the collector was slow, down or refused them)",
                c.exported,
                c.dropped()
            ),
            Ok(_) => {}
            Err(_) => tracing::info!("telemetry: the collector did not take the last spans in time; dropped"),
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            std::thread::spawn(move || pipeline.shutdown(Duration::ZERO));
        }
    }
}

/// Whether arguments, results and questions go on the spans (`record_content = true`).
pub fn records_content() -> bool {
    on() && CONTENT.load(Ordering::Relaxed)
}

/// `text` cut to `CONTENT_BYTES` on a character boundary, marked when cut.
pub fn content(text: &str) -> String {
    crate::truncate::text(text, CONTENT_BYTES)
}

/// The counts `/metrics` shows for the export itself.
pub fn prometheus() -> String {
    if !on() {
        return String::new();
    }
    let c = export::counts();
    format!(
        "# HELP hub_telemetry_spans_exported_total Spans the collector accepted.\n\
         # TYPE hub_telemetry_spans_exported_total counter\nhub_telemetry_spans_exported_total {}\n\
         # HELP hub_telemetry_spans_failed_total Spans dropped because the collector failed or refused the export.\n\
         # TYPE hub_telemetry_spans_failed_total counter\nhub_telemetry_spans_failed_total {}\n",
        c.exported, c.failed
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_is_cut_on_a_character_boundary() {
        assert_eq!(super::content("short"), "short");
        let long = "é".repeat(super::CONTENT_BYTES);
        let cut = super::content(&long);
        assert!(cut.ends_with(&format!("of {} bytes shown]", long.len())), "{cut}");
        assert!(cut.len() < super::CONTENT_BYTES + 64);
    }
}
