//! What a question mentions: emails, UUIDs, ids (`INV-000123`, `cus_42`), quoted strings, numbers (with the
//! unit that follows), dates and relative dates ("last week", "next 7 days"), proper names, and plain words.
//! Pure text analysis: nothing here knows any tool.

use chrono::{Datelike, Duration, NaiveDate};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entities {
    pub emails: Vec<String>,
    pub uuids: Vec<String>,
    /// Identifier-like tokens: letters, a `-` or `_`, digits (`INV-000123`).
    pub ids: Vec<String>,
    pub quoted: Vec<String>,
    /// Numbers with the word after them ("30 days" → (30, "days")).
    pub numbers: Vec<(f64, String)>,
    /// A date window, from inclusive to exclusive.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Capitalised words that are not at the start of a sentence (company and person names).
    pub names: Vec<String>,
    /// Lowercased words, punctuation stripped.
    pub words: Vec<String>,
    /// ISO dates (`2026-12-01`).
    pub dates: Vec<NaiveDate>,
}

impl Entities {
    /// The most specific thing the question is about, for search-like parameters.
    pub fn subject(&self) -> Option<String> {
        self.quoted
            .first()
            .or(self.emails.first())
            .or(self.ids.first())
            .or(self.uuids.first())
            .cloned()
            .or_else(|| (!self.names.is_empty()).then(|| self.names.join(" ")))
    }
}

fn is_uuid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_id(t: &str) -> bool {
    let Some(split) = t.rfind(['-', '_']) else { return false };
    let (head, digits) = (&t[..split], &t[split + 1..]);
    !head.is_empty()
        && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && head.chars().any(|c| c.is_ascii_alphabetic())
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
}

const CAPITAL_STOP: [&str; 24] = [
    "I",
    "What",
    "Which",
    "Who",
    "How",
    "When",
    "Where",
    "Show",
    "List",
    "Give",
    "Find",
    "Get",
    "Is",
    "Are",
    "Do",
    "Does",
    "Can",
    "Customer",
    "Customers",
    "The",
    "A",
    "An",
    "Please",
    "Tell",
];

/// Analyses `question`, with relative dates resolved against `today`.
pub fn extract(question: &str, today: NaiveDate) -> Entities {
    let mut e = Entities::default();
    let mut rest = question.to_string();
    for q in ['"', '\u{201c}', '\''] {
        let close = if q == '\u{201c}' { '\u{201d}' } else { q };
        while let Some(a) = rest.find(q) {
            let Some(len) = rest[a + q.len_utf8()..].find(close) else { break };
            let inner = rest[a + q.len_utf8()..a + q.len_utf8() + len].to_string();
            // An apostrophe inside a word ("customer's") is not a quote.
            if q == '\''
                && (inner.contains(' ') && inner.split_whitespace().count() > 6
                    || a > 0 && rest[..a].ends_with(char::is_alphanumeric))
            {
                break;
            }
            if !inner.trim().is_empty() {
                e.quoted.push(inner.trim().to_string());
            }
            rest.replace_range(a..a + q.len_utf8() * 2 + len - q.len_utf8() + close.len_utf8(), " ");
        }
    }
    let raw: Vec<&str> = rest.split_whitespace().collect();
    let clean =
        |t: &str| t.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '_' && c != '-').to_string();
    let mut sentence_start = true;
    for (i, tok) in raw.iter().enumerate() {
        let t = clean(tok).trim_end_matches(['-', '_']).to_string();
        // A possessive is the name itself ("Smith's").
        let t = t.strip_suffix("'s").or_else(|| t.strip_suffix("\u{2019}s")).map(str::to_string).unwrap_or(t);
        if let Ok(d) = NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
            e.dates.push(d);
        } else if t.contains('@') && hub_servers::validate::is_email(&t) {
            e.emails.push(t.to_lowercase());
        } else if is_uuid(&t) {
            e.uuids.push(t.to_lowercase());
        } else if is_id(&t) {
            e.ids.push(t.clone());
        } else if let Ok(n) = t.replace(',', "").parse::<f64>() {
            let unit = raw.get(i + 1).map(|u| clean(u).to_lowercase()).unwrap_or_default();
            e.numbers.push((n, unit));
        } else if t.chars().next().is_some_and(char::is_uppercase)
            && !sentence_start
            && !CAPITAL_STOP.contains(&t.as_str())
            // An acronym (MRR, NPS) names a thing, not a person or a company.
            && (t.len() > 5 || !t.chars().all(|c| c.is_ascii_uppercase()))
        {
            e.names.push(t.clone());
        }
        for w in t.split(['-', '_', '/']).filter(|w| !w.is_empty()) {
            e.words.push(w.to_lowercase());
        }
        // "sign-ups" is also "signups".
        if t.contains('-') && t.split('-').all(|p| !p.is_empty() && p.chars().all(char::is_alphabetic)) {
            e.words.push(t.replace('-', "").to_lowercase());
        }
        sentence_start = tok.ends_with(['.', '?', '!', ':']);
    }
    e.window = window(&e.words, &e.numbers, &e.dates, today);
    e
}

