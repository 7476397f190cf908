//! The requests sent on one wire whose reply has a known type, so that the reply is read straight into it.
//!
//! rmcp reads a reply as `ServerResult`, an untagged union of some twenty result types tried in turn — a
//! `tools/call` result is the sixteenth, after fifteen failed attempts that each buffer the message and build an
//! error text (the largest single cost of a call's reply in a profile of `hub serve`, BENCHMARKS.md issue 20).
//! A reply to a `tools/call` this wire sent is read as a `CallToolResult` directly; a `tools/list` reply is read
//! with its entries capped (`capped`). Anything else, or a reply that does not fit its request's type (an
//! error, a task handle, a stray field), takes rmcp's general path, so what rmcp would make of it is unchanged.
//!
//! Owns: the pending ids by kind, forgotten when answered (whichever way the reply was read) or cancelled, and
//! bounded.

use super::capped;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolResult, ClientNotification, ClientRequest, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0, RequestId,
    ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Ids remembered per kind at most: past this (requests that timed out without a cancellation reaching the
/// wire), the set starts again — an id no longer in it only means its reply takes the general path.
const MAX_PENDING: usize = 4096;

#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<Sets>>);

#[derive(Default)]
struct Sets {
    listings: HashSet<RequestId>,
    calls: HashSet<RequestId>,
}

/// A reply read as the result of a `tools/call`; `error` and `method` are there to refuse a message that is
/// not a plain reply (rmcp's shape check).
#[derive(serde::Deserialize)]
struct CallReply {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    result: CallToolResult,
    error: Option<serde::de::IgnoredAny>,
    method: Option<serde::de::IgnoredAny>,
}

impl Pending {
    fn sets(&self) -> std::sync::MutexGuard<'_, Sets> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes what `item`, about to be written, asks for (or gives up on).
    pub fn sent(&self, item: &TxJsonRpcMessage<RoleClient>) {
        let remember = |set: &mut HashSet<RequestId>, id: &RequestId| {
            if set.len() >= MAX_PENDING {
                set.clear();
            }
            set.insert(id.clone());
        };
        match item {
            JsonRpcMessage::Request(r) => match &r.request {
                ClientRequest::ListToolsRequest(_) => remember(&mut self.sets().listings, &r.id),
                ClientRequest::CallToolRequest(_) => remember(&mut self.sets().calls, &r.id),
                _ => {}
            },
            JsonRpcMessage::Notification(n) => {
                if let ClientNotification::CancelledNotification(c) = &n.notification
                    && let Some(id) = &c.params.request_id
                {
                    let mut sets = self.sets();
                    sets.calls.remove(id);
                    sets.listings.remove(id);
                }
            }
            _ => {}
        }
    }

    /// `msg`, read the general way, with its id forgotten if it answers a pending request (an error reply, or a
    /// result that did not read as its request's type).
    pub fn answered(&self, msg: RxJsonRpcMessage<RoleClient>) -> RxJsonRpcMessage<RoleClient> {
        let id = match &msg {
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            _ => None,
        };
        if let Some(id) = id {
            let mut sets = self.sets();
            if !sets.calls.is_empty() || !sets.listings.is_empty() {
                sets.calls.remove(id);
                sets.listings.remove(id);
            }
        }
        msg
    }

    /// `text` read as the reply to a pending `tools/call` or `tools/list` (entries capped to `keep`); `None`
    /// when it is not one, for the general path.
    pub fn reply(&self, text: &str, keep: usize) -> Option<RxJsonRpcMessage<RoleClient>> {
        let (calls, listings) = {
            let sets = self.sets();
            (!sets.calls.is_empty(), !sets.listings.is_empty())
        };
        if calls && let Ok(r) = serde_json::from_str::<CallReply>(text) {
            if r.error.is_some() || r.method.is_some() || !self.sets().calls.remove(&r.id) {
                return None;
            }
            let result = ServerResult::CallToolResult(r.result);
            return Some(JsonRpcMessage::Response(JsonRpcResponse { jsonrpc: r.jsonrpc, id: r.id, result }));
        }
        if !listings {
            return None;
        }
        let value = capped::parse(text, keep)?;
        let id: RequestId = serde_json::from_value(value.get("id")?.clone()).ok()?;
        if !self.sets().listings.remove(&id) {
            return None;
        }
        serde_json::from_value(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, NumberOrString};

    fn call(id: i64) -> ClientJsonRpcMessage {
        let params = CallToolRequestParams::new("echo");
        ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(rmcp::model::Request::new(params)),
            NumberOrString::Number(id),
        )
    }

    /// `msg` as JSON, to compare (rmcp's messages are not `PartialEq`).
    fn json(msg: &RxJsonRpcMessage<RoleClient>) -> serde_json::Value {
        serde_json::to_value(msg).unwrap()
    }

    #[test]
    fn a_call_reply_is_read_as_rmcp_would_read_it() {
        let p = Pending::default();
        p.sent(&call(7));
        let text = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#;
        let general: RxJsonRpcMessage<RoleClient> = serde_json::from_str(text).unwrap();
        let typed = p.reply(text, 10).expect("read as a call result");
        assert!(matches!(&typed, JsonRpcMessage::Response(r) if matches!(r.result, ServerResult::CallToolResult(_))));
        assert_eq!(json(&typed), json(&general));
        // Answered: a second reply with the same id takes the general path.
        assert!(p.reply(text, 10).is_none());
    }

    #[test]
    fn what_is_not_a_plain_call_result_takes_the_general_path() {
        let p = Pending::default();
        p.sent(&call(1));
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]},"error":{"code":1,"message":"both"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#,
        ] {
            assert!(p.reply(text, 10).is_none(), "{text}");
        }
    }

    #[test]
    fn a_call_answered_with_an_error_is_forgotten() {
        let p = Pending::default();
        p.sent(&call(5));
        let error = r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"unknown tool"}}"#;
        assert!(p.reply(error, 10).is_none());
        assert!(p.sets().calls.contains(&NumberOrString::Number(5)));
        p.answered(serde_json::from_str(error).unwrap());
        assert!(p.sets().calls.is_empty());
    }

    #[test]
    fn a_cancelled_call_is_forgotten_and_the_sets_stay_bounded() {
        let p = Pending::default();
        p.sent(&call(3));
        let cancel: ClientJsonRpcMessage = serde_json::from_str(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"timeout"}}"#,
        )
        .unwrap();
        p.sent(&cancel);
        assert!(p.reply(r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#, 10).is_none());
        for id in 0..(MAX_PENDING as i64 + 10) {
            p.sent(&call(id));
        }
        assert!(p.sets().calls.len() <= MAX_PENDING);
    }
}
