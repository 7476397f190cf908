//! Shared by the benches: start `hub serve --http 127.0.0.1:0` in a directory and read the address it prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The running gateway and its base URL (`http://127.0.0.1:PORT`); stderr keeps being drained.
pub fn start(hub: &str, dir: &std::path::Path) -> (Child, String) {
    start_with(hub, dir, &["--no-socket"])
}

/// `start` with these extra flags (`--socket PATH` to be attached to).
pub fn start_with(hub: &str, dir: &std::path::Path, extra: &[&str]) -> (Child, String) {
    start_env(hub, dir, extra, &[])
}

/// `start_with` with these variables in its environment.
pub fn start_env(hub: &str, dir: &std::path::Path, extra: &[&str], vars: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(hub)
        .args(["serve", "--http", "127.0.0.1:0"])
        .args(extra)
        .envs(vars.iter().copied())
        .env("HUB_DATA_DIR", dir)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn hub serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("hub serve exited before listening").expect("read stderr");
        if let Some(rest) = line.strip_prefix("hub serve: http://") {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}
