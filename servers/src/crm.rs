//! The crm server: customers (search, look up by id or email, update) and notes on them. Search uses an FTS5
//! index over name, email and company so it stays fast at 100 000 customers; user text only ever reaches
//! SQLite as a bound parameter (quoted FTS terms), never as SQL.

use crate::demo::{self, Demo};
use crate::prompts::PromptSpec;
use crate::records::Record;
use crate::store::{Schema, Store, insert_all};
use crate::validate::{self as v, Fail};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_router};
use rusqlite::{OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DDL: &str = "
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, company TEXT NOT NULL,
  phone TEXT NOT NULL, country TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE INDEX customers_company ON customers(company);
CREATE VIRTUAL TABLE customers_fts USING fts5(name, email, company, content='customers', content_rowid='rowid');
CREATE TRIGGER customers_ai AFTER INSERT ON customers BEGIN
  INSERT INTO customers_fts(rowid, name, email, company) VALUES (new.rowid, new.name, new.email, new.company); END;
CREATE TRIGGER customers_au AFTER UPDATE ON customers BEGIN
  INSERT INTO customers_fts(customers_fts, rowid, name, email, company)
    VALUES ('delete', old.rowid, old.name, old.email, old.company);
  INSERT INTO customers_fts(rowid, name, email, company) VALUES (new.rowid, new.name, new.email, new.company); END;
CREATE TABLE notes (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), text TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE INDEX notes_customer ON notes(customer_id);
";

fn seed(tx: &rusqlite::Transaction<'_>, d: &Demo) -> rusqlite::Result<()> {
    let sql = "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)";
    insert_all(tx, sql, &d.customers, |s, c| {
        let created = format!("{}T09:00:00Z", c.signup);
        s.execute(params![c.id, c.name, c.email, c.company, c.phone, c.country, c.plan, c.status(), created])
    })?;
    let sql = "INSERT INTO notes (customer_id, text, created_at) VALUES (?1, ?2, ?3)";
    insert_all(tx, sql, &demo::notes(d), |s, n| {
        s.execute(params![n.customer_id, n.text, format!("{}T12:00:00Z", n.day)])
    })
}

pub const SCHEMA: Schema = Schema { server: "crm", ddl: DDL, seed };

#[derive(Debug, Serialize, JsonSchema)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: String,
    pub phone: String,
    pub country: String,
    /// starter, growth, business or enterprise
    pub plan: String,
    /// active, trial or churned
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, name, email, company, phone, country, plan, status, created_at, updated_at";

fn customer(r: &Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        company: r.get(3)?,
        phone: r.get(4)?,
        country: r.get(5)?,
        plan: r.get(6)?,
        status: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Note {
    pub id: i64,
    pub customer_id: String,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    pub customers: Vec<Customer>,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerDetail {
    pub customer: Customer,
    /// Most recent first.
    pub notes: Vec<Note>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// Words to match against name, email and company (prefix match), an exact email, or a customer id.
    #[schemars(length(min = 1, max = 200))]
    pub query: String,
    /// Maximum results, 1-100 (default 10).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetArgs {
    /// Customer id such as cus_000042 (give this or email).
    pub id: Option<String>,
    /// Customer email address (give this or id).
    #[schemars(email)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub name: Option<String>,
    #[schemars(email)]
    pub email: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    /// starter, growth, business or enterprise
    pub plan: Option<String>,
    /// active, trial or churned
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateArgs {
    /// Customer id such as cus_000042.
    pub id: String,
    /// The fields to change; at least one.
    pub fields: Fields,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoteArgs {
    /// Customer id such as cus_000042.
    pub customer_id: String,
    /// The note, 1-2000 characters.
    #[schemars(length(min = 1, max = 2000))]
    pub text: String,
}

#[derive(Clone)]
pub struct Crm {
    store: Store,
    tool_router: ToolRouter<Self>,
}

pub fn customer_id(value: &str) -> Result<String, Fail> {
    v::id("customer_id", value, "cus_", "cus_000042")
}

/// FTS5 query from free text: each word quoted (so operators are inert) and prefix-matched, all required.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[tool_router]
impl Crm {
    pub fn open() -> anyhow::Result<Self> {
        Ok(Self { store: Store::open(&SCHEMA)?, tool_router: Self::tool_router() })
    }

    fn find(&self, id: &str) -> Result<Customer, Fail> {
        let conn = self.store.conn();
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = ?1");
        match conn.prepare_cached(&sql)?.query_row([id], customer).optional()? {
            Some(c) => Ok(c),
            None => Err(Fail(format!("customer '{id}' not found"))),
        }
    }

    #[tool(
        description = "Search customers by name, email, company or id. Returns the best matches first.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn search_customers(&self, Parameters(a): Parameters<SearchArgs>) -> Result<Json<SearchResult>, Fail> {
        let query = v::text("query", &a.query, 200)?;
        let limit = v::limit(a.limit, 10, 100)?;
        let conn = self.store.conn();
        let mut customers = Vec::new();
        if v::is_email(&query) || customer_id(&query).is_ok() {
            let sql = format!("SELECT {COLUMNS} FROM customers WHERE email = lower(?1) OR id = lower(?1)");
            customers = conn.prepare_cached(&sql)?.query_map([&query], customer)?.collect::<Result<_, _>>()?;
        }
        if customers.is_empty() {
            let Some(fts) = fts_query(&query) else { crate::fail!("query must contain letters or digits") };
            let sql = format!(
                "SELECT {} FROM customers_fts f JOIN customers c ON c.rowid = f.rowid \
                 WHERE customers_fts MATCH ?1 ORDER BY bm25(customers_fts), c.id LIMIT ?2",
                COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
            );
            customers =
                conn.prepare_cached(&sql)?.query_map(params![fts, limit], customer)?.collect::<Result<_, _>>()?;
        }
        Ok(Json(SearchResult { count: customers.len(), customers }))
    }

    #[tool(
        description = "Get one customer by id (cus_…) or by email, with their notes.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_customer(&self, Parameters(a): Parameters<GetArgs>) -> Result<Json<CustomerDetail>, Fail> {
        let id = match (a.id.as_deref(), a.email.as_deref()) {
            (Some(id), _) if v::is_email(id.trim()) => self.id_by_email(id)?,
            (Some(id), _) => {
                customer_id(id).map_err(|_| Fail(format!("id must look like 'cus_000042', got '{id}'")))?
            }
            (None, Some(email)) => self.id_by_email(email)?,
            (None, None) => crate::fail!("give either id or email"),
        };
        let customer = self.find(&id)?;
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, customer_id, text, created_at FROM notes WHERE customer_id = ?1 ORDER BY created_at DESC, id DESC",
        )?;
        let notes = stmt
            .query_map([&id], |r| {
                Ok(Note { id: r.get(0)?, customer_id: r.get(1)?, text: r.get(2)?, created_at: r.get(3)? })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Json(CustomerDetail { customer, notes }))
    }

    fn id_by_email(&self, email: &str) -> Result<String, Fail> {
        let email = v::email("email", email)?;
        let conn = self.store.conn();
        conn.prepare_cached("SELECT id FROM customers WHERE email = ?1")?
            .query_row([&email], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Fail(format!("no customer with email '{email}'")))
    }

    #[tool(
        description = "Update a customer's name, email, company, phone, plan or status. Returns the updated customer.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_customer(&self, Parameters(a): Parameters<UpdateArgs>) -> Result<Json<Customer>, Fail> {
        let id = customer_id(&a.id)?;
        let f = a.fields;
        let mut sets: Vec<(&str, String)> = Vec::new();
        if let Some(x) = f.name {
            sets.push(("name", v::text("fields.name", &x, 200)?))
        }
        if let Some(x) = f.email {
            sets.push(("email", v::email("fields.email", &x)?))
        }
        if let Some(x) = f.company {
            sets.push(("company", v::text("fields.company", &x, 200)?))
        }
        if let Some(x) = f.phone {
            sets.push(("phone", v::text("fields.phone", &x, 40)?))
        }
        if let Some(x) = f.plan {
            sets.push(("plan", v::one_of("fields.plan", &x, &["starter", "growth", "business", "enterprise"])?))
        }
        if let Some(x) = f.status {
            sets.push(("status", v::one_of("fields.status", &x, &["active", "trial", "churned"])?))
        }
        if sets.is_empty() {
            crate::fail!("fields must name at least one of name, email, company, phone, plan, status");
        }
        self.find(&id)?;
        {
            let mut conn = self.store.conn();
            let tx = conn.transaction()?;
            for (col, val) in &sets {
                // Column names come from the fixed list above, never from the caller.
                let sql = format!("UPDATE customers SET {col} = ?1, updated_at = ?2 WHERE id = ?3");
                match tx.execute(&sql, params![val, v::now(), id]) {
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        crate::fail!("another customer already has email '{val}'")
                    }
                    r => r?,
                };
            }
            tx.commit()?;
        }
        Ok(Json(self.find(&id)?))
    }

    #[tool(
        description = "Add a note to a customer's record. Returns the stored note.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_note(&self, Parameters(a): Parameters<NoteArgs>) -> Result<Json<Note>, Fail> {
        let id = customer_id(&a.customer_id)?;
        let text = v::text("text", &a.text, 2000)?;
        self.find(&id)?;
        let conn = self.store.conn();
        let created_at = v::now();
        conn.execute(
            "INSERT INTO notes (customer_id, text, created_at) VALUES (?1, ?2, ?3)",
            params![id, text, created_at],
        )?;
        Ok(Json(Note { id: conn.last_insert_rowid(), customer_id: id, text, created_at }))
    }
}

/// This server's records as resources (`customer://{id}`…), read through its lookup tools.
const RECORDS: [Record; 1] = [Record {
    scheme: "customer",
    param: "id",
    tool: "get_customer",
    name: "customer",
    description: "One customer with their notes, as get_customer returns it (customer://ann@example.com works too).",
}];

/// This server's prompts.
const PROMPTS: [PromptSpec; 1] = [PromptSpec {
    name: "account_summary",
    description: "Summarise one customer's account across the servers, from their record (attached).",
    arguments: &[("email", "The customer's email address")],
    text: "Summarise the account of the customer with email {email}, whose record is attached: plan and account \
           state, open tickets, unpaid or failed invoices and upcoming meetings — look each up with the tools, \
           at most six lines, facts only from the records and the tools' answers.",
    attach: &["customer://{email}"],
}];

crate::business_server!(
    Crm,
    "crm",
    "Customer records: search, look up by id or email, update, add notes.",
    RECORDS,
    PROMPTS
);
