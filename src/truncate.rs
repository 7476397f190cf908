//! JSON-aware truncation of tool results for the model: the structure is kept (objects keep their keys), long
//! arrays keep their first items plus a note of how many were left out, long strings are cut with a count.
//! The output is always valid JSON and, serialised compactly, fits the byte budget.

use serde_json::{Value, json};

/// `value` cut to fit `budget` bytes (compact JSON). Returns the value and whether anything was cut.
pub fn truncate(value: &Value, budget: usize) -> (Value, bool) {
    if size(value) <= budget {
        return (value.clone(), false);
    }
    // Shrink the two knobs together until the result fits: items kept per array, characters per string.
    let (mut items, mut chars) = (longest_array(value).max(1), longest_string(value).max(16));
    loop {
        let v = shrink(value, items, chars);
        if size(&v) <= budget {
            return (v, true);
        }
        if items <= 1 && chars <= 16 {
            break;
        }
        items = (items / 2).max(1);
        chars = (chars / 2).max(16);
    }
    // Even minimal structure is too big (very wide objects): a preview of the text, cut until it fits.
    let text = value.to_string();
    let mut room = budget;
    loop {
        let preview: String = text.chars().take(room).collect();
        let v = json!({"truncated": true, "preview": format!("{preview}… ({} of {} bytes shown)", preview.len(), text.len())});
        if size(&v) <= budget || room == 0 {
            return (v, true);
        }
        room = room * 3 / 4;
    }
}

/// `text` cut to at most `budget` bytes (at a character boundary), saying so when it was cut.
pub fn text(text: &str, budget: usize) -> String {
    if text.len() <= budget {
        return text.to_string();
    }
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut by hub: {end} of {} bytes shown]", &text[..end], text.len())
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

fn longest_array(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(longest_array).max().unwrap_or(0).max(a.len()),
        Value::Object(o) => o.values().map(longest_array).max().unwrap_or(0),
        _ => 0,
    }
}

fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(o) => o.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

fn shrink(v: &Value, items: usize, chars: usize) -> Value {
    match v {
        Value::String(s) if s.chars().count() > chars => {
            let kept: String = s.chars().take(chars).collect();
            Value::String(format!("{kept}… ({} more characters)", s.chars().count() - chars))
        }
        Value::Array(a) => {
            let mut out: Vec<Value> = a.iter().take(items).map(|x| shrink(x, items, chars)).collect();
            if a.len() > items {
                out.push(Value::String(format!("… {} more items omitted", a.len() - items)));
            }
            Value::Array(out)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), shrink(x, items, chars))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_a_character_boundary_and_says_so() {
        assert_eq!(text("short", 10), "short");
        let cut = text("ééééé", 5);
        assert_eq!(cut, "éé… [cut by hub: 4 of 10 bytes shown]");
    }

    #[test]
    fn keeps_structure_and_counts_what_was_cut() {
        let items: Vec<Value> = (0..500).map(|i| json!({"id": i, "note": "x".repeat(50)})).collect();
        let v = json!({"count": 500, "items": items, "title": "report"});
        let (t, cut) = truncate(&v, 2_000);
        assert!(cut && t.to_string().len() <= 2_000);
        assert_eq!(t["count"], 500);
        assert_eq!(t["title"], "report");
        let arr = t["items"].as_array().unwrap();
        assert!(arr.last().unwrap().as_str().unwrap().contains("more items omitted"));
        let (same, cut) = truncate(&json!({"a": 1}), 100);
        assert!(!cut && same == json!({"a": 1}));
    }

    #[test]
    fn tiny_budgets_still_give_valid_json_within_budget() {
        let wide: serde_json::Map<String, Value> = (0..300).map(|i| (format!("key{i}"), json!(i))).collect();
        for budget in [120, 200, 500] {
            let (t, cut) = truncate(&Value::Object(wide.clone()), budget);
            assert!(cut);
            assert!(t.to_string().len() <= budget, "{budget}: {}", t.to_string().len());
        }
    }
}
