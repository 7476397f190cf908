//! The calendar server: customer meetings (list by customer and time window, book, cancel). Times are
//! RFC 3339 in UTC; with no window given, listing shows what is still to come.

use crate::demo::{self, Demo};
use crate::records::Record;
use crate::store::{CUSTOMER_REFS, Schema, Store, conditions, insert_all, resolve_customer, seed_customer_refs};
use crate::validate::{self as v, Fail};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_router};
use rusqlite::{Connection, OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DDL: &str = "
CREATE TABLE meetings (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), title TEXT NOT NULL,
  start TEXT NOT NULL, duration_minutes INTEGER NOT NULL, status TEXT NOT NULL, cancel_reason TEXT,
  created_at TEXT NOT NULL);
CREATE INDEX meetings_customer ON meetings(customer_id, start);
CREATE INDEX meetings_start ON meetings(start);
";

fn seed(tx: &rusqlite::Transaction<'_>, d: &Demo) -> rusqlite::Result<()> {
    tx.execute_batch(CUSTOMER_REFS)?;
    seed_customer_refs(tx, d)?;
    let sql = "INSERT INTO meetings VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    let created = format!("{}T00:00:00Z", d.day(-61));
    insert_all(tx, sql, &demo::meetings(d), |s, m| {
        s.execute(params![
            m.id,
            m.customer_id,
            m.title,
            m.start,
            m.duration_minutes,
            m.status,
            m.cancel_reason,
            created
        ])
    })
}

pub const SCHEMA: Schema = Schema { server: "calendar", ddl: DDL, seed };

#[derive(Debug, Serialize, JsonSchema)]
pub struct Meeting {
    pub id: String,
    pub customer_id: String,
    pub title: String,
    /// RFC 3339, UTC.
    pub start: String,
    pub duration_minutes: i64,
    /// scheduled, completed or canceled
    pub status: String,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MeetingList {
    /// In start order.
    pub meetings: Vec<Meeting>,
    pub count: usize,
    /// The window searched (RFC 3339).
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only this customer's meetings (id such as cus_000042, or their email).
    pub customer_id: Option<String>,
    /// Window start: a date (2026-01-31) or RFC 3339 time. Default: now, unless `to` is given.
    pub from: Option<String>,
    /// Window end (exclusive): a date or RFC 3339 time. A bare date includes that whole day.
    pub to: Option<String>,
    /// Maximum results, 1-200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// Customer id such as cus_000042.
    pub customer_id: String,
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// RFC 3339 start time, e.g. 2026-01-31T15:00:00Z.
    #[schemars(extend("format" = "date-time"))]
    pub start: String,
    /// 5-480 minutes.
    #[schemars(range(min = 5, max = 480))]
    pub duration_minutes: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetArgs {
    /// Meeting id such as MTG-00001.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CancelArgs {
    /// Meeting id such as MTG-00001.
    pub id: String,
    #[schemars(length(min = 1, max = 500))]
    pub reason: String,
}

const SELECT: &str = "SELECT id, customer_id, title, start, duration_minutes, status, cancel_reason FROM meetings";

fn meeting(r: &rusqlite::Row<'_>) -> rusqlite::Result<Meeting> {
    Ok(Meeting {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        title: r.get(2)?,
        start: r.get(3)?,
        duration_minutes: r.get(4)?,
        status: r.get(5)?,
        cancel_reason: r.get(6)?,
    })
}

fn find(conn: &Connection, id: &str) -> Result<Meeting, Fail> {
    conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], meeting)
        .optional()?
        .ok_or_else(|| Fail(format!("meeting '{id}' not found")))
}

