//! Input validation shared by the servers. Every check names the field it rejects, and the message is what
//! the caller (often a model) reads in the `isError` result, so it says what a valid value looks like.
//!
//! Also the `Fail` error type the tools return (`Err(Fail)` becomes an `isError` result, not a protocol
//! error), with a conversion from SQLite errors so a storage fault is reported, never a panic.

use chrono::{DateTime, NaiveDate, Utc};
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResult, ContentBlock};

/// A tool-level failure: the message goes back to the caller as an `isError` result.
#[derive(Debug)]
pub struct Fail(pub String);

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!("storage error: {e}");
        Fail(format!("storage error: {e}"))
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail(s)
    }
}

impl IntoCallToolResult for Fail {
    fn into_call_tool_result(self) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.0)]).into())
    }
}

/// `Err(Fail)` with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::validate::Fail(format!($($t)*))) };
}

/// A bounded `limit` with a default.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, Fail> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(v) => Err(Fail(format!("limit must be between 1 and {max}, got {v}"))),
    }
}

/// A non-empty, trimmed string of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, Fail> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Fail(format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(Fail(format!("{field} must be at most {max} characters, got {}", v.chars().count())));
    }
    Ok(v.to_string())
}

pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
        && !domain.contains('@')
}

pub fn email(field: &str, value: &str) -> Result<String, Fail> {
    let v = value.trim().to_lowercase();
    if is_email(&v) { Ok(v) } else { Err(Fail(format!("{field} must be an email address, got '{value}'"))) }
}

/// An id of the form `<prefix><digits>` such as `cus_000042` or `INV-000123`; case-insensitive prefix.
pub fn id(field: &str, value: &str, prefix: &str, example: &str) -> Result<String, Fail> {
    let v = value.trim();
    // `get`, not indexing: the caller's text may put a multi-byte character where the prefix ends.
    let digits =
        v.get(prefix.len()..).filter(|_| v.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)));
    if let Some(d) = digits.filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
        Ok(format!("{prefix}{d}"))
    } else {
        Err(Fail(format!("{field} must look like '{example}', got '{value}'")))
    }
}

pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, Fail> {
    let v = value.trim().to_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(Fail(format!("{field} must be one of {}, got '{value}'", allowed.join(", "))))
    }
}

/// A date `YYYY-MM-DD` (an RFC 3339 timestamp is accepted and cut to its date).
pub fn date(field: &str, value: &str) -> Result<NaiveDate, Fail> {
    let v = value.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| DateTime::parse_from_rfc3339(v).map(|d| d.with_timezone(&Utc).date_naive()))
        .map_err(|_| Fail(format!("{field} must be a date like 2026-01-31, got '{value}'")))
}

/// An RFC 3339 timestamp such as `2026-01-31T15:00:00Z`, normalised to UTC.
pub fn timestamp(field: &str, value: &str) -> Result<DateTime<Utc>, Fail> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| Fail(format!("{field} must be an RFC 3339 timestamp like 2026-01-31T15:00:00Z, got '{value}'")))
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Cents as a decimal amount.
pub fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_with_a_multibyte_character_at_the_prefix_end_is_an_error_not_a_panic() {
        // Found by the property test: slicing at the prefix length split a 4-byte character.
        assert!(id("customer_id", "<\u{1F574}x", "cus_", "cus_000042").is_err());
        assert!(id("id", "é", "INV-", "INV-000123").is_err());
    }

    #[test]
    fn ids_emails_dates() {
        assert_eq!(id("customer_id", "CUS_000042", "cus_", "cus_000042").unwrap(), "cus_000042");
        assert!(id("customer_id", "cus_42x", "cus_", "cus_000042").unwrap_err().0.contains("customer_id"));
        assert!(is_email("john.smith@acme.com"));
        assert!(!is_email("john@acme") && !is_email("a b@c.com") && !is_email("@x.com"));
        assert_eq!(date("from", "2026-02-03T10:00:00+02:00").unwrap().to_string(), "2026-02-03");
        assert!(date("from", "yesterday").unwrap_err().0.contains("from"));
        assert!(limit(Some(0), 10, 100).is_err() && limit(None, 10, 100).unwrap() == 10);
    }
}
