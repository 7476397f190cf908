//! The `policy` scenario (issue #27): what the gateway's caller checks cost per request — the named-token lookup
//! (`guard::Limits::check` against 10 named tokens, the matching one last, each compared in constant time) and
//! a policy decision (`Policy::permits` with 5 allow and 5 deny globs), a JWT's validation — in the library, and
//! end to end: REST
//! `/call kit__echo` sequentially through `hub serve` with no token against the same with a named token whose
//! policy allows it.

use super::{HUB, summary};
use axum::http::{HeaderMap, HeaderValue, header};
use hub::config::gateway::{Identity, Policy};
use hub::gateway::guard::{Guards, Limits};
use std::time::{Duration, Instant};

pub fn policy() {
    in_library();
    jwt_decode();
    end_to_end();
}

fn per_call(label: &str, n: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    println!("{label}: {:.0} ns per request (n={n})", start.elapsed().as_nanos() as f64 / f64::from(n));
}

fn in_library() {
    println!("## policy: the caller checks in the library (release)");
    let policy = Policy {
        allow: (0..5).map(|i| format!("srv{i}__*")).collect(),
        deny: (0..5).map(|i| format!("*__delete_{i}*")).collect(),
        servers: vec![],
        write: true,
    };
    let identities = (0..10)
        .map(|i| Identity {
            name: format!("id{i}"),
            token: Some(Ok(format!("token-{i:032}"))),
            policy: policy.clone(),
            rate: None,
        })
        .collect();
    let guards = Guards {
        token: None,
        admin_token: None,
        body_limit: 1 << 20,
        rate: None,
        allowed_hosts: vec![],
        allowed_origins: vec![],
        identities,
        jwt: false,
    };
    let limits = Limits::new(&guards);
    let mut headers = HeaderMap::new();
    let last = format!("Bearer token-{:032}", 9);
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&last).unwrap());
    let ip = "127.0.0.1".parse().unwrap();
    per_call("token lookup (10 named tokens, the last matches)", 200_000, || {
        assert!(std::hint::black_box(limits.check(&guards, ip, "/call", &headers)).is_ok());
    });
    per_call("policy decision (5 allow + 5 deny globs)", 1_000_000, || {
        assert!(std::hint::black_box(policy.permits("srv4__get_thing", "srv4", true)).is_ok());
    });
}

fn end_to_end() {
    println!("## policy: REST /call kit__echo, sequential, 2 000 calls after 200 warm-up");
    let kit = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    let named = "[gateway.tokens.bench]\ntoken = \"bench-token\"\nallow = [\"kit__*\"]\ndeny = [\"*__write\"]\n";
    for (label, config, token) in
        [("no token", kit.clone(), None), ("named token + policy", format!("{kit}{named}"), Some("bench-token"))]
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("servers.toml"), config).unwrap();
        let (mut child, base) = super::serve::start(HUB, dir.path());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let times = rt.block_on(async {
            let c = reqwest::Client::new();
            let body = serde_json::json!({"tool": "kit__echo", "arguments": {"text": "hi"}});
            let mut times = Vec::new();
            for i in 0..2_200 {
                let mut r = c.post(format!("{base}/call")).json(&body);
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                let start = Instant::now();
                let status = r.send().await.unwrap().status();
                assert!(status.is_success(), "{status}");
                if i >= 200 {
                    times.push(start.elapsed());
                }
            }
            times
        });
        summary(label, times);
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A JWT's validation as `gateway::jwt` does it once the key is cached: header, signature (RS256, 2048-bit),
/// `exp`/`nbf`/`aud`/`iss`.
pub fn jwt_decode() {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
    let key = EncodingKey::from_rsa_pem(include_bytes!("../../tests/fixtures/jwt-test-key.pem")).unwrap();
    let set: JwkSet = serde_json::from_str(include_str!("../../tests/fixtures/jwt-test-jwks.json")).unwrap();
    let decoding = DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"iss": "i", "aud": "hub", "sub": "s", "scope": "hub:read", "exp": now + 600});
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["hub"]);
    v.set_issuer(&["i"]);
    per_call("JWT validation (RS256 2048-bit, claims checked; key cached)", 20_000, || {
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).is_ok());
    });
}