/// A window bound: an RFC 3339 time, or a date (start of day; for `to`, the end of that day).
fn bound(field: &str, value: &str, end: bool) -> Result<String, Fail> {
    if let Ok(t) = v::timestamp(field, value) {
        return Ok(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    let day = v::date(field, value)?;
    let day = if end { day.succ_opt().unwrap_or(day) } else { day };
    Ok(format!("{day}T00:00:00Z"))
}

#[derive(Clone)]
pub struct Calendar {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Calendar {
    pub fn open() -> anyhow::Result<Self> {
        Ok(Self { store: Store::open(&SCHEMA)?, tool_router: Self::tool_router() })
    }

    #[tool(
        description = "List meetings in start order, optionally for one customer and within a time window (default: upcoming).",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_meetings(&self, Parameters(a): Parameters<ListArgs>) -> Result<Json<MeetingList>, Fail> {
        let limit = v::limit(a.limit, 50, 200)?;
        let from = match (&a.from, &a.to) {
            (Some(f), _) => Some(bound("from", f, false)?),
            (None, None) => Some(v::now()),
            (None, Some(_)) => None,
        };
        let to = a.to.as_deref().map(|t| bound("to", t, true)).transpose()?;
        if let (Some(f), Some(t)) = (&from, &to)
            && f >= t
        {
            crate::fail!("from ({f}) must be before to ({t})");
        }
        let conn = self.store.conn();
        let customer = a.customer_id.as_deref().map(|c| resolve_customer(&conn, c)).transpose()?;
        let (filter, mut values) =
            conditions(&[("customer_id = ?", customer), ("start >= ?", from.clone()), ("start < ?", to.clone())]);
        let sql = format!("{SELECT} WHERE {filter} ORDER BY start, id LIMIT ?{}", values.len() + 1);
        values.push(limit.into());
        let meetings: Vec<Meeting> = conn
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(&values), meeting)?
            .collect::<Result<_, _>>()?;
        Ok(Json(MeetingList { count: meetings.len(), meetings, from, to }))
    }

    #[tool(
        description = "Get one meeting by id (MTG-…).",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_meeting(&self, Parameters(a): Parameters<GetArgs>) -> Result<Json<Meeting>, Fail> {
        let id = v::id("id", &a.id, "MTG-", "MTG-00001")?;
        Ok(Json(find(&self.store.conn(), &id)?))
    }

    #[tool(
        description = "Book a meeting with a customer. Returns the created meeting.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_meeting(&self, Parameters(a): Parameters<CreateArgs>) -> Result<Json<Meeting>, Fail> {
        let title = v::text("title", &a.title, 200)?;
        let start = v::timestamp("start", &a.start)?.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        if !(5..=480).contains(&a.duration_minutes) {
            crate::fail!("duration_minutes must be between 5 and 480, got {}", a.duration_minutes);
        }
        let mut conn = self.store.conn();
        let customer = resolve_customer(&conn, &a.customer_id)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let next: i64 =
            tx.query_row("SELECT COALESCE(MAX(CAST(substr(id, 5) AS INTEGER)), 0) + 1 FROM meetings", [], |r| {
                r.get(0)
            })?;
        let id = format!("MTG-{next:05}");
        tx.execute(
            "INSERT INTO meetings VALUES (?1, ?2, ?3, ?4, ?5, 'scheduled', NULL, ?6)",
            params![id, customer, title, start, a.duration_minutes, v::now()],
        )?;
        let m = find(&tx, &id)?;
        tx.commit()?;
        Ok(Json(m))
    }

    #[tool(
        description = "Cancel a scheduled meeting, giving a reason. Cannot be undone.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cancel_meeting(&self, Parameters(a): Parameters<CancelArgs>) -> Result<Json<Meeting>, Fail> {
        let id = v::id("id", &a.id, "MTG-", "MTG-00001")?;
        let reason = v::text("reason", &a.reason, 500)?;
        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let m = find(&tx, &id)?;
        if m.status != "scheduled" {
            crate::fail!("meeting '{id}' is {}, only scheduled meetings can be canceled", m.status);
        }
        tx.execute("UPDATE meetings SET status = 'canceled', cancel_reason = ?2 WHERE id = ?1", params![id, reason])?;
        let m = find(&tx, &id)?;
        tx.commit()?;
        Ok(Json(m))
    }
}

/// This server's records as resources (`meeting://{id}`), read through its lookup tool.
const RECORDS: [Record; 1] = [Record {
    scheme: "meeting",
    param: "id",
    tool: "get_meeting",
    name: "meeting",
    description: "One meeting, as get_meeting returns it.",
}];

crate::business_server!(
    Calendar,
    "calendar",
    "Customer meetings: list, look up, book, cancel.",
    RECORDS,
    crate::prompts::NONE
);
