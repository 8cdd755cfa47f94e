//! Domain state behind one cheap handle: tenants (key pairs) and their links, MFA sessions
//! and fetched data.
//!
//! No HTTP types here: callers hand in JSON bodies and query pairs and get domain values or
//! an [`Error`] back. Reads lock one tenant for the duration of one synchronous method
//! (never across an `.await`). Changes are planned into a [`Tx`] the app's writer holds:
//! nothing here writes to memory any other way, nor to the database at all.
//!
//! # Files
//! `state` the tenant's memory and its ops; `tx` the transaction; `lifecycle` the link
//! operations; `sessions` MFA sessions; `data` owners and employments; `restore` the read
//! back from the database; `links`/`records` the wire shapes and request rules; `fields`/
//! `query` DRF's field rules and django-filter's queries; `institutions` the catalogue;
//! `rows` a link's database row.

mod data;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod institutions;
mod lifecycle;
pub(crate) mod links;
pub(crate) mod query;
pub mod records;
mod restore;
mod rows;
mod sessions;
mod state;
mod tx;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use error::{Error, FieldError};
pub use links::Link;

pub use query::Params;
pub use sessions::Login;
use state::{Op, TenantState};
pub use tx::Tx;

use crate::clock::Clock;
use crate::config::{Config, MfaMode, SecretKey};
use crate::fixtures::{Generator, Person};
use crate::tenant::TenantId;

/// How long an unconfirmed link without a live session is kept.
const UNCONFIRMED_TTL_SECS: i64 = 24 * 3600;
/// People kept in the cache before it starts over.
const PEOPLE_CACHE: usize = 4096;

#[derive(Debug)]
struct Tenant {
    key: SecretKey,
    /// Belvo's id of the dashboard user that creates links with this key (`created_by`).
    user: Uuid,
    state: Mutex<TenantState>,
    /// The same counter as `state`'s `version`.
    version: Arc<AtomicU64>,
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
    /// People generated lately, by (CPF, day, no-data): rendering a link's records again
    /// does not regenerate them.
    people: Mutex<HashMap<(String, chrono::NaiveDate, bool), Arc<Person>>>,
    /// Whether changes become database rows (`--data-dir`).
    durable: bool,
}

/// What an id in a URL path names: a UUID, or nothing that can exist.
fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::try_parse(id).map_err(|_| Error::NotFound)
}

