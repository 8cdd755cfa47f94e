//! Durable state under `--data-dir`: an embedded SQLite database (bundled, WAL mode) that the
//! store writes through on every change, before the response leaves, and reads back at
//! start-up. Reads are always served from memory.
//!
//! Every table is `(tenant, key, body)` with a JSON body: tenants are named by their secret id
//! (stable across restarts, unlike their position in `--key`), bodies are the owning module's
//! own row types. The schema version is SQLite's `user_version`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

/// The database file inside `--data-dir`.
pub const FILE_NAME: &str = "belvo-mock.sqlite3";

/// The schema this build writes. Version history: 1 — links, sessions, link data, webhook
/// configs, deliveries, meta.
pub const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE links (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE sessions (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE link_data (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE webhook_configs (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE deliveries (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
)];

/// The tables of per-tenant rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Links,
    Sessions,
    LinkData,
    WebhookConfigs,
    Deliveries,
}

impl Table {
    const ALL: [Table; 5] = [
        Table::Links,
        Table::Sessions,
        Table::LinkData,
        Table::WebhookConfigs,
        Table::Deliveries,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::Links => "links",
            Table::Sessions => "sessions",
            Table::LinkData => "link_data",
            Table::WebhookConfigs => "webhook_configs",
            Table::Deliveries => "deliveries",
        }
    }
}

/// Why the database cannot be used. Start-up stops with this message.
#[derive(Debug)]
pub struct DurableError(String);

impl fmt::Display for DurableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurableError {}

/// The open database. Clone it freely.
#[derive(Clone)]
pub struct Durable {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable").field("path", &self.path).finish()
    }
}

fn checked(path: &Path) -> Result<(), DurableError> {
    let untouched = |why: String| {
        DurableError(format!(
            "{}: {why}; the file was left untouched (move it away to start afresh)",
            path.display()
        ))
    };
    // Read-only first: a damaged or foreign file must not be changed by opening it.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| untouched(format!("cannot be opened as SQLite ({e})")))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| untouched(format!("is not a belvo-mock database ({e})")))?;
    if check != "ok" {
        return Err(untouched(format!("is damaged (quick_check: {check})")));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| untouched(format!("is not a belvo-mock database ({e})")))?;
    if version > SCHEMA_VERSION {
        return Err(untouched(format!(
            "was written by a newer belvo-mock (schema {version}; this one knows up to {SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

impl Durable {
    /// Opens (or creates) `dir/belvo-mock.sqlite3`, checks it, migrates it.
    pub fn open(dir: &Path) -> Result<Self, DurableError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DurableError(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        if path.exists() {
            checked(&path)?;
        }
        let conn = Connection::open(&path)
            .map_err(|e| DurableError(format!("{}: cannot be opened: {e}", path.display())))?;
        let fail = |e: rusqlite::Error| DurableError(format!("{}: {e}", path.display()));
        // WAL: readers never block the writer; NORMAL: a commit survives a process crash
        // (kill -9), which is what a sandbox needs, without an fsync per request.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        for (target, sql) in MIGRATIONS {
            if *target > version {
                conn.execute_batch(&format!(
                    "BEGIN; {sql} PRAGMA user_version = {target}; COMMIT;"
                ))
                .map_err(fail)?;
            }
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DurableError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&conn).map_err(|e| DurableError(format!("{}: {e}", self.path.display())))
    }

    /// Applies several writes atomically.
    pub fn batch(&self, writes: &[Write]) -> Result<(), DurableError> {
        self.with(|conn| {
            conn.execute_batch("BEGIN")?;
            let result = writes.iter().try_for_each(|w| match w {
                Write::Put(table, tenant, key, body) => conn
                    .prepare_cached(&format!(
                        "INSERT INTO {} (tenant, key, body) VALUES (?1, ?2, ?3)
                         ON CONFLICT (tenant, key) DO UPDATE SET body = excluded.body",
                        table.name()
                    ))?
                    .execute(params![tenant, key, body])
                    .map(|_| ()),
                Write::Delete(table, tenant, key) => conn
                    .prepare_cached(&format!(
                        "DELETE FROM {} WHERE tenant = ?1 AND key = ?2",
                        table.name()
                    ))?
                    .execute(params![tenant, key])
                    .map(|_| ()),
            });
            match result {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(e) => {
                    conn.execute_batch("ROLLBACK").ok();
                    Err(e)
                }
            }
        })
    }

    pub fn put(
        &self,
        table: Table,
        tenant: &str,
        key: &str,
        body: &str,
    ) -> Result<(), DurableError> {
        self.batch(&[Write::Put(
            table,
            tenant.to_owned(),
            key.to_owned(),
            body.to_owned(),
        )])
    }

    pub fn delete(&self, table: Table, tenant: &str, key: &str) -> Result<(), DurableError> {
        self.batch(&[Write::Delete(table, tenant.to_owned(), key.to_owned())])
    }

    /// Forgets every row of one tenant.
    pub fn delete_tenant(&self, tenant: &str) -> Result<(), DurableError> {
        self.with(|conn| {
            for table in Table::ALL {
                conn.execute(
                    &format!("DELETE FROM {} WHERE tenant = ?1", table.name()),
                    [tenant],
                )?;
            }
            Ok(())
        })
    }

    /// Every `(tenant, key, body)` of a table.
    pub fn load(&self, table: Table) -> Result<Vec<(String, String, String)>, DurableError> {
        self.with(|conn| {
            let mut statement =
                conn.prepare(&format!("SELECT tenant, key, body FROM {}", table.name()))?;
            let rows =
                statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect()
        })
    }

    pub fn put_meta(&self, key: &str, value: &str) -> Result<(), DurableError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, DurableError> {
        self.with(|conn| {
            match conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            }) {
                Ok(v) => Ok(Some(v)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

/// One write of a batch: `(table, tenant, key[, body])`.
#[derive(Clone, Debug)]
pub enum Write {
    Put(Table, String, String, String),
    Delete(Table, String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("belvo-mock-durable-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        d
    }

    #[test]
    fn rows_survive_reopening() {
        let d = dir("reopen");
        let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
        db.put(Table::Links, "t", "k", "{}")
            .unwrap_or_else(|e| panic!("{e}"));
        db.put_meta("clock", "5").unwrap_or_else(|e| panic!("{e}"));
        drop(db);
        let db = Durable::open(&d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.load(Table::Links).map(|r| r.len()).ok(), Some(1));
        assert_eq!(db.meta("clock").ok().flatten().as_deref(), Some("5"));
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_untouched() {
        let d = dir("corrupt");
        std::fs::create_dir_all(&d).ok();
        let file = d.join(FILE_NAME);
        let garbage = b"this is not a database at all, just some bytes".repeat(200);
        std::fs::write(&file, &garbage).ok();
        let error = Durable::open(&d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("left untouched"), "{error}");
        assert_eq!(std::fs::read(&file).ok(), Some(garbage));
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let d = dir("newer");
        std::fs::create_dir_all(&d).ok();
        let file = d.join(FILE_NAME);
        if let Ok(conn) = Connection::open(&file) {
            conn.pragma_update(None, "user_version", 99).ok();
        }
        let before = std::fs::read(&file).ok();
        let error = Durable::open(&d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("newer belvo-mock (schema 99"), "{error}");
        assert_eq!(std::fs::read(&file).ok(), before);
        std::fs::remove_dir_all(&d).ok();
    }
}
