//! OpenTelemetry export of hub's `tracing` spans and of its metrics (issue 19), off unless `[telemetry]` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
//!
//! The logging subscriber always carries one empty slot (`layer`); `start` fills it with tracing-opentelemetry's
//! layer once the configuration is read, and only then does the slot's filter let spans through — so with
//! telemetry off a span costs what it did before (the log filter alone decides). Export runs on the SDK's own
//! threads with a bounded queue: a slow or dead collector drops spans (counted, see `export`) and never holds a
//! call; `Guard::finish` flushes at exit within a bound.
//!
//! Owns: the switch, the slot, start and finish, and how content is cut; `export` builds the exporters,
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
use tracing::span;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::Registry;

type Otel = tracing_opentelemetry::OpenTelemetryLayer<Registry, SdkTracer>;

static ON: AtomicBool = AtomicBool::new(false);
static CONTENT: AtomicBool = AtomicBool::new(false);
/// tracing-opentelemetry's layer, once `start` made it; `Late` forwards to it.
static OTEL: OnceLock<Otel> = OnceLock::new();

/// Bytes of an argument, result or question recorded on a span under `record_content`.
pub const CONTENT_BYTES: usize = 1024;
/// How long the export may hold the process at exit to deliver the last spans: a healthy collector takes
/// milliseconds; a dead one costs at most this (nothing when every export so far failed).
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// Whether spans and metrics are being exported.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The slot the logging subscriber carries (innermost, on the registry): empty until `start`, and closed to
/// every span but hub's own until then.
pub fn layer() -> impl Layer<Registry> {
    Late.with_filter(tracing_subscriber::filter::filter_fn(|m| {
        on() && m.target().starts_with("hub") && *m.level() <= tracing::Level::INFO
    }))
}

/// The slot: forwards to `OTEL` once it is set. Not tracing-subscriber's `reload` layer, which cannot hand out
/// the `WithContext` that `OpenTelemetrySpanExt` needs (a set `OnceLock` never moves, so this one can).
struct Late;

impl Layer<Registry> for Late {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_new_span(attrs, id, ctx);
        }
    }
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_record(id, values, ctx);
        }
    }
    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_follows_from(id, follows, ctx);
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_event(event, ctx);
        }
    }
    fn on_enter(&self, id: &span::Id, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_enter(id, ctx);
        }
    }
    fn on_exit(&self, id: &span::Id, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_exit(id, ctx);
        }
    }
    fn on_close(&self, id: span::Id, ctx: Context<'_, Registry>) {
        if let Some(l) = OTEL.get() {
            l.on_close(id, ctx);
        }
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the layer lives in a static that is set once and never moved or dropped.
        OTEL.get().and_then(|l| unsafe { l.downcast_raw(id) })
    }
}

/// Starts the export when `config` says where to; `None` (nothing to finish) when telemetry is off or the
/// logging subscriber was not ours. A collector that cannot be set up is a warning, never a failed command.
pub fn start(config: Option<&Telemetry>) -> Option<Guard> {
    let config = config?;
    if OTEL.get().is_some() {
        return None;
    }
    let pipeline = match export::Pipeline::new(config) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("telemetry: cannot export to {}: {e}", config.endpoint);
            return None;
        }
    };
    let layer = tracing_opentelemetry::layer()
        .with_tracer(pipeline.tracer())
        .with_location(false)
        // Busy/idle time per span means work on every poll of an instrumented future: not worth it on the call path.
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false);
    if OTEL.set(layer).is_err() {
        return None;
    }
    metrics::install(pipeline.meter());
    CONTENT.store(config.record_content, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    tracing::callsite::rebuild_interest_cache();
    let flush = Flush { pipeline: Some(pipeline), ..Default::default() };
    Some(Guard { flush: std::sync::Arc::new(std::sync::Mutex::new(flush)) })
}

/// Ends the export: flushes what is queued, within `FINISH_WITHIN`. `begin` starts the flush (as soon as the
/// command's work is done, so that it overlaps the servers' shutdown); `finish` waits for it. Dropped without
/// `finish`, the flush runs on a thread nobody waits for.
pub struct Guard {
    flush: std::sync::Arc<std::sync::Mutex<Flush>>,
}

#[derive(Default)]
struct Flush {
    pipeline: Option<export::Pipeline>,
    started: Option<std::time::Instant>,
    done: Option<tokio::sync::oneshot::Receiver<export::Counts>>,
}

/// Starts the flush of a `Guard` (see `Guard::begin`); cheap to clone.
#[derive(Clone)]
pub struct Begin(std::sync::Arc<std::sync::Mutex<Flush>>);

impl Begin {
    /// Stops the export taking new spans and flushes the rest on a thread of its own (once).
    pub fn begin(&self) {
        ON.store(false, Ordering::Relaxed);
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(pipeline) = f.pipeline.take() else { return };
        let before = export::counts();
        let within = if before.exported == 0 && before.failed > 0 { Duration::ZERO } else { FINISH_WITHIN };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new().name("telemetry-flush".into());
        let flush = move || {
            let _ = tx.send(pipeline.shutdown(within));
        };
        if thread.spawn(flush).is_ok() {
            (f.started, f.done) = (Some(std::time::Instant::now()), Some(rx));
        }
    }
}

impl Guard {
    pub fn begin(&self) -> Begin {
        Begin(self.flush.clone())
    }

    /// Flushes spans and metrics (begun here unless `begin` did) and waits at most `FINISH_WITHIN` for the
    /// collector; says (with -v) what was dropped.
    pub async fn finish(self) {
        self.begin().begin();
        let (done, started) = {
            let mut f = self.flush.lock().unwrap_or_else(|p| p.into_inner());
            (f.done.take(), f.started)
        };
        let Some(done) = done else { return };
        let left = started.map_or(FINISH_WITHIN, |s| FINISH_WITHIN.saturating_sub(s.elapsed()));
        match tokio::time::timeout(left + Duration::from_millis(100), done).await {
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

impl Drop for Guard {
    fn drop(&mut self) {
        self.begin().begin();
    }
}

/// Whether arguments, results and questions go on the spans (`record_content = true`).
pub fn records_content() -> bool {
    on() && CONTENT.load(Ordering::Relaxed)
}

/// `text` cut to `CONTENT_BYTES` on a character boundary, marked when cut.
pub fn content(text: &str) -> String {
    if text.len() <= CONTENT_BYTES {
        return text.to_string();
    }
    let mut end = CONTENT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
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
        assert!(cut.ends_with(&format!("… ({} bytes)", long.len())), "{cut}");
        assert!(cut.len() < super::CONTENT_BYTES + 20);
    }
}
