//! The gateway's MCP face: one server whose tools are the whole index (names, descriptions, schemas and
//! annotations as the upstream servers gave them), whose resources and templates are every server's (URIs as
//! given, reads routed by the registry) and whose prompts are every server's under `server__prompt`. Calls are
//! routed through the registry under each server's deadline; a client's cancellation is passed upstream;
//! sessions hear `list_changed` (tools, resources, prompts) whenever a server goes down, comes back or changes
//! a list. What an upstream server asks or tells during a call goes to the client that made it (`downstream`).

use super::Gateway;
use super::downstream::Downstream;
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
}

/// An index entry as this server lists it: the upstream tool under its index name.
fn listed(e: &crate::registry::Entry) -> Tool {
    let mut t = e.tool.clone();
    t.name = e.name.clone().into();
    if t.description.as_deref().unwrap_or("").is_empty() {
        t.description = Some(format!("{} (from server {})", e.tool.name, e.server).into());
    }
    t
}

impl Hub {
    fn tools(&self) -> Vec<Tool> {
        self.gateway.registry.index().entries().iter().map(listed).collect()
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
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("hub", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Every tool, resource and prompt of every server connected to this hub; tool and prompt names are \
             <server>__<name>, resource URIs are the servers' own.",
            )
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        // One lookup, not a copy of the whole index (this can run for every call).
        self.gateway.registry.index().get(name).map(listed)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let all = self.gateway.registry.resources().into_iter().map(|(_, r)| r);
        Ok(ListResourcesResult::with_all_items(all.collect()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let all = self.gateway.registry.templates().into_iter().map(|(_, t)| t);
        Ok(ListResourceTemplatesResult::with_all_items(all.collect()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let named = |o: crate::registry::Offered| {
            let mut p = o.prompt;
            p.name = o.name;
            p
        };
        Ok(ListPromptsResult::with_all_items(self.gateway.registry.prompts().into_iter().map(named).collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
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
        let registry = &self.gateway.registry;
        let result = registry.call_from(&request.name, request.arguments, &context.ct, Some(origin)).await;
        self.gateway.record(&client, self.via, &request.name, &result, start.elapsed()).await;
        match result {
            Ok(c) => {
                // Passed through from upstream, where the field may have been absent (older protocol); this
                // hop's peer may need it (2026-07-28). rmcp clears it again for older peers.
                let mut result = c.result;
                result.result_type = Some(ResultType::COMPLETE);
                Ok(result.into())
            }
            Err(e @ CallError::UnknownTool { .. }) => Err(ErrorData::invalid_params(e.to_string(), None)),
            // Down, timed out, cancelled or rejected upstream: a tool error the client's model can read.
            Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
        }
    }
}

/// A read or prompt that failed upstream (down, timed out, refused): the reason, as an internal error.
fn upstream_error(e: CallError) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}
