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
//! `tokens` widget access tokens; `widget` the hosted widget's steps; `rows` the database rows
//! of links and tokens.

mod data;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod institutions;
mod lifecycle;
pub(crate) mod links;
mod pii;
pub(crate) mod query;
pub mod records;
mod restore;
mod rows;
mod schedule;
mod sessions;
mod state;
pub(crate) mod tokens;
mod tx;
pub(crate) mod widget;

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
    /// Unconfirmed links kept per tenant (the oldest goes first).
    max_unconfirmed: usize,
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
                max_unconfirmed: config.max_unconfirmed.max(1),
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

    /// Housekeeping on the virtual clock: expired sessions, widget tokens a day past their
    /// expiry, and links still unconfirmed a day after they were created (their session has expired by then, so nobody can complete
    /// them) go, from memory and database alike. Only the old entries of ordered indexes are
    /// visited, and at most `budget` of them per call, so one call holds the tenant locks
    /// briefly however much is due. Returns how many links were forgotten and whether more is
    /// due (call again).
    pub fn sweep(&self, tx: &mut Tx<'_>, budget: usize) -> (usize, bool) {
        let now = self.clock().now();
        let ttl = chrono::Duration::seconds(UNCONFIRMED_TTL_SECS).max(self.session_expiry());
        let mut left = budget.max(1);
        let mut forgotten = 0;
        let mut more = false;
        for tenant in self.tenants() {
            let state = tx.state(tenant);
            let sessions: Vec<String> = state
                .expiries
                .iter()
                .take_while(|(at, _)| *at <= now)
                .take(left.saturating_add(1))
                .map(|(_, id)| id.clone())
                .collect();
            more |= sessions.len() > left;
            let sessions = &sessions[..sessions.len().min(left)];
            left -= sessions.len();
            let links: Vec<Uuid> = state
                .unconfirmed
                .iter()
                .take_while(|(at, _)| *at < now - ttl)
                .take(left.saturating_add(1))
                .map(|(_, id)| *id)
                .collect();
            more |= links.len() > left;
            let links = &links[..links.len().min(left)];
            left -= links.len();
            let keep =
                chrono::Duration::seconds(tokens::ACCESS_LIFETIME_SECS + tokens::KEEP_EXPIRED_SECS);
            let state = tx.state(tenant);
            let old_tokens: Vec<Uuid> = state
                .token_order
                .iter()
                .take_while(|(issued, _)| *issued < now - keep)
                .take(left.saturating_add(1))
                .map(|(_, jti)| *jti)
                .collect();
            more |= old_tokens.len() > left;
            let old_tokens = &old_tokens[..old_tokens.len().min(left)];
            left -= old_tokens.len();
            for jti in old_tokens {
                tx.apply(tenant, Op::Token(*jti, None));
            }
            for id in sessions {
                tx.apply(tenant, Op::Session(id.clone(), None));
            }
            for id in links {
                tx.apply(tenant, Op::Link(*id, None));
                tx.apply(tenant, Op::Data(*id, None));
            }
            forgotten += links.len();
            if left == 0 {
                more = true;
                break;
            }
        }
        (forgotten, more)
    }

    /// `POST /api/token/` for an authenticated tenant: a token with the request's settings
    /// (in update mode, the link's own where the request gives none), issued now on the
    /// virtual clock. Past [`tokens::MAX_TOKENS`] the oldest token is forgotten.
    pub fn issue_token(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        request: tokens::TokenRequest,
    ) -> Result<tokens::WidgetToken, Error> {
        let now = self.clock().now();
        let state = tx.state(tenant);
        let link = match request.link {
            None => None,
            Some(id) => Some(state.links.get(&id).map(|l| &**l).ok_or_else(|| {
                Error::field(
                    "link_id",
                    "does_not_exist",
                    format!("Invalid pk \"{id}\" - object does not exist."),
                )
            })?),
        };
        let token = tokens::WidgetToken {
            jti: Uuid::new_v4(),
            refresh_jti: Uuid::new_v4(),
            issued_at: now,
            scopes: request.scopes,
            stale_in: request
                .stale_in
                .or_else(|| link.and_then(|l| l.stale_in.clone()))
                .unwrap_or_else(|| "365d".to_owned()),
            credentials_storage: request
                .credentials_storage
                .or_else(|| link.map(|l| l.credentials_storage.clone()))
                .unwrap_or_else(|| "store".to_owned()),
            fetch_resources: request
                .fetch_resources
                .or_else(|| link.map(|l| l.fetch_resources.clone()))
                .unwrap_or_else(|| {
                    institutions::INSS_RESOURCES
                        .iter()
                        .map(|r| (*r).to_owned())
                        .collect()
                }),
            link: link.map(|l| tokens::TokenLink {
                id: l.id,
                status: l.status,
                institution: l.institution.to_owned(),
            }),
            widget: request.widget,
            connected: None,
            last_error: None,
        };
        let oldest = (state.tokens.len() >= tokens::MAX_TOKENS)
            .then(|| state.token_order.first().map(|(_, jti)| *jti))
            .flatten();
        if let Some(jti) = oldest {
            tx.apply(tenant, Op::Token(jti, None));
        }
        tx.apply(tenant, Op::Token(token.jti, Some(Box::new(token.clone()))));
        Ok(token)
    }

    /// The Belvo user a tenant's links and tokens are created by (`created_by`, `user_id`).
    pub fn user(&self, tenant: TenantId) -> Uuid {
        self.inner.tenants[tenant.index()].user
    }

    /// Forgets every link, session and fetched data of one tenant.
    pub fn reset(&self, tx: &mut Tx<'_>, tenant: TenantId) {
        tx.apply(tenant, Op::Clear);
    }

    /// `GET /api/links/`: how many of the tenant's links pass the filters, and the ones of
    /// the page `window` picks from that count (newest first); `NotFound` when it picks none.
    pub fn list_links(
        &self,
        tenant: TenantId,
        params: &Params,
        window: impl FnOnce(usize) -> Option<std::ops::Range<usize>>,
    ) -> Result<(usize, Vec<Value>), Error> {
        let filters = params.compile(&links::filters())?;
        let state = self.lock(tenant);
        let newest_first = || {
            state
                .by_seq
                .values()
                .rev()
                .filter_map(|id| state.links.get(id).map(|l| &**l))
        };
        let keys = filters.keys();
        let matches = |link: &&Link| filters.is_empty() || filters.matches(&link.view(&keys));
        // Without filters the count is the index's size; with them, one pass renders only
        // the filtered keys. Either way only the page is rendered whole.
        let count = if filters.is_empty() {
            state.by_seq.len()
        } else {
            newest_first().filter(matches).count()
        };
        let range = window(count).ok_or(Error::NotFound)?;
        let page = newest_first()
            .filter(matches)
            .skip(range.start)
            .take(range.len())
            .map(Link::to_json)
            .collect();
        Ok((count, page))
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
mod tests;
