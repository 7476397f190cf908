//! The agent loop: system prompt + history + question, the index offered as function tools, the model's tool
//! calls of each turn run concurrently (results back in call order, one message per call id), until the model
//! answers, the turn cap is reached, or the run is cancelled. Every failure of a tool call becomes a tool
//! message the model can read; failures of the model endpoint end the run with a clear error.
//!
//! Owns: the conversation mechanics and the run's outcome. Not: printing (see `ask`, `repl`), the HTTP
//! exchange (see `llm`), approvals (see `policy`).

pub mod defs;
pub mod ground;
pub mod offer;
pub mod policy;
pub mod repair;
pub mod tools;

use crate::config::ModelConfig;
use crate::llm::{Completion, Llm, Usage};
use crate::registry::Registry;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionToolChoiceOption, CreateChatCompletionRequest, FunctionCall, ResponseFormat, ToolChoiceOptions,
};
use policy::Policy;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
pub use tools::ToolRecord;

pub type Message = ChatCompletionRequestMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    TurnCap,
    /// The model stopped because of its output length limit.
    Length,
    /// The model's output was withheld by its content filter.
    ContentFilter,
    Interrupted,
    Error,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    /// The final text (partial when the run stopped early).
    pub answer: String,
    /// Model requests made.
    pub turns: u32,
    /// Tokens, summed over the turns.
    pub usage: Usage,
    /// Every call the model asked for, in order, run or refused.
    pub tool_calls: Vec<ToolRecord>,
    pub error: Option<String>,
    pub model: String,
    /// Tools not offered because the index exceeded the per-request cap.
    pub tools_omitted: Vec<String>,
    /// Search mode: what was offered per turn, searched and loaded, and the definition tokens it saved.
    pub tool_search: Option<serde_json::Value>,
    /// The offline planner: the facts its answer used (tool, field, value).
    pub facts: Option<serde_json::Value>,
    /// What was repaired in the model's replies (calls written as text, replies the endpoint could not parse).
    pub repairs: Vec<String>,
}

/// Progress as it happens, for `-v`, the spinner and the REPL.
pub trait Observer: Send + Sync {
    fn waiting(&self, _turn: u32) {}
    fn text(&self, _delta: &str) {}
    fn tool_start(&self, _tool: &str, _server: Option<&str>) {}
    fn tool_end(&self, _record: &ToolRecord) {}
    fn note(&self, _message: &str) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {}

pub fn default_system_prompt() -> String {
    format!(
        "You are hub, a support assistant connected to business systems through tools (each tool's description \
         starts with its server in brackets). Today is {}. Look facts up with the tools instead of guessing; when \
         several lookups are independent, request them together in one turn so they run in parallel. If a tool \
         returns an error, read it and adjust. Answer concisely with the specifics you found (names, ids, \
         statuses, amounts, dates) and say plainly when something could not be found.",
        chrono_today()
    )
}

fn chrono_today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

pub fn system_message(cfg: &ModelConfig) -> Message {
    let text = cfg.system_prompt.clone().unwrap_or_else(default_system_prompt);
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(text))
}

pub(crate) fn system_text(text: String) -> Message {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(text))
}

pub fn user_message(text: &str) -> Message {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(text))
}

fn assistant_message(c: &Completion) -> Message {
    let tool_calls: Vec<ChatCompletionMessageToolCalls> = c
        .tool_calls
        .iter()
        .map(|t| {
            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                id: t.id.clone(),
                function: FunctionCall { name: t.name.clone(), arguments: t.arguments.clone() },
            })
        })
        .collect();
    let mut m = ChatCompletionRequestAssistantMessage::default();
    if !c.content.is_empty() || tool_calls.is_empty() {
        m.content = Some(ChatCompletionRequestAssistantMessageContent::Text(c.content.clone()));
    }
    if !tool_calls.is_empty() {
        m.tool_calls = Some(tool_calls);
    }
    ChatCompletionRequestMessage::Assistant(m)
}

pub fn tool_message(id: &str, text: String) -> Message {
    ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
        content: ChatCompletionRequestToolMessageContent::Text(text),
        tool_call_id: id.to_string(),
    })
}

/// The question being answered, when it started, and its cancellation.
struct Asked<'a> {
    question: &'a str,
    epoch: Instant,
    cancel: &'a CancellationToken,
    /// The model's context window, when known: the tool definitions are fitted to it.
    window: Option<u64>,
}

