//! Unit tests of the ranking: names first (exact and misspelt), stems, parameters, typos, synonyms, filters.

use super::*;
use rmcp::model::Tool;
use serde_json::json;
use std::sync::Arc;

fn entry(server: &str, name: &str, description: &str, schema: serde_json::Value) -> Entry {
    let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
    Entry {
        name: crate::registry::index::sanitize(server, name),
        server: server.into(),
        tool: Tool::new(name.to_string(), description.to_string(), schema),
        plan: None,
        via: None,
    }
}

fn catalog() -> Vec<Entry> {
    let none = json!({"type": "object"});
    vec![
        entry("github", "create_issue", "Create a new issue in a GitHub repository", none.clone()),
        entry("github", "list_issues", "List issues in a GitHub repository with filtering options", none.clone()),
        entry("github", "create_pull_request", "Create a new pull request in a GitHub repository", none.clone()),
        entry(
            "jira",
            "jira_create_issue",
            "Create a new Jira issue. Creates issues; issue creation, issue issue issue.",
            none.clone(),
        ),
        entry("fs", "delete_file", "Delete a file at a path", none.clone()),
        entry("fs", "read_text_file", "Read the complete contents of a file as text", none.clone()),
        entry("crm", "get_customer", "Look up one customer by id", none.clone()),
        entry(
            "payments",
            "list_invoices",
            "Invoices with optional filters",
            json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["draft", "open", "paid", "void"],
                "description": "Invoice status"}}}),
        ),
        entry("calendar", "find_free_slots", "Free time in people's calendars", none),
    ]
}

fn names(hits: &[Hit], entries: &[Entry]) -> Vec<String> {
    hits.iter().map(|h| entries[h.index].name.clone()).collect()
}

fn top(query: &str) -> String {
    let entries = catalog();
    let hits = Searcher::new(&entries).search(query, 5, |_| true);
    names(&hits, &entries).first().cloned().unwrap_or_default()
}

#[test]
fn a_tool_named_by_the_query_ranks_first_even_against_heavier_descriptions() {
    assert_eq!(top("create_issue"), "github__create_issue");
    assert_eq!(top("github create issue"), "github__create_issue");
    assert_eq!(top("jira_create_issue"), "jira__jira_create_issue");
    assert_eq!(top("creat_isue"), "github__create_issue", "a typo or two in a name");
    assert_eq!(top("list-invoices"), "payments__list_invoices");
    let entries = catalog();
    let hits = Searcher::new(&entries).search("create_issue", 5, |_| true);
    assert!(hits[0].named && !hits[1..].iter().any(|h| h.named), "{hits:?}");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
}

#[test]
fn words_are_stemmed_and_parameters_count() {
    assert_eq!(top("which invoices are still unpaid"), "payments__list_invoices");
    assert_eq!(top("anything still in draft"), "payments__list_invoices", "an enum value of a parameter");
    assert_eq!(top("open pull requests"), "github__create_pull_request");
}

#[test]
fn misspelt_words_and_synonyms_still_find_the_tool() {
    assert_eq!(top("custmer record"), "crm__get_customer");
    assert_eq!(top("remove a file"), "fs__delete_file");
    assert_eq!(top("make a PR"), "github__create_pull_request");
}

#[test]
fn everyday_words_values_and_questions_find_the_tools_words() {
    let none = json!({"type": "object"});
    let mut entries = catalog();
    entries.extend([
        entry("maps", "maps_distance_matrix", "Travel distance and time between points", none.clone()),
        entry("maps", "maps_elevation", "Elevation data for locations on the earth", none.clone()),
        entry("memory", "create_entities", "Create entities in the knowledge graph memory", none.clone()),
        entry("fs", "create_directory", "Create a new directory", none.clone()),
        entry("fs", "report_usage", "Report disk usage per folder", none.clone()),
        entry("shop", "get_order", "Get one order by id with its lines", none.clone()),
        entry("shop", "list_orders", "Orders with their lines", none.clone()),
    ]);
    let s = Searcher::new(&entries);
    let first = |q: &str| names(&s.search(q, 1, |_| true), &entries).concat();
    assert_eq!(first("how far is Lyon from Paris"), "maps__maps_distance_matrix");
    assert_eq!(first("how high is Denver"), "maps__maps_elevation");
    let asked = |q: &str| vocab::asked(&crate::rank::words(q));
    assert_eq!(asked("How many tickets are open"), [("count".to_string(), vocab::EVERYDAY)]);
    assert!(asked("how is it going").is_empty());
    assert_eq!(first("remember that Alice likes tea"), "memory__create_entities");
    assert_eq!(first("make a folder called report"), "fs__create_directory", "the name given is not a word to find");
    assert_eq!(first("make a folder \"report usage\""), "fs__create_directory", "nor a quoted text");
    assert_eq!(first("which pull requests are waiting"), "github__create_pull_request", "no list tool for them");
    assert_eq!(first("which orders are late"), "shop__list_orders", "a plural question is answered by a list");
    assert!(s.search("delete abc123f", 5, |_| true).iter().all(|h| !entries[h.index].name.contains("jira")));
    assert_eq!(fields::query_words("read notes.txt, example.com"), ["read"], "file names and addresses are values");
}

#[test]
fn filters_limits_and_queries_with_nothing_to_find() {
    let entries = catalog();
    let s = Searcher::new(&entries);
    let only_jira = s.search("create issue", 10, |i| entries[i].server == "jira");
    assert_eq!(names(&only_jira, &entries), ["jira__jira_create_issue"]);
    assert_eq!(s.search("issue", 1, |_| true).len(), 1);
    assert!(s.search("", 10, |_| true).is_empty());
    assert!(s.search("the of and", 10, |_| true).is_empty(), "stop words alone find nothing");
    assert!(s.search("погода в москве", 10, |_| true).is_empty());
    assert!(s.search("issue", 0, |_| true).is_empty());
    let long = "invoice ".repeat(2000);
    assert_eq!(names(&s.search(&long, 3, |_| true), &entries), ["payments__list_invoices"]);
    assert!(Searcher::new(&[]).search("anything", 5, |_| true).is_empty());
}

#[test]
fn edit_distance_is_bounded() {
    assert_eq!(vocab::distance("kitten", "sitting", 3), Some(3));
    assert_eq!(vocab::distance("kitten", "sitting", 2), None);
    assert_eq!(vocab::distance("", "abc", 3), Some(3));
    assert_eq!(vocab::near("createissue", "createissue"), None, "equal is not near");
    assert_eq!(vocab::near("get", "set"), None, "short names allow no typo");
}

#[test]
fn a_search_asked_as_tool_arguments() {
    use found::Ask;
    let args = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let a = args(json!({"query": "x", "server": ""}));
    let ask = Ask::from_args(&a, 5, true).unwrap();
    assert_eq!((ask.query, ask.server, ask.limit, ask.schemas), ("x", None, 5, true));
    let a = args(json!({"query": "x", "server": "crm", "limit": 3}));
    assert_eq!(Ask::from_args(&a, 5, false).map(|a| (a.server, a.limit)), Ok((Some("crm"), 3)));
    let a = args(json!({"query": "x", "limit": "ten"}));
    assert!(Ask::from_args(&a, 5, false).unwrap_err().contains("whole number"));
    let a = args(json!({}));
    assert_eq!(Ask::from_args(&a, 5, false).unwrap().query, "", "a missing query is the empty one found() refuses");
}
