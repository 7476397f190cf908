//! MCP beyond tools (issue #13): the business servers' prompts (their records attached), `hub prompts` and
//! `hub prompt`, and the gateway serving every server's resources, templates and prompts over MCP and REST —
//! with `resources/list_changed` and `prompts/list_changed` reaching sessions when a server's lists change.

use crate::util::{Env, HUB, Mcp, client, eventually, rt, serve};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn args(v: Value) -> rmcp::model::JsonObject {
    v.as_object().unwrap().clone()
}

/// The text of an embedded resource, parsed as JSON, and its URI.
fn embedded(m: &rmcp::model::PromptMessage) -> (String, Value) {
    match &m.content.as_resource().expect("an embedded resource").resource {
        ResourceContents::TextResourceContents { uri, text, .. } => (uri.clone(), serde_json::from_str(text).unwrap()),
        other => panic!("text expected: {other:?}"),
    }
}

#[tokio::test]
async fn business_servers_offer_prompts_with_their_records_attached() {
    let d = tempfile::tempdir().unwrap();
    let tickets = Mcp::start(d.path(), "tickets").await;
    let peer = tickets.service.peer();
    let listed = peer.list_all_prompts().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "triage_ticket");
    let arg = &listed[0].arguments.as_ref().unwrap()[0];
    assert_eq!((arg.name.as_str(), arg.required), ("id", Some(true)));
    let id = tickets.ok("list_tickets", json!({})).await["tickets"][0]["id"].as_str().unwrap().to_string();
    let got =
        peer.get_prompt(GetPromptRequestParams::new("triage_ticket").with_arguments(args(json!({"id": id})))).await;
    let got = got.unwrap();
    assert!(got.messages[0].content.as_text().unwrap().text.contains(&id), "{got:?}");
    let (uri, ticket) = embedded(&got.messages[1]);
    assert_eq!(uri, format!("ticket://{id}"));
    assert_eq!(ticket, tickets.ok("get_ticket", json!({"id": id})).await, "the record as the tool gives it");
    let missing = peer.get_prompt(GetPromptRequestParams::new("triage_ticket")).await.unwrap_err().to_string();
    assert!(missing.contains("needs the argument 'id'"), "{missing}");
    let unknown = peer
        .get_prompt(GetPromptRequestParams::new("triage_ticket").with_arguments(args(json!({"id": "TCK-99999"}))))
        .await
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("not found"), "the lookup tool's own message: {unknown}");
    tickets.stop().await;

    let analytics = Mcp::start(d.path(), "analytics").await;
    let weekly = analytics.service.peer().get_prompt(GetPromptRequestParams::new("weekly_report")).await.unwrap();
    let reports: Vec<(String, Value)> = weekly.messages[1..].iter().map(embedded).collect();
    assert_eq!(reports.len(), 6);
    assert!(reports.iter().all(|(_, r)| r["period"] == "7d"), "{reports:?}");
    let want = analytics.ok("get_report", json!({"metric": "mrr", "period": "7d"})).await;
    assert_eq!(reports[0], ("metric://mrr?period=7d".to_string(), want));
    analytics.stop().await;

    let calendar = Mcp::start(d.path(), "calendar").await;
    let meeting = calendar.service.peer().read_resource(ReadResourceRequestParams::new("meeting://MTG-00001")).await;
    let ResourceContents::TextResourceContents { text, .. } = &meeting.unwrap().contents[0] else { panic!() };
    let read: Value = serde_json::from_str(text).unwrap();
    assert_eq!(read, calendar.ok("get_meeting", json!({"id": "MTG-00001"})).await);
    calendar.stop().await;
}

