//! A server's `sampling/createMessage` answered with hub's configured model, under the server's `sampling`
//! policy, and the origin of faces with no person present (ask, triage): sampling only where the policy says
//! "always", elicitation declined.
//!
//! The request's text messages and system prompt become one chat completion; `maxTokens` is sent as the
//! completion's `max_tokens`, and a reply cut there is reported with stop reason `maxTokens`. Images, audio
//! and tool use in a sampling request are refused (hub's model loop is text and function tools).
#![allow(deprecated)] // sampling: see `registry::host`

use crate::config::{Approve, Config};
use crate::llm::Llm;
use crate::registry::origin::{self, Boxed, Origin};
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, Role, SamplingMessage,
};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Answers sampling with a model under each server's policy, when no one can be asked.
pub struct Sampler {
    llm: Option<Llm>,
    policies: HashMap<String, Approve>,
    /// Why there is no model, when there is none.
    no_model: &'static str,
}

impl Sampler {
    pub fn new(config: &Config) -> Sampler {
        let llm = if config.model.offline { None } else { Llm::new(&config.model).ok() };
        let policies = config.servers.iter().map(|s| (s.name.clone(), s.sampling)).collect();
        Sampler { llm, policies, no_model: "no model is configured: the offline planner answers here" }
    }

    /// The server's policy ("ask" when it is not configured).
    pub fn policy(&self, server: &str) -> Approve {
        self.policies.get(server).copied().unwrap_or(Approve::Ask)
    }

    /// Answers `params` with the model, whatever the policy (the caller has checked it or asked the user).
    pub async fn answer(
        &self,
        server: &str,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorData> {
        let Some(llm) = &self.llm else {
            return Err(ErrorData::invalid_request(format!("sampling refused: {}", self.no_model), None));
        };
        let request = chat_request(&llm.model, &params)?;
        let request = serde_json::from_value(request).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let completion = llm.complete(&request, None).await.map_err(|e| {
            tracing::warn!(server = %server, "sampling: the model failed: {e}");
            ErrorData::internal_error(format!("the model failed: {e}"), None)
        })?;
        tracing::info!(server = %server, tokens = completion.usage.total_tokens, "sampling answered by the model");
        let stop = match completion.finish_reason.as_deref() {
            Some("length") => CreateMessageResult::STOP_REASON_END_MAX_TOKEN,
            _ => CreateMessageResult::STOP_REASON_END_TURN,
        };
        let model = completion.model.unwrap_or_else(|| llm.model.clone());
        let mut result =
            CreateMessageResult::new(SamplingMessage::assistant_text(completion.content), model).with_stop_reason(stop);
        // Taken out again by the registry (`origin::USAGE`), which counts it with the request.
        let usage = serde_json::to_value(completion.usage).unwrap_or_default();
        result.message.meta.get_or_insert_with(Default::default).0.insert(origin::USAGE.into(), usage);
        Ok(result)
    }
}

/// The chat completion request for a sampling request: system prompt, then its text messages; `maxTokens`.
pub fn chat_request(model: &str, params: &CreateMessageRequestParams) -> Result<Value, ErrorData> {
    let mut messages = Vec::new();
    if let Some(system) = params.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &params.messages {
        let mut text = Vec::new();
        for block in m.content.iter() {
            match block.as_text() {
                Some(t) => text.push(t.text.as_str()),
                None => {
                    return Err(ErrorData::invalid_params(
                        "hub answers sampling requests made of text only; this one has other content",
                        None,
                    ));
                }
            }
        }
        let role = if m.role == Role::Assistant { "assistant" } else { "user" };
        messages.push(json!({"role": role, "content": text.join("\n")}));
    }
    if messages.iter().all(|m| m["role"] == "system") {
        return Err(ErrorData::invalid_params("a sampling request needs at least one message", None));
    }
    let mut request = json!({"model": model, "messages": messages, "max_tokens": params.max_tokens.max(1)});
    if let Some(t) = params.temperature {
        request["temperature"] = json!(t);
    }
    if let Some(stop) = params.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
        request["stop"] = json!(stop);
    }
    Ok(request)
}

/// The origin of a face with no person present: sampling answered only under `sampling = "always"`,
/// elicitation declined.
pub struct Headless(pub Sampler);

impl Origin for Headless {
    fn key(&self) -> String {
        "hub".into()
    }

    fn sample<'a>(
        &'a self,
        server: &'a str,
        params: CreateMessageRequestParams,
    ) -> Boxed<'a, Result<CreateMessageResult, ErrorData>> {
        Box::pin(async move {
            match self.0.policy(server) {
                Approve::Always => self.0.answer(server, params).await,
                Approve::Never => Err(refused(server, "sampling = \"never\" for it")),
                Approve::Ask => Err(refused(
                    server,
                    "it needs the user's approval (sampling = \"ask\") and no one is present to give it; \
                     set sampling = \"always\" for the server in servers.toml, or use hub chat",
                )),
            }
        })
    }

    fn elicit<'a>(
        &'a self,
        server: &'a str,
        params: ElicitRequestParams,
    ) -> Boxed<'a, Result<ElicitResult, ErrorData>> {
        Box::pin(async move { Ok(origin::decline(server, &params, "no person is present to answer")) })
    }
}

/// A refused sampling request, logged (`-v`) and said to the server.
pub fn refused(server: &str, why: &str) -> ErrorData {
    tracing::info!(server = %server, "asked for a model completion (sampling); refused: {why}");
    ErrorData::invalid_request(format!("sampling refused: {why}"), None)
}
