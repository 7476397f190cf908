//! The stdio wire to one server, and what happens when the server breaks the protocol on it.
//!
//! rmcp's own stdio transport skips a line it cannot parse (and drops one over its size cap), so the request it
//! answered waits out its timeout and nobody learns why. Here an unparsable message is a protocol error of the
//! server: the `Fault` is tripped with what was wrong (which message, its size, the parser's reason), the
//! transport ends — every pending request fails at once — and the supervisor marks the server down with that
//! reason and restarts it per its policy. Notifications hub does not know are still ignored (JSON-RPC allows
//! them), as rmcp does.
//!
//! More happens at the wire, where it is cheapest: replies to `tools/call` and `tools/list` are read straight
//! into their type (`pending`; a listing with at most `max_tools + 1` entries built, `capped`), and `tools/list_changed` notifications wake the supervisor
//! directly (coalesced by its `Notify`) instead of each becoming a task in rmcp's service loop.
//!
//! Owns: newline-delimited JSON-RPC framing over the child's pipes, the message size cap, the `Fault` latch
//! (also tripped by the call path for HTTP servers, see `fault_of`).

pub mod barrier;
mod capped;
mod pending;

use rmcp::RoleClient;
use rmcp::model::{JsonRpcMessage, ServerNotification};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The first protocol error of one connection: set once, seen by the supervisor, the listing and the calls.
/// It also carries the connection's progress barrier (`barrier`), shared by the same parties.
#[derive(Clone, Default)]
pub struct Fault {
    reason: Arc<Mutex<Option<String>>>,
    tripped: CancellationToken,
    pub progress: barrier::Barrier,
    /// The server refused hub's authorization (HTTP 401 after any refresh) with this challenge: it needs a
    /// login, not a restart.
    login: Arc<Mutex<Option<String>>>,
}

impl Fault {
    /// Records `reason` (the first one wins) and wakes whoever waits on `tripped`.
    pub fn trip(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            tracing::info!("protocol error: {reason}");
            *r = Some(reason);
        }
        self.tripped.cancel();
    }
    /// The server refused the authorization: the connection is over until someone logs in (`crate::auth`).
    pub fn refuse_authorization(&self, challenge: String) {
        *self.login.lock().unwrap_or_else(|p| p.into_inner()) = Some(challenge);
        self.trip("the server refused hub's authorization (HTTP 401)".into());
    }
    pub fn needs_login(&self) -> bool {
        self.challenge().is_some()
    }
    /// The `WWW-Authenticate` challenge of the refusal (it may name the scope to ask for).
    pub fn challenge(&self) -> Option<String> {
        self.login.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub async fn tripped(&self) {
        self.tripped.cancelled().await
    }
}

/// The protocol error behind a failed request to an HTTP server, if that is why it failed (see `fault_of_http`).
pub fn fault_of(e: &rmcp::service::ServiceError) -> Option<String> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let rmcp::service::ServiceError::TransportSend(t) = e else { return None };
    fault_of_http(t.error.downcast_ref::<StreamableHttpError<reqwest::Error>>()?)
}

/// Whether an HTTP transport error is a protocol error of the server: a reply that is not JSON-RPC (not JSON,
/// not UTF-8, nested too deep, the wrong shape) or over the transport's size cap. HTTP statuses, timeouts and
/// connection errors are not.
pub fn fault_of_http(
    e: &rmcp::transport::streamable_http_client::StreamableHttpError<reqwest::Error>,
) -> Option<String> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    match e {
        StreamableHttpError::ResponseBodyTooLarge { max_size } => {
            Some(format!("a reply is larger than {max_size} bytes (the HTTP transport's cap)"))
        }
        StreamableHttpError::Deserialize(e) => Some(format!("a reply is not a JSON-RPC message: {e}")),
        StreamableHttpError::UnexpectedServerResponse(m) => {
            let detail = m.strip_prefix("could not parse JSON response as ServerJsonRpcMessage: ")?;
            Some(format!("a reply is not a JSON-RPC message: {detail}"))
        }
        _ => None,
    }
}

