//! The dispatcher's side of the journal: taking due deliveries for sending and recording
//! each attempt's outcome (delivered, retried with backoff, or failed). These changes are
//! applied at once and persisted through the sink.

use chrono::{DateTime, Utc};

use super::journal::Journal;
use super::{Attempt, DeliveryStatus, Job};
use crate::clock::format_timestamp;

impl Journal {
    /// Takes up to `max` deliveries due at `now` for sending, and tells when the next one is
    /// due. Deliveries whose tenant has no URL any more become `undeliverable`.
    pub fn take_due(&self, now: DateTime<Utc>, max: usize) -> (Vec<Job>, Option<DateTime<Utc>>) {
        let mut state = self.state();
        let mut jobs = Vec::new();
        let mut rows = Vec::new();
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
                rows.push((tenant, id.clone()));
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
        self.persist(rows);
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
            let wait = settings.schedule.wait(settings.backoff, delivery.round);
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
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
        let row = state.deliveries.get(id).map(|d| (d.tenant, id.to_owned()));
        drop(state);
        self.persist(row.into_iter().collect());
        if ok {
            tracing::info!(target: "belvo_mock::webhooks", %link_id, webhook_type = %kind, webhook_code = %code, webhook_id = id, attempt = number, status_code, "webhook delivered");
        } else if let Some((at, _)) = retry_at {
            tracing::info!(target: "belvo_mock::webhooks", %link_id, webhook_type = %kind, webhook_code = %code, webhook_id = id, attempt = number, status_code, retry_at = %format_timestamp(at), "webhook attempt failed; will retry");
        } else {
            tracing::warn!(target: "belvo_mock::webhooks", %link_id, webhook_type = %kind, webhook_code = %code, webhook_id = id, attempt = number, status_code, status = status.as_str(), "webhook failed; no retries left");
        }
        self.changed();
    }

    /// Whether anything is due at `now` or being sent.
    pub fn busy(&self, now: DateTime<Utc>) -> bool {
        let state = self.state();
        state.in_flight > 0 || state.schedule.first().is_some_and(|(at, _, _)| *at <= now)
    }
}
