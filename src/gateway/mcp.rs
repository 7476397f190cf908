//! The gateway's MCP face: one server whose tools are the whole index (names, descriptions, schemas and
//! annotations as the upstream servers gave them). Calls are routed through the registry under each server's
//! deadline; a client's cancellation is passed upstream; sessions hear `tools/list_changed` whenever a server
//! goes down, comes back or changes its list.

use super::Gateway;
use crate::registry::CallError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, Tool,
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

impl ServerHandler for Hub {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new("hub", env!("CARGO_PKG_VERSION")))
            .with_instructions("Every tool of every server connected to this hub; names are <server>__<tool>.")
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

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let client = context.peer.peer_info().map(|i| i.client_info.name.clone()).unwrap_or_else(|| "mcp".into());
        let start = Instant::now();
        let result = self.gateway.registry.call_cancellable(&request.name, request.arguments, &context.ct).await;
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
