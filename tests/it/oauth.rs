//! OAuth 2.1 against a real protected MCP server nobody here wrote: `../shared/interop/oauth_server.py` (FastMCP
//! with its in-memory authorization server: metadata, dynamic registration, PKCE, refresh, revocation). Its
//! /authorize approves at once and redirects, so the test plays the browser with one GET of the printed URL.
//! Needs the interop venv (`../shared/interop/setup.sh`); without it these tests say so loudly and pass, unless
//! HUB_REQUIRE_INTEROP is set (CI sets it, after installing the venv).

use crate::util::{Env, LIMIT, eventually};
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The fixture server, killed on drop.
pub struct Fixture {
    child: Child,
    pub url: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Fixture {
    /// Starts oauth_server.py on a free port; `None` (after a loud note) when the venv is not installed.
    pub fn start() -> Option<Fixture> {
        let home = std::env::var("HUB_INTEROP_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/hub-interop"));
        let python = home.join("venv-fastmcp/bin/python");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/oauth_server.py");
        if !python.exists() || !script.exists() {
            let why = format!("{} or {} is missing", python.display(), script.display());
            assert!(std::env::var_os("HUB_REQUIRE_INTEROP").is_none(), "OAuth fixture required: {why}");
            eprintln!(
                "\n*** SKIPPED: the OAuth tests need the interop venv ({why}); run ../shared/interop/setup.sh ***\n"
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(python)
            .arg(script)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oauth_server.py");
        let up = eventually(LIMIT, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "oauth_server.py did not listen on {port}");
        Some(Fixture { child, url: format!("http://127.0.0.1:{port}/mcp") })
    }
}

/// A port free now and below the kernel's ephemeral range, so no `bind 0` elsewhere in the suite can be handed it
/// before the fixture listens on it (a port from `bind 0`, released, can be — and the readiness probe would then
/// connect to the wrong process).
fn free_port() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u32 = range.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(32768).max(10001);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (0..)
        .map(|i: u32| 10000 + (seed.wrapping_add(i.wrapping_mul(7919)) ^ std::process::id()) % (low - 10000))
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p as u16)).is_ok())
        .unwrap() as u16
}

/// An env whose servers.toml has the fixture as `oauthfx` and crm beside it.
pub fn env_with(url: &str, extra: &str) -> Env {
    let env = Env::new();
    env.config(&format!("[servers.oauthfx]\nurl = \"{url}\"\n{extra}\n{}", Env::server_entry("crm", "crm")));
    env
}

/// `hub auth login oauthfx --no-browser ARGS`, running; with the authorization URL it printed.
pub struct Login {
    child: Child,
    pub url: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Login {
    pub fn start(env: &Env, args: &[&str]) -> Login {
        let mut all = vec!["auth", "login", "oauthfx", "--no-browser"];
        all.extend_from_slice(args);
        let mut child = env.command(&all).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let url = loop {
            let line = rx.recv_timeout(LIMIT).expect("login printed no authorization URL");
            if let Some(u) = line.trim().strip_prefix("http").filter(|u| u.contains("/authorize?")) {
                break format!("http{u}");
            }
        };
        Login { child, url, stderr: rx }
    }

    /// A query parameter of the authorization URL.
    pub fn param(&self, key: &str) -> String {
        let url = reqwest::Url::parse(&self.url).unwrap();
        url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned()).unwrap()
    }

    /// Waits for the exit: code, stdout, stderr (the rest of it).
    pub fn finish(mut self) -> (i32, String, String) {
        let done = eventually(LIMIT, || self.child.try_wait().ok().flatten().is_some());
        assert!(done, "hub auth login did not end");
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut out).unwrap();
        // The reader thread may still hold the last lines: read to its end (EOF once hub is gone), not what has
        // arrived so far.
        let mut err = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(LIMIT) {
            err.push(line);
        }
        (code, out, err.join("\n"))
    }
}

/// GET `url` as a browser would (following redirects to the loopback callback): status and body.
pub fn browse(url: &str) -> (u16, String) {
    crate::util::rt().block_on(async {
        let r = crate::util::client().get(url).send().await.expect("GET");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}

/// Logs in by playing the browser; returns the login's stdout.
pub fn log_in(env: &Env) -> String {
    let login = Login::start(env, &[]);
    let (status, body) = browse(&login.url);
    assert!(status == 200 && body.contains("hub is authorized"), "{status} {body}");
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "login failed: {out}\n{err}");
    out
}

/// The stored record of `oauthfx`.
pub fn record(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.path("state/hub/auth/oauthfx.json")).expect("credential file");
    serde_json::from_str(&text).unwrap()
}

