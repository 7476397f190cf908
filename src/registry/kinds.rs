//! The lists a server can offer — tools, resources, resource templates, prompts — as `Kind`s the one paged, checked
//! listing (`listing::list`) works on: each kind's request, its typed page, the reply field holding its entries,
//! its cap and how one entry is checked (`vet` for the rules they share).

use super::vet::{self, Action, Problem};
use crate::config::Limits;
use rmcp::model::{
    ClientRequest, ListPromptsRequest, ListPromptsResult, ListResourceTemplatesRequest, ListResourceTemplatesResult,
    ListResourcesRequest, ListResourcesResult, ListToolsRequest, ListToolsResult, PaginatedRequestParams, Prompt,
    Resource, ResourceTemplate, ServerResult, Tool,
};
use serde_json::Value;
use std::collections::HashSet;

/// One kind of list.
pub trait Kind {
    type Item: serde::de::DeserializeOwned;
    /// The entry in reports ("tool").
    const NAME: &'static str;
    /// The list method ("tools/list") and the field of its reply holding the entries ("tools").
    const METHOD: &'static str;
    const FIELD: &'static str;
    /// The limit on entries kept, and its key in the config.
    const LIMIT: &'static str;
    fn max(limits: &Limits) -> usize;
    fn request(params: PaginatedRequestParams) -> ClientRequest;
    /// The entries and next cursor of a typed page; the reply back when it is not this kind's page.
    #[allow(clippy::result_large_err)]
    fn typed(reply: ServerResult) -> Result<(Vec<Self::Item>, Option<String>), ServerResult>;
    /// A raw entry (from a page that did not parse as a whole) as an item, or why not.
    fn from_value(entry: Value, position: usize) -> Result<Self::Item, Problem>;
    /// The item to keep (possibly fixed) and what was wrong with it; `seen` holds the identities kept so far.
    fn check(item: Self::Item, limits: &Limits, seen: &mut HashSet<String>) -> (Option<Self::Item>, Vec<Problem>);
}

pub struct Tools;
pub struct Resources;
pub struct Templates;
pub struct Prompts;

impl Kind for Tools {
    type Item = Tool;
    const NAME: &'static str = "tool";
    const METHOD: &'static str = "tools/list";
    const FIELD: &'static str = "tools";
    const LIMIT: &'static str = "limits.max_tools";
    fn max(limits: &Limits) -> usize {
        limits.max_tools
    }
    fn request(params: PaginatedRequestParams) -> ClientRequest {
        ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params))
    }
    fn typed(reply: ServerResult) -> Result<(Vec<Tool>, Option<String>), ServerResult> {
        match reply {
            ServerResult::ListToolsResult(ListToolsResult { tools, next_cursor, .. }) => Ok((tools, next_cursor)),
            other => Err(other),
        }
    }
    fn from_value(entry: Value, position: usize) -> Result<Tool, Problem> {
        vet::from_value(entry, position)
    }
    fn check(item: Tool, limits: &Limits, seen: &mut HashSet<String>) -> (Option<Tool>, Vec<Problem>) {
        vet::check(item, limits, seen)
    }
}

impl Kind for Resources {
    type Item = Resource;
    const NAME: &'static str = "resource";
    const METHOD: &'static str = "resources/list";
    const FIELD: &'static str = "resources";
    const LIMIT: &'static str = "limits.max_resources";
    fn max(limits: &Limits) -> usize {
        limits.max_resources
    }
    fn request(params: PaginatedRequestParams) -> ClientRequest {
        ClientRequest::ListResourcesRequest(ListResourcesRequest::with_param(params))
    }
    fn typed(reply: ServerResult) -> Result<(Vec<Resource>, Option<String>), ServerResult> {
        match reply {
            ServerResult::ListResourcesResult(ListResourcesResult { resources, next_cursor, .. }) => {
                Ok((resources, next_cursor))
            }
            other => Err(other),
        }
    }
    fn from_value(entry: Value, position: usize) -> Result<Resource, Problem> {
        parse_entry::<Self>(entry, "uri", position)
    }
    fn check(mut item: Resource, limits: &Limits, seen: &mut HashSet<String>) -> (Option<Resource>, Vec<Problem>) {
        let (keep, problems) = check_entry::<Self>("URI", &item.uri, &mut item.description, limits, seen);
        (keep.then_some(item), problems)
    }
}

