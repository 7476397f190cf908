//! `hub import-config` from every host's real-shaped file: Claude Desktop, Claude Code's `~/.claude.json` (per
//! project too), VS Code (inputs → variables), Zed (comments, trailing commas, nested command), Codex (TOML, bearer
//! token variable, tool lists) and goose (YAML, built-ins left out). Each import is then used as servers.toml: its
//! stdio server starts and lists its tools. Keys hub does not carry over are reported on stderr.

use crate::util::{Env, HUB, Run};

/// Imports `file` (written as `name`) and returns the run (checked ok).
fn import(env: &Env, name: &str, text: &str) -> Run {
    let file = env.write(name, text);
    env.run(&["import-config", file.to_str().unwrap()]).ok()
}

/// The import as servers.toml: `kit` is the testkit and lists its tools.
fn usable(env: &Env, toml: &str) {
    env.config(toml);
    let tools = env.run(&["tools", "--json"]).ok().json();
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"kit__echo"), "{names:?}\n{toml}");
}

#[test]
fn claude_desktop_and_claude_code_files() {
    let env = Env::new();
    let desktop = format!(
        r#"{{"mcpServers": {{
            "kit": {{"command": "{HUB}", "args": ["server", "testkit"], "env": {{"PRICE": "$5"}}}},
            "web": {{"url": "http://127.0.0.1:9/mcp", "disabled": true}},
            "fs": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem"], "autoApprove": ["read_file"]}}
        }}}}"#
    );
    let run = import(&env, "claude_desktop_config.json", &desktop);
    assert!(run.stdout.contains("# kit: imported from an mcpServers file"), "{}", run.stdout);
    assert!(run.stdout.contains("PRICE = \"$$5\""), "a literal $ survives expansion: {}", run.stdout);
    assert!(run.stderr.contains("fs: 'autoApprove' is not carried over"), "{}", run.stderr);
    env.config(&run.stdout);
    let tools = env.run(&["tools", "--json"]).ok().json();
    assert_eq!(tools["servers"]["web"]["state"], "disabled");

    let claude = format!(
        r#"{{"numStartups": 12, "mcpServers": {{"kit": {{"type": "stdio", "command": "{HUB}", "args": ["server", "testkit"]}}}},
            "projects": {{"/home/me/shop": {{"allowedTools": [], "mcpServers": {{"shop-db": {{"type": "stdio", "command": "{HUB}", "args": ["server", "crm"]}}}}}},
                          "/home/me/empty": {{"mcpServers": {{}}}}}}}}"#
    );
    let run = import(&env, ".claude.json", &claude);
    assert!(run.stdout.contains("[servers.kit]") && run.stdout.contains("[servers.shop-db]"), "{}", run.stdout);
    assert!(run.stderr.contains("servers of project /home/me/shop are imported too"), "{}", run.stderr);
    usable(&env, &run.stdout);
    // --from finds the project's .mcp.json in the working directory.
    env.write(
        ".mcp.json",
        &format!(r#"{{"mcpServers": {{"here": {{"command": "{HUB}", "args": ["server", "testkit"]}}}}}}"#),
    );
    let run = env.run(&["import-config", "--from", "claude-code"]).ok();
    assert!(run.stdout.contains("[servers.here]") && run.stdout.contains(".mcp.json)"), "{}", run.stdout);
}

#[test]
fn vscode_inputs_become_variables() {
    let mut env = Env::new();
    let vscode = format!(
        r#"{{"inputs": [{{"type": "promptString", "id": "github-token", "description": "GitHub PAT", "password": true}}],
            "servers": {{
              "github": {{"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {{"Authorization": "Bearer ${{input:github-token}}"}}}},
              "kit": {{"type": "stdio", "command": "{HUB}", "args": ["server", "testkit"], "env": {{"WHERE": "${{env:KIT_WHERE}}"}}}}
            }}}}"#
    );
    let run = import(&env, "mcp.json", &vscode);
    assert!(run.stdout.contains("Authorization = \"Bearer ${GITHUB_TOKEN}\""), "{}", run.stdout);
    assert!(run.stdout.contains("WHERE = \"${KIT_WHERE}\""), "{}", run.stdout);
    env.set("KIT_WHERE", "here").set("GITHUB_TOKEN", "t");
    usable(&env, &run.stdout);
}

