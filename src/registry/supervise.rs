//! One task per server keeps it connected: connect, watch for death or `tools/list_changed`, restart with
//! jittered exponential backoff (reset when it had been up for the stable period), obey the operator's orders
//! (`control`), and on shutdown close the session and make sure the child is gone.
//!
//! Past the crash-loop cap a one-shot face (ask, call, tools, triage) gives up — the server stays failed until an
//! operator restarts it — while a long-running face (serve, chat) keeps trying at up to `max_backoff`, as
//! Kubernetes' CrashLoopBackOff does; `restart.give_up` decides per replica.

use super::connect::{self, Conn};
use super::control::{Order, STOPPED};
use super::listing;
use super::replica::Replica;
use super::{Inner, Phase};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

/// How long a child may take to exit after its stdin closes before it is killed.
const GRACE: Duration = Duration::from_millis(300);

/// Why the supervisor stopped waiting.
enum Next {
    /// Connect again (after a crash and its backoff, or on an operator's restart).
    Connect,
    /// Out of service until an operator restarts it.
    Hold,
    /// The registry is shutting down.
    Exit,
}

pub(super) async fn supervise(
    inner: Arc<Inner>,
    replica: Arc<Replica>,
    ready: oneshot::Sender<()>,
    mut orders: mpsc::UnboundedReceiver<Order>,
) {
    let policy = replica.cfg.restart.clone();
    let gives_up = policy.give_up.unwrap_or(!inner.long_running);
    let shutdown = inner.shutdown.clone();
    let mut ready = Some(ready);
    let (mut backoff_attempt, mut crashes) = (0u32, 0u32);
    let mut next = Next::Connect;
    loop {
        match next {
            Next::Exit => break,
            Next::Hold => {
                next = park(&inner, &replica, &mut orders, Phase::Stopped, STOPPED.into()).await;
                (backoff_attempt, crashes) = (0, 0);
                continue;
            }
            Next::Connect => {}
        }
        replica.update(|s| {
            s.phase = Phase::Starting;
            s.next_attempt = None;
        });
        let lists_changed = Arc::new(Notify::new());
        let attempt = tokio::select! {
            r = connect::connect(&replica.cfg, &replica.tail, lists_changed.clone(), inner.host.clone()) => r,
            _ = shutdown.cancelled() => break,
        };
        let (reason, uptime) = match attempt {
            Err(connect::Failed::Error(e)) => {
                replica.tail.settled(GRACE).await;
                (failure(&replica, connect::with_command(&replica.cfg, e)), Duration::ZERO)
            }
            Err(connect::Failed::NeedsLogin(challenge)) => {
                next = await_login(&inner, &replica, &mut orders, ready.take(), challenge).await;
                (backoff_attempt, crashes) = (0, 0);
                continue;
            }
            Ok(conn) => match run(&inner, &replica, conn, &lists_changed, &mut orders, ready.take()).await {
                Ended::NeedsLogin(challenge) => {
                    next = await_login(&inner, &replica, &mut orders, None, challenge).await;
                    (backoff_attempt, crashes) = (0, 0);
                    continue;
                }
                Ended::Down(reason, uptime) => (reason, uptime),
                Ended::Order(Order::Restart) => {
                    (backoff_attempt, crashes) = (0, 0);
                    replica.restarted();
                    next = Next::Connect;
                    continue;
                }
                Ended::Order(_) => {
                    next = Next::Hold;
                    continue;
                }
                Ended::Shutdown => return,
            },
        };
        replica.crashed();
        if replica.cfg.replicas.count > 1 {
            // The others may agree on another list now.
            inner.rebuild();
        }
        if uptime >= policy.stable {
            (backoff_attempt, crashes) = (0, 0);
        }
        crashes += 1;
        backoff_attempt += 1;
        if gives_up && crashes > policy.max_restarts {
            let msg = format!("gave up after {} restarts; last error: {reason}", policy.max_restarts);
            tracing::warn!(server = %replica.label, "{msg}");
            // The first attempt is over once its outcome is recorded: failed here, backing off below.
            replica.update(|s| {
                s.phase = Phase::Failed;
                s.last_error = Some(msg.clone());
            });
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            next = park(&inner, &replica, &mut orders, Phase::Failed, msg).await;
            (backoff_attempt, crashes) = (0, 0);
            continue;
        }
        let delay = crate::backoff::delay(backoff_attempt, policy.backoff, policy.max_backoff);
        if inner.long_running {
            tracing::warn!(server = %replica.label, "down ({reason}); restarting in {} ms", delay.as_millis());
        } else {
            tracing::info!(server = %replica.label, "down ({reason}); restarting in {} ms", delay.as_millis());
        }
        replica.update(|s| s.next_attempt = Some(Instant::now() + delay));
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        inner.changed();
        let wake = tokio::time::Instant::now() + delay;
        next = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break Next::Connect,
                _ = shutdown.cancelled() => break Next::Exit,
                order = orders.recv() => match order {
                    Some(Order::Restart) => { (backoff_attempt, crashes) = (0, 0); break Next::Connect }
                    Some(Order::Stop) => break Next::Hold,
                    Some(Order::Retire(_)) => continue,
                    None => break Next::Exit,
                },
            }
        };
        if matches!(next, Next::Connect) {
            replica.restarted();
        }
    }
    replica.update(|s| {
        s.phase = Phase::Stopped;
        s.next_attempt = None;
    });
}