/// Newline-delimited JSON-RPC over a child's stdout/stdin, with a cap on one message.
pub struct Wire {
    read: BufReader<ChildStdout>,
    line: Vec<u8>,
    write: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    max: usize,
    /// Entries of a `tools/list` reply that are built (the rest are skipped unread).
    keep: usize,
    /// The `tools/list` and `tools/call` requests sent and not answered yet.
    pending: pending::Pending,
    lists_changed: Arc<Notify>,
    /// Messages received so far (the number of the bad one goes into the report).
    count: u64,
    fault: Fault,
}

/// What the wire is given besides the pipes.
pub struct Options {
    pub max_message_bytes: usize,
    pub max_tools: usize,
    pub lists_changed: Arc<Notify>,
    pub fault: Fault,
}

impl Wire {
    pub fn new(stdout: ChildStdout, stdin: ChildStdin, o: Options) -> Wire {
        Wire {
            read: BufReader::new(stdout),
            line: Vec::new(),
            write: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            max: o.max_message_bytes,
            keep: o.max_tools.saturating_add(1),
            pending: pending::Pending::default(),
            lists_changed: o.lists_changed,
            count: 0,
            fault: o.fault,
        }
    }

    /// The message in `self.line`: `Ok(None)` for a line to skip (blank, an unknown notification, a
    /// `list_changed` passed to the supervisor).
    #[allow(deprecated)] // logging's params: see `host`
    fn decode(&self) -> Result<Option<RxJsonRpcMessage<RoleClient>>, String> {
        let Some(text) = text_of(&self.line, self.count)? else { return Ok(None) };
        let renamed = super::lent::rename(text);
        let text = renamed.as_deref().unwrap_or(text);
        let mut msg = match self.pending.reply(text, self.keep) {
            Some(msg) => msg,
            None => match parse_text(text, self.count)? {
                Some(msg) => self.pending.answered(msg),
                None => return Ok(None),
            },
        };
        if let JsonRpcMessage::Notification(n) = &mut msg {
            let meta = match &mut n.notification {
                ServerNotification::ProgressNotification(p) => Some(&mut p.params.meta),
                ServerNotification::LoggingMessageNotification(m) => Some(&mut m.params.meta),
                _ => None,
            };
            if let Some(meta) = meta {
                let seq = self.fault.progress.arrived();
                meta.get_or_insert_with(Default::default).0.insert(barrier::SEQ.into(), seq.into());
            }
        }
        if let JsonRpcMessage::Notification(n) = &msg
            && matches!(
                n.notification,
                ServerNotification::ToolListChangedNotification(_)
                    | ServerNotification::ResourceListChangedNotification(_)
                    | ServerNotification::PromptListChangedNotification(_)
            )
        {
            self.lists_changed.notify_one();
            return Ok(None);
        }
        Ok(Some(msg))
    }

    /// Reads one line into `self.line` without letting it pass the cap. `Ok(false)`: end of stream.
    /// Cancellation-safe: a partial line stays in `self.line` for the next call.
    async fn read_line(&mut self) -> Result<bool, String> {
        loop {
            let available = self.read.fill_buf().await.map_err(|e| format!("reading its stdout failed: {e}"))?;
            if available.is_empty() {
                return Ok(false);
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            if self.line.len() + take > self.max + 1 {
                let seen = self.line.len() + take;
                return Err(format!(
                    "message {} is larger than {} bytes (limits.max_message_bytes); {seen} bytes read{}",
                    self.count + 1,
                    self.max,
                    if newline.is_some() { "" } else { " without its end" }
                ));
            }
            self.line.extend_from_slice(&available[..take]);
            self.read.consume(take);
            if newline.is_some() {
                return Ok(true);
            }
        }
    }
}

/// The line as text without its line end and byte-order mark; `None` when it is blank.
fn text_of(line: &[u8], number: u64) -> Result<Option<&str>, String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let size = line.len();
    std::str::from_utf8(line).map(Some).map_err(|e| {
        format!("message {number} ({size} bytes) is not valid UTF-8: invalid byte at offset {}", e.valid_up_to())
    })
}

