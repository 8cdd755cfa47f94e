//! The delivery journal: every webhook event of every tenant with its delivery state and
//! attempts, the schedule of pending deliveries on the virtual clock, and each tenant's
//! webhook configuration (URL + Authorization, as in Belvo's dashboard).
//!
//! Changes an operation causes (new events, flush, redeliver, settings, reset) are planned
//! here, persisted by the app's writer with the data they belong to, then applied. Changes
//! the dispatcher makes (attempts, retries) are applied at once and handed to the writer's
//! sink: a crash may lose the record of an attempt, and the delivery is then sent again (at
//! least once, as Belvo's own webhooks are).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use super::delivery::{Delivery, DeliveryStatus, Settings, WebhookConfig};
use crate::clock::Clock;
use crate::db::{Durable, DurableError, Table, Write};
use crate::event::Event;
use crate::tenant::TenantId;

/// Where the journal hands the ids of deliveries the dispatcher changed (fire and forget):
/// the writer writes their rows as they are in memory when it gets to them.
pub type Sink = Box<dyn Fn(Vec<(TenantId, String)>) + Send + Sync>;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) configs: HashMap<TenantId, WebhookConfig>,
    pub(super) deliveries: HashMap<String, Delivery>,
    /// Each tenant's webhook ids, oldest first (the journal order).
    pub(super) order: HashMap<TenantId, VecDeque<String>>,
    /// Pending deliveries not in flight, by due time.
    pub(super) schedule: BTreeSet<(DateTime<Utc>, u64, String)>,
    pub(super) in_flight: usize,
    pub(super) next_seq: u64,
}

