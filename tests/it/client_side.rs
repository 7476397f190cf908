//! hub as an MCP client (issue #13): what it declares and how it answers a server's requests — roots,
//! elicitation declined with no person present, sampling refused unless offered and allowed, answered by the
//! scripted model under `sampling = "always"` with `maxTokens` honoured — and, through `hub serve`, the same
//! requests forwarded to the downstream client that made the call (refused when it did not declare them), with
//! the server's progress and log messages reaching that client. The server is testkit (`steps`, `roots`,
//! `elicit`, `sample`), which returns what its client answered.
#![allow(deprecated)] // sampling, roots and logging: deprecated by SEP-2577 in rmcp, still in use

use crate::model::{Model, answer};
use crate::util::{Env, HUB, client, eventually, rt, serve};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, Root, SamplingMessage,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn kit(extra: &str) -> String {
    format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{extra}\n")
}

#[test]
fn with_no_person_present_hub_offers_roots_declines_elicitation_and_refuses_sampling() {
    let env = Env::new();
    let dir = env.path("work");
    std::fs::create_dir_all(&dir).unwrap();
    env.config(&format!("roots = [\"{}\"]\n{}", dir.display(), kit("")));
    let roots = env.run(&["call", "kit__roots"]).ok().json();
    assert_eq!(roots["roots"], json!([format!("file://{}", dir.display())]));
    let elicit = env.run(&["call", "kit__elicit"]).ok().json();
    assert_eq!(elicit["action"], "decline");
    // The same asked as a task: hub answers with a task, the server polls it to its end and fetches the result.
    let lent = env.run(&["call", "kit__elicit", r#"{"n": 2}"#]).ok().json();
    let id = lent["task"].as_str().unwrap();
    assert_eq!(lent["polls"].as_array().unwrap().last().unwrap(), "completed", "{lent}");
    assert_eq!(lent["result"]["action"], "decline", "{lent}");
    assert_eq!(lent["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id);
    assert_eq!(lent["listed"]["tasks"][0]["taskId"], id, "{lent}");
    assert!(lent["unknown"].as_str().unwrap().contains("no task \"no-such-task\""), "{lent}");
    let sample = env.run(&["call", "kit__sample"]);
    assert_eq!(sample.code, 1);
    assert!(sample.stderr.contains("hub did not offer sampling to this server"), "{}", sample.stderr);
    let steps = env.run(&["-v", "call", "kit__steps", r#"{"n": 2}"#]).ok();
    assert!(steps.stderr.contains("progress kit__steps: 50% (1/2) step 1"), "{}", steps.stderr);
    assert!(steps.stderr.contains("server log: took step 2 of 2"), "{}", steps.stderr);
    let relative = env.config(&format!("roots = [\"work\"]\n{}", kit("")));
    let refused = env.run(&["--config", relative.to_str().unwrap(), "tools"]);
    assert!(refused.code == 2 && refused.stderr.contains("roots: must be an absolute path"), "{}", refused.stderr);
}

#[test]
fn sampling_is_answered_by_the_model_only_where_the_policy_allows_it() {
    let model = Model::start(vec![answer("Hello from the model.")]);
    let env = Env::new();
    env.config(&format!("{}{}", model.config(""), kit("sampling = \"always\"")));
    let sampled = env.run(&["call", "kit__sample"]).ok().json();
    assert_eq!(sampled["model"], "scripted");
    let sent = &model.requests()[0];
    assert_eq!(sent["max_tokens"], 50, "maxTokens honoured: {sent}");
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "Say hello."}]));

    env.config(&format!("{}{}", model.config(""), kit("")));
    let asked = env.run(&["call", "kit__sample"]);
    assert!(
        asked.stderr.contains("needs the user's approval") && asked.stderr.contains("no one is present"),
        "{}",
        asked.stderr
    );
    env.config(&format!("{}{}", model.config(""), kit("sampling = \"never\"")));
    let never = env.run(&["call", "kit__sample"]);
    assert!(never.stderr.contains("hub did not offer sampling"), "{}", never.stderr);
    assert_eq!(model.requests().len(), 1, "only the allowed request reached the model");
    env.config(&format!("{}{}", model.config(""), kit("sampling = \"sometimes\"")));
    let bad = env.run(&["tools"]);
    assert!(
        bad.code == 2 && bad.stderr.contains("sampling: must be \"ask\", \"always\" or \"never\""),
        "{}",
        bad.stderr
    );
}

/// A downstream client that declares sampling, elicitation and roots and records what it is told.
#[derive(Clone, Default)]
struct Capable {
    progress: Arc<Mutex<Vec<f64>>>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Capable {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        caps.sampling = Some(Default::default());
        caps.elicitation = Some(Default::default());
        caps.roots = Some(Default::default());
        ClientConfig::new(caps, Implementation::new("capable", "1"))
    }
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let asked = params.messages[0].content.iter().next().and_then(|c| c.as_text()).map(|t| t.text.clone());
        Ok(CreateMessageResult::new(SamplingMessage::assistant_text(asked.unwrap_or_default()), "client-model".into()))
    }
    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({"plan": "pro"})))
    }
    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(vec![Root::new("file:///client/project")]))
    }
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params.progress);
    }
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().unwrap().push(format!("{}: {}", params.logger.unwrap_or_default(), params.data));
    }
}