fn parse_text(text: &str, number: u64) -> Result<Option<RxJsonRpcMessage<RoleClient>>, String> {
    let size = text.len();
    match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(text) {
        Ok(msg) => Ok(Some(msg)),
        Err(e) => {
            let value = serde_json::from_str::<serde_json::Value>(text);
            if let Ok(v) = &value
                && v.get("id").is_none()
                && v.get("method").is_some_and(serde_json::Value::is_string)
            {
                // A notification hub does not know: JSON-RPC lets a client ignore it.
                return Ok(None);
            }
            let what = match &value {
                Err(_) if e.to_string().contains("recursion limit") => "nests deeper than 128 levels",
                Err(_) => "is not JSON",
                Ok(_) => "is not a JSON-RPC message hub understands",
            };
            Err(format!("message {number} ({size} bytes) {what}: {e}; it starts: {}", preview(text)))
        }
    }
}

/// The first 80 characters of a bad message, for the report.
fn preview(text: &str) -> String {
    let cut: String = text.chars().take(80).collect();
    if cut.len() < text.len() { format!("{cut}…") } else { cut }
}

impl Transport<RoleClient> for Wire {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.pending.sent(&item);
        let write = self.write.clone();
        let line = serde_json::to_vec(&super::lent::initialize(item)).map(|mut l| {
            l.push(b'\n');
            l
        });
        async move {
            let line = line.map_err(std::io::Error::other)?;
            let mut w = write.lock().await;
            let Some(stdin) = w.as_mut() else {
                return Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "the server's stdin is closed"));
            };
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.fault.trip(e);
                    return None;
                }
            }
            self.count += 1;
            let parsed = self.decode();
            self.line.clear();
            match parsed {
                Ok(Some(msg)) => return Some(msg),
                Ok(None) => continue,
                Err(e) => {
                    self.fault.trip(e);
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{RoleClient, RxJsonRpcMessage, parse_text, text_of};

    /// What is wrong with one line, or the message it holds (`Ok(None)`: a line to skip).
    fn parse(line: &[u8], number: u64) -> Result<Option<RxJsonRpcMessage<RoleClient>>, String> {
        match text_of(line, number)? {
            Some(text) => parse_text(text, number),
            None => Ok(None),
        }
    }

    #[test]
    fn each_kind_of_bad_message_is_named() {
        let utf8 = parse(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\xff\"}\n", 2).unwrap_err();
        assert!(utf8.contains("message 2") && utf8.contains("not valid UTF-8") && utf8.contains("offset 34"), "{utf8}");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep = parse(deep.as_bytes(), 3).unwrap_err();
        assert!(deep.contains("deeper than 128") && deep.contains("200000 bytes"), "{deep}");
        let junk = parse(b"Server started on stdio\n", 1).unwrap_err();
        assert!(junk.contains("is not JSON") && junk.contains("Server started"), "{junk}");
        let shape = parse(br#"{"jsonrpc":"2.0","id":1}"#, 4).unwrap_err();
        assert!(shape.contains("not a JSON-RPC message"), "{shape}");
    }

    #[test]
    fn blank_lines_and_unknown_notifications_are_skipped() {
        assert!(parse(b"\r\n", 1).unwrap().is_none());
        assert!(parse(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":5}"#, 1).unwrap().is_none());
        assert!(parse(br#"{"jsonrpc":"2.0","method":"vendor/heartbeat"}"#, 1).is_ok());
        assert!(parse(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#, 1).unwrap().is_some());
    }
}
