//! What chat does with the servers' resources and prompts: `@server:uri` mentions in a message are read and
//! attached to it (text within the result budget; binary contents described, never pasted), `/prompt NAME ARGS`
//! becomes the next turn's message, `/login SERVER` runs a server's OAuth login, and the candidates for `@`
//! completion.

use crate::catalog;
use crate::registry::Registry;
use rmcp::model::{JsonObject, ResourceContents};
use serde_json::Value;

/// The `@` completions: every resource as `@server:uri`, every template as `@server:` and its fixed prefix.
pub fn mention_candidates(registry: &Registry) -> Vec<String> {
    let resources = registry.resources().into_iter().map(|(s, r)| format!("@{s}:{}", r.uri));
    let templates = registry.templates().into_iter().map(|(s, t)| {
        let fixed = t.uri_template.split('{').next().unwrap_or_default().to_string();
        format!("@{s}:{fixed}")
    });
    let mut all: Vec<String> = resources.chain(templates).collect();
    all.sort();
    all.dedup();
    all
}

/// The `@server:uri` mentions in `line` (a word starting with `@` whose server is configured).
fn mentions<'a>(registry: &Registry, line: &'a str) -> Vec<(&'a str, &'a str)> {
    let words = line.split_whitespace().filter_map(|w| w.strip_prefix('@'));
    let split = words.filter_map(|w| w.split_once(':'));
    let trimmed = split.map(|(s, u)| (s, u.trim_end_matches([',', '.', ';', ')', '?', '!'])));
    trimmed.filter(|(s, u)| !u.is_empty() && registry.server(s).is_some()).collect()
}

/// `line` with every mentioned resource attached (each cut to `budget` bytes), or why one could not be read.
pub async fn attach(registry: &Registry, line: &str, budget: usize) -> Result<String, String> {
    let mut message = line.to_string();
    for (server, uri) in mentions(registry, line) {
        let (_, result) =
            registry.read_resource(uri, Some(server)).await.map_err(|e| format!("@{server}:{uri}: {e}"))?;
        for contents in &result.contents {
            let text = match contents {
                ResourceContents::TextResourceContents { text, .. } => crate::truncate::text(text, budget),
                other => catalog::contents_text(other),
            };
            message.push_str(&format!("\n\n[attached: {uri} from server {server}]\n{text}"));
        }
    }
    Ok(message)
}

/// `/prompt NAME [ARGS]`: the prompt filled in by its server, as one message (its parts in order, each
/// embedded resource as text). ARGS: a JSON object, or `key=value` words (a value may be "quoted").
pub async fn prompt(registry: &Registry, arg: &str, budget: usize) -> Result<String, String> {
    let (name, rest) = arg.trim().split_once(char::is_whitespace).unwrap_or((arg.trim(), ""));
    let arguments = parse_arguments(rest.trim())?;
    let (_, result) = registry.get_prompt(name, arguments).await.map_err(|e| e.to_string())?;
    let parts: Vec<String> =
        result.messages.iter().map(|m| crate::truncate::text(&catalog::block_text(&m.content), budget)).collect();
    Ok(parts.join("\n\n"))
}

fn parse_arguments(text: &str) -> Result<JsonObject, String> {
    if text.is_empty() {
        return Ok(JsonObject::new());
    }
    if text.starts_with('{') {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) | Err(_) => Err(format!("prompt arguments are not a JSON object: {text}")),
        };
    }
    let mut out = JsonObject::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or_else(|| format!("expected key=value, got '{rest}'"))?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').ok_or_else(|| format!("unclosed quote in '{after}'"))?,
            None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
        };
        out.insert(key.trim().to_string(), Value::String(value.to_string()));
        rest = next.trim_start();
    }
    Ok(out)
}

/// `/login SERVER [SCOPE…]`: the OAuth flow for a url server, asking for the scopes when given (step-up); its
/// supervisor sees the new tokens and connects.
pub async fn login(registry: &Registry, line: &str) {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let target = registry.server(name).and_then(|s| crate::auth::oauth_target(&s.cfg));
    let Some((url, headers, client)) = target else {
        return eprintln!("hub: '{name}' is not a url server that may use OAuth");
    };
    let mut args = crate::auth::login::LoginArgs::interactive();
    args.scopes = words.map(String::from).collect();
    match crate::auth::login::login(name, url, headers, client, &args).await {
        Ok(done) => println!("{} (it connects in a moment)", done.summary(name)),
        Err(e) => eprintln!("hub: cannot log in to {name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_arguments;
    use serde_json::json;

    #[test]
    fn prompt_arguments_as_words_or_json() {
        let words = parse_arguments(r#"id=TCK-01001 note="two words""#).unwrap();
        assert_eq!(serde_json::Value::Object(words), json!({"id": "TCK-01001", "note": "two words"}));
        let object = parse_arguments(r#"{"email": "a@b.c"}"#).unwrap();
        assert_eq!(object["email"], "a@b.c");
        assert!(parse_arguments("id").unwrap_err().contains("expected key=value"));
        assert!(parse_arguments(r#"x="open"#).unwrap_err().contains("unclosed quote"));
        assert!(parse_arguments("[1]").unwrap_err().contains("expected key=value"));
    }
}
