//! Unit tests of config parsing: the built-in default, every documented error (with its file:line and key),
//! variable expansion, globs, and the import-config round trip.

use super::oauth::{HttpAuth, OAuthClient};
use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("s3cret".into()),
        _ => None,
    }
}

fn parse_err(text: &str) -> String {
    parse(text, "t.toml", &env).unwrap_err().message
}

#[test]
fn builtin_default_has_the_five_servers_and_no_model() {
    let c = parse(BUILTIN, "built-in default", &env).unwrap();
    let enabled: Vec<_> = c.servers.iter().filter(|s| s.enabled).map(|s| s.name.as_str()).collect();
    assert_eq!(enabled, ["analytics", "calendar", "crm", "payments", "tickets"]);
    assert!(!c.model.configured);
    assert_eq!(c.model.max_turns, 15);
    assert_eq!(c.model.base_url, OPENAI_DEFAULT_BASE);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = parse_err("[servers.a]\ncommand = \"x\"\ncomand = \"y\"\n");
    assert!(e.starts_with("t.toml:3:1:"), "{e}");
    assert!(e.contains("comand") && e.contains("[servers.a]"), "{e}");
}

#[test]
fn command_and_url_conflicts() {
    let both = parse_err("[servers.a]\ncommand = \"x\"\nurl = \"http://h/mcp\"\n");
    assert!(both.contains("t.toml:1:") && both.contains("servers.a") && both.contains("not both"), "{both}");
    let neither = parse_err("\n[servers.b]\nenabled = true\n");
    assert!(neither.contains("t.toml:2:") && neither.contains("servers.b"), "{neither}");
}

#[test]
fn undefined_variable_without_default() {
    let e = parse_err("[servers.a]\ncommand = \"x\"\nargs = [\"--k\", \"${MISSING}\"]\n");
    assert!(e.contains("t.toml:3:") && e.contains("servers.a.args") && e.contains("MISSING"), "{e}");
    let ok = parse("[servers.a]\nurl = \"http://h/mcp\"\nheaders = { A = \"Bearer ${TOKEN}\" }\n", "t", &env).unwrap();
    assert_eq!(
        ok.servers[0].transport,
        Transport::Http {
            url: "http://h/mcp".into(),
            headers: vec![("A".into(), "Bearer s3cret".into())],
            auth: HttpAuth::Auto,
            oauth: OAuthClient::default(),
        }
    );
}

#[test]
fn duplicate_server_and_wrong_type() {
    let dup = parse_err("[servers.a]\ncommand = \"x\"\n[servers.a]\ncommand = \"y\"\n");
    assert!(dup.contains("t.toml:3:") && dup.to_lowercase().contains("duplicate"), "{dup}");
    let ty = parse_err("[servers.a]\ncommand = \"x\"\ntimeout_s = \"soon\"\n");
    assert!(ty.contains("t.toml:3:"), "{ty}");
    let range = parse_err("[servers.a]\ncommand = \"x\"\ntimeout_s = -1.0\n");
    assert!(range.contains("servers.a.timeout_s"), "{range}");
    let approve = parse_err("[servers.a]\ncommand = \"x\"\napprove = \"sometimes\"\n");
    assert!(approve.contains("servers.a.approve"), "{approve}");
}

#[test]
fn globs_and_filters() {
    assert!(glob("search_*", "search_customers") && glob("*", "") && glob("a?c", "abc"));
    assert!(!glob("search_*", "get_customer") && !glob("a?c", "ac"));
    assert!(glob("é?*", "éxyz") && glob("*ü", "grüßü") && !glob("?", "éé"), "characters, not bytes, beyond ASCII");
    let c = parse(
        "[servers.a]\ncommand = \"x\"\ntools.allow = [\"get_*\", \"list_*\"]\ntools.deny = [\"list_secret*\"]\n",
        "t",
        &env,
    )
    .unwrap();
    let s = &c.servers[0];
    assert!(s.permits("get_x") && s.permits("list_y") && !s.permits("list_secrets") && !s.permits("delete"));
}

