//! Progress notifications in order with the answer they precede. rmcp hands each notification to the client
//! handler on a task of its own, so the answer to a call can reach the caller before the handler has passed
//! on the call's last progress notification. The transport counts progress notifications as they arrive (in
//! wire order); the handler counts the ones it has finished with; a call, once answered, waits (briefly,
//! bounded) until every notification that arrived before its answer has been handled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The longest a call waits for its progress to be passed on.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct Barrier(Arc<Inner>);

#[derive(Default)]
struct Inner {
    arrived: AtomicU64,
    handled: AtomicU64,
    wake: Notify,
}

impl Barrier {
    /// The transport passed a progress notification on.
    pub fn arrived(&self) {
        self.0.arrived.fetch_add(1, Ordering::SeqCst);
    }

    /// The handler finished with one.
    pub fn handled(&self) {
        self.0.handled.fetch_add(1, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }

    /// Waits until every progress notification that has arrived so far is handled (at most `SETTLE`).
    pub async fn settle(&self) {
        let target = self.0.arrived.load(Ordering::SeqCst);
        let done = || self.0.handled.load(Ordering::SeqCst) >= target;
        let wait = async {
            while !done() {
                let woken = self.0.wake.notified();
                if done() {
                    break;
                }
                woken.await;
            }
        };
        let _ = tokio::time::timeout(SETTLE, wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Barrier;

    // Paused clock: the runtime runs every ready task before it lets the timeout's time pass.
    #[tokio::test(start_paused = true)]
    async fn settles_once_what_arrived_is_handled() {
        let b = Barrier::default();
        b.settle().await;
        b.arrived();
        b.arrived();
        let late = b.clone();
        let handler = tokio::spawn(async move {
            tokio::task::yield_now().await;
            late.handled();
            late.handled();
        });
        b.settle().await;
        assert_eq!(b.0.handled.load(std::sync::atomic::Ordering::SeqCst), 2);
        handler.await.unwrap();
    }
}
