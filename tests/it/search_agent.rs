//! Search mode in the agent (issue 22): past `search_above` tools the model is offered `hub__search_tools`, the
//! pinned tools and a few seeded from the question, with a catalog note; what it finds (or calls by name) is offered
//! from then on, appended so the earlier tool definitions stay byte-identical; an unknown name gets suggestions;
//! `--json` says what was searched, offered and saved. Servers replayed from the captured catalog; the model is the
//! scripted endpoint.

use crate::model::{Model, answer, calls, tool_messages};
use crate::search::replayed;
use crate::util::Env;
use serde_json::Value;

fn env_with(m: &Model, tools: &str) -> Env {
    let env = Env::new();
    let servers = ["github", "atlassian", "playwright", "git"].map(|s| replayed(s, s)).concat();
    env.config(&format!("{}{servers}{}{tools}", m.config(""), Env::server_entry("crm", "crm")));
    env
}

fn tool_names(request: &Value) -> Vec<String> {
    let tools = request["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
    tools.iter().map(|t| t["function"]["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_model_searches_calls_what_it_found_and_the_prefix_stays_the_same() {
    let m = Model::start(vec![
        calls(&[("s1", "hub__search_tools", r#"{"query": "commit staged changes", "server": "git"}"#)]),
        calls(&[
            ("c1", "git__git_commit", r#"{"repo_path": "/tmp/r", "message": "fix"}"#),
            ("c2", "atlassian__jira_get_issue", r#"{"issue_key": "PROJ-1"}"#),
        ]),
        calls(&[("c3", "git_comit", "{}")]),
        answer("committed"),
    ]);
    let env =
        env_with(&m, "[servers.crm.tools]\npin = [\"get_customer\"]\n[tools]\npin = [\"git__git_status\"]\nseed = 3\n");
    let doc = env.run(&["ask", "record my work in git", "--json", "--yes"]).ok().json();
    let reqs = m.requests();
    let first = tool_names(&reqs[0]);
    assert_eq!(first[0], "hub__search_tools", "{first:?}");
    assert_eq!(
        first[1..3],
        ["crm__get_customer", "git__git_status"],
        "pinned next (a server's, then global): {first:?}"
    );
    assert!((4..=6).contains(&first.len()), "search tool, 2 pins, 3 seeded (fewer if a seed is pinned): {first:?}");
    let system: Vec<&str> = reqs[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str())
        .collect();
    let note = system.iter().find(|t| t.starts_with("Tool search is on")).expect("the catalog note");
    assert!(note.contains("github (26 tools about pull, request, issue") && note.contains("git (12 tools"), "{note}");

    // The search's answer carries schemas; what it found is offered next, after everything offered before.
    let found = &tool_messages(&reqs[1])[0].1;
    assert!(found.contains("git__git_commit") && found.contains("input_schema"), "{found}");
    let second = tool_names(&reqs[1]);
    assert!(second.contains(&"git__git_commit".to_string()), "{second:?}");
    assert_eq!(&reqs[1]["tools"].as_array().unwrap()[..first.len()], &reqs[0]["tools"].as_array().unwrap()[..]);
    // A tool called by name without being offered runs, and is offered from then on.
    let replies = tool_messages(&reqs[2]);
    assert!(replies.iter().any(|(id, t)| id == "c2" && t.contains("\"replayed\"")), "{replies:?}");
    let third = tool_names(&reqs[2]);
    assert_eq!(third.last().map(String::as_str), Some("atlassian__jira_get_issue"), "{third:?}");
    assert_eq!(&third[..second.len()], &second[..]);
    // An unknown name: suggestions.
    let unknown = tool_messages(&reqs[3]).last().unwrap().1.clone();
    assert!(unknown.to_lowercase().contains("did you mean") && unknown.contains("git__git_commit"), "{unknown}");

    let ts = &doc["tool_search"];
    assert_eq!(ts["searches"][0]["query"], "commit staged changes", "{ts:#}");
    let per_turn: Vec<u64> = ts["offered_per_turn"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(per_turn.windows(2).all(|w| w[0] <= w[1]) && per_turn.len() == 4, "{per_turn:?}");
    assert!(ts["tokens_saved_estimate"].as_u64().unwrap() > 0, "{ts:#}");
}

#[test]
fn all_mode_and_small_indexes_offer_everything_and_bad_settings_are_refused() {
    let m = Model::start(vec![answer("a"), answer("b")]);
    let env = env_with(&m, "[tools]\nmode = \"all\"\n");
    env.run(&["ask", "anything"]).ok();
    let all = tool_names(&m.requests()[0]);
    assert!(all.len() > 100 && !all.contains(&"hub__search_tools".to_string()), "{}", all.len());
    // The five business servers alone stay under `search_above`: every tool, no search tool.
    let mut small = Env::new();
    small.set("OPENAI_BASE_URL", &m.url).set("OPENAI_API_KEY", "test-key");
    small.run(&["ask", "anything"]).ok();
    let five = tool_names(&m.requests()[1]);
    assert!(!five.contains(&"hub__search_tools".to_string()) && five.len() > 10, "{five:?}");

    for (bad, says) in [("mode = \"sometimes\"", "tools.mode"), ("seed = 500", "tools.seed")] {
        let env = env_with(&m, &format!("[tools]\n{bad}\n"));
        let r = env.run(&["ask", "anything"]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{bad}: {}", r.stderr);
    }
}