/// Out of service (`phase`: failed, or stopped by the operator, with `why`) until an operator's restart — then
/// counted as a restart — or the shutdown.
async fn park(
    inner: &Inner,
    replica: &Replica,
    orders: &mut mpsc::UnboundedReceiver<Order>,
    phase: Phase,
    why: String,
) -> Next {
    replica.update(|s| {
        s.phase = phase;
        s.last_error = Some(why);
        s.next_attempt = None;
    });
    inner.changed();
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return Next::Exit,
            order = orders.recv() => match order {
                Some(Order::Restart) => {
                    replica.restarted();
                    return Next::Connect;
                }
                Some(Order::Stop | Order::Retire(_)) => continue,
                None => return Next::Exit,
            },
        }
    }
}

/// Out of service until someone logs in (`hub auth login`, seen as a change of the server's credential file,
/// checked every second), an operator's restart, or the shutdown. Never a crash loop: retrying cannot help.
async fn await_login(
    inner: &Inner,
    replica: &Replica,
    orders: &mut mpsc::UnboundedReceiver<Order>,
    ready: Option<oneshot::Sender<()>>,
    challenge: Option<String>,
) -> Next {
    let name = &replica.cfg.name;
    let why = crate::auth::login_hint(name, challenge.as_deref());
    if inner.long_running {
        tracing::warn!(server = %name, "{why}");
    } else {
        tracing::info!(server = %name, "{why}");
    }
    replica.update(|s| {
        s.phase = Phase::NeedsLogin;
        s.last_error = Some(why);
        s.next_attempt = None;
    });
    if let Some(r) = ready {
        let _ = r.send(());
    }
    inner.changed();
    let stamp = crate::auth::store::stamp(name);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return Next::Exit,
            _ = tick.tick() => if crate::auth::store::stamp(name) != stamp {
                tracing::info!(server = %name, "credentials changed: connecting again");
                return Next::Connect;
            },
            order = orders.recv() => match order {
                Some(Order::Restart) => return Next::Connect,
                Some(Order::Stop) => return Next::Hold,
                Some(Order::Retire(_)) => {}
                None => return Next::Exit,
            },
        }
    }
}

/// How a connection ended.
enum Ended {
    /// The server refused hub's authorization mid-session (with its challenge).
    NeedsLogin(Option<String>),
    /// It went down: why, and how long it had been up.
    Down(String, Duration),
    Order(Order),
    Shutdown,
}

