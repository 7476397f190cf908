//! Progress and log notifications in order, and before the answer they precede. rmcp hands each notification
//! to the client handler on a task of its own, so handlers may run out of order, and the answer to a call can
//! reach the caller before the handler has passed on the call's last progress or log message. The transport
//! numbers these notifications as they arrive (in wire order, the number in the notification's `_meta`, key
//! `SEQ`); a handler waits for its turn (every earlier one handled) and counts itself handled; a call, once
//! answered, waits until every notification that arrived before its answer has been handled. Every wait is
//! bounded (`SETTLE`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The longest a call or a handler waits for progress to be passed on.
const SETTLE: Duration = Duration::from_secs(1);

/// The `_meta` key the transport numbers a progress or log notification under.
pub const SEQ: &str = "io.github.hub/seq";

/// Whether notifications of `method` are numbered and passed on in order.
pub fn ordered(method: &str) -> bool {
    matches!(method, "notifications/progress" | "notifications/message")
}

#[derive(Clone, Default)]
pub struct Barrier(Arc<Inner>);

#[derive(Default)]
struct Inner {
    arrived: AtomicU64,
    handled: AtomicU64,
    wake: Notify,
}

impl Barrier {
    /// The transport passed a progress notification on: its number (from 1).
    pub fn arrived(&self) -> u64 {
        self.0.arrived.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until every progress notification numbered before `seq` is handled (at most `SETTLE`).
    pub async fn turn(&self, seq: u64) {
        self.wait_for(seq.saturating_sub(1)).await
    }

    /// The handler finished with one.
    pub fn handled(&self) {
        self.0.handled.fetch_add(1, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }

    /// Waits until every progress notification that has arrived so far is handled (at most `SETTLE`).
    pub async fn settle(&self) {
        self.wait_for(self.0.arrived.load(Ordering::SeqCst)).await
    }

    async fn wait_for(&self, target: u64) {
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
        assert_eq!((b.arrived(), b.arrived()), (1, 2));
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

    #[tokio::test(start_paused = true)]
    async fn handlers_take_turns_in_arrival_order() {
        let b = Barrier::default();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seqs = [b.arrived(), b.arrived(), b.arrived()];
        // Started in reverse: each still goes in its turn.
        let tasks: Vec<_> = seqs
            .iter()
            .rev()
            .map(|&seq| {
                let (b, order) = (b.clone(), order.clone());
                tokio::spawn(async move {
                    b.turn(seq).await;
                    order.lock().unwrap().push(seq);
                    b.handled();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
    }
}
