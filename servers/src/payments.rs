//! The payments server: subscriptions, invoices, payment attempts, and retrying a failed invoice.
//!
//! A retry is simulated deterministically from the last failure: `insufficient_funds` goes through (the funds
//! arrived), a declined or expired card fails again until the card is updated. A paid invoice clears a
//! `past_due` subscription. Amounts are in the currency's minor unit (`*_cents`) plus a decimal copy.

use crate::demo::{self, Demo};
use crate::records::Record;
use crate::store::{CUSTOMER_REFS, Schema, Store, insert_all, resolve_customer, seed_customer_refs};
use crate::validate::{self as v, Fail};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_router};
use rusqlite::{Connection, OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DDL: &str = "
CREATE TABLE subscriptions (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE REFERENCES customers(id),
  plan TEXT NOT NULL, status TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
  started_at TEXT NOT NULL, current_period_start TEXT NOT NULL, current_period_end TEXT NOT NULL, canceled_at TEXT);
CREATE TABLE invoices (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id), amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
  status TEXT NOT NULL, issued_at TEXT NOT NULL, due_at TEXT NOT NULL, paid_at TEXT, attempts INTEGER NOT NULL,
  failure_reason TEXT);
CREATE INDEX invoices_customer ON invoices(customer_id, issued_at);
CREATE TABLE payments (id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL REFERENCES invoices(id),
  customer_id TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
  created_at TEXT NOT NULL, method TEXT NOT NULL, failure_reason TEXT);
CREATE INDEX payments_customer ON payments(customer_id, created_at);
CREATE INDEX payments_invoice ON payments(invoice_id);
";

fn seed(tx: &rusqlite::Transaction<'_>, d: &Demo) -> rusqlite::Result<()> {
    tx.execute_batch(CUSTOMER_REFS)?;
    seed_customer_refs(tx, d)?;
    let (subs, invoices, payments) = demo::billing(d);
    let sql = "INSERT INTO subscriptions VALUES (?1, ?2, ?3, ?4, ?5, 'usd', ?6, ?7, ?8, ?9)";
    insert_all(tx, sql, &subs, |st, s| {
        let canceled = s.canceled.map(|c| c.to_string());
        st.execute(params![
            s.id,
            s.customer_id,
            s.plan,
            s.status,
            s.amount_cents,
            s.started.to_string(),
            s.period_start.to_string(),
            s.period_end.to_string(),
            canceled
        ])
    })?;
    let sql = "INSERT INTO invoices VALUES (?1, ?2, ?3, ?4, 'usd', ?5, ?6, ?7, ?8, ?9, ?10)";
    insert_all(tx, sql, &invoices, |st, i| {
        st.execute(params![
            i.id,
            i.customer_id,
            i.subscription_id,
            i.amount_cents,
            i.status,
            i.issued.to_string(),
            i.due.to_string(),
            i.paid.map(|p| p.to_string()),
            i.attempts,
            i.failure_reason
        ])
    })?;
    let sql = "INSERT INTO payments VALUES (?1, ?2, ?3, ?4, 'usd', ?5, ?6, ?7, ?8)";
    insert_all(tx, sql, &payments, |st, p| {
        st.execute(params![
            p.id,
            p.invoice_id,
            p.customer_id,
            p.amount_cents,
            p.status,
            format!("{}T08:00:00Z", p.day),
            p.method,
            p.failure_reason
        ])
    })
}

pub const SCHEMA: Schema = Schema { server: "payments", ddl: DDL, seed };

