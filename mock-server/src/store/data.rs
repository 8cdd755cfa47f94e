//! Owners and employments: fetching them for a link (a historical update), the records as
//! rendered from (seed, CPF, day), their lists and details, deletes, and the retrieve
//! endpoints (`POST`/`PATCH /api/owners/`, `POST /api/br/employments/`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{Error, LoginFailure};
use super::links::{Link, LinkStatus, Resume, WRONG_TOKEN};
use super::records::{
    self, EmploymentRecord, EmploymentsRetrieve, Fetched, LinkData, OwnerRecord, OwnersRetrieve,
    record_id,
};
use super::sessions::Login;
use super::state::{Op, TenantState};
use super::tx::Tx;
use super::{PEOPLE_CACHE, Params, Store, fields, parse_id, query};
use crate::event::{Notice, Resource};
use crate::fixtures::Person;
use crate::scenario::Scenario;
use crate::tenant::TenantId;

/// Which of a link's lists a record belongs to.
fn list_of(data: &LinkData, resource: Resource) -> &Option<Vec<Fetched>> {
    match resource {
        Resource::Owners => &data.owners,
        Resource::Employments => &data.employments,
    }
}

impl Store {
    /// The person behind a link as of `today` (fixtures applied, `mock:no-data` honoured).
    fn person(&self, link: &Link, today: chrono::NaiveDate) -> Arc<Person> {
        let no_data = link.scenario == Some(Scenario::NoData);
        let key = (link.cpf.clone(), today, no_data);
        if let Some(person) = self
            .inner
            .people
            .lock()
            .ok()
            .and_then(|people| people.get(&key).cloned())
        {
            return person;
        }
        let mut person = self.inner.generator.person(&link.cpf, today);
        if no_data {
            person.employments.clear();
        }
        let person = Arc::new(person);
        if let Ok(mut people) = self.inner.people.lock() {
            if people.len() >= PEOPLE_CACHE {
                people.clear();
            }
            people.insert(key, Arc::clone(&person));
        }
        person
    }

    fn fetched_owners(link: &Link, now: DateTime<Utc>) -> Vec<Fetched> {
        vec![Fetched {
            index: 0,
            id: record_id(link.id, "owner", 0),
            collected_at: now,
            created_at: None,
        }]
    }

    fn fetched_employments(link: &Link, person: &Person, now: DateTime<Utc>) -> Vec<Fetched> {
        (0..person.employments.len())
            .map(|index| Fetched {
                index,
                id: record_id(link.id, "employment", index),
                collected_at: now,
                created_at: None,
            })
            .collect()
    }

    fn owner_record(&self, link: &Link, fetched: &Fetched) -> OwnerRecord {
        let person = self.person(link, fetched.collected_at.date_naive());
        OwnerRecord {
            id: fetched.id,
            link: link.id,
            collected_at: fetched.collected_at,
            created_at: fetched.created_at(),
            cpf: link.cpf.clone(),
            owner: person.owner.clone(),
        }
    }

    fn employment_record(&self, link: &Link, fetched: &Fetched) -> Option<EmploymentRecord> {
        let person = self.person(link, fetched.collected_at.date_naive());
        Some(EmploymentRecord {
            id: fetched.id,
            link: link.id,
            collected_at: fetched.collected_at,
            created_at: fetched.created_at(),
            employment: person.employments.get(fetched.index)?.clone(),
        })
    }

    /// One fetched record of `resource` as Belvo renders it (`None`: the person no longer has
    /// that employment).
    fn render(&self, resource: Resource, link: &Link, fetched: &Fetched) -> Option<Value> {
        match resource {
            Resource::Owners => Some(self.owner_record(link, fetched).to_json()),
            Resource::Employments => self.employment_record(link, fetched).map(|r| r.to_json()),
        }
    }

    /// The rendered records of `resource` of one stored link.
    fn records_json(&self, state: &TenantState, link: &Link, resource: Resource) -> Vec<Value> {
        state
            .data
            .get(&link.id)
            .and_then(|d| list_of(d, resource).as_ref())
            .into_iter()
            .flatten()
            .filter_map(|f| self.render(resource, link, f))
            .collect()
    }

