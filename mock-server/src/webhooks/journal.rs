//! The delivery journal: every webhook event of every tenant with its delivery state and
//! attempts, the schedule of pending deliveries on the virtual clock, and each tenant's
//! webhook configuration (URL + Authorization, as in Belvo's dashboard).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::{Clock, format_timestamp};
use crate::store::TenantId;
use crate::store::durable::{Durable, DurableError, Table};

/// How deliveries are timed and bounded.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time between the event and its first attempt.
    pub delay: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's wait; each next one doubles (3, 6, 12, 24, 48 s by default).
    pub backoff: Duration,
    /// An attempt succeeds on a 2xx received within this time.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Finished deliveries kept per tenant (pending ones are never dropped).
    pub journal_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(2),
            retries: 5,
            backoff: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
            concurrency: 32,
            journal_limit: 10_000,
        }
    }
}

/// Where a tenant's webhooks go.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub authorization: Option<String>,
}

impl WebhookConfig {
    /// The `Authorization` header sent: a bare token goes out as `Bearer <token>`; a value that
    /// starts with `Bearer ` or `Basic ` goes out verbatim.
    pub fn authorization_header(&self) -> Option<String> {
        let value = self.authorization.as_deref()?.trim();
        if value.is_empty() {
            None
        } else if value.starts_with("Bearer ") || value.starts_with("Basic ") {
            Some(value.to_owned())
        } else {
            Some(format!("Bearer {value}"))
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"url": self.url, "authorization": self.authorization})
    }
}

/// Something Belvo notifies about (belvo-api.md §7).
#[derive(Clone, Debug)]
pub struct Event {
    pub webhook_type: &'static str,
    pub process_type: &'static str,
    pub webhook_code: &'static str,
    pub link_id: Uuid,
    /// The request that caused it (hyphenated in the payload, as Belvo's examples show).
    pub request_id: Uuid,
    pub external_id: Option<String>,
    pub data: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt, or being attempted.
    Pending,
    Delivered,
    /// Every attempt failed; `redeliver` starts again.
    Failed,
    /// No webhook URL was configured when it was due.
    Undeliverable,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Undeliverable => "undeliverable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Failed,
            Self::Undeliverable,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// One try at delivering a webhook.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub at: DateTime<Utc>,
    pub url: String,
    pub status_code: Option<u16>,
    pub latency_ms: f64,
    pub error: Option<String>,
    /// The first bytes of the receiver's answer.
    pub response_body: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "number": self.number,
            "at": format_timestamp(self.at),
            "url": self.url,
            "status_code": self.status_code,
            "latency_ms": (self.latency_ms * 1000.0).round() / 1000.0,
            "error": self.error,
            "response_body": self.response_body,
        })
    }
}

/// One webhook event and its delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub webhook_id: String,
    pub tenant: TenantId,
    pub link_id: Uuid,
    pub webhook_type: &'static str,
    pub webhook_code: &'static str,
    /// The exact body sent on every attempt.
    pub payload: Value,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub in_flight: bool,
    /// Attempts since the event (or the last redeliver): retries count against this.
    round: u32,
    seq: u64,
}

impl Delivery {
    pub fn to_json(&self) -> Value {
        json!({
            "webhook_id": self.webhook_id,
            "link_id": self.link_id,
            "webhook_type": self.webhook_type,
            "webhook_code": self.webhook_code,
            "status": self.status.as_str(),
            "created_at": format_timestamp(self.created_at),
            "next_attempt_at": self.next_attempt_at.map(format_timestamp),
            "attempts": self.attempts.iter().map(Attempt::to_json).collect::<Vec<_>>(),
            "payload": self.payload,
        })
    }
}

/// A due delivery handed to a sender.
#[derive(Clone, Debug)]
pub struct Job {
    pub webhook_id: String,
    pub url: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
    pub attempt: u32,
    pub link_id: Uuid,
    pub webhook_type: &'static str,
    pub webhook_code: &'static str,
}

#[derive(Debug, Default)]
struct State {
    configs: HashMap<TenantId, WebhookConfig>,
    deliveries: HashMap<String, Delivery>,
    /// Each tenant's webhook ids, oldest first (the journal order).
    order: HashMap<TenantId, VecDeque<String>>,
    /// Pending deliveries not in flight, by due time.
    schedule: BTreeSet<(DateTime<Utc>, u64, String)>,
    in_flight: usize,
    next_seq: u64,
}

