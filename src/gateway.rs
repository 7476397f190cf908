//! `hub serve`: the gateway. All tools of all servers as ONE MCP server (stdio and/or streamable HTTP at /mcp)
//! plus a small REST API on the same port, over one set of upstream connections shared by every client.
//!
//! Binds 127.0.0.1 by default; a non-loopback bind needs a token. Shuts down gracefully on SIGINT/SIGTERM:
//! stops accepting, lets in-flight calls finish (bounded), then the registry stops the children.

pub mod mcp;
pub mod rest;
pub mod stats;

use crate::exit::{self, Failure};
use crate::registry::{CallError, Registry};
use rmcp::ServiceExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Gateway {
    pub registry: Registry,
    pub stats: stats::Stats,
    pub sessions: mcp::Sessions,
    pub started: Instant,
    pub shutdown: CancellationToken,
}

/// The metrics label of a failed call.
pub fn outcome(e: &CallError) -> &'static str {
    match e {
        CallError::UnknownTool { .. } => "unknown_tool",
        CallError::Down { .. } => "server_down",
        CallError::Timeout { .. } => "timeout",
        CallError::Cancelled { .. } => "cancelled",
        CallError::Protocol { .. } => "protocol_error",
    }
}

pub struct ServeArgs {
    pub http: Option<String>,
    pub stdio: bool,
    pub token: Option<String>,
    pub audit: Option<PathBuf>,
    pub body_limit: usize,
    pub rate_limit: Option<f64>,
    pub allow_hosts: Vec<String>,
    pub allow_origins: Vec<String>,
}

pub async fn serve(registry: Registry, a: ServeArgs) -> exit::Result<u8> {
    let http = match (&a.http, a.stdio) {
        (Some(addr), _) => Some(addr.clone()),
        (None, true) => None,
        (None, false) => Some("127.0.0.1:8080".to_string()),
    };
    let stats = stats::Stats::new(a.audit.as_deref()).map_err(|e| {
        Failure::usage(format!(
            "cannot open the audit log {}: {e}",
            a.audit.as_deref().unwrap_or_else(|| "".as_ref()).display()
        ))
    })?;
    let gateway = Arc::new(Gateway {
        registry: registry.clone(),
        stats,
        sessions: mcp::Sessions::default(),
        started: Instant::now(),
        shutdown: CancellationToken::new(),
    });
    // Tell every MCP session when servers or tools change.
    let mut changes = registry.subscribe();
    let sessions = gateway.sessions.clone();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            sessions.notify_all().await;
        }
    });

    let mut http_task = None;
    if let Some(addr) = http {
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| Failure::usage(format!("--http: '{addr}' is not an address like 127.0.0.1:8080")))?;
        let loopback = addr.ip().is_loopback();
        if !loopback && a.token.is_none() {
            return Err(Failure::usage(format!(
                "refusing to bind {addr} (not loopback) without a token: set --token or HUB_TOKEN"
            )));
        }
        let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        if !loopback {
            hosts.push(addr.ip().to_string());
        }
        hosts.extend(a.allow_hosts.iter().cloned());
        let guards = rest::Guards {
            token: a.token.clone(),
            body_limit: a.body_limit,
            rate: match a.rate_limit {
                Some(r) if r > 0.0 => Some(r),
                Some(_) => None,
                None if loopback => None,
                None => Some(50.0),
            },
            allowed_hosts: hosts,
            allowed_origins: a.allow_origins.clone(),
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::runtime(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
        eprintln!("hub serve: http://{bound} — MCP at /mcp; REST at /tools /call /status /healthz /metrics");
        let app = rest::router(gateway.clone(), guards).into_make_service_with_connect_info::<SocketAddr>();
        let stop = gateway.shutdown.clone();
        http_task = Some(tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        }));
    }
    let stdio_task = a.stdio.then(|| {
        let hub = mcp::Hub { gateway: gateway.clone(), via: "mcp-stdio" };
        tokio::spawn(async move {
            match hub.serve(rmcp::transport::stdio()).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(e) => tracing::error!("stdio MCP session failed: {e}"),
            }
        })
    });
    // Run until a signal, or until the stdio client goes away (when stdio is the only face).
    tokio::select! {
        _ = crate::commands::interrupted() => eprintln!("hub serve: shutting down"),
        _ = async {
            match stdio_task {
                Some(t) if http_task.is_none() => { let _ = t.await; }
                _ => std::future::pending::<()>().await,
            }
        } => {}
    }
    gateway.shutdown.cancel();
    if let Some(t) = http_task
        && let Ok(Ok(Err(e))) = tokio::time::timeout(DRAIN, t).await
    {
        tracing::error!("http server: {e}");
    }
    Ok(exit::OK)
}