#[derive(Debug, Serialize, JsonSchema)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub plan: String,
    /// trialing, active, past_due or canceled
    pub status: String,
    pub amount_cents: i64,
    pub amount: f64,
    pub currency: String,
    pub started_at: String,
    pub current_period_start: String,
    pub current_period_end: String,
    pub canceled_at: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Invoice {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: String,
    pub amount_cents: i64,
    pub amount: f64,
    pub currency: String,
    /// paid or failed
    pub status: String,
    pub issued_at: String,
    pub due_at: String,
    pub paid_at: Option<String>,
    pub attempts: i64,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    pub amount: f64,
    pub currency: String,
    /// succeeded or failed
    pub status: String,
    pub created_at: String,
    pub method: String,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct InvoiceDetail {
    pub invoice: Invoice,
    /// Payment attempts, oldest first.
    pub payments: Vec<Payment>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct InvoiceList {
    /// Newest first.
    pub invoices: Vec<Invoice>,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct History {
    pub customer_id: String,
    /// Newest first.
    pub payments: Vec<Payment>,
    pub count: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub total_paid: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RetryOutcome {
    /// succeeded or failed
    pub outcome: String,
    pub invoice: Invoice,
    pub payment: Payment,
    /// The subscription's status after the retry.
    pub subscription_status: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InvoiceArgs {
    /// Invoice id such as INV-000123.
    pub id: String,
}
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Customer id such as cus_000042, or their email.
    pub customer_id: String,
    /// paid or failed
    pub status: Option<String>,
    /// Maximum results, 1-100 (default 12).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
}
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CustomerArgs {
    /// Customer id such as cus_000042, or their email.
    pub customer_id: String,
}
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HistoryArgs {
    /// Customer id such as cus_000042, or their email.
    pub customer_id: String,
    /// Maximum results, 1-100 (default 12).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
}
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RetryArgs {
    /// Id of a failed invoice, such as INV-000123.
    pub invoice_id: String,
}

const INVOICE: &str = "SELECT id, customer_id, subscription_id, amount_cents, currency, status, issued_at, due_at, \
    paid_at, attempts, failure_reason FROM invoices";
const PAYMENT: &str =
    "SELECT id, invoice_id, amount_cents, currency, status, created_at, method, failure_reason FROM payments";

fn invoice(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invoice> {
    let cents: i64 = r.get(3)?;
    Ok(Invoice {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        subscription_id: r.get(2)?,
        amount_cents: cents,
        amount: v::dollars(cents),
        currency: r.get(4)?,
        status: r.get(5)?,
        issued_at: r.get(6)?,
        due_at: r.get(7)?,
        paid_at: r.get(8)?,
        attempts: r.get(9)?,
        failure_reason: r.get(10)?,
    })
}

fn payment(r: &rusqlite::Row<'_>) -> rusqlite::Result<Payment> {
    let cents: i64 = r.get(2)?;
    Ok(Payment {
        id: r.get(0)?,
        invoice_id: r.get(1)?,
        amount_cents: cents,
        amount: v::dollars(cents),
        currency: r.get(3)?,
        status: r.get(4)?,
        created_at: r.get(5)?,
        method: r.get(6)?,
        failure_reason: r.get(7)?,
    })
}

fn find_invoice(conn: &Connection, id: &str) -> Result<Invoice, Fail> {
    conn.prepare_cached(&format!("{INVOICE} WHERE id = ?1"))?
        .query_row([id], invoice)
        .optional()?
        .ok_or_else(|| Fail(format!("invoice '{id}' not found")))
}

fn invoice_id(field: &str, value: &str) -> Result<String, Fail> {
    v::id(field, value, "INV-", "INV-000123")
}

#[derive(Clone)]
pub struct Payments {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Payments {
    pub fn open() -> anyhow::Result<Self> {
        Ok(Self { store: Store::open(&SCHEMA)?, tool_router: Self::tool_router() })
    }

    #[tool(
        description = "Get one invoice by id (INV-…) with its payment attempts.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_invoice(&self, Parameters(a): Parameters<InvoiceArgs>) -> Result<Json<InvoiceDetail>, Fail> {
        let id = invoice_id("id", &a.id)?;
        let conn = self.store.conn();
        let invoice = find_invoice(&conn, &id)?;
        let payments = conn
            .prepare_cached(&format!("{PAYMENT} WHERE invoice_id = ?1 ORDER BY created_at, id"))?
            .query_map([&id], payment)?
            .collect::<Result<_, _>>()?;
        Ok(Json(InvoiceDetail { invoice, payments }))
    }

    #[tool(
        description = "List a customer's invoices, newest first, optionally only paid or failed ones.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_invoices(&self, Parameters(a): Parameters<ListArgs>) -> Result<Json<InvoiceList>, Fail> {
        let status = a.status.as_deref().map(|s| v::one_of("status", s, &["paid", "failed"])).transpose()?;
        let limit = v::limit(a.limit, 12, 100)?;
        let conn = self.store.conn();
        let customer = resolve_customer(&conn, &a.customer_id)?;
        let sql = format!(
            "{INVOICE} WHERE customer_id = ?1 AND (?2 IS NULL OR status = ?2) ORDER BY issued_at DESC, id DESC LIMIT ?3"
        );
        let invoices: Vec<Invoice> = conn
            .prepare_cached(&sql)?
            .query_map(params![customer, status, limit], invoice)?
            .collect::<Result<_, _>>()?;
        Ok(Json(InvoiceList { count: invoices.len(), invoices }))
    }

    #[tool(
        description = "Get a customer's subscription: plan, status (trialing, active, past_due, canceled), amount, current period.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_subscription(&self, Parameters(a): Parameters<CustomerArgs>) -> Result<Json<Subscription>, Fail> {
        let conn = self.store.conn();
        let customer = resolve_customer(&conn, &a.customer_id)?;
        let sub = conn
            .prepare_cached(
                "SELECT id, customer_id, plan, status, amount_cents, currency, started_at, current_period_start,
                        current_period_end, canceled_at FROM subscriptions WHERE customer_id = ?1",
            )?
            .query_row([&customer], |r| {
                let cents: i64 = r.get(4)?;
                Ok(Subscription {
                    id: r.get(0)?,
                    customer_id: r.get(1)?,
                    plan: r.get(2)?,
                    status: r.get(3)?,
                    amount_cents: cents,
                    amount: v::dollars(cents),
                    currency: r.get(5)?,
                    started_at: r.get(6)?,
                    current_period_start: r.get(7)?,
                    current_period_end: r.get(8)?,
                    canceled_at: r.get(9)?,
                })
            })
            .optional()?;
        sub.map(Json).ok_or_else(|| Fail(format!("customer '{customer}' has no subscription")))
    }

    #[tool(
        description = "A customer's payment attempts, newest first, with counts of succeeded and failed attempts.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_payment_history(&self, Parameters(a): Parameters<HistoryArgs>) -> Result<Json<History>, Fail> {
        let limit = v::limit(a.limit, 12, 100)?;
        let conn = self.store.conn();
        let customer_id = resolve_customer(&conn, &a.customer_id)?;
        let sql = format!("{PAYMENT} WHERE customer_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2");
        let payments: Vec<Payment> =
            conn.prepare_cached(&sql)?.query_map(params![customer_id, limit], payment)?.collect::<Result<_, _>>()?;
        let succeeded = payments.iter().filter(|p| p.status == "succeeded").count();
        let total_paid = payments.iter().filter(|p| p.status == "succeeded").map(|p| p.amount).sum::<f64>();
        Ok(Json(History {
            customer_id,
            count: payments.len(),
            failed: payments.len() - succeeded,
            succeeded,
            total_paid: (total_paid * 100.0).round() / 100.0,
            payments,
        }))
    }

    #[tool(
        description = "Retry the payment of a failed invoice with the card on file. Charges the customer if it succeeds.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn retry_payment(&self, Parameters(a): Parameters<RetryArgs>) -> Result<Json<RetryOutcome>, Fail> {
        let id = invoice_id("invoice_id", &a.invoice_id)?;
        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let inv = find_invoice(&tx, &id)?;
        if inv.status != "failed" {
            crate::fail!("invoice '{id}' is {}, only failed invoices can be retried", inv.status);
        }
        let method: String = tx.query_row(
            "SELECT method FROM payments WHERE invoice_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
            [&id],
            |r| r.get(0),
        )?;
        let ok = inv.failure_reason.as_deref() == Some("insufficient_funds");
        let next: i64 =
            tx.query_row("SELECT COALESCE(MAX(CAST(substr(id, 5) AS INTEGER)), 0) + 1 FROM payments", [], |r| {
                r.get(0)
            })?;
        let pay_id = format!("pay_{next:07}");
        let now = v::now();
        let reason = (!ok).then(|| inv.failure_reason.clone().unwrap_or_else(|| "card_declined".into()));
        tx.execute(
            "INSERT INTO payments VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                pay_id,
                id,
                inv.customer_id,
                inv.amount_cents,
                inv.currency,
                if ok { "succeeded" } else { "failed" },
                now,
                method,
                reason
            ],
        )?;
        tx.execute(
            "UPDATE invoices SET attempts = attempts + 1, status = ?2, paid_at = ?3, failure_reason = ?4 WHERE id = ?1",
            params![id, if ok { "paid" } else { "failed" }, ok.then(|| now.clone()), reason],
        )?;
        if ok {
            // The subscription is current again once no invoice of it is still failed.
            tx.execute(
                "UPDATE subscriptions SET status = 'active' WHERE id = ?1 AND status = 'past_due'
                   AND NOT EXISTS (SELECT 1 FROM invoices WHERE subscription_id = ?1 AND status = 'failed')",
                [&inv.subscription_id],
            )?;
        }
        let subscription_status: String =
            tx.query_row("SELECT status FROM subscriptions WHERE id = ?1", [&inv.subscription_id], |r| r.get(0))?;
        let invoice = find_invoice(&tx, &id)?;
        let payment = tx.query_row(&format!("{PAYMENT} WHERE id = ?1"), [&pay_id], payment)?;
        tx.commit()?;
        let outcome = if ok { "succeeded" } else { "failed" }.to_string();
        Ok(Json(RetryOutcome { outcome, invoice, payment, subscription_status }))
    }
}

/// This server's records as resources (`invoice://{id}`…), read through its lookup tools.
const RECORDS: [Record; 2] = [
    Record {
        scheme: "invoice",
        param: "id",
        tool: "get_invoice",
        name: "invoice",
        description: "One invoice with its line items and payments, as get_invoice returns it.",
    },
    Record {
        scheme: "subscription",
        param: "customer_id",
        tool: "get_subscription",
        name: "subscription",
        description: "A customer's subscription, as get_subscription returns it.",
    },
];

crate::business_server!(
    Payments,
    "payments",
    "Billing: subscriptions, invoices, payment history, retrying failed invoices.",
    RECORDS,
    crate::prompts::NONE
);