async fn call(peer: &rmcp::Peer<RoleClient>, tool: &str, args: Value) -> rmcp::model::CallToolResult {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().unwrap().clone());
    peer.call_tool(params).await.unwrap()
}

#[test]
fn the_gateway_forwards_a_servers_requests_to_the_client_that_made_the_call() {
    let env = Env::new();
    env.config(&kit(""));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let capable = Capable::default();
        let url = format!("{}/mcp", s.base);
        let mcp = capable.clone().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url.clone())).await;
        let mcp = mcp.unwrap();
        let peer = mcp.peer();
        let sampled = call(peer, "kit__sample", json!({})).await;
        assert_eq!(sampled.structured_content.unwrap()["model"], "client-model", "the client's callback answered");
        let elicited = call(peer, "kit__elicit", json!({})).await.structured_content.unwrap();
        assert_eq!((elicited["action"].as_str(), &elicited["content"]), (Some("accept"), &json!({"plan": "pro"})));
        // Asked as a task (2025-11-25): hub runs it, asking this client plainly, and the server polls it.
        let lent = call(peer, "kit__elicit", json!({"n": 2})).await.structured_content.unwrap();
        assert_eq!(lent["result"]["content"], json!({"plan": "pro"}), "{lent}");
        let roots = call(peer, "kit__roots", json!({})).await.structured_content.unwrap();
        assert_eq!(roots["roots"], json!(["file:///client/project"]));
        let mut params =
            CallToolRequestParams::new("kit__steps").with_arguments(json!({"n": 3}).as_object().unwrap().clone());
        params.meta = None;
        let steps = peer.call_tool(params).await.unwrap();
        assert_eq!(steps.structured_content.unwrap()["steps"], 3);
        let heard = eventually(crate::util::LIMIT, || capable.progress.lock().unwrap().len() == 3);
        assert!(heard, "the client heard the server's progress: {:?}", capable.progress.lock().unwrap());
        // rmcp's client runs each notification's handler on a task of its own, so this side may see them in
        // any order (hub's own ordering is `wire::barrier`'s test); compare them sorted.
        let mut progress = capable.progress.lock().unwrap().clone();
        progress.sort_by(f64::total_cmp);
        assert_eq!(progress, [1.0, 2.0, 3.0]);
        let logged = eventually(crate::util::LIMIT, || capable.logs.lock().unwrap().len() >= 3);
        assert!(logged, "{:?}", capable.logs.lock().unwrap());
        let mut logs = capable.logs.lock().unwrap().clone();
        logs.sort();
        assert!(logs[0].starts_with("kit/testkit: \"took step 1 of 3\""), "{logs:?}");

        // A client that declared nothing: the server's requests are refused, the session goes on.
        let plain = ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url)).await.unwrap();
        let refused = call(plain.peer(), "kit__sample", json!({})).await;
        assert_eq!(refused.is_error, Some(true));
        assert!(hub::output::result_text(&refused).contains("did not declare it"), "{refused:?}");
        let refused = call(plain.peer(), "kit__elicit", json!({})).await;
        assert!(hub::output::result_text(&refused).contains("elicitation refused"), "{refused:?}");
        let still = call(plain.peer(), "kit__echo", json!({"text": "on"})).await;
        assert_ne!(still.is_error, Some(true));
        let status: Value = client().get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(status["servers"][0]["state"], "up");
        let _ = plain.cancel().await;
        let _ = mcp.cancel().await;
    });
}