#[test]
fn import_round_trip() {
    let json = r#"{"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"PRICE": "$5"}},
        "remote api": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"}},
        "off": {"command": "x", "disabled": true}
    }}"#;
    let toml = import::convert(json, "claude.json").unwrap().toml("claude.json").unwrap();
    let c = parse(&toml, "imported", &env).unwrap();
    let names: Vec<_> = c.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files", "off", "remote_api"]);
    match &c.servers[0].transport {
        Transport::Stdio { command, args, env, .. } => {
            assert_eq!(command, "npx");
            assert_eq!(args[2], "/tmp");
            assert_eq!(env, &[("PRICE".to_string(), "$5".to_string())]);
        }
        t => panic!("{t:?}"),
    }
    assert!(!c.servers[1].enabled);
    assert!(matches!(&c.servers[2].transport, Transport::Http { url, .. } if url == "https://example.com/mcp"));
    let failed = |text: &str| import::convert(text, "f").err().map(|e| e.message).unwrap_or_default();
    assert!(failed("{\"mcpServers\": {\"x\": {}}}").contains("x: has neither"));
    assert!(failed("nope").contains("not valid JSON"));
    assert_eq!(
        import::hosts::jsonc("{\"a\": \"//x\", /* c */ \"b\": [1, 2,], // d\n}"),
        "{\"a\": \"//x\",  \"b\": [1, 2]}"
    );
}

#[test]
fn limits_inherit_from_defaults_and_name_the_key_when_out_of_range() {
    let text = "[defaults]\nlimits = { max_tools = 300, max_schema_depth = 10 }\n\
                [servers.a]\ncommand = \"x\"\nlimits = { max_tools = 50 }\n[servers.b]\ncommand = \"y\"\n";
    let c = parse(text, "t.toml", &env).unwrap();
    let (a, b) = (&c.servers[0].limits, &c.servers[1].limits);
    assert_eq!((a.max_tools, a.max_schema_depth), (50, 10));
    assert_eq!((b.max_tools, b.max_schema_depth), (300, 10));
    assert_eq!(b.max_message_bytes, Limits::default().max_message_bytes);
    let e = parse_err("[servers.a]\ncommand = \"x\"\nlimits = { max_tools = 0 }\n");
    assert!(e.contains("t.toml:3:") && e.contains("servers.a.limits.max_tools") && e.contains("between 1 and"), "{e}");
    let e = parse_err("[servers.a]\ncommand = \"x\"\nlimits = { max_tool = 5 }\n");
    assert!(e.contains("max_tool"), "{e}");
}

#[test]
fn a_bad_default_limit_names_the_defaults_table() {
    let e = parse_err("[defaults]\nlimits = { max_schema_depth = 500 }\n[servers.a]\ncommand = \"x\"\n");
    assert!(e.contains("t.toml:2:") && e.contains("defaults.limits.max_schema_depth"), "{e}");
}

#[test]
fn oauth_settings_are_checked_and_tokens_are_not_config() {
    let c = parse(
        "[servers.r]\nurl = \"https://r/mcp\"\noauth = { client_id = \"hub\", client_secret = \"${TOKEN}\", scopes = [\"read\"] }\n",
        "t.toml",
        &env,
    )
    .unwrap();
    let Transport::Http { auth, oauth, .. } = &c.servers[0].transport else { panic!() };
    assert_eq!(*auth, HttpAuth::OAuth);
    assert_eq!((oauth.client_id.as_deref(), oauth.client_secret.as_deref()), (Some("hub"), Some("s3cret")));
    let e = parse_err("[servers.r]\nurl = \"https://r/mcp\"\nauth = \"basic\"\n");
    assert!(e.contains("t.toml:3:") && e.contains("servers.r.auth") && e.contains("\"oauth\" or \"none\""), "{e}");
    let e =
        parse_err("[servers.r]\nurl = \"https://r/mcp\"\noauth = { redirect_uri = \"http://evil.example:80/cb\" }\n");
    assert!(e.contains("servers.r.oauth.redirect_uri") && e.contains("evil.example"), "{e}");
    let e = parse_err("[servers.r]\nurl = \"https://r/mcp\"\noauth = { client_secret = \"x\" }\n");
    assert!(e.contains("needs its client_id"), "{e}");
    let e = parse_err(
        "[servers.r]\nurl = \"https://r/mcp\"\nauth = \"oauth\"\nheaders = { Authorization = \"Bearer x\" }\n",
    );
    assert!(e.contains("exclude each other"), "{e}");
    let e = parse_err("[servers.r]\ncommand = \"x\"\nauth = \"oauth\"\n");
    assert!(e.contains("apply to url servers only"), "{e}");
    let e = parse_err("[servers.r]\nurl = \"https://r/mcp\"\noauth = { access_token = \"x\" }\n");
    assert!(e.contains("access_token"), "{e}");
}

