//! The open connections and the cap on them. At the cap a new connection is admitted by
//! closing the one idle longest (waiting for headers, a stalled body or an unread answer), so
//! a flood of idle or slow connections cannot lock fresh clients out; only when every open
//! connection is being answered does a new one wait.

use std::sync::{Arc, Mutex, PoisonError};

use slab::Slab;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::watchdog::Activity;

/// The open connections, shared by the accept loop and the connections themselves.
#[derive(Debug)]
pub struct Registry {
    open: Mutex<Slab<Entry>>,
    permits: Arc<Semaphore>,
}

/// One open connection and its permit (taken away when it is evicted: the permit passes to
/// the connection admitted in its place at once, while the evicted one closes).
#[derive(Debug)]
struct Entry {
    activity: Arc<Activity>,
    permit: Option<OwnedSemaphorePermit>,
}

/// A connection's place in the registry; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    key: usize,
}

impl Registry {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Slab::with_capacity(cap.min(4096))),
            permits: Arc::new(Semaphore::new(cap.max(1))),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Slab<Entry>> {
        // A slab of handles stays consistent whatever a panicking holder was doing.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection just accepted: at once if the cap allows or a connection can
    /// be evicted for it (the idlest), else once one closes (every one is being answered).
    /// `None` when the registry is closed.
    pub async fn admit(self: &Arc<Self>, activity: Arc<Activity>) -> Option<Slot> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => match self.evict_idlest() {
                Some(permit) => permit,
                None => Arc::clone(&self.permits).acquire_owned().await.ok()?,
            },
        };
        let key = self.open().insert(Entry {
            activity,
            permit: Some(permit),
        });
        Some(Slot {
            registry: Arc::clone(self),
            key,
        })
    }

    /// Tells the connection idle longest to close and takes its permit, if any connection
    /// may be closed. Not waiting for it to close keeps a flood's churn off the accept loop:
    /// the evicted connection is gone a moment later, on its own thread.
    fn evict_idlest(&self) -> Option<OwnedSemaphorePermit> {
        let mut open = self.open();
        let key = open
            .iter()
            .filter(|(_, entry)| entry.permit.is_some())
            .filter_map(|(key, entry)| Some((entry.activity.idle_since()?, key)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, key)| key)?;
        let entry = open.get_mut(key)?;
        tracing::debug!("connection cap reached: closing the idlest connection");
        entry.activity.evict();
        entry.permit.take()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.open().try_remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_connection_idle_longest_is_evicted_to_admit_a_new_one() {
        let registry = Registry::new(2);
        let oldest = Arc::new(Activity::new());
        let _first = registry.admit(Arc::clone(&oldest)).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let newer = Arc::new(Activity::new());
        let _second = registry.admit(Arc::clone(&newer)).await;
        // Full: the third is admitted at once with the oldest's permit.
        let third = tokio::time::timeout(
            Duration::from_millis(10),
            registry.admit(Arc::new(Activity::new())),
        );
        let third = third.await;
        assert!(matches!(&third, Ok(Some(_))), "admitted at once");
        assert_eq!(oldest.idle_since(), None, "the oldest was evicted");
        assert!(newer.idle_since().is_some(), "the newer one was not");
        assert_eq!(
            registry.permits.available_permits(),
            0,
            "still two permits out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_connection_is_being_answered_a_new_one_waits_for_a_slot() {
        let registry = Registry::new(1);
        let busy = Arc::new(Activity::new());
        busy.enter_handling_for_tests();
        let first = registry.admit(busy).await;
        let second = registry.admit(Arc::new(Activity::new()));
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), &mut second)
                .await
                .is_err(),
            "no connection may be evicted"
        );
        drop(first);
        assert!(second.await.is_some(), "admitted once the busy one closed");
    }
}
