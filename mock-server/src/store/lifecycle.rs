//! The link operations: register (valid, or unconfirmed with a 428), resume with a token,
//! modify, new credentials, delete (sync, rate-limited; or async with a webhook), refresh
//! (with its cooldown) and the control plane's scenario. Each validates, then plans its
//! change into the writer's transaction; a refused request plans nothing.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::Error;
use super::links::{self, AccessMode, Link, LinkStatus, NewLink, Options, Resume};
use super::sessions::Login;
use super::state::Op;
use super::tx::Tx;
use super::{Store, parse_id};
use crate::event::{Notice, Resource};
use crate::scenario::Scenario;
use crate::tenant::TenantId;

/// Sync link deletions allowed per tenant in a rolling minute before Belvo answers 429.
const SYNC_DELETES_PER_MINUTE: usize = 5;
/// Cooldown between two refreshes of one link.
const REFRESH_COOLDOWN_SECS: i64 = 600;

impl Store {
    /// `POST /api/links/`: validates, logs in (scenarios), then stores either a `valid` link
    /// (fetched, announced) or an `unconfirmed` one with an MFA session.
    pub fn create_link(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Login<Link>, Error> {
        let mut request = NewLink::validate(body)?;
        // A password scenario wins; otherwise the CPF's fixture file may name one.
        request.scenario = request
            .scenario
            .or_else(|| self.inner.generator.scenario(&request.cpf));
        if let Some(error) = request.scenario.and_then(links::login_error) {
            return Err(error);
        }
        let needs_token = self.needs_token(request.scenario);
        let status = if needs_token {
            LinkStatus::Unconfirmed
        } else {
            LinkStatus::Valid
        };
        let now = self.clock().now();
        if needs_token {
            self.make_room_for_unconfirmed(tx, tenant);
        }
        let user = self.inner.tenants[tenant.index()].user;
        let seq = tx.state(tenant).next_seq;
        tx.apply(tenant, Op::NextSeq(seq + 1));
        let link = request.into_link(Uuid::new_v4(), user, now, status, seq);
        tx.apply(tenant, Op::Link(link.id, Some(Box::new(link.clone()))));
        if needs_token {
            return Ok(Login::TokenRequired(self.open_session(tx, tenant, link.id)));
        }
        let resources = link.resources();
        self.fetch(tx, tenant, &link, &resources, now);
        self.announce_update(tx, tenant, &link, &resources, request_id);
        Ok(Login::Done(link))
    }

    /// Forgets the oldest unconfirmed links (with their sessions) while the tenant holds as
    /// many as it may keep: the newest registration always gets its 428.
    fn make_room_for_unconfirmed(&self, tx: &mut Tx<'_>, tenant: TenantId) {
        let state = tx.state(tenant);
        let excess = (state.unconfirmed.len() + 1).saturating_sub(self.inner.max_unconfirmed);
        let oldest: Vec<Uuid> = state
            .unconfirmed
            .iter()
            .take(excess)
            .map(|(_, id)| *id)
            .collect();
        for id in oldest {
            let sessions: Vec<String> = tx
                .state(tenant)
                .sessions_of(id)
                .map(|(sid, _)| sid.clone())
                .collect();
            for session in sessions {
                tx.apply(tenant, Op::Session(session, None));
            }
            tx.apply(tenant, Op::Link(id, None));
            tx.apply(tenant, Op::Data(id, None));
        }
    }

    /// `PATCH /api/links/`: completes a login paused by a 428.
    pub fn resume_link(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Login<Link>, Error> {
        let request = Resume::validate(body)?;
        let link = tx.state(tenant).link(request.link)?.clone();
        if let Login::TokenRequired(challenge) = self.use_session(tx, tenant, &request)? {
            return Ok(Login::TokenRequired(challenge));
        }
        Ok(Login::Done(self.log_in(tx, tenant, link, request_id)))
    }

    /// `PATCH /api/links/{id}/`: access mode, retention, resources.
    pub fn update_link_options(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<Link, Error> {
        let id = parse_id(id)?;
        let options = Options::validate(body)?;
        let mut link = tx.state(tenant).link(id)?.clone();
        if link.status == LinkStatus::Unconfirmed {
            return Err(Error::UnconfirmedLink);
        }
        let was = link.access_mode;
        options.apply(&mut link)?;
        // Spec 1.223: a link switched from single to recurrent gets a historical update the
        // next day, then follows the schedule; switched back, it leaves it.
        link.historical_due = match (was, link.access_mode) {
            (AccessMode::Single, AccessMode::Recurrent) => self
                .clock()
                .now()
                .checked_add_signed(chrono::Duration::days(1)),
            (_, AccessMode::Single) => None,
            _ => link.historical_due,
        };
        tx.apply(tenant, Op::Link(id, Some(Box::new(link.clone()))));
        Ok(link)
    }

    /// `PUT /api/links/{id}/`: new credentials, i.e. a new login (which may ask for a token).
    pub fn update_link_credentials(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Login<Link>, Error> {
        let id = parse_id(id)?;
        let scenario = links::validate_credentials(body)?;
        let mut link = tx.state(tenant).link(id)?.clone();
        let scenario = scenario.or_else(|| self.inner.generator.scenario(&link.cpf));
        if let Some(error) = scenario.and_then(links::login_error) {
            return Err(error);
        }
        link.scenario = scenario;
        if self.needs_token(link.scenario) {
            tx.apply(tenant, Op::Link(id, Some(Box::new(link))));
            return Ok(Login::TokenRequired(self.open_session(tx, tenant, id)));
        }
        Ok(Login::Done(self.log_in(tx, tenant, link, request_id)))
    }

    /// `DELETE /api/links/{id}/`: removes the link and its data (its sessions stay until
    /// they expire: a resume checks the link first, 404). Sync deletions are limited to five
    /// a minute per tenant, as in Belvo; an async one is announced by a webhook.
    pub fn delete_link(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        asynchronous: bool,
        request_id: Uuid,
    ) -> Result<(), Error> {
        let id = parse_id(id)?;
        let now = self.clock().now();
        let link = tx.state(tenant).link(id)?.clone();
        if !asynchronous {
            let window = chrono::Duration::seconds(60);
            let mut recent = tx.state(tenant).sync_deletes.clone();
            while recent.front().is_some_and(|t| *t + window <= now) {
                recent.pop_front();
            }
            if recent.len() >= SYNC_DELETES_PER_MINUTE {
                let oldest = recent.front().copied().unwrap_or(now);
                let wait = oldest + window - now;
                let seconds = (wait.num_milliseconds() + 999) / 1000;
                return Err(Error::Throttled {
                    seconds: seconds.max(1),
                });
            }
            recent.push_back(now);
            tx.apply(tenant, Op::SyncDeletes(recent));
        }
        tx.apply(tenant, Op::Link(id, None));
        tx.apply(tenant, Op::Data(id, None));
        if asynchronous {
            tx.emit(tenant, link.event(request_id, Notice::LinkDeleted));
        }
        Ok(())
    }

    /// `POST /api/links/{id}/refresh/`: at most once every ten minutes per link. Returns the
    /// resources refreshed.
    pub fn refresh_link(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Vec<Resource>, Error> {
        let id = parse_id(id)?;
        let resources = links::validate_refresh(body)?;
        let now = self.clock().now();
        let mut link = tx.state(tenant).link(id)?.clone();
        match link.status {
            LinkStatus::Unconfirmed => return Err(Error::UnconfirmedLink),
            LinkStatus::Invalid | LinkStatus::TokenRequired => return Err(Error::InvalidLink),
            LinkStatus::Valid => {}
        }
        if let Some(last) = link.last_refresh_at {
            let left = last + chrono::Duration::seconds(REFRESH_COOLDOWN_SECS) - now;
            if left > chrono::Duration::zero() {
                let minutes = (left.num_seconds() + 59) / 60;
                return Err(Error::LinkRefreshed {
                    minutes: minutes.max(1),
                });
            }
        }
        link.last_refresh_at = Some(now);
        // The refresh logs in again: credentials that stopped working invalidate the link
        // (or the institution wants a new token), and Belvo tells by a LINK webhook instead
        // of an error (the refresh is asynchronous).
        if self.login_fails(tx, tenant, &mut link, now, request_id, "refresh") {
            return Ok(resources);
        }
        link.last_accessed_at = Some(now);
        tx.apply(tenant, Op::Link(id, Some(Box::new(link.clone()))));
        self.fetch(tx, tenant, &link, &resources, now);
        self.announce_update(tx, tenant, &link, &resources, request_id);
        Ok(resources)
    }

    /// Control plane: makes the link's next login behave as `scenario` (e.g. `mock:invalid`
    /// simulates the user changing their INSS password); `None` clears it. Its data is
    /// rendered from the scenario (`mock:no-data`), so this is a change like any other.
    pub fn set_link_scenario(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        scenario: Option<Scenario>,
    ) -> Result<Link, Error> {
        let id = parse_id(id)?;
        let mut link = tx.state(tenant).link(id)?.clone();
        link.scenario = scenario;
        tx.apply(tenant, Op::Link(id, Some(Box::new(link.clone()))));
        Ok(link)
    }

    /// A login that went through: the link is `valid`, accessed now, and its resources are
    /// fetched and announced (a historical update).
    fn log_in(&self, tx: &mut Tx<'_>, tenant: TenantId, mut link: Link, request_id: Uuid) -> Link {
        let now = self.clock().now();
        if link.status != LinkStatus::Valid {
            link.set_status(LinkStatus::Valid, now, "login");
        }
        link.last_accessed_at = Some(now);
        link.historical_due = None;
        tx.apply(tenant, Op::Link(link.id, Some(Box::new(link.clone()))));
        let resources = link.resources();
        self.fetch(tx, tenant, &link, &resources, now);
        self.announce_update(tx, tenant, &link, &resources, request_id);
        link
    }

    /// Announces a historical update of `resources`: one webhook per resource whose totals
    /// are what the list endpoints return once the change is committed.
    pub(super) fn announce_update(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: &Link,
        resources: &[Resource],
        request_id: Uuid,
    ) {
        for &resource in resources {
            let data = tx.state(tenant).data.get(&link.id);
            let total = match resource {
                Resource::Owners => data.and_then(|d| d.owners.as_ref()).map_or(0, Vec::len),
                Resource::Employments => data
                    .and_then(|d| d.employments.as_ref())
                    .map_or(0, Vec::len),
            };
            tx.emit(
                tenant,
                link.event(request_id, Notice::HistoricalUpdate { resource, total }),
            );
        }
    }
}
