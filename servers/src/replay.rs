//! `replay`: serves back the tools of a captured catalog — a `tools/list` dump of a third-party MCP server, as
//! `benches/catalog/capture.sh` writes them into `tests/fixtures/catalog/` — so tool search is tested and measured
//! on real tool definitions without installing or running those servers. `HUB_REPLAY=FILE` names the dump (one
//! JSON document: `{"server", "package", "tools": [...]}`). A call of a listed tool answers what it was asked
//! (`{"replayed": name, "arguments": {...}}`): nothing behind the definitions is pretended.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Clone)]
pub struct Replay {
    name: String,
    tools: Arc<Vec<Tool>>,
}

impl Replay {
    /// The catalog named by `HUB_REPLAY`; an error says which file and why it cannot be served.
    pub fn from_env() -> anyhow::Result<Replay> {
        let path = std::env::var("HUB_REPLAY").map_err(|_| anyhow::anyhow!("HUB_REPLAY must name a catalog file"))?;
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{path} is not JSON: {e}"))?;
        let tools: Vec<Tool> = serde_json::from_value(doc["tools"].clone())
            .map_err(|e| anyhow::anyhow!("{path}: \"tools\" is not a list of tool definitions: {e}"))?;
        let name = doc["server"].as_str().unwrap_or("replay").to_string();
        Ok(Replay { name, tools: Arc::new(tools) })
    }
}

impl ServerHandler for Replay {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder().enable_tools().build();
        let info = rmcp::model::Implementation::new(format!("replay-{}", self.name), env!("CARGO_PKG_VERSION"));
        ServerConfig::new(caps).with_server_info(info)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !self.tools.iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(format!("unknown tool '{name}'"), None));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        Ok(CallToolResult::structured(json!({"replayed": name, "arguments": args})).into())
    }
}
