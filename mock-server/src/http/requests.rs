//! The request journal behind `GET /_mock/requests`: method, path, status, request id and time
//! of each authenticated request, per tenant, newest first, bounded. No bodies are kept, so
//! passwords and tokens never enter it; query parameters that could carry secrets are
//! redacted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock::format_timestamp;
use crate::store::TenantId;

/// Requests kept per tenant.
pub const LIMIT: usize = 1000;

/// Query parameters whose values are never journaled.
const SECRET_PARAMS: &[&str] = &["password", "password2", "token", "session", "secret"];

/// One journaled request. `query` is raw: [`Entry::to_json`] and `Debug` redact it, and
/// nothing else reads it.
#[derive(Clone)]
pub struct Entry {
    pub method: axum::http::Method,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub request_id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub latency_ms: f64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_deref().map(redact_query))
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method.as_str(),
            "path": self.path,
            "query": self.query.as_deref().map(redact_query),
            "status": self.status,
            "request_id": self.request_id.simple().to_string(),
            "at": format_timestamp(self.at),
            "latency_ms": (self.latency_ms * 1000.0).round() / 1000.0,
        })
    }
}

/// Redacts secret-looking parameters of a raw query string.
pub fn redact_query(raw: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| {
            let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
            let value = if secret {
                "[redacted]".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        }))
        .finish()
}

#[derive(Clone, Debug, Default)]
pub struct RequestJournal {
    by_tenant: Arc<Mutex<HashMap<TenantId, VecDeque<Entry>>>>,
}

impl RequestJournal {
    pub fn record(&self, tenant: TenantId, entry: Entry) {
        let mut map = self
            .by_tenant
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entries = map.entry(tenant).or_default();
        entries.push_front(entry);
        entries.truncate(LIMIT);
    }

    /// Newest first, optionally only paths containing `path` and/or one status.
    pub fn entries(&self, tenant: TenantId, path: Option<&str>, status: Option<u16>) -> Vec<Entry> {
        let map = self
            .by_tenant
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(&tenant)
            .into_iter()
            .flatten()
            .filter(|e| path.is_none_or(|p| e.path.contains(p)))
            .filter(|e| status.is_none_or(|s| e.status == s))
            .cloned()
            .collect()
    }

    pub fn reset(&self, tenant: TenantId) {
        self.by_tenant
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameters_are_redacted() {
        assert_eq!(
            redact_query("link=abc&token=123456&Password=x"),
            "link=abc&token=%5Bredacted%5D&Password=%5Bredacted%5D"
        );
    }

    #[test]
    fn the_journal_is_bounded_and_newest_first() {
        let journal = RequestJournal::default();
        let t = TenantId::for_tests(0);
        for i in 0..(LIMIT + 5) {
            journal.record(
                t,
                Entry {
                    method: axum::http::Method::GET,
                    path: format!("/api/{i}"),
                    query: None,
                    status: 200,
                    request_id: uuid::Uuid::nil(),
                    at: Utc::now(),
                    latency_ms: 0.0,
                },
            );
        }
        let entries = journal.entries(t, None, None);
        assert_eq!(entries.len(), LIMIT);
        assert_eq!(entries[0].path, format!("/api/{}", LIMIT + 4));
    }
}