pub struct Agent {
    pub registry: Registry,
    pub llm: Llm,
    pub cfg: ModelConfig,
    pub policy: Policy,
    pub observer: Arc<dyn Observer>,
    /// Stream text deltas to the observer.
    pub stream: bool,
    /// Asks the endpoint for structured output (triage `--schema`).
    pub response_format: Option<ResponseFormat>,
    /// The tools offered so far in this conversation (search mode); None: each question starts afresh (triage's
    /// items are independent).
    pub loaded: Option<offer::Loaded>,
}

impl Agent {
    /// Runs one question on top of `history` (which starts with the system message); appends every message of
    /// the exchange to it, so a REPL can continue the conversation.
    pub async fn run(&self, history: &mut Vec<Message>, question: &str, cancel: &CancellationToken) -> Outcome {
        let epoch = Instant::now();
        history.push(user_message(question));
        let mut out = Outcome {
            status: Status::Ok,
            answer: String::new(),
            turns: 0,
            usage: Usage::default(),
            tool_calls: vec![],
            error: None,
            model: self.llm.model.clone(),
            tools_omitted: vec![],
            tool_search: None,
            facts: None,
            repairs: vec![],
        };
        let index = self.registry.index();
        let mut offer = offer::Offer::new(&index, &self.cfg.tools, question, self.loaded.as_ref());
        if !offer.omitted.is_empty() {
            self.observer.note(&format!(
                "{} tools exceed the cap of {}; offering the {} most relevant, leaving out: {}",
                index.len(),
                tools::MAX_TOOLS,
                offer.offered().len(),
                offer.omitted.join(", ")
            ));
        }
        out.tools_omitted = offer.omitted.clone();
        if offer.searching {
            if let Some(note) = offer::catalog_note(&index, history) {
                history.insert(1.min(history.len()), system_text(note));
            }
            self.observer.note(&format!(
                "tool search: {} of {} tools offered to start with: {}",
                offer.offered().len(),
                index.len(),
                offer.offered().join(", ")
            ));
        }
        if ground::upfront(&self.cfg) {
            tokio::select! {
                _ = self.ground(history, question, &mut out, &mut offer) => {}
                _ = cancel.cancelled() => {
                    out.status = Status::Interrupted;
                    return out;
                }
            }
        }
        let asked = Asked { question, epoch, cancel, window: defs::window(&self.cfg).await };
        self.turns(history, &mut out, &mut offer, &index, &asked).await;
        if let Some(loaded) = &self.loaded {
            offer.keep(loaded);
        }
        if offer.searching {
            let all = tools::tokens_of(&tools::all_definitions(&index, self.cfg.strict));
            let offered_per_turn = &offer.per_turn;
            let saved: usize = offered_per_turn.iter().map(|(_, t)| all.saturating_sub(*t)).sum();
            out.tool_search = Some(serde_json::json!({
                "mode": "search",
                "offered_per_turn": offered_per_turn.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "searches": offer.searches,
                "offered": offer.offered(),
                "definition_tokens": {"all": all, "per_turn": offered_per_turn.iter().map(|(_, t)| t).collect::<Vec<_>>()},
                "tokens_saved_estimate": saved,
            }));
        }
        out
    }

    /// A reply with no tool calls whose text is tool calls (small models write them so): made real calls, said.
    fn calls_from_text(&self, c: &mut Completion, offer: &offer::Offer, turn: u32, repairs: &mut Vec<String>) {
        if !self.cfg.repair {
            return;
        }
        let offered = offer.offered();
        let known = |n: &str| {
            offered.iter().any(|o| o == n)
                || n == offer::SEARCH_TOOL && offer.searching
                || n == crate::code::tool::RUN_CODE && self.cfg.code.enabled
        };
        if let Some(note) = repair::text_calls(c, turn, known) {
            self.observer.note(&note);
            repairs.push(note);
        }
    }

