//! `[tools]`: how the agent offers tools to the model — every definition in every request, or (search mode) the
//! pinned tools, a few seeded from the question and `hub__search_tools` to find the rest (see `agent::offer`); and
//! `[code]`: whether it may also write a script against them, and the limits of one run (see `code`); and a
//! server's `approve` (and `sampling`) setting: what runs without a person saying yes.

use super::raw;
use super::resolve::one_of;
use super::{ErrAt, Failure};

/// A server's `approve` (write tools) or `sampling` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approve {
    /// Write tools need `--yes` (ask) or a prompt (chat); the default.
    Ask,
    /// Write tools run without asking.
    Always,
    /// Write tools never run.
    Never,
}

/// Whether the model is offered every tool or searches for them (`[tools] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolMode {
    /// Search when the index has more than `search_above` tools.
    #[default]
    Auto,
    All,
    Search,
}

/// `[tools]`: how the agent offers tools to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    pub mode: ToolMode,
    /// Index names (globs) always offered in search mode.
    pub pin: Vec<String>,
    /// Tools offered in search mode from the question itself (weak models often never search).
    pub seed: usize,
    pub search_above: usize,
}

impl Default for Offering {
    fn default() -> Self {
        Offering { mode: ToolMode::Auto, pin: vec![], seed: 5, search_above: 40 }
    }
}

/// `[code]`: code mode and the limits of one script run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// `hub__run_code` is offered to the model (also `--code`).
    pub enabled: bool,
    pub timeout: std::time::Duration,
    /// Bytes the script's heap may use.
    pub memory: usize,
    /// Tool calls one run may make.
    pub max_calls: usize,
}

impl Default for Code {
    fn default() -> Self {
        Code { enabled: false, timeout: std::time::Duration::from_secs(30), memory: 64 << 20, max_calls: 200 }
    }
}

/// A whole number setting within `lo..=hi`, or `default` when absent.
fn int(
    v: &Option<toml::Spanned<i64>>,
    key: &str,
    (lo, hi, default): (i64, i64, i64),
    err: &ErrAt<'_>,
) -> Result<usize, Failure> {
    match v {
        None => Ok(default as usize),
        Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
        Some(s) => Err(err(s.span().start, key, &format!("must be between {lo} and {hi}, got {}", s.get_ref()))),
    }
}

pub(super) fn resolve_code(c: raw::RawCode, err: &ErrAt<'_>) -> Result<Code, Failure> {
    Ok(Code {
        enabled: c.enabled.unwrap_or(false),
        timeout: std::time::Duration::from_secs(int(&c.timeout_s, "code.timeout_s", (1, 3600, 30), err)? as u64),
        memory: int(&c.memory_mb, "code.memory_mb", (8, 4096, 64), err)? << 20,
        max_calls: int(&c.max_calls, "code.max_calls", (1, 100_000, 200), err)?,
    })
}

/// `[tools]`: how the agent offers tools to the model.
pub(super) fn resolve(t: raw::RawOffering, err: &ErrAt<'_>) -> Result<Offering, Failure> {
    let mode = one_of(
        t.mode.as_ref(),
        "tools.mode",
        &[("auto", ToolMode::Auto), ("all", ToolMode::All), ("search", ToolMode::Search)],
        err,
    )?;
    Ok(Offering {
        mode,
        pin: t.pin.unwrap_or_default(),
        seed: int(&t.seed, "tools.seed", (0, 50, 5), err)?,
        search_above: int(&t.search_above, "tools.search_above", (1, 10_000, 40), err)?,
    })
}