pub fn edit_record(env: &Env, f: impl FnOnce(&mut Value)) {
    let mut r = record(env);
    f(&mut r);
    std::fs::write(env.path("state/hub/auth/oauthfx.json"), serde_json::to_vec(&r).unwrap()).unwrap();
}

pub fn token(env: &Env, which: &str) -> String {
    record(env)["credentials"]["token_response"][which].as_str().unwrap().to_string()
}

#[test]
fn login_call_reuse_refresh_and_logout_against_a_real_oauth_server() {
    let Some(fx) = Fixture::start() else { return };
    let env = env_with(&fx.url, "");
    // Before a login: the server needs one, and says how; the others work meanwhile.
    let r = env.run(&["call", "oauthfx__whoami"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("needs login: run `hub auth login oauthfx`"), "{}", r.stderr);
    let status = env.run(&["status", "--json"]).ok().json();
    let state = |name: &str| {
        let servers = status["servers"].as_array().or(status.as_array()).unwrap().clone();
        servers.into_iter().find(|s| s["name"] == name).unwrap()["state"].clone()
    };
    assert_eq!((state("oauthfx"), state("crm")), ("needs_login".into(), "up".into()));
    assert!(env.run(&["auth", "status"]).ok().stdout.contains("not logged in"));

    let out = log_in(&env);
    assert!(out.contains("Logged in to oauthfx") && out.contains("registered"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(env.path(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("state/hub/auth/oauthfx.json"), mode("state/hub/auth")), (0o600, 0o700));
    let config = std::fs::read_to_string(env.path("servers.toml")).unwrap();
    let (access, refresh) = (token(&env, "access_token"), token(&env, "refresh_token"));
    assert!(!config.contains(&access));

    // A call, and a second process reusing the stored token (no new login).
    let client_id = record(&env)["client"]["client_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let r = env.run(&["call", "oauthfx__whoami"]).ok();
        assert!(r.stdout.contains(&client_id), "{}", r.stdout);
    }
    assert_eq!(token(&env, "access_token"), access, "no refresh was needed");
    let st = env.run(&["auth", "status", "--json"]).ok();
    let row = &st.json()["servers"][0];
    assert_eq!((row["state"].as_str(), row["refreshable"].as_bool()), (Some("authorized"), Some(true)));
    assert!(row["expires_at"].as_u64().is_some());

    // Expired (as far as hub knows): refreshed before use, and the new tokens are stored.
    edit_record(&env, |r| r["credentials"]["token_received_at"] = 1.into());
    let r = env.run(&["-vv", "call", "oauthfx__whoami"]).ok();
    assert!(r.stdout.contains(&client_id));
    let fresh = token(&env, "access_token");
    assert_ne!(fresh, access, "the expired token was refreshed");
    for secret in [&access, &refresh, &fresh, &token(&env, "refresh_token")] {
        assert!(!r.stdout.contains(secret.as_str()) && !r.stderr.contains(secret.as_str()), "a token leaked (-vv)");
        assert!(!st.stdout.contains(secret.as_str()), "a token leaked (auth status)");
    }

    // A token the server refuses (401): one refresh, then the call goes through.
    edit_record(&env, |r| r["credentials"]["token_response"]["access_token"] = "not-a-token".into());
    env.run(&["call", "oauthfx__whoami"]).ok();
    assert_ne!(token(&env, "access_token"), "not-a-token");

    // Nothing usable left (both refused): a clear message, no hang.
    let kept = record(&env);
    edit_record(&env, |r| {
        r["credentials"]["token_response"]["access_token"] = "revoked".into();
        r["credentials"]["token_response"]["refresh_token"] = "revoked".into();
    });
    let r = env.run(&["call", "oauthfx__whoami"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("needs login: run `hub auth login oauthfx`"), "{}", r.stderr);

    // Logout revokes at the server: the old token no longer works there either.
    std::fs::write(env.path("state/hub/auth/oauthfx.json"), serde_json::to_vec(&kept).unwrap()).unwrap();
    let live = token(&env, "access_token");
    let out = env.run(&["auth", "logout", "oauthfx"]).ok().stdout;
    assert!(out.contains("tokens revoked at the server"), "{out}");
    assert!(!env.path("state/hub/auth/oauthfx.json").exists());
    let status = crate::util::rt().block_on(async {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let req = crate::util::client().post(&fx.url).bearer_auth(&live).json(&body);
        req.header("accept", "application/json, text/event-stream").send().await.unwrap().status().as_u16()
    });
    assert_eq!(status, 401, "a revoked token is refused by the server");
    assert!(env.run(&["auth", "status"]).ok().stdout.contains("not logged in"));
}

#[test]
fn the_callback_refuses_a_foreign_state_and_reports_a_denial_or_a_timeout() {
    let Some(fx) = Fixture::start() else { return };
    let env = env_with(&fx.url, "");
    // A request with another state is answered 400 and the login goes on; the real one completes it.
    let login = Login::start(&env, &[]);
    let redirect = login.param("redirect_uri");
    let (status, body) = browse(&format!("{redirect}?code=stolen&state=not-this-login"));
    assert_eq!(status, 400, "{body}");
    assert!(browse(&login.url).1.contains("hub is authorized"));
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");

    // The user (or the server) says no: one line naming the server and the reason. (This login reuses the client
    // hub registered the first time: one registration per authorization server.)
    let registered = record(&env)["client"]["client_id"].as_str().unwrap().to_string();
    let login = Login::start(&env, &[]);
    assert_eq!(login.param("client_id"), registered);
    let redirect = login.param("redirect_uri");
    let denied = format!("{redirect}?error=access_denied&error_description=nope&state={}", login.param("state"));
    assert_eq!(browse(&denied).0, 200);
    let (code, _, err) = login.finish();
    assert_eq!(code, 1);
    assert!(
        err.contains("hub: cannot log in to oauthfx: the authorization server answered access_denied (nope)"),
        "{err}"
    );

    // Nobody comes back: the wait ends with a clear message.
    let (code, _, err) = Login::start(&env, &["--timeout", "1"]).finish();
    assert_eq!(code, 1);
    assert!(err.contains("no authorization came back within 1 s"), "{err}");
}

#[test]
fn a_gateway_reports_the_login_it_needs_and_picks_up_a_new_one() {
    let Some(fx) = Fixture::start() else { return };
    let env = env_with(&fx.url, "");
    let served = crate::util::serve(&env, &[]);
    let status = || {
        crate::util::rt().block_on(async {
            let r = crate::util::client().get(format!("{}/status", served.base)).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    let state = |doc: &Value, name: &str| {
        let servers = doc["servers"].as_array().cloned().unwrap_or_default();
        servers.into_iter().find(|s| s["name"] == name).map(|s| (s["state"].clone(), s["last_error"].clone()))
    };
    let doc = status();
    let (st, why) = state(&doc, "oauthfx").unwrap();
    assert_eq!(st, "needs_login");
    assert!(why.as_str().unwrap().contains("hub auth login oauthfx"));
    assert_eq!(state(&doc, "crm").unwrap().0, "up");
    // Someone logs in from another terminal: the gateway connects on its own.
    log_in(&env);
    assert!(eventually(LIMIT, || state(&status(), "oauthfx").is_some_and(|(s, _)| s == "up")));
}

/// A `hub --offline chat` whose stdout and stderr lines are read as they come.
pub struct Chat {
    child: Child,
    pub stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Chat {
    pub fn start(env: &Env) -> Chat {
        let mut child = env
            .command(&["--offline", "chat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let out = Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>;
        for pipe in [out, Box::new(child.stderr.take().unwrap())] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Chat { child, stdin, lines }
    }

    /// Types one line.
    pub fn say(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").unwrap();
    }

    /// The first line (from now) that satisfies `pred`; panics when chat goes quiet for `LIMIT`.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.lines.recv_timeout(LIMIT).expect("chat went quiet");
            if pred(&line) {
                return line;
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    /// Closes stdin and checks that chat ends.
    pub fn end(mut self) {
        drop(self.stdin);
        assert!(eventually(LIMIT, || self.child.try_wait().ok().flatten().is_some()), "chat did not end at EOF");
    }
}

#[test]
fn chat_says_which_server_needs_a_login_and_logs_in_with_slash_login() {
    let Some(fx) = Fixture::start() else { return };
    let env = env_with(&fx.url, "");
    let mut chat = Chat::start(&env);
    chat.say("/login oauthfx");
    chat.wait_for(|l| l.contains("oauthfx needs a login: /login oauthfx"));
    let url = chat.wait_for(|l| l.contains("/authorize?"));
    assert!(browse(url.trim()).1.contains("hub is authorized"));
    chat.wait_for(|l| l.starts_with("Logged in to oauthfx"));
    // The supervisor sees the new login and connects; /servers shows it up.
    let mut up = false;
    for _ in 0..60 {
        chat.say("/servers");
        let row = chat.wait_for(|l| l.starts_with("oauthfx "));
        if row.contains(" up ") {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(up, "oauthfx did not come up after /login");
    chat.end();
}