/// The shared journal. Clone it freely.
#[derive(Clone, Debug)]
pub struct Journal {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    state: Mutex<State>,
    pub(super) settings: Settings,
    pub(super) clock: Clock,
    pub(super) initial: WebhookConfig,
    /// Each tenant's name in the database (its secret id), by tenant index.
    names: Vec<String>,
    /// Wakes the dispatcher (a stored permit, so no wake-up is lost).
    dispatch: Notify,
    /// Wakes everyone waiting for delivery progress.
    pub(super) updated: Notify,
    /// Set under `--data-dir`: where the dispatcher's changes are persisted.
    sink: OnceLock<Sink>,
    /// Settings changed by a change not yet committed: events planned after it in the same
    /// transaction are prepared with them.
    planned: Mutex<HashMap<TenantId, WebhookConfig>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("settings", &self.settings)
            .field("durable", &self.sink.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// `initial` is every tenant's configuration until it sets its own; `names` are the
    /// tenants' names in the database.
    pub fn new(
        clock: Clock,
        settings: Settings,
        initial: WebhookConfig,
        names: Vec<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                settings,
                clock,
                initial,
                names,
                dispatch: Notify::new(),
                updated: Notify::new(),
                sink: OnceLock::new(),
                planned: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Restores the configs and deliveries stored in `db` (pending ones resume with their
    /// schedule; one that was in flight when the process died is sent again, at least once).
    pub fn restore(&self, db: &Durable) -> Result<(), DurableError> {
        let tenant_of = |name: &str| {
            self.inner
                .names
                .iter()
                .position(|t| t == name)
                .map(TenantId::from_index)
        };
        let mut state = self.state();
        for (tenant, _, body) in db.load(Table::WebhookConfigs)? {
            if let (Some(t), Ok(config)) = (tenant_of(&tenant), serde_json::from_str(&body)) {
                state.configs.insert(t, config);
            }
        }
        let mut restored: Vec<Delivery> = db
            .load(Table::Deliveries)?
            .into_iter()
            .filter_map(|(tenant, _, body)| Delivery::from_row(tenant_of(&tenant)?, &body))
            .collect();
        restored.sort_by_key(|d| d.seq);
        let now = self.inner.clock.now();
        for mut delivery in restored {
            state.next_seq = state.next_seq.max(delivery.seq + 1);
            if delivery.status == DeliveryStatus::Pending {
                let due = delivery.next_attempt_at.unwrap_or(now);
                delivery.next_attempt_at = Some(due);
                state
                    .schedule
                    .insert((due, delivery.seq, delivery.webhook_id.clone()));
            }
            state
                .order
                .entry(delivery.tenant)
                .or_default()
                .push_back(delivery.webhook_id.clone());
            state
                .deliveries
                .insert(delivery.webhook_id.clone(), delivery);
        }
        drop(state);
        self.changed();
        Ok(())
    }

    /// Persists the dispatcher's changes through `sink` from now on.
    pub fn set_sink(&self, sink: Sink) {
        self.inner.sink.set(sink).ok();
    }

    fn durable(&self) -> bool {
        self.inner.sink.get().is_some()
    }

    pub(super) fn persist(&self, ids: Vec<(TenantId, String)>) {
        if let Some(sink) = self.inner.sink.get()
            && !ids.is_empty()
        {
            sink(ids);
        }
    }

    /// The row of delivery `id` as it is in memory now: stored, or deleted when gone (`None`
    /// in memory).
    pub fn row_of(&self, tenant: TenantId, id: &str) -> Option<Write> {
        if !self.durable() {
            return None;
        }
        let state = self.state();
        match state.deliveries.get(id).filter(|d| d.tenant == tenant) {
            Some(d) => self.row(d),
            None => self.delete_row(tenant, id),
        }
    }

    fn name(&self, tenant: TenantId) -> String {
        self.inner
            .names
            .get(tenant.index())
            .cloned()
            .unwrap_or_default()
    }

    /// The row that stores `delivery` (`None` in memory).
    pub fn row(&self, delivery: &Delivery) -> Option<Write> {
        self.durable().then(|| {
            Write::Put(
                Table::Deliveries,
                self.name(delivery.tenant),
                delivery.webhook_id.clone(),
                delivery.to_row(),
            )
        })
    }

    fn delete_row(&self, tenant: TenantId, id: &str) -> Option<Write> {
        self.durable()
            .then(|| Write::Delete(Table::Deliveries, self.name(tenant), id.to_owned()))
    }

    /// The row that stores a tenant's configuration (`None` in memory).
    pub fn config_row(&self, tenant: TenantId, config: &WebhookConfig) -> Option<Write> {
        self.durable().then(|| {
            Write::Put(
                Table::WebhookConfigs,
                self.name(tenant),
                "config".to_owned(),
                serde_json::to_string(config).unwrap_or_default(),
            )
        })
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // Every change is applied whole while the guard is held, so a panic elsewhere cannot
        // leave a half-applied one behind: a poisoned lock is safe to keep using.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Notified when deliveries may be due (the dispatcher waits on it).
    pub fn dispatch_notify(&self) -> &Notify {
        &self.inner.dispatch
    }

    /// Notified on every change of a delivery (tests and drains wait on it).
    pub fn updated(&self) -> &Notify {
        &self.inner.updated
    }

    /// Wakes the dispatcher and everyone waiting for progress. Called after a change is
    /// applied, with no lock held.
    pub fn changed(&self) {
        self.inner.dispatch.notify_one();
        self.inner.updated.notify_waiters();
    }

    pub fn config(&self, tenant: TenantId) -> WebhookConfig {
        self.state()
            .configs
            .get(&tenant)
            .cloned()
            .unwrap_or_else(|| self.inner.initial.clone())
    }

    /// Applies a tenant's new configuration (once it is persisted).
    pub fn apply_config(&self, tenant: TenantId, config: WebhookConfig) {
        self.planned_configs().remove(&tenant);
        self.state().configs.insert(tenant, config);
    }

    /// Notes a configuration a change is about to commit (see [`Journal::prepare`]).
    pub fn plan_config(&self, tenant: TenantId, config: WebhookConfig) {
        self.planned_configs().insert(tenant, config);
    }

    /// Forgets the planned configurations (their change was rolled back).
    pub fn discard_plans(&self) {
        self.planned_configs().clear();
    }

    fn planned_configs(&self) -> MutexGuard<'_, HashMap<TenantId, WebhookConfig>> {
        self.inner
            .planned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The delivery an event becomes: due after the configured delay, or `undeliverable`
    /// when the tenant has no URL (it can be redelivered later). Nothing is stored yet.
    pub fn prepare(&self, tenant: TenantId, event: &Event) -> Delivery {
        let now = self.inner.clock.now();
        let webhook_id = Uuid::new_v4().simple().to_string();
        let planned = self.planned_configs().get(&tenant).cloned();
        let has_url = planned.unwrap_or_else(|| self.config(tenant)).url.is_some();
        let delay = chrono::Duration::from_std(self.inner.settings.delay)
            .unwrap_or(chrono::Duration::zero());
        let seq = {
            let mut state = self.state();
            state.next_seq += 1;
            state.next_seq - 1
        };
        Delivery {
            payload: event.payload(&webhook_id),
            webhook_id,
            tenant,
            link_id: event.link_id,
            webhook_type: event.webhook_type(),
            webhook_code: event.webhook_code(),
            status: if has_url {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Undeliverable
            },
            attempts: Vec::new(),
            created_at: now,
            next_attempt_at: has_url.then_some(now + delay),
            in_flight: false,
            round: 0,
            seq,
        }
    }

    /// Adds prepared deliveries (once they are persisted) and schedules the pending ones.
    pub fn insert(&self, deliveries: Vec<Delivery>) {
        let mut state = self.state();
        let mut dropped = Vec::new();
        for delivery in deliveries {
            tracing::info!(
                target: "belvo_mock::webhooks",
                link_id = %delivery.link_id,
                webhook_type = %delivery.webhook_type,
                webhook_code = %delivery.webhook_code,
                webhook_id = %delivery.webhook_id,
                status = delivery.status.as_str(),
                "webhook event recorded"
            );
            let tenant = delivery.tenant;
            if let Some(due) = delivery.next_attempt_at
                && delivery.status == DeliveryStatus::Pending
            {
                state
                    .schedule
                    .insert((due, delivery.seq, delivery.webhook_id.clone()));
            }
            state
                .order
                .entry(tenant)
                .or_default()
                .push_back(delivery.webhook_id.clone());
            state
                .deliveries
                .insert(delivery.webhook_id.clone(), delivery);
            dropped.extend(self.bound(&mut state, tenant));
        }
        drop(state);
        self.persist(dropped);
    }

    /// Keeps the journal of one tenant within the limit by dropping its oldest finished
    /// deliveries. Pending ones are never dropped: while the oldest is pending, the journal
    /// may exceed the limit until it finishes.
    pub(super) fn bound(&self, state: &mut State, tenant: TenantId) -> Vec<(TenantId, String)> {
        let mut rows = Vec::new();
        let limit = self.inner.settings.journal_limit.max(1);
        let State {
            order, deliveries, ..
        } = state;
        let Some(order) = order.get_mut(&tenant) else {
            return rows;
        };
        while order.len() > limit {
            let finished = order.front().is_some_and(|id| {
                deliveries
                    .get(id)
                    .is_none_or(|d| d.status.is_final() && !d.in_flight)
            });
            if !finished {
                break;
            }
            if let Some(id) = order.pop_front() {
                deliveries.remove(&id);
                rows.push((tenant, id));
            }
        }
        rows
    }

    /// A tenant's deliveries (newest first), optionally of one link and/or status.
    pub fn deliveries(
        &self,
        tenant: Option<TenantId>,
        link: Option<Uuid>,
        status: Option<DeliveryStatus>,
    ) -> Vec<Delivery> {
        let state = self.state();
        let mut out: Vec<Delivery> = state
            .deliveries
            .values()
            .filter(|d| tenant.is_none_or(|t| d.tenant == t))
            .filter(|d| link.is_none_or(|l| d.link_id == l))
            .filter(|d| status.is_none_or(|s| d.status == s))
            .cloned()
            .collect();
        out.sort_by_key(|d| std::cmp::Reverse(d.seq));
        out
    }

    /// Every pending delivery (of one tenant, or all) as it is once made due now.
    pub fn plan_flush(&self, tenant: Option<TenantId>) -> Vec<Delivery> {
        let now = self.inner.clock.now();
        let state = self.state();
        state
            .schedule
            .iter()
            .filter_map(|(_, _, id)| state.deliveries.get(id))
            .filter(|d| tenant.is_none_or(|t| d.tenant == t))
            .map(|d| Delivery {
                next_attempt_at: Some(now),
                ..d.clone()
            })
            .collect()
    }

    /// A finished delivery as it is once sent again (same `webhook_id`, same payload), now,
    /// with a fresh round of retries, and `true`; a pending one as it is, and `false`.
    /// `None`: no such delivery.
    pub fn plan_redeliver(&self, tenant: TenantId, id: &str) -> Option<(Delivery, bool)> {
        let now = self.inner.clock.now();
        let state = self.state();
        let delivery = state.deliveries.get(id).filter(|d| d.tenant == tenant)?;
        if !delivery.status.is_final() {
            return Some((delivery.clone(), false));
        }
        let again = Delivery {
            status: DeliveryStatus::Pending,
            round: 0,
            next_attempt_at: Some(now),
            ..delivery.clone()
        };
        Some((again, true))
    }

    /// Applies planned new states of existing deliveries (once they are persisted), each
    /// only while `still` holds for the delivery as it is now (the dispatcher may have sent
    /// it meanwhile). One that was reset meanwhile stays gone; one a sender holds keeps its
    /// attempt. Those left as they are have their rows written again, from memory.
    pub fn apply_updates(&self, updates: Vec<Delivery>, still: fn(&Delivery) -> bool) {
        let mut state = self.state();
        let mut rewrite = Vec::new();
        for update in updates {
            let Some(current) = state.deliveries.get(&update.webhook_id) else {
                continue;
            };
            if current.in_flight || !still(current) {
                rewrite.push((current.tenant, current.webhook_id.clone()));
                continue;
            }
            let old = (
                current.next_attempt_at.unwrap_or(current.created_at),
                current.seq,
                current.webhook_id.clone(),
            );
            // Attempts recorded since the plan are kept.
            let attempts = current.attempts.clone();
            state.schedule.remove(&old);
            if update.status == DeliveryStatus::Pending
                && let Some(due) = update.next_attempt_at
            {
                state
                    .schedule
                    .insert((due, update.seq, update.webhook_id.clone()));
            }
            state
                .deliveries
                .insert(update.webhook_id.clone(), Delivery { attempts, ..update });
        }
        drop(state);
        self.persist(rewrite);
    }

    /// Forgets one tenant's deliveries and configuration (once the reset is persisted).
    pub fn reset(&self, tenant: TenantId) {
        let mut state = self.state();
        state.configs.remove(&tenant);
        let ids: Vec<String> = state
            .order
            .remove(&tenant)
            .map(Vec::from)
            .unwrap_or_default();
        for id in ids {
            state.deliveries.remove(&id);
        }
        let State {
            schedule,
            deliveries,
            ..
        } = &mut *state;
        schedule.retain(|(_, _, id)| deliveries.contains_key(id));
    }
}

#[cfg(test)]
mod tests;
