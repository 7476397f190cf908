//! One task per server keeps it connected: connect, watch for death or `tools/list_changed`, restart with
//! exponential backoff (reset after a stable period), give up after the crash-loop cap, and on shutdown close
//! the session and make sure the child is gone.

use super::connect::{self, Conn, Event};
use super::{Inner, Phase, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a child may take to exit after its stdin closes before it is killed.
const GRACE: Duration = Duration::from_millis(300);

pub(super) async fn supervise(inner: Arc<Inner>, server: Arc<Server>, ready: oneshot::Sender<()>) {
    let policy = server.cfg.restart.clone();
    let shutdown = inner.shutdown.clone();
    let mut ready = Some(ready);
    let mut backoff = policy.backoff;
    let mut crashes = 0u32;
    loop {
        server.update(|s| s.phase = Phase::Starting);
        let (tx, mut events) = mpsc::unbounded_channel();
        let attempt = tokio::select! {
            r = connect::connect(&server.cfg, &server.tail, tx) => r,
            _ = shutdown.cancelled() => break,
        };
        let reason = match attempt {
            Err(e) => failure(&server, e),
            Ok(Conn { service, mut child, tools }) => {
                let peer = service.peer().clone();
                let pid = child.as_ref().and_then(|c| c.id());
                server.update(|s| {
                    s.phase = Phase::Up;
                    s.peer = Some(peer.clone());
                    s.tools = tools;
                    s.pid = pid;
                    s.up_since = Some(Instant::now());
                });
                inner.rebuild();
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                let started = Instant::now();
                let ct = service.cancellation_token();
                let mut closed = tokio::spawn(service.waiting());
                let reason = loop {
                    tokio::select! {
                        _ = &mut closed => break "connection closed".to_string(),
                        Some(Event::ToolsChanged) = events.recv() => {
                            match tokio::time::timeout(server.cfg.timeout, peer.list_all_tools()).await {
                                Ok(Ok(tools)) => {
                                    server.update(|s| s.tools = tools);
                                    inner.rebuild();
                                }
                                Ok(Err(e)) => tracing::warn!(server = %server.cfg.name, "re-listing tools failed: {e}"),
                                Err(_) => tracing::warn!(server = %server.cfg.name, "re-listing tools timed out"),
                            }
                        }
                        _ = shutdown.cancelled() => {
                            ct.cancel();
                            stop_child(child.as_mut()).await;
                            server.update(|s| { s.phase = Phase::Stopped; s.peer = None; s.pid = None; });
                            return;
                        }
                    }
                };
                let reason = match child.as_mut() {
                    Some(c) => match tokio::time::timeout(GRACE, c.wait()).await {
                        Ok(Ok(status)) => connect::describe_exit(status),
                        _ => {
                            stop_child(Some(c)).await;
                            reason
                        }
                    },
                    None => reason,
                };
                if started.elapsed() >= policy.stable {
                    crashes = 0;
                    backoff = policy.backoff;
                }
                failure(&server, reason)
            }
        };
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        inner.changed();
        crashes += 1;
        if crashes > policy.max_restarts {
            let msg = format!("gave up after {} restarts; last error: {reason}", policy.max_restarts);
            tracing::warn!(server = %server.cfg.name, "{msg}");
            server.update(|s| {
                s.phase = Phase::Failed;
                s.last_error = Some(msg);
            });
            inner.changed();
            return;
        }
        tracing::info!(server = %server.cfg.name, "down ({reason}); restarting in {} ms", backoff.as_millis());
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(policy.max_backoff);
        server.update(|s| s.restarts += 1);
    }
    server.update(|s| s.phase = Phase::Stopped);
}

/// Marks the server down with `reason` and the tail of its stderr; returns the full message.
fn failure(server: &Server, reason: String) -> String {
    let tail = server.tail.summary();
    let msg = if tail.is_empty() { reason } else { format!("{reason}; stderr: {tail}") };
    server.update(|s| {
        s.phase = Phase::Down;
        s.peer = None;
        s.pid = None;
        s.up_since = None;
        s.last_error = Some(msg.clone());
    });
    msg
}

/// Gives the child a moment to exit on its own (its stdin is closed), then kills it and reaps it.
async fn stop_child(child: Option<&mut tokio::process::Child>) {
    let Some(child) = child else { return };
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}
