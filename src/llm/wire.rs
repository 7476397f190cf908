//! Lenient reading of chat-completion responses, plain and streamed (SSE). OpenAI-compatible servers differ in
//! small ways — unknown `finish_reason`s, missing `id`/`type`/`usage`, `arguments` sent as an object, content
//! as an array of parts — so every field here is optional and unknown values are kept as strings.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, o: Usage) {
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.total_tokens += o.total_tokens;
    }
}

/// One tool call the model asked for; `arguments` as the raw text it sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A completed assistant turn.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Usage,
    pub model: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        let (p, c) = (u.prompt_tokens.unwrap_or(0), u.completion_tokens.unwrap_or(0));
        Usage { prompt_tokens: p, completion_tokens: c, total_tokens: u.total_tokens.unwrap_or(p + c) }
    }
}

#[derive(Deserialize, Default)]
struct RawFunction {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawToolCall {
    index: Option<usize>,
    id: Option<String>,
    function: Option<RawFunction>,
}

#[derive(Deserialize, Default)]
struct RawMessage {
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<RawToolCall>>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct RawChoice {
    #[serde(default, alias = "delta")]
    message: Option<RawMessage>,
    finish_reason: Option<Value>,
}

#[derive(Deserialize)]
struct RawCompletion {
    #[serde(default)]
    choices: Option<Vec<RawChoice>>,
    usage: Option<RawUsage>,
    model: Option<String>,
}

/// Text of a content value: a string, or the text parts of an array.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn reason(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Parses a non-streamed response body.
pub fn parse_completion(body: &str) -> Result<Completion, String> {
    let raw: RawCompletion =
        serde_json::from_str(body).map_err(|e| format!("the model endpoint sent invalid JSON: {e}"))?;
    let choice = raw.choices.and_then(|c| c.into_iter().next()).ok_or("the model endpoint sent no choices")?;
    let msg = choice.message.unwrap_or_default();
    let mut content = msg.content.as_ref().map(text_of).unwrap_or_default();
    if content.is_empty() {
        content = msg.refusal.unwrap_or_default();
    }
    let tool_calls = msg
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let f = c.function.unwrap_or_default();
            ToolCall {
                id: c.id.filter(|s| !s.is_empty()).unwrap_or_else(|| format!("call_{i}")),
                name: f.name.unwrap_or_default(),
                arguments: arguments_text(f.arguments.as_ref()),
            }
        })
        .collect();
    Ok(Completion {
        content,
        tool_calls,
        finish_reason: reason(choice.finish_reason),
        usage: raw.usage.map(Usage::from).unwrap_or_default(),
        model: raw.model,
    })
}

/// Accumulates a streamed response chunk by chunk (`data:` payloads of the SSE stream).
#[derive(Default)]
pub struct StreamState {
    pub completion: Completion,
    by_index: Vec<ToolCall>,
}

impl StreamState {
    /// Feeds one `data:` payload; returns the text delta to show, if any.
    pub fn feed(&mut self, data: &str) -> Result<Option<String>, String> {
        let raw: RawCompletion =
            serde_json::from_str(data).map_err(|e| format!("the model endpoint sent an invalid stream chunk: {e}"))?;
        if let Some(u) = raw.usage {
            self.completion.usage = u.into();
        }
        if raw.model.is_some() {
            self.completion.model = raw.model;
        }
        let Some(choice) = raw.choices.and_then(|c| c.into_iter().next()) else { return Ok(None) };
        if let Some(r) = reason(choice.finish_reason) {
            self.completion.finish_reason = Some(r);
        }
        let Some(delta) = choice.message else { return Ok(None) };
        for (n, c) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let i = c.index.unwrap_or(n);
            if self.by_index.len() <= i {
                self.by_index.resize(i + 1, ToolCall::default());
            }
            let slot = &mut self.by_index[i];
            if let Some(id) = c.id.filter(|s| !s.is_empty()) {
                slot.id = id;
            }
            if let Some(f) = c.function {
                if let Some(name) = f.name {
                    slot.name.push_str(&name);
                }
                slot.arguments.push_str(&arguments_text(f.arguments.as_ref()));
            }
        }
        let text = delta.content.as_ref().map(text_of).unwrap_or_default();
        if text.is_empty() {
            return Ok(None);
        }
        self.completion.content.push_str(&text);
        Ok(Some(text))
    }

    pub fn finish(mut self) -> Completion {
        for (i, mut c) in self.by_index.into_iter().enumerate() {
            if c.id.is_empty() {
                c.id = format!("call_{i}");
            }
            self.completion.tool_calls.push(c);
        }
        self.completion
    }
}

/// The `error.message` (and `type`/`code`) of an error body, or the body itself cut short.
pub fn error_message(body: &str) -> (String, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    let msg = e.get("message").and_then(Value::as_str).map(str::to_string);
    let kind = e.get("type").or_else(|| e.get("code")).and_then(Value::as_str).map(str::to_string);
    (msg.unwrap_or_else(|| body.chars().take(300).collect()), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_completion() {
        let c = parse_completion(
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"a","arguments":{"x":1}}}]},"finish_reason":"weird_reason"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.tool_calls,
            vec![ToolCall { id: "call_0".into(), name: "a".into(), arguments: "{\"x\":1}".into() }]
        );
        assert_eq!(c.finish_reason.as_deref(), Some("weird_reason"));
        assert!(parse_completion("{}").is_err() && parse_completion("nope").is_err());
    }

    #[test]
    fn stream_accumulates_tool_calls_by_index() {
        let mut s = StreamState::default();
        s.feed(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"t2","arguments":""}}]}}]}"#,
        )
        .unwrap();
        s.feed(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"t1","arguments":"{\"q\""}}]}}]}"#).unwrap();
        s.feed(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#).unwrap();
        assert_eq!(
            s.feed(r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"tool_calls"}]}"#).unwrap().as_deref(),
            Some("hi")
        );
        s.feed(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#).unwrap();
        let c = s.finish();
        assert_eq!(c.tool_calls[0], ToolCall { id: "a".into(), name: "t1".into(), arguments: "{\"q\":1}".into() });
        assert_eq!(c.tool_calls[1].name, "t2");
        assert_eq!(c.usage.total_tokens, 7);
        assert_eq!(c.content, "hi");
    }
}