impl Kind for Templates {
    type Item = ResourceTemplate;
    const NAME: &'static str = "resource template";
    const METHOD: &'static str = "resources/templates/list";
    const FIELD: &'static str = "resourceTemplates";
    const LIMIT: &'static str = "limits.max_resources";
    fn max(limits: &Limits) -> usize {
        limits.max_resources
    }
    fn request(params: PaginatedRequestParams) -> ClientRequest {
        ClientRequest::ListResourceTemplatesRequest(ListResourceTemplatesRequest::with_param(params))
    }
    fn typed(reply: ServerResult) -> Result<(Vec<ResourceTemplate>, Option<String>), ServerResult> {
        match reply {
            ServerResult::ListResourceTemplatesResult(ListResourceTemplatesResult {
                resource_templates,
                next_cursor,
                ..
            }) => Ok((resource_templates, next_cursor)),
            other => Err(other),
        }
    }
    fn from_value(entry: Value, position: usize) -> Result<ResourceTemplate, Problem> {
        parse_entry::<Self>(entry, "uriTemplate", position)
    }
    fn check(
        mut item: ResourceTemplate,
        limits: &Limits,
        seen: &mut HashSet<String>,
    ) -> (Option<ResourceTemplate>, Vec<Problem>) {
        let (keep, problems) = check_entry::<Self>("URI", &item.uri_template, &mut item.description, limits, seen);
        (keep.then_some(item), problems)
    }
}

impl Kind for Prompts {
    type Item = Prompt;
    const NAME: &'static str = "prompt";
    const METHOD: &'static str = "prompts/list";
    const FIELD: &'static str = "prompts";
    const LIMIT: &'static str = "limits.max_resources";
    fn max(limits: &Limits) -> usize {
        limits.max_resources
    }
    fn request(params: PaginatedRequestParams) -> ClientRequest {
        ClientRequest::ListPromptsRequest(ListPromptsRequest::with_param(params))
    }
    fn typed(reply: ServerResult) -> Result<(Vec<Prompt>, Option<String>), ServerResult> {
        match reply {
            ServerResult::ListPromptsResult(ListPromptsResult { prompts, next_cursor, .. }) => {
                Ok((prompts, next_cursor))
            }
            other => Err(other),
        }
    }
    fn from_value(entry: Value, position: usize) -> Result<Prompt, Problem> {
        parse_entry::<Self>(entry, "name", position)
    }
    fn check(mut item: Prompt, limits: &Limits, seen: &mut HashSet<String>) -> (Option<Prompt>, Vec<Problem>) {
        let (keep, problems) = check_entry::<Self>("name", &item.name, &mut item.description, limits, seen);
        (keep.then_some(item), problems)
    }
}

/// A raw entry identified by its `key` field, parsed as `K::Item`.
fn parse_entry<K: Kind>(entry: Value, key: &str, position: usize) -> Result<K::Item, Problem> {
    let id = vet::entry_name(K::NAME, &entry, key, position)?;
    serde_json::from_value(entry)
        .map_err(|e| vet::problem(K::NAME, id, Action::Skipped, format!("is not a valid {}: {e}", K::NAME)))
}

/// The checks a resource, a template and a prompt share, on its identity (`what`: its URI, URI template or name)
/// and description (cut in place when too long): whether to keep it, and what was wrong.
fn check_entry<K: Kind>(
    what: &str,
    id: &str,
    description: &mut Option<String>,
    limits: &Limits,
    seen: &mut HashSet<String>,
) -> (bool, Vec<Problem>) {
    if let Some(reason) = vet::name_refusal(id, seen).map(|r| r.replacen("name", what, 1)) {
        let label = if id.is_empty() { "\"\"" } else { id };
        return (false, vec![vet::problem(K::NAME, label, Action::Skipped, reason)]);
    }
    seen.insert(id.to_string());
    match description.as_deref().and_then(|d| vet::cut_description(d, limits)) {
        Some((cut, reason)) => {
            *description = Some(cut);
            (true, vec![vet::problem(K::NAME, id, Action::Cut, reason)])
        }
        None => (true, Vec::new()),
    }
}
