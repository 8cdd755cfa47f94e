//! A transaction over the store: the tenant locks it holds, the ops it applied (with their
//! inverses), the database rows they become and the webhook events they cause. The app's
//! writer opens one per group of operations, persists its rows, then commits it (bump the
//! data versions, release the locks) or rolls it back (memory exactly as it was).

use std::sync::MutexGuard;

use super::Store;
use super::state::{Op, TenantState};
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
        }
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

    /// Applies `op` to the tenant's memory and records its row and its inverse.
    pub(super) fn apply(&mut self, tenant: TenantId, op: Op) {
        if self.store.durable() {
            let name = || self.store.name(tenant).to_owned();
            let row = match &op {
                Op::Link(id, Some(link)) => Some(Write::Put(
                    Table::Links,
                    name(),
                    id.to_string(),
                    link.to_row(),
                )),
                Op::Link(id, None) => Some(Write::Delete(Table::Links, name(), id.to_string())),
                Op::Data(id, Some(data)) => Some(Write::Put(
                    Table::LinkData,
                    name(),
                    id.to_string(),
                    serde_json::to_string(data).unwrap_or_default(),
                )),
                Op::Data(id, None) => Some(Write::Delete(Table::LinkData, name(), id.to_string())),
                Op::Session(id, Some(session)) => Some(Write::Put(
                    Table::Sessions,
                    name(),
                    id.clone(),
                    serde_json::to_string(session).unwrap_or_default(),
                )),
                Op::Session(id, None) => Some(Write::Delete(Table::Sessions, name(), id.clone())),
                Op::Clear => Some(Write::DeleteTenant(name())),
                Op::NextSeq(_) | Op::SyncDeletes(_) | Op::Restore(_) => None,
            };
            self.rows.extend(row);
        }
        let inverse = self.state(tenant).apply(op);
        self.undo.push((tenant, inverse));
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

    pub fn mark(&self) -> Mark {
        Mark {
            undo: self.undo.len(),
            rows: self.rows.len(),
            events: self.events.len(),
            afters: self.afters.len(),
        }
    }

    /// Undoes everything applied since `mark` (an operation that failed half-way).
    pub fn undo_to(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            if let Some((tenant, inverse)) = self.undo.pop() {
                self.state(tenant).apply(inverse);
            }
        }
        self.rows.truncate(mark.rows);
        self.events.truncate(mark.events);
        self.afters.truncate(mark.afters);
    }

    /// The events recorded since `mark`, taken out of the transaction.
    pub fn take_events_since(&mut self, mark: Mark) -> Vec<(TenantId, Event)> {
        self.events.split_off(mark.events.min(self.events.len()))
    }

    /// The rows to persist, taken out of the transaction.
    pub fn take_rows(&mut self) -> Vec<Write> {
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
    }
}

impl Drop for Tx<'_> {
    /// A transaction never committed (a panic in a planner) leaves memory as it was.
    fn drop(&mut self) {
        self.rollback();
    }
}
