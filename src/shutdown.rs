//! The one place SIGINT and SIGTERM become cancellation. `Shutdown::listen` is called once per run (by `cli`)
//! and handed to every front end: SIGTERM always cancels the token; SIGINT cancels it too, except in a face
//! that owns Ctrl-C (the REPL, where it cancels the running turn): there it is delivered by `interrupt()`.
//!
//! Owns: signal handling. Not: what a face does when cancelled (each front end decides how to wind down).

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Shutdown {
    token: CancellationToken,
    /// The number of SIGINTs seen by a face that owns Ctrl-C.
    interrupts: watch::Receiver<u64>,
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM (inside the runtime). With `owns_sigint`, SIGINT does not cancel:
    /// it is counted and reported by `interrupt()`.
    pub fn listen(owns_sigint: bool) -> Shutdown {
        use tokio::signal::unix::{SignalKind, signal};
        let token = CancellationToken::new();
        let (count, interrupts) = watch::channel(0u64);
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                let token = token.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = int.recv() => if owns_sigint { count.send_modify(|n| *n += 1) } else { break },
                            _ = term.recv() => break,
                        }
                    }
                    token.cancel();
                });
            }
            (Err(e), _) | (_, Err(e)) => tracing::warn!("cannot listen for signals: {e}"),
        }
        Shutdown { token, interrupts }
    }

    /// A shutdown that only its token cancels (tests, embedding).
    pub fn manual(token: CancellationToken) -> Shutdown {
        Shutdown { token, interrupts: watch::channel(0).1 }
    }

    /// The token every part of the run watches; cancelled by SIGTERM (and SIGINT unless the face owns it).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// The next SIGINT, for a face that owns Ctrl-C; never returns otherwise.
    pub async fn interrupt(&mut self) {
        if self.interrupts.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