impl Store {
    /// An empty store for `config`'s key pairs (a repeated id keeps its first password: one
    /// id is one tenant). `durable`: changes are to be persisted as rows.
    pub fn new(config: &Config, clock: Clock, generator: Generator, durable: bool) -> Self {
        let mut tenants: Vec<Tenant> = Vec::new();
        for key in &config.keys {
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
                people: Mutex::new(HashMap::new()),
                durable,
            }),
        }
    }

    pub(crate) fn durable(&self) -> bool {
        self.inner.durable
    }

    /// The key pair of a tenant.
    pub fn key(&self, tenant: TenantId) -> &SecretKey {
        &self.inner.tenants[tenant.index()].key
    }

    /// A tenant's name in the database: its secret id (stable across restarts, unlike its
    /// position in `--key`).
    pub fn name(&self, tenant: TenantId) -> &str {
        &self.inner.tenants[tenant.index()].key.id
    }

    /// Every tenant's name, in tenant order.
    pub fn names(&self) -> Vec<String> {
        self.tenants().map(|t| self.name(t).to_owned()).collect()
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn mfa(&self) -> MfaMode {
        self.inner.mfa
    }

    fn session_expiry(&self) -> chrono::Duration {
        self.inner.session_expiry
    }

    /// Every configured tenant, in key order.
    pub fn tenants(&self) -> impl Iterator<Item = TenantId> + use<> {
        (0..self.inner.tenants.len()).map(TenantId::from_index)
    }

    /// The tenant whose key pair matches. Every configured pair is compared in constant time,
    /// so timing reveals neither which id exists nor how much of a password was right.
    pub fn authenticate(&self, id: &str, password: &str) -> Option<TenantId> {
        let mut found = None;
        for (index, tenant) in self.inner.tenants.iter().enumerate() {
            let id_ok = tenant.key.id.as_bytes().ct_eq(id.as_bytes());
            let password_ok = tenant.key.password.as_bytes().ct_eq(password.as_bytes());
            if bool::from(id_ok & password_ok) {
                found = Some(TenantId::from_index(index));
            }
        }
        found
    }

    fn lock(&self, tenant: TenantId) -> MutexGuard<'_, TenantState> {
        // Changes are applied op by op, each whole, and undone whole, so a panic elsewhere
        // cannot leave a half-applied op behind: a poisoned lock is safe to keep using.
        self.inner.tenants[tenant.index()]
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes whenever the tenant's links or data change (for caches of rendered bodies).
    pub fn data_version(&self, tenant: TenantId) -> u64 {
        self.inner.tenants[tenant.index()]
            .version
            .load(Ordering::Acquire)
    }

    /// Housekeeping on the virtual clock: expired sessions and links still unconfirmed a day
    /// after they were created (their session has expired by then, so nobody can complete
    /// them) go, from memory and database alike. Only the old entries of ordered indexes are
    /// visited. Returns how many links were forgotten.
    pub fn sweep(&self, tx: &mut Tx<'_>) -> usize {
        let now = self.clock().now();
        let ttl = chrono::Duration::seconds(UNCONFIRMED_TTL_SECS).max(self.session_expiry());
        let mut forgotten = 0;
        for tenant in self.tenants() {
            let state = tx.state(tenant);
            let sessions: Vec<String> = state
                .expiries
                .iter()
                .take_while(|(at, _)| *at <= now)
                .map(|(_, id)| id.clone())
                .collect();
            let links: Vec<Uuid> = state
                .unconfirmed
                .iter()
                .take_while(|(at, _)| *at < now - ttl)
                .map(|(_, id)| *id)
                .collect();
            for id in sessions {
                tx.apply(tenant, Op::Session(id, None));
            }
            for id in &links {
                tx.apply(tenant, Op::Link(*id, None));
                tx.apply(tenant, Op::Data(*id, None));
            }
            forgotten += links.len();
        }
        forgotten
    }

    /// Forgets every link, session and fetched data of one tenant.
    pub fn reset(&self, tx: &mut Tx<'_>, tenant: TenantId) {
        tx.apply(tenant, Op::Clear);
    }

    /// `GET /api/links/`: the tenant's links passing the filters, newest first.
    pub fn list_links(&self, tenant: TenantId, params: &Params) -> Result<Vec<Value>, Error> {
        let filters = params.compile(&links::filters())?;
        let state = self.lock(tenant);
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
        self.lock(tenant).link(id).cloned()
    }

    fn needs_token(&self, scenario: Option<crate::scenario::Scenario>) -> bool {
        self.inner.mfa == MfaMode::Always && scenario != Some(crate::scenario::Scenario::NoMfa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::error::{LoginFailure, MfaChallenge};
    use crate::store::links::LinkStatus;
    use serde_json::{Map, Value, json};
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
        let store = Store::new(&config, Clock::new(), generator, false);
        let tenant = store
            .authenticate("a", "pa")
            .unwrap_or_else(|| panic!("tenant a"));
        (store, tenant)
    }

    /// Runs one change and commits it (what the app's writer does in memory).
    fn change<R>(
        store: &Store,
        plan: impl FnOnce(&mut Tx<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut tx = Tx::new(store);
        let mark = tx.mark();
        let result = plan(&mut tx);
        if result.is_err() {
            tx.undo_to(mark);
        }
        tx.commit();
        result
    }

    fn create(store: &Store, t: TenantId, body: &Map<String, Value>) -> Result<Link, Error> {
        match change(store, |tx| store.create_link(tx, t, body, Uuid::nil()))? {
            Login::Done(link) => Ok(link),
            Login::TokenRequired(c) => Err(Error::TokenRequired(c)),
        }
    }

    fn resume_with(store: &Store, t: TenantId, body: &Map<String, Value>) -> Result<Link, Error> {
        match change(store, |tx| store.resume_link(tx, t, body, Uuid::nil()))? {
            Login::Done(link) => Ok(link),
            Login::TokenRequired(c) => Err(Error::TokenRequired(c)),
        }
    }

    fn refresh(store: &Store, t: TenantId, id: &str) -> Result<Vec<crate::event::Resource>, Error> {
        change(store, |tx| {
            store.refresh_link(tx, t, id, &Map::new(), Uuid::nil())
        })
    }

    fn delete(store: &Store, t: TenantId, id: &str, asynchronous: bool) -> Result<(), Error> {
        change(store, |tx| {
            store.delete_link(tx, t, id, asynchronous, Uuid::nil())
        })
    }

    fn sweep(store: &Store) -> usize {
        change(store, |tx| Ok(store.sweep(tx))).unwrap_or(0)
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
        let c = challenge(create(&store, t, &new_link("12345678")));
        assert_eq!(c.expiry, 120);
        assert_eq!(c.session.len(), 32);
        let id = c.link.to_string();
        assert_eq!(
            store.link(t, &id).map(|l| l.status),
            Ok(LinkStatus::Unconfirmed)
        );

        let resume = |token: &str| body(json!({"link": id, "session": c.session, "token": token}));
        assert_eq!(
            resume_with(&store, t, &resume("000000")).map(|_| ()),
            Err(Error::Login(LoginFailure::InvalidCredentials))
        );
        let link = resume_with(&store, t, &resume("123456")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.status, LinkStatus::Valid);
        assert!(link.last_accessed_at.is_some());
        // A used session is gone.
        assert_eq!(
            resume_with(&store, t, &resume("123456")).map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn sessions_expire_on_the_virtual_clock() {
        let (store, t) = store();
        let c = challenge(create(&store, t, &new_link("12345678")));
        store.clock().advance(Duration::from_secs(121));
        let resume = body(json!({"link": c.link, "session": c.session, "token": "1"}));
        assert_eq!(
            resume_with(&store, t, &resume).map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn a_session_of_another_link_is_expired_for_this_one() {
        let (store, t) = store();
        let first = challenge(create(&store, t, &new_link("12345678")));
        let second = challenge(create(&store, t, &new_link("12345678")));
        let resume = body(json!({"link": first.link, "session": second.session, "token": "1"}));
        assert_eq!(
            resume_with(&store, t, &resume).map(|_| ()),
            Err(Error::SessionExpired)
        );
    }

    #[test]
    fn failed_logins_store_nothing() {
        let (store, t) = store();
        for password in ["mock:invalid", "mock:institution-down", "mock:unexpected"] {
            assert!(create(&store, t, &new_link(password)).is_err());
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
        let link = create(&store, a, &new_link("mock:no-mfa")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.link(b, &link.id.to_string()).map(|_| ()),
            Err(Error::NotFound)
        );
        assert_eq!(
            store.list_links(b, &Params::default()).map(|l| l.len()),
            Ok(0)
        );
        assert_eq!(
            delete(&store, b, &link.id.to_string(), false),
            Err(Error::NotFound)
        );
    }

    #[test]
    fn refreshes_wait_ten_minutes() {
        let (store, t) = store();
        let link = create(&store, t, &new_link("mock:no-mfa")).unwrap_or_else(|e| panic!("{e}"));
        let id = link.id.to_string();
        assert!(refresh(&store, t, &id).is_ok());
        store.clock().advance(Duration::from_secs(181));
        assert_eq!(
            refresh(&store, t, &id),
            Err(Error::LinkRefreshed { minutes: 7 })
        );
        store.clock().advance(Duration::from_secs(420));
        assert!(refresh(&store, t, &id).is_ok());
    }

    #[test]
    fn expired_sessions_and_abandoned_unconfirmed_links_are_swept() {
        let (store, t) = store();
        let c = challenge(create(&store, t, &new_link("12345678")));
        store.clock().advance(Duration::from_secs(121));
        assert_eq!(sweep(&store), 0, "a fresh unconfirmed link stays");
        assert!(
            store.lock(t).sessions.is_empty(),
            "the expired session is gone"
        );
        store.clock().advance(Duration::from_secs(24 * 3600));
        assert_eq!(sweep(&store), 1);
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
                create(&store, t, &new_link("mock:no-mfa"))
                    .map(|l| l.id.to_string())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for id in &ids[..5] {
            assert_eq!(delete(&store, t, id, false), Ok(()));
        }
        assert_eq!(
            delete(&store, t, &ids[5], false),
            Err(Error::Throttled { seconds: 60 })
        );
        // Async deletions are not limited, and time heals the sync limit.
        assert_eq!(delete(&store, t, &ids[5], true), Ok(()));
        store.clock().advance(Duration::from_secs(60));
        assert_eq!(delete(&store, t, &ids[6], false), Ok(()));
    }
}

#[cfg(test)]
mod change_tests {
    //! The commit path's promise: a change that is rolled back leaves memory exactly as it was.
    use super::*;
    use serde_json::{Map, Value, json};

    #[test]
    fn a_rolled_back_change_leaves_no_trace() {
        let config = Config {
            mfa: MfaMode::Never,
            ..Config::default()
        };
        let generator = Generator::new(1, 60, crate::fixtures::Overrides::default());
        let store = Store::new(&config, Clock::new(), generator, false);
        let t = TenantId::from_index(0);
        let body = match json!({"institution": "inss_br_employment", "username": "52998224725", "password": "secret-123"})
        {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let version = store.data_version(t);
        let mut tx = Tx::new(&store);
        assert!(store.create_link(&mut tx, t, &body, Uuid::nil()).is_ok());
        tx.rollback();
        drop(tx);
        assert_eq!(store.link_count(t), 0);
        assert_eq!(store.lock(t).next_seq, 0);
        assert!(store.lock(t).record_links.is_empty());
        assert_eq!(store.data_version(t), version, "nothing was committed");
    }
}
