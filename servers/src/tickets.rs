//! The tickets server: support tickets (list with filters, read with comments, create, update) and comments.
//! Resolving or closing a ticket stamps `resolved_at`; new ids continue the TCK-NNNNN sequence.

use crate::demo::{self, Demo};
use crate::prompts::PromptSpec;
use crate::records::Record;
use crate::store::{CUSTOMER_REFS, Schema, Store, conditions, insert_all, resolve_customer, seed_customer_refs};
use crate::validate::{self as v, Fail};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_router};
use rusqlite::{OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const STATUSES: [&str; 4] = ["open", "pending", "resolved", "closed"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

const DDL: &str = "
CREATE TABLE tickets (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), subject TEXT NOT NULL,
  body TEXT NOT NULL, status TEXT NOT NULL, priority TEXT NOT NULL, assignee TEXT, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, resolved_at TEXT);
CREATE INDEX tickets_customer ON tickets(customer_id, created_at);
CREATE INDEX tickets_status ON tickets(status, priority, created_at);
CREATE TABLE comments (id INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL REFERENCES tickets(id), author TEXT NOT NULL,
  body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX comments_ticket ON comments(ticket_id);
";

/// Duplicate links (`update_ticket` `duplicate_of`); created on open, so a store seeded before them gains them.
const LINKS: &str = "CREATE TABLE IF NOT EXISTS ticket_links (ticket_id TEXT PRIMARY KEY REFERENCES tickets(id),
  duplicate_of TEXT NOT NULL REFERENCES tickets(id));";

fn seed(tx: &rusqlite::Transaction<'_>, d: &Demo) -> rusqlite::Result<()> {
    tx.execute_batch(CUSTOMER_REFS)?;
    seed_customer_refs(tx, d)?;
    let tickets = demo::tickets(d);
    let sql = "INSERT INTO tickets VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    insert_all(tx, sql, &tickets, |s, t| {
        let created = format!("{}T10:00:00Z", t.created);
        let resolved = t.resolved.map(|r| format!("{r}T16:00:00Z"));
        let updated = resolved.clone().unwrap_or_else(|| created.clone());
        s.execute(params![
            t.id,
            t.customer_id,
            t.subject,
            t.body,
            t.status,
            t.priority,
            t.assignee,
            created,
            updated,
            resolved
        ])
    })?;
    let sql = "INSERT INTO comments (ticket_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4)";
    insert_all(tx, sql, &demo::comments(d, &tickets), |s, c| {
        s.execute(params![c.ticket_id, c.author, c.body, format!("{}T11:00:00Z", c.day)])
    })
}

pub const SCHEMA: Schema = Schema { server: "tickets", ddl: DDL, seed };

#[derive(Debug, Serialize, JsonSchema)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub subject: String,
    pub body: String,
    /// open, pending, resolved or closed
    pub status: String,
    /// low, normal, high or urgent
    pub priority: String,
    pub assignee: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    /// The earlier ticket this one duplicates, when linked.
    pub duplicate_of: Option<String>,
}

const COLUMNS: &str =
    "id, customer_id, subject, body, status, priority, assignee, created_at, updated_at, resolved_at, duplicate_of";
/// Tickets with their duplicate link.
const LINKED: &str = "tickets LEFT JOIN ticket_links ON ticket_links.ticket_id = tickets.id";

