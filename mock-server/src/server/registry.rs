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
    open: Mutex<Slab<Arc<Activity>>>,
    permits: Arc<Semaphore>,
}

/// A connection's place in the registry; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    key: usize,
    _permit: OwnedSemaphorePermit,
}

impl Registry {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Slab::with_capacity(cap.min(4096))),
            permits: Arc::new(Semaphore::new(cap.max(1))),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Slab<Arc<Activity>>> {
        // A slab of handles stays consistent whatever a panicking holder was doing.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection just accepted: at once if the cap allows, else after evicting
    /// the idlest connection (or, when every one is busy, once one closes). `None` when the
    /// registry is closed.
    pub async fn admit(self: &Arc<Self>, activity: Arc<Activity>) -> Option<Slot> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if let Some(idlest) = self.idlest() {
                    tracing::debug!("connection cap reached: closing the idlest connection");
                    idlest.evict();
                }
                Arc::clone(&self.permits).acquire_owned().await.ok()?
            }
        };
        let key = self.open().insert(activity);
        Some(Slot {
            registry: Arc::clone(self),
            key,
            _permit: permit,
        })
    }

    /// The connection idle longest, if any may be closed.
    fn idlest(&self) -> Option<Arc<Activity>> {
        self.open()
            .iter()
            .filter_map(|(_, activity)| Some((activity.idle_since()?, activity)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, activity)| Arc::clone(activity))
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
        let first = registry.admit(Arc::clone(&oldest)).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let newer = Arc::new(Activity::new());
        let _second = registry.admit(Arc::clone(&newer)).await;
        // Full: the third waits, and the oldest has been told to close.
        let third = registry.admit(Arc::new(Activity::new()));
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), &mut third)
                .await
                .is_err()
        );
        assert_eq!(oldest.idle_since(), None, "the oldest was evicted");
        assert!(newer.idle_since().is_some(), "the newer one was not");
        drop(first);
        assert!(
            third.await.is_some(),
            "admitted once the evicted one closed"
        );
    }
}
