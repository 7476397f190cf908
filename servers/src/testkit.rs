//! `testkit`: an MCP server of deliberately awkward tools for hub's tests, chaos runs and benchmarks — a slow
//! tool that reports its cancellation, a failing one, one that crashes the process, a huge result, write and
//! destructive tools, a tool that grows the list (and says so with `tools/list_changed`), one that adds a note
//! (a resource `note://N` and a prompt `note_N`, announced with their `list_changed`), the requests a server
//! makes of its client (`roots`, `elicit`, `sample`) and a call reporting progress and logs (`steps`), the
//! conformance suite's fixture resources (`fixtures`), a rendezvous
//! (`gather`: proves calls overlap without timing them), a single-threaded worker (`busy`, for replicas), and on request
//! hundreds of extra tools or oddly named ones. Not one of the business servers; `hub server testkit` runs it.
//!
//! Environment: `HUB_TESTKIT_LOG` (file: one line per call start, end and cancellation),
//! `HUB_TESTKIT_TOOLS=N` (N extra read-only tools), `HUB_TESTKIT_NAMES=a,b` (extra tools with these names),
//! `HUB_TESTKIT_ECHO_NOTE` (appended to `echo`'s description).

mod asks;
mod fixtures;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, Prompt, PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, Role, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone)]
pub struct Testkit {
    tools: Arc<Mutex<Vec<Tool>>>,
    /// Texts added by `note`: resource `note://N` and prompt `note_N` each.
    notes: Arc<Mutex<Vec<String>>>,
    /// URIs the client subscribed to (`touch` notifies their updates).
    watched: Arc<Mutex<std::collections::HashSet<String>>>,
    log: Option<String>,
    /// Calls of `gather` that have arrived: a rendezvous that proves calls run at the same time without timing
    /// them (sequential calls would each wait out `ms` alone).
    gathered: Arc<tokio::sync::watch::Sender<u64>>,
    /// Held by `busy` while it works: one at a time.
    busy: Arc<tokio::sync::Mutex<()>>,
}

const TOPICS: [&str; 8] = ["weather", "billing", "search", "files", "email", "maps", "music", "stocks"];

