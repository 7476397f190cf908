//! The `hostile` scenario (issue #28): time to a usable index with one hostile server among the five shipped
//! ones, against the five alone; and a gateway's own peak memory when one server lists 100 000 tools, with the
//! default cap (2 000) and with the cap lifted.

use super::{HUB, run_measured, serve, summary};
use std::process::Command;

const MODES: [&str; 8] = ["", "bad_utf8", "deep", "not_jsonrpc", "endless", "long_desc", "mixed", "garbage"];

/// A badkit server entry in `mode` (none for ""), not restarted.
fn badkit(mode: &str, extra: &str) -> String {
    if mode.is_empty() {
        return String::new();
    }
    format!(
        "\n[servers.bad]\ncommand = \"{HUB}\"\nargs = [\"server\", \"badkit\"]\nenv = {{ HUB_BADKIT_MODE = \"{mode}\" }}\nrestart = {{ max_restarts = 0 }}\n{extra}\n"
    )
}

pub fn hostile() {
    println!("## hostile: `hub tools --json` (whole process), the five servers alone, then with one hostile server");
    let dir = tempfile::tempdir().unwrap();
    for mode in MODES {
        std::fs::write(dir.path().join("servers.toml"), format!("{}{}", hub::config::BUILTIN, badkit(mode, "")))
            .unwrap();
        let cmd = || {
            let mut c = Command::new(HUB);
            c.args(["tools", "--json"]).env("HUB_DATA_DIR", dir.path()).current_dir(dir.path());
            c
        };
        run_measured(&mut cmd());
        let walls = (0..15).map(|_| run_measured(&mut cmd()).wall).collect();
        summary(if mode.is_empty() { "five servers alone" } else { mode }, walls);
    }
    println!("gateway peak RSS (VmHWM of hub alone) after listing a server of 100 000 tools (~9 MB reply):");
    for (label, extra) in [("default cap (2 000)", ""), ("cap lifted", "limits = { max_tools = 1000000 }")] {
        std::fs::write(dir.path().join("servers.toml"), badkit("many", extra)).unwrap();
        let (mut child, _) = serve::start(HUB, dir.path());
        let peak = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
            .unwrap_or_default();
        println!("  {label}: {peak}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
