//! The triage report: an output file read back into counts by category × priority, the urgent and high items first
//! with their customer and next action, the duplicates and the failures — as a terminal table or Markdown (the HTML
//! page is `page`). Printed at the end of a run (after Ctrl-C too: the report so far), written by `--report FILE`,
//! and by `hub triage report OUT.jsonl`.
//!
//! Owns: reading results back into rows, and the text renderings. Not: the decision, the HTML page.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The formats of `--report FILE`.
pub enum Kind {
    Markdown,
    Html,
}

/// The format a report file's name asks for.
pub fn kind(file: &Path) -> Result<Kind, String> {
    match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("md" | "markdown") => Ok(Kind::Markdown),
        Some("html" | "htm") => Ok(Kind::Html),
        _ => Err(format!("--report {}: the name must end in .md or .html", file.display())),
    }
}

/// Priorities, most pressing first (the built-in decision's, reversed).
pub const RANKED: [&str; 4] = ["urgent", "high", "normal", "low"];

/// One item's result, flattened for reading. Empty strings where the answer has no such field.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub id: String,
    pub status: String,
    pub category: String,
    pub priority: String,
    /// `Name (cus_…)`, or the id alone.
    pub customer: String,
    /// The plan and the account's state (`pro; subscription past_due, 1 failed invoice`).
    pub account: String,
    pub summary: String,
    pub next_action: String,
    pub duplicate_of: String,
    pub error: String,
    /// Calls made by `--apply` that succeeded.
    pub applied: usize,
}

impl Row {
    /// Where the priority sorts: urgent 0 … low 3, anything else after.
    pub fn rank(&self) -> usize {
        RANKED.iter().position(|p| *p == self.priority).unwrap_or(RANKED.len())
    }

    fn of(v: &Value) -> Row {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_string();
        let answer = &v["answer"];
        let mut row = Row {
            id: s(v, "id"),
            status: s(v, "status"),
            error: s(v, "error"),
            applied: v["applied"].as_array().map_or(0, |a| a.iter().filter(|c| c["ok"] == true).count()),
            ..Row::default()
        };
        match answer {
            Value::Object(_) => {
                (row.category, row.priority) = (s(answer, "category"), s(answer, "priority").to_lowercase());
                (row.summary, row.next_action, row.duplicate_of) =
                    (s(answer, "summary"), s(answer, "next_action"), s(answer, "duplicate_of"));
                let c = &answer["customer"];
                let (id, name) = (s(c, "id"), s(c, "name"));
                row.customer = if name.is_empty() || id.is_empty() { name + &id } else { format!("{name} ({id})") };
                let state: Vec<&str> =
                    c["account_state"].as_array().map_or(vec![], |a| a.iter().filter_map(Value::as_str).collect());
                row.account = [s(c, "plan"), state.join(", ")]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            Value::String(text) => {
                row.summary = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().into()
            }
            _ => {}
        }
        row
    }
}

/// What an output file holds, read for people.
#[derive(Debug, Default)]
pub struct Report {
    /// One row per id (the last line of an id wins), most pressing first, then by id.
    pub rows: Vec<Row>,
    /// Lines that were not results (torn, or not JSON with an id).
    pub unreadable: usize,
}

impl Report {
    pub fn read(path: &Path) -> std::io::Result<Report> {
        Ok(Report::parse(&std::fs::read_to_string(path)?))
    }

    pub fn parse(text: &str) -> Report {
        let mut by_id: BTreeMap<String, Row> = BTreeMap::new();
        let mut unreadable = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Value>(line).ok().filter(|v| v["id"].is_string()) {
                Some(v) => {
                    by_id.insert(v["id"].as_str().unwrap_or_default().to_string(), Row::of(&v));
                }
                None => unreadable += 1,
            }
        }
        let mut rows: Vec<Row> = by_id.into_values().collect();
        rows.sort_by(|a, b| a.rank().cmp(&b.rank()).then_with(|| a.id.cmp(&b.id)));
        Report { rows, unreadable }
    }

