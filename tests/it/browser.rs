//! The gateway as a web page would attack it (issue #27): `hub serve --http 127.0.0.1:PORT` with no token, and a
//! page the user visits sending "simple" cross-origin requests (no preflight) — `text/plain` and form-encoded
//! bodies to `/call`, a `null` Origin, a DNS-rebinding Host, reads of `/tools` and `/mcp`, a preflight — each
//! refused, with the side effect absent: the meeting the attack tries to cancel is still scheduled. An Origin
//! allowed with `--allow-origin` gets CORS for itself alone.

use crate::util::{Env, Served, client, rt, serve};
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HOST, ORIGIN};
use serde_json::{Value, json};

const ATTACK: &str = r#"{"tool":"calendar__cancel_meeting","arguments":{"id":"MTG-00001","reason":"x"}}"#;

/// The meeting's status, read the way a CLI would (no Origin).
async fn meeting(s: &Served) -> String {
    let body = json!({"tool": "calendar__get_meeting", "arguments": {"id": "MTG-00001"}});
    let r: Value = client().post(format!("{}/call", s.base)).json(&body).send().await.unwrap().json().await.unwrap();
    r["result"]["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_web_page_cannot_reach_the_gateway() {
    let env = Env::new();
    let s = serve(&env, &["--allow-origin", "http://app.example"]);
    rt().block_on(async {
        let c = client();
        assert_eq!(meeting(&s).await, "scheduled");
        let url = format!("{}/call", s.base);
        let port = s.base.rsplit(':').next().unwrap().to_string();
        let post = |origin: Option<&'static str>, kind: &'static str, body: &'static str| {
            let mut r = c.post(&url).header(CONTENT_TYPE, kind).body(body);
            if let Some(o) = origin {
                r = r.header(ORIGIN, o);
            }
            r.send()
        };
        let status = |r: reqwest::Response| r.status().as_u16();
        // The simple cross-origin requests a page sends without a preflight.
        assert_eq!(status(post(Some("http://evil.example"), "text/plain", ATTACK).await.unwrap()), 403);
        let form = "tool=calendar__cancel_meeting";
        let evil = "http://evil.example";
        assert_eq!(status(post(Some(evil), "application/x-www-form-urlencoded", form).await.unwrap()), 403);
        assert_eq!(status(post(Some("null"), "text/plain", ATTACK).await.unwrap()), 403, "a sandboxed frame");
        assert_eq!(status(post(Some(evil), "application/json", ATTACK).await.unwrap()), 403, "with a preflight");
        // Without an Origin (not a browser) the body must still be JSON.
        assert_eq!(status(post(None, "text/plain", ATTACK).await.unwrap()), 415);
        // DNS rebinding: the page's own host name, resolved to 127.0.0.1, and no Origin needed (same-origin).
        let rebound = c.post(&url).header(HOST, format!("evil.example:{port}")).json(&json!({})).send().await;
        assert_eq!(status(rebound.unwrap()), 403);
        let read = c.get(format!("{}/tools", s.base)).header(HOST, format!("evil.example:{port}")).send().await;
        assert_eq!(status(read.unwrap()), 403, "no answer to read across a rebinding");
        let read = c.get(format!("{}/tools", s.base)).header(ORIGIN, evil).send().await.unwrap();
        assert_eq!(read.status(), 403);
        assert!(read.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "no CORS for a foreign Origin");
        let mcp = c.post(format!("{}/mcp", s.base)).header(ORIGIN, evil).header(CONTENT_TYPE, "application/json");
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
        assert_eq!(status(mcp.body(init.to_string()).send().await.unwrap()), 403, "/mcp validates Origin too");
        let preflight = |origin: &'static str| {
            let r = c.request(reqwest::Method::OPTIONS, &url).header(ORIGIN, origin);
            r.header("access-control-request-method", "POST").send()
        };
        let refused = preflight(evil).await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(meeting(&s).await, "scheduled", "no attack ran");

        // The allowed Origin: a preflight answered for it alone, and its responses name it.
        let app = "http://app.example";
        let answered = preflight(app).await.unwrap();
        assert_eq!(answered.status(), 204);
        assert_eq!(answered.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], app);
        let tools = c.get(format!("{}/tools", s.base)).header(ORIGIN, app).send().await.unwrap();
        assert_eq!(tools.status(), 200);
        assert_eq!(tools.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], app);
        let plain = c.get(format!("{}/tools", s.base)).send().await.unwrap();
        assert!(plain.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "no CORS without an Origin");
    });
}