fn tool(name: &str, description: &str, schema: Value, read_only: bool, destructive: bool) -> Tool {
    let schema = match schema {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
        .with_annotations(ToolAnnotations::new().read_only(read_only).destructive(destructive))
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

impl Testkit {
    pub fn from_env() -> Self {
        let mut tools = vec![
            tool(
                "echo",
                // HUB_TESTKIT_ECHO_NOTE changes the definition (a "rug pull", for the pin tests).
                &format!("Echo the given text back.{}", std::env::var("HUB_TESTKIT_ECHO_NOTE").unwrap_or_default()),
                object(json!({"text": {"type": "string"}}), &["text"]),
                true,
                false,
            ),
            tool(
                "sleep",
                "Wait for ms milliseconds, then answer; honours cancellation.",
                object(json!({"ms": {"type": "integer", "minimum": 0}}), &["ms"]),
                true,
                false,
            ),
            tool(
                "fail",
                "Always fails with the given message.",
                object(json!({"message": {"type": "string"}}), &[]),
                true,
                false,
            ),
            tool(
                "busy",
                "Works for ms milliseconds (default 20), one call at a time as a single-threaded server would; says which process (and HUB_REPLICA) answered.",
                object(json!({"ms": {"type": "integer", "minimum": 0}}), &[]),
                true,
                false,
            ),
            tool("crash", "Terminates the server process at once.", object(json!({}), &[]), true, false),
            tool(
                "big",
                "Returns a result with `items` array entries of about 100 bytes each.",
                object(json!({"items": {"type": "integer", "minimum": 0}}), &["items"]),
                true,
                false,
            ),
            tool(
                "write",
                "Stores a value (a write tool), after ms milliseconds (default 0).",
                object(json!({"value": {"type": "string"}, "ms": {"type": "integer", "minimum": 0}}), &[]),
                false,
                false,
            ),
            tool("erase", "Erases everything (a destructive tool).", object(json!({}), &[]), false, true),
            tool("grow", "Adds one tool to the list and notifies the client.", object(json!({}), &[]), false, false),
            tool(
                "steps",
                "Takes n steps (default 3), reporting progress and logging a message at each.",
                object(json!({"n": {"type": "integer", "minimum": 1}}), &[]),
                true,
                false,
            ),
            tool("roots", "Asks the client for its roots and returns them.", object(json!({}), &[]), true, false),
            tool(
                "elicit",
                "Asks the client's user for a plan (form elicitation); n = 1: an invalid schema; n = 2: as a task the client runs.",
                object(json!({"n": {"type": "integer"}}), &[]),
                true,
                false,
            ),
            tool("sample", "Asks the client for a model completion (sampling).", object(json!({}), &[]), true, false),
            tool(
                "touch",
                "Says resource uri changed (notifications/resources/updated) if the client subscribed to it.",
                object(json!({"uri": {"type": "string"}}), &["uri"]),
                false,
                false,
            ),
            tool(
                "note",
                "Adds a note: a resource note://N and a prompt note_N, and notifies the client.",
                object(json!({"text": {"type": "string"}}), &["text"]),
                false,
                false,
            ),
            tool(
                "gather",
                "Waits until n calls of gather have arrived (or ms, default 30000, pass), then says how many it met.",
                object(
                    json!({"n": {"type": "integer", "minimum": 1}, "ms": {"type": "integer", "minimum": 0}}),
                    &["n"],
                ),
                true,
                false,
            ),
        ];
        let extra: usize = std::env::var("HUB_TESTKIT_TOOLS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        for i in 0..extra {
            let topic = TOPICS[i % TOPICS.len()];
            let desc = format!("Synthetic tool {i} about {topic}: look up {topic} records.");
            tools.push(tool(&format!("{topic}_tool_{i:04}"), &desc, object(json!({}), &[]), true, false));
        }
        for name in std::env::var("HUB_TESTKIT_NAMES").unwrap_or_default().split(',').filter(|n| !n.is_empty()) {
            tools.push(tool(name, "An oddly named tool.", object(json!({}), &[]), true, false));
        }
        let log = std::env::var("HUB_TESTKIT_LOG").ok();
        Testkit {
            tools: Arc::new(Mutex::new(tools)),
            notes: Arc::default(),
            watched: Arc::default(),
            log,
            gathered: Arc::new(tokio::sync::watch::channel(0).0),
            busy: Arc::default(),
        }
    }

    /// The note numbered `n`.
    fn note(&self, n: Option<&str>) -> Result<String, ErrorData> {
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let found = n.and_then(|n| n.parse::<usize>().ok()).and_then(|i| notes.get(i).cloned());
        found.ok_or_else(|| ErrorData::resource_not_found("no such note", None))
    }

    fn record(&self, line: &str) {
        if let Some(path) = &self.log {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(f, "{ms} {} {line}", std::process::id());
            }
        }
    }

    async fn run(
        &self,
        name: &str,
        args: &serde_json::Map<String, Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let num = |k: &str| args.get(k).and_then(Value::as_u64).unwrap_or(0);
        match name {
            "echo" => CallToolResult::structured(json!({"text": args.get("text").cloned().unwrap_or(Value::Null)})),
            "sleep" => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(num("ms"))) => CallToolResult::structured(json!({"slept_ms": num("ms")})),
                    _ = ctx.ct.cancelled() => {
                        self.record(&format!("cancelled sleep {}", num("ms")));
                        CallToolResult::error(vec![ContentBlock::text("cancelled")])
                    }
                }
            }
            "busy" => {
                let _one = self.busy.lock().await;
                tokio::time::sleep(Duration::from_millis(args.get("ms").and_then(Value::as_u64).unwrap_or(20))).await;
                let replica = std::env::var("HUB_REPLICA").ok();
                CallToolResult::structured(json!({"pid": std::process::id(), "replica": replica}))
            }
            "fail" => {
                let msg = args.get("message").and_then(Value::as_str).unwrap_or("failed on purpose");
                CallToolResult::error(vec![ContentBlock::text(msg.to_string())])
            }
            "crash" => {
                eprintln!("testkit: crashing on request");
                std::process::exit(3)
            }
            "big" => {
                let items: Vec<Value> =
                    (0..num("items")).map(|i| json!({"index": i, "filler": "x".repeat(80)})).collect();
                CallToolResult::structured(json!({"count": items.len(), "items": items}))
            }
            "write" | "erase" => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(num("ms"))) => {}
                    _ = ctx.ct.cancelled() => {}
                }
                CallToolResult::structured(json!({"done": name}))
            }
            "gather" => {
                let mut seen = self.gathered.subscribe();
                self.gathered.send_modify(|c| *c += 1);
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(30_000);
                let met = tokio::time::timeout(Duration::from_millis(ms), seen.wait_for(|c| *c >= num("n"))).await;
                CallToolResult::structured(json!({"met": met.is_ok(), "arrived": *self.gathered.borrow()}))
            }
            "grow" => {
                let n = {
                    let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
                    let n = tools.len();
                    tools.push(tool(&format!("grown_{n}"), "Added by grow.", object(json!({}), &[]), true, false));
                    n
                };
                let _ = ctx.peer.notify_tool_list_changed().await;
                CallToolResult::structured(json!({"added": format!("grown_{n}")}))
            }
            "steps" | "roots" | "elicit" | "sample" => asks::run(name, num("n"), ctx).await,
            "touch" => {
                let uri = args.get("uri").and_then(Value::as_str).unwrap_or_default().to_string();
                let watched = self.watched.lock().unwrap_or_else(|p| p.into_inner()).contains(&uri);
                if watched {
                    let updated = rmcp::model::ResourceUpdatedNotificationParam::new(&uri);
                    let _ = ctx.peer.notify_resource_updated(updated).await;
                }
                CallToolResult::structured(json!({"notified": watched}))
            }
            "note" => {
                let text = args.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
                let n = {
                    let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
                    notes.push(text);
                    notes.len() - 1
                };
                let _ = ctx.peer.notify_resource_list_changed().await;
                let _ = ctx.peer.notify_prompt_list_changed().await;
                CallToolResult::structured(json!({"uri": format!("note://{n}"), "prompt": format!("note_{n}")}))
            }
            _ => CallToolResult::structured(json!({"tool": name})),
        }
    }
}

