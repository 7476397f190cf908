//! Dynamic shell completion (clap_complete's engine, driven by `HUB_COMPLETE=<shell> hub -- <words>`): the
//! values only a live setup knows — tool names for `hub call`, server names for `hub status`, `hub restart`,
//! `hub auth login`/`logout`, resource URIs for `hub read`, prompt names for `hub prompt` — completed from the
//! configuration the command line would load (`--config` on the line being completed, else the usual lookup).
//!
//! Server names come from the configuration alone. Tools come from a running hub when one answers on its socket
//! (instant), else — like resources and prompts — from the servers started as `hub tools` would start them,
//! bounded by a short budget: whatever answered within it is offered. A completion never prints an error: a broken setup completes nothing.

use crate::attach::Hub;
use crate::config;
use crate::registry::Registry;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use std::time::Duration;

/// The environment variable the registration scripts set when they ask hub for candidates.
pub const VAR: &str = "HUB_COMPLETE";

/// How long a TAB may wait for the servers' listings.
const BUDGET: Duration = Duration::from_secs(3);

/// Answers a completion request and exits when the shell made one; returns otherwise.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(super::command).var(VAR).complete();
}

/// The candidates `f` gives, attached to an argument (`#[arg(add = live(complete::tools))]`).
pub fn live(f: fn() -> Vec<CompletionCandidate>) -> ArgValueCandidates {
    ArgValueCandidates::new(f)
}

/// The configuration the completed command line would load.
fn load() -> Option<config::Config> {
    let words: Vec<String> = std::env::args().skip_while(|a| a != "--").collect();
    let explicit = words.windows(2).find(|w| w[0] == "--config").map(|w| std::path::PathBuf::from(&w[1]));
    let explicit =
        explicit.or_else(|| words.iter().find_map(|w| w.strip_prefix("--config=")).map(std::path::PathBuf::from));
    config::load(explicit.as_deref(), &config::Overrides::default()).ok()
}

pub fn servers() -> Vec<CompletionCandidate> {
    let Some(config) = load() else { return Vec::new() };
    config.servers.iter().map(|s| CompletionCandidate::new(&s.name)).collect()
}

/// Takes what `pick` wants from the listings: a running hub's (for tools, when `hub` is `Auto` and one answers),
/// else those of the servers started for it (bounded) and stopped after.
fn listed(hub: Hub, pick: fn(&Registry) -> Vec<CompletionCandidate>) -> Vec<CompletionCandidate> {
    let Some(config) = load() else { return Vec::new() };
    let config = config::Config { hub, ..config };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Ok(Ok(registry)) = tokio::time::timeout(BUDGET, crate::attach::start(&config)).await else {
            return Vec::new();
        };
        let found = pick(&registry);
        registry.shutdown().await;
        found
    })
}

pub fn tools() -> Vec<CompletionCandidate> {
    listed(Hub::Auto, |r| {
        r.index()
            .entries()
            .iter()
            .map(|e| {
                let first = e.description().lines().next().unwrap_or("").to_string();
                CompletionCandidate::new(&e.name).help(Some(first.into()))
            })
            .collect()
    })
}

// An attached registry lists tools only: resources and prompts come from the servers.
pub fn resources() -> Vec<CompletionCandidate> {
    listed(Hub::Off, |r| {
        let fixed = r.resources().into_iter().map(|(_, res)| CompletionCandidate::new(&res.uri));
        // A template completes to its fixed part (`customer://{id}` → `customer://`); the rest is the user's.
        let templates = r.templates().into_iter().map(|(_, t)| {
            let prefix = t.uri_template.split('{').next().unwrap_or_default().to_string();
            CompletionCandidate::new(prefix).help(Some(t.uri_template.clone().into()))
        });
        fixed.chain(templates).collect()
    })
}

pub fn prompts() -> Vec<CompletionCandidate> {
    listed(Hub::Off, |r| r.prompts().into_iter().map(|p| CompletionCandidate::new(p.name)).collect())
}
