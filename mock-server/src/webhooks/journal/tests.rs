//! Unit tests of `journal`.

use super::*;
use crate::webhooks::Attempt;

use crate::event::{Notice, Resource};
use std::time::Duration;

fn event() -> Event {
    Event {
        link_id: Uuid::nil(),
        request_id: Uuid::nil(),
        external_id: None,
        notice: Notice::HistoricalUpdate {
            resource: Resource::Owners,
            total: 1,
        },
    }
}

/// Records an event at once (what the app's writer does after committing it).
fn emit(j: &Journal, t: TenantId, e: Event) -> String {
    let d = j.prepare(t, &e);
    let id = d.webhook_id.clone();
    j.insert(vec![d]);
    id
}

/// Redelivers at once.
fn redeliver(j: &Journal, t: TenantId, id: &str) -> Option<Delivery> {
    let (d, _) = j.plan_redeliver(t, id)?;
    j.apply_updates(vec![d.clone()], |current| current.status.is_final());
    Some(d)
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
        vec!["t".into()],
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
    let t = TenantId::from_index(0);
    emit(&j, t, event());
    let all = j.deliveries(Some(t), None, None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, DeliveryStatus::Undeliverable);
    assert!(j.take_due(Utc::now(), 10).0.is_empty());
}

#[test]
fn failures_retry_with_a_linear_backoff_then_fail_and_redeliver_starts_again() {
    let j = journal(Some("http://x"));
    let t = TenantId::from_index(0);
    let id = emit(&j, t, event());
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
    assert!(redeliver(&j, t, &id).is_some());
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
        vec!["t".into()],
    );
    let t = TenantId::from_index(0);
    for _ in 0..5 {
        emit(&j, t, event());
    }
    assert_eq!(j.deliveries(Some(t), None, None).len(), 2);
    j.apply_config(
        t,
        WebhookConfig {
            url: Some("http://x".into()),
            authorization: None,
        },
    );
    for _ in 0..3 {
        emit(&j, t, event());
    }
    // Three pending ones stay although the limit is two.
    let pending = j.deliveries(Some(t), None, Some(DeliveryStatus::Pending));
    assert_eq!(pending.len(), 3);
}