#[test]
fn zed_settings_with_comments() {
    let env = Env::new();
    let zed = format!(
        "// Zed settings\n{{\n  \"theme\": \"One Dark\", /* the look */\n  \"context_servers\": {{\n    \"kit\": {{\"source\": \"custom\", \"command\": \"{HUB}\", \"args\": [\"server\", \"testkit\"], \"env\": {{}},}},\n    \
         \"nested\": {{\"command\": {{\"path\": \"{HUB}\", \"args\": [\"server\", \"crm\"]}}, \"enabled\": false}},\n    \
         \"ext\": {{\"source\": \"extension\", \"settings\": {{\"key\": \"https://x//y\"}}}},\n  }},\n}}\n"
    );
    let run = import(&env, "settings.json", &zed);
    assert!(run.stdout.contains("imported from Zed"), "{}", run.stdout);
    assert!(run.stdout.contains("[servers.nested]") && run.stdout.contains("enabled = false"), "{}", run.stdout);
    assert!(!run.stdout.contains("[servers.ext]"), "an extension's server has no command in the file");
    assert!(
        run.stderr.contains("ext: a Zed extension's server") && run.stderr.contains("ext: 'settings'"),
        "{}",
        run.stderr
    );
    usable(&env, &run.stdout);
}

#[test]
fn codex_toml_and_goose_yaml() {
    let mut env = Env::new();
    let codex = format!(
        "model = \"o3\"\n\n[mcp_servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\nstartup_timeout_sec = 20\n\
         tool_timeout_sec = 60\nenabled_tools = [\"echo\", \"sleep\"]\n\n[mcp_servers.linear]\nurl = \"https://mcp.linear.app/mcp\"\n\
         bearer_token_env_var = \"LINEAR_TOKEN\"\nenabled = false\nexperimental = true\n"
    );
    let run = import(&env, "config.toml", &codex);
    for want in
        ["timeout_s = 60.0", "startup_timeout_s = 20.0", "allow = [", "Authorization = \"Bearer ${LINEAR_TOKEN}\""]
    {
        assert!(run.stdout.contains(want), "{want}: {}", run.stdout);
    }
    assert!(run.stderr.contains("linear: 'experimental' is not carried over"), "{}", run.stderr);
    env.set("LINEAR_TOKEN", "t");
    usable(&env, &run.stdout);

    let goose = format!(
        "GOOSE_PROVIDER: openai\nextensions:\n  developer:\n    bundled: true\n    enabled: true\n    name: developer\n    timeout: 300\n    type: builtin\n  \
         kit:\n    args:\n    - server\n    - testkit\n    cmd: {HUB}\n    enabled: true\n    envs: {{}}\n    env_keys:\n    - KIT_TOKEN\n    name: kit\n    timeout: 300\n    type: stdio\n"
    );
    let run = import(&env, "config.yaml", &goose);
    assert!(
        run.stdout.contains("KIT_TOKEN = \"${KIT_TOKEN}\"") && run.stdout.contains("timeout_s = 300"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("developer"), "{}", run.stdout);
    assert!(run.stderr.contains("developer: a goose 'builtin' extension"), "{}", run.stderr);
    env.set("KIT_TOKEN", "t");
    usable(&env, &run.stdout);
}

#[test]
fn bad_files_and_hosts_fail_clearly() {
    let env = Env::new();
    let file = env.write("x.json", "{\"mcpServers\": {\"x\": {\"args\": []}}}");
    let run = env.run(&["import-config", file.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("x: has neither a command nor a url"), "{}", run.stderr);
    let file = env.write("y.yaml", "extensions: [unclosed");
    let run = env.run(&["import-config", file.to_str().unwrap()]);
    assert!(run.code == 2 && run.stderr.contains("not valid YAML"), "{}", run.stderr);
    let file = env.write("z.json", "{\"editor\": {}}");
    let run = env.run(&["import-config", file.to_str().unwrap()]);
    assert!(run.code == 2 && run.stderr.contains("no MCP servers here"), "{}", run.stderr);
    let run = env.run(&["import-config", "--from", "emacs"]);
    assert!(run.code == 2 && run.stderr.contains("possible values"), "{}", run.stderr);
    let run = env.run(&["import-config", "--from", "goose"]);
    assert!(run.code == 2 && run.stderr.contains("no goose configuration found (looked at"), "{}", run.stderr);
}

#[test]
fn from_finds_the_macos_and_windows_places_too() {
    let mut env = Env::new();
    let desktop = format!(r#"{{"mcpServers": {{"mac": {{"command": "{HUB}", "args": ["server", "testkit"]}}}}}}"#);
    std::fs::create_dir_all(env.path("home/Library/Application Support/Claude")).unwrap();
    env.write("home/Library/Application Support/Claude/claude_desktop_config.json", &desktop);
    let run = env.run(&["import-config", "--from", "claude-desktop"]).ok();
    assert!(run.stdout.contains("[servers.mac]"), "{}", run.stdout);
    std::fs::create_dir_all(env.path("appdata/Code/User")).unwrap();
    env.write(
        "appdata/Code/User/mcp.json",
        r#"{"servers": {"win": {"type": "http", "url": "http://127.0.0.1:9/mcp"}}}"#,
    );
    env.set("APPDATA", &env.path("appdata").display().to_string());
    let run = env.run(&["import-config", "--from", "vscode"]).ok();
    assert!(
        run.stdout.contains("[servers.win]") && run.stdout.contains("appdata/Code/User/mcp.json"),
        "{}",
        run.stdout
    );
}

#[test]
fn init_writes_a_file_that_loads_with_the_other_hosts_servers() {
    let env = Env::new();
    for dir in ["config/zed", ".vscode", "config/Claude"] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    env.write("config/zed/settings.json", &format!(
        "{{\n  // mine\n  \"context_servers\": {{\"kit\": {{\"command\": \"{HUB}\", \"args\": [\"server\", \"testkit\"]}},}}\n}}\n"
    ));
    env.write(".vscode/mcp.json", r#"{"servers": {"gh": {"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${input:gh-token}"}}}}"#);
    env.write("config/Claude/claude_desktop_config.json", r#"{"mcpServers": {"crm": {"command": "elsewhere"}}}"#);
    let run = env.run(&["init"]).ok();
    let written = std::fs::read_to_string(env.path("config/hub/servers.toml")).unwrap();
    assert!(written.contains("# kit: imported from Zed") && written.contains("[servers.crm]"), "{written}");
    assert!(written.contains("# left commented out: ") && written.contains("# [servers.gh]"), "{written}");
    assert!(run.stderr.contains("server 'crm' is already in the file"), "{}", run.stderr);
    assert!(
        run.stderr.contains("vscode: server 'gh' is commented out") && run.stderr.contains("GH_TOKEN"),
        "{}",
        run.stderr
    );
    // It loads: the business servers and the imported one answer.
    let tools = env.run(&["tools", "--json"]).ok().json();
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"kit__echo") && names.contains(&"crm__get_customer"), "{names:?}");
    let again = env.run(&["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("exists; keep it, or replace it with --force"), "{}", again.stderr);
    env.run(&["init", "--force", "--no-import"]).ok();
    let plain = std::fs::read_to_string(env.path("config/hub/servers.toml")).unwrap();
    assert!(!plain.contains("imported from"), "{plain}");
}
