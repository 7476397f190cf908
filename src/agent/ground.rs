//! Grounding: the offline planner's read-only lookups for the question put into the conversation before the
//! model's first turn, as tool calls already made (one assistant message with the calls, then a tool message per
//! call, ids paired, order kept), so a small model starts from facts and can still call more tools. Also when
//! grounding applies (`[model] ground`): always, never, or — `auto` — for a local endpoint or a model whose name says
//! it is small, and once more when a model answers a question that names records without looking anything up.
//!
//! Owns: that decision and the grounding messages. Not: the plan (see `planner`), the turns (see `agent`).

use super::{Agent, Message, Outcome, assistant_message, offer, tool_message, tools};
use crate::config::{Ground, ModelConfig};
use crate::llm::{Completion, ToolCall};

/// The prefix of the ids of grounding calls (`ground_1`, …).
pub const GROUND_CALL: &str = "ground_";

/// Whether a question is grounded before the model's first turn.
pub fn upfront(cfg: &ModelConfig) -> bool {
    match cfg.ground {
        Ground::Always => true,
        Ground::Never => false,
        Ground::Auto => crate::llm::window::is_local(&cfg.base_url) || known_small(&cfg.name),
    }
}

/// A model whose name gives its size as at most 8 billion parameters (`qwen2.5-coder:1.5b`, `llama3.2-3b`,
/// `gemma-2-2b-it`, `smollm2:135m`). Names without a size (`gpt-4o-mini`) are not guessed at.
pub fn known_small(model: &str) -> bool {
    let name = model.to_ascii_lowercase();
    name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')).any(|part| {
        let size = |suffix: char, most: f64| {
            part.strip_suffix(suffix).and_then(|n| n.parse::<f64>().ok()).is_some_and(|n| n > 0.0 && n <= most)
        };
        size('b', 8.0) || size('m', 8000.0)
    })
}

impl Agent {
    /// `auto`: a final answer, with no lookup made in the whole run, to a question that names records is a guess —
    /// set aside for the planner's lookups (true: ask again). Once per question, while turns remain.
    pub(super) async fn blind(
        &self,
        c: &Completion,
        history: &mut Vec<Message>,
        question: &str,
        out: &mut Outcome,
        offer: &mut offer::Offer,
    ) -> bool {
        let answered =
            c.tool_calls.is_empty() && !matches!(c.finish_reason.as_deref(), Some("length" | "content_filter"));
        let blind = answered
            && self.cfg.ground == Ground::Auto
            && out.turns < self.cfg.max_turns
            && out.tool_calls.is_empty()
            && crate::planner::names_records(question);
        if !blind || self.ground(history, question, out, offer).await == 0 {
            return false;
        }
        let note = "the model answered about named records without looking anything up; grounded and asked again";
        self.observer.note(note);
        out.repairs.push(note.to_string());
        out.answer.clear();
        true
    }

    /// Runs the planner's read-only plan for `question` and appends its calls and results to `history`; records
    /// them (marked `grounded`) in `out`. Returns how many calls were added.
    pub(super) async fn ground(
        &self,
        history: &mut Vec<Message>,
        question: &str,
        out: &mut Outcome,
        offer: &mut offer::Offer,
    ) -> usize {
        let g = crate::planner::ground(&self.registry, question).await;
        if g.steps.is_empty() {
            self.observer.note(&format!("grounding: the offline planner made no lookup ({})", g.sentence));
            return 0;
        }
        let n = out.tool_calls.iter().filter(|r| r.grounded).count();
        let mut calls = Vec::new();
        let mut replies = Vec::new();
        for (k, step) in g.steps.into_iter().enumerate() {
            let mut rec = step.record;
            rec.id = format!("{GROUND_CALL}{}", n + k + 1);
            rec.grounded = true;
            calls.push(ToolCall { id: rec.id.clone(), name: rec.tool.clone(), arguments: rec.arguments.to_string() });
            let text = match &step.value {
                Ok(v) => {
                    let (text, cut) = tools::result_message(v, self.cfg.result_budget);
                    rec.truncated = cut;
                    text
                }
                Err(e) => format!("Error from {}: {e}", rec.tool),
            };
            self.observer.tool_start(&rec.tool, rec.server.as_deref());
            self.observer.tool_end(&rec);
            replies.push(tool_message(&rec.id, text));
            offer.load(std::slice::from_ref(&rec.tool));
            out.tool_calls.push(rec);
        }
        let names: Vec<String> = out.tool_calls.iter().filter(|r| r.grounded).map(|r| r.tool.clone()).collect();
        // The turn the model would have taken: no text, these calls.
        history.push(assistant_message(&Completion { tool_calls: calls, ..Completion::default() }));
        history.extend(replies);
        // What the planner read in them, for a model too small to read every field: a reading, not an order.
        history.push(super::system_text(format!(
            "hub looked these up before you. Its reading of the results: {} Answer the question from the results; \
             call more tools only for what they do not cover; never state a fact they do not show.",
            g.sentence.trim()
        )));
        let added = names.len() - n;
        self.observer.note(&format!(
            "grounding: {added} lookups by the offline planner before the model's turn: {}",
            names[n..].join(", ")
        ));
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_and_small_models() {
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:11434/v1",
            "http://[::1]:1234/v1",
            "http://192.168.1.5/v1",
            "http://gpu.local/v1",
        ] {
            assert!(crate::llm::window::is_local(url), "{url}");
        }
        for url in ["https://api.openai.com/v1", "http://8.8.8.8/v1", "not a url"] {
            assert!(!crate::llm::window::is_local(url), "{url}");
        }
        for m in ["qwen2.5-coder-1.5b-instruct", "llama3.2:3b", "gemma-2-2b-it", "smollm2:135m", "Mistral-7B-Instruct"]
        {
            assert!(known_small(m), "{m}");
        }
        for m in ["gpt-4o", "gpt-4o-mini", "llama-3.1-70b", "o3", "qwen2.5:32b", "claude-3-5-sonnet"] {
            assert!(!known_small(m), "{m}");
        }
    }
}
