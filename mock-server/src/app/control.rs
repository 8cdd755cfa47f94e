//! The control operations, written once for `/_mock/*`, the dashboard and the in-process
//! handle: reset, webhook settings, flush, redeliver, the virtual clock, link scenarios and
//! housekeeping. Each is one change through the writer.

use std::time::Duration;

use super::App;
use crate::clock::Clock;
use crate::db::{Durable, Write};
use crate::scenario::Scenario;
use crate::store::{Error, Link};
use crate::tenant::TenantId;
use crate::webhooks::{Delivery, WebhookConfig};

/// Sessions and links a housekeeping step removes at most: one step holds the tenant locks
/// (and, in memory, the main thread) for about a millisecond.
const SWEEP_STEP: usize = 1_000;
/// Scheduled refreshes per change: each renders a person, so fewer than sweep steps.
const REFRESH_STEP: usize = 100;

/// The meta row of the clock's offset.
const CLOCK_OFFSET: &str = "clock_offset_micros";

/// Sets the clock to the offset stored in `db`; refuses one past what timestamps can show.
pub(super) fn restore_clock(db: &Durable, clock: &Clock) -> Result<(), String> {
    let stored = db.meta(CLOCK_OFFSET).map_err(|e| e.to_string())?;
    let Some(offset) = stored.and_then(|v| v.parse::<u64>().ok()) else {
        return Ok(());
    };
    let by = Duration::from_micros(offset);
    if latest_advance(clock) < by {
        return Err(format!(
            "{}: the stored clock offset ({offset} µs) is past the year 9999; move the file away to start afresh",
            db.path().display()
        ));
    }
    clock.advance(by);
    Ok(())
}

