//! Each business server's records as MCP resources: one resource template per kind of record
//! (`customer://{id}`, `ticket://{id}`, …), read through the server's own lookup tool — so a resource and the tool
//! answer with the same JSON, the same validation and the same errors (an unknown id is the tool's own message,
//! sent as a JSON-RPC "resource not found" error).
//!
//! Owns: the URI scheme of each record kind and its mapping to a lookup tool. Not: the lookups themselves.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListResourceTemplatesResult, ReadResourceResult, ResourceContents,
    ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

/// One kind of record: `scheme://{param}`, read by calling `tool` with `{param: value}`.
pub struct Record {
    pub scheme: &'static str,
    pub param: &'static str,
    pub tool: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// The servers' resource templates, one per kind of record.
pub fn templates(records: &[Record]) -> ListResourceTemplatesResult {
    let templates = records
        .iter()
        .map(|r| {
            ResourceTemplate::new(format!("{}://{{{}}}", r.scheme, r.param), r.name)
                .with_description(r.description)
                .with_mime_type("application/json")
        })
        .collect();
    ListResourceTemplatesResult::with_all_items(templates)
}

/// Reads `uri` by calling the lookup tool of its kind of record on `server`.
pub async fn read<S: Send + Sync + 'static>(
    server: &S,
    router: &ToolRouter<S>,
    records: &[Record],
    uri: &str,
    context: RequestContext<RoleServer>,
) -> Result<ReadResourceResult, ErrorData> {
    let kinds = || records.iter().map(|r| format!("{}://", r.scheme)).collect::<Vec<_>>().join(", ");
    let not_found = |why: String| ErrorData::resource_not_found(why, None);
    let (scheme, value) =
        uri.split_once("://").ok_or_else(|| not_found(format!("'{uri}' is not a record URI ({})", kinds())))?;
    let record = records
        .iter()
        .find(|r| r.scheme == scheme)
        .ok_or_else(|| not_found(format!("no records of kind '{scheme}' here; this server has {}", kinds())))?;
    // `scheme://value?key=value&…`: the value for the record's parameter, the query for further arguments.
    let (value, query) = value.split_once('?').unwrap_or((value, ""));
    let mut arguments = serde_json::Map::new();
    arguments.insert(record.param.into(), value.into());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        arguments.insert(k.into(), v.into());
    }
    let params = CallToolRequestParams::new(record.tool).with_arguments(arguments);
    let result = match router.call(ToolCallContext::new(server, params, context)).await? {
        CallToolResponse::Complete(result) => result,
        _ => return Err(ErrorData::internal_error(format!("{} did not complete", record.tool), None)),
    };
    let text_of = || {
        let texts = result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str()));
        texts.collect::<Vec<_>>().join("\n")
    };
    if result.is_error == Some(true) {
        return Err(not_found(text_of()));
    }
    let text = match &result.structured_content {
        Some(v) => serde_json::to_string_pretty(v).map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
        None => text_of(),
    };
    let contents = ResourceContents::TextResourceContents {
        uri: uri.into(),
        mime_type: Some("application/json".into()),
        text,
        meta: None,
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// What a business server says about itself: tools, resources (its record templates) and prompts when it has
/// some, its name and version.
pub fn info(name: &str, instructions: &str, prompts: bool) -> rmcp::model::ServerConfig {
    let caps = rmcp::model::ServerCapabilities::builder().enable_tools().enable_resources();
    let caps = if prompts { caps.enable_prompts().build() } else { caps.build() };
    rmcp::model::ServerConfig::new(caps)
        .with_server_info(rmcp::model::Implementation::new(name, env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions.to_string())
}

/// The `ServerHandler` of a business server: its tools (`#[tool_handler]`), its records as resources and its
/// prompts (`prompts`).
#[macro_export]
macro_rules! business_server {
    ($server:ty, $name:literal, $instructions:literal, $records:expr, $prompts:expr) => {
        #[rmcp::tool_handler(router = self.tool_router)]
        impl rmcp::ServerHandler for $server {
            fn get_info(&self) -> rmcp::model::ServerConfig {
                $crate::records::info($name, $instructions, !$prompts.is_empty())
            }

            async fn list_prompts(
                &self,
                _request: Option<rmcp::model::PaginatedRequestParams>,
                _context: rmcp::service::RequestContext<rmcp::RoleServer>,
            ) -> Result<rmcp::model::ListPromptsResult, rmcp::ErrorData> {
                Ok($crate::prompts::list(&$prompts))
            }

            async fn get_prompt(
                &self,
                request: rmcp::model::GetPromptRequestParams,
                context: rmcp::service::RequestContext<rmcp::RoleServer>,
            ) -> Result<rmcp::model::GetPromptResponse, rmcp::ErrorData> {
                let (router, records) = (&self.tool_router, &$records);
                $crate::prompts::get(self, router, records, &$prompts, request, context).await.map(Into::into)
            }

            async fn list_resource_templates(
                &self,
                _request: Option<rmcp::model::PaginatedRequestParams>,
                _context: rmcp::service::RequestContext<rmcp::RoleServer>,
            ) -> Result<rmcp::model::ListResourceTemplatesResult, rmcp::ErrorData> {
                Ok($crate::records::templates(&$records))
            }

            async fn read_resource(
                &self,
                request: rmcp::model::ReadResourceRequestParams,
                context: rmcp::service::RequestContext<rmcp::RoleServer>,
            ) -> Result<rmcp::model::ReadResourceResponse, rmcp::ErrorData> {
                $crate::records::read(self, &self.tool_router, &$records, &request.uri, context).await.map(Into::into)
            }
        }

        impl $server {
            /// The tool definitions this server ships with (hub pins them before the server ever runs).
            pub fn definitions() -> Vec<rmcp::model::Tool> {
                Self::tool_router().list_all()
            }
        }
    };
}
