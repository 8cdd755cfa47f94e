//! One webhook delivery and its parts: the tenant's webhook configuration, the delivery's
//! status and attempts, and the job handed to a sender; its serde form is its database row.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::clock::format_timestamp;
use crate::event::{WebhookCode, WebhookType};
use crate::tenant::TenantId;

pub use crate::config::WebhookSettings as Settings;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One webhook event and its delivery. Its serde form is the database row (without the
/// tenant, which is the row's own column, and the in-flight flag, false after a restart).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub webhook_id: String,
    #[serde(skip)]
    pub tenant: TenantId,
    pub link_id: Uuid,
    pub webhook_type: WebhookType,
    pub webhook_code: WebhookCode,
    /// The exact body sent on every attempt.
    pub payload: Value,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip)]
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
    pub webhook_type: WebhookType,
    pub webhook_code: WebhookCode,
}

impl Delivery {
    /// Its database row.
    pub(super) fn to_row(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A delivery of `tenant` read back (nothing is in flight after a restart); `None` for a
    /// row this build cannot understand.
    pub(super) fn from_row(tenant: TenantId, text: &str) -> Option<Self> {
        let delivery: Self = serde_json::from_str(text).ok()?;
        Some(Self { tenant, ..delivery })
    }
}