fn ticket(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        subject: r.get(2)?,
        body: r.get(3)?,
        status: r.get(4)?,
        priority: r.get(5)?,
        assignee: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        resolved_at: r.get(9)?,
        duplicate_of: r.get(10)?,
    })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Comment {
    pub id: i64,
    pub ticket_id: String,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketList {
    /// Newest first.
    pub tickets: Vec<Ticket>,
    pub count: usize,
    /// How many tickets match the filters in all (may exceed `count`).
    pub total: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketDetail {
    pub ticket: Ticket,
    /// Oldest first.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only this customer's tickets (id such as cus_000042, or their email).
    pub customer_id: Option<String>,
    /// open, pending, resolved or closed
    pub status: Option<String>,
    /// low, normal, high or urgent
    pub priority: Option<String>,
    /// Maximum results, 1-200 (default 20).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    /// Skip this many tickets first, for paging (default 0).
    #[schemars(range(min = 0))]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct IdArgs {
    /// Ticket id such as TCK-01001.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// Customer id such as cus_000042.
    pub customer_id: String,
    #[schemars(length(min = 1, max = 200))]
    pub subject: String,
    #[schemars(length(min = 1, max = 10000))]
    pub body: String,
    /// low, normal, high or urgent (default normal)
    pub priority: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateArgs {
    /// Ticket id such as TCK-01001.
    pub id: String,
    /// open, pending, resolved or closed
    pub status: Option<String>,
    /// low, normal, high or urgent
    pub priority: Option<String>,
    /// Agent to assign.
    pub assignee: Option<String>,
    /// Link this ticket as a duplicate of another (its id, such as TCK-01001); an empty string removes the link.
    pub duplicate_of: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CommentArgs {
    /// Ticket id such as TCK-01001.
    pub ticket_id: String,
    #[schemars(length(min = 1, max = 10000))]
    pub body: String,
    /// Who writes the comment (default "support").
    pub author: Option<String>,
}

fn ticket_id(value: &str) -> Result<String, Fail> {
    v::id("id", value, "TCK-", "TCK-01001")
}

#[derive(Clone)]
pub struct Tickets {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Tickets {
    pub fn open() -> anyhow::Result<Self> {
        let store = Store::open(&SCHEMA)?;
        store.conn().execute_batch(LINKS)?;
        Ok(Self { store, tool_router: Self::tool_router() })
    }

    fn find(&self, conn: &rusqlite::Connection, id: &str) -> Result<Ticket, Fail> {
        let sql = format!("SELECT {COLUMNS} FROM {LINKED} WHERE id = ?1");
        conn.prepare_cached(&sql)?
            .query_row([id], ticket)
            .optional()?
            .ok_or_else(|| Fail(format!("ticket '{id}' not found")))
    }

    #[tool(
        description = "List support tickets, newest first, optionally filtered by customer, status and priority.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_tickets(&self, Parameters(a): Parameters<ListArgs>) -> Result<Json<TicketList>, Fail> {
        let limit = v::limit(a.limit, 20, 200)?;
        let status = a.status.as_deref().map(|s| v::one_of("status", s, &STATUSES)).transpose()?;
        let priority = a.priority.as_deref().map(|s| v::one_of("priority", s, &PRIORITIES)).transpose()?;
        let conn = self.store.conn();
        let customer = a.customer_id.as_deref().map(|c| resolve_customer(&conn, c)).transpose()?;
        let (filter, mut values) =
            conditions(&[("customer_id = ?", customer), ("status = ?", status), ("priority = ?", priority)]);
        let total = conn
            .prepare_cached(&format!("SELECT count(*) FROM tickets WHERE {filter}"))?
            .query_row(rusqlite::params_from_iter(&values), |r| r.get(0))?;
        let offset = a.offset.unwrap_or(0);
        if offset < 0 {
            return Err(Fail(format!("offset must be 0 or more, got {offset}")));
        }
        let n = values.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM {LINKED} WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        );
        values.extend([limit.into(), offset.into()]);
        let tickets: Vec<Ticket> = conn
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(&values), ticket)?
            .collect::<Result<_, _>>()?;
        Ok(Json(TicketList { count: tickets.len(), tickets, total }))
    }

    #[tool(
        description = "Get one ticket by id (TCK-…) with its comments.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_ticket(&self, Parameters(a): Parameters<IdArgs>) -> Result<Json<TicketDetail>, Fail> {
        let id = ticket_id(&a.id)?;
        let conn = self.store.conn();
        let ticket = self.find(&conn, &id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, ticket_id, author, body, created_at FROM comments WHERE ticket_id = ?1 ORDER BY created_at, id",
        )?;
        let comments = stmt
            .query_map([&id], |r| {
                Ok(Comment {
                    id: r.get(0)?,
                    ticket_id: r.get(1)?,
                    author: r.get(2)?,
                    body: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Json(TicketDetail { ticket, comments }))
    }

    #[tool(
        description = "Open a new support ticket for a customer. Returns the created ticket.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_ticket(&self, Parameters(a): Parameters<CreateArgs>) -> Result<Json<Ticket>, Fail> {
        let subject = v::text("subject", &a.subject, 200)?;
        let body = v::text("body", &a.body, 10_000)?;
        let priority = v::one_of("priority", a.priority.as_deref().unwrap_or("normal"), &PRIORITIES)?;
        let mut conn = self.store.conn();
        let customer = resolve_customer(&conn, &a.customer_id)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let next: i64 =
            tx.query_row("SELECT COALESCE(MAX(CAST(substr(id, 5) AS INTEGER)), 1000) + 1 FROM tickets", [], |r| {
                r.get(0)
            })?;
        let id = format!("TCK-{next:05}");
        let now = v::now();
        tx.execute(
            "INSERT INTO tickets VALUES (?1, ?2, ?3, ?4, 'open', ?5, NULL, ?6, ?6, NULL)",
            params![id, customer, subject, body, priority, now],
        )?;
        let t = self.find(&tx, &id)?;
        tx.commit()?;
        Ok(Json(t))
    }

    #[tool(
        description = "Change a ticket's status, priority or assignee, or link it as a duplicate of another ticket. \
                       Resolving or closing stamps resolved_at.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_ticket(&self, Parameters(a): Parameters<UpdateArgs>) -> Result<Json<Ticket>, Fail> {
        let id = ticket_id(&a.id)?;
        let status = a.status.as_deref().map(|s| v::one_of("status", s, &STATUSES)).transpose()?;
        let priority = a.priority.as_deref().map(|s| v::one_of("priority", s, &PRIORITIES)).transpose()?;
        let assignee = a.assignee.as_deref().map(|s| v::text("assignee", s, 100)).transpose()?;
        let duplicate_of = match a.duplicate_of.as_deref().map(str::trim) {
            Some("") => Some(None),
            Some(d) => Some(Some(v::id("duplicate_of", d, "TCK-", "TCK-01001")?)),
            None => None,
        };
        if status.is_none() && priority.is_none() && assignee.is_none() && duplicate_of.is_none() {
            crate::fail!("give at least one of status, priority, assignee, duplicate_of");
        }
        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        self.find(&tx, &id)?;
        match &duplicate_of {
            Some(Some(other)) => {
                if *other == id {
                    crate::fail!("a ticket cannot duplicate itself");
                }
                if self.find(&tx, other)?.duplicate_of.as_deref() == Some(id.as_str()) {
                    crate::fail!("{other} is already linked as a duplicate of {id}");
                }
                tx.execute("INSERT OR REPLACE INTO ticket_links VALUES (?1, ?2)", params![id, other])?;
            }
            Some(None) => {
                tx.execute("DELETE FROM ticket_links WHERE ticket_id = ?1", [&id])?;
            }
            None => {}
        }
        let now = v::now();
        tx.execute(
            "UPDATE tickets SET status = COALESCE(?2, status), priority = COALESCE(?3, priority),
               assignee = COALESCE(?4, assignee), updated_at = ?5,
               resolved_at = CASE WHEN ?2 IN ('resolved', 'closed') THEN COALESCE(resolved_at, ?5)
                                  WHEN ?2 IN ('open', 'pending') THEN NULL ELSE resolved_at END
             WHERE id = ?1",
            params![id, status, priority, assignee, now],
        )?;
        let t = self.find(&tx, &id)?;
        tx.commit()?;
        Ok(Json(t))
    }

    #[tool(
        description = "Add a comment to a ticket. Returns the stored comment.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_comment(&self, Parameters(a): Parameters<CommentArgs>) -> Result<Json<Comment>, Fail> {
        let ticket_id = v::id("ticket_id", &a.ticket_id, "TCK-", "TCK-01001")?;
        let body = v::text("body", &a.body, 10_000)?;
        let author = v::text("author", a.author.as_deref().unwrap_or("support"), 100)?;
        let conn = self.store.conn();
        self.find(&conn, &ticket_id)?;
        let created_at = v::now();
        conn.execute(
            "INSERT INTO comments (ticket_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![ticket_id, author, body, created_at],
        )?;
        Ok(Json(Comment { id: conn.last_insert_rowid(), ticket_id, author, body, created_at }))
    }
}

/// This server's records as resources (`ticket://{id}`…), read through its lookup tools.
const RECORDS: [Record; 1] = [Record {
    scheme: "ticket",
    param: "id",
    tool: "get_ticket",
    name: "ticket",
    description: "One ticket with its comments, as get_ticket returns it.",
}];

/// This server's prompts.
const PROMPTS: [PromptSpec; 1] = [PromptSpec {
    name: "triage_ticket",
    description: "Triage one support ticket (attached): category, priority, next action.",
    arguments: &[("id", "The ticket id, such as TCK-01001")],
    text: "Triage support ticket {id}, attached below. Decide its category (billing, technical, account, sales or \
           other), its priority (low, normal, high or urgent) and the next action, one sentence each with the \
           reason. Look up the customer behind it (crm__get_customer with its customer_id) when that changes the \
           answer; use only facts from the ticket and the tools.",
    attach: &["ticket://{id}"],
}];

crate::business_server!(Tickets, "tickets", "Support tickets: list, read, open, update, comment.", RECORDS, PROMPTS);
