//! OAuth secrets in the OS keyring: a private D-Bus session with GNOME Keyring's Secret Service (unlocked with a
//! test password) and libsecret's `secret-tool`, against the FastMCP OAuth fixture. The tokens go to the keyring,
//! the file keeps the rest; a second process uses them; logout clears the keyring entry. `token_store =
//! "keyring"` without a keyring is an error, not a silent file. Needs dbus-daemon, gnome-keyring-daemon and
//! secret-tool (.ci/run installs them); without them these tests say so loudly and pass, unless
//! HUB_REQUIRE_KEYRING is set.

use crate::oauth::{Fixture, env_with, log_in, record};
use crate::util::{Env, LIMIT, eventually};
use std::process::{Child, Command, Stdio};

/// A session bus with an unlocked keyring on it; both end with it.
struct Keyring {
    bus: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // The keyring daemon leaves with its session bus.
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

impl Keyring {
    fn start() -> Option<Keyring> {
        let missing: Vec<&str> = ["dbus-daemon", "gnome-keyring-daemon", "secret-tool"]
            .into_iter()
            .filter(|tool| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .map_or(true, |o| !o.status.success())
            })
            .collect();
        if !missing.is_empty() {
            assert!(std::env::var_os("HUB_REQUIRE_KEYRING").is_none(), "keyring tools required: {missing:?} missing");
            eprintln!(
                "\n*** SKIPPED: the keyring tests need {missing:?} (apt-get install dbus-daemon gnome-keyring libsecret-tools) ***\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", &format!("--address={address}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(eventually(LIMIT, || socket.exists()), "the session bus did not start");
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let mut unlock = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut unlock.stdin.take().unwrap(), b"test-password").unwrap();
        assert!(unlock.wait().unwrap().success(), "gnome-keyring-daemon did not start");
        Some(Keyring { bus, address, _dir: dir })
    }

    /// `secret-tool lookup` of hub's entry for `account`: the secret, if there is one.
    fn lookup(&self, account: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", "hub", "account", account])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[test]
fn tokens_live_in_the_keyring_when_there_is_one() {
    let Some(keyring) = Keyring::start() else { return };
    let Some(fx) = Fixture::start() else { return };
    let mut env = env_with(&fx.url, "");
    env.set("DBUS_SESSION_BUS_ADDRESS", &keyring.address);
    let status = env.run(&["auth", "status", "--json"]).ok().json();
    assert!(status["store"]["secrets"].as_str().unwrap().contains("keyring"), "{status}");
    log_in(&env);
    let file = std::fs::read_to_string(env.path("state/hub/auth/oauthfx.json")).unwrap();
    let secret = keyring.lookup("oauthfx").expect("the tokens are in the keyring");
    let access = serde_json::from_str::<serde_json::Value>(&secret).unwrap()["token_response"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!file.contains(&access) && record(&env)["keyring"] == "oauthfx", "the file keeps no token: {file}");
    let client_id = record(&env)["client"]["client_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert!(env.run(&["call", "oauthfx__whoami"]).ok().stdout.contains(&client_id));
    }
    assert!(env.run(&["auth", "logout", "oauthfx"]).ok().stdout.contains("revoked"));
    assert_eq!(keyring.lookup("oauthfx"), None, "logout cleared the keyring entry");
}

#[test]
fn a_required_keyring_that_is_missing_is_an_error() {
    let env = Env::new();
    env.config("[security]\ntoken_store = \"keyring\"\n[servers.r]\nurl = \"http://127.0.0.1:1/mcp\"\n");
    let r = env.run(&["auth", "login", "r", "--no-browser", "--timeout", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("token_store = \"keyring\" but there is no keyring"), "{}", r.stderr);
    let e = Env::new();
    e.config("[security]\ntoken_store = \"vault\"\n");
    let r = e.run(&["tools"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("security.token_store") && r.stderr.contains("\"keyring\""), "{}", r.stderr);
}