    pub fn ok(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status == "ok")
    }

    /// Items by status (`38 ok, 2 error`).
    pub fn statuses(&self) -> BTreeMap<&str, usize> {
        let mut m = BTreeMap::new();
        self.rows.iter().for_each(|r| *m.entry(r.status.as_str()).or_default() += 1);
        m
    }

    /// The first line: how many items, by status, and the calls applied.
    pub fn headline(&self) -> String {
        let by: Vec<String> = self.statuses().iter().map(|(s, n)| format!("{n} {s}")).collect();
        let applied: usize = self.rows.iter().map(|r| r.applied).sum();
        let mut line =
            format!("{} items: {}", self.rows.len(), if by.is_empty() { "none".into() } else { by.join(", ") });
        if applied > 0 {
            let _ = write!(line, "; {applied} calls applied");
        }
        if self.unreadable > 0 {
            let _ = write!(line, "; {} unreadable lines", self.unreadable);
        }
        line
    }

    /// Categories (rows) × priorities (columns) of the decided items; the columns are the known priorities in
    /// order, then any other seen. Empty when no answer had a category.
    pub fn matrix(&self) -> (Vec<String>, Vec<(String, Vec<usize>)>) {
        let mut columns: Vec<String> = RANKED.iter().rev().map(|p| p.to_string()).collect();
        let decided: Vec<&Row> = self.ok().filter(|r| !r.category.is_empty()).collect();
        for r in &decided {
            if !columns.contains(&r.priority) {
                columns.push(r.priority.clone());
            }
        }
        let mut cells: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for r in &decided {
            let at = columns.iter().position(|c| *c == r.priority).unwrap_or_default();
            cells.entry(&r.category).or_insert_with(|| vec![0; columns.len()])[at] += 1;
        }
        let rows = cells.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
        (if decided.is_empty() { vec![] } else { columns }, rows)
    }

    pub fn pressing(&self) -> Vec<&Row> {
        self.ok().filter(|r| r.rank() < 2).collect()
    }

    pub fn duplicates(&self) -> Vec<&Row> {
        self.ok().filter(|r| !r.duplicate_of.is_empty()).collect()
    }

    pub fn failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.status != "ok").collect()
    }

    /// The report as terminal tables; each list shows at most `limit` rows and says how many more there are.
    pub fn terminal(&self, limit: usize) -> String {
        self.render(&Plain { limit })
    }

    /// The report as Markdown, every row.
    pub fn markdown(&self) -> String {
        self.render(&Markdown)
    }

    fn render(&self, f: &dyn Format) -> String {
        let mut out = f.title(&format!("Triage report — {}", self.headline()));
        let (columns, matrix) = self.matrix();
        if !columns.is_empty() {
            let mut head = vec!["category".to_string()];
            head.extend(columns.iter().cloned());
            head.push("total".into());
            let mut rows: Vec<Vec<String>> = matrix
                .iter()
                .map(|(c, n)| {
                    let mut row = vec![c.clone()];
                    row.extend(n.iter().map(usize::to_string));
                    row.push(n.iter().sum::<usize>().to_string());
                    row
                })
                .collect();
            let mut total = vec!["total".to_string()];
            total.extend((0..columns.len()).map(|i| matrix.iter().map(|(_, n)| n[i]).sum::<usize>().to_string()));
            total.push(matrix.iter().flat_map(|(_, n)| n).sum::<usize>().to_string());
            rows.push(total);
            out += &f.table("By category and priority", &head, &rows, true);
        }
        let cut = |s: &str, n: usize| f.width(n).map_or_else(|| s.to_string(), |n| crate::output::cut(s, n));
        let pressing: Vec<Vec<String>> = self
            .pressing()
            .iter()
            .map(|r| {
                vec![
                    r.priority.clone(),
                    r.id.clone(),
                    r.category.clone(),
                    cut(&r.customer, 40),
                    cut(&r.account, 50),
                    cut(&r.next_action, 90),
                ]
            })
            .collect();
        let head = ["priority", "id", "category", "customer", "account", "next action"].map(String::from);
        out += &f.table(&format!("Urgent and high ({})", pressing.len()), &head, &pressing, false);
        let dups: Vec<Vec<String>> = self
            .duplicates()
            .iter()
            .map(|r| vec![r.id.clone(), r.duplicate_of.clone(), cut(&r.customer, 40), cut(&r.summary, 90)])
            .collect();
        let head = ["id", "duplicate of", "customer", "summary"].map(String::from);
        out += &f.table(&format!("Duplicates ({})", dups.len()), &head, &dups, false);
        let failed: Vec<Vec<String>> =
            self.failures().iter().map(|r| vec![r.id.clone(), r.status.clone(), cut(&r.error, 120)]).collect();
        let head = ["id", "status", "error"].map(String::from);
        out += &f.table(&format!("Failures ({})", failed.len()), &head, &failed, false);
        out
    }
}

/// A rendering of titles and tables.
trait Format {
    fn title(&self, text: &str) -> String;
    /// A titled table (an empty one says "none"); `whole`: never cut to a limit.
    fn table(&self, title: &str, head: &[String], rows: &[Vec<String>], whole: bool) -> String;
    /// How much of a long cell it shows (`wide`: the column's budget on a terminal), or all of it.
    fn width(&self, wide: usize) -> Option<usize>;
}

