//! Who may call what through `hub serve` (issue #27): named tokens of `[gateway.tokens]`, each with its policy —
//! what its `/tools` and MCP `tools/list` show, what its calls may run (403 / an MCP error naming the rule, the
//! tool never run), its identity in the audit log and metrics (never the token), a warning for a policy glob that
//! matches no tool, and an unset token variable refused by `hub serve` alone.

use crate::util::{Env, client, rt, serve};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

fn servers() -> String {
    ["crm", "tickets", "calendar"].iter().map(|s| Env::server_entry(s, s)).collect()
}

const TOKENS: &str = r#"
[gateway.tokens.reader]
token = "${READER_TOKEN}"
servers = ["crm", "calendar"]
deny = ["crm__search_*"]

[gateway.tokens.scheduler]
token = "sched-token"
allow = ["calendar__*"]
write = true
"#;

#[test]
fn each_token_sees_and_calls_only_what_its_policy_allows() {
    let mut env = Env::new();
    env.set("READER_TOKEN", "read-token");
    env.config(&format!("{}{TOKENS}", servers()));
    let audit = env.path("audit.jsonl");
    let mut s = serve(&env, &["--audit", audit.to_str().unwrap()]);
    rt().block_on(async {
        let c = client();
        let tools = |token: &'static str| {
            let r = c.get(format!("{}/tools", s.base)).bearer_auth(token).send();
            async move { r.await.unwrap().json::<Value>().await.unwrap() }
        };
        let call = |token: &'static str, tool: &str, args: Value| {
            let body = json!({"tool": tool, "arguments": args});
            let r = c.post(format!("{}/call", s.base)).bearer_auth(token).json(&body).send();
            async move {
                let r = r.await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let seen = tools("read-token").await;
        let names: Vec<&str> = seen["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"crm__get_customer") && names.contains(&"calendar__get_meeting"), "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("crm__") || n.starts_with("calendar__")), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("crm__search_")), "deny wins: {names:?}");
        assert!(seen["tools"].as_array().unwrap().iter().all(|t| t["read_only"] == true), "write = false");
        assert_eq!(seen["count"], names.len());

        let cancel = json!({"id": "MTG-00001", "reason": "x"});
        let (code, body) = call("read-token", "calendar__cancel_meeting", cancel.clone()).await;
        assert_eq!(code, 403, "{body}");
        let why = body["error"].as_str().unwrap();
        assert!(why.contains("token 'reader' may not call calendar__cancel_meeting") && why.contains("write = false"));
        let (code, body) = call("read-token", "tickets__get_ticket", json!({"id": "TCK-01001"})).await;
        assert!(code == 403 && body["error"].as_str().unwrap().contains("server 'tickets'"), "{body}");
        let (code, _) = call("read-token", "crm__get_customer", json!({"id": "cus_000001"})).await;
        assert_eq!(code, 200);
        let (_, meeting) = call("read-token", "calendar__get_meeting", json!({"id": "MTG-00001"})).await;
        assert_eq!(meeting["result"]["status"], "scheduled", "the refused call never ran");
        let (code, body) = call("sched-token", "crm__get_customer", json!({"id": "cus_000001"})).await;
        assert!(code == 403 && body["error"].as_str().unwrap().contains("allow list"), "{body}");
        assert_eq!(call("nope", "crm__get_customer", json!({})).await.0, 401);

        // Resources and prompts follow the policy's servers.
        let get = |path: &str| c.get(format!("{}{path}", s.base)).bearer_auth("read-token").send();
        let templates: Value = get("/resources").await.unwrap().json().await.unwrap();
        let servers: Vec<&str> =
            templates["templates"].as_array().unwrap().iter().map(|t| t["server"].as_str().unwrap()).collect();
        assert!(servers.contains(&"crm") && !servers.contains(&"tickets"), "{servers:?}");
        let prompts: Value = get("/prompts").await.unwrap().json().await.unwrap();
        let prompts = prompts["prompts"].as_array().unwrap();
        assert!(prompts.iter().all(|p| p["server"] != "tickets") && !prompts.is_empty(), "{prompts:?}");
        assert_eq!(get("/resource?uri=ticket://TCK-01001").await.unwrap().status(), 403);
        assert_eq!(get("/resource?uri=customer://cus_000001").await.unwrap().status(), 200);
        let body = json!({"name": "tickets__triage_ticket", "arguments": {"id": "TCK-01001"}});
        let refused = c.post(format!("{}/prompt", s.base)).bearer_auth("read-token").json(&body).send().await.unwrap();
        assert_eq!(refused.status(), 403);

        // The same over MCP: the list is the token's, and a call outside it is an error naming the rule.
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", s.base)).auth_header("read-token");
        let mcp = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
        let listed = mcp.peer().list_all_tools().await.unwrap();
        assert_eq!(listed.len(), names.len());
        let args = cancel.as_object().unwrap().clone();
        let refused = mcp.peer().call_tool(CallToolRequestParams::new("calendar__cancel_meeting").with_arguments(args));
        let refused = refused.await.unwrap_err().to_string();
        assert!(refused.contains("may not call calendar__cancel_meeting"), "{refused}");
        let read = mcp.peer().read_resource(rmcp::model::ReadResourceRequestParams::new("ticket://TCK-01001")).await;
        assert!(read.unwrap_err().to_string().contains("may not read ticket://TCK-01001"));
        assert!(mcp.peer().list_all_prompts().await.unwrap().iter().all(|p| !p.name.starts_with("tickets__")));
        let _ = mcp.cancel().await;

        let (code, _) = call("sched-token", "calendar__cancel_meeting", cancel).await;
        assert_eq!(code, 200, "the scheduler may write to the calendar");
        let metrics = c.get(format!("{}/metrics", s.base)).bearer_auth("read-token").send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        assert!(metrics.contains("hub_identity_calls_total{identity=\"reader\",outcome=\"forbidden\"} 3"), "{metrics}");
        assert!(metrics.contains("hub_identity_calls_total{identity=\"scheduler\",outcome=\"ok\"} 1"));
    });
    assert_eq!(s.stop(), Some(0), "a graceful stop writes out the audit log");
    let audit = std::fs::read_to_string(audit).unwrap();
    assert!(audit.lines().any(|l| l.contains("\"identity\":\"reader\"") && l.contains("\"outcome\":\"forbidden\"")));
    assert!(!audit.contains("read-token") && !audit.contains("sched-token"), "tokens never logged");
}

#[test]
fn policies_are_checked_at_start() {
    let env = Env::new();
    let typo = "\n[gateway.tokens.typo]\ntoken = \"t\"\nallow = [\"crm__get_customr\"]\nservers = [\"billing\"]\n";
    env.config(&format!("{}{typo}", servers()));
    let run = env.run(&["serve", "--stdio"]);
    assert!(run.stderr.contains("token 'typo': 'crm__get_customr' matches no tool"), "{}", run.stderr);
    assert!(run.stderr.contains("token 'typo' names server 'billing', which is not configured"), "{}", run.stderr);
    // An unset token variable: `hub serve` refuses to start; other commands do not need it.
    env.config(&format!("{}{TOKENS}", servers()));
    let refused = env.run(&["serve", "--stdio"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("gateway.tokens.reader.token") && refused.stderr.contains("READER_TOKEN"));
    env.run(&["tools"]).ok();
}
