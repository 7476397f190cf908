//! `[tools]`: how the agent offers tools to the model — every definition in every request, or (search mode) the
//! pinned tools, a few seeded from the question and `hub__search_tools` to find the rest (see `agent::offer`).

use super::raw;
use super::resolve::one_of;
use super::{ErrAt, Failure};

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

/// `[tools]`: how the agent offers tools to the model.
pub(super) fn resolve(t: raw::RawOffering, err: &ErrAt<'_>) -> Result<Offering, Failure> {
    let mode = one_of(
        t.mode.as_ref(),
        "tools.mode",
        &[("auto", ToolMode::Auto), ("all", ToolMode::All), ("search", ToolMode::Search)],
        err,
    )?;
    let int = |v: &Option<toml::Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64| match v {
        None => Ok(default as usize),
        Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
        Some(s) => Err(err(s.span().start, key, &format!("must be between {lo} and {hi}, got {}", s.get_ref()))),
    };
    Ok(Offering {
        mode,
        pin: t.pin.unwrap_or_default(),
        seed: int(&t.seed, "tools.seed", 0, 50, 5)?,
        search_above: int(&t.search_above, "tools.search_above", 1, 10_000, 40)?,
    })
}
