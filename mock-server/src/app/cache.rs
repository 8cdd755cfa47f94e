//! Rendered bodies of data reads (owners and employments lists and details), kept per
//! tenant, request target and origin, and valid while the tenant's data version is unchanged.
//! Apps poll these endpoints; serving the same bytes again costs no rendering, and the request
//! front ([`super::service`]) answers such a poll without entering the router.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri, header};

use crate::tenant::TenantId;

/// Entries kept at most.
const MAX_ENTRIES: usize = 1024;
/// Bytes kept at most.
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What a cached body is filed under besides the tenant: the request target (path and query)
/// and the origin its absolute URLs were built on. Borrowed from the request, so a lookup
/// allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadKey<'a> {
    pub target: &'a str,
    pub origin: &'a str,
}

impl<'a> ReadKey<'a> {
    /// The key of a request. `public_url` decides the origin when set (then the Host header
    /// does not matter); otherwise it is the host, as [`super::context::Origin`] builds it.
    pub fn of(public_url: Option<&'a str>, headers: &'a HeaderMap, uri: &'a Uri) -> Self {
        Self {
            target: uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()),
            origin: public_url.unwrap_or_else(|| request_host(headers, uri)),
        }
    }
}

/// The host absolute URLs are built on: the Host header, else the URI's authority.
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> &'a str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("127.0.0.1")
}

#[derive(Debug)]
struct Entry {
    tenant: TenantId,
    target: Box<str>,
    origin: Box<str>,
    version: u64,
    body: Bytes,
}

impl Entry {
    fn is(&self, tenant: TenantId, key: ReadKey<'_>) -> bool {
        self.tenant == tenant && *self.target == *key.target && *self.origin == *key.origin
    }
}

/// Entries by the hash of their key; two keys with one hash take turns in the slot.
#[derive(Debug, Default)]
struct State {
    entries: HashMap<u64, Entry>,
    order: VecDeque<u64>,
    bytes: usize,
}

#[derive(Clone, Debug, Default)]
pub struct BodyCache {
    hasher: RandomState,
    state: Arc<Mutex<State>>,
}

impl BodyCache {
    fn slot(&self, tenant: TenantId, key: ReadKey<'_>) -> u64 {
        self.hasher.hash_one((tenant, key.target, key.origin))
    }

    /// The body cached for this request, if it was rendered at `version`.
    pub fn get(&self, tenant: TenantId, key: ReadKey<'_>, version: u64) -> Option<Bytes> {
        let slot = self.slot(tenant, key);
        let state = self.state.lock().ok()?;
        match state.entries.get(&slot) {
            Some(entry) if entry.version == version && entry.is(tenant, key) => {
                Some(entry.body.clone())
            }
            _ => None,
        }
    }

    /// Keeps `body`, dropping the oldest entries past the bounds.
    pub fn put(&self, tenant: TenantId, key: ReadKey<'_>, version: u64, body: Bytes) {
        if body.len() > MAX_BYTES / 8 {
            return;
        }
        let slot = self.slot(tenant, key);
        let entry = Entry {
            tenant,
            target: key.target.into(),
            origin: key.origin.into(),
            version,
            body,
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.bytes += entry.body.len();
        match state.entries.insert(slot, entry) {
            Some(old) => state.bytes -= old.body.len(),
            None => state.order.push_back(slot),
        }
        while state.entries.len() > MAX_ENTRIES || state.bytes > MAX_BYTES {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            if let Some(old) = state.entries.remove(&oldest) {
                state.bytes -= old.body.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(target: &'a str, origin: &'a str) -> ReadKey<'a> {
        ReadKey { target, origin }
    }

    #[test]
    fn a_body_is_served_only_for_its_tenant_target_origin_and_version() {
        let cache = BodyCache::default();
        let body = Bytes::from_static(b"[]");
        cache.put(
            TenantId::from_index(0),
            key("/api/owners/?link=a", "h:1"),
            3,
            body.clone(),
        );
        assert_eq!(
            cache.get(
                TenantId::from_index(0),
                key("/api/owners/?link=a", "h:1"),
                3
            ),
            Some(body)
        );
        assert_eq!(
            cache.get(
                TenantId::from_index(1),
                key("/api/owners/?link=a", "h:1"),
                3
            ),
            None
        );
        assert_eq!(
            cache.get(
                TenantId::from_index(0),
                key("/api/owners/?link=b", "h:1"),
                3
            ),
            None
        );
        assert_eq!(
            cache.get(
                TenantId::from_index(0),
                key("/api/owners/?link=a", "h:2"),
                3
            ),
            None
        );
        assert_eq!(
            cache.get(
                TenantId::from_index(0),
                key("/api/owners/?link=a", "h:1"),
                4
            ),
            None
        );
    }

    #[test]
    fn the_oldest_entries_go_past_the_entry_bound() {
        let cache = BodyCache::default();
        let targets: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("/api/owners/{i}/"))
            .collect();
        for target in &targets {
            cache.put(
                TenantId::from_index(0),
                key(target, "h"),
                1,
                Bytes::from_static(b"{}"),
            );
        }
        assert_eq!(
            cache.get(TenantId::from_index(0), key(&targets[0], "h"), 1),
            None
        );
        assert!(
            cache
                .get(TenantId::from_index(0), key(&targets[MAX_ENTRIES], "h"), 1)
                .is_some()
        );
    }

    #[test]
    fn the_host_is_the_header_then_the_authority() {
        let mut headers = HeaderMap::new();
        let uri: Uri = "http://auth.example:9/api/".parse().expect("a valid URI");
        assert_eq!(request_host(&headers, &uri), "auth.example:9");
        headers.insert(header::HOST, "h.example".parse().expect("a valid header"));
        assert_eq!(request_host(&headers, &uri), "h.example");
        assert_eq!(
            request_host(&HeaderMap::new(), &Uri::from_static("/x")),
            "127.0.0.1"
        );
    }
}
