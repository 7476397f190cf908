//! The gateway's search profile (`/mcp/search`, `hub serve --stdio --profile search`), for clients that cannot be
//! changed and choke on hundreds of tools. The spec wants a tool list that does not vary per connection nor change
//! as a side effect of a call, so this face is separate and stable: it lists the pinned tools (`[tools] pin`) and
//! four of its own — `search_tools`, `describe_tools`, and two callers, `call_tool` (read-only tools only, annotated
//! read-only) and `call_tool_write` (the rest, annotated destructive), so a client's own permission prompts stay
//! meaningful. Every tool stays callable by its exact name too; the server instructions say how to search.

use super::guard::Who;
use super::mcp::listed;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

/// Which face an MCP session gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Profile {
    /// Every tool of every server.
    #[default]
    Full,
    /// The pinned tools and a search for the rest.
    Search,
}

pub const INSTRUCTIONS: &str = "This hub connects many servers; only a few of their tools are listed here. To find \
    a tool, call search_tools with what it should do; describe_tools gives the full input schemas of tools by name; \
    call a tool with call_tool (read-only tools) or call_tool_write (tools that change things), or by its exact \
    name. Tool names are <server>__<name>.";

const NAMES: [&str; 4] = ["search_tools", "describe_tools", "call_tool", "call_tool_write"];

fn tool(name: &str, description: &str, schema: Value, read_only: bool) -> Tool {
    let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
    let annotations = if read_only {
        ToolAnnotations::new().read_only(true).open_world(true)
    } else {
        ToolAnnotations::new().read_only(false).destructive(true).open_world(true)
    };
    Tool::new(name.to_string(), description.to_string(), schema).annotate(annotations)
}

/// The profile's own tools (built once: rmcp looks a tool up on every call).
pub fn own_tools() -> &'static [Tool] {
    static OWN: std::sync::LazyLock<Vec<Tool>> = std::sync::LazyLock::new(build);
    &OWN
}

fn build() -> Vec<Tool> {
    let call = json!({"type": "object", "properties": {
        "name": {"type": "string", "description": "The tool's name, <server>__<name>"},
        "arguments": {"type": "object", "description": "The tool's arguments (its input schema: describe_tools)"}
    }, "required": ["name"]});
    vec![
        tool(
            "search_tools",
            "Find tools by what they do: the best matches, best first, with their server, kind and a score.",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "What the tool should do, or its name"},
                "server": {"type": "string", "description": "Only this server's tools"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "At most this many (default 10)"}
            }, "required": ["query"]}),
            true,
        ),
        tool(
            "describe_tools",
            "The full definitions (input schemas, annotations) of tools by name.",
            json!({"type": "object", "properties": {
                "names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 50}
            }, "required": ["names"]}),
            true,
        ),
        tool(
            "call_tool",
            "Call a read-only tool by name (call_tool_write for tools that change things).",
            call.clone(),
            true,
        ),
        tool("call_tool_write", "Call a tool that may change things, by name.", call, false),
    ]
}

/// What the profile lists: its own tools, then the pinned ones the caller may see.
pub fn listed_tools(hub: &super::mcp::Hub, who: Option<&Who>) -> Vec<Tool> {
    let index = hub.gateway.registry.index();
    let pinned = index
        .entries()
        .iter()
        .filter(|e| super::visible(who, e) && hub.gateway.pins.iter().any(|p| crate::config::glob(p, &e.name)));
    let code = if hub.gateway.code.is_some() { super::code::tools() } else { &[] };
    own_tools().iter().chain(code).cloned().chain(pinned.map(listed)).collect()
}

/// Whether `name` is one of the profile's own tools (`run_code` and `run_code_write` when code mode is on).
pub fn is_own(hub: &super::mcp::Hub, name: &str) -> bool {
    NAMES.contains(&name)
        || (hub.gateway.code.is_some() && [super::code::RUN_CODE, super::code::RUN_CODE_WRITE].contains(&name))
}

fn failed(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// `search_tools` and `describe_tools`, answered here; for the callers, the tool to call and its arguments (or the
/// answer when the call cannot be made).
pub enum Handled {
    Answer(CallToolResult),
    Call(String, Option<JsonObject>),
    /// A script to run (`run_code`, `run_code_write`).
    Code(Option<JsonObject>),
}

pub fn handle(hub: &super::mcp::Hub, who: Option<&Who>, name: &str, args: Option<JsonObject>) -> Handled {
    if [super::code::RUN_CODE, super::code::RUN_CODE_WRITE].contains(&name) {
        return Handled::Code(args);
    }
    let args = args.unwrap_or_default();
    let registry = &hub.gateway.registry;
    match name {
        "search_tools" => {
            use crate::search::found::{Ask, DEFAULT_LIMIT, found};
            let searched = Ask::from_args(&args, DEFAULT_LIMIT, false)
                .and_then(|ask| found(registry, &[], &ask, |e| super::visible(who, e)));
            Handled::Answer(searched.map_or_else(failed, CallToolResult::structured))
        }
        "describe_tools" => {
            let names: Vec<&str> = args
                .get("names")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if names.is_empty() || names.len() > 50 {
                return Handled::Answer(failed("give 1 to 50 tool names as {\"names\": [...]}".into()));
            }
            let index = registry.index();
            let (mut tools, mut unknown) = (vec![], vec![]);
            for n in names {
                match index.get(n).filter(|e| super::visible(who, e)) {
                    Some(e) => tools.push(serde_json::to_value(listed(e)).unwrap_or_default()),
                    None => unknown.push(json!({"name": n, "did_you_mean": index.suggest(n)})),
                }
            }
            Handled::Answer(CallToolResult::structured(json!({"tools": tools, "unknown": unknown})))
        }
        _ => {
            let Some(target) = args.get("name").and_then(Value::as_str).map(String::from) else {
                return Handled::Answer(failed(format!(
                    "{name} needs {{\"name\": \"<server>__<tool>\", \"arguments\": {{...}}}}"
                )));
            };
            let arguments = match args.get("arguments") {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(o.clone()),
                Some(_) => return Handled::Answer(failed("\"arguments\" must be a JSON object".into())),
            };
            if name == "call_tool"
                && let Some(e) = registry.index().get(&target)
                && !e.read_only()
            {
                return Handled::Answer(failed(format!(
                    "{target} is not read-only ({}): call it with call_tool_write",
                    e.kind()
                )));
            }
            Handled::Call(target, arguments)
        }
    }
}
