//! The clock every time rule reads: real UTC time plus a virtual offset that only moves forward.
//!
//! Session expiry, the refresh cooldown, the delete rate limit and webhook delays and retries
//! all compare against [`Clock::now`], so tests and users can jump ahead with
//! `POST /_mock/clock/advance` instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::Notify;

/// A cheap, clonable handle on the shared clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the real time. Monotonic: only [`Clock::advance`] changes it.
    offset_micros: Arc<AtomicI64>,
    /// Woken on every advance, so timers on virtual time (webhook delays) re-check at once.
    advanced: Arc<Notify>,
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::microseconds(self.offset_micros.load(Ordering::SeqCst))
    }

    /// Moves virtual time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                Some(cur.saturating_add(micros))
            })
            .ok();
        self.advanced.notify_waiters();
    }

    /// Notified on every [`Clock::advance`] (register interest with `notified()` first).
    pub fn advanced(&self) -> &Notify {
        &self.advanced
    }

    /// How long, in real time, until virtual time reaches `at` (zero if it has).
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }

    /// How far virtual time is ahead of real time.
    pub fn offset(&self) -> Duration {
        Duration::from_micros(self.offset_micros.load(Ordering::SeqCst).max(0) as u64)
    }
}

/// Belvo's timestamp format: RFC 3339, UTC, microseconds, `Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_the_amount() {
        let clock = Clock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after - before >= chrono::Duration::seconds(3600));
        assert_eq!(clock.offset(), Duration::from_secs(3600));
    }

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2022-02-09T08:45:50.406032Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            t.map(format_timestamp).as_deref(),
            Some("2022-02-09T08:45:50.406032Z")
        );
    }
}
