//! Each server's own SQLite file: where it lives, how it is opened (WAL, busy timeout, foreign keys), and the
//! first-start seeding from the demo dataset, done once inside one immediate transaction so that two processes
//! starting on a fresh directory never seed twice.
//!
//! Owns: the file and the connection. Not the tables (each server module brings its schema and seed).

use crate::demo::Demo;
use rusqlite::{Connection, OptionalExtension, Transaction};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// `$HUB_DATA_DIR`, else `$XDG_DATA_HOME/hub`, else `~/.local/share/hub`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("HUB_DATA_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => xdg_dir("XDG_DATA_HOME", ".local/share").join("hub"),
    }
}

/// An XDG base directory: `$VAR` when set and not empty, else `~/<fallback>` (the temp dir without a HOME).
/// The one lookup of these for the whole workspace (data here; config and state in the hub).
pub fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var).filter(|d| !d.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(fallback)
    })
}

/// What a server brings to the store: its tables and how to fill them from the demo dataset.
pub struct Schema {
    pub server: &'static str,
    pub ddl: &'static str,
    pub seed: fn(&Transaction<'_>, &Demo) -> rusqlite::Result<()>,
}

/// A server's connection, shared by its concurrent tool calls.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating and seeding on first start) `<data_dir>/<server>.db`.
    pub fn open(schema: &Schema) -> anyhow::Result<Store> {
        let dir = data_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.db", schema.server));
        let mut conn =
            Connection::open(&path).map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Every read statement is compiled once (`prepare_cached`); a server has a few dozen.
        conn.set_prepared_statement_cache_capacity(64);
        seed_once(&mut conn, schema).map_err(|e| anyhow::anyhow!("seeding {}: {e}", path.display()))?;
        Ok(Store { conn: Arc::new(Mutex::new(conn)) })
    }

    /// The connection; a poisoned lock (a panic mid-query) still yields it, as SQLite rolled back.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn seed_once(conn: &mut Connection, schema: &Schema) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
    let seeded: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = 'seeded_for'", [], |r| r.get(0)).optional()?;
    if seeded.is_none() {
        let size = Demo::size_from_env().map_err(anyhow::Error::msg)?;
        let today = chrono::Utc::now().date_naive();
        let demo = Demo::generate(size, today);
        tx.execute_batch(schema.ddl)?;
        (schema.seed)(&tx, &demo)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('seeded_for', ?1), ('customers', ?2)",
            rusqlite::params![today.to_string(), size as i64],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Runs `f` on rows of a prepared insert; the seed helpers' common shape.
pub fn insert_all<T>(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[T],
    mut f: impl FnMut(&mut rusqlite::Statement<'_>, &T) -> rusqlite::Result<usize>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(sql)?;
    for row in rows {
        f(&mut stmt, row)?;
    }
    Ok(())
}

/// The customer reference table the tickets, payments and calendar servers keep in their own file, so they can
/// say "customer not found" without reading the crm's database.
pub const CUSTOMER_REFS: &str = "CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE);";

pub fn seed_customer_refs(tx: &Transaction<'_>, demo: &Demo) -> rusqlite::Result<()> {
    insert_all(tx, "INSERT INTO customers (id, email) VALUES (?1, ?2)", &demo.customers, |s, c| {
        s.execute(rusqlite::params![c.id, c.email])
    })
}

/// The customer id for `value` (an id like cus_000042 or an email), checked against the reference table.
pub fn resolve_customer(conn: &Connection, value: &str) -> Result<String, crate::validate::Fail> {
    use crate::validate::{self as v, Fail};
    let (sql, key) = if v::is_email(value.trim()) {
        ("SELECT id FROM customers WHERE email = ?1", value.trim().to_lowercase())
    } else {
        ("SELECT id FROM customers WHERE id = ?1", v::id("customer_id", value, "cus_", "cus_000042")?)
    };
    conn.prepare_cached(sql)?
        .query_row([&key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Fail(format!("customer '{key}' not found")))
}

/// A WHERE clause of the conditions whose value is given (`customer_id = ?` becomes `customer_id = ?1`), and the
/// values in order, so that SQLite uses an index: it does for `customer_id = ?1`, never for
/// `(?1 IS NULL OR customer_id = ?1)`. Values for LIMIT and such are pushed after them (numbered on from `len`).
pub fn conditions(set: &[(&str, Option<String>)]) -> (String, Vec<rusqlite::types::Value>) {
    let (mut clause, mut values) = (Vec::new(), Vec::new());
    for (condition, value) in set {
        if let Some(v) = value {
            values.push(rusqlite::types::Value::Text(v.clone()));
            clause.push(condition.replace('?', &format!("?{}", values.len())));
        }
    }
    (if clause.is_empty() { "1".into() } else { clause.join(" AND ") }, values)
}
