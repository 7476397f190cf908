//! Triage input: JSONL (one object per line with `id` and `text`; other fields are context for the model) or CSV
//! with a header (`id` and `text` columns; the other columns are context). Bad lines are reported with their
//! line numbers and skipped; duplicate ids are run once.

use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub text: String,
    /// The other fields, passed to the model as context.
    pub context: Map<String, Value>,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// From the file name, else from the first character of the content.
    pub fn detect(name: &str, content: &str) -> Format {
        if name.to_lowercase().ends_with(".csv") {
            return Format::Csv;
        }
        if name.to_lowercase().ends_with(".jsonl") || name.to_lowercase().ends_with(".ndjson") {
            return Format::Jsonl;
        }
        match content.trim_start().chars().next() {
            Some('{') | None => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Items, and one message per line that was skipped.
pub fn parse(content: &str, format: Format) -> (Vec<Item>, Vec<String>) {
    let (items, mut problems) = match format {
        Format::Jsonl => jsonl(content),
        Format::Csv => csv(content),
    };
    let mut first: HashMap<String, usize> = HashMap::new();
    let items = items
        .into_iter()
        .filter(|i| match first.get(&i.id) {
            Some(line) => {
                problems.push(format!("line {}: duplicate id '{}' (first on line {line}); skipped", i.line, i.id));
                false
            }
            None => {
                first.insert(i.id.clone(), i.line);
                true
            }
        })
        .collect();
    (items, problems)
}

fn item(mut fields: Map<String, Value>, line: usize) -> Result<Item, String> {
    let id = match fields.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(format!("line {line}: \"id\" must be a non-empty string or a number")),
        None => return Err(format!("line {line}: missing \"id\"")),
    };
    let text = match fields.remove("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err(format!("line {line}: \"text\" must be a non-empty string")),
        None => return Err(format!("line {line}: missing \"text\"")),
    };
    Ok(Item { id, text, context: fields, line })
}

fn jsonl(content: &str) -> (Vec<Item>, Vec<String>) {
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    for (i, raw) in content.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => match item(m, line) {
                Ok(it) => items.push(it),
                Err(e) => problems.push(e),
            },
            Ok(_) => problems.push(format!("line {line}: expected a JSON object")),
            Err(e) => problems.push(format!("line {line}: not valid JSON ({e})")),
        }
    }
    (items, problems)
}

fn csv(content: &str) -> (Vec<Item>, Vec<String>) {
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    let mut reader = ::csv::ReaderBuilder::new().flexible(false).from_reader(content.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => return (items, vec![format!("line 1: cannot read the CSV header ({e})")]),
    };
    if !headers.iter().any(|h| h == "id") || !headers.iter().any(|h| h == "text") {
        return (
            items,
            vec![format!("line 1: the CSV header must have \"id\" and \"text\" columns, has: {}", headers.join(", "))],
        );
    }
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                let fields: Map<String, Value> =
                    headers.iter().zip(r.iter()).map(|(h, v)| (h.clone(), Value::String(v.to_string()))).collect();
                match item(fields, line) {
                    Ok(it) => items.push(it),
                    Err(e) => problems.push(e),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                problems.push(format!("line {line}: {e}"));
            }
        }
    }
    (items, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// No input panics; every non-blank line is either an item or a reported problem, never both or neither.
        #[test]
        fn any_input_parses_without_panic(lines in prop::collection::vec(prop_oneof![
            "\\{\"id\": ?\"?[a-z0-9]{0,4}\"?, ?\"text\": ?\"[a-z ]{0,10}\"\\}",
            ".{0,40}",
        ], 0..12), csv_text in "[a-z,\"\n ]{0,80}") {
            let text = lines.join("\n");
            let (items, problems) = parse(&text, Format::Jsonl);
            let nonblank = lines.iter().filter(|l| !l.trim().is_empty()).count();
            prop_assert_eq!(items.len() + problems.len(), nonblank);
            let _ = parse(&format!("id,text\n{csv_text}"), Format::Csv);
        }
    }

    #[test]
    fn jsonl_with_bad_lines_and_duplicates() {
        let text = "{\"id\":1,\"text\":\"a\",\"customer\":\"x\"}\nnot json\n\n{\"text\":\"no id\"}\n{\"id\":\"2\",\"text\":\"\"}\n[1]\n{\"id\":1,\"text\":\"dup\"}\n{\"id\":\"3\",\"text\":\"ok\"}\n";
        let (items, problems) = parse(text, Format::Jsonl);
        assert_eq!(items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(items[0].context["customer"], "x");
        let lines: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(lines, ["line 2", "line 4", "line 5", "line 6", "line 7"]);
    }

    #[test]
    fn csv_with_context_columns() {
        let text = "id,text,priority\nT1,\"Card declined, please help\",high\nT2,,low\nT3,Cannot log in,normal,extra\n";
        let (items, problems) = parse(text, Format::Csv);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].text, "Card declined, please help");
        assert_eq!(items[0].context["priority"], "high");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 3") && problems[1].starts_with("line 4"), "{problems:?}");
        assert_eq!(parse("a,b\n1,2\n", Format::Csv).1.len(), 1);
        assert_eq!(Format::detect("-", "id,text"), Format::Csv);
        assert_eq!(Format::detect("x.jsonl", ""), Format::Jsonl);
    }
}