impl ServerHandler for Testkit {
    #[allow(deprecated)] // logging: see testkit::asks
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
        ServerConfig::new(caps).with_server_info(rmcp::model::Implementation::new("testkit", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.lock().unwrap_or_else(|p| p.into_inner()).clone()))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let n = self.notes.lock().unwrap_or_else(|p| p.into_inner()).len();
        let notes = (0..n).map(|i| Resource::new(format!("note://{i}"), format!("note {i}")));
        Ok(ListResourcesResult::with_all_items(fixtures::resources().into_iter().chain(notes).collect()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(fixtures::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(fixture) = fixtures::read(&request.uri) {
            return Ok(fixture.into());
        }
        let text = self.note(request.uri.strip_prefix("note://"))?;
        let contents = ResourceContents::text(text, request.uri);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let n = self.notes.lock().unwrap_or_else(|p| p.into_inner()).len();
        let prompts = (0..n).map(|i| Prompt::new(format!("note_{i}"), Some("A note, as a prompt."), None));
        Ok(ListPromptsResult::with_all_items(prompts.collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let text = self.note(request.name.strip_prefix("note_"))?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !self.tools.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(format!("unknown tool '{name}'"), None));
        }
        self.record(&format!("start {name}"));
        let args = request.arguments.unwrap_or_default();
        let result = self.run(&name, &args, &context).await;
        self.record(&format!("end {name}"));
        Ok(result.into())
    }
}
