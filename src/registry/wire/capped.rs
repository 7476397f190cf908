//! Reading a `tools/list` reply without building every entry: the first `keep` entries of `result.tools`
//! become JSON values, the rest are skipped as they are read (`IgnoredAny`), so a reply with 100 000 tools
//! costs the memory of `keep` of them. The listing sees `keep` entries and knows there were more (it asks for
//! `max_tools + 1`).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// `text` as a JSON value with `result.tools` cut to `keep` entries; `None` when it is not such a reply.
pub fn parse(text: &str, keep: usize) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Level { keep, depth: 0 }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    value.pointer("/result/tools").is_some_and(Value::is_array).then_some(value)
}

/// An object at depth 0 (the message) or 1 (its result): `result` and then `tools` get the cap.
struct Level {
    keep: usize,
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match (self.depth, key.as_str()) {
                (0, "result") => map.next_value_seed(Level { keep: self.keep, depth: 1 })?,
                (1, "tools") => map.next_value_seed(Keep(self.keep))?,
                _ => map.next_value::<Value>()?,
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// An array of which the first `.0` entries are kept.
struct Keep(usize);

impl<'de> DeserializeSeed<'de> for Keep {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Keep {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of tools")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut kept = Vec::with_capacity(self.0.min(4096));
        while kept.len() < self.0 {
            match seq.next_element::<Value>()? {
                Some(v) => kept.push(v),
                None => return Ok(Value::Array(kept)),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(kept))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_first_entries_and_the_rest_of_the_message() {
        let text =
            r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"},{"name":"b"},{"name":"c"}],"nextCursor":"x"}}"#;
        let v = super::parse(text, 2).unwrap();
        assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 2);
        assert_eq!(v["result"]["nextCursor"], "x");
        assert_eq!(v["id"], 3);
        assert!(super::parse(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#, 2).is_none());
        assert!(super::parse(r#"[1,2]"#, 2).is_none());
    }
}