#[test]
fn hub_lists_prompts_and_fills_one_in() {
    let env = Env::new();
    let doc = env.run(&["prompts", "--json"]).ok().json();
    let names: Vec<(&str, &str)> = doc["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["server"].as_str().unwrap()))
        .collect();
    for want in [
        ("tickets__triage_ticket", "tickets"),
        ("crm__account_summary", "crm"),
        ("analytics__weekly_report", "analytics"),
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let printed = env.run(&["prompt", "tickets__triage_ticket", r#"{"id": "TCK-01001"}"#]).ok().stdout;
    assert!(printed.starts_with("── user ──\nTriage support ticket TCK-01001"), "{printed}");
    assert!(printed.contains("── user · ticket://TCK-01001 ──"), "{printed}");
    let json = env.run(&["prompt", "tickets.triage_ticket", r#"{"id": "TCK-01001"}"#, "--json"]).ok().json();
    assert_eq!(json["server"], "tickets");
    assert_eq!(json["messages"][1]["content"]["resource"]["uri"], "ticket://TCK-01001");

    let missing = env.run(&["prompt", "tickets__triage_ticket"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("missing required argument id"), "{}", missing.stderr);
    let wrong = env.run(&["prompt", "crm__account_summary", r#"{"email": 5}"#]);
    assert!(wrong.code == 1 && wrong.stderr.contains("'email' must be a string, got a number"), "{}", wrong.stderr);
    let extra = env.run(&["prompt", "analytics__weekly_report", r#"{"week": "49"}"#]);
    assert!(
        extra.code == 1 && extra.stderr.contains("unknown argument 'week' (it takes no arguments)"),
        "{}",
        extra.stderr
    );
    let unknown = env.run(&["prompt", "tickets__triage"]);
    assert!(unknown.code == 1 && unknown.stderr.contains("did you mean tickets__triage_ticket"), "{}", unknown.stderr);
    let not_json = env.run(&["prompt", "tickets__triage_ticket", "id=1"]);
    assert_eq!(not_json.code, 2, "{}", not_json.stderr);
}

/// Counts the resource and prompt list_changed notifications a session hears.
#[derive(Clone, Default)]
struct Heard(Arc<(AtomicUsize, AtomicUsize)>);

impl ClientHandler for Heard {
    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.0.0.fetch_add(1, Ordering::SeqCst);
    }
    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.0.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_gateway_serves_resources_and_prompts_over_mcp_and_rest() {
    let env = Env::new();
    env.config(&format!(
        "{}{}[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n",
        Env::server_entry("crm", "crm"),
        Env::server_entry("tickets", "tickets")
    ));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let c = client();
        let get = |path: String| {
            let c = c.clone();
            async move {
                let r = c.get(path).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (code, listed) = get(format!("{}/resources", s.base)).await;
        assert_eq!(code, 200);
        let templates: Vec<&str> = listed["templates"].as_array().unwrap().iter().map(|t| t["uriTemplate"].as_str().unwrap()).collect();
        assert_eq!(templates, ["customer://{id}", "test://template/{id}/data", "ticket://{id}"]);
        let (code, read) = get(format!("{}/resource?uri=customer://cus_000001", s.base)).await;
        assert_eq!((code, read["server"].as_str()), (200, Some("crm")), "{read}");
        assert!(read["contents"][0]["text"].as_str().unwrap().contains("cus_000001"));
        assert_eq!(get(format!("{}/resource?uri=nope://1", s.base)).await.0, 404);
        assert_eq!(get(format!("{}/resource", s.base)).await.0, 400);
        let (_, prompts) = get(format!("{}/prompts", s.base)).await;
        let named: Vec<&str> = prompts["prompts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(named, ["crm__account_summary", "tickets__triage_ticket"]);
        let post = |body: Value| {
            let c = c.clone();
            let url = format!("{}/prompt", s.base);
            async move {
                let r = c.post(url).json(&body).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (code, filled) = post(json!({"name": "tickets__triage_ticket", "arguments": {"id": "TCK-01001"}})).await;
        assert_eq!(code, 200, "{filled}");
        assert_eq!(filled["messages"][1]["content"]["resource"]["uri"], "ticket://TCK-01001");
        let (code, e) = post(json!({"name": "tickets__triage_ticket"})).await;
        assert!(code == 400 && e["error"].as_str().unwrap().contains("missing required argument id"), "{e}");
        assert_eq!(post(json!({"name": "nope__x"})).await.0, 404);

        // The same over MCP, and list_changed for resources and prompts when a server's lists change.
        let heard = Heard::default();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", s.base));
        let mcp = heard.clone().serve(transport).await.unwrap();
        let peer = mcp.peer();
        let caps = peer.peer_info().unwrap().capabilities.clone();
        assert!(caps.resources.is_some() && caps.prompts.is_some(), "{caps:?}");
        let over_mcp = peer.list_all_resource_templates().await.unwrap();
        assert_eq!(over_mcp.len(), 3);
        let read = peer.read_resource(ReadResourceRequestParams::new("ticket://TCK-01001")).await.unwrap();
        assert!(matches!(&read.contents[0], ResourceContents::TextResourceContents { text, .. } if text.contains("TCK-01001")));
        let missing = peer.read_resource(ReadResourceRequestParams::new("nope://1")).await.unwrap_err().to_string();
        assert!(missing.contains("no server lists it"), "{missing}");
        let names: Vec<String> = peer.list_all_prompts().await.unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["crm__account_summary", "tickets__triage_ticket"]);
        let got = peer
            .get_prompt(GetPromptRequestParams::new("tickets__triage_ticket").with_arguments(args(json!({"id": "TCK-01001"}))))
            .await
            .unwrap();
        assert_eq!(got.messages.len(), 2);
        let bad = peer.get_prompt(GetPromptRequestParams::new("tickets__triage_ticket")).await.unwrap_err().to_string();
        assert!(bad.contains("missing required argument id"), "{bad}");

        let noted = c.post(format!("{}/call", s.base)).json(&json!({"tool": "kit__note", "arguments": {"text": "remember"}}));
        assert_eq!(noted.send().await.unwrap().status(), 200);
        let told = eventually(crate::util::LIMIT, || heard.0.0.load(Ordering::SeqCst) >= 1 && heard.0.1.load(Ordering::SeqCst) >= 1);
        assert!(told, "resources/list_changed and prompts/list_changed reached the session");
        let resources = peer.list_all_resources().await.unwrap();
        assert!(resources.iter().any(|r| r.uri == "note://0"), "{resources:?}");
        let note = peer.get_prompt(GetPromptRequestParams::new("kit__note_0")).await.unwrap();
        assert_eq!(note.messages[0].content.as_text().unwrap().text, "remember");
        let _ = mcp.cancel().await;
    });
}

/// Counts the `resources/updated` notifications a session hears.
#[derive(Clone, Default)]
struct Updates(Arc<AtomicUsize>);

impl ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        _params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
#[allow(deprecated)] // resources/subscribe: legacy in rmcp, what servers use today
fn subscriptions_through_the_gateway_share_one_upstream_subscription() {
    use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
    let env = Env::new();
    env.config(&format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n"));
    let s = serve(&env, &["--admin-token", "sesame"]);
    rt().block_on(async {
        let c = client();
        let touch = || {
            let c = c.clone();
            let url = format!("{}/call", s.base);
            async move {
                let body = json!({"tool": "kit__touch", "arguments": {"uri": "test://watched-resource"}});
                let r: Value = c.post(url).json(&body).send().await.unwrap().json().await.unwrap();
                r["result"]["notified"].as_bool().unwrap()
            }
        };
        let connect = |u: Updates| {
            let url = format!("{}/mcp", s.base);
            async move { u.serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url)).await.unwrap() }
        };
        let (a, b) = (Updates::default(), Updates::default());
        let (ma, mb) = (connect(a.clone()).await, connect(b.clone()).await);
        let uri = "test://watched-resource";
        assert!(mb.peer().peer_info().unwrap().capabilities.resources.as_ref().unwrap().subscribe == Some(true));
        ma.peer().subscribe(SubscribeRequestParams::new(uri)).await.unwrap();
        mb.peer().subscribe(SubscribeRequestParams::new(uri)).await.unwrap();
        assert!(touch().await, "the server was subscribed");
        let heard = |u: &Updates, n: usize| eventually(crate::util::LIMIT, || u.0.load(Ordering::SeqCst) >= n);
        assert!(heard(&a, 1) && heard(&b, 1), "both sessions heard the update");

        // The server restarts and has forgotten the subscription: hub subscribes again and tells the sessions
        // the resource may have changed.
        let restart = c.post(format!("{}/servers/kit/restart", s.base)).bearer_auth("sesame").send().await.unwrap();
        assert_eq!(restart.status().as_u16(), 202);
        assert!(heard(&a, 2) && heard(&b, 2), "both sessions told after the restart");
        assert!(touch().await, "subscribed again upstream after the restart");
        assert!(heard(&a, 3) && heard(&b, 3));

        ma.peer().unsubscribe(UnsubscribeRequestParams::new(uri)).await.unwrap();
        assert!(touch().await, "still subscribed upstream: the other session holds it");
        assert!(heard(&b, 4));
        mb.peer().unsubscribe(UnsubscribeRequestParams::new(uri)).await.unwrap();
        assert!(!touch().await, "the last holder left: unsubscribed upstream");
        assert_eq!(a.0.load(Ordering::SeqCst), 3, "no update after unsubscribing");
        let unknown = ma.peer().subscribe(SubscribeRequestParams::new("nope://x")).await.unwrap_err().to_string();
        assert!(unknown.contains("no server lists it"), "{unknown}");
        let _ = ma.cancel().await;
        let _ = mb.cancel().await;
    });
}
