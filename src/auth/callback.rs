//! The loopback redirect of `hub auth login` (RFC 8252 §7.3): a listener on 127.0.0.1 that waits for the browser
//! to come back from the authorization server with `?code=…&state=…` (or `?error=…`). A request with another
//! `state` is answered 400 and the wait goes on — it did not come from this login — so a stray or forged request
//! cannot end it; an `error` with the right state ends it with the server's reason.
//!
//! Owns: the socket and the little HTTP it speaks (one GET per connection). Not: the token exchange (`login`).

use reqwest::Url;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the browser brought back.
#[derive(Debug)]
pub struct Returned {
    pub code: String,
    pub state: String,
    /// RFC 9207, when the authorization server sends it.
    pub iss: Option<String>,
}

/// The listener, bound before the browser is sent anywhere.
pub struct Callback {
    listener: TcpListener,
    /// As the redirect URI names it: 127.0.0.1 (the default), localhost or [::1].
    host: String,
    path: String,
}

impl Callback {
    /// Binds `redirect_uri`'s port on its loopback host (a fixed one from the config or a remembered
    /// registration), or an ephemeral port on 127.0.0.1 when there is none. `localhost` is bound as 127.0.0.1.
    pub async fn bind(redirect_uri: Option<&str>) -> Result<Callback, String> {
        let (host, port, path) = match redirect_uri.map(Url::parse) {
            Some(Ok(u)) => {
                (u.host_str().unwrap_or("127.0.0.1").to_string(), u.port().unwrap_or(0), u.path().to_string())
            }
            Some(Err(e)) => return Err(format!("bad redirect URI: {e}")),
            None => ("127.0.0.1".to_string(), 0, "/callback".to_string()),
        };
        let ip = if host == "[::1]" { "::1" } else { "127.0.0.1" };
        let listener = TcpListener::bind((ip, port))
            .await
            .map_err(|e| format!("cannot listen on {host}:{port} for the redirect: {e}"))?;
        Ok(Callback { listener, host, path })
    }

    /// The redirect URI this listener answers (the host as configured, the port as bound).
    pub fn redirect_uri(&self) -> String {
        let port = self.listener.local_addr().map(|a| a.port()).unwrap_or_default();
        format!("http://{}:{port}{}", self.host, self.path)
    }

    /// Waits for the redirect carrying `state`, up to `timeout`.
    pub async fn wait(&self, state: &str, timeout: Duration) -> Result<Returned, String> {
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else { continue };
                if let Some(outcome) = self.serve(stream, state).await {
                    return outcome;
                }
            }
        });
        waited.await.map_err(|_| {
            format!(
                "no authorization came back within {} s (run the login again; --timeout waits longer)",
                timeout.as_secs()
            )
        })?
    }

    /// Answers one request; `Some` when it ends the wait.
    async fn serve(&self, mut stream: TcpStream, state: &str) -> Option<Result<Returned, String>> {
        let target = read_target(&mut stream).await?;
        let url = Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
        if url.path() != self.path {
            respond(&mut stream, "404 Not Found", "Not the authorization callback.").await;
            return None;
        }
        let get = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
        if get("state").as_deref() != Some(state) {
            tracing::warn!("authorization callback with a state that is not this login's: refused");
            respond(&mut stream, "400 Bad Request", "This response does not belong to the login in progress.").await;
            return None;
        }
        if let Some(error) = get("error") {
            let detail = get("error_description").map(|d| format!(" ({d})")).unwrap_or_default();
            respond(&mut stream, "200 OK", "Authorization was not granted. You can close this window.").await;
            return Some(Err(format!("the authorization server answered {error}{detail}")));
        }
        let Some(code) = get("code") else {
            respond(&mut stream, "400 Bad Request", "The response carries no authorization code.").await;
            return Some(Err("the authorization server sent no code".into()));
        };
        respond(&mut stream, "200 OK", "hub is authorized. You can close this window.").await;
        Some(Ok(Returned { code, state: state.to_string(), iss: get("iss") }))
    }
}

/// The request target of a GET (`/callback?…`), read within 10 s and 16 KiB; `None` for anything else.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.ok()??;
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Some(target.to_string()),
        _ => {
            respond(stream, "405 Method Not Allowed", "Only the authorization redirect is served here.").await;
            None
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><title>hub</title><p>{text}</p>\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
