//! Listing one server's tools: every page, each entry checked (`vet`), up to `limits.max_tools`.
//!
//! rmcp's `list_all_tools` drops a whole page when one entry does not parse (the reply no longer matches a tool
//! list) and follows pages without end. Here a page that does not parse as a whole is read entry by entry, the
//! listing stops at the cap (without asking for further pages) and on a cursor it has seen before, and a protocol
//! error of the server ends it at once with the server's fault.

use super::vet::{self, Action, Problem};
use super::wire::Fault;
use crate::config::Limits;
use rmcp::model::{
    ClientRequest, CustomResult, ListToolsRequest, ListToolsResult, PaginatedRequestParams, ServerResult, Tool,
};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};
use serde_json::Value;
use std::collections::HashSet;

/// The usable tools of one server and what was wrong with the rest.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub problems: Vec<Problem>,
}

/// Lists every page of `peer`'s tools under `limits`. Fails with the server's protocol fault when it has one.
pub async fn list(peer: &Peer<RoleClient>, limits: &Limits, fault: &Fault) -> Result<Listing, String> {
    let mut listing = Listing::default();
    let mut seen = HashSet::new();
    let mut cursors = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut position = 0usize;
    loop {
        let params = PaginatedRequestParams::default().with_cursor(cursor.clone());
        let request = ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params));
        let reply = tokio::select! {
            r = peer.send_request(request) => r,
            _ = fault.tripped() => return Err(fault.reason().unwrap_or_default()),
        };
        let (entries, next) = match reply {
            Ok(ServerResult::ListToolsResult(ListToolsResult { tools, next_cursor, .. })) => {
                (tools.into_iter().map(Ok).collect::<Vec<_>>(), next_cursor)
            }
            Ok(ServerResult::CustomResult(CustomResult(value))) => page_of_values(value)?,
            Ok(_) => return Err("tools/list answer is not a tool list".into()),
            Err(e) => return Err(failure(&e, fault)),
        };
        for entry in entries {
            position += 1;
            if listing.tools.len() == limits.max_tools {
                listing.problems.push(capped(limits.max_tools));
                return Ok(listing);
            }
            let tool = match entry {
                Ok(t) => t,
                Err(v) => match vet::from_value(v, position) {
                    Ok(t) => t,
                    Err(p) => {
                        listing.problems.push(p);
                        continue;
                    }
                },
            };
            let (kept, problems) = vet::check(tool, limits, &mut seen);
            listing.problems.extend(problems);
            listing.tools.extend(kept);
        }
        match next {
            None => return Ok(listing),
            Some(_) if listing.tools.len() == limits.max_tools => {
                listing.problems.push(capped(limits.max_tools));
                return Ok(listing);
            }
            Some(c) if !cursors.insert(c.clone()) => {
                listing.problems.push(Problem {
                    tool: None,
                    action: Action::Capped,
                    reason: format!(
                        "the server sent cursor '{}' twice; listing stopped there",
                        crate::output::cut(&c, 60)
                    ),
                });
                return Ok(listing);
            }
            Some(c) => cursor = Some(c),
        }
    }
}

/// One page: its entries (parsed, or raw when the page did not parse as a whole) and the next cursor.
type Page = (Vec<Result<Tool, Value>>, Option<String>);

/// A page whose reply did not parse as a tool list: its entries as raw values, and the next cursor.
fn page_of_values(value: Value) -> Result<Page, String> {
    let Value::Object(mut map) = value else {
        return Err("tools/list answer is not an object".into());
    };
    let next = match map.remove("nextCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("tools/list answer has a nextCursor that is not a string: {other}")),
    };
    match map.remove("tools") {
        Some(Value::Array(entries)) => Ok((entries.into_iter().map(Err).collect(), next)),
        Some(_) => Err("tools/list answer has a 'tools' that is not an array".into()),
        None => Err("tools/list answer has no 'tools'".into()),
    }
}

fn capped(max: usize) -> Problem {
    Problem {
        tool: None,
        action: Action::Capped,
        reason: format!(
            "the server offers more than {max} tools (limits.max_tools); the first {max} are kept, the rest were not read"
        ),
    }
}

/// Why a request to the server failed: its protocol fault when it has one, else the error.
pub fn failure(e: &ServiceError, fault: &Fault) -> String {
    if let Some(reason) = super::wire::fault_of(e) {
        fault.trip(reason);
    }
    fault.reason().unwrap_or_else(|| format!("tools/list failed: {e}"))
}
