//! Scheduled refreshes of recurrent links on the virtual clock: every `valid` recurrent link
//! is refreshed at its `refresh_rate` after its last update, each refresh as of the moment it
//! fell due, earliest first. A refresh logs in again (the link's scenario may now fail it:
//! `invalid_credentials`, or `token_required`), collects the data anew and announces what is
//! new (`new_owners_available`, `new_employments_available`); a link just switched from
//! single to recurrent gets its historical update instead.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;
use super::links::{self, Link, LinkStatus, Scenario};
use super::state::Op;
use super::tx::Tx;
use crate::event::Notice;
use crate::tenant::TenantId;

impl Store {
    /// Runs at most `budget` of the refreshes due by now, earliest first. Returns how many
    /// ran and whether more are due.
    pub fn run_due(&self, tx: &mut Tx<'_>, budget: usize) -> (usize, bool) {
        let now = self.clock().now();
        let mut ran = 0;
        loop {
            let next = self
                .tenants()
                .filter_map(|t| {
                    let (at, id) = *tx.state(t).due.first()?;
                    (at <= now).then_some((at, t, id))
                })
                .min();
            let Some((at, tenant, id)) = next else {
                return (ran, false);
            };
            if ran >= budget.max(1) {
                return (ran, true);
            }
            self.scheduled_refresh(tx, tenant, id, at);
            ran += 1;
        }
    }

    /// One scheduled refresh of link `id`, as of `at`. Always moves the link off `at`: to
    /// its next due time, or out of the schedule when it stops being `valid`.
    fn scheduled_refresh(&self, tx: &mut Tx<'_>, tenant: TenantId, id: Uuid, at: DateTime<Utc>) {
        let Ok(link) = tx.state(tenant).link(id) else {
            return;
        };
        let mut link = link.clone();
        // No request caused it: each refresh has an id of its own.
        let request_id = Uuid::new_v4();
        let resources = link.resources();
        if link.historical_due.take().is_some() {
            link.last_accessed_at = Some(at);
            tx.apply(tenant, Op::Link(id, Some(Box::new(link.clone()))));
            self.fetch(tx, tenant, &link, &resources, at);
            self.announce_update(tx, tenant, &link, &resources, request_id);
            return;
        }
        if self.login_fails(tx, tenant, &mut link, at, request_id, "scheduled refresh") {
            return;
        }
        link.last_accessed_at = Some(at);
        tx.apply(tenant, Op::Link(id, Some(Box::new(link.clone()))));
        for (resource, count) in self.refetch(tx, tenant, &link, &resources, at) {
            if count > 0 {
                tx.emit(
                    tenant,
                    link.event(request_id, Notice::NewRecords { resource, count }),
                );
            }
        }
    }

    /// A refresh's login, failing as the link's scenario says: the link becomes `invalid`
    /// (`LINK` `invalid_credentials`, with the login error) or `token_required` (`LINK`
    /// `token_required`), stored with its webhook. `false` when the login goes through.
    pub(super) fn login_fails(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: &mut Link,
        at: DateTime<Utc>,
        request_id: Uuid,
        by: &str,
    ) -> bool {
        let (status, notice) = match link.scenario {
            Some(Scenario::TokenRequired) => (LinkStatus::TokenRequired, Notice::TokenRequired),
            scenario => {
                let Some(error) = scenario.and_then(links::login_error) else {
                    return false;
                };
                let (code, message) = error
                    .elements()
                    .first()
                    .map(|(_, code, message)| (*code, message.clone()))
                    .unwrap_or(("login_error", String::new()));
                let notice = Notice::InvalidCredentials {
                    code,
                    message,
                    status: error.status(),
                };
                (LinkStatus::Invalid, notice)
            }
        };
        let event = link.event(request_id, notice);
        link.set_status(status, at, &format!("{by}: {}", event.webhook_code()));
        tx.apply(tenant, Op::Link(link.id, Some(Box::new(link.clone()))));
        tx.emit(tenant, event);
        true
    }
}
