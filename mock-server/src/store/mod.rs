//! Domain state behind one cheap handle: tenants (key pairs) and their links and MFA sessions.
//!
//! No HTTP types here: handlers hand in JSON bodies and query pairs and get domain values or a
//! [`Error`] back. Each tenant's state sits behind its own std `Mutex`, held only for the
//! duration of one synchronous method (never across an `.await`).

pub mod durable;
pub mod error;
pub mod fields;
pub mod institutions;
pub mod links;
pub mod query;
pub mod records;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use error::{Error, FieldError, LoginFailure, MfaChallenge};
use links::{Link, LinkStatus, NewLink, Options, Resume, WRONG_TOKEN};
pub use query::Params;
use records::{
    EmploymentRecord, EmploymentsRetrieve, Fetched, LinkData, OwnerRecord, OwnersRetrieve,
    record_id,
};

use crate::clock::Clock;
use crate::config::{Config, MfaMode, SecretKey};
use crate::fixtures::{Generator, Person};
use crate::scenario::Scenario;
use crate::webhooks::{Event, Journal};

/// Sync link deletions allowed per tenant in a rolling minute before Belvo answers 429.
const SYNC_DELETES_PER_MINUTE: usize = 5;
/// Cooldown between two refreshes of one link.
const REFRESH_COOLDOWN_SECS: i64 = 600;
/// How long an unconfirmed link without a live session is kept.
const UNCONFIRMED_TTL_SECS: i64 = 24 * 3600;

/// Which tenant a request belongs to (an index into the configured key pairs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(usize);

impl TenantId {
    #[cfg(test)]
    pub(crate) fn for_tests(index: usize) -> Self {
        Self(index)
    }

    /// The tenant at this position of the configured key pairs.
    pub(crate) fn from_index(index: usize) -> Self {
        Self(index)
    }

    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// An MFA session opened by a 428, waiting for `PATCH /api/links/`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct MfaSession {
    link: Uuid,
    expires_at: DateTime<Utc>,
    challenge: String,
}

#[derive(Debug)]
struct Tenant {
    key: SecretKey,
    /// Belvo's id of the dashboard user that creates links with this key (`created_by`).
    user: Uuid,
    state: Mutex<TenantState>,
    /// The same counter as `state`'s `version`.
    version: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct TenantState {
    /// Boxed: growing the map then moves pointers, not whole links (a rehash of hundreds of
    /// thousands of links under the lock showed as a latency spike).
    links: HashMap<Uuid, Box<Link>>,
    sessions: HashMap<String, MfaSession>,
    /// Session expiries in order, for sweeping.
    expiries: std::collections::BTreeSet<(DateTime<Utc>, String)>,
    /// Links created unconfirmed, by creation time, for sweeping the abandoned ones.
    unconfirmed: std::collections::BTreeSet<(DateTime<Utc>, Uuid)>,
    next_seq: u64,
    /// When the recent sync deletions happened (rolling minute).
    sync_deletes: VecDeque<DateTime<Utc>>,
    /// Owners and employments fetched, by link.
    data: HashMap<Uuid, LinkData>,
    /// Which link each owner or employment id belongs to.
    record_links: HashMap<Uuid, Uuid>,
    /// Bumped on every change of links or data: caches of rendered bodies compare it. Shared
    /// with [`Tenant::version`] so readers need no lock, and kept across a reset: a version
    /// that went back to an earlier number could match a body rendered before the reset.
    version: Arc<AtomicU64>,
}

impl TenantState {
    fn bump(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn link(&self, id: Uuid) -> Result<&Link, Error> {
        self.links.get(&id).map(|l| &**l).ok_or(Error::NotFound)
    }

    fn link_mut(&mut self, id: Uuid) -> Result<&mut Link, Error> {
        self.links
            .get_mut(&id)
            .map(|l| &mut **l)
            .ok_or(Error::NotFound)
    }

    /// Stores freshly fetched owners of a link, replacing what it had.
    fn store_owners(&mut self, link: Uuid, owners: Vec<Fetched>) {
        self.bump();
        let data = self.data.entry(link).or_default();
        for old in data.owners.iter().flatten() {
            self.record_links.remove(&old.id);
        }
        for record in &owners {
            self.record_links.insert(record.id, link);
        }
        data.owners = Some(owners);
    }

    /// Stores employments of a link: each replaces the one with its id, the rest stay.
    fn store_employments(&mut self, link: Uuid, employments: Vec<Fetched>) {
        self.bump();
        let data = self.data.entry(link).or_default();
        let stored = data.employments.get_or_insert_with(Vec::new);
        for record in employments {
            self.record_links.insert(record.id, link);
            match stored.iter_mut().find(|r| r.id == record.id) {
                Some(existing) => *existing = record,
                None => stored.push(record),
            }
        }
        stored.sort_by_key(|r| r.index);
    }

    /// Forgets a link's data and its record ids.
    fn drop_data(&mut self, link: Uuid) {
        self.bump();
        if let Some(data) = self.data.remove(&link) {
            for id in data.owners.iter().flatten().map(|r| r.id) {
                self.record_links.remove(&id);
            }
            for id in data.employments.iter().flatten().map(|r| r.id) {
                self.record_links.remove(&id);
            }
        }
    }

    /// Drops sessions past their expiry so abandoned logins do not pile up (cheap: the
    /// expiries are kept in order).
    fn sweep_sessions(&mut self, now: DateTime<Utc>) {
        while let Some(first) = self.expiries.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, id)) = self.expiries.pop_first() {
                self.sessions.remove(&id);
            }
        }
    }

    /// Forgets links still unconfirmed `ttl` after they were created: their MFA session
    /// has expired by then (`ttl` is at least the session expiry), so nobody can complete
    /// them. Only the old entries of an ordered index are visited.
    fn sweep_unconfirmed(&mut self, now: DateTime<Utc>, ttl: chrono::Duration) -> Vec<Uuid> {
        let cutoff = now - ttl;
        let mut forgotten = Vec::new();
        while let Some(first) = self.unconfirmed.first() {
            if first.0 >= cutoff {
                break;
            }
            let Some((_, id)) = self.unconfirmed.pop_first() else {
                break;
            };
            if self
                .links
                .get(&id)
                .is_some_and(|l| l.status == LinkStatus::Unconfirmed)
            {
                self.links.remove(&id);
                self.drop_data(id);
                forgotten.push(id);
            }
        }
        forgotten
    }
}

