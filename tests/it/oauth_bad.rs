//! OAuth against authorization setups that are wrong, scripted here (no interop venv needed): malformed
//! protected-resource metadata, an authorization server whose endpoints are plain http on another host, a
//! redirect URI off this machine, and an authorization server that never answers a refresh — each a one-line
//! error naming the server and what to do, within the server's startup timeout, the other servers unharmed.

use crate::util::Env;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// A protected MCP server whose metadata is `prm` (the text of its RFC 9728 document); its authorization server
/// (on the same port, when `endpoints_host` is given) names endpoints there. Returns the `/mcp` URL.
fn start(prm: &'static str, endpoints_host: Option<&'static str>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        crate::util::rt().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let challenge = format!("Bearer resource_metadata=\"{base}/prm\"");
            let doc = prm.replace("BASE", &base);
            let host = endpoints_host.unwrap_or_default();
            let as_meta = json!({
                "issuer": base, "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "authorization_endpoint": format!("{host}/authorize"),
                "token_endpoint": format!("{host}/token"),
            });
            let mut app = axum::Router::new()
                .route(
                    "/mcp",
                    axum::routing::post(move || async move {
                        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)]).into_response()
                    }),
                )
                .route("/prm", axum::routing::get(move || async move { doc }));
            if endpoints_host.is_some() {
                let meta = axum::routing::get(move || async move { axum::Json(as_meta) });
                app = app.route("/.well-known/oauth-authorization-server", meta);
            }
            tx.send(base).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("{}/mcp", rx.recv().unwrap())
}

fn env_for(url: &str, extra: &str) -> Env {
    let env = Env::new();
    env.config(&format!("[servers.bad]\nurl = \"{url}\"\n{extra}\n{}", Env::server_entry("crm", "crm")));
    env
}

/// The stderr of a failed login: exactly one line, `hub: cannot log in to bad: …`.
fn login_error(env: &Env) -> String {
    let r = env.run(&["auth", "login", "bad", "--no-browser", "--timeout", "5"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("hub:")).collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].starts_with("hub: cannot log in to bad: "), "{}", r.stderr);
    lines[0].to_string()
}

#[test]
fn malformed_metadata_and_plain_http_endpoints_elsewhere_are_refused() {
    let env = env_for(&start("{ this is not json", None), "");
    let line = login_error(&env);
    assert!(line.contains("metadata at http://") && line.contains("/prm is malformed"), "{line}");

    let prm = r#"{"resource": "BASE/mcp", "authorization_servers": ["BASE"]}"#;
    let env = env_for(&start(prm, Some("http://auth.example.com")), "");
    let line = login_error(&env);
    assert!(line.contains("http://auth.example.com/authorize is not https (refused"), "{line}");

    let env = env_for(
        &start(prm, Some("http://127.0.0.1:1")),
        "oauth = { redirect_uri = \"http://auth.example.com:80/cb\" }",
    );
    let r = env.run(&["auth", "login", "bad", "--no-browser"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("servers.bad.oauth.redirect_uri") && r.stderr.contains("auth.example.com"));
}

#[test]
fn an_authorization_server_that_never_answers_a_refresh_costs_only_its_startup_timeout() {
    let prm = r#"{"resource": "BASE/mcp", "authorization_servers": ["BASE"]}"#;
    let url = start(prm, Some("http://127.0.0.1:1"));
    // A token endpoint that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let token_endpoint = format!("http://{}/token", silent.local_addr().unwrap());
    let env = env_for(&url, "startup_timeout_s = 2");
    let record = json!({
        "url": url, "issuer": "x",
        "client": {"client_id": "hub-test", "redirect_uri": "http://127.0.0.1:9/callback", "how": "registered"},
        "metadata": {"authorization_endpoint": "http://127.0.0.1:1/authorize", "token_endpoint": token_endpoint},
        "credentials": {"client_id": "hub-test", "granted_scopes": [], "token_received_at": 1,
            "token_response": {"access_token": "old", "token_type": "bearer", "expires_in": 60, "refresh_token": "r"}},
    });
    std::fs::create_dir_all(env.path("state/hub/auth")).unwrap();
    std::fs::write(env.path("state/hub/auth/bad.json"), serde_json::to_vec(&record).unwrap()).unwrap();
    let r = env.run(&["call", "crm__search_customers", r#"{"query":"acme"}"#]).ok();
    assert!(!r.stdout.is_empty());
    let status: Value = env.run(&["status", "--json"]).ok().json();
    let bad = status["servers"].as_array().unwrap().iter().find(|s| s["name"] == "bad").unwrap().clone();
    assert_eq!(bad["state"], "down", "{bad}");
    assert!(bad["last_error"].as_str().unwrap().contains("no answer to initialize within 2.0s"), "{bad}");
    drop(silent);
}
