//! The gateway's search profile (issue 22) through the official Python SDK client: `/mcp/search` lists the four
//! tools of its own and the pinned ones; `search_tools` finds, `describe_tools` gives schemas, `call_tool` runs only
//! read-only tools and `call_tool_write` the rest; every tool stays callable by its exact name; `/mcp` still lists
//! everything; a token's policy holds in the profile as everywhere. (Third-party clients, the Inspectors and fastmcp
//! among them, run against it in `.ci/interop`.)

use crate::fleet_shared::interop_python;
use crate::search::replayed;
use crate::util::{Env, serve};
use serde_json::Value;
use std::path::PathBuf;

/// The Python SDK client's report of listing `url`'s tools and calling `tool` with `args` (as `token`).
fn probe(url: &str, token: &str, call: Option<(&str, &str)>) -> Value {
    let python = interop_python().expect("checked by the caller");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/mcp_probe.py"))
        .args(["--url", url, "--names-only", "--allow-tool-error", "--header"])
        .arg(format!("Authorization: Bearer {token}"));
    if let Some((tool, args)) = call {
        cmd.args(["--call", tool, "--args", args]);
    }
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn text(report: &Value) -> String {
    report["call"]["result"].to_string()
}

#[test]
fn the_search_profile_lists_a_few_tools_and_reaches_all_of_them() {
    if interop_python().is_none() {
        return;
    }
    let env = Env::new();
    let tokens = "[tools]\npin = [\"crm__get_customer\"]\n[gateway.tokens.admin]\ntoken = \"all\"\nwrite = true\n\
                  [gateway.tokens.reader]\ntoken = \"read\"\n";
    let servers = ["github", "git"].map(|s| replayed(s, s)).concat();
    env.config(&format!("{servers}{}{tokens}", Env::server_entry("crm", "crm")));
    let s = serve(&env, &[]);
    let search = format!("{}/mcp/search", s.base);

    let listed = probe(&search, "all", None);
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(names, ["search_tools", "describe_tools", "call_tool", "call_tool_write", "crm__get_customer"]);
    let full = probe(&format!("{}/mcp", s.base), "all", None);
    assert!(full["tool_count"].as_u64().unwrap() > 40, "{}", full["tool_count"]);

    let found = probe(&search, "all", Some(("search_tools", r#"{"query": "commit my changes", "limit": 3}"#)));
    assert!(text(&found).contains("git__git_commit"), "{found:#}");
    let described = probe(&search, "all", Some(("describe_tools", r#"{"names": ["git__git_commit", "git__nope"]}"#)));
    assert!(text(&described).contains("inputSchema") && text(&described).contains("did_you_mean"), "{described:#}");

    let args = r#"{"name": "git__git_commit", "arguments": {"repo_path": "/r", "message": "m"}}"#;
    let refused = probe(&search, "all", Some(("call_tool", args)));
    assert_eq!(refused["call"]["result"]["isError"], true, "{refused:#}");
    assert!(text(&refused).contains("call_tool_write"), "{refused:#}");
    let dotted = r#"{"name": "git.git_commit", "arguments": {"repo_path": "/r", "message": "m"}}"#;
    let also_refused = probe(&search, "all", Some(("call_tool", dotted)));
    assert!(text(&also_refused).contains("call_tool_write"), "another spelling of the name: {also_refused:#}");
    let written = probe(&search, "all", Some(("call_tool_write", args)));
    assert!(text(&written).contains("\\\"replayed\\\""), "{written:#}");
    let read = probe(
        &search,
        "all",
        Some(("call_tool", r#"{"name": "crm__get_customer", "arguments": {"id": "cus_000001"}}"#)),
    );
    assert!(text(&read).contains("john.smith@acme.com"), "{read:#}");
    let direct = probe(&search, "all", Some(("git__git_log", r#"{"repo_path": "/r"}"#)));
    assert!(text(&direct).contains("git_log"), "by its exact name: {direct:#}");
    let unknown = probe(&search, "all", Some(("call_tool", r#"{"name": "git__nope"}"#)));
    assert!(unknown["ok"] == false || text(&unknown).contains("unknown tool"), "{unknown:#}");
    assert!(unknown.to_string().contains("unknown tool 'git__nope'"), "{unknown:#}");

    // A read-only token: the search shows no write tool, and the write caller is refused by its policy.
    let seen = probe(&search, "read", Some(("search_tools", r#"{"query": "commit"}"#)));
    assert!(!text(&seen).contains("git__git_commit"), "{seen:#}");
    let denied = probe(&search, "read", Some(("call_tool_write", args)));
    assert!(denied.to_string().contains("reader"), "{denied:#}");
}