/// Serves one live connection: marks the server up, re-lists tools on `list_changed` (one listing at a time),
/// and returns when the connection ends or breaks the protocol, an order comes, or the registry shuts down (the
/// connection is closed in all but the first case).
async fn run(
    inner: &Inner,
    replica: &Replica,
    Conn { service, mut child, fault, listing }: Conn,
    lists_changed: &Notify,
    orders: &mut mpsc::UnboundedReceiver<Order>,
    ready: Option<oneshot::Sender<()>>,
) -> Ended {
    let peer = service.peer().clone();
    let pid = child.as_ref().and_then(|c| c.id());
    log_problems(inner, replica, &listing.problems);
    replica.update(|s| s.listing = listing);
    let caps = peer.peer_info().map(|i| i.capabilities.clone());
    replica.update(|s| {
        s.phase = Phase::Up;
        // Out of rotation until the rebuild below has compared its tools with the other replicas'.
        s.mismatch = (replica.cfg.replicas.count > 1).then(|| "its tools are not compared yet".into());
        s.peer = Some(peer.clone());
        s.fault = Some(fault.clone());
        s.pid = pid;
        s.up_since = Some(Instant::now());
        s.restart_pending = false;
    });
    inner.rebuild();
    super::subscriptions::renew(&inner.host, &replica.cfg.name, &peer, replica.cfg.timeout);
    if let Some(r) = ready {
        let _ = r.send(());
    }
    let started = Instant::now();
    let ct = service.cancellation_token();
    let mut closed = tokio::spawn(service.waiting());
    let ended = loop {
        tokio::select! {
            _ = &mut closed => break None,
            _ = fault.tripped() => break Some(match fault.needs_login() {
                true => Ended::NeedsLogin(fault.challenge()),
                false => Ended::Down(fault.reason().unwrap_or_default(), started.elapsed()),
            }),
            _ = lists_changed.notified() => {
                let listed = listing::list_all(&peer, caps.as_ref(), &replica.cfg.limits, &fault);
                match tokio::time::timeout(replica.cfg.timeout, listed).await {
                    Ok(Ok(listing)) => {
                        log_problems(inner, replica, &listing.problems);
                        replica.update(|s| s.listing = listing);
                        inner.rebuild();
                    }
                    Ok(Err(e)) => tracing::warn!(server = %replica.label, "re-listing tools failed: {e}"),
                    Err(_) => tracing::warn!(server = %replica.label, "re-listing tools timed out"),
                }
            }
            Some(order) = orders.recv() => break Some(match order {
                Order::Retire(why) => Ended::Down(why, started.elapsed()),
                order => Ended::Order(order),
            }),
            _ = inner.shutdown.cancelled() => break Some(Ended::Shutdown),
        }
    };
    if let Some(ended) = ended {
        // Closed on purpose: the session first, then the child (given a moment to exit on its own).
        ct.cancel();
        stop_child(child.as_mut()).await;
        replica.update(|s| {
            s.peer = None;
            s.fault = None;
            s.pid = None;
            s.up_since = None;
            if matches!(ended, Ended::Shutdown) {
                s.phase = Phase::Stopped;
            }
        });
        return match ended {
            Ended::Down(reason, uptime) => Ended::Down(failure(replica, reason), uptime),
            other => other,
        };
    }
    let reason = if let Some(f) = fault.reason() {
        // The wire ended on a message it could not parse: the child may still be running.
        stop_child(child.as_mut()).await;
        f
    } else {
        match child.as_mut() {
            Some(c) => match tokio::time::timeout(GRACE, c.wait()).await {
                Ok(Ok(status)) => connect::describe_exit(status),
                _ => {
                    stop_child(Some(c)).await;
                    "connection closed".to_string()
                }
            },
            None => "connection closed".to_string(),
        }
    };
    replica.tail.settled(GRACE).await;
    Ended::Down(failure(replica, reason), started.elapsed())
}

/// A long-running face (serve, chat) has no stderr line per command: its operator reads the log. One-shot
/// commands print the same problems as warnings themselves (`output::warnings`).
fn log_problems(inner: &Inner, replica: &Replica, problems: &[super::Problem]) {
    if inner.long_running {
        for p in problems {
            tracing::warn!(server = %replica.label, "{p}");
        }
    }
}

/// Marks the server down with `reason` and the tail of its stderr; returns the full message.
fn failure(replica: &Replica, reason: String) -> String {
    let tail = replica.tail.summary();
    let msg = if tail.is_empty() { reason } else { format!("{reason}; stderr: {tail}") };
    replica.update(|s| {
        s.phase = Phase::Down;
        s.peer = None;
        s.fault = None;
        s.pid = None;
        s.up_since = None;
        s.last_error = Some(msg.clone());
        s.restart_pending = false;
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
