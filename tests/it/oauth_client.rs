//! Which client hub is to an authorization server, and step-up, against a protected MCP server scripted here: a
//! configured client ID metadata document is used when the server advertises support (no registration), a
//! configured `client_id` always wins, and a 403 `insufficient_scope` on a call says which scope to log in with.
//! The scripted server accepts the bearer token "good" and grants no scope but the default.

use crate::oauth::Login;
use crate::util::Env;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Starts the scripted server; returns its `/mcp` URL and the count of registration requests it got.
fn start() -> (String, Arc<AtomicUsize>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let registrations = Arc::new(AtomicUsize::new(0));
    let counted = registrations.clone();
    std::thread::spawn(move || {
        crate::util::rt().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let prm = json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]});
            let meta = json!({
                "issuer": base, "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "authorization_endpoint": format!("{base}/authorize"), "token_endpoint": format!("{base}/token"),
                "registration_endpoint": format!("{base}/register"), "client_id_metadata_document_supported": true,
            });
            let challenge = format!("Bearer resource_metadata=\"{base}/prm\"");
            let mcp = move |headers: HeaderMap, body: axum::Json<Value>| {
                let challenge = challenge.clone();
                async move { answer(&headers, &body.0, &challenge) }
            };
            let register = move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::BAD_REQUEST, "registration is not expected here").into_response() }
            };
            let app = axum::Router::new()
                .route("/mcp", axum::routing::post(mcp))
                .route("/prm", axum::routing::get(move || async move { axum::Json(prm) }))
                .route(
                    "/.well-known/oauth-authorization-server",
                    axum::routing::get(move || async move { axum::Json(meta) }),
                )
                .route("/register", axum::routing::post(register));
            tx.send(base).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("{}/mcp", rx.recv().unwrap()), registrations)
}

fn answer(headers: &HeaderMap, msg: &Value, challenge: &str) -> axum::response::Response {
    let authorized = headers.get(header::AUTHORIZATION).is_some_and(|v| v == "Bearer good");
    if !authorized {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge.to_string())]).into_response();
    }
    let Some(id) = msg.get("id").cloned() else { return StatusCode::ACCEPTED.into_response() };
    let result = match msg["method"].as_str().unwrap_or("") {
        "initialize" => json!({"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
            "serverInfo": {"name": "scoped", "version": "0"}}),
        "tools/list" => json!({"tools": [{"name": "admin_only", "inputSchema": {"type": "object"}}]}),
        "tools/call" => {
            let step_up = "Bearer error=\"insufficient_scope\", scope=\"admin\"";
            return (StatusCode::FORBIDDEN, [(header::WWW_AUTHENTICATE, step_up)]).into_response();
        }
        _ => json!({}),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn env_for(url: &str, oauth: &str) -> Env {
    let env = Env::new();
    env.config(&format!("[servers.oauthfx]\nurl = \"{url}\"\n{oauth}\n{}", Env::server_entry("crm", "crm")));
    env
}

#[test]
fn a_metadata_document_or_a_configured_client_is_used_without_registering() {
    let (url, registrations) = start();
    let doc = "https://hub.example.org/oauth/client.json";
    let env = env_for(&url, &format!("oauth = {{ client_metadata_url = \"{doc}\" }}"));
    let login = Login::start(&env, &["--timeout", "1"]);
    assert_eq!(login.param("client_id"), doc);
    assert_eq!(login.param("code_challenge_method"), "S256");
    assert_eq!(login.param("resource"), url);
    assert_eq!(login.finish().0, 1, "nobody came back: the wait ends");

    let env = env_for(&url, "oauth = { client_id = \"pre-registered\", scopes = [\"read\", \"write\"] }");
    let login = Login::start(&env, &["--timeout", "1"]);
    assert_eq!(login.param("client_id"), "pre-registered");
    assert_eq!(login.param("scope"), "read write");
    login.finish();
    assert_eq!(registrations.load(Ordering::SeqCst), 0, "no dynamic registration was needed");
}

#[test]
fn a_call_refused_for_its_scope_says_which_scope_to_log_in_with() {
    let (url, _) = start();
    let env = env_for(&url, "");
    let record = json!({
        "url": url, "issuer": "x",
        "client": {"client_id": "hub-test", "redirect_uri": "http://127.0.0.1:9/callback", "how": "registered"},
        "metadata": {"authorization_endpoint": "http://127.0.0.1:1/authorize", "token_endpoint": "http://127.0.0.1:1/token"},
        "credentials": {"client_id": "hub-test", "granted_scopes": [], "token_received_at": 4_000_000_000u64,
            "token_response": {"access_token": "good", "token_type": "bearer", "expires_in": 3600}},
    });
    std::fs::create_dir_all(env.path("state/hub/auth")).unwrap();
    std::fs::write(env.path("state/hub/auth/oauthfx.json"), serde_json::to_vec(&record).unwrap()).unwrap();
    let r = env.run(&["call", "oauthfx__admin_only"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("run `hub auth login oauthfx --scope admin`"), "{}", r.stderr);
}

#[test]
fn chat_logs_in_with_the_scopes_it_is_given() {
    let (url, _) = start();
    let env = env_for(&url, "oauth = { client_id = \"fixed\" }");
    let mut chat = crate::oauth::Chat::start(&env);
    chat.say("/login oauthfx admin audit");
    let line = chat.wait_for(|l| l.contains("/authorize?"));
    let url = reqwest::Url::parse(line.trim()).unwrap();
    let scope = url.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned());
    assert_eq!(scope.as_deref(), Some("admin audit"));
    // Nobody comes back from the browser: Ctrl-C ends the wait, and chat goes on.
    chat.interrupt();
    chat.wait_for(|l| l == "(interrupted)");
    chat.say("/servers");
    chat.wait_for(|l| l.starts_with("oauthfx ") && l.contains("needs login"));
    chat.end();
}
