//! A triage run's progress: the bar (done/total, items/s, ETA, counts by outcome), the tally of outcomes and tokens,
//! and Ctrl-C. The first Ctrl-C stops taking new items and lets the running ones finish (their results are written);
//! a second one, or SIGTERM, cancels those too (not written: a rerun resumes them).
//!
//! Owns: the bar, the tally, the two-step stop. Not: running items (see `triage`).

use crate::llm::Usage;
use crate::shutdown::Shutdown;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

pub struct Progress {
    bar: indicatif::ProgressBar,
    tally: Mutex<(BTreeMap<&'static str, usize>, Usage)>,
    /// Cancelled by the first Ctrl-C: no item starts after it.
    stop_new: CancellationToken,
    running: AtomicUsize,
    quiet: bool,
}

impl Progress {
    pub fn new(len: usize, quiet: bool) -> Progress {
        let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(len as u64) };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix}{bar:30} {pos}/{len} · {per_sec} · ETA {eta} · {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("starting");
        Progress {
            bar,
            tally: Mutex::default(),
            stop_new: CancellationToken::new(),
            running: AtomicUsize::new(0),
            quiet,
        }
    }

    /// Starts an item, unless the run is stopping.
    pub fn begin(&self) -> bool {
        let taking = !self.stop_new.is_cancelled();
        if taking {
            self.running.fetch_add(1, Ordering::SeqCst);
        }
        taking
    }

    /// An item ended without a result (cancelled).
    pub fn abandon(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// One item finished with `status` (counted now; the bar moves when its line is written, `written`).
    pub fn count(&self, status: &'static str, usage: Usage) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *t.0.entry(status).or_default() += 1;
        t.1.add(usage);
        let by: Vec<String> = t.0.iter().map(|(s, n)| format!("{s} {n}")).collect();
        self.bar.set_message(by.join(" · "));
    }

    pub fn written(&self) {
        self.bar.inc(1);
    }

    /// Watches the signals for the whole run (never returns): the first Ctrl-C stops new items, the next one or
    /// SIGTERM cancels `running` (the items in flight).
    pub async fn watch(&self, shutdown: &Shutdown, running: &CancellationToken) {
        let mut signals = shutdown.clone();
        tokio::select! {
            _ = signals.interrupt() => {
                self.stop_new.cancel();
                self.bar.set_prefix("stopping ");
                if !self.quiet {
                    let n = self.running.load(Ordering::SeqCst);
                    self.bar.suspend(|| {
                        eprintln!("hub triage: stopping — no new items; finishing the {n} running (Ctrl-C again cancels them)")
                    });
                }
                tokio::select! {
                    _ = signals.interrupt() => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            _ = shutdown.cancelled() => self.stop_new.cancel(),
        }
        running.cancel();
        std::future::pending::<()>().await
    }

    /// Whether the run was stopped by a signal (so it did not do everything).
    pub fn stopped(&self) -> bool {
        self.stop_new.is_cancelled()
    }

    /// Clears the bar; the counts by status and the tokens used.
    pub fn finish(&self) -> (BTreeMap<&'static str, usize>, Usage) {
        self.bar.finish_and_clear();
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
