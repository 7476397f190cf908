//! The gateway's MCP face: one server whose tools are the whole index (names, descriptions, schemas and
//! annotations as the upstream servers gave them), whose resources and templates are every server's (URIs as
//! given, reads routed by the registry) and whose prompts are every server's under `server__prompt`. Calls are
//! routed through the registry under each server's deadline; a client's cancellation is passed upstream;
//! sessions hear `list_changed` (tools, resources, prompts) whenever a server goes down, comes back or changes
//! a list. What an upstream server asks or tells during a call goes to the client that made it (`downstream`).

use super::Gateway;
use super::downstream::Downstream;
use super::profile::{self, Profile};
use crate::registry::CallError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Hub {
    pub gateway: Arc<Gateway>,
    pub via: &'static str,
    /// Every tool, or the search profile's few (see `profile`).
    pub profile: Profile,
}

/// An index entry as this server lists it: the upstream tool under its index name.
pub(super) fn listed(e: &crate::registry::Entry) -> Tool {
    let mut t = e.tool.clone();
    t.name = e.name.clone().into();
    // The server behind the tool, for clients that show it (and for hubs attached to this one).
    t.meta.get_or_insert_with(Default::default).0.insert("hub/server".into(), e.server.clone().into());
    if t.description.as_deref().unwrap_or("").is_empty() {
        t.description = Some(format!("{} (from server {})", e.tool.name, e.server).into());
    }
    t
}

/// A call outside the caller's policy: a JSON-RPC error naming the rule.
fn forbidden(e: CallError) -> ErrorData {
    ErrorData::invalid_request(e.to_string(), None)
}

/// The caller the HTTP guard recognised by its token (rmcp passes the request's parts along); none over stdio or
/// when no token is needed.
fn who(context: &RequestContext<RoleServer>) -> Option<&super::guard::Who> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    parts.extensions.get::<Arc<super::guard::Who>>().map(|w| &**w)
}

impl Hub {
    fn tools(&self, who: Option<&super::guard::Who>) -> Vec<Tool> {
        if self.profile == Profile::Search {
            return profile::listed_tools(self, who);
        }
        let index = self.gateway.registry.index();
        index.entries().iter().filter(|e| super::visible(who, e)).map(listed).collect()
    }
}