    /// A historical update: fetches `resources` of the link from the "institution" and
    /// stores them, replacing what was there.
    pub(super) fn fetch(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: &Link,
        resources: &[Resource],
        now: DateTime<Utc>,
    ) {
        let mut data = tx
            .state(tenant)
            .data
            .get(&link.id)
            .cloned()
            .unwrap_or_default();
        if resources.contains(&Resource::Owners) {
            data.owners = Some(Self::fetched_owners(link, now));
        }
        if resources.contains(&Resource::Employments) {
            let person = self.person(link, now.date_naive());
            data.employments = Some(Self::fetched_employments(link, &person, now));
        }
        tx.apply(tenant, Op::Data(link.id, Some(data)));
    }

    /// A scheduled refresh's fetch, as of `at`: every record is collected anew; one whose
    /// content is what it was keeps its `created_at`, one that was not there before or
    /// changed (a salary month more, an end date) is new, created `at`. Returns how many of
    /// each resource are new: what `created_at__range=<that day>` lists.
    pub(super) fn refetch(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: &Link,
        resources: &[Resource],
        at: DateTime<Utc>,
    ) -> Vec<(Resource, usize)> {
        let before = tx
            .state(tenant)
            .data
            .get(&link.id)
            .cloned()
            .unwrap_or_default();
        let mut data = before.clone();
        let mut news = Vec::new();
        for &resource in resources {
            let (previous, fresh) = match resource {
                Resource::Owners => (before.owners.as_deref(), Self::fetched_owners(link, at)),
                Resource::Employments => {
                    let person = self.person(link, at.date_naive());
                    let fresh = Self::fetched_employments(link, &person, at);
                    (before.employments.as_deref(), fresh)
                }
            };
            let mut new = 0;
            let merged: Vec<Fetched> = fresh
                .into_iter()
                .map(|mut record| {
                    let old = previous
                        .unwrap_or_default()
                        .iter()
                        .find(|old| old.id == record.id);
                    let unchanged = old.is_some_and(|old| {
                        self.content(resource, link, old) == self.content(resource, link, &record)
                    });
                    record.created_at = match old {
                        Some(old) if unchanged => Some(old.created_at()),
                        _ => {
                            new += 1;
                            Some(at)
                        }
                    };
                    record
                })
                .collect();
            match resource {
                Resource::Owners => data.owners = Some(merged),
                Resource::Employments => data.employments = Some(merged),
            }
            news.push((resource, new));
        }
        tx.apply(tenant, Op::Data(link.id, Some(data)));
        news
    }

    /// A record's content without its collection times, for telling what changed.
    fn content(&self, resource: Resource, link: &Link, fetched: &Fetched) -> Option<Value> {
        let mut record = self.render(resource, link, fetched)?;
        if let Some(fields) = record.as_object_mut() {
            fields.remove("created_at");
            fields.remove("collected_at");
        }
        Some(record)
    }

    /// Stores employments of a link: each replaces the one with its id, the rest stay.
    fn store_employments(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: Uuid,
        employments: Vec<Fetched>,
    ) {
        let mut data = tx
            .state(tenant)
            .data
            .get(&link)
            .cloned()
            .unwrap_or_default();
        let stored = data.employments.get_or_insert_with(Vec::new);
        for record in employments {
            match stored.iter_mut().find(|r| r.id == record.id) {
                Some(existing) => *existing = record,
                None => stored.push(record),
            }
        }
        stored.sort_by_key(|r| r.index);
        tx.apply(tenant, Op::Data(link, Some(data)));
    }

    /// The link a data request names, usable for data: unconfirmed links are refused.
    fn data_link(state: &TenantState, id: Uuid) -> Result<Link, Error> {
        let link = state.link(id)?;
        if link.status == LinkStatus::Unconfirmed {
            return Err(Error::UnconfirmedLink);
        }
        Ok(link.clone())
    }