/// The shared domain state. Clone it freely: clones share everything.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tenants: Vec<Tenant>,
    clock: Clock,
    mfa: MfaMode,
    session_expiry: chrono::Duration,
    generator: Generator,
    webhooks: Journal,
    /// People generated lately, by (CPF, day, no-data): rendering a link's records again
    /// does not regenerate them.
    people: Mutex<HashMap<(String, chrono::NaiveDate, bool), Arc<Person>>>,
    /// The database under `--data-dir`, written through on every change.
    durable: Option<durable::Durable>,
}

/// People kept in the cache before it starts over.
const PEOPLE_CACHE: usize = 4096;

/// What an id in a URL path names: a UUID, or nothing that can exist.
fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::try_parse(id).map_err(|_| Error::NotFound)
}

/// A 32-hex id (sessions, request ids).
pub fn hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

impl Store {
    /// The store `config` describes: override files loaded and checked, a fresh clock and
    /// webhook journal.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let overrides = match &config.fixtures {
            Some(dir) => crate::fixtures::Overrides::load(dir).map_err(|e| e.to_string())?,
            None => crate::fixtures::Overrides::default(),
        };
        let generator = Generator::new(config.seed, config.salary_months, overrides);
        let clock = Clock::new();
        let journal = Journal::new(
            clock.clone(),
            config.webhooks.clone(),
            crate::webhooks::WebhookConfig {
                url: config.webhook_url.clone(),
                authorization: config.webhook_authorization.clone(),
            },
        );
        let Some(dir) = &config.data_dir else {
            return Ok(Self::new(config, clock, generator, journal));
        };
        let db = durable::Durable::open(dir).map_err(|e| e.to_string())?;
        let mut store = Self::new(config, clock, generator, journal);
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.durable = Some(db.clone());
        }
        let names: Vec<String> = store
            .inner
            .tenants
            .iter()
            .map(|t| t.key.id.clone())
            .collect();
        store
            .inner
            .webhooks
            .attach(db.clone(), names)
            .map_err(|e| e.to_string())?;
        store.restore(&db).map_err(|e| e.to_string())?;
        Ok(store)
    }

    /// Reads the database back into memory: the clock offset, every tenant's links, live
    /// sessions and fetched data (webhooks are restored by the journal).
    fn restore(&self, db: &durable::Durable) -> Result<(), durable::DurableError> {
        if let Some(offset) = db
            .meta("clock_offset_micros")?
            .and_then(|v| v.parse::<u64>().ok())
        {
            self.inner
                .clock
                .advance(std::time::Duration::from_micros(offset));
        }
        let tenant_of = |name: &str| {
            self.inner
                .tenants
                .iter()
                .position(|t| t.key.id == name)
                .map(TenantId)
        };
        for (tenant, _, body) in db.load(durable::Table::Links)? {
            let (Some(t), Some(link)) = (tenant_of(&tenant), Link::from_row(&body)) else {
                continue;
            };
            let mut state = self.state(t);
            state.next_seq = state.next_seq.max(link.seq + 1);
            if link.status == LinkStatus::Unconfirmed {
                state.unconfirmed.insert((link.created_at, link.id));
            }
            state.links.insert(link.id, Box::new(link));
        }
        for (tenant, key, body) in db.load(durable::Table::LinkData)? {
            let (Some(t), Ok(link), Ok(data)) = (
                tenant_of(&tenant),
                Uuid::try_parse(&key),
                serde_json::from_str::<LinkData>(&body),
            ) else {
                continue;
            };
            let mut state = self.state(t);
            for id in data
                .owners
                .iter()
                .flatten()
                .chain(data.employments.iter().flatten())
                .map(|f| f.id)
            {
                state.record_links.insert(id, link);
            }
            state.data.insert(link, data);
        }
        let now = self.inner.clock.now();
        for (tenant, key, body) in db.load(durable::Table::Sessions)? {
            let (Some(t), Ok(session)) = (
                tenant_of(&tenant),
                serde_json::from_str::<MfaSession>(&body),
            ) else {
                continue;
            };
            if session.expires_at > now {
                let mut state = self.state(t);
                state.expiries.insert((session.expires_at, key.clone()));
                state.sessions.insert(key, session);
            } else {
                db.delete(durable::Table::Sessions, &tenant, &key)?;
            }
        }
        Ok(())
    }

    /// The key pair of a tenant.
    pub fn key(&self, tenant: TenantId) -> &SecretKey {
        &self.inner.tenants[tenant.0].key
    }

    fn tenant_name(&self, tenant: TenantId) -> String {
        self.inner.tenants[tenant.0].key.id.clone()
    }

    /// Writes a link and its fetched data as they are now (rows deleted when gone), before
    /// the request that changed them is answered.
    fn save_link(&self, tenant: TenantId, state: &TenantState, id: Uuid) -> Result<(), Error> {
        let Some(db) = &self.inner.durable else {
            return Ok(());
        };
        let name = self.tenant_name(tenant);
        let key = id.to_string();
        let link_write = match state.links.get(&id) {
            Some(link) => durable::Write::Put(
                durable::Table::Links,
                name.clone(),
                key.clone(),
                link.to_row(),
            ),
            None => durable::Write::Delete(durable::Table::Links, name.clone(), key.clone()),
        };
        let data_write = match state.data.get(&id) {
            Some(data) => durable::Write::Put(
                durable::Table::LinkData,
                name,
                key,
                serde_json::to_string(data).unwrap_or_default(),
            ),
            None => durable::Write::Delete(durable::Table::LinkData, name, key),
        };
        let writes = [link_write, data_write];
        db.batch(&writes).map_err(Self::write_failed)
    }

    /// Writes (or deletes) one MFA session.
    fn save_session(
        &self,
        tenant: TenantId,
        id: &str,
        session: Option<&MfaSession>,
    ) -> Result<(), Error> {
        let Some(db) = &self.inner.durable else {
            return Ok(());
        };
        let name = self.tenant_name(tenant);
        let result = match session {
            Some(s) => db.put(
                durable::Table::Sessions,
                &name,
                id,
                &serde_json::to_string(s).unwrap_or_default(),
            ),
            None => db.delete(durable::Table::Sessions, &name, id),
        };
        result.map_err(Self::write_failed)
    }

    /// A change that cannot be made durable is not acknowledged: 500 unexpected_error.
    fn write_failed(e: durable::DurableError) -> Error {
        tracing::error!("cannot write to the data directory: {e}");
        Error::Unexpected
    }

    /// Moves the virtual clock forward (and remembers the offset across restarts).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.inner.clock.advance(by);
        if let Some(db) = &self.inner.durable {
            let offset = self.inner.clock.offset().as_micros().to_string();
            if let Err(e) = db.put_meta("clock_offset_micros", &offset) {
                tracing::error!("cannot write the clock offset: {e}");
            }
        }
    }

    pub fn new(config: &Config, clock: Clock, generator: Generator, webhooks: Journal) -> Self {
        let mut tenants: Vec<Tenant> = Vec::new();
        for key in &config.keys {
            // A repeated id keeps its first password: one id is one tenant.
            if tenants.iter().any(|t| t.key.id == key.id) {
                continue;
            }
            let digest = Sha256::digest(format!("belvo-mock user {}", key.id).as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            let state = TenantState::default();
            tenants.push(Tenant {
                key: key.clone(),
                user: uuid::Builder::from_random_bytes(bytes).into_uuid(),
                version: Arc::clone(&state.version),
                state: Mutex::new(state),
            });
        }
        Self {
            inner: Arc::new(Inner {
                tenants,
                clock,
                mfa: config.mfa,
                session_expiry: chrono::Duration::from_std(config.session_expiry)
                    .unwrap_or(chrono::Duration::MAX),
                generator,
                webhooks,
                people: Mutex::new(HashMap::new()),
                durable: None,
            }),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn mfa(&self) -> MfaMode {
        self.inner.mfa
    }

    /// The webhook journal events are written to.
    pub fn webhooks(&self) -> &Journal {
        &self.inner.webhooks
    }

    /// Every configured tenant, in key order.
    pub fn tenants(&self) -> impl Iterator<Item = TenantId> {
        (0..self.inner.tenants.len()).map(TenantId)
    }

    /// Announces a historical update of `resources`: one webhook per resource whose totals
    /// are what the list endpoints return now.
    fn announce_update(
        &self,
        tenant: TenantId,
        state: &TenantState,
        link: &Link,
        resources: &[String],
        request_id: Uuid,
    ) {
        let data = state.data.get(&link.id);
        for resource in resources {
            let (webhook_type, total) = match resource.as_str() {
                "OWNERS" => (
                    "OWNERS",
                    json!({"total_owners": data.and_then(|d| d.owners.as_ref()).map_or(0, Vec::len)}),
                ),
                "EMPLOYMENTS" => (
                    "EMPLOYMENTS",
                    json!({"total_employments": data.and_then(|d| d.employments.as_ref()).map_or(0, Vec::len)}),
                ),
                _ => continue,
            };
            self.inner.webhooks.emit(
                tenant,
                Event {
                    webhook_type,
                    process_type: "historical_update",
                    webhook_code: "historical_update",
                    link_id: link.id,
                    request_id,
                    external_id: link.external_id.clone(),
                    data: total,
                },
            );
        }
    }

    /// The tenant whose key pair matches. Every configured pair is compared in constant time,
    /// so timing reveals neither which id exists nor how much of a password was right.
    pub fn authenticate(&self, id: &str, password: &str) -> Option<TenantId> {
        let mut found = None;
        for (index, tenant) in self.inner.tenants.iter().enumerate() {
            let id_ok = tenant.key.id.as_bytes().ct_eq(id.as_bytes());
            let password_ok = tenant.key.password.as_bytes().ct_eq(password.as_bytes());
            if bool::from(id_ok & password_ok) {
                found = Some(TenantId(index));
            }
        }
        found
    }

    fn state(&self, tenant: TenantId) -> MutexGuard<'_, TenantState> {
        // A panic while holding the lock cannot leave a half-applied change behind (every
        // method validates before it mutates), so a poisoned lock is safe to keep using.
        self.inner.tenants[tenant.0]
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Housekeeping on the virtual clock: expired sessions and abandoned unconfirmed links
    /// of every tenant go. Returns how many links were forgotten.
    pub fn sweep(&self) -> usize {
        let now = self.inner.clock.now();
        let mut forgotten = 0;
        for index in 0..self.inner.tenants.len() {
            let mut state = self.state(TenantId(index));
            state.sweep_sessions(now);
            let ttl =
                chrono::Duration::seconds(UNCONFIRMED_TTL_SECS).max(self.inner.session_expiry);
            let gone = state.sweep_unconfirmed(now, ttl);
            for id in &gone {
                if let Err(e) = self.save_link(TenantId(index), &state, *id) {
                    tracing::error!("cannot forget link {id} in the data directory: {e}");
                }
            }
            forgotten += gone.len();
        }
        forgotten
    }

    /// Forgets every link and session of one tenant.
    pub fn reset(&self, tenant: TenantId) {
        {
            let mut state = self.state(tenant);
            *state = TenantState {
                version: Arc::clone(&self.inner.tenants[tenant.0].version),
                ..TenantState::default()
            };
            state.bump();
        }
        if let Some(db) = &self.inner.durable
            && let Err(e) = db.delete_tenant(&self.tenant_name(tenant))
        {
            tracing::error!("cannot reset the data directory: {e}");
        }
        self.inner.webhooks.reset(tenant);
    }

    /// Forgets everything of every tenant.
    pub fn reset_all(&self) {
        for index in 0..self.inner.tenants.len() {
            self.reset(TenantId(index));
        }
    }

    fn open_session(
        &self,
        tenant: TenantId,
        state: &mut TenantState,
        link: Uuid,
    ) -> Result<MfaChallenge, Error> {
        let now = self.inner.clock.now();
        state.sweep_sessions(now);
        let session = hex_id();
        // A five-digit numeric challenge, as Belvo's token_generation_data example shows.
        let challenge = format!(
            "{:05}",
            u64::from_str_radix(&session[..8], 16).unwrap_or(0) % 100_000
        );
        let expires_at = now + self.inner.session_expiry;
        state.sessions.insert(
            session.clone(),
            MfaSession {
                link,
                expires_at,
                challenge: challenge.clone(),
            },
        );
        state.expiries.insert((expires_at, session.clone()));
        self.save_session(tenant, &session, state.sessions.get(&session))?;
        Ok(MfaChallenge {
            session,
            expiry: self.inner.session_expiry.num_seconds().max(0) as u64,
            link,
            challenge,
        })
    }

    /// `POST /api/links/`: validates, logs in (scenarios), then either stores a `valid` link or
    /// stores an `unconfirmed` one and answers [`Error::TokenRequired`]. A refused request
    /// stores nothing.
    pub fn create_link(
        &self,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Link, Error> {
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
        let now = self.inner.clock.now();
        let user = self.inner.tenants[tenant.0].user;
        let mut state = self.state(tenant);
        let seq = state.next_seq;
        state.next_seq += 1;
        let link = request.into_link(Uuid::new_v4(), user, now, status, seq);
        let id = link.id;
        state.links.insert(id, Box::new(link.clone()));
        if needs_token {
            state.unconfirmed.insert((now, id));
            self.save_link(tenant, &state, id)?;
            return Err(Error::TokenRequired(
                self.open_session(tenant, &mut state, id)?,
            ));
        }
        self.fetch(&mut state, &link, &link.fetch_resources, now);
        self.save_link(tenant, &state, id)?;
        self.announce_update(tenant, &state, &link, &link.fetch_resources, request_id);
        Ok(link)
    }

    fn needs_token(&self, scenario: Option<Scenario>) -> bool {
        self.inner.mfa == MfaMode::Always && scenario != Some(Scenario::NoMfa)
    }

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
        }]
    }

    fn fetched_employments(link: &Link, person: &Person, now: DateTime<Utc>) -> Vec<Fetched> {
        (0..person.employments.len())
            .map(|index| Fetched {
                index,
                id: record_id(link.id, "employment", index),
                collected_at: now,
            })
            .collect()
    }

    fn owner_record(&self, link: &Link, fetched: &Fetched) -> OwnerRecord {
        let person = self.person(link, fetched.collected_at.date_naive());
        OwnerRecord {
            id: fetched.id,
            link: link.id,
            collected_at: fetched.collected_at,
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
            employment: person.employments.get(fetched.index)?.clone(),
        })
    }

    /// The rendered owners of one stored link.
    fn owners_json(&self, state: &TenantState, link: &Link) -> Vec<Value> {
        state
            .data
            .get(&link.id)
            .and_then(|d| d.owners.as_ref())
            .into_iter()
            .flatten()
            .map(|f| self.owner_record(link, f).to_json())
            .collect()
    }

    /// The rendered employments of one stored link.
    fn employments_json(&self, state: &TenantState, link: &Link) -> Vec<Value> {
        state
            .data
            .get(&link.id)
            .and_then(|d| d.employments.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|f| self.employment_record(link, f))
            .map(|r| r.to_json())
            .collect()
    }

    /// Changes whenever the tenant's links or data change (for caches of rendered bodies).
    pub fn data_version(&self, tenant: TenantId) -> u64 {
        self.inner.tenants[tenant.0].version.load(Ordering::Acquire)
    }

    /// A historical update: fetches `resources` of the link from the "institution" and
    /// stores them, replacing what was there.
    fn fetch(
        &self,
        state: &mut TenantState,
        link: &Link,
        resources: &[String],
        now: DateTime<Utc>,
    ) {
        if resources.iter().any(|r| r == "OWNERS") {
            state.store_owners(link.id, Self::fetched_owners(link, now));
        }
        if resources.iter().any(|r| r == "EMPLOYMENTS") {
            let person = self.person(link, now.date_naive());
            if let Some(data) = state.data.get_mut(&link.id) {
                // A historical update replaces the whole list.
                for old in data.employments.take().into_iter().flatten() {
                    state.record_links.remove(&old.id);
                }
            }
            state.store_employments(link.id, Self::fetched_employments(link, &person, now));
        }
    }

    /// Checks a resume's session and token; a good token uses the session up. No token: the
    /// institution still waits for one, on the same session (428 again). A wrong token
    /// leaves the session usable until it expires.
    fn use_session(
        &self,
        tenant: TenantId,
        state: &mut TenantState,
        request: &Resume,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let session = state
            .sessions
            .get(&request.session)
            .filter(|s| s.link == request.link && s.expires_at > now)
            .cloned()
            .ok_or(Error::SessionExpired)?;
        match request.token.as_deref() {
            None => Err(Error::TokenRequired(MfaChallenge {
                session: request.session.clone(),
                expiry: (session.expires_at - now).num_seconds().max(0) as u64,
                link: request.link,
                challenge: session.challenge,
            })),
            Some(WRONG_TOKEN) => Err(Error::Login(LoginFailure::InvalidCredentials)),
            Some(_) => {
                state.sessions.remove(&request.session);
                self.save_session(tenant, &request.session, None)
            }
        }
    }

    /// `PATCH /api/links/`: completes a login paused by a 428.
    pub fn resume_link(
        &self,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Link, Error> {
        let request = Resume::validate(body)?;
        let now = self.inner.clock.now();
        let mut state = self.state(tenant);
        state.link(request.link)?;
        self.use_session(tenant, &mut state, &request, now)?;
        let link = state.link_mut(request.link)?;
        link.status = LinkStatus::Valid;
        link.last_accessed_at = Some(now);
        let link = link.clone();
        self.fetch(&mut state, &link, &link.fetch_resources, now);
        self.save_link(tenant, &state, link.id)?;
        self.announce_update(tenant, &state, &link, &link.fetch_resources, request_id);
        Ok(link)
    }

    /// `GET /api/links/`: the tenant's links passing the filters, newest first.
    pub fn list_links(&self, tenant: TenantId, params: &Params) -> Result<Vec<Value>, Error> {
        let filters = params.compile(&links::filters())?;
        let state = self.state(tenant);
        let mut links: Vec<&Link> = state.links.values().map(|l| &**l).collect();
        links.sort_by_key(|l| std::cmp::Reverse(l.seq));
        Ok(links
            .into_iter()
            .map(Link::to_json)
            .filter(|json| filters.matches(json))
            .collect())
    }

    /// `GET /api/links/{id}/`.
    pub fn link(&self, tenant: TenantId, id: &str) -> Result<Link, Error> {
        let id = parse_id(id)?;
        self.state(tenant).link(id).cloned()
    }

    /// `PATCH /api/links/{id}/`: access mode, retention, resources.
    pub fn update_link_options(
        &self,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<Link, Error> {
        let id = parse_id(id)?;
        let options = Options::validate(body)?;
        let mut state = self.state(tenant);
        let link = state.link_mut(id)?;
        if link.status == LinkStatus::Unconfirmed {
            return Err(Error::UnconfirmedLink);
        }
        // Apply to a copy so a refused change leaves the stored link untouched.
        let mut changed = link.clone();
        options.apply(&mut changed)?;
        *link = changed.clone();
        self.save_link(tenant, &state, id)?;
        Ok(changed)
    }

    /// `PUT /api/links/{id}/`: new credentials, i.e. a new login (which may ask for a token).
    pub fn update_link_credentials(
        &self,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Link, Error> {
        let id = parse_id(id)?;
        let scenario = links::validate_credentials(body)?;
        let now = self.inner.clock.now();
        let mut state = self.state(tenant);
        let cpf = state.link(id)?.cpf.clone();
        let scenario = scenario.or_else(|| self.inner.generator.scenario(&cpf));
        if let Some(error) = scenario.and_then(links::login_error) {
            return Err(error);
        }
        let link = state.link_mut(id)?;
        link.scenario = scenario.or_else(|| self.inner.generator.scenario(&link.cpf));
        if self.needs_token(link.scenario) {
            self.save_link(tenant, &state, id)?;
            return Err(Error::TokenRequired(
                self.open_session(tenant, &mut state, id)?,
            ));
        }
        link.status = LinkStatus::Valid;
        link.last_accessed_at = Some(now);
        let link = link.clone();
        self.fetch(&mut state, &link, &link.fetch_resources, now);
        self.save_link(tenant, &state, link.id)?;
        self.announce_update(tenant, &state, &link, &link.fetch_resources, request_id);
        Ok(link)
    }

    /// `DELETE /api/links/{id}/`: removes the link, its sessions (and later its data).
    /// Sync deletions are limited to five a minute per tenant, as in Belvo.
    pub fn delete_link(
        &self,
        tenant: TenantId,
        id: &str,
        asynchronous: bool,
        request_id: Uuid,
    ) -> Result<(), Error> {
        let id = parse_id(id)?;
        let now = self.inner.clock.now();
        let mut state = self.state(tenant);
        state.link(id)?;
        if !asynchronous {
            let window = chrono::Duration::seconds(60);
            while state
                .sync_deletes
                .front()
                .is_some_and(|t| *t + window <= now)
            {
                state.sync_deletes.pop_front();
            }
            if state.sync_deletes.len() >= SYNC_DELETES_PER_MINUTE {
                let oldest = state.sync_deletes.front().copied().unwrap_or(now);
                let wait = oldest + window - now;
                let seconds = (wait.num_milliseconds() + 999) / 1000;
                return Err(Error::Throttled {
                    seconds: seconds.max(1),
                });
            }
            state.sync_deletes.push_back(now);
        }
        // Its sessions stay until they expire: a resume checks the link first (404).
        let removed = state.links.remove(&id);
        state.drop_data(id);
        self.save_link(tenant, &state, id)?;
        if asynchronous {
            self.inner.webhooks.emit(
                tenant,
                Event {
                    webhook_type: "LINK",
                    process_type: "link_deleted",
                    webhook_code: "link_deleted",
                    link_id: id,
                    request_id,
                    external_id: removed.and_then(|l| l.external_id),
                    data: json!({}),
                },
            );
        }
        Ok(())
    }

    /// `POST /api/links/{id}/refresh/`: at most once every ten minutes per link.
    pub fn refresh_link(
        &self,
        tenant: TenantId,
        id: &str,
        body: &Map<String, Value>,
        request_id: Uuid,
    ) -> Result<Vec<String>, Error> {
        let id = parse_id(id)?;
        let resources = links::validate_refresh(body)?;
        let now = self.inner.clock.now();
        let mut state = self.state(tenant);
        let link = state.link_mut(id)?;
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
        // The refresh logs in again: credentials that stopped working invalidate the link,
        // and Belvo tells by a LINK webhook instead of an error (the refresh is asynchronous).
        if let Some(error) = link.scenario.and_then(links::login_error) {
            link.status = LinkStatus::Invalid;
            let (code, message) = error
                .elements()
                .first()
                .map(|(_, code, message)| (*code, message.clone()))
                .unwrap_or(("login_error", String::new()));
            let event = Event {
                webhook_type: "LINK",
                process_type: "recurrent_update",
                webhook_code: "invalid_credentials",
                link_id: link.id,
                request_id,
                external_id: link.external_id.clone(),
                data: json!({"error_code": code, "error_message": message, "status": error.status()}),
            };
            let id = link.id;
            self.save_link(tenant, &state, id)?;
            self.inner.webhooks.emit(tenant, event);
            return Ok(resources);
        }
        link.last_accessed_at = Some(now);
        let link = link.clone();
        self.fetch(&mut state, &link, &resources, now);
        self.save_link(tenant, &state, link.id)?;
        self.announce_update(tenant, &state, &link, &resources, request_id);
        Ok(resources)
    }

    /// Control plane: makes the link's next login behave as `scenario` (e.g. `mock:invalid`
    /// simulates the user changing their INSS password); `None` clears it.
    pub fn set_link_scenario(
        &self,
        tenant: TenantId,
        id: &str,
        scenario: Option<Scenario>,
    ) -> Result<Link, Error> {
        let id = parse_id(id)?;
        let mut state = self.state(tenant);
        let link = state.link_mut(id)?;
        link.scenario = scenario;
        let link = link.clone();
        self.save_link(tenant, &state, id)?;
        Ok(link)
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

    /// `GET /api/owners/`: stored owners passing the filters (newest link first).
    pub fn list_owners(&self, tenant: TenantId, params: &Params) -> Result<Vec<Value>, Error> {
        self.list_records(tenant, params, &records::owner_filters(), Self::owners_json)
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
            Self::employments_json,
        )
    }

    /// The records `render` gives for each listed link, passing the filters.
    fn list_records(
        &self,
        tenant: TenantId,
        params: &Params,
        filters: &[query::Filter],
        render: fn(&Self, &TenantState, &Link) -> Vec<Value>,
    ) -> Result<Vec<Value>, Error> {
        let filters = params.compile(filters)?;
        let state = self.state(tenant);
        Self::check_listed_link(&state, params)?;
        let mut out = Vec::new();
        for link in Self::listed_links(&state, params) {
            out.extend(
                render(self, &state, link)
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

    /// `GET /api/owners/{id}/`.
    pub fn owner(&self, tenant: TenantId, id: &str) -> Result<Value, Error> {
        self.record(
            tenant,
            id,
            |d| &d.owners,
            |store, link, f| Some(store.owner_record(link, f).to_json()),
        )
    }

    /// `GET /api/br/employments/{id}/`.
    pub fn employment(&self, tenant: TenantId, id: &str) -> Result<Value, Error> {
        self.record(
            tenant,
            id,
            |d| &d.employments,
            |store, link, f| store.employment_record(link, f).map(|r| r.to_json()),
        )
    }

    /// One stored record of the kind `pick` selects, rendered; an id of another kind or
    /// another tenant is not found.
    fn record(
        &self,
        tenant: TenantId,
        id: &str,
        pick: fn(&LinkData) -> &Option<Vec<Fetched>>,
        render: fn(&Self, &Link, &Fetched) -> Option<Value>,
    ) -> Result<Value, Error> {
        let state = self.state(tenant);
        let link_id = Self::record_link(&state, id)?;
        let id = parse_id(id)?;
        let link = state.link(link_id)?;
        state
            .data
            .get(&link_id)
            .and_then(|d| pick(d).as_ref())
            .and_then(|list| list.iter().find(|r| r.id == id))
            .and_then(|f| render(self, link, f))
            .ok_or(Error::NotFound)
    }

    /// `DELETE /api/owners/{id}/`.
    pub fn delete_owner(&self, tenant: TenantId, id: &str) -> Result<(), Error> {
        self.delete_record(tenant, id, |d| &mut d.owners)
    }

    /// `DELETE /api/br/employments/{id}/`.
    pub fn delete_employment(&self, tenant: TenantId, id: &str) -> Result<(), Error> {
        self.delete_record(tenant, id, |d| &mut d.employments)
    }

    /// Deletes one stored record of the kind `pick` selects. An id of the other kind is not
    /// found (and leaves that record alone).
    fn delete_record(
        &self,
        tenant: TenantId,
        id: &str,
        pick: fn(&mut LinkData) -> &mut Option<Vec<Fetched>>,
    ) -> Result<(), Error> {
        let mut state = self.state(tenant);
        let link = Self::record_link(&state, id)?;
        let id = parse_id(id)?;
        let list = state
            .data
            .get_mut(&link)
            .and_then(|d| pick(d).as_mut())
            .ok_or(Error::NotFound)?;
        let before = list.len();
        list.retain(|r| r.id != id);
        if list.len() == before {
            return Err(Error::NotFound);
        }
        state.record_links.remove(&id);
        state.bump();
        self.save_link(tenant, &state, link)?;
        Ok(())
    }

    /// Owners fetched now for a usable link; stored when `save` is set.
    fn fetch_owners(
        &self,
        tenant: TenantId,
        state: &mut TenantState,
        link: &Link,
        save: bool,
    ) -> Result<Vec<Value>, Error> {
        let now = self.inner.clock.now();
        let fetched = Self::fetched_owners(link, now);
        let rendered = fetched
            .iter()
            .map(|f| self.owner_record(link, f).to_json())
            .collect();
        if save {
            state.store_owners(link.id, fetched);
            self.save_link(tenant, state, link.id)?;
        }
        Ok(rendered)
    }

    /// `POST /api/owners/`: a new login for the owner data (an MFA institution asks for a
    /// token unless one is sent). Returns the owners and whether they were stored.
    pub fn retrieve_owners(
        &self,
        tenant: TenantId,
        body: &Map<String, Value>,
    ) -> Result<(Vec<Value>, bool), Error> {
        let request = OwnersRetrieve::validate(body)?;
        let mut state = self.state(tenant);
        let link = Self::data_link(&state, request.link)?;
        if link.status != LinkStatus::Valid {
            return Err(Error::InvalidLink);
        }
        match request.token.as_deref() {
            Some(WRONG_TOKEN) => return Err(Error::Login(LoginFailure::InvalidCredentials)),
            None if self.needs_token(link.scenario) => {
                return Err(Error::TokenRequired(
                    self.open_session(tenant, &mut state, link.id)?,
                ));
            }
            _ => {}
        }
        let owners = self.fetch_owners(tenant, &mut state, &link, request.save_data)?;
        Ok((owners, request.save_data))
    }

    /// `PATCH /api/owners/`: resumes an owners retrieve paused by a 428.
    pub fn resume_owners(
        &self,
        tenant: TenantId,
        body: &Map<String, Value>,
    ) -> Result<(Vec<Value>, bool), Error> {
        let request = Resume::validate(body)?;
        let save = match body.get("save_data") {
            Some(Value::Bool(b)) => *b,
            _ => true,
        };
        let now = self.inner.clock.now();
        let mut state = self.state(tenant);
        let link = Self::data_link(&state, request.link)?;
        self.use_session(tenant, &mut state, &request, now)?;
        let owners = self.fetch_owners(tenant, &mut state, &link, save)?;
        Ok((owners, save))
    }

    /// `POST /api/br/employments/`: employments overlapping `date_from..date_to` (all when
    /// absent), stored when `save_data` is true. Returns them and whether they were stored.
    pub fn retrieve_employments(
        &self,
        tenant: TenantId,
        body: &Map<String, Value>,
        request_id: Uuid,
        asynchronous: bool,
    ) -> Result<(Vec<Value>, bool), Error> {
        let now = self.inner.clock.now();
        let request = EmploymentsRetrieve::validate(body, now.date_naive())?;
        let mut state = self.state(tenant);
        let link = Self::data_link(&state, request.link)?;
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
            state.store_employments(link.id, fetched);
            self.save_link(tenant, &state, link.id)?;
        }
        if asynchronous {
            // The 202's caller learns of the result by webhook, with the same request id.
            self.inner.webhooks.emit(
                tenant,
                Event {
                    webhook_type: "EMPLOYMENTS",
                    process_type: "historical_update",
                    webhook_code: "historical_update",
                    link_id: link.id,
                    request_id,
                    external_id: link.external_id.clone(),
                    data: json!({"total_employments": total}),
                },
            );
        }
        Ok((rendered, request.save_data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn store() -> (Store, TenantId) {
        let config = Config {
            keys: vec![SecretKey::new("a", "pa"), SecretKey::new("b", "pb")],
            ..Config::default()
        };
        let generator = Generator::new(1, 60, crate::fixtures::Overrides::default());
        let clock = Clock::new();
        let journal = Journal::new(
            clock.clone(),
            crate::webhooks::Settings::default(),
            crate::webhooks::WebhookConfig::default(),
        );
        let store = Store::new(&config, clock, generator, journal);
        let tenant = store
            .authenticate("a", "pa")
            .unwrap_or_else(|| panic!("tenant a"));
        (store, tenant)
    }

    fn new_link(password: &str) -> Map<String, Value> {
        body(
            json!({"institution": "inss_br_employment", "username": "52998224725", "password": password}),
        )
    }

    fn challenge(result: Result<Link, Error>) -> MfaChallenge {
        match result {
            Err(Error::TokenRequired(c)) => c,
            other => panic!("expected a 428, got {other:?}"),
        }
    }

    #[test]
    fn only_matching_key_pairs_authenticate() {
        let (store, a) = store();
        assert_eq!(store.authenticate("a", "pa"), Some(a));
        assert!(store.authenticate("b", "pb").is_some_and(|b| b != a));
        assert_eq!(store.authenticate("a", "pb"), None);
        assert_eq!(store.authenticate("", ""), None);
    }

    #[test]
    fn mfa_links_stay_unconfirmed_until_a_token_completes_them() {
        let (store, t) = store();
        let c = challenge(store.create_link(t, &new_link("12345678"), Uuid::nil()));
        assert_eq!(c.expiry, 120);
        assert_eq!(c.session.len(), 32);
        let id = c.link.to_string();
        assert_eq!(
            store.link(t, &id).map(|l| l.status),
            Ok(LinkStatus::Unconfirmed)
        );

        let resume = |token: &str| body(json!({"link": id, "session": c.session, "token": token}));
        assert_eq!(
            store
                .resume_link(t, &resume("000000"), Uuid::nil())
                .map(|_| ()),
            Err(Error::Login(LoginFailure::InvalidCredentials))
        );
        let link = store
            .resume_link(t, &resume("123456"), Uuid::nil())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.status, LinkStatus::Valid);
        assert!(link.last_accessed_at.is_some());
        // A used session is gone.
        assert_eq!(
            store
                .resume_link(t, &resume("123456"), Uuid::nil())
                .map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn sessions_expire_on_the_virtual_clock() {
        let (store, t) = store();
        let c = challenge(store.create_link(t, &new_link("12345678"), Uuid::nil()));
        store.clock().advance(Duration::from_secs(121));
        let resume = body(json!({"link": c.link, "session": c.session, "token": "1"}));
        assert_eq!(
            store.resume_link(t, &resume, Uuid::nil()).map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn a_session_of_another_link_is_expired_for_this_one() {
        let (store, t) = store();
        let first = challenge(store.create_link(t, &new_link("12345678"), Uuid::nil()));
        let second = challenge(store.create_link(t, &new_link("12345678"), Uuid::nil()));
        let resume = body(json!({"link": first.link, "session": second.session, "token": "1"}));
        assert_eq!(
            store.resume_link(t, &resume, Uuid::nil()).map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn failed_logins_store_nothing() {
        let (store, t) = store();
        for password in ["mock:invalid", "mock:institution-down", "mock:unexpected"] {
            assert!(
                store
                    .create_link(t, &new_link(password), Uuid::nil())
                    .is_err()
            );
        }
        assert_eq!(
            store.list_links(t, &Params::default()).map(|l| l.len()),
            Ok(0)
        );
    }

    #[test]
    fn tenants_never_see_each_others_links() {
        let (store, a) = store();
        let b = store
            .authenticate("b", "pb")
            .unwrap_or_else(|| panic!("tenant b"));
        let link = store
            .create_link(a, &new_link("mock:no-mfa"), Uuid::nil())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.link(b, &link.id.to_string()).map(|_| ()),
            Err(Error::NotFound)
        );
        assert_eq!(
            store.list_links(b, &Params::default()).map(|l| l.len()),
            Ok(0)
        );
        assert_eq!(
            store.delete_link(b, &link.id.to_string(), false, Uuid::nil()),
            Err(Error::NotFound)
        );
    }

    #[test]
    fn refreshes_wait_ten_minutes() {
        let (store, t) = store();
        let link = store
            .create_link(t, &new_link("mock:no-mfa"), Uuid::nil())
            .unwrap_or_else(|e| panic!("{e}"));
        let id = link.id.to_string();
        assert!(store.refresh_link(t, &id, &Map::new(), Uuid::nil()).is_ok());
        store.clock().advance(Duration::from_secs(181));
        assert_eq!(
            store.refresh_link(t, &id, &Map::new(), Uuid::nil()),
            Err(Error::LinkRefreshed { minutes: 7 })
        );
        store.clock().advance(Duration::from_secs(420));
        assert!(store.refresh_link(t, &id, &Map::new(), Uuid::nil()).is_ok());
    }

    #[test]
    fn expired_sessions_and_abandoned_unconfirmed_links_are_swept() {
        let (store, t) = store();
        let c = challenge(store.create_link(t, &new_link("12345678"), Uuid::nil()));
        store.clock().advance(Duration::from_secs(121));
        assert_eq!(store.sweep(), 0, "a fresh unconfirmed link stays");
        assert!(
            store.state(t).sessions.is_empty(),
            "the expired session is gone"
        );
        store.clock().advance(Duration::from_secs(24 * 3600));
        assert_eq!(store.sweep(), 1);
        assert_eq!(
            store.link(t, &c.link.to_string()).map(|_| ()),
            Err(Error::NotFound)
        );
    }

    #[test]
    fn the_sixth_sync_delete_in_a_minute_is_throttled() {
        let (store, t) = store();
        let ids: Vec<String> = (0..7)
            .map(|_| {
                store
                    .create_link(t, &new_link("mock:no-mfa"), Uuid::nil())
                    .map(|l| l.id.to_string())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for id in &ids[..5] {
            assert_eq!(store.delete_link(t, id, false, Uuid::nil()), Ok(()));
        }
        assert_eq!(
            store.delete_link(t, &ids[5], false, Uuid::nil()),
            Err(Error::Throttled { seconds: 60 })
        );
        // Async deletions are not limited, and time heals the sync limit.
        assert_eq!(store.delete_link(t, &ids[5], true, Uuid::nil()), Ok(()));
        store.clock().advance(Duration::from_secs(60));
        assert_eq!(store.delete_link(t, &ids[6], false, Uuid::nil()), Ok(()));
    }
}
