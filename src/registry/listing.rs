//! Listing what one server offers — tools, resources, resource templates, prompts (`kinds`): every page, each entry
//! checked (`vet`), up to the kind's limit.
//!
//! rmcp's `list_all_tools` drops a whole page when one entry does not parse (the reply no longer matches a tool
//! list) and follows pages without end. Here a page that does not parse as a whole is read entry by entry, the
//! listing stops at the cap (without asking for further pages) and on a cursor it has seen before, and a protocol
//! error of the server ends it at once with the server's fault.

use super::kinds::{Kind, Prompts, Resources, Templates, Tools};
use super::vet::{Action, Problem};
use super::wire::Fault;
use crate::config::Limits;
use rmcp::model::{
    CustomResult, PaginatedRequestParams, Prompt, Resource, ResourceTemplate, ServerCapabilities, ServerResult, Tool,
};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};
use serde_json::Value;
use std::collections::HashSet;

/// Everything one server lists that hub uses, and what was wrong with the rest.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub problems: Vec<Problem>,
}

/// Lists every kind the server offers (tools always; resources, templates and prompts when its capabilities say
/// so).
/// The tool list failing fails the listing; another list failing is reported and leaves that list empty. A
/// protocol error of the server fails it at once.
pub async fn list_all(
    peer: &Peer<RoleClient>,
    caps: Option<&ServerCapabilities>,
    limits: &Limits,
    fault: &Fault,
) -> Result<Listing, String> {
    let (tools, mut problems) = list::<Tools>(peer, limits, fault).await?;
    let mut listing = Listing { tools, ..Listing::default() };
    if caps.is_some_and(|c| c.resources.is_some()) {
        listing.resources = optional::<Resources>(list::<Resources>(peer, limits, fault).await, &mut problems, fault)?;
        listing.templates = optional::<Templates>(list::<Templates>(peer, limits, fault).await, &mut problems, fault)?;
    }
    if caps.is_some_and(|c| c.prompts.is_some()) {
        listing.prompts = optional::<Prompts>(list::<Prompts>(peer, limits, fault).await, &mut problems, fault)?;
    }
    listing.problems = problems;
    Ok(listing)
}

/// A list other than tools: its failure is a problem of the listing, unless the server broke the protocol.
fn optional<K: Kind>(
    r: Result<(Vec<K::Item>, Vec<Problem>), String>,
    problems: &mut Vec<Problem>,
    fault: &Fault,
) -> Result<Vec<K::Item>, String> {
    match r {
        Ok((items, more)) => {
            problems.extend(more);
            Ok(items)
        }
        Err(e) if fault.reason().is_some() => Err(e),
        Err(e) => {
            problems.push(Problem { kind: K::NAME, name: None, action: Action::Skipped, reason: e });
            Ok(Vec::new())
        }
    }
}

/// Lists every page of one kind under `limits`. Fails with the server's protocol fault when it has one.
pub async fn list<K: Kind>(
    peer: &Peer<RoleClient>,
    limits: &Limits,
    fault: &Fault,
) -> Result<(Vec<K::Item>, Vec<Problem>), String> {
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    let (mut seen, mut cursors) = (HashSet::new(), HashSet::new());
    let mut cursor: Option<String> = None;
    let mut position = 0usize;
    let max = K::max(limits);
    loop {
        let request = K::request(PaginatedRequestParams::default().with_cursor(cursor.clone()));
        let reply = tokio::select! {
            r = peer.send_request(request) => r,
            _ = fault.tripped() => return Err(fault.reason().unwrap_or_default()),
        };
        let (entries, next): Page<K::Item> = match reply.map(K::typed) {
            Ok(Ok((typed, next))) => (typed.into_iter().map(Ok).collect(), next),
            Ok(Err(ServerResult::CustomResult(CustomResult(value)))) => page_of_values::<K>(value)?,
            Ok(Err(_)) => return Err(format!("{} answer is not a {} list", K::METHOD, K::NAME)),
            Err(e) => return Err(failure::<K>(&e, fault)),
        };
        for entry in entries {
            position += 1;
            if items.len() == max {
                problems.push(capped::<K>(max));
                return Ok((items, problems));
            }
            let item = match entry.or_else(|v| K::from_value(v, position)) {
                Ok(item) => item,
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            };
            let (kept, more) = K::check(item, limits, &mut seen);
            problems.extend(more);
            items.extend(kept);
        }
        match next {
            None => return Ok((items, problems)),
            Some(_) if items.len() == max => {
                problems.push(capped::<K>(max));
                return Ok((items, problems));
            }
            Some(c) if !cursors.insert(c.clone()) => {
                let reason =
                    format!("the server sent cursor '{}' twice; listing stopped there", crate::output::cut(&c, 60));
                problems.push(Problem { kind: K::NAME, name: None, action: Action::Capped, reason });
                return Ok((items, problems));
            }
            Some(c) => cursor = Some(c),
        }
    }
}

/// One page: its entries (parsed, or raw when the page did not parse as a whole) and the next cursor.
type Page<T> = (Vec<Result<T, Value>>, Option<String>);

/// A page whose reply did not parse as a whole: its entries as raw values, and the next cursor.
fn page_of_values<K: Kind>(value: Value) -> Result<Page<K::Item>, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("{} answer is not an object", K::METHOD));
    };
    let next = match map.remove("nextCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("{} answer has a nextCursor that is not a string: {other}", K::METHOD)),
    };
    match map.remove(K::FIELD) {
        Some(Value::Array(entries)) => Ok((entries.into_iter().map(Err).collect(), next)),
        Some(_) => Err(format!("{} answer has a '{}' that is not an array", K::METHOD, K::FIELD)),
        None => Err(format!("{} answer has no '{}'", K::METHOD, K::FIELD)),
    }
}

fn capped<K: Kind>(max: usize) -> Problem {
    let reason = format!(
        "the server offers more than {max} {}s ({}); the first {max} are kept, the rest were not read",
        K::NAME,
        K::LIMIT
    );
    Problem { kind: K::NAME, name: None, action: Action::Capped, reason }
}

/// Why a request to the server failed: its protocol fault when it has one, else the error.
fn failure<K: Kind>(e: &ServiceError, fault: &Fault) -> String {
    if let Some(reason) = super::wire::fault_of(e) {
        fault.trip(reason);
    } else if let Some(challenge) = crate::auth::scope_challenge(e) {
        // Without the scope the server cannot even be listed: it needs a login with that scope.
        fault.refuse_authorization(challenge);
    }
    fault.reason().unwrap_or_else(|| format!("{} failed: {e}", K::METHOD))
}