/// The shared journal. Clone it freely.
#[derive(Clone, Debug)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    settings: Settings,
    clock: Clock,
    initial: WebhookConfig,
    /// Wakes the dispatcher (a stored permit, so no wake-up is lost).
    dispatch: Notify,
    /// Wakes everyone waiting for delivery progress.
    updated: Notify,
    /// The database under `--data-dir` and the tenants' names in it, once attached.
    durable: std::sync::OnceLock<(Durable, Vec<String>)>,
}

/// A delivery as the durable store keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct DeliveryRow {
    webhook_id: String,
    link_id: Uuid,
    webhook_type: String,
    webhook_code: String,
    payload: Value,
    status: String,
    attempts: Vec<Attempt>,
    created_at: DateTime<Utc>,
    next_attempt_at: Option<DateTime<Utc>>,
    round: u32,
    seq: u64,
}

/// The `&'static` names a stored row may carry.
fn known(name: &str) -> Option<&'static str> {
    [
        "OWNERS",
        "EMPLOYMENTS",
        "LINK",
        "historical_update",
        "invalid_credentials",
        "link_deleted",
    ]
    .into_iter()
    .find(|k| *k == name)
}

impl Delivery {
    fn to_row(&self) -> String {
        let row = DeliveryRow {
            webhook_id: self.webhook_id.clone(),
            link_id: self.link_id,
            webhook_type: self.webhook_type.to_owned(),
            webhook_code: self.webhook_code.to_owned(),
            payload: self.payload.clone(),
            status: self.status.as_str().to_owned(),
            attempts: self.attempts.clone(),
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            round: self.round,
            seq: self.seq,
        };
        serde_json::to_string(&row).unwrap_or_default()
    }

    fn from_row(tenant: TenantId, text: &str) -> Option<Self> {
        let row: DeliveryRow = serde_json::from_str(text).ok()?;
        Some(Self {
            webhook_id: row.webhook_id,
            tenant,
            link_id: row.link_id,
            webhook_type: known(&row.webhook_type)?,
            webhook_code: known(&row.webhook_code)?,
            payload: row.payload,
            status: DeliveryStatus::parse(&row.status)?,
            attempts: row.attempts,
            created_at: row.created_at,
            next_attempt_at: row.next_attempt_at,
            in_flight: false,
            round: row.round,
            seq: row.seq,
        })
    }
}