/// The date window named by the words: today, yesterday, tomorrow, this/last/next week or month,
/// last/past/next N days, or an ISO date.
fn window(
    words: &[String],
    numbers: &[(f64, String)],
    dates: &[NaiveDate],
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let has = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let month_start = today.with_day(1)?;
    let days_n = numbers.iter().find(|(_, u)| u.starts_with("day")).map(|(n, _)| *n as i64);
    if let Some(n) = days_n.filter(|n| *n > 0 && *n < 10_000) {
        if words.iter().any(|w| w == "next" || w == "coming" || w == "upcoming") {
            return Some((today, today + Duration::days(n)));
        }
        if words.iter().any(|w| w == "last" || w == "past" || w == "previous") {
            return Some((today - Duration::days(n), today + Duration::days(1)));
        }
    }
    let found = if has("next", "week") {
        (monday + Duration::days(7), monday + Duration::days(14))
    } else if has("last", "week") || has("previous", "week") {
        (monday - Duration::days(7), monday)
    } else if has("this", "week") {
        (monday, monday + Duration::days(7))
    } else if has("next", "month") {
        let next = month_start.checked_add_months(chrono::Months::new(1))?;
        (next, next.checked_add_months(chrono::Months::new(1))?)
    } else if has("last", "month") {
        (month_start.checked_sub_months(chrono::Months::new(1))?, month_start)
    } else if has("this", "month") {
        (month_start, month_start.checked_add_months(chrono::Months::new(1))?)
    } else if words.iter().any(|w| w == "today") {
        (today, today + Duration::days(1))
    } else if words.iter().any(|w| w == "tomorrow") {
        (today + Duration::days(1), today + Duration::days(2))
    } else if words.iter().any(|w| w == "yesterday") {
        (today - Duration::days(1), today)
    } else {
        match dates {
            [] => return None,
            [d] => (*d, *d + Duration::days(1)),
            [a, .., b] => (*a.min(b), *a.max(b) + Duration::days(1)),
        }
    };
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap() // a Wednesday
    }

    #[test]
    fn finds_emails_ids_numbers_names_quotes() {
        let e = extract(
            "Customer john.smith@acme.com says invoice INV-000123 failed. Ask Globex about \"the big deal\" in 30 days.",
            today(),
        );
        assert_eq!(e.emails, ["john.smith@acme.com"]);
        assert_eq!(e.ids, ["INV-000123"]);
        assert_eq!(e.quoted, ["the big deal"]);
        assert_eq!(e.numbers, [(30.0, "days".to_string())]);
        assert_eq!(e.names, ["Globex"]);
        assert_eq!(e.subject().as_deref(), Some("the big deal"));
        assert!(extract("the customer's plan", today()).quoted.is_empty());
    }

    #[test]
    fn relative_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(extract("meetings next week", today()).window, Some((d("2026-11-30"), d("2026-12-07"))));
        assert_eq!(extract("failed last week", today()).window, Some((d("2026-11-16"), d("2026-11-23"))));
        assert_eq!(extract("the next 7 days", today()).window, Some((d("2026-11-25"), d("2026-12-02"))));
        assert_eq!(extract("on 2026-12-01", today()).window, Some((d("2026-12-01"), d("2026-12-02"))));
        assert_eq!(extract("nothing", today()).window, None);
    }
}
