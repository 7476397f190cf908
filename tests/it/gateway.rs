//! `hub serve` as a real process on 127.0.0.1 port 0: REST happy and error paths, the guards (401, 413, 429),
//! MCP over streamable HTTP with an rmcp client — list_changed when a server is killed and comes back, calls
//! failing fast meanwhile —, 16 concurrent clients over one set of servers, the audit log, and a graceful
//! SIGTERM that leaves no child behind.

use crate::util::{Env, HUB, RawSession, alive, client, eventually, rest_call, rt, serve, server_pids};
use rmcp::model::CallToolRequestParams;
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn rest_happy_and_error_paths() {
    let env = Env::new();
    let mut s = serve(&env, &["--audit", env.path("audit.jsonl").to_str().unwrap()]);
    rt().block_on(async {
        let c = client();
        let tools: Value = c.get(format!("{}/tools", s.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(tools["count"], 21);
        assert!(tools["tools"][0]["annotations"]["readOnlyHint"].is_boolean());
        let ok = c
            .post(format!("{}/call", s.base))
            .json(&json!({"tool": "crm.get_customer", "arguments": {"id": "cus_000001"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let ok: Value = ok.json().await.unwrap();
        assert_eq!((ok["success"].as_bool(), ok["server"].as_str()), (Some(true), Some("crm")));
        assert_eq!(ok["result"]["customer"]["name"], "John Smith");
        assert!(ok["execution_time_ms"].as_f64().unwrap() > 0.0);
        let tool_err = rest_call(&c, &s.base, "crm__get_customer", json!({"id": "cus_999999"})).await;
        assert_eq!(tool_err["success"], false);
        assert!(tool_err["error"].as_str().unwrap().contains("not found"));
        let unknown = c.post(format!("{}/call", s.base)).json(&json!({"tool": "crm__nope"})).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
        let bad = c.post(format!("{}/call", s.base)).header("content-type", "application/json").body("{oops");
        let bad = bad.send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let no_tool = c.post(format!("{}/call", s.base)).json(&json!({"arguments": {}})).send().await.unwrap();
        assert_eq!(no_tool.status(), 400);
        let status: Value = c.get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            (status["servers_count"].as_u64(), status["servers_online"].as_u64(), status["tools_count"].as_u64()),
            (Some(5), Some(5), Some(21))
        );
        assert!(
            status["version"].is_string() && status["uptime_seconds"].is_number() && status["last_refresh"].is_string()
        );
        assert_eq!(c.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200);
        let metrics = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains("hub_tool_calls_total{server=\"crm\",tool=\"crm__get_customer\",outcome=\"ok\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics
                .contains("hub_tool_calls_total{server=\"crm\",tool=\"crm__get_customer\",outcome=\"tool_error\"} 1")
        );
        assert!(metrics.contains("hub_tool_call_duration_seconds_count{server=\"crm\",tool=\"crm__get_customer\"} 2"));
        assert!(
            metrics.contains("hub_server_up{server=\"payments\"} 1") && metrics.contains("hub_server_restarts_total")
        );
    });
    // The audit log is buffered (flushed every 100 ms) and written out in full on shutdown.
    assert_eq!(s.stop(), Some(0));
    let audit = std::fs::read_to_string(env.path("audit.jsonl")).unwrap();
    let lines: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 3);
    assert_eq!(lines[0]["tool"], "crm__get_customer");
    assert!(lines[0]["time"].is_string() && lines[0]["client"].is_string() && lines[0]["duration_ms"].is_number());
    assert_eq!(lines[0]["outcome"], "ok");
}

#[test]
fn guards_401_413_429_and_non_loopback_refusal() {
    let env = Env::new();
    let s = serve(&env, &["--token", "s3cret", "--body-limit", "2000", "--rate-limit", "5"]);
    rt().block_on(async {
        let c = client();
        assert_eq!(c.get(format!("{}/tools", s.base)).send().await.unwrap().status(), 401);
        assert_eq!(c.get(format!("{}/tools", s.base)).bearer_auth("wrong").send().await.unwrap().status(), 401);
        assert_eq!(c.post(format!("{}/mcp", s.base)).send().await.unwrap().status(), 401);
        assert_eq!(c.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200, "healthz needs no token");
        let big = json!({"tool": "crm__search_customers", "arguments": {"query": "x".repeat(5000)}});
        assert_eq!(
            c.post(format!("{}/call", s.base)).bearer_auth("s3cret").json(&big).send().await.unwrap().status(),
            413
        );
        let mut limited = None;
        for _ in 0..40 {
            let r = c.get(format!("{}/status", s.base)).bearer_auth("s3cret").send().await.unwrap();
            if r.status() == 429 {
                limited = Some(r);
                break;
            }
        }
        let r = limited.expect("the rate limit never answered 429");
        assert!(r.headers().get("retry-after").is_some());
    });
    let refused = env.run(&["serve", "--http", "0.0.0.0:0"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("without a token"), "{}", refused.stderr);
}

#[derive(Clone, Default)]
struct Watcher(Arc<AtomicUsize>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn mcp_clients_see_a_killed_server_go_and_come_back() {
    let env = Env::new();
    env.config(&format!(
        "{}[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\nrequired = true\nrestart = {{ backoff_ms = 5000 }}\n",
        Env::server_entry("crm", "crm")
    ));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let watcher = Watcher::default();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", s.base));
        let mcp = watcher.clone().serve(transport).await.unwrap();
        let tools = mcp.peer().list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "kit__echo") && tools.iter().any(|t| t.name == "crm__get_customer"));
        let echo = |text: &str| {
            CallToolRequestParams::new("kit__echo").with_arguments(json!({"text": text}).as_object().unwrap().clone())
        };
        let r = mcp.peer().call_tool(echo("hi")).await.unwrap();
        assert_ne!(r.is_error, Some(true));
        let c = client();
        let status: Value = c.get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
        let pid =
            status["servers"].as_array().unwrap().iter().find(|x| x["name"] == "kit").unwrap()["pid"].as_u64().unwrap();
        let before = watcher.0.load(Ordering::SeqCst);
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        // Events, not time windows: list_changed when it goes down; the backoff keeps it down meanwhile.
        let heard = |n: usize| eventually(crate::util::LIMIT, || watcher.0.load(Ordering::SeqCst) >= before + n);
        assert!(heard(1), "list_changed when the server went down");
        // Calls fail fast with a readable error while it is down.
        let r = mcp.peer().call_tool(echo("x")).await.unwrap();
        assert_eq!(r.is_error, Some(true), "{r:?}");
        assert!(hub::output::result_text(&r).contains("server 'kit' is down"), "{r:?}");
        assert_eq!(
            c.get(format!("{}/healthz", s.base)).send().await.unwrap().status(),
            503,
            "a required server is down"
        );
        assert!(heard(2), "list_changed when the server came back");
        let r = mcp.peer().call_tool(echo("back")).await.unwrap();
        assert_ne!(r.is_error, Some(true), "the server came back: {r:?}");
        assert_eq!(c.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200);
        let _ = mcp.cancel().await;
    });
}

#[test]
fn sixteen_concurrent_clients_share_one_set_of_servers() {
    let env = Env::new();
    let s = serve(&env, &[]);
    rt().block_on(async {
        let c = client();
        let before: Value = c.get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
        let url = format!("{}/mcp", s.base);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let mcp = ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(url)).await.unwrap();
                    for _ in 0..10 {
                        let args = json!({"customer_id": format!("cus_{:06}", i + 1)});
                        let r = mcp
                            .peer()
                            .call_tool(
                                CallToolRequestParams::new("payments__get_subscription")
                                    .with_arguments(args.as_object().unwrap().clone()),
                            )
                            .await
                            .unwrap();
                        assert_ne!(r.is_error, Some(true), "{r:?}");
                    }
                    let _ = mcp.cancel().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let after: Value = c.get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
        let pids = |v: &Value| {
            v["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["pid"].clone(), x["restarts"].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(&before), pids(&after), "one process per server for all clients");
        let metrics = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains(
                "hub_tool_calls_total{server=\"payments\",tool=\"payments__get_subscription\",outcome=\"ok\"} 160"
            ),
            "{metrics}"
        );
    });
}

#[test]
fn sigterm_shuts_down_gracefully_and_stops_the_children() {
    let env = Env::new();
    let mut s = serve(&env, &[]);
    let pids = rt().block_on(server_pids(&client(), &s));
    assert_eq!(pids.len(), 5);
    assert_eq!(s.stop(), Some(0));
    assert!(eventually(crate::util::LIMIT, || pids.iter().all(|p| !alive(*p))), "children outlived the gateway");
}

#[test]
fn a_client_cancellation_reaches_the_upstream_server() {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\ntimeout_s = 120\n"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        let mcp =
            ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", s.base)))
                .await
                .unwrap();
        let params =
            CallToolRequestParams::new("kit__sleep").with_arguments(json!({"ms": 60000}).as_object().unwrap().clone());
        let peer = mcp.peer().clone();
        let call = tokio::spawn(async move { peer.call_tool(params).await });
        assert!(eventually(crate::util::LIMIT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("start sleep")));
        // Dropping the request sends notifications/cancelled to the gateway, which cancels upstream.
        call.abort();
        let cancelled = eventually(crate::util::LIMIT, || {
            std::fs::read_to_string(&log).unwrap_or_default().contains("cancelled sleep")
        });
        assert!(cancelled, "the upstream server never saw the cancellation");
        let _ = mcp.cancel().await;
    });
}

#[test]
fn stdio_gateway_answers_unknown_methods_at_once() {
    let env = Env::new();
    let mut s = RawSession::spawn(env.command(&["serve", "--stdio"]));
    assert_eq!(s.initialize()["result"]["serverInfo"]["name"], "hub");
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"no/such/method"}"#);
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let v = s.recv();
        if v.get("id").is_some() {
            answers.push(v);
        }
    }
    // Requests are served concurrently: the answers may come in either order.
    answers.sort_by_key(|a| a["id"].as_i64());
    assert_eq!(answers[0]["error"]["code"], -32601);
    assert_eq!(answers[1]["result"]["tools"].as_array().unwrap().len(), 21);
    s.close();
    assert!(
        eventually(crate::util::LIMIT, || s.child.try_wait().ok().flatten().is_some()),
        "stdin closed ends the gateway"
    );
}
