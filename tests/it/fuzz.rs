//! Property tests (10 000 cases each) at hub's boundaries: the config parser, the tool-name sanitiser and index,
//! JSON-aware truncation, model-response parsing, and the servers' argument validation. No input may panic, and
//! each keeps its invariant: names valid and unique, truncation valid JSON within budget, errors naming fields.

use proptest::prelude::*;
use rmcp::model::Tool;
use serde_json::{Value, json};
use std::sync::Arc;

fn cases() -> ProptestConfig {
    ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 200, 12, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..30).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// TOML-ish text: real keys and sections mixed with noise.
fn config_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[model]".to_string()),
        "\\[servers\\.[a-z_.-]{0,6}\\]".prop_map(|s| s),
        "(command|url|args|env|timeout_s|enabled|required|approve|cwd|comand|name|base_url|max_turns) = .{0,20}",
        "(args|tools.allow) = \\[\"[a-z$*{}:-]{0,8}\"\\]",
        "env = \\{ [A-Z]{1,3} = \"\\$\\{[A-Z_:-]{0,8}\\}\" \\}",
        ".{0,30}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn config_parser_never_panics_and_errors_are_usage_errors(text in config_text()) {
        match hub::config::parse(&text, "f.toml", &|k| (k == "HOME").then(|| "/h".to_string())) {
            Ok(c) => prop_assert!(c.servers.iter().all(|s| !s.name.is_empty())),
            Err(e) => {
                prop_assert_eq!(e.code, 2);
                prop_assert!(e.message.starts_with("f.toml:"), "{}", e.message);
            }
        }
    }

    #[test]
    fn index_names_are_valid_unique_and_stable(
        servers in prop::collection::vec(("[a-z][a-z0-9_-]{0,12}", prop::collection::vec(".{0,80}", 0..8)), 1..5)
    ) {
        let mut seen = std::collections::HashSet::new();
        let lists: Vec<(String, Vec<(Tool, _)>)> = servers
            .into_iter()
            .filter(|(s, _)| seen.insert(s.clone()))
            .map(|(s, tools)| (s, tools.into_iter().map(|t| (Tool::new(t, "d", Arc::new(serde_json::Map::new())), None)).collect()))
            .collect();
        let idx = hub::registry::Index::build(lists.clone());
        let names: Vec<&str> = idx.entries().iter().map(|e| e.name.as_str()).collect();
        for n in &names {
            prop_assert!(!n.is_empty() && n.len() <= 64, "{}", n);
            prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{}", n);
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        prop_assert_eq!(unique.len(), names.len());
        // Nothing silently dropped: every distinct (server, tool) is present.
        let distinct: std::collections::HashSet<(String, String)> =
            lists.iter().flat_map(|(s, ts)| ts.iter().map(move |(t, _)| (s.clone(), t.name.to_string()))).collect();
        prop_assert_eq!(names.len(), distinct.len());
        let again = hub::registry::Index::build(lists);
        prop_assert_eq!(again.entries().iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), names);
    }

    #[test]
    fn truncation_is_valid_json_within_budget(v in json_value(), budget in 256usize..4000) {
        let (t, cut) = hub::truncate::truncate(&v, budget);
        let text = t.to_string();
        prop_assert!(text.len() <= budget, "{} > {}", text.len(), budget);
        prop_assert!(serde_json::from_str::<Value>(&text).is_ok());
        prop_assert_eq!(cut, v.to_string().len() > budget);
        if !cut {
            prop_assert_eq!(t, v);
        }
    }

    #[test]
    fn model_responses_never_panic(body in ".{0,200}", v in json_value()) {
        let _ = hub::llm::wire::parse_completion(&body);
        let _ = hub::llm::wire::parse_completion(&v.to_string());
        let wrapped = json!({"choices": [{"message": v.clone(), "finish_reason": v.clone()}], "usage": v.clone()});
        let _ = hub::llm::wire::parse_completion(&wrapped.to_string());
        let mut s = hub::llm::wire::StreamState::default();
        let _ = s.feed(&body);
        let _ = s.feed(&json!({"choices": [{"delta": v.clone()}], "usage": v}).to_string());
        let _ = s.finish();
        let _ = hub::llm::wire::error_message(&body);
    }

    #[test]
    fn server_validation_names_the_field(s in ".{0,60}", n in any::<i64>()) {
        use hub_servers::validate as v;
        if let Err(e) = v::id("customer_id", &s, "cus_", "cus_000042") { prop_assert!(e.0.contains("customer_id")); }
        if let Err(e) = v::email("email", &s) { prop_assert!(e.0.contains("email")); }
        if let Err(e) = v::date("from", &s) { prop_assert!(e.0.contains("from")); }
        if let Err(e) = v::timestamp("start", &s) { prop_assert!(e.0.contains("start")); }
        if let Err(e) = v::text("subject", &s, 20) { prop_assert!(e.0.contains("subject")); }
        if let Err(e) = v::one_of("status", &s, &["open", "closed"]) { prop_assert!(e.0.contains("status")); }
        match v::limit(Some(n), 10, 100) {
            Ok(l) => prop_assert!((1..=100).contains(&l)),
            Err(e) => prop_assert!(e.0.contains("limit")),
        }
    }
}
