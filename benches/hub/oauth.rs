//! The `oauth` scenario (issue #14): what OAuth costs. In the library: the credentials rmcp reads for every
//! request — `FileStore::load` with its modification-time cache (one stat) against reading the record each time
//! (`store::load`: read and parse; with the keyring in use, a `secret-tool` process as well). End to end, against
//! the FastMCP OAuth fixture (`../shared/interop/oauth_server.py`, when its venv is installed): `hub auth login`
//! with the browser played by one GET, then `hub call oauthfx__add` with the stored token (the connection needs no
//! discovery: the metadata was kept at login).

use super::{HUB, summary};
use hub::auth::store::{self, FileStore, Record};
use rmcp::transport::auth::{CredentialStore, StoredCredentials};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn oauth() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before the runtime and any other thread starts; only this process reads it.
    unsafe { std::env::set_var("XDG_STATE_HOME", dir.path().join("state")) };
    in_library();
    end_to_end(dir.path());
}

fn in_library() {
    println!("## oauth: the credentials read per request (release)");
    let url = "https://mcp.example.com/mcp";
    let token = serde_json::from_value(serde_json::json!({
        "access_token": "a".repeat(64), "token_type": "bearer", "expires_in": 3600, "refresh_token": "r".repeat(64)
    }))
    .unwrap();
    let credentials = StoredCredentials::new("client".into(), Some(token), vec!["read".into()], Some(4_000_000_000));
    let record = Record { url: url.into(), credentials: Some(credentials), ..Record::default() };
    store::save("bench", &record).unwrap();
    println!("secrets kept in: {}", hub::auth::vault::describe());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cached = FileStore::new("bench", url);
    let n = 2_000u32;
    let start = Instant::now();
    for _ in 0..n {
        rt.block_on(cached.load()).unwrap().unwrap();
    }
    println!("FileStore::load (cached, one stat): {:.1} µs per request (n={n})", per(start, n));
    let start = Instant::now();
    for _ in 0..n {
        store::load("bench").unwrap().unwrap();
    }
    println!("store::load (read and parse every time): {:.1} µs per request (n={n})", per(start, n));
}

fn per(start: Instant, n: u32) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn end_to_end(dir: &std::path::Path) {
    let home = std::env::var("HOME").unwrap_or_default();
    let python = format!("{home}/.cache/hub-interop/venv-fastmcp/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/interop/oauth_server.py");
    if !std::path::Path::new(&python).exists() {
        println!("(end to end skipped: {python} is missing; run ../shared/interop/setup.sh)");
        return;
    }
    println!("## oauth: end to end against the FastMCP OAuth fixture (release)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut fixture = Command::new(&python)
        .args([script, "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = dir.join("servers.toml");
    std::fs::write(&config, format!("[servers.oauthfx]\nurl = \"http://127.0.0.1:{port}/mcp\"\n")).unwrap();
    let hub = |args: &[&str]| {
        let mut c = Command::new(HUB);
        c.arg("--config").arg(&config).args(args).env("HUB_DATA_DIR", dir.join("data"));
        c
    };
    let start = Instant::now();
    let mut login = hub(&["auth", "login", "oauthfx", "--no-browser"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(login.stderr.take().unwrap()).lines().map_while(Result::ok);
    let url = lines.map(|l| l.trim().to_string()).find(|l| l.contains("/authorize?")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    assert!(login.wait().unwrap().success());
    println!(
        "hub auth login (discovery, registration, code exchange; browser = one GET): {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let call = || {
        let start = Instant::now();
        let out = hub(&["call", "oauthfx__add", r#"{"a":2,"b":40}"#]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("42"));
        start.elapsed()
    };
    call();
    summary("hub call oauthfx__add with the stored token (whole process)", (0..20).map(|_| call()).collect());
    let _ = fixture.kill();
    let _ = fixture.wait();
}
