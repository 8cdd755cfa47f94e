//! Durable state under `--data-dir`: an embedded SQLite database (bundled, WAL mode), held by
//! one process at a time (an exclusive lock on the folder), written only by the app's writer
//! (one transaction per group of changes) and read back at start-up. Reads are always served
//! from memory.
//!
//! Every table is `(tenant, key, body)` with a JSON body: tenants are named by their secret id
//! (stable across restarts, unlike their position in `--key`), bodies are the owning module's
//! own row types. The schema version is SQLite's `user_version`.

use std::fmt;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

/// The database file inside `--data-dir`.
pub const FILE_NAME: &str = "belvo-mock.sqlite3";
/// The lock file inside `--data-dir`: held exclusively while a server uses the folder, and
/// naming its pid.
pub const LOCK_NAME: &str = "belvo-mock.lock";

/// The schema this build writes. Version history: 1 — links, sessions, link data, webhook
/// configs, deliveries, meta; 2 — a link's fetched data and open sessions in its own row
/// (`data`, `sessions`), so a change of a link writes one row, and link rows keyed by the
/// link's `seq` (20 digits, creation order) instead of its id; 3 — widget access tokens.
pub const SCHEMA_VERSION: i64 = 3;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE links (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE sessions (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE link_data (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE webhook_configs (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE deliveries (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
    (
        2,
        "UPDATE links SET body = json_set(links.body, '$.data', json(d.body))
           FROM link_data d WHERE d.tenant = links.tenant AND d.key = links.key;
         UPDATE links SET body = json_set(body, '$.sessions', json((
             SELECT json_group_array(json_object(
                 'id', s.key,
                 'expires_at', json_extract(s.body, '$.expires_at'),
                 'challenge', json_extract(s.body, '$.challenge')))
             FROM sessions s
             WHERE s.tenant = links.tenant AND json_extract(s.body, '$.link') = links.key)))
           WHERE EXISTS (SELECT 1 FROM sessions s
             WHERE s.tenant = links.tenant AND json_extract(s.body, '$.link') = links.key);
         DROP TABLE sessions;
         DROP TABLE link_data;
         UPDATE links SET key = printf('%020d', coalesce(json_extract(body, '$.seq'), 0));",
    ),
    (
        3,
        "CREATE TABLE widget_tokens (tenant TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant, key));",
    ),
];

/// The tables of per-tenant rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Links,
    WebhookConfigs,
    Deliveries,
    WidgetTokens,
}

impl Table {
    const ALL: [Table; 4] = [
        Table::Links,
        Table::WebhookConfigs,
        Table::Deliveries,
        Table::WidgetTokens,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::Links => "links",
            Table::WebhookConfigs => "webhook_configs",
            Table::Deliveries => "deliveries",
            Table::WidgetTokens => "widget_tokens",
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

/// The open database. Clone it freely: clones share the connection, the folder lock and the
/// fault switch.
#[derive(Clone)]
pub struct Durable {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Held (with an exclusive OS lock) for as long as any clone lives.
    _lock: Arc<File>,
    /// The fault-injection seam: while set, every commit fails as a full disk would.
    failing: Arc<AtomicBool>,
    /// Copies the log into the database file in the background; stopped with the last clone.
    checkpointer: Arc<Checkpointer>,
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
        let lock = lock_folder(dir)?;
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
        // The writer never checkpoints (copying the log into the file, with an fsync, took a
        // fifth of its time under a registration flood): the checkpointer thread does, on
        // its own connection, while the writer goes on.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(fail)?;
        // Pages read through a memory map instead of copied into SQLite's cache one read at a
        // time (the copies were a tenth of the writer's time).
        conn.pragma_update(None, "mmap_size", 1i64 << 30)
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
        let checkpointer = Checkpointer::start(&path).map_err(fail)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            _lock: Arc::new(lock),
            failing: Arc::new(AtomicBool::new(false)),
            checkpointer: Arc::new(checkpointer),
        })
    }

    /// While `on`, every commit fails (the tests' stand-in for a full disk).
    pub fn fail_writes(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
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

    /// Applies `writes` in one transaction: all of them, or (with an error) none.
    pub fn commit(&self, writes: &[Write]) -> Result<(), DurableError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(DurableError(format!(
                "{}: database or disk is full (injected)",
                self.path.display()
            )));
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            conn.execute_batch("BEGIN")?;
            let result = writes.iter().try_for_each(|w| apply(conn, w));
            match result.and_then(|()| conn.execute_batch("COMMIT")) {
                Ok(()) => {
                    self.checkpointer.wake();
                    Ok(())
                }
                Err(e) => {
                    conn.execute_batch("ROLLBACK").ok();
                    Err(e)
                }
            }
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

/// How many commits between two checkpoints, at most (and one a second when idle).
const COMMITS_PER_CHECKPOINT: u64 = 64;

/// The background checkpointer: a second connection that runs `wal_checkpoint(PASSIVE)`
/// (never waiting for the writer) every [`COMMITS_PER_CHECKPOINT`] commits or every second,
/// and once more (TRUNCATE) when stopped, so a stopped server leaves the log empty.
struct Checkpointer {
    state: Arc<(Mutex<(u64, bool)>, std::sync::Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    fn start(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        let state = Arc::new((Mutex::new((0u64, false)), std::sync::Condvar::new()));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("belvo-mock-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*shared;
                loop {
                    let stop = {
                        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                        let (mut guard, _) = wake
                            .wait_timeout_while(guard, std::time::Duration::from_secs(1), |s| {
                                s.0 < COMMITS_PER_CHECKPOINT && !s.1
                            })
                            .unwrap_or_else(|p| p.into_inner());
                        guard.0 = 0;
                        guard.1
                    };
                    let mode = if stop { "TRUNCATE" } else { "PASSIVE" };
                    if let Err(e) =
                        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                    {
                        tracing::warn!("checkpoint of the data directory failed: {e}");
                    }
                    if stop {
                        break;
                    }
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self {
            state,
            thread: Mutex::new(Some(thread)),
        })
    }

    fn wake(&self) {
        let (lock, wake) = &*self.state;
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        if guard.0 >= COMMITS_PER_CHECKPOINT {
            wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        {
            let (lock, wake) = &*self.state;
            lock.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            thread.join().ok();
        }
    }
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum Write {
    /// `(table, tenant, key, body)`: insert or replace a row.
    Put(Table, String, String, String),
    /// `(table, tenant, key)`: delete a row (if there is one).
    Delete(Table, String, String),
    /// Every row of one tenant, in every table.
    DeleteTenant(String),
    /// `(key, value)` of the meta table.
    Meta(&'static str, String),
}

fn apply(conn: &Connection, write: &Write) -> rusqlite::Result<()> {
    match write {
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
        Write::DeleteTenant(tenant) => Table::ALL.iter().try_for_each(|table| {
            conn.prepare_cached(&format!("DELETE FROM {} WHERE tenant = ?1", table.name()))?
                .execute([tenant])
                .map(|_| ())
        }),
        Write::Meta(key, value) => conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])
            .map(|_| ()),
    }
}

/// Takes the folder's lock file, or says who holds it. The OS releases the lock when the
/// process ends, however it ends, so a crash never leaves the folder locked.
fn lock_folder(dir: &Path) -> Result<File, DurableError> {
    let path = dir.join(LOCK_NAME);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| DurableError(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("another belvo-mock (pid {holder})")
            };
            return Err(DurableError(format!(
                "{} is in use by {who}; stop it or choose another --data-dir",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(DurableError(format!("cannot lock {}: {e}", path.display())));
        }
    }
    file.set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
        .map_err(|e| DurableError(format!("cannot write {}: {e}", path.display())))?;
    Ok(file)
}

#[cfg(test)]
mod tests;
