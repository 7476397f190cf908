//! The person at `hub chat` as the origin of its calls: a server's sampling request is shown and answered with
//! hub's model once the person allows it (y/n/a; `sampling = "always"` needs no asking, "never" was not offered),
//! and an elicitation is a small form — one question per field of the requested schema, each answer checked
//! against its field's schema, with decline and cancel — or, in URL mode, the URL to open and a confirmation.
#![allow(deprecated)] // sampling: see `registry::host`

use super::{Ask, Input, ask, view::View};
use crate::config::Approve;
use crate::registry::origin::{Boxed, Origin};
use crate::sampling::{Sampler, refused};
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, Role,
};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub struct Person {
    pub lines: mpsc::UnboundedSender<Ask>,
    pub view: Arc<View>,
    pub sampler: Sampler,
    /// Servers the person allowed to sample for the rest of the session.
    pub always: Mutex<HashSet<String>>,
}

impl Person {
    async fn question(&self, prompt: &str) -> Input {
        if !self.view.decorate {
            eprint!("{prompt}");
        }
        ask(&self.lines, prompt, false).await
    }

    async fn allow_sampling(&self, server: &str, params: &CreateMessageRequestParams) -> bool {
        if self.always.lock().unwrap_or_else(|p| p.into_inner()).contains(server) {
            return true;
        }
        self.view.clear();
        eprintln!("Server '{server}' asks hub's model for a completion (at most {} tokens):", params.max_tokens);
        if let Some(system) = &params.system_prompt {
            eprintln!("  system: {}", crate::output::cut(system, 300));
        }
        for m in &params.messages {
            let role = if m.role == Role::Assistant { "assistant" } else { "user" };
            let texts: Vec<&str> = m.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str())).collect();
            eprintln!("  {role}: {}", crate::output::cut(&texts.join(" "), 300));
        }
        match self.question("Allow? [y]es / [n]o / [a]lways for this server: ").await {
            Input::Line(a) if matches!(a.trim().to_lowercase().as_str(), "a" | "always") => {
                self.always.lock().unwrap_or_else(|p| p.into_inner()).insert(server.to_string());
                true
            }
            Input::Line(a) => matches!(a.trim().to_lowercase().as_str(), "y" | "yes"),
            _ => false,
        }
    }

    /// The form for `schema`: the answers, or the action that ended it (decline, cancel).
    async fn form(&self, schema: &Value) -> Result<Map<String, Value>, ElicitationAction> {
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut answers = Map::new();
        for (name, field) in schema["properties"].as_object().into_iter().flatten() {
            let must = required.contains(&name.as_str());
            let choices = field["enum"].as_array().map(|e| e.iter().map(plain).collect::<Vec<_>>().join(", "));
            let prompt = format!(
                "  {}{}{}{}: ",
                field["title"].as_str().unwrap_or(name),
                field["description"].as_str().map(|d| format!(" — {d}")).unwrap_or_default(),
                choices.map(|c| format!(" (one of {c})")).unwrap_or_default(),
                match (&field["default"], must) {
                    (Value::Null, true) => " *".to_string(),
                    (Value::Null, false) => " [optional]".to_string(),
                    (d, _) => format!(" [{}]", plain(d)),
                },
            );
            loop {
                let line = match self.question(&prompt).await {
                    Input::Line(l) => l.trim().to_string(),
                    Input::Interrupt | Input::Eof => return Err(ElicitationAction::Cancel),
                };
                if line == "!decline" {
                    return Err(ElicitationAction::Decline);
                }
                if line.is_empty() {
                    match (&field["default"], must) {
                        (Value::Null, false) => break,
                        (Value::Null, true) => {
                            eprintln!("  (an answer is required; !decline declines, Ctrl-C cancels)");
                            continue;
                        }
                        (d, _) => {
                            answers.insert(name.clone(), d.clone());
                            break;
                        }
                    }
                }
                match value_for(field, &line) {
                    Ok(v) => {
                        answers.insert(name.clone(), v);
                        break;
                    }
                    Err(why) => eprintln!("  {why}"),
                }
            }
        }
        Ok(answers)
    }
}

/// A value as a person reads it (strings without quotes).
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// `text` as a value of the field's type, checked against the field's schema.
fn value_for(field: &Value, text: &str) -> Result<Value, String> {
    let value = match field["type"].as_str() {
        Some("boolean") => match text.to_lowercase().as_str() {
            "y" | "yes" | "true" => Value::Bool(true),
            "n" | "no" | "false" => Value::Bool(false),
            _ => return Err("answer yes or no".into()),
        },
        Some("integer") => {
            text.parse::<i64>().map(Value::from).map_err(|_| format!("'{text}' is not a whole number"))?
        }
        Some("number") => text.parse::<f64>().map(Value::from).map_err(|_| format!("'{text}' is not a number"))?,
        _ => Value::String(text.to_string()),
    };
    let validator =
        jsonschema::validator_for(field).map_err(|e| format!("the server's schema for this field is invalid: {e}"))?;
    let refusal = validator.iter_errors(&value).next().map(|e| format!("not accepted: {e}"));
    refusal.map_or(Ok(value), Err)
}

impl Origin for Person {
    fn key(&self) -> String {
        "chat".into()
    }

    fn sample<'a>(
        &'a self,
        server: &'a str,
        params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async move {
            let allowed = match self.sampler.policy(server) {
                Approve::Always => true,
                Approve::Never => false,
                Approve::Ask => self.allow_sampling(server, &params).await,
            };
            if !allowed {
                return Err(refused(server, "the user did not allow it"));
            }
            self.sampler.answer(server, params).await
        })
    }

    fn elicit<'a>(
        &'a self,
        server: &'a str,
        params: ElicitRequestParams,
    ) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async move {
            self.view.clear();
            let outcome = match &params {
                ElicitRequestParams::FormElicitationParams { message, requested_schema, .. } => {
                    let schema = serde_json::to_value(requested_schema).unwrap_or_default();
                    if let Err(e) = jsonschema::validator_for(&schema) {
                        return Err(ErrorData::invalid_params(format!("the requested schema is invalid: {e}"), None));
                    }
                    eprintln!("Server '{server}' asks: {message}");
                    eprintln!(
                        "  (Enter keeps a [default] or skips an [optional] field; !decline declines; Ctrl-C cancels)"
                    );
                    self.form(&schema).await
                }
                ElicitRequestParams::UrlElicitationParams { url, message, .. } => {
                    eprintln!("Server '{server}' asks you to open {url}\n  {message}");
                    match self.question("Press Enter once done ([d]ecline; Ctrl-C cancels): ").await {
                        Input::Line(l) if l.trim().eq_ignore_ascii_case("d") => Err(ElicitationAction::Decline),
                        Input::Line(_) => Ok(Map::new()),
                        _ => Err(ElicitationAction::Cancel),
                    }
                }
                _ => Err(ElicitationAction::Decline),
            };
            Ok(match outcome {
                Ok(answers) if answers.is_empty() => ElicitResult::new(ElicitationAction::Accept),
                Ok(answers) => ElicitResult::new(ElicitationAction::Accept).with_content(Value::Object(answers)),
                Err(action) => ElicitResult::new(action),
            })
        })
    }
}
