//! The frame every registry-backed command runs in: start the registry from the resolved config, refuse to run
//! when a required server is down, run the command under the one `Shutdown`, and always stop the children —
//! on success, error and signal alike. Also reading a whole argument from stdin (`-`), which several commands do.
//!
//! Sits below the front ends (ask, chat, triage, serve, and the small commands): none of them reaches up into
//! `cli` or `commands`.

use crate::config::Config;
use crate::exit::{self, Failure};
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use std::future::Future;

/// Whether the command winds itself down on shutdown, or the frame ends it with exit 130.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// The frame stops the command at once (exit 130): tools, call, status.
    Stop,
    /// The command watches the shutdown itself and ends gracefully: ask, chat, triage, serve.
    Graceful,
}

/// Starts the registry, runs `f`, shuts the registry down.
pub async fn with_registry<F, Fut>(config: &Config, shutdown: &Shutdown, on_signal: OnSignal, f: F) -> exit::Result<u8>
where
    F: FnOnce(Registry) -> Fut,
    Fut: Future<Output = exit::Result<u8>>,
{
    // Startup is bounded by each server's startup timeout; a signal meanwhile is seen right after it.
    let registry = crate::attach::start(config).await?;
    // Until the face says otherwise (chat: a person; the gateway: each call's client), no one is present.
    registry.set_origin(std::sync::Arc::new(crate::sampling::Headless(crate::sampling::Sampler::new(config))));
    let down = registry.required_down();
    let result = if shutdown.is_cancelled() {
        Err(interrupted())
    } else if let Some((name, reason)) = down.first() {
        Err(Failure::usage(format!("required server '{name}' is not available: {reason}")))
    } else {
        let signal = async {
            match on_signal {
                OnSignal::Stop => shutdown.cancelled().await,
                OnSignal::Graceful => std::future::pending().await,
            }
        };
        tokio::select! {
            r = f(registry.clone()) => r,
            _ = signal => Err(interrupted()),
        }
    };
    registry.shutdown().await;
    result
}

pub fn interrupted() -> Failure {
    Failure { code: exit::INTERRUPTED, message: "interrupted".into() }
}

/// All of stdin as text; `what` names it in the error ("the question", "arguments").
pub fn read_stdin(what: &str) -> exit::Result<String> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .map_err(|e| Failure::usage(format!("cannot read {what} from stdin: {e}")))?;
    Ok(s)
}
