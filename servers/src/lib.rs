//! The five business MCP servers shipped with hub — crm, tickets, payments, calendar, analytics — plus
//! `testkit`, a server of deliberately awkward tools (slow, failing, crashing, many) used by hub's own tests
//! and benchmarks.
//!
//! Layout:
//! - `demo`     the one deterministic demo dataset all five share (same customer ids everywhere)
//! - `store`    each server's own SQLite file: location, WAL, first-start seeding
//! - `validate` input checks that name the field, and the `Fail` tool error
//! - `crm`, `tickets`, `payments`, `calendar`, `analytics`: one module per server (tools + schema + seed)
//! - `records`  each server's records as resources (`customer://{id}`…), read through its own lookup tools
//! - `testkit`  the test server
//! - `badkit`   a hand-rolled server that breaks the protocol on purpose (reliability tests)
//! - `replay`   serves a captured third-party tool catalog back (tool-search tests and benchmarks)
//! - `process`  the server process: `hub-server NAME` (a binary of its own) or `hub server NAME`
//!
//! Each server runs as its own process over stdio (`hub-server NAME`, or `hub server NAME`); stdout is the
//! protocol, logs go to stderr.

pub mod analytics;
pub mod badkit;
pub mod calendar;
pub mod crm;
pub mod demo;
pub mod payments;
pub mod process;
pub mod prompts;
pub mod records;
pub mod replay;
pub mod store;
pub mod testkit;
pub mod tickets;
pub mod validate;

use rmcp::ServiceExt;

/// The business servers, in the order servers.toml lists them.
pub const SERVERS: [&str; 5] = ["crm", "tickets", "payments", "calendar", "analytics"];

/// Runs server `name` over stdio until the client closes the connection.
pub async fn run(name: &str) -> anyhow::Result<()> {
    match name {
        "crm" => serve(crm::Crm::open()?).await,
        "tickets" => serve(tickets::Tickets::open()?).await,
        "payments" => serve(payments::Payments::open()?).await,
        "calendar" => serve(calendar::Calendar::open()?).await,
        "analytics" => serve(analytics::Analytics::open()?).await,
        "testkit" => serve(testkit::Testkit::from_env()).await,
        "badkit" => Ok(badkit::run()?),
        "replay" => serve(replay::Replay::from_env()?).await,
        other => anyhow::bail!(process::unknown(other)),
    }
}

/// The tool definitions business server `name` ships with (None for any other name).
pub fn definitions(name: &str) -> Option<Vec<rmcp::model::Tool>> {
    match name {
        "crm" => Some(crm::Crm::definitions()),
        "tickets" => Some(tickets::Tickets::definitions()),
        "payments" => Some(payments::Payments::definitions()),
        "calendar" => Some(calendar::Calendar::definitions()),
        "analytics" => Some(analytics::Analytics::definitions()),
        _ => None,
    }
}

/// Serves over stdin/stdout driven by the IO reactor when they are pipes (as a client launches a server), not
/// by tokio's blocking pool, which hands every read and write to another thread (BENCHMARKS.md, issue 20).
async fn serve<S: rmcp::ServerHandler>(server: S) -> anyhow::Result<()> {
    let running = server.serve(rmcp::transport::io::stdio_pipes()).await?;
    running.waiting().await?;
    Ok(())
}