#[allow(deprecated)] // logging: see `registry::host`
impl ServerHandler for Hub {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_logging()
            .build();
        let instructions = match self.profile {
            Profile::Full => {
                "Every tool, resource and prompt of every server connected to this hub; tool and prompt names are \
                 <server>__<name>, resource URIs are the servers' own."
            }
            Profile::Search if self.gateway.code.is_some() => super::code::INSTRUCTIONS,
            Profile::Search => profile::INSTRUCTIONS,
        };
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("hub", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions)
    }

    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Upstream servers' messages are passed on as they come; each server chooses its own level.
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.gateway.peers.add(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools(who(&context))))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if self.profile == Profile::Search && profile::is_own(self, name) {
            let code = if self.gateway.code.is_some() { super::code::tools() } else { &[] };
            return profile::own_tools().iter().chain(code).find(|t| t.name == name).cloned();
        }
        // One lookup, not a copy of the whole index (this can run for every call).
        self.gateway.registry.index().get(name).map(listed)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let who = who(&context);
        let usable = |s: &String| who.is_none_or(|w| w.policy.uses(s));
        let all = self.gateway.registry.resources().into_iter().filter(|(s, _)| usable(s)).map(|(_, r)| r);
        Ok(ListResourcesResult::with_all_items(all.collect()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let who = who(&context);
        let usable = |s: &String| who.is_none_or(|w| w.policy.uses(s));
        let all = self.gateway.registry.templates().into_iter().filter(|(s, _)| usable(s)).map(|(_, t)| t);
        Ok(ListResourceTemplatesResult::with_all_items(all.collect()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.gateway.may_read(who(&context), &request.uri, None, "read").map_err(forbidden)?;
        match self.gateway.registry.read_resource(&request.uri, None).await {
            Ok((_, result)) => Ok(result.into()),
            Err(e @ CallError::UnknownResource { .. }) => Err(ErrorData::resource_not_found(e.to_string(), None)),
            Err(e) => Err(upstream_error(e)),
        }
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.gateway.may_read(who(&context), &request.uri, None, "subscribe to").map_err(forbidden)?;
        match self.gateway.registry.subscribe_resource(&request.uri).await {
            Ok(_) => {
                self.gateway.watchers.add(&request.uri, super::downstream::session_key(&context), context.peer);
                Ok(())
            }
            Err(e @ CallError::UnknownResource { .. }) => Err(ErrorData::resource_not_found(e.to_string(), None)),
            Err(e) => Err(upstream_error(e)),
        }
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if self.gateway.watchers.remove(&request.uri, &super::downstream::session_key(&context)) {
            self.gateway.registry.unsubscribe_resource(&request.uri).await.map_err(upstream_error)?;
        }
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let who = who(&context);
        let named = |o: crate::registry::Offered| {
            let mut p = o.prompt;
            p.name = o.name;
            p
        };
        let prompts = self.gateway.registry.prompts().into_iter();
        let usable = prompts.filter(|o| who.is_none_or(|w| w.policy.uses(&o.server)));
        Ok(ListPromptsResult::with_all_items(usable.map(named).collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.gateway.may_prompt(who(&context), &request.name).map_err(forbidden)?;
        let arguments = request.arguments.unwrap_or_default();
        match self.gateway.registry.get_prompt(&request.name, arguments).await {
            Ok((_, result)) => Ok(result.into()),
            Err(e @ (CallError::UnknownPrompt { .. } | CallError::BadArguments { .. })) => {
                Err(ErrorData::invalid_params(e.to_string(), None))
            }
            Err(e) => Err(upstream_error(e)),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let client = context.peer.peer_info().map(|i| i.client_info.name.clone()).unwrap_or_else(|| "mcp".into());
        let start = Instant::now();
        let origin: Arc<dyn crate::registry::origin::Origin> = Arc::new(Downstream::of(&context));
        let who = who(&context);
        let (name, arguments) = match self.profile {
            Profile::Search if profile::is_own(self, &request.name) => {
                match profile::handle(self, who, &request.name, request.arguments) {
                    profile::Handled::Answer(answer) => return Ok(answer.into()),
                    profile::Handled::Call(name, arguments) => (name, arguments),
                    profile::Handled::Code(args) => {
                        let g = &self.gateway;
                        let ran = super::code::run(g, who, &client, self.via, &request.name, args, &context.ct).await;
                        return Ok(ran.into());
                    }
                }
            }
            _ => (request.name.to_string(), request.arguments),
        };
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let session = parts.and_then(|p| p.headers.get("mcp-session-id")).and_then(|v| v.to_str().ok());
        let span = crate::telemetry::propagate::serving(&name, session, parts.map(|p| &p.headers), Some(&context.meta));
        let called = self.gateway.call(who, &name, arguments, &context.ct, Some(origin));
        let result = span.run(called).await;
        self.gateway.record(&client, who, self.via, &name, &result, start.elapsed()).await;
        answer(result).map(|mut result| {
            // Passed through from upstream, where the field may have been absent (older protocol); this hop's
            // peer may need it (2026-07-28). rmcp clears it again for older peers.
            result.result_type = Some(ResultType::COMPLETE);
            result.into()
        })
    }
}

/// What a call's outcome is to an MCP client: the tool's result; a tool error its model can read when the server
/// is down, timed out, cancelled or refused upstream; a JSON-RPC error for an unknown tool or one outside the
/// caller's policy.
pub(super) fn answer(result: Result<crate::registry::Called, CallError>) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(c) => Ok(c.result),
        Err(e @ CallError::UnknownTool { .. }) => Err(ErrorData::invalid_params(e.to_string(), None)),
        Err(e @ CallError::Forbidden { .. }) => Err(forbidden(e)),
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())])),
    }
}

/// A read or prompt that failed upstream (down, timed out, refused): the reason, as an internal error.
fn upstream_error(e: CallError) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}
