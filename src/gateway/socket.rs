//! The gateway's Unix socket: the same MCP endpoint and REST API as its HTTP port, for this user's own processes
//! (`hub ask`, `call`, `tools`… attach to it, see `attach`). The socket file is the credential: its directory is
//! 0700 and the socket 0600, so no token is asked; requests are treated as coming from loopback.
//!
//! Binding never steals a live hub's socket: a path that answers a connection is refused ("another hub serves
//! it"); a stale file left by a hub that died is replaced. The file is removed when the gateway stops.

use super::{Gateway, guard::Guards, rest};
use crate::exit::{self, Failure};
use axum::extract::connect_info::MockConnectInfo;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

/// A bound socket; the file goes away with it.
pub struct Bound {
    listener: Option<UnixListener>,
    path: PathBuf,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` (creating its directory 0700), mode 0600.
pub async fn bind(path: &Path) -> exit::Result<Bound> {
    let failed = |what: &str, e: std::io::Error| Failure::runtime(format!("cannot {what} {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir).map_err(|e| failed("create the directory of", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| failed("protect the directory of", e))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(Failure::usage(format!(
                "another hub serves {} already: stop it, or use --socket PATH or --no-socket",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| failed("remove the stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| failed("listen on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| failed("protect", e))?;
    Ok(Bound { listener: Some(listener), path: path.to_path_buf() })
}

/// Serves the gateway on the socket until the gateway shuts down; the file is removed then.
pub fn serve(mut bound: Bound, gateway: Arc<Gateway>, guards: &Guards) -> JoinHandle<()> {
    let guards = Guards {
        token: None,
        identities: vec![],
        jwt: false,
        rate: None,
        allowed_hosts: super::browser::LOOPBACK.iter().map(|h| h.to_string()).collect(),
        ..guards.clone()
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let app = rest::router(gateway.clone(), guards, None).layer(MockConnectInfo(loopback));
    let stop = gateway.shutdown.clone();
    tokio::spawn(async move {
        let Some(listener) = bound.listener.take() else { return };
        let served = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
        if let Err(e) = served {
            tracing::error!("unix socket {}: {e}", bound.path.display());
        }
        drop(bound);
    })
}