    /// Refuses `link=` naming an unconfirmed link; an unknown or deleted one just lists nothing.
    fn check_listed_link(state: &TenantState, params: &Params) -> Result<(), Error> {
        if let Some(id) = params
            .get("link")
            .and_then(|l| Uuid::try_parse(l.trim()).ok())
            && state
                .links
                .get(&id)
                .is_some_and(|l| l.status == LinkStatus::Unconfirmed)
        {
            return Err(Error::UnconfirmedLink);
        }
        Ok(())
    }

    /// The list of `resource` (`GET /api/owners/`, `GET /api/br/employments/`).
    pub fn list(
        &self,
        resource: Resource,
        tenant: TenantId,
        params: &Params,
    ) -> Result<Vec<Value>, Error> {
        match resource {
            Resource::Owners => self.list_owners(tenant, params),
            Resource::Employments => self.list_employments(tenant, params),
        }
    }

    /// `GET /api/owners/`: stored owners passing the filters (newest link first).
    pub fn list_owners(&self, tenant: TenantId, params: &Params) -> Result<Vec<Value>, Error> {
        self.list_records(tenant, params, &records::owner_filters(), Resource::Owners)
    }

    /// `GET /api/br/employments/`: `link` is required.
    pub fn list_employments(&self, tenant: TenantId, params: &Params) -> Result<Vec<Value>, Error> {
        if params.get("link").is_none_or(|l| l.trim().is_empty()) {
            return Err(Error::field("link", "required", fields::REQUIRED));
        }
        self.list_records(
            tenant,
            params,
            &records::employment_filters(),
            Resource::Employments,
        )
    }

    /// The records of `resource` of each listed link, passing the filters.
    fn list_records(
        &self,
        tenant: TenantId,
        params: &Params,
        filters: &[query::Filter],
        resource: Resource,
    ) -> Result<Vec<Value>, Error> {
        let filters = params.compile(filters)?;
        let state = self.lock(tenant);
        Self::check_listed_link(&state, params)?;
        let mut out = Vec::new();
        for link in Self::listed_links(&state, params) {
            out.extend(
                self.records_json(&state, link, resource)
                    .into_iter()
                    .filter(|json| filters.matches(json)),
            );
        }
        Ok(out)
    }

