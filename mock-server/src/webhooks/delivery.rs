//! One webhook delivery and its parts: settings, the tenant's webhook configuration, the
//! delivery's status and attempts, the job handed to a sender, and the row the database keeps.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::clock::format_timestamp;
use crate::event::known_name;
use crate::tenant::TenantId;

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
    pub(super) round: u32,
    /// Journal order.
    pub(super) seq: u64,
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

impl Delivery {
    pub(super) fn to_row(&self) -> String {
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

    pub(super) fn from_row(tenant: TenantId, text: &str) -> Option<Self> {
        let row: DeliveryRow = serde_json::from_str(text).ok()?;
        Some(Self {
            webhook_id: row.webhook_id,
            tenant,
            link_id: row.link_id,
            webhook_type: known_name(&row.webhook_type)?,
            webhook_code: known_name(&row.webhook_code)?,
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
