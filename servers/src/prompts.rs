//! Each business server's prompts: a few ready-made questions (`tickets`: `triage_ticket(id)`, `crm`:
//! `account_summary(email)`, `analytics`: `weekly_report()`), each an instruction with its arguments filled in
//! and the records it is about attached as embedded resources — read through `records::read`, so an unknown id
//! is the lookup tool's own message and the prompt fails with it.
//!
//! Owns: the prompt texts and what they attach. Not: the records (see `records`).

use crate::records::{self, Record};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    ContentBlock, GetPromptRequestParams, GetPromptResult, ListPromptsResult, Prompt, PromptArgument, PromptMessage,
    Role,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

/// One prompt: its name, what it is for, its (required) arguments, its text and the records it attaches. In
/// `text` and `attach`, `{arg}` stands for the argument's value.
pub struct PromptSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Name and description of each argument; all are required.
    pub arguments: &'static [(&'static str, &'static str)],
    pub text: &'static str,
    /// URIs of records to attach, read from this server.
    pub attach: &'static [&'static str],
}

/// For a server without prompts.
pub const NONE: [PromptSpec; 0] = [];

/// The server's prompts as MCP lists them.
pub fn list(prompts: &[PromptSpec]) -> ListPromptsResult {
    let listed = prompts.iter().map(|p| {
        let arguments = p
            .arguments
            .iter()
            .map(|(name, description)| PromptArgument::new(*name).with_description(*description).with_required(true));
        Prompt::new(p.name, Some(p.description), Some(arguments.collect()))
    });
    ListPromptsResult::with_all_items(listed.collect())
}

/// The prompt `request` names, filled in: its text as a user message, then each attached record.
pub async fn get<S: Send + Sync + 'static>(
    server: &S,
    router: &ToolRouter<S>,
    records: &[Record],
    prompts: &[PromptSpec],
    request: GetPromptRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<GetPromptResult, ErrorData> {
    let names = || prompts.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
    let spec = prompts.iter().find(|p| p.name == request.name).ok_or_else(|| {
        ErrorData::invalid_params(format!("no prompt named '{}' here; this server has {}", request.name, names()), None)
    })?;
    let given = request.arguments.unwrap_or_default();
    let mut values = Vec::new();
    for (name, _) in spec.arguments {
        match given.get(*name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => values.push((*name, s.trim().to_string())),
            Some(serde_json::Value::String(_)) | None => {
                return Err(ErrorData::invalid_params(
                    format!("prompt '{}' needs the argument '{name}'", spec.name),
                    None,
                ));
            }
            Some(other) => {
                return Err(ErrorData::invalid_params(
                    format!("argument '{name}' of prompt '{}' must be a string, got {other}", spec.name),
                    None,
                ));
            }
        }
    }
    if let Some(extra) = given.keys().find(|k| !spec.arguments.iter().any(|(n, _)| n == k)) {
        return Err(ErrorData::invalid_params(format!("prompt '{}' has no argument '{extra}'", spec.name), None));
    }
    let fill = |template: &str| values.iter().fold(template.to_string(), |t, (n, v)| t.replace(&format!("{{{n}}}"), v));
    let mut messages = vec![PromptMessage::new_text(Role::User, fill(spec.text))];
    for uri in spec.attach {
        let read = records::read(server, router, records, &fill(uri), context.clone()).await?;
        messages.extend(read.contents.into_iter().map(|c| PromptMessage::new(Role::User, ContentBlock::resource(c))));
    }
    Ok(GetPromptResult::new(messages).with_description(spec.description))
}