/// How far the clock may still move: timestamps stay within the year 9999.
fn latest_advance(clock: &Clock) -> Duration {
    let limit = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    limit
        .and_then(|limit| (limit - clock.now()).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

impl App {
    /// Forgets the tenants' links, sessions, data, webhook deliveries and settings, and
    /// request log: memory and database in one change, so nothing committed meanwhile is
    /// half kept.
    pub fn reset_plan(
        &self,
        tenants: Vec<TenantId>,
    ) -> impl for<'s> FnOnce(&mut crate::store::Tx<'s>) -> Result<(), Error> + Send + 'static {
        // Clones of the parts, never of the app: the last handle on the app must not be
        // dropped on the writer thread (it would wait for itself).
        let journal = self.journal.clone();
        let requests = self.requests.clone();
        move |tx| {
            for tenant in tenants {
                tx.store().reset(tx, tenant);
                let journal = journal.clone();
                let requests = requests.clone();
                tx.after(Box::new(move || {
                    journal.reset(tenant);
                    requests.reset(tenant);
                }));
            }
            Ok(())
        }
    }

    pub async fn reset(&self, tenant: TenantId) -> Result<(), Error> {
        self.change(self.reset_plan(vec![tenant])).await
    }

    /// The tenants' webhook URL and Authorization.
    pub fn set_webhook_plan(
        &self,
        tenants: Vec<TenantId>,
        config: WebhookConfig,
    ) -> impl for<'s> FnOnce(&mut crate::store::Tx<'s>) -> Result<(), Error> + Send + 'static {
        let journal = self.journal.clone();
        move |tx| {
            for tenant in tenants {
                tx.persist(journal.config_row(tenant, &config));
                journal.plan_config(tenant, config.clone());
                let journal = journal.clone();
                let config = config.clone();
                tx.after(Box::new(move || journal.apply_config(tenant, config)));
            }
            Ok(())
        }
    }

    pub async fn set_webhook(&self, tenant: TenantId, config: WebhookConfig) -> Result<(), Error> {
        self.change(self.set_webhook_plan(vec![tenant], config))
            .await
    }

    /// Makes every pending delivery of `tenant` (or of all) due now. Returns how many.
    pub fn flush_plan(
        &self,
        tenant: Option<TenantId>,
    ) -> impl for<'s> FnOnce(&mut crate::store::Tx<'s>) -> Result<usize, Error> + Send + 'static
    {
        let journal = self.journal.clone();
        move |tx| {
            let due = journal.plan_flush(tenant);
            let count = due.len();
            updates(tx, &journal, due, |now| {
                now.status == crate::webhooks::DeliveryStatus::Pending
            });
            Ok(count)
        }
    }

    pub async fn flush(&self, tenant: Option<TenantId>) -> Result<usize, Error> {
        self.change(self.flush_plan(tenant)).await
    }

    /// Sends a finished delivery again, now; `NotFound` for another tenant's or no id.
    pub async fn redeliver(&self, tenant: TenantId, id: String) -> Result<Delivery, Error> {
        let journal = self.journal.clone();
        self.change(move |tx| {
            let (delivery, changes) = journal.plan_redeliver(tenant, &id).ok_or(Error::NotFound)?;
            if !changes {
                // A pending one is left as it is.
                return Ok(delivery);
            }
            updates(tx, &journal, vec![delivery.clone()], |now| {
                now.status.is_final()
            });
            Ok(delivery)
        })
        .await
    }

    /// Moves the virtual clock forward (and remembers the offset across restarts). An
    /// advance that would carry timestamps past the year 9999 is refused.
    pub fn advance_plan(
        &self,
        by: Duration,
    ) -> impl for<'s> FnOnce(&mut crate::store::Tx<'s>) -> Result<(), Error> + Send + 'static {
        let clock = self.clock.clone();
        move |tx| {
            // Earlier advances in the same transaction count: the clock moves at commit.
            let current = tx.planned_clock().unwrap_or_else(|| clock.offset());
            let room =
                latest_advance(&clock).saturating_sub(current.saturating_sub(clock.offset()));
            if by > room {
                return Err(Error::field(
                    "seconds",
                    "max_value",
                    format!(
                        "Ensure this value is less than or equal to {}.",
                        room.as_secs()
                    ),
                ));
            }
            let offset = current + by;
            tx.plan_clock(offset);
            tx.persist([Write::Meta(CLOCK_OFFSET, offset.as_micros().to_string())]);
            tx.after(Box::new(move || clock.advance(by)));
            Ok(())
        }
    }

    /// Moves the clock, then runs every scheduled refresh that fell due in the span (in
    /// order, each as of its own moment) before answering, so a caller sees their webhooks
    /// journaled once this returns.
    pub async fn advance_clock(&self, by: Duration) -> Result<(), Error> {
        self.change(self.advance_plan(by)).await?;
        self.refresh_due().await.map(|_| ())
    }

    /// [`App::advance_clock`] from a thread outside the runtime (the in-process handle).
    pub fn advance_clock_blocking(&self, by: Duration) -> Result<(), Error> {
        self.change_blocking(self.advance_plan(by))?;
        while self.change_blocking(|tx| Ok(refresh_step(tx)))?.1 {}
        Ok(())
    }

    /// Runs every scheduled refresh due by now, in steps (yielding between, like the sweep).
    /// Returns how many ran.
    pub async fn refresh_due(&self) -> Result<usize, Error> {
        self.in_steps(refresh_step).await
    }

    /// How the link's next login behaves (`None` clears it).
    pub async fn set_scenario(
        &self,
        tenant: TenantId,
        id: String,
        scenario: Option<Scenario>,
    ) -> Result<Link, Error> {
        self.change(move |tx| tx.store().set_link_scenario(tx, tenant, &id, scenario))
            .await
    }

    /// Housekeeping on the virtual clock (expired sessions, abandoned unconfirmed links).
    /// Returns how many links were forgotten.
    pub async fn sweep(&self) -> Result<usize, Error> {
        self.in_steps(|tx| tx.store().sweep(tx, SWEEP_STEP)).await
    }

    /// Runs `step` as one change after another until it says nothing more is due, yielding
    /// in between so the connections this thread serves go on (the accept loop, in memory).
    /// Returns how many items the steps handled.
    async fn in_steps(
        &self,
        step: for<'s> fn(&mut crate::store::Tx<'s>) -> (usize, bool),
    ) -> Result<usize, Error> {
        let mut done = 0;
        loop {
            let (n, more) = self.change(move |tx| Ok(step(tx))).await?;
            done += n;
            if !more {
                return Ok(done);
            }
            tokio::task::yield_now().await;
        }
    }
}

/// One change's worth of scheduled refreshes.
fn refresh_step(tx: &mut crate::store::Tx<'_>) -> (usize, bool) {
    tx.store().run_due(tx, REFRESH_STEP)
}

/// Persists planned delivery states and applies them once committed, while `still` holds
/// for each. Deliveries of a tenant this transaction resets are left out: the reset deletes
/// them.
fn updates(
    tx: &mut crate::store::Tx<'_>,
    journal: &crate::webhooks::Journal,
    planned: Vec<Delivery>,
    still: fn(&Delivery) -> bool,
) {
    let planned: Vec<Delivery> = planned
        .into_iter()
        .filter(|d| !tx.was_reset(d.tenant))
        .collect();
    if planned.is_empty() {
        return;
    }
    tx.persist(planned.iter().filter_map(|d| journal.row(d)));
    let journal = journal.clone();
    tx.after(Box::new(move || journal.apply_updates(planned, still)));
}
