//! The analytics server: daily business metrics (derived from the demo dataset at seeding, so they agree with
//! the other servers' data), summarised over a period or returned as a daily trend.

use crate::demo::{self, Demo, METRICS};
use crate::prompts::PromptSpec;
use crate::records::Record;
use crate::store::{Schema, Store, insert_all};
use crate::validate::{self as v, Fail};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_router};
use rusqlite::params;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DDL: &str = "CREATE TABLE metrics (metric TEXT NOT NULL, day TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (metric, day)) WITHOUT ROWID;";

fn seed(tx: &rusqlite::Transaction<'_>, d: &Demo) -> rusqlite::Result<()> {
    let (_, _, payments) = demo::billing(d);
    let points = demo::metrics(d, &demo::tickets(d), &payments);
    insert_all(tx, "INSERT INTO metrics VALUES (?1, ?2, ?3)", &points, |s, p| {
        s.execute(params![p.metric, p.day.to_string(), p.value])
    })
}

pub const SCHEMA: Schema = Schema { server: "analytics", ddl: DDL, seed };

/// Metrics that are a level at the end of each day (summing them over days means nothing).
const LEVELS: [&str; 2] = ["mrr", "active_customers"];

#[derive(Debug, Serialize, JsonSchema)]
pub struct MetricInfo {
    pub name: String,
    /// usd or count
    pub unit: String,
    pub description: String,
    /// "level" (a value at the end of each day) or "flow" (a count or sum per day)
    pub kind: String,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MetricList {
    pub metrics: Vec<MetricInfo>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Report {
    pub metric: String,
    pub period: String,
    pub from: String,
    pub to: String,
    pub days: usize,
    /// Sum over the period (for flows), or the last value (for levels).
    pub total: f64,
    pub average: f64,
    pub min: f64,
    pub max: f64,
    pub first: f64,
    pub last: f64,
    /// Same figure over the period just before, when the history reaches that far.
    pub previous_total: Option<f64>,
    /// Percent change of `total` against `previous_total`.
    pub change_pct: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Point {
    pub day: String,
    pub value: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Trend {
    pub metric: String,
    pub days: usize,
    pub points: Vec<Point>,
    pub start: f64,
    pub end: f64,
    pub change: f64,
    pub change_pct: Option<f64>,
    /// up, down or flat
    pub direction: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReportArgs {
    /// Metric name, see list_metrics (e.g. mrr, failed_payments).
    pub metric: String,
    /// 7d, 30d, 90d or 180d (default 30d).
    pub period: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrendArgs {
    /// Metric name, see list_metrics (e.g. mrr, failed_payments).
    pub metric: String,
    /// Number of most recent days, 2-180 (default 30).
    #[schemars(range(min = 2, max = 180))]
    pub days: Option<i64>,
}

fn metric_name(value: &str) -> Result<&'static str, Fail> {
    let v = value.trim().to_lowercase();
    METRICS
        .iter()
        .map(|m| m.0)
        .find(|m| *m == v)
        .ok_or_else(|| Fail(format!("metric must be one of {}, got '{value}'", METRICS.map(|m| m.0).join(", "))))
}

fn pct(from: f64, to: f64) -> Option<f64> {
    (from != 0.0).then(|| ((to - from) / from * 1000.0).round() / 10.0)
}

#[derive(Clone)]
pub struct Analytics {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Analytics {
    pub fn open() -> anyhow::Result<Self> {
        Ok(Self { store: Store::open(&SCHEMA)?, tool_router: Self::tool_router() })
    }

    /// The most recent `n` daily values of `metric`, oldest first.
    fn series(&self, metric: &str, n: i64) -> Result<Vec<Point>, Fail> {
        let conn = self.store.conn();
        let mut stmt =
            conn.prepare_cached("SELECT day, value FROM metrics WHERE metric = ?1 ORDER BY day DESC LIMIT ?2")?;
        let mut points: Vec<Point> = stmt
            .query_map(params![metric, n], |r| Ok(Point { day: r.get(0)?, value: r.get(1)? }))?
            .collect::<Result<_, _>>()?;
        points.reverse();
        Ok(points)
    }

    #[tool(
        description = "List the available business metrics with their unit, kind and date range.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_metrics(&self, Parameters(_): Parameters<NoArgs>) -> Result<Json<MetricList>, Fail> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached("SELECT min(day), max(day) FROM metrics WHERE metric = ?1")?;
        let mut metrics = Vec::new();
        for (name, unit, description) in METRICS {
            let (first_day, last_day) = stmt.query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let kind = if LEVELS.contains(&name) { "level" } else { "flow" };
            metrics.push(MetricInfo {
                name: name.into(),
                unit: unit.into(),
                description: description.into(),
                kind: kind.into(),
                first_day,
                last_day,
            });
        }
        Ok(Json(MetricList { metrics }))
    }

    #[tool(
        description = "Summarise one metric over a recent period (7d, 30d, 90d, 180d): total, average, min, max, change against the previous period.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_report(&self, Parameters(a): Parameters<ReportArgs>) -> Result<Json<Report>, Fail> {
        let metric = metric_name(&a.metric)?;
        let period = v::one_of("period", a.period.as_deref().unwrap_or("30d"), &["7d", "30d", "90d", "180d"])?;
        let days: usize = period.trim_end_matches('d').parse().unwrap_or(30);
        let all = self.series(metric, 2 * days as i64)?;
        if all.is_empty() {
            crate::fail!("no data for metric '{metric}'");
        }
        let split = all.len().saturating_sub(days);
        let (before, now) = all.split_at(split);
        let level = LEVELS.contains(&metric);
        let total_of =
            |s: &[Point]| if level { s.last().map_or(0.0, |p| p.value) } else { s.iter().map(|p| p.value).sum() };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        let total = round(total_of(now));
        let previous_total = (before.len() == days).then(|| round(total_of(before)));
        Ok(Json(Report {
            metric: metric.into(),
            period,
            from: now[0].day.clone(),
            to: now[now.len() - 1].day.clone(),
            days: now.len(),
            total,
            average: round(now.iter().map(|p| p.value).sum::<f64>() / now.len() as f64),
            min: now.iter().map(|p| p.value).fold(f64::INFINITY, f64::min),
            max: now.iter().map(|p| p.value).fold(f64::NEG_INFINITY, f64::max),
            first: now[0].value,
            last: now[now.len() - 1].value,
            change_pct: previous_total.and_then(|p| pct(p, total)),
            previous_total,
        }))
    }

    #[tool(
        description = "Daily values of one metric over the last N days (2-180, default 30), with the overall change and direction.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_trend(&self, Parameters(a): Parameters<TrendArgs>) -> Result<Json<Trend>, Fail> {
        let metric = metric_name(&a.metric)?;
        let days = a.days.unwrap_or(30);
        if !(2..=180).contains(&days) {
            crate::fail!("days must be between 2 and 180, got {days}");
        }
        let points = self.series(metric, days)?;
        let (Some(start), Some(end)) = (points.first().map(|p| p.value), points.last().map(|p| p.value)) else {
            crate::fail!("no data for metric '{metric}'")
        };
        let change = ((end - start) * 100.0).round() / 100.0;
        let direction = if change > 0.0 {
            "up"
        } else if change < 0.0 {
            "down"
        } else {
            "flat"
        };
        Ok(Json(Trend {
            metric: metric.into(),
            days: points.len(),
            start,
            end,
            change,
            change_pct: pct(start, end),
            direction: direction.into(),
            points,
        }))
    }
}

/// This server's records as resources (`metric://{metric}`…), read through its lookup tools.
const RECORDS: [Record; 1] = [Record {
    scheme: "metric",
    param: "metric",
    tool: "get_report",
    name: "metric",
    description: "One metric's report, as get_report returns it: the last 30 days, or metric://mrr?period=7d (7d, 30d, 90d, 180d).",
}];

/// This server's prompts.
const PROMPTS: [PromptSpec; 1] = [PromptSpec {
    name: "weekly_report",
    description: "This week's business report from the last seven days of the main metrics (attached).",
    arguments: &[],
    text: "Write this week's business report from the attached seven-day reports: revenue and MRR, sign-ups and \
           churn, failed payments and support load. For each, the figure, its change against the week before \
           and one sentence on what stands out. Use only the attached figures.",
    attach: &[
        "metric://mrr?period=7d",
        "metric://revenue?period=7d",
        "metric://new_signups?period=7d",
        "metric://churned_customers?period=7d",
        "metric://failed_payments?period=7d",
        "metric://tickets_opened?period=7d",
    ],
}];

crate::business_server!(Analytics, "analytics", "Business metrics: reports and daily trends.", RECORDS, PROMPTS);
