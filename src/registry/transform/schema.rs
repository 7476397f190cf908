//! Dropping a result field from a tool's output schema: the JSON pointer of a result field (`/customers/*/phone`)
//! followed through the schema — `properties`, array `items`, local `$ref`s (`#/$defs/…`) and the branches of
//! `anyOf` / `oneOf` / `allOf` — to every object schema that declares the field, which then neither declares nor
//! requires it. A `$ref` shared with other places loses the field there too (the schema stays valid for every
//! result the transform produces).

use serde_json::Value;
use std::collections::HashSet;

/// The schema nodes (as pointers into `root`) that declare the last segment of `path`, with that segment.
pub fn targets(root: &Value, at: Vec<String>, path: &[String], out: &mut Vec<(Vec<String>, String)>) {
    walk(root, at, path, out, &mut HashSet::new());
}

/// Each node is visited once per remaining path: a schema that refers to itself ends the walk.
type Seen = HashSet<(String, usize)>;

fn walk(root: &Value, at: Vec<String>, path: &[String], out: &mut Vec<(Vec<String>, String)>, seen: &mut Seen) {
    let (at, node) = resolve(root, at, 0);
    let Some(node) = node.filter(|_| seen.insert((pointer(&at), path.len()))) else { return };
    for branch in ["anyOf", "oneOf", "allOf"] {
        for (i, _) in node.get(branch).and_then(Value::as_array).into_iter().flatten().enumerate() {
            walk(root, extend(&at, &[branch, &i.to_string()]), path, out, seen);
        }
    }
    let Some((head, rest)) = path.split_first() else { return };
    let props = node.get("properties").and_then(Value::as_object);
    if rest.is_empty() {
        if props.is_some_and(|p| head == "*" || p.contains_key(head)) {
            out.push((at.clone(), head.clone()));
        }
        return;
    }
    if node.get("items").is_some_and(Value::is_object) && (head == "*" || head.parse::<usize>().is_ok()) {
        walk(root, extend(&at, &["items"]), rest, out, seen);
    }
    for key in props.into_iter().flat_map(|p| p.keys()).filter(|k| head == "*" || *k == head) {
        walk(root, extend(&at, &["properties", key]), rest, out, seen);
    }
}

/// Removes each found field from its node's `properties` and `required`.
pub fn remove(root: &mut Value, found: Vec<(Vec<String>, String)>) {
    for (at, key) in found {
        let Some(Value::Object(node)) = root.pointer_mut(&pointer(&at)) else { continue };
        if let Some(Value::Object(props)) = node.get_mut("properties") {
            if key == "*" {
                props.clear();
            } else {
                props.remove(&key);
            }
        }
        if let Some(Value::Array(required)) = node.get_mut("required") {
            required.retain(|r| key != "*" && r.as_str() != Some(key.as_str()));
        }
    }
}

/// The node at `at`, following local `$ref`s (a bounded number of times: a cycle ends the walk).
fn resolve(root: &Value, at: Vec<String>, depth: usize) -> (Vec<String>, Option<&Value>) {
    let node = root.pointer(&pointer(&at));
    match node.and_then(|n| n.get("$ref")).and_then(Value::as_str).and_then(|r| r.strip_prefix("#/")) {
        Some(target) if depth < 16 => {
            let next = target.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
            resolve(root, next, depth + 1)
        }
        Some(_) => (at, None),
        None => (at, node),
    }
}

fn extend(at: &[String], more: &[&str]) -> Vec<String> {
    at.iter().cloned().chain(more.iter().map(|s| s.to_string())).collect()
}

fn pointer(at: &[String]) -> String {
    at.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dropped_field_leaves_the_schema_through_items_refs_and_branches() {
        let mut schema = json!({
            "type": "object", "required": ["customers", "count"],
            "properties": {"count": {"type": "integer"}, "customers": {"type": "array", "items": {"$ref": "#/$defs/C"}},
                "best": {"anyOf": [{"$ref": "#/$defs/C"}, {"type": "null"}]}},
            "$defs": {"C": {"type": "object", "required": ["id", "phone"],
                "properties": {"id": {"type": "string"}, "phone": {"type": "string"}}}}
        });
        let path: Vec<String> = ["customers", "*", "phone"].map(String::from).to_vec();
        let mut found = Vec::new();
        targets(&schema, Vec::new(), &path, &mut found);
        remove(&mut schema, found);
        assert_eq!(schema["$defs"]["C"]["required"], json!(["id"]));
        assert!(schema["$defs"]["C"]["properties"].get("phone").is_none());
        let mut found = Vec::new();
        targets(&schema, Vec::new(), &["count".to_string()], &mut found);
        remove(&mut schema, found);
        assert_eq!(schema["required"], json!(["customers"]));
        // A cycle of references ends the walk.
        let cyclic = json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}});
        let mut found = Vec::new();
        targets(&cyclic, Vec::new(), &["x".to_string()], &mut found);
        assert!(found.is_empty());
        let branching = json!({"$ref": "#/$defs/A", "$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}]}}});
        targets(&branching, Vec::new(), &["x".to_string()], &mut found);
        assert!(found.is_empty());
    }
}
