//! How raw values of servers.toml become checked ones: the `[model]` table (with the OPENAI_* and HUB_MODEL
//! environment), and the checks every table shares — seconds within range, a choice among names, a restart
//! policy with its defaults. Each error names the key and its position.

use super::raw::{self, RawRestart};
use super::{ErrAt, Failure, ModelConfig, OPENAI_DEFAULT_BASE, Offering, RestartPolicy};
use std::time::Duration;

pub(super) fn secs(
    v: Option<&toml::Spanned<f64>>,
    default: f64,
    key: &str,
    err: &ErrAt<'_>,
) -> Result<Duration, Failure> {
    secs_or(v, Duration::from_secs_f64(default), key, err)
}

pub(super) fn secs_or(
    v: Option<&toml::Spanned<f64>>,
    default: Duration,
    key: &str,
    err: &ErrAt<'_>,
) -> Result<Duration, Failure> {
    match v {
        None => Ok(default),
        Some(s) if *s.get_ref() > 0.0 && *s.get_ref() <= 86_400.0 => Ok(Duration::from_secs_f64(*s.get_ref())),
        Some(s) => Err(err(s.span().start, key, &format!("must be between 0 and 86400 seconds, got {}", s.get_ref()))),
    }
}

pub(super) fn restart(r: &RawRestart, d: &RawRestart) -> RestartPolicy {
    RestartPolicy {
        max_restarts: r.max_restarts.or(d.max_restarts).unwrap_or(5),
        backoff: Duration::from_millis(r.backoff_ms.or(d.backoff_ms).unwrap_or(100)),
        max_backoff: Duration::from_millis(r.max_backoff_ms.or(d.max_backoff_ms).unwrap_or(300_000)),
        stable: Duration::from_secs(r.stable_s.or(d.stable_s).unwrap_or(10)),
        give_up: r.give_up.or(d.give_up),
    }
}

/// `[model] ground`: when the offline planner's read-only lookups are put before the model's first turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ground {
    /// For a local endpoint or a model known to be small, and when the model answers a question naming records
    /// without looking anything up.
    Auto,
    Always,
    Never,
}

const GROUNDS: &[(&str, Ground)] = &[("auto", Ground::Auto), ("always", Ground::Always), ("never", Ground::Never)];

pub(super) fn model(
    m: raw::RawModel,
    env: &dyn Fn(&str) -> Option<String>,
    exp: &dyn Fn(&raw::Str, &str) -> Result<String, Failure>,
    err: &ErrAt<'_>,
) -> Result<ModelConfig, Failure> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let base_url = match &m.base_url {
        Some(b) => exp(b, "model.base_url")?,
        None => set("OPENAI_BASE_URL").unwrap_or_else(|| OPENAI_DEFAULT_BASE.to_string()),
    };
    let api_key = match &m.api_key {
        Some(k) => Some(exp(k, "model.api_key")?).filter(|k| !k.is_empty()),
        None => set("OPENAI_API_KEY"),
    };
    let configured =
        api_key.is_some() || set("OPENAI_BASE_URL").is_some() || base_url.trim_end_matches('/') != OPENAI_DEFAULT_BASE;
    let int = |v: &Option<toml::Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64| match v {
        None => Ok(default),
        Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
        Some(s) => Err(err(s.span().start, key, &format!("must be between {lo} and {hi}, got {}", s.get_ref()))),
    };
    // An integer setting with no default: absent stays absent.
    let optional = |v: &Option<toml::Spanned<i64>>, key: &str, lo: i64, hi: i64| {
        v.as_ref().map(|_| int(v, key, lo, hi, 0).map(|n| n as u32)).transpose()
    };
    let name = match (set("HUB_MODEL"), &m.name) {
        (Some(n), _) => n,
        (None, Some(n)) => exp(n, "model.name")?,
        (None, None) => "gpt-4o".to_string(),
    };
    // A model on this machine may read a long first prompt for minutes (a 1.5B model on 2 cores: ≈60 s).
    let timeout = if crate::llm::window::is_local(&base_url) { 600.0 } else { 120.0 };
    Ok(ModelConfig {
        timeout: secs(m.timeout_s.as_ref(), timeout, "model.timeout_s", err)?,
        name,
        base_url,
        api_key,
        configured,
        offline: !configured,
        max_turns: int(&m.max_turns, "model.max_turns", 1, 1000, 15)? as u32,
        system_prompt: m.system_prompt.as_ref().map(|s| exp(s, "model.system_prompt")).transpose()?,
        max_retries: int(&m.max_retries, "model.max_retries", 0, 20, 4)? as u32,
        result_budget: int(&m.result_budget, "model.result_budget", 256, 10_000_000, 16_000)? as usize,
        context_budget: int(&m.context_budget, "model.context_budget", 1_000, 100_000_000, 200_000)? as usize,
        strict: m.strict.unwrap_or(false),
        ground: match set("HUB_GROUND") {
            Some(v) => GROUNDS.iter().find(|(n, _)| *n == v).map(|(_, g)| *g).ok_or_else(|| {
                Failure::usage(format!("HUB_GROUND must be one of \"auto\", \"always\", \"never\", got \"{v}\""))
            })?,
            None => one_of(m.ground.as_ref(), "model.ground", GROUNDS, err)?,
        },
        context_window: optional(&m.context_window, "model.context_window", 512, 100_000_000)?,
        repair: m.repair.unwrap_or(true),
        tools: Offering::default(),
        code: Default::default(),
        requests_per_minute: optional(&m.requests_per_minute, "model.requests_per_minute", 1, 100_000)?,
    })
}

/// A string setting that must be one of `options` (the first is the default).
pub(super) fn one_of<T: Copy>(
    v: Option<&toml::Spanned<String>>,
    key: &str,
    options: &[(&str, T)],
    err: &ErrAt<'_>,
) -> Result<T, Failure> {
    let Some(v) = v else { return Ok(options[0].1) };
    options.iter().find(|(name, _)| name == v.get_ref()).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        err(v.span().start, key, &format!("must be one of {}, got \"{}\"", names.join(", "), v.get_ref()))
    })
}

/// Line and column (1-based) of byte offset `at`, and the `[table]` header above it.
pub(super) fn locate(text: &str, at: usize) -> (usize, usize, Option<String>) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let section = before.lines().rev().map(str::trim).find(|l| l.starts_with('[')).map(|l| l.to_string());
    (line, col, section)
}