#[test]
fn bad_transforms_name_file_line_and_key() {
    let head = "[servers.a]\ncommand = \"x\"\n[[servers.a.transform]]\n";
    let regex = parse_err(&format!("{head}redact = ['(unclosed']\n"));
    assert!(regex.starts_with("t.toml:4:") && regex.contains("transform[0].redact: not a valid regex"), "{regex}");
    let glob = parse_err(&format!("{head}tool = \"get_*\"\nrename = \"x\"\n"));
    assert!(glob.starts_with("t.toml:5:") && glob.contains("renames one tool"), "{glob}");
    let name = parse_err(&format!("{head}tool = \"get\"\nrename = \"a.b\"\n"));
    assert!(name.contains("1-64 letters"), "{name}");
    let both = parse_err(&format!("{head}fix = {{ a = 1 }}\ndefaults = {{ a = 2 }}\n"));
    assert!(both.contains("'a' is both fixed and given a default"), "{both}");
    let pointer = parse_err(&format!("{head}drop = [\"card\"]\n"));
    assert!(pointer.starts_with("t.toml:4:") && pointer.contains("not a JSON pointer"), "{pointer}");
    let idle = parse_err(&format!("{head}tool = \"get\"\n"));
    assert!(idle.contains("changes nothing"), "{idle}");
    let unknown = parse_err(&format!("{head}hide = true\nrenam = \"x\"\n"));
    assert!(unknown.contains("renam"), "{unknown}");
}

#[test]
fn bad_plugins_name_file_line_and_key() {
    let head = "[[plugins]]\ncommand = \"p\"\n";
    let hook = parse_err(&format!("{head}hooks = [\"before\"]\n"));
    assert!(hook.starts_with("t.toml:3:") && hook.contains("plugins[0].hooks: must be \"before_call\""), "{hook}");
    let none = parse_err(head);
    assert!(none.contains("name at least one hook"), "{none}");
    let slow = parse_err(&format!("{head}hooks = [\"after_call\"]\ntimeout_ms = 0\n"));
    assert!(slow.starts_with("t.toml:4:") && slow.contains("1-60000"), "{slow}");
    let on_error = parse_err(&format!("{head}hooks = [\"after_call\"]\non_error = \"ignore\"\n"));
    assert!(on_error.contains("must be \"deny\" or \"pass\""), "{on_error}");
    let nameless = parse_err("[[plugins]]\nhooks = [\"after_call\"]\n");
    assert!(nameless.contains("set command"), "{nameless}");
    let twice = parse_err(&format!("{head}hooks = [\"after_call\"]\n{head}hooks = [\"after_call\"]\n"));
    assert!(twice.contains("a second plugin named 'p'"), "{twice}");
    let ok = parse(&format!("{head}hooks = [\"after_call\"]\nargs = [\"/x/audit.py\"]\n"), "t.toml", &env).unwrap();
    assert_eq!(ok.plugins[0].name, "audit.py");
    assert!(ok.plugins[0].after_call && !ok.plugins[0].before_call && !ok.plugins[0].pass_on_error);
}

#[test]
fn replicas_urls_and_balance_are_checked() {
    let c = parse("[servers.a]\ncommand = \"x\"\nreplicas = 3\nbalance = \"sticky\"\n", "t.toml", &env).unwrap();
    assert_eq!(c.servers[0].replicas.count, 3);
    assert_eq!(c.servers[0].replicas.balance, replicas::Balance::Sticky);
    let c = parse("[servers.b]\nurls = [\"http://h1/mcp\", \"https://h2/mcp\"]\n", "t.toml", &env).unwrap();
    assert_eq!(c.servers[0].replicas.urls, ["http://h1/mcp", "https://h2/mcp"]);
    assert!(matches!(&c.servers[0].transport, Transport::Http { url, .. } if url == "http://h1/mcp"));
    let cases = [
        ("[servers.a]\ncommand = \"x\"\nreplicas = 0\n", "t.toml:3:", "must be 1 to 32, got 0"),
        ("[servers.a]\ncommand = \"x\"\nreplicas = 99\n", "t.toml:3:", "must be 1 to 32"),
        ("[servers.a]\nurl = \"http://h/mcp\"\nreplicas = 2\n", "t.toml:3:", "urls = ["),
        ("[servers.a]\nurl = \"http://h/mcp\"\nurls = [\"http://g/mcp\"]\n", "t.toml:3:", "url or urls, not both"),
        ("[servers.a]\ncommand = \"x\"\nurls = [\"http://g/mcp\"]\n", "t.toml:3:", "replicas = N"),
        ("[servers.a]\nurls = []\n", "t.toml:2:", "1 to 32 addresses"),
        ("[servers.a]\nurls = [\"http://g/mcp\", \"ftp://g\"]\n", "t.toml:2:", "must start with http"),
        ("[servers.a]\nurls = [\"http://g/mcp\", \"http://g/mcp\"]\n", "t.toml:2:", "twice"),
        ("[servers.a]\ncommand = \"x\"\nbalance = \"random\"\n", "t.toml:3:", "\"least_busy\", \"sticky\""),
    ];
    for (text, at, says) in cases {
        let e = parse_err(text);
        assert!(e.starts_with(at) && e.contains(says), "{text}: {e}");
    }
}