    /// The links a data list can draw from: the one `link=` names (the common case, without
    /// looking at every link), else all, newest first.
    fn listed_links<'s>(state: &'s TenantState, params: &Params) -> Vec<&'s Link> {
        if let Some(id) = params
            .get("link")
            .and_then(|l| Uuid::try_parse(l.trim()).ok())
        {
            return state.links.get(&id).map(|l| &**l).into_iter().collect();
        }
        let mut links: Vec<&Link> = state.links.values().map(|l| &**l).collect();
        links.sort_by_key(|l| std::cmp::Reverse(l.seq));
        links
    }

    /// The link a stored record belongs to.
    fn record_link(state: &TenantState, id: &str) -> Result<Uuid, Error> {
        let id = parse_id(id)?;
        state.record_links.get(&id).copied().ok_or(Error::NotFound)
    }

    /// One stored record of `resource`, rendered (`GET /api/owners/{id}/`, `GET
    /// /api/br/employments/{id}/`); an id of another kind or another tenant is not found.
    pub fn detail(&self, resource: Resource, tenant: TenantId, id: &str) -> Result<Value, Error> {
        let state = self.lock(tenant);
        let link_id = Self::record_link(&state, id)?;
        let id = parse_id(id)?;
        let link = state.link(link_id)?;
        state
            .data
            .get(&link_id)
            .and_then(|d| list_of(d, resource).as_ref())
            .and_then(|list| list.iter().find(|r| r.id == id))
            .and_then(|f| self.render(resource, link, f))
            .ok_or(Error::NotFound)
    }

    /// `DELETE /api/owners/{id}/`, `DELETE /api/br/employments/{id}/`: deletes one stored
    /// record of `resource`. An id of the other kind is not found (and leaves that record
    /// alone).
    pub fn delete_record(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        id: &str,
        resource: Resource,
    ) -> Result<(), Error> {
        let state = tx.state(tenant);
        let link = Self::record_link(state, id)?;
        let id = parse_id(id)?;
        let mut data = state.data.get(&link).cloned().ok_or(Error::NotFound)?;
        let list = match resource {
            Resource::Owners => data.owners.as_mut(),
            Resource::Employments => data.employments.as_mut(),
        }
        .ok_or(Error::NotFound)?;
        let before = list.len();
        list.retain(|r| r.id != id);
        if list.len() == before {
            return Err(Error::NotFound);
        }
        tx.apply(tenant, Op::Data(link, Some(data)));
        Ok(())
    }

    /// Owners fetched now for a usable link; stored when `save` is set.
    fn fetch_owners(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: &Link,
        save: bool,
    ) -> Vec<Value> {
        let now = self.clock().now();
        let fetched = Self::fetched_owners(link, now);
        let rendered = fetched
            .iter()
            .map(|f| self.owner_record(link, f).to_json())
            .collect();
        if save {
            let mut data = tx
                .state(tenant)
                .data
                .get(&link.id)
                .cloned()
                .unwrap_or_default();
            data.owners = Some(fetched);
            tx.apply(tenant, Op::Data(link.id, Some(data)));
        }
        rendered
    }

    /// `POST /api/owners/`: a new login for the owner data (an MFA institution asks for a
    /// token unless one is sent). Returns the owners and whether they were stored.
    pub fn retrieve_owners(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        body: &Map<String, Value>,
    ) -> Result<Login<(Vec<Value>, bool)>, Error> {
        let request = OwnersRetrieve::validate(body)?;
        let link = Self::data_link(tx.state(tenant), request.link)?;
        if link.status != LinkStatus::Valid {
            return Err(Error::InvalidLink);
        }
        match request.token.as_deref() {
            Some(WRONG_TOKEN) => return Err(Error::Login(LoginFailure::InvalidCredentials)),
            None if self.needs_token(link.scenario) => {
                return Ok(Login::TokenRequired(self.open_session(tx, tenant, link.id)));
            }
            _ => {}
        }
        let owners = self.fetch_owners(tx, tenant, &link, request.save_data);
        Ok(Login::Done((owners, request.save_data)))
    }

    /// `PATCH /api/owners/`: resumes an owners retrieve paused by a 428.
    pub fn resume_owners(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        body: &Map<String, Value>,
    ) -> Result<Login<(Vec<Value>, bool)>, Error> {
        let request = Resume::validate(body)?;
        let save = match body.get("save_data") {
            Some(Value::Bool(b)) => *b,
            _ => true,
        };
        let link = Self::data_link(tx.state(tenant), request.link)?;
        if let Login::TokenRequired(c) = self.use_session(tx, tenant, &request)? {
            return Ok(Login::TokenRequired(c));
        }
        let owners = self.fetch_owners(tx, tenant, &link, save);
        Ok(Login::Done((owners, save)))
    }

    /// `POST /api/br/employments/`: employments overlapping `date_from..date_to` (all when
    /// absent), stored when `save_data` is true. Returns them and whether they were stored.
    pub fn retrieve_employments(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
        asynchronous: bool,
    ) -> Result<(Vec<Value>, bool), Error> {
        let now = self.clock().now();
        let request = EmploymentsRetrieve::validate(body, now.date_naive())?;
        let link = Self::data_link(tx.state(tenant), request.link)?;
        if link.status != LinkStatus::Valid {
            return Err(Error::InvalidLink);
        }
        let person = self.person(&link, now.date_naive());
        let fetched: Vec<Fetched> = Self::fetched_employments(&link, &person, now)
            .into_iter()
            .filter(|f| request.covers(&person.employments[f.index]))
            .collect();
        let rendered: Vec<Value> = fetched
            .iter()
            .filter_map(|f| self.employment_record(&link, f))
            .map(|r| r.to_json())
            .collect();
        let total = rendered.len();
        if request.save_data {
            self.store_employments(tx, tenant, link.id, fetched);
        }
        if asynchronous {
            // The 202's caller learns of the result by webhook, with the same request id.
            tx.emit(
                tenant,
                link.event(
                    request_id,
                    Notice::HistoricalUpdate {
                        resource: Resource::Employments,
                        total,
                    },
                ),
            );
        }
        Ok((rendered, request.save_data))
    }
}
