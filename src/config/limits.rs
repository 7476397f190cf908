//! What hub accepts from one MCP server, in one place: message size, tools and resources per server, description length,
//! input-schema size and depth. `[defaults.limits]` sets them for every server, `[servers.NAME.limits]` per
//! server (a key it leaves out comes from the defaults). The defaults fit real servers with room to spare; a
//! value outside its range is a config error naming the key.
//!
//! Enforced by `registry::wire` (message size, on stdio) and `registry::listing` (everything else).

use super::{ErrAt, Failure};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one JSON-RPC message from the server (a longer one is a protocol error of that server).
    pub max_message_bytes: usize,
    /// Tools kept from one server; listing stops there and the rest are reported.
    pub max_tools: usize,
    /// Resources kept from one server, and resource templates (each list on its own).
    pub max_resources: usize,
    /// Characters of one tool description; longer ones are cut and marked as cut.
    pub max_description_chars: usize,
    /// Bytes of one tool's input schema (as JSON); a larger schema skips the tool.
    pub max_schema_bytes: usize,
    /// Nesting depth of one tool's input schema; a deeper schema skips the tool.
    pub max_schema_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 16 * 1024 * 1024,
            max_tools: 2_000,
            max_resources: 10_000,
            max_description_chars: 8_192,
            max_schema_bytes: 256 * 1024,
            max_schema_depth: 32,
        }
    }
}

/// `limits = { ... }` as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_message_bytes: Option<toml::Spanned<i64>>,
    pub max_tools: Option<toml::Spanned<i64>>,
    pub max_resources: Option<toml::Spanned<i64>>,
    pub max_description_chars: Option<toml::Spanned<i64>>,
    pub max_schema_bytes: Option<toml::Spanned<i64>>,
    pub max_schema_depth: Option<toml::Spanned<i64>>,
}

/// The server's limits: its own keys, else the defaults' keys, else the built-in values.
pub fn resolve(
    own: Option<&RawLimits>,
    defaults: Option<&RawLimits>,
    prefix: &str,
    err: &ErrAt<'_>,
) -> Result<Limits, Failure> {
    let base = Limits::default();
    // A value and the table it came from (for the error's key).
    let pick = |f: fn(&RawLimits) -> &Option<toml::Spanned<i64>>| match own.and_then(|r| f(r).clone()) {
        Some(v) => Some((v, prefix)),
        None => defaults.and_then(|d| f(d).clone()).map(|v| (v, "defaults.")),
    };
    let value = |v: Option<(toml::Spanned<i64>, &str)>, key: &str, lo: i64, hi: i64, default: usize| match v {
        None => Ok(default),
        Some((s, _)) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
        Some((s, table)) => Err(err(
            s.span().start,
            &format!("{table}limits.{key}"),
            &format!("must be between {lo} and {hi}, got {}", s.get_ref()),
        )),
    };
    Ok(Limits {
        max_message_bytes: value(
            pick(|r| &r.max_message_bytes),
            "max_message_bytes",
            4096,
            1 << 30,
            base.max_message_bytes,
        )?,
        max_tools: value(pick(|r| &r.max_tools), "max_tools", 1, 1_000_000, base.max_tools)?,
        max_resources: value(pick(|r| &r.max_resources), "max_resources", 1, 1_000_000, base.max_resources)?,
        max_description_chars: value(
            pick(|r| &r.max_description_chars),
            "max_description_chars",
            16,
            10_000_000,
            base.max_description_chars,
        )?,
        max_schema_bytes: value(pick(|r| &r.max_schema_bytes), "max_schema_bytes", 64, 1 << 30, base.max_schema_bytes)?,
        max_schema_depth: value(pick(|r| &r.max_schema_depth), "max_schema_depth", 2, 120, base.max_schema_depth)?,
    })
}