impl Journal {
    /// `initial` is every tenant's configuration until it sets its own.
    pub fn new(clock: Clock, settings: Settings, initial: WebhookConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                settings,
                clock,
                initial,
                dispatch: Notify::new(),
                updated: Notify::new(),
                durable: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes the journal durable: restores the configs and deliveries stored in `db` (pending
    /// ones resume with their schedule; one that was in flight when the process died is sent
    /// again, at least once) and writes every later change through.
    pub fn attach(&self, db: Durable, tenants: Vec<String>) -> Result<(), DurableError> {
        let tenant_of = |name: &str| {
            tenants
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
        self.inner.durable.set((db, tenants)).ok();
        self.changed();
        Ok(())
    }

    /// Writes one delivery as it is now (deleted when gone from the journal).
    fn save(&self, state: &State, tenant: TenantId, id: &str) {
        let Some((db, names)) = self.inner.durable.get() else {
            return;
        };
        let Some(name) = names.get(tenant.index()) else {
            return;
        };
        let result = match state.deliveries.get(id) {
            Some(d) => db.put(Table::Deliveries, name, id, &d.to_row()),
            None => db.delete(Table::Deliveries, name, id),
        };
        if let Err(e) = result {
            tracing::error!("cannot write webhook {id} to the data directory: {e}");
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
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

    fn changed(&self) {
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

    pub fn set_config(&self, tenant: TenantId, config: WebhookConfig) {
        if let Some((db, names)) = self.inner.durable.get()
            && let Some(name) = names.get(tenant.index())
            && let Err(e) = db.put(
                Table::WebhookConfigs,
                name,
                "config",
                &serde_json::to_string(&config).unwrap_or_default(),
            )
        {
            tracing::error!("cannot write the webhook settings: {e}");
        }
        self.state().configs.insert(tenant, config);
        self.changed();
    }

    /// Records an event and schedules its delivery after the configured delay. With no URL
    /// configured it is recorded as `undeliverable` (and can be redelivered later).
    pub fn emit(&self, tenant: TenantId, event: Event) -> String {
        let now = self.inner.clock.now();
        let webhook_id = Uuid::new_v4().simple().to_string();
        let payload = json!({
            "webhook_id": webhook_id,
            "webhook_type": event.webhook_type,
            "process_type": event.process_type,
            "webhook_code": event.webhook_code,
            "link_id": event.link_id,
            "request_id": event.request_id.hyphenated().to_string(),
            "external_id": event.external_id,
            "data": event.data,
        });
        let has_url = self.config(tenant).url.is_some();
        let delay = chrono::Duration::from_std(self.inner.settings.delay)
            .unwrap_or(chrono::Duration::zero());
        let mut state = self.state();
        let seq = state.next_seq;
        state.next_seq += 1;
        let due = now + delay;
        let delivery = Delivery {
            webhook_id: webhook_id.clone(),
            tenant,
            link_id: event.link_id,
            webhook_type: event.webhook_type,
            webhook_code: event.webhook_code,
            payload,
            status: if has_url {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Undeliverable
            },
            attempts: Vec::new(),
            created_at: now,
            next_attempt_at: has_url.then_some(due),
            in_flight: false,
            round: 0,
            seq,
        };
        if has_url {
            state.schedule.insert((due, seq, webhook_id.clone()));
        }
        tracing::info!(
            target: "belvo_mock::webhooks",
            link_id = %event.link_id,
            webhook_type = event.webhook_type,
            webhook_code = event.webhook_code,
            webhook_id = %webhook_id,
            status = delivery.status.as_str(),
            "webhook event recorded"
        );
        state.deliveries.insert(webhook_id.clone(), delivery);
        state
            .order
            .entry(tenant)
            .or_default()
            .push_back(webhook_id.clone());
        self.save(&state, tenant, &webhook_id);
        self.bound(&mut state, tenant);
        drop(state);
        self.changed();
        webhook_id
    }

    /// Keeps the journal of one tenant within the limit by dropping its oldest finished
    /// deliveries. Pending ones are never dropped: while the oldest is pending, the journal
    /// may exceed the limit until it finishes.
    fn bound(&self, state: &mut State, tenant: TenantId) {
        let limit = self.inner.settings.journal_limit.max(1);
        let State {
            order, deliveries, ..
        } = state;
        let Some(order) = order.get_mut(&tenant) else {
            return;
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
                if let Some((db, names)) = self.inner.durable.get()
                    && let Some(name) = names.get(tenant.index())
                    && let Err(e) = db.delete(Table::Deliveries, name, &id)
                {
                    tracing::error!("cannot forget webhook {id} in the data directory: {e}");
                }
            }
        }
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

    /// Makes every pending delivery (of one tenant, or all) due now. Returns how many.
    pub fn flush(&self, tenant: Option<TenantId>) -> usize {
        let now = self.inner.clock.now();
        let mut state = self.state();
        let due: Vec<(DateTime<Utc>, u64, String)> = state
            .schedule
            .iter()
            .filter(|(_, _, id)| {
                state
                    .deliveries
                    .get(id)
                    .is_some_and(|d| tenant.is_none_or(|t| d.tenant == t))
            })
            .cloned()
            .collect();
        for entry in &due {
            state.schedule.remove(entry);
            let (_, seq, id) = entry;
            state.schedule.insert((now, *seq, id.clone()));
            if let Some(d) = state.deliveries.get_mut(id) {
                d.next_attempt_at = Some(now);
                let tenant = d.tenant;
                self.save(&state, tenant, id);
            }
        }
        drop(state);
        self.changed();
        due.len()
    }

    /// Sends a finished delivery again (same `webhook_id`, same payload), now, with a fresh
    /// round of retries. A pending one is left as it is.
    pub fn redeliver(&self, tenant: TenantId, id: &str) -> Option<Delivery> {
        let now = self.inner.clock.now();
        let mut state = self.state();
        let delivery = state
            .deliveries
            .get_mut(id)
            .filter(|d| d.tenant == tenant)?;
        if delivery.status.is_final() {
            delivery.status = DeliveryStatus::Pending;
            delivery.round = 0;
            delivery.next_attempt_at = Some(now);
            let entry = (now, delivery.seq, delivery.webhook_id.clone());
            let copy = delivery.clone();
            state.schedule.insert(entry);
            self.save(&state, tenant, id);
            drop(state);
            self.changed();
            return Some(copy);
        }
        Some(delivery.clone())
    }

    /// Forgets one tenant's deliveries and configuration.
    pub fn reset(&self, tenant: TenantId) {
        let mut state = self.state();
        state.configs.remove(&tenant);
        let ids: Vec<String> = state
            .order
            .remove(&tenant)
            .map(Vec::from)
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = state.deliveries.remove(&id) {
                state.schedule.remove(&(
                    d.next_attempt_at.unwrap_or(d.created_at),
                    d.seq,
                    d.webhook_id.clone(),
                ));
            }
        }
        let State {
            schedule,
            deliveries,
            ..
        } = &mut *state;
        schedule.retain(|(_, _, id)| deliveries.contains_key(id));
        drop(state);
        self.changed();
    }

    /// Takes up to `max` deliveries due at `now` for sending, and tells when the next one is
    /// due. Deliveries whose tenant has no URL any more become `undeliverable`.
    pub fn take_due(&self, now: DateTime<Utc>, max: usize) -> (Vec<Job>, Option<DateTime<Utc>>) {
        let mut state = self.state();
        let mut jobs = Vec::new();
        let mut changed = false;
        while jobs.len() < max {
            let Some(first) = state.schedule.first().cloned() else {
                break;
            };
            if first.0 > now {
                break;
            }
            state.schedule.remove(&first);
            let id = first.2;
            let Some(tenant) = state.deliveries.get(&id).map(|d| d.tenant) else {
                continue;
            };
            let config = state
                .configs
                .get(&tenant)
                .cloned()
                .unwrap_or_else(|| self.inner.initial.clone());
            let Some(delivery) = state.deliveries.get_mut(&id) else {
                continue;
            };
            changed = true;
            let Some(url) = config.url.clone() else {
                delivery.status = DeliveryStatus::Undeliverable;
                delivery.next_attempt_at = None;
                self.save(&state, tenant, &id);
                continue;
            };
            delivery.in_flight = true;
            let job = Job {
                webhook_id: id.clone(),
                url,
                authorization: config.authorization_header(),
                body: delivery.payload.to_string().into_bytes(),
                attempt: delivery.attempts.len() as u32 + 1,
                link_id: delivery.link_id,
                webhook_type: delivery.webhook_type,
                webhook_code: delivery.webhook_code,
            };
            state.in_flight += 1;
            jobs.push(job);
        }
        let next = state.schedule.first().map(|(at, _, _)| *at);
        drop(state);
        if changed {
            self.inner.updated.notify_waiters();
        }
        (jobs, next)
    }

    /// Records the outcome of an attempt: delivered, scheduled for a retry, or failed.
    pub fn record(&self, id: &str, attempt: Attempt) {
        let now = self.inner.clock.now();
        let settings = &self.inner.settings;
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        let Some(delivery) = state.deliveries.get_mut(id) else {
            drop(state);
            self.changed();
            return;
        };
        delivery.in_flight = false;
        delivery.round += 1;
        let ok = attempt.succeeded();
        let status_code = attempt.status_code;
        let number = attempt.number;
        delivery.attempts.push(attempt);
        let mut retry_at = None;
        if ok {
            delivery.status = DeliveryStatus::Delivered;
            delivery.next_attempt_at = None;
        } else if delivery.round <= settings.retries {
            let factor = 1u32 << (delivery.round - 1).min(20);
            let wait = chrono::Duration::from_std(settings.backoff * factor)
                .unwrap_or(chrono::Duration::MAX);
            let at = now + wait;
            delivery.next_attempt_at = Some(at);
            retry_at = Some((at, delivery.seq));
        } else {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
        }
        let (link_id, kind, code, status) = (
            delivery.link_id,
            delivery.webhook_type,
            delivery.webhook_code,
            delivery.status,
        );
        if let Some((at, seq)) = retry_at {
            state.schedule.insert((at, seq, id.to_owned()));
        }
        if let Some(tenant) = state.deliveries.get(id).map(|d| d.tenant) {
            self.save(&state, tenant, id);
        }
        drop(state);
        if ok {
            tracing::info!(target: "belvo_mock::webhooks", %link_id, webhook_type = kind, webhook_code = code, webhook_id = id, attempt = number, status_code, "webhook delivered");
        } else if let Some((at, _)) = retry_at {
            tracing::info!(target: "belvo_mock::webhooks", %link_id, webhook_type = kind, webhook_code = code, webhook_id = id, attempt = number, status_code, retry_at = %format_timestamp(at), "webhook attempt failed; will retry");
        } else {
            tracing::warn!(target: "belvo_mock::webhooks", %link_id, webhook_type = kind, webhook_code = code, webhook_id = id, attempt = number, status_code, status = status.as_str(), "webhook failed; no retries left");
        }
        self.changed();
    }

    /// Whether anything is due at `now` or being sent.
    pub fn busy(&self, now: DateTime<Utc>) -> bool {
        let state = self.state();
        state.in_flight > 0 || state.schedule.first().is_some_and(|(at, _, _)| *at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            webhook_type: "OWNERS",
            process_type: "historical_update",
            webhook_code: "historical_update",
            link_id: Uuid::nil(),
            request_id: Uuid::nil(),
            external_id: None,
            data: json!({"total_owners": 1}),
        }
    }

    fn journal(url: Option<&str>) -> Journal {
        Journal::new(
            Clock::new(),
            Settings {
                delay: Duration::ZERO,
                retries: 2,
                ..Settings::default()
            },
            WebhookConfig {
                url: url.map(str::to_owned),
                authorization: None,
            },
        )
    }

    fn attempt(number: u32, code: Option<u16>) -> Attempt {
        Attempt {
            number,
            at: Utc::now(),
            url: "http://x".into(),
            status_code: code,
            latency_ms: 1.0,
            error: code.is_none().then(|| "refused".to_owned()),
            response_body: None,
        }
    }

    #[test]
    fn bare_tokens_become_bearer_and_schemes_go_verbatim() {
        let with = |a: &str| WebhookConfig {
            url: None,
            authorization: Some(a.to_owned()),
        };
        assert_eq!(
            with("abc").authorization_header().as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            with("Bearer abc").authorization_header().as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            with("Basic dTpw").authorization_header().as_deref(),
            Some("Basic dTpw")
        );
        assert_eq!(with("  ").authorization_header(), None);
    }

    #[test]
    fn without_a_url_events_are_recorded_as_undeliverable() {
        let j = journal(None);
        let t = TenantId::for_tests(0);
        j.emit(t, event());
        let all = j.deliveries(Some(t), None, None);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, DeliveryStatus::Undeliverable);
        assert!(j.take_due(Utc::now(), 10).0.is_empty());
    }

    #[test]
    fn failures_retry_with_doubling_backoff_then_fail_and_redeliver_starts_again() {
        let j = journal(Some("http://x"));
        let t = TenantId::for_tests(0);
        let id = j.emit(t, event());
        let (jobs, _) = j.take_due(j.clock().now(), 10);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].attempt, 1);
        j.record(&id, attempt(1, Some(500)));
        // Not due before the 3 s backoff.
        assert!(j.take_due(j.clock().now(), 10).0.is_empty());
        j.clock().advance(Duration::from_secs(3));
        let (jobs, _) = j.take_due(j.clock().now(), 10);
        assert_eq!(jobs[0].attempt, 2);
        j.record(&id, attempt(2, None));
        j.clock().advance(Duration::from_secs(5));
        assert!(
            j.take_due(j.clock().now(), 10).0.is_empty(),
            "second retry waits 6 s"
        );
        j.clock().advance(Duration::from_secs(1));
        let (jobs, _) = j.take_due(j.clock().now(), 10);
        j.record(&jobs[0].webhook_id, attempt(3, Some(404)));
        let d = &j.deliveries(Some(t), None, None)[0];
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.attempts.len(), 3);
        assert!(j.redeliver(t, &id).is_some());
        let (jobs, _) = j.take_due(j.clock().now(), 10);
        assert_eq!(jobs[0].attempt, 4);
        j.record(&id, attempt(4, Some(204)));
        assert_eq!(
            j.deliveries(Some(t), None, None)[0].status,
            DeliveryStatus::Delivered
        );
    }

    #[test]
    fn the_journal_drops_only_finished_deliveries_past_its_limit() {
        let j = Journal::new(
            Clock::new(),
            Settings {
                journal_limit: 2,
                delay: Duration::from_secs(3600),
                ..Settings::default()
            },
            WebhookConfig::default(),
        );
        let t = TenantId::for_tests(0);
        for _ in 0..5 {
            j.emit(t, event());
        }
        assert_eq!(j.deliveries(Some(t), None, None).len(), 2);
        j.set_config(
            t,
            WebhookConfig {
                url: Some("http://x".into()),
                authorization: None,
            },
        );
        for _ in 0..3 {
            j.emit(t, event());
        }
        // Three pending ones stay although the limit is two.
        let pending = j.deliveries(Some(t), None, Some(DeliveryStatus::Pending));
        assert_eq!(pending.len(), 3);
    }
}
