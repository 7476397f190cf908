//! The audit log: one JSONL line per call, written by ONE task through a bounded queue into a buffered file,
//! flushed every 100 ms and on shutdown. The request path never writes to the file: it queues the line, and
//! only when the queue is full does it wait (counted in `hub_audit_backpressure_total`) — a line is never
//! dropped silently. After `close`, a line that still arrives is reported as an error, not lost without a word.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const QUEUE: usize = 4096;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

pub struct Audit {
    tx: mpsc::Sender<String>,
    done: CancellationToken,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    waited: AtomicU64,
}

impl Audit {
    /// Opens (appends to) `path` and starts the writer task.
    pub async fn open(path: &std::path::Path) -> std::io::Result<Audit> {
        let file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let done = CancellationToken::new();
        let writer = tokio::spawn(write_lines(tokio::io::BufWriter::new(file), rx, done.clone()));
        Ok(Audit { tx, done, writer: Mutex::new(Some(writer)), waited: AtomicU64::new(0) })
    }

    /// Queues one line; waits for room only when the queue is full.
    pub async fn write(&self, line: String) {
        let line = match self.tx.try_send(line) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(line)) => line,
            Err(mpsc::error::TrySendError::Closed(line)) => {
                return tracing::error!("audit log is closed; this call was not recorded: {line}");
            }
        };
        self.waited.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.send(line).await {
            tracing::error!("audit log is closed; this call was not recorded: {}", e.0);
        }
    }

    /// Lines that had to wait for room in the queue.
    pub fn backpressure(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Writes out everything queued, flushes, and stops the writer.
    pub async fn close(&self) {
        self.done.cancel();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

async fn write_lines(
    mut out: tokio::io::BufWriter<tokio::fs::File>,
    mut rx: mpsc::Receiver<String>,
    done: CancellationToken,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut result = Ok(());
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(line) => result = result.and(write_line(&mut out, &line).await),
                None => break,
            },
            _ = tick.tick() => result = result.and(out.flush().await),
            _ = done.cancelled() => {
                rx.close();
                while let Some(line) = rx.recv().await {
                    result = result.and(write_line(&mut out, &line).await);
                }
                break;
            }
        }
        if let Err(e) = std::mem::replace(&mut result, Ok(())) {
            tracing::error!("audit log write failed: {e}");
        }
    }
    if let Err(e) = result.and(out.flush().await) {
        tracing::error!("audit log write failed: {e}");
    }
}

async fn write_line(out: &mut tokio::io::BufWriter<tokio::fs::File>, line: &str) -> std::io::Result<()> {
    out.write_all(line.as_bytes()).await?;
    out.write_all(b"\n").await
}
