//! JWT bearer auth for teams (issue #27): `[gateway.auth]` with a JWKS served by the test on 127.0.0.1 and tokens
//! signed here with a test-only key (`tests/fixtures/jwt-test-key.pem`). A valid token's scope grants a named
//! policy; `alg: none`, a token signed by another key, an expired one, one for another audience or issuer are 401
//! (with the RFC 9728 metadata URL in WWW-Authenticate); the metadata is published; when the JWKS endpoint goes
//! down, cached keys keep working, and a gateway that never had keys answers 503 — never "allow".

use crate::util::{Env, client, rt, serve};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const KEY: &[u8] = include_bytes!("../fixtures/jwt-test-key.pem");
const OTHER: &[u8] = include_bytes!("../fixtures/jwt-other-key.pem");
const JWKS: &str = include_str!("../fixtures/jwt-test-jwks.json");

/// Serves the JWKS on 127.0.0.1 until the returned sender is dropped.
fn jwks_server() -> (String, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route("/jwks.json", axum::routing::get(|| async { JWKS }));
            let stop = async move {
                let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
            };
            axum::serve(listener, app).with_graceful_shutdown(stop).await.unwrap();
        })
    });
    (format!("http://{}/jwks.json", addr_rx.recv().unwrap()), tx)
}

fn token(key: &[u8], claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-1".into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
}

/// A token signed with a shared secret (HS256) under the JWKS key's `kid`.
fn hmac(claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-1".into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"guessable")).unwrap()
}

fn claims(scope: &str, aud: &str, exp_in: i64) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    json!({"iss": "https://idp.test", "aud": aud, "sub": "alice@example.com", "scope": scope, "exp": now + exp_in, "nbf": now - 5})
}

fn config(jwks: &str) -> String {
    format!(
        "{}\n[gateway.tokens.reader]\nservers = [\"crm\"]\n\n[gateway.auth]\nissuer = \"https://idp.test\"\naudience = \"hub\"\n\
         jwks_url = \"{jwks}\"\npolicies = {{ \"hub:read\" = \"reader\" }}\n",
        Env::server_entry("crm", "crm")
    )
}

#[test]
fn tokens_from_the_identity_provider_are_checked_and_mapped_to_policies() {
    let (jwks, stop) = jwks_server();
    let env = Env::new();
    env.config(&config(&jwks));
    let s = serve(&env, &[]);
    let fresh = serve(&env, &[]);
    rt().block_on(async {
        let c = client();
        let tools = |base: &str, t: &str| c.get(format!("{base}/tools")).bearer_auth(t).send();
        let good = token(KEY, claims("openid hub:read", "hub", 600));
        let r = tools(&s.base, &good).await.unwrap();
        assert_eq!(r.status(), 200);
        let doc: Value = r.json().await.unwrap();
        assert!(
            doc["tools"].as_array().unwrap().iter().all(|t| t["server"] == "crm") && doc["count"].as_u64() > Some(0)
        );

        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", good.split('.').nth(1).unwrap());
        let refusals = [
            ("alg none", none),
            ("another key", token(OTHER, claims("hub:read", "hub", 600))),
            ("expired", token(KEY, claims("hub:read", "hub", -600))),
            ("another audience", token(KEY, claims("hub:read", "other", 600))),
            ("no policy granted", token(KEY, claims("openid", "hub", 600))),
            ("HMAC", hmac(claims("hub:read", "hub", 600))),
        ];
        for (what, t) in &refusals {
            let r = tools(&s.base, t).await.unwrap();
            assert_eq!(r.status(), 401, "{what}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
            assert!(challenge.contains("resource_metadata=") && challenge.contains("invalid_token"), "{challenge}");
        }
        let meta = c.get(format!("{}/.well-known/oauth-protected-resource", s.base)).send().await.unwrap();
        let meta: Value = meta.json().await.unwrap();
        assert_eq!(meta["authorization_servers"], json!(["https://idp.test"]));
        assert_eq!(meta["resource"], format!("{}/mcp", s.base));
        assert_eq!(tools(&s.base, "").await.unwrap().status(), 401, "a token is needed");

        // The JWKS endpoint goes down: cached keys keep working; a gateway that never fetched them answers 503.
        drop(stop);
        let down = reqwest::get(&jwks).await;
        assert!(down.is_err() || !down.unwrap().status().is_success(), "the JWKS server stopped");
        assert_eq!(tools(&s.base, &good).await.unwrap().status(), 200, "cached keys");
        assert_eq!(tools(&fresh.base, &good).await.unwrap().status(), 503, "no keys: never allow");
    });
}

#[test]
fn a_websocket_under_a_jwt_keeps_its_identitys_rate_limit_per_call() {
    let (jwks, _stop) = jwks_server();
    let env = Env::new();
    env.config(&config(&jwks).replace("servers = [\"crm\"]\n", "servers = [\"crm\"]\nrate = 1\n"));
    let s = serve(&env, &[]);
    rt().block_on(async {
        use crate::ws::{connect, next, send};
        let good = token(KEY, claims("hub:read", "hub", 600));
        let mut ws = connect(&s.base, Some(&good)).await.unwrap();
        let args = json!({"customer_id": "cus_000001"});
        for id in 0..6 {
            send(&mut ws, json!({"id": id, "tool": "crm__get_customer", "arguments": args})).await;
        }
        let mut limited = 0;
        for _ in 0..6 {
            let m = next(&mut ws).await;
            if m["event"] == "error" {
                assert!(m["data"]["error"].as_str().unwrap().contains("this token's rate limit"), "{m}");
                limited += 1;
            }
        }
        assert!(limited > 0, "six calls at once under rate = 1: the identity's limit refuses some");
    });
}
