//! Tool search (issue 22) over real third-party tool definitions: servers replayed from the captured catalog
//! (`tests/fixtures/catalog/`, served by `hub server replay`) beside a business server; `hub tools search` and REST
//! `GET /tools/search` give the same hits (cold, and attached to a running hub); every bad query is a clear usage error; a server that is down is named,
//! not passed over.

use crate::util::{Env, HUB, client, rt, serve_socket};
use serde_json::Value;

/// A `[servers.NAME]` entry replaying the catalog file `file` (without `.json`).
pub fn replayed(name: &str, file: &str) -> String {
    let path = crate::search_recall::catalog_file(file);
    format!(
        "[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"replay\"]\nenv = {{ HUB_REPLAY = \"{}\" }}\n",
        path.display()
    )
}

fn catalog_env(extra: &str) -> Env {
    let env = Env::new();
    let servers = ["github", "atlassian", "playwright", "filesystem", "git"].map(|s| replayed(s, s)).concat();
    env.config(&format!("{servers}{}{extra}", Env::server_entry("crm", "crm")));
    env
}

fn names(doc: &Value) -> Vec<String> {
    doc["hits"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_right_tool_is_found_among_real_servers_by_words_names_and_typos() {
    let env = catalog_env("");
    let search = |args: &[&str]| {
        let mut all = vec!["tools", "search", "--json"];
        all.extend_from_slice(args);
        env.run(&all).ok().json()
    };
    let doc = search(&["open a bug report in our github repo"]);
    assert!(names(&doc)[..5].contains(&"github__create_issue".to_string()), "{doc:#}");
    assert!(doc["hits"][0]["score"].as_f64().unwrap() > doc["hits"][1]["score"].as_f64().unwrap(), "{doc:#}");
    assert_eq!(doc["hits"][0]["kind"], "destructive");
    assert_eq!(doc["down"], serde_json::json!([]));
    assert_eq!(names(&search(&["git_comit"]))[0], "git__git_commit", "a misspelt name ranks first");
    assert_eq!(names(&search(&["jira", "transition", "issue"]))[0], "atlassian__jira_transition_issue");
    assert_eq!(names(&search(&["look up customer cus_000001"]))[0], "crm__get_customer");
    let only = search(&["take a screenshot", "--server", "playwright", "--limit", "3"]);
    assert!(names(&only).len() <= 3 && names(&only).iter().all(|n| n.starts_with("playwright__")), "{only:#}");
    assert_eq!(names(&only)[0], "playwright__browser_take_screenshot");

    let table = env.run(&["tools", "search", "read", "a", "file"]).ok();
    let first = table.stdout.lines().nth(1).unwrap_or_default();
    assert!(table.stdout.starts_with("NAME") && first.contains("filesystem__read"), "{}", table.stdout);
    let none = env.run(&["tools", "search", "погода в москве"]).ok();
    assert!(none.stdout.contains("no tool matches"), "{}", none.stdout);

    // A replayed tool is called like any other: the replay answers what it was asked.
    let called = env.run(&["call", "git__git_status", r#"{"repo_path": "/tmp/x"}"#, "--json"]).ok().json();
    assert_eq!(called["structuredContent"]["replayed"], "git_status", "{called:#}");
}

#[test]
fn bad_queries_are_usage_errors_and_a_down_server_is_named() {
    let env = catalog_env("[servers.gone]\ncommand = \"/nonexistent/mcp-server\"\n");
    let long = "x".repeat(10_000);
    for (args, says) in [
        (vec!["tools", "search", " "], "query is empty"),
        (vec!["tools", "search", &long], "10000 characters"),
        (vec!["tools", "search", "file", "--limit", "0"], "limit must be between 1 and 100"),
        (vec!["tools", "search", "file", "--limit", "10000"], "got 10000"),
        (vec!["tools", "search", "file", "--server", "nope"], "no server named 'nope'"),
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    let r = env.run(&["tools", "search", "anything", "--server", "gone"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("server 'gone' is") && r.stderr.contains("not searched"), "{}", r.stderr);
    let doc = env.run(&["tools", "search", "create issue", "--json"]).ok().json();
    assert_eq!(doc["down"][0]["server"], "gone", "{doc:#}");
    assert_eq!(names(&doc)[0], "github__create_issue");
}

#[test]
fn the_gateway_answers_the_same_search_and_only_with_the_callers_tools() {
    let tokens = "[gateway.tokens.reader]\ntoken = \"read-token\"\nservers = [\"git\", \"crm\"]\n\
                  [gateway.tokens.admin]\ntoken = \"all-token\"\nwrite = true\n";
    let env = catalog_env(tokens);
    let cli = env.run(&["tools", "search", "--json", "commit my changes", "--limit", "5"]).ok().json();
    // With a hub serving (and its socket open), `hub tools search` attaches to it: the same hits.
    let s = serve_socket(&env, &[]);
    let attached = env.run(&["tools", "search", "--json", "commit my changes", "--limit", "5"]).ok().json();
    assert_eq!(names(&attached), names(&cli), "attached and cold agree");
    assert_eq!(cli["via"], "spawned");
    assert!(attached["via"].as_str().is_some_and(|v| v.starts_with("hub ") && v.ends_with("hub.sock")), "{attached:#}");
    let one = env.run(&["tools", "search", "--json", "commit", "--server", "git", "--limit", "2"]).ok().json();
    assert!(names(&one).iter().all(|n| n.starts_with("git__")), "{one:#}");
    rt().block_on(async {
        let c = client();
        let get = |query: &str, token: &str| {
            let r = c.get(format!("{}/tools/search?{query}", s.base)).bearer_auth(token).send();
            async move {
                let r = r.await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (status, doc) = get("q=commit%20my%20changes&limit=5", "all-token").await;
        assert_eq!(status, 200, "{doc:#}");
        assert_eq!(names(&doc), names(&cli), "REST and CLI agree");
        let (_, reader) = get("q=create%20issue", "read-token").await;
        let seen = names(&reader);
        assert!(seen.iter().all(|n| n.starts_with("git__") || n.starts_with("crm__")), "{reader:#}");
        for (query, says) in [("q=", "empty"), ("q=file&limit=0", "limit"), ("q=file&limit=10000", "limit")] {
            let (status, doc) = get(query, "all-token").await;
            assert_eq!(status, 400, "{query}: {doc:#}");
            assert!(doc["error"].as_str().unwrap().contains(says), "{query}: {doc:#}");
        }
    });
}