struct Plain {
    limit: usize,
}

impl Format for Plain {
    fn title(&self, text: &str) -> String {
        format!("{text}\n")
    }

    fn width(&self, wide: usize) -> Option<usize> {
        Some(wide)
    }

    fn table(&self, title: &str, head: &[String], rows: &[Vec<String>], whole: bool) -> String {
        if rows.is_empty() {
            return format!("\n{title}: none\n");
        }
        let shown = if whole { rows } else { &rows[..rows.len().min(self.limit)] };
        let width = |i: usize| shown.iter().chain([&head.to_vec()]).map(|r| r[i].chars().count()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..head.len()).map(width).collect();
        let line = |r: &[String]| {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("  {}\n", cells.join("  ").trim_end())
        };
        let mut out = format!("\n{title}:\n{}", line(head));
        shown.iter().for_each(|r| out += &line(r));
        if rows.len() > shown.len() {
            let _ = writeln!(
                out,
                "  … and {} more (hub triage report OUT --report FILE.html has them all)",
                rows.len() - shown.len()
            );
        }
        out
    }
}

struct Markdown;

impl Format for Markdown {
    fn title(&self, text: &str) -> String {
        format!("# {text}\n")
    }

    fn width(&self, _: usize) -> Option<usize> {
        None
    }

    fn table(&self, title: &str, head: &[String], rows: &[Vec<String>], _: bool) -> String {
        if rows.is_empty() {
            return format!("\n## {title}\n\nNone.\n");
        }
        let cell = |c: &String| c.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ");
        let line = |r: &[String]| format!("| {} |\n", r.iter().map(cell).collect::<Vec<_>>().join(" | "));
        let mut out = format!("\n## {title}\n\n{}", line(head));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        rows.iter().for_each(|r| out += &line(r));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = concat!(
        r#"{"id":"T3","status":"ok","answer":{"category":"billing","priority":"urgent","customer":{"id":"c1","name":"Ann","plan":"pro","account_state":["subscription past_due"]},"next_action":"retry","duplicate_of":null}}"#,
        "\n",
        r#"{"id":"T1","status":"ok","answer":{"category":"billing","priority":"low","customer":null,"summary":"a | b","duplicate_of":"T3"}}"#,
        "\n",
        r#"{"id":"T2","status":"error","answer":"","error":"endpoint down"}"#,
        "\n",
        r#"{"id":"T2","status":"ok","answer":{"category":"technical","priority":"high"},"applied":[{"ok":true},{"ok":false}]}"#,
        "\n",
        r#"{"id":"T4","status":"denied","answer":"free text\nsecond line","error":"not allowed"}"#,
        "\nnot json\n{\"id\":\"T5\",\"sta"
    );

    #[test]
    fn rows_counts_and_lists_read_back_from_an_output_file() {
        let r = Report::parse(OUT);
        assert_eq!(r.unreadable, 2);
        let ids: Vec<&str> = r.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["T3", "T2", "T1", "T4"], "most pressing first; the last line of T2 wins");
        assert_eq!(r.headline(), "4 items: 1 denied, 3 ok; 1 calls applied; 2 unreadable lines");
        let (columns, matrix) = r.matrix();
        assert_eq!(columns, ["low", "normal", "high", "urgent"]);
        assert_eq!(matrix, [("billing".to_string(), vec![1, 0, 0, 1]), ("technical".to_string(), vec![0, 0, 1, 0])]);
        assert_eq!(r.rows[0].customer, "Ann (c1)");
        assert_eq!(r.rows[0].account, "pro; subscription past_due");
        assert_eq!(r.rows[3].summary, "free text", "a free-text answer's first line");
        assert_eq!(r.pressing().len(), 2);
        assert_eq!(r.duplicates()[0].id, "T1");
        assert_eq!(r.failures()[0].error, "not allowed");
    }

    #[test]
    fn terminal_lists_are_cut_to_the_limit_and_markdown_escapes_cells() {
        let r = Report::parse(OUT);
        let t = r.terminal(1);
        assert!(t.contains("Urgent and high (2):") && t.contains("… and 1 more"), "{t}");
        assert!(t.contains("  billing    1    0       0     1       2"), "{t}");
        let md = r.markdown();
        assert!(md.contains("| T1 | T3 |  | a \\| b |"), "{md}");
        assert!(md.contains("| total | 1 | 0 | 1 | 1 | 3 |"), "{md}");
        assert!(kind(Path::new("r.HTML")).is_ok() && kind(Path::new("r.txt")).is_err());
    }
}
