//! The OS keyring for OAuth secrets, when one is available: the freedesktop Secret Service (GNOME Keyring,
//! KWallet, KeePassXC) through libsecret's `secret-tool`, on a machine with a D-Bus session. The secret goes to the
//! tool on stdin, never in its arguments. `[security] token_store` chooses: "auto" (the keyring when available,
//! else the 0600 file), "keyring" (required: an error without one) or "file".
//!
//! Why a tool and not a crate: the Rust keyring crates reach the Secret Service through zbus (52 more crates and
//! minutes of build on this 2-core machine) or link libdbus; `secret-tool` is the keyring's own client. macOS's
//! Keychain is not wired yet (the file is used there).
//!
//! Owns: talking to the keyring. Not: what is stored (`store`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where secrets go (`[security] token_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Auto,
    Keyring,
    File,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Set once per process from the configuration (before any credential is read).
pub fn configure(mode: Mode) {
    let _ = MODE.set(mode);
}

/// Whether secrets go to the keyring: `Err` when it is required and missing.
pub fn in_use() -> Result<bool, String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let available = AVAILABLE.get_or_init(probe);
    match (MODE.get().copied().unwrap_or_default(), available) {
        (Mode::File, _) => Ok(false),
        (Mode::Auto, a) => Ok(a.is_ok()),
        (Mode::Keyring, Ok(())) => Ok(true),
        (Mode::Keyring, Err(why)) => Err(format!("token_store = \"keyring\" but there is no keyring: {why}")),
    }
}

/// `Err` when the keyring is required and missing; asks the keyring only then (reading needs no probe: a record
/// says where its secrets are).
pub fn required() -> Result<(), String> {
    match MODE.get() {
        Some(Mode::Keyring) => in_use().map(drop),
        _ => Ok(()),
    }
}

/// What `hub auth status` says of the store.
pub fn describe() -> String {
    match in_use() {
        Ok(true) => "the OS keyring (Secret Service, via secret-tool)".into(),
        Ok(false) => "files only this user can read".into(),
        Err(e) => e,
    }
}

fn probe() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("only the Secret Service (Linux) is supported".into());
    }
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).join("bus").exists());
    if !bus {
        return Err("no D-Bus session".into());
    }
    // A lookup of nothing: exit 1 (not found) means the service answered; a missing tool fails to spawn.
    let out = secret_tool(&["lookup", "service", "hub", "account", "probe"])
        .map_err(|_| "secret-tool (libsecret-tools) is not installed".to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || (out.status.code() == Some(1) && err.trim().is_empty()) {
        Ok(())
    } else {
        Err(format!("the Secret Service did not answer: {}", err.trim()))
    }
}

/// `secret-tool ARGS` with nothing on stdin: its output.
fn secret_tool(args: &[&str]) -> Result<std::process::Output, String> {
    let out = Command::new("secret-tool").args(args).stdin(Stdio::null()).output();
    out.map_err(|e| format!("cannot run secret-tool: {e}"))
}

/// The secret kept for `account`, if any.
pub fn get(account: &str) -> Result<Option<String>, String> {
    let out = secret_tool(&["lookup", "service", "hub", "account", account])?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
        Some(1) if out.stderr.is_empty() => Ok(None),
        _ => Err(format!("the keyring refused a lookup: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
}

/// Keeps `secret` for `account` (replacing what was there).
pub fn set(account: &str, secret: &str) -> Result<(), String> {
    let label = format!("hub: OAuth tokens for {account}");
    let mut child = Command::new("secret-tool")
        .args(["store", "--label", &label, "service", "hub", "account", account])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run secret-tool: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(secret.as_bytes()).map_err(|e| format!("cannot hand the secret to secret-tool: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("secret-tool: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("the keyring refused to store: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Forgets `account`'s secret (nothing there is fine).
pub fn delete(account: &str) -> Result<(), String> {
    let out = secret_tool(&["clear", "service", "hub", "account", account])?;
    match out.status.code() {
        Some(0 | 1) if out.stderr.is_empty() => Ok(()),
        _ => Err(format!("the keyring refused to forget: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
}