#[test]
fn ask_json_says_what_servers_asked_and_what_became_of_it() {
    let m = Model::start(vec![
        crate::model::calls(&[("e", "kit__elicit", "{}"), ("s", "kit__sample", "{}")]),
        answer("nobody could answer"),
    ]);
    let env = Env::new();
    env.config(&format!("{}{}", m.config(""), kit("")));
    let doc = env.run(&["ask", "try both", "--json"]).ok().json();
    let asked = doc["server_requests"].as_array().unwrap();
    let find = |kind: &str| asked.iter().find(|a| a["kind"] == kind).unwrap_or_else(|| panic!("{kind}: {asked:?}"));
    let elicitation = find("elicitation");
    assert_eq!((elicitation["server"].as_str(), elicitation["outcome"].as_str()), (Some("kit"), Some("decline")));
    assert_eq!(elicitation["reason"], "no person is present to answer");
    let sampling = find("sampling");
    assert_eq!(sampling["outcome"], "refused");
    assert!(sampling["reason"].as_str().unwrap().contains("needs the user's approval"), "{sampling}");

    // Under "always" the model answers the server, and its tokens count with the question's.
    let m = Model::start(vec![
        crate::model::calls(&[("s", "kit__sample", "{}")]),
        answer("Hello."),
        answer("the server was answered"),
    ]);
    env.config(&format!("{}{}", m.config(""), kit("sampling = \"always\"")));
    let doc = env.run(&["ask", "sample once", "--json"]).ok().json();
    let sampling = &doc["server_requests"][0];
    assert_eq!(sampling["outcome"], "answered", "{doc}");
    assert_eq!(sampling["usage"]["total_tokens"], 120, "the scripted model's usage per request: {sampling}");
    assert_eq!(doc["usage"]["total_tokens"], 360, "two turns of the loop and one sampling request");
}

#[test]
fn bad_requests_from_a_server_are_refused_clearly_and_the_session_goes_on() {
    let env = Env::new();
    env.config(&kit(""));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let c = client();
        let call = |tool: &str, args: Value| {
            let (c, url) = (c.clone(), format!("{}/call", s.base));
            let body = json!({"tool": tool, "arguments": args});
            async move { c.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let invalid = call("kit__elicit", json!({"n": 1})).await;
        assert_eq!(invalid["success"], false);
        assert!(
            invalid["error"].as_str().unwrap().contains("elicitation/create refused: its params are invalid"),
            "{invalid}"
        );
        // REST has no client to forward to: nobody is present, and the policy says ask.
        let sample = call("kit__sample", json!({})).await;
        assert!(sample["error"].as_str().unwrap().contains("needs the user's approval"), "{sample}");
        let echo = call("kit__echo", json!({"text": "still here"})).await;
        assert_eq!(echo["result"]["text"], "still here");
    });
    let blob = env.run(&["read", "test://static-binary"]).ok().stdout;
    assert!(blob.contains("binary image/png") && blob.contains("not shown") && !blob.contains("iVBOR"), "{blob}");
    let json = env.run(&["read", "test://static-binary", "--json"]).ok().json();
    assert!(json["contents"][0]["blob"].as_str().unwrap().starts_with("iVBOR"), "--json gives it whole");
}
