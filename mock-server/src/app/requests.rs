//! The request journal behind `GET /_mock/requests`: method, path, status, request id and time
//! of each authenticated request, per tenant, newest first, bounded. No bodies are kept, so
//! passwords and tokens never enter it; query parameters that could carry secrets are
//! redacted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock::format_timestamp;
use crate::tenant::TenantId;

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

/// A request as the request front saw it, borrowed until it is journaled.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    pub method: &'a axum::http::Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
    pub request_id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub latency_ms: f64,
}

impl Seen<'_> {
    /// Writes this request into `entry`, reusing its strings' buffers.
    fn write_into(&self, entry: &mut Entry) {
        entry.method.clone_from(self.method);
        entry.path.clear();
        entry.path.push_str(self.path);
        match (self.query, &mut entry.query) {
            (Some(query), Some(kept)) => {
                kept.clear();
                kept.push_str(query);
            }
            (query, kept) => *kept = query.map(str::to_owned),
        }
        entry.status = self.status;
        entry.request_id = self.request_id;
        entry.at = self.at;
        entry.latency_ms = self.latency_ms;
    }

    fn to_entry(self) -> Entry {
        Entry {
            method: self.method.clone(),
            path: self.path.to_owned(),
            query: self.query.map(str::to_owned),
            status: self.status,
            request_id: self.request_id,
            at: self.at,
            latency_ms: self.latency_ms,
        }
    }
}

/// Shards the journal is split over. Every request is journaled, from whichever worker thread
/// serves it: one shared list made the two workers of a 2-core machine take turns on its lock
/// and its cache lines (3 % of the server's time under load).
const SHARDS: usize = 4;

type Shard = Mutex<HashMap<TenantId, VecDeque<(u64, Entry)>>>;

#[derive(Clone, Debug, Default)]
pub struct RequestJournal {
    shards: Arc<[Shard; SHARDS]>,
    /// Orders entries across shards.
    sequence: Arc<AtomicU64>,
}

/// The shard of the calling thread: threads are dealt shards in turn.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

fn lock(shard: &Shard) -> std::sync::MutexGuard<'_, HashMap<TenantId, VecDeque<(u64, Entry)>>> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RequestJournal {
    pub fn record(&self, tenant: TenantId, seen: Seen<'_>) {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut map = lock(&self.shards[shard_index()]);
        let entries = map.entry(tenant).or_default();
        // Each shard keeps the tenant's newest LIMIT, so together they hold the newest LIMIT
        // overall. A full shard recycles its oldest entry: no allocation once it has filled.
        let recycled = if entries.len() >= LIMIT {
            entries.pop_back()
        } else {
            None
        };
        let entry = match recycled {
            Some((_, mut oldest)) => {
                seen.write_into(&mut oldest);
                oldest
            }
            None => seen.to_entry(),
        };
        entries.push_front((sequence, entry));
    }

    /// The newest [`LIMIT`] requests, newest first, then only paths containing `path` and/or
    /// one status.
    pub fn entries(&self, tenant: TenantId, path: Option<&str>, status: Option<u16>) -> Vec<Entry> {
        let mut all: Vec<(u64, Entry)> = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).get(&tenant).into_iter().flatten().cloned());
        }
        all.sort_unstable_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
        all.truncate(LIMIT);
        all.into_iter()
            .map(|(_, entry)| entry)
            .filter(|e| path.is_none_or(|p| e.path.contains(p)))
            .filter(|e| status.is_none_or(|s| e.status == s))
            .collect()
    }

    pub fn reset(&self, tenant: TenantId) {
        for shard in self.shards.iter() {
            lock(shard).remove(&tenant);
        }
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
        let t = TenantId::from_index(0);
        for i in 0..(LIMIT + 5) {
            let path = format!("/api/{i}");
            let query = format!("page={i}");
            journal.record(
                t,
                Seen {
                    method: &axum::http::Method::GET,
                    path: &path,
                    query: (i % 2 == 0).then_some(query.as_str()),
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
        assert_eq!(
            entries[0].query.as_deref(),
            Some(format!("page={}", LIMIT + 4).as_str())
        );
        assert_eq!(entries[1].query, None);
        assert_eq!(entries[LIMIT - 1].path, "/api/5");
    }

    #[test]
    fn requests_journaled_from_many_threads_come_back_newest_first_and_bounded() {
        let journal = RequestJournal::default();
        let t = TenantId::from_index(0);
        let record = |i: usize| {
            let path = format!("/api/{i}");
            journal.record(
                t,
                Seen {
                    method: &axum::http::Method::GET,
                    path: &path,
                    query: None,
                    status: 200,
                    request_id: uuid::Uuid::nil(),
                    at: Utc::now(),
                    latency_ms: 0.0,
                },
            );
        };
        // Eight threads, one after another (each may land on its own shard), then this one.
        for batch in 0..8 {
            std::thread::scope(|scope| {
                scope.spawn(|| (0..LIMIT / 2).for_each(|i| record(batch * LIMIT + i)));
            });
        }
        record(9 * LIMIT);
        let entries = journal.entries(t, None, None);
        assert_eq!(entries.len(), LIMIT);
        assert_eq!(entries[0].path, format!("/api/{}", 9 * LIMIT));
        assert_eq!(
            entries[1].path,
            format!("/api/{}", 7 * LIMIT + LIMIT / 2 - 1)
        );
        assert_eq!(entries[LIMIT - 1].path, format!("/api/{}", 6 * LIMIT + 1));
        assert!(
            journal
                .entries(t, Some("/api/7"), None)
                .iter()
                .all(|e| e.path.starts_with("/api/7"))
        );
        journal.reset(t);
        assert!(journal.entries(t, None, None).is_empty());
    }
}
