//! A transaction over the store: the tenant locks it holds, the ops it applied (with their
//! inverses), the database rows they become and the webhook events they cause. The app's
//! writer opens one per group of operations, persists its rows, then commits it (bump the
//! data versions, release the locks) or rolls it back (memory exactly as it was).

use std::sync::MutexGuard;

use uuid::Uuid;

use super::state::{Op, TenantState};
use super::{Store, rows};
use crate::db::{Table, Write};
use crate::event::Event;
use crate::tenant::TenantId;

/// Where a transaction stood: [`Tx::undo_to`] goes back there.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    undo: usize,
    rows: usize,
    events: usize,
    afters: usize,
    cleared: usize,
    clock: Option<std::time::Duration>,
}

/// Something to do in memory once the transaction is persisted (in the order registered).
pub type After = Box<dyn FnOnce() + Send>;

pub struct Tx<'s> {
    store: &'s Store,
    locked: Vec<(TenantId, MutexGuard<'s, TenantState>)>,
    undo: Vec<(TenantId, Op)>,
    rows: Vec<Write>,
    events: Vec<(TenantId, Event)>,
    afters: Vec<After>,
    /// Links whose rows are to be written, with their keys, in the order they changed (few
    /// per operation).
    dirty: Vec<(TenantId, Uuid, u64)>,
    /// Tenants reset by this transaction: nothing of theirs planned from memory outside the
    /// store (webhook deliveries) may be written after the reset's delete.
    cleared: Vec<TenantId>,
    /// The clock offset this transaction moves the clock to, once committed.
    clock: Option<std::time::Duration>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("ops", &self.undo.len())
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl<'s> Tx<'s> {
    pub fn new(store: &'s Store) -> Self {
        Self {
            store,
            locked: Vec::new(),
            undo: Vec::new(),
            rows: Vec::new(),
            events: Vec::new(),
            afters: Vec::new(),
            dirty: Vec::new(),
            cleared: Vec::new(),
            clock: None,
        }
    }

    /// Whether this transaction resets `tenant`.
    pub fn was_reset(&self, tenant: TenantId) -> bool {
        self.cleared.contains(&tenant)
    }

    /// The clock offset as this transaction leaves it (`None`: unchanged so far).
    pub fn planned_clock(&self) -> Option<std::time::Duration> {
        self.clock
    }

    /// Moves the clock offset this transaction commits to.
    pub fn plan_clock(&mut self, offset: std::time::Duration) {
        self.clock = Some(offset);
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// The tenant's state, locked until the transaction ends. Only the writer holds more
    /// than one tenant lock at a time (readers take one and wait for nothing while holding
    /// it), so taking them in any order cannot deadlock.
    pub(super) fn state(&mut self, tenant: TenantId) -> &mut TenantState {
        let at = match self.locked.iter().position(|(t, _)| *t == tenant) {
            Some(at) => at,
            None => {
                self.locked.push((tenant, self.store.lock(tenant)));
                self.locked.len() - 1
            }
        };
        &mut self.locked[at].1
    }

    /// Applies `op` to the tenant's memory and records its inverse, and which link's row it
    /// changes (rows are written from memory when the operation ends: one per link).
    pub(super) fn apply(&mut self, tenant: TenantId, op: Op) {
        if matches!(op, Op::Clear) {
            self.cleared.push(tenant);
            if self.store.durable() {
                // Rows of earlier changes first: the reset deletes them after.
                self.flush_rows();
                self.rows
                    .push(Write::DeleteTenant(self.store.name(tenant).to_owned()));
            }
        }
        let inverse = self.state(tenant).apply(op);
        if self.store.durable() {
            if let Some((id, seq)) = self.changed_row(tenant, &inverse) {
                self.touch(tenant, id, seq);
            }
            // A token is a row of its own, written as it is now (a later op on it in the same
            // transaction writes it again, after).
            if let Op::Token(jti, _) = &inverse {
                let name = self.store.name(tenant).to_owned();
                let row = match rows::token_row(self.state(tenant), *jti) {
                    Some(body) => {
                        Write::Put(Table::WidgetTokens, name, jti.simple().to_string(), body)
                    }
                    None => Write::Delete(Table::WidgetTokens, name, jti.simple().to_string()),
                };
                self.rows.push(row);
            }
        }
        self.undo.push((tenant, inverse));
    }

    /// The link whose row an applied op changed, with its seq (the row's key), read from the
    /// op's inverse and memory after the op: a deleted link is only in the inverse, a new
    /// session only in memory.
    fn changed_row(&mut self, tenant: TenantId, inverse: &Op) -> Option<(Uuid, u64)> {
        let state = self.state(tenant);
        let link = match inverse {
            Op::Link(id, Some(old)) => return Some((*id, old.seq)),
            Op::Link(id, None) | Op::Data(id, _) => *id,
            Op::Session(id, old) => old
                .as_ref()
                .or_else(|| state.sessions.get(id))
                .map(|s| s.link)?,
            _ => return None,
        };
        state.links.get(&link).map(|l| (link, l.seq))
    }

    /// Marks link `id`'s row (key: its `seq`) to be written as it is in memory (also for
    /// links read back with sessions that expired meanwhile).
    pub(crate) fn touch(&mut self, tenant: TenantId, id: Uuid, seq: u64) {
        if !self.dirty.iter().any(|d| d.0 == tenant && d.1 == id) {
            self.dirty.push((tenant, id, seq));
        }
    }

    /// Turns the links changed so far into their rows, in the order they were changed.
    pub fn flush_rows(&mut self) {
        for (tenant, id, seq) in std::mem::take(&mut self.dirty) {
            let name = self.store.name(tenant).to_owned();
            let key = rows::key(seq);
            let row = match rows::link_row(self.state(tenant), id) {
                Some(body) => Write::Put(Table::Links, name, key, body),
                None => Write::Delete(Table::Links, name, key),
            };
            self.rows.push(row);
        }
    }

    /// Records a webhook event the change causes; it is persisted with the change.
    pub(super) fn emit(&mut self, tenant: TenantId, event: Event) {
        self.events.push((tenant, event));
    }

    /// Adds rows that are not tenant state (webhook settings, the clock offset, …).
    pub fn persist(&mut self, rows: impl IntoIterator<Item = Write>) {
        self.rows.extend(rows);
    }

    /// Runs `after` once the transaction is persisted, in order with the others (changes
    /// outside the store: the webhook journal, the request log, the clock).
    pub fn after(&mut self, after: After) {
        self.afters.push(after);
    }

    /// Whether anything outside the store (the webhook journal, the clock) is to change
    /// with this transaction: only then is there anyone to wake after it.
    pub fn has_afters(&self) -> bool {
        !self.afters.is_empty()
    }

    pub fn mark(&mut self) -> Mark {
        self.flush_rows();
        Mark {
            undo: self.undo.len(),
            rows: self.rows.len(),
            events: self.events.len(),
            afters: self.afters.len(),
            cleared: self.cleared.len(),
            clock: self.clock,
        }
    }

    /// Undoes everything applied since `mark` (an operation that failed half-way).
    pub fn undo_to(&mut self, mark: Mark) {
        self.dirty.clear();
        while self.undo.len() > mark.undo {
            if let Some((tenant, inverse)) = self.undo.pop() {
                self.state(tenant).apply(inverse);
            }
        }
        self.rows.truncate(mark.rows);
        self.events.truncate(mark.events);
        self.afters.truncate(mark.afters);
        self.cleared.truncate(mark.cleared);
        self.clock = mark.clock;
    }

    /// The events recorded since `mark`, taken out of the transaction.
    pub fn take_events_since(&mut self, mark: Mark) -> Vec<(TenantId, Event)> {
        self.events.split_off(mark.events.min(self.events.len()))
    }

    /// The rows to persist, taken out of the transaction.
    pub fn take_rows(&mut self) -> Vec<Write> {
        self.flush_rows();
        std::mem::take(&mut self.rows)
    }

    /// The change is persisted: bump the version of every tenant it touched, then run the
    /// `after`s. The locks are held until the transaction is dropped, so a reader that sees
    /// the new version sees the new state.
    pub fn commit(&mut self) {
        let mut touched: Vec<TenantId> = self.undo.iter().map(|(t, _)| *t).collect();
        touched.sort_unstable();
        touched.dedup();
        self.undo.clear();
        for tenant in touched {
            self.state(tenant).bump();
        }
        for after in std::mem::take(&mut self.afters) {
            after();
        }
    }

    /// The change could not be persisted: memory goes back to exactly what it was.
    pub fn rollback(&mut self) {
        while let Some((tenant, inverse)) = self.undo.pop() {
            self.state(tenant).apply(inverse);
        }
        self.afters.clear();
        self.rows.clear();
        self.events.clear();
        self.dirty.clear();
        self.cleared.clear();
        self.clock = None;
    }
}

impl Drop for Tx<'_> {
    /// A transaction never committed (a panic in a planner) leaves memory as it was.
    fn drop(&mut self) {
        self.rollback();
    }
}
