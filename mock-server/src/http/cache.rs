//! Rendered bodies of data reads (owners and employments lists and details), kept per
//! tenant, request URI and origin, and valid while the tenant's data version is unchanged.
//! Apps poll these endpoints; serving the same bytes again costs no rendering.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::store::TenantId;

/// Entries kept at most.
const MAX_ENTRIES: usize = 1024;
/// Bytes kept at most.
const MAX_BYTES: usize = 32 * 1024 * 1024;

type Key = (TenantId, String, String);

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, (u64, Bytes)>,
    order: VecDeque<Key>,
    bytes: usize,
}

#[derive(Clone, Debug, Default)]
pub struct BodyCache {
    state: Arc<Mutex<State>>,
}

impl BodyCache {
    /// The body cached for this request, if it was rendered at `version`.
    pub fn get(&self, tenant: TenantId, uri: &str, origin: &str, version: u64) -> Option<Bytes> {
        let state = self.state.lock().ok()?;
        let key = (tenant, uri.to_owned(), origin.to_owned());
        match state.entries.get(&key) {
            Some((v, body)) if *v == version => Some(body.clone()),
            _ => None,
        }
    }

    /// Keeps `body`, dropping the oldest entries past the bounds.
    pub fn put(&self, tenant: TenantId, uri: &str, origin: &str, version: u64, body: Bytes) {
        if body.len() > MAX_BYTES / 8 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = (tenant, uri.to_owned(), origin.to_owned());
        state.bytes += body.len();
        match state.entries.insert(key.clone(), (version, body)) {
            Some((_, old)) => state.bytes -= old.len(),
            None => state.order.push_back(key),
        }
        while state.entries.len() > MAX_ENTRIES || state.bytes > MAX_BYTES {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            if let Some((_, old)) = state.entries.remove(&oldest) {
                state.bytes -= old.len();
            }
        }
    }
}
