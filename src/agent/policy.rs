//! Which tool calls may run: read-only tools always; tools that write only with `--yes`, an
//! `approve = "always"` server policy, a person saying yes (chat), or a `triage_allow` glob (triage). Destructive
//! tools never run without an explicit policy or `--yes`. A refusal is explained to the model.

use crate::config::{Approve, glob};
use crate::registry::{Entry, Registry};
use futures::future::BoxFuture;
use serde_json::Value;

/// Who is asking, which decides what happens to a write tool under the default `ask` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `hub ask`: refuse unless `--yes`.
    Ask,
    /// `hub chat`: ask the person.
    Chat,
    /// `hub triage`: refuse unless the server's `triage_allow` matches.
    Triage,
}

/// Asks a person to approve one call (the REPL's prompt).
pub trait Approver: Send + Sync {
    fn approve<'a>(&'a self, entry: &'a Entry, arguments: &'a Value) -> BoxFuture<'a, bool>;
}

pub struct Policy {
    pub mode: Mode,
    /// `--yes`: approve every write tool.
    pub yes: bool,
    pub approver: Option<Box<dyn Approver>>,
}

impl Policy {
    pub fn new(mode: Mode, yes: bool) -> Policy {
        Policy { mode, yes, approver: None }
    }

    /// `Ok(())` when the call may run, else the reason it may not (for the model).
    pub async fn check(&self, registry: &Registry, entry: &Entry, arguments: &Value) -> Result<(), String> {
        if entry.read_only() {
            return Ok(());
        }
        let (approve, triage_allow) = registry
            .settings(&entry.server)
            .map(|c| (c.approve, c.triage_allow.clone()))
            .unwrap_or((Approve::Ask, vec![]));
        let what = if entry.destructive() { "is destructive" } else { "changes data" };
        match approve {
            Approve::Never => {
                return Err(format!("not run: '{}' {what} and the configuration never allows it", entry.name));
            }
            Approve::Always => return Ok(()),
            Approve::Ask => {}
        }
        if self.yes {
            return Ok(());
        }
        match self.mode {
            Mode::Ask => Err(format!(
                "not run: '{}' {what} and needs approval (the user can rerun with --yes, or set approve = \"always\" for server '{}')",
                entry.name, entry.server
            )),
            Mode::Triage if triage_allow.iter().any(|g| glob(g, entry.own_name())) => Ok(()),
            Mode::Triage => {
                Err(format!("not run: '{}' {what}; triage is read-only unless triage_allow permits it", entry.name))
            }
            Mode::Chat => match &self.approver {
                Some(a) if a.approve(entry, arguments).await => Ok(()),
                Some(_) => Err(format!("not run: the user declined '{}'", entry.name)),
                None => Err(format!("not run: '{}' {what} and needs approval", entry.name)),
            },
        }
    }
}