    /// The model turns of one question, until an answer, the cap, an error or a cancellation (in `out.status`).
    async fn turns(
        &self,
        history: &mut Vec<Message>,
        out: &mut Outcome,
        offer: &mut offer::Offer,
        index: &crate::registry::Index,
        asked: &Asked<'_>,
    ) {
        let (cancel, epoch) = (asked.cancel, asked.epoch);
        let (mut unparsed, mut bare, mut reasked) = (0u32, false, false);
        let mut fitted: Option<String> = None;
        let relevance = match asked.window {
            Some(_) => {
                let grounded: Vec<&str> =
                    out.tool_calls.iter().filter(|r| r.grounded).map(|r| r.tool.as_str()).collect();
                defs::relevance(index, asked.question, &grounded)
            }
            None => Default::default(),
        };
        while out.turns < self.cfg.max_turns {
            out.turns += 1;
            self.observer.waiting(out.turns);
            let mut tool_defs = offer.definitions(index, self.cfg.strict);
            if self.cfg.code.enabled {
                let offered: Vec<&crate::registry::Entry> =
                    offer.offered().iter().filter_map(|n| index.get(n)).collect();
                tool_defs.push(crate::code::tool::definition(&offered));
            }
            if offer.searching {
                offer.per_turn.push((tool_defs.len(), tools::tokens_of(&tool_defs)));
                self.observer.note(&format!("turn {}: {} tools offered", out.turns, tool_defs.len()));
            }
            if let Some(window) = asked.window {
                let note = defs::fit(&mut tool_defs, window, |name| relevance.get(name).copied());
                if note.is_some() && note != fitted {
                    self.observer.note(note.as_deref().unwrap_or_default());
                    fitted = note;
                }
            }
            if bare {
                tool_defs.clear();
            }
            let request = CreateChatCompletionRequest {
                model: self.llm.model.clone(),
                messages: history.clone(),
                tool_choice: (!tool_defs.is_empty())
                    .then_some(ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Auto)),
                parallel_tool_calls: (!tool_defs.is_empty()).then_some(true),
                tools: (!tool_defs.is_empty()).then(|| tool_defs.clone()),
                response_format: self.response_format.clone(),
                ..Default::default()
            };
            let observer = self.observer.clone();
            let on_text = move |t: &str| observer.text(t);
            let streaming: Option<&(dyn Fn(&str) + Send + Sync)> = if self.stream { Some(&on_text) } else { None };
            let completion = tokio::select! {
                c = self.llm.complete(&request, streaming) => c,
                _ = cancel.cancelled() => {
                    out.status = Status::Interrupted;
                    return;
                }
            };
            let completion = match completion {
                Ok(c) => c,
                // The endpoint could not read the model's reply: the same request would fail the same way. Once
                // with a correction, then once without tools; never the identical request again.
                Err(crate::llm::LlmError::Unparsed { message, .. }) if unparsed < 2 && self.cfg.repair => {
                    unparsed += 1;
                    let next = if unparsed == 1 {
                        history.push(user_message(repair::CORRECTION));
                        "asking again with a correction"
                    } else {
                        bare = true;
                        let grounded = out.tool_calls.iter().any(|r| r.grounded);
                        if !grounded
                            && self.cfg.ground != crate::config::Ground::Never
                            && self.ground(history, asked.question, out, offer).await > 0
                        {
                            "asking once more without tools, from the offline planner's lookups"
                        } else {
                            "asking once more without tools"
                        }
                    };
                    let note = format!("the endpoint could not parse the model's reply ({message}); {next}");
                    self.observer.note(&note);
                    out.repairs.push(note);
                    continue;
                }
                Err(e) => {
                    out.status = Status::Error;
                    out.error = Some(e.to_string());
                    return;
                }
            };
            let mut completion = completion;
            self.calls_from_text(&mut completion, offer, out.turns, &mut out.repairs);
            out.usage.add(completion.usage);
            if let Some(m) = &completion.model {
                out.model = m.clone();
            }
            if !completion.content.is_empty() {
                out.answer = completion.content.clone();
            }
            if !reasked && self.blind(&completion, history, asked.question, out, offer).await {
                reasked = true;
                continue;
            }
            history.push(assistant_message(&completion));
            match completion.finish_reason.as_deref() {
                Some("length") => {
                    out.status = Status::Length;
                    out.error = Some("the model stopped at its output length limit".into());
                    return;
                }
                Some("content_filter") => {
                    out.status = Status::ContentFilter;
                    out.error = Some("the model's output was withheld by its content filter".into());
                    return;
                }
                _ => {}
            }
            if completion.tool_calls.is_empty() {
                return;
            }
            let interrupted = self.run_tools(history, &completion, out, offer, cancel, epoch).await;
            if interrupted {
                out.status = Status::Interrupted;
                return;
            }
            // A required server gone mid-question (the hub this command attached to): no answer can be trusted.
            if let Some(why) = crate::attach::lost(&self.registry) {
                out.status = Status::Error;
                out.error = Some(why);
                return;
            }
        }
        out.status = Status::TurnCap;
        out.error = Some(format!("reached the turn cap of {} model turns before a final answer", self.cfg.max_turns));
    }
}
