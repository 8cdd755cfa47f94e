//! MFA sessions: opened by a 428, used up by the resume that brings a good token, expired on
//! the virtual clock.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;
use super::error::{Error, LoginFailure, MfaChallenge};
use super::links::{Resume, WRONG_TOKEN};
use super::state::Op;
use super::tx::Tx;
use crate::tenant::TenantId;

/// An MFA session opened by a 428, waiting for `PATCH /api/links/` (or `/api/owners/`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct MfaSession {
    pub link: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A 32-hex id (sessions, request ids).
pub fn hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// What a login that may ask for a token came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Login<T> {
    Done(T),
    /// The institution waits for a token: a 428 with this session (stored).
    TokenRequired(MfaChallenge),
}

impl Store {
    /// Opens a session for `link`: the 428's challenge.
    pub(super) fn open_session(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        link: Uuid,
    ) -> MfaChallenge {
        let now = self.clock().now();
        let session = hex_id();
        let expires_at = now
            .checked_add_signed(self.session_expiry())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        tx.apply(
            tenant,
            Op::Session(session.clone(), Some(MfaSession { link, expires_at })),
        );
        MfaChallenge {
            session,
            expiry: self.session_expiry().num_seconds().max(0) as u64,
            link,
        }
    }

    /// Checks a resume's session and token; a good token uses the session up
    /// (`Ok(Done)`). No token: the institution still waits for one, on the same session (a
    /// 428 again). A wrong token leaves the session usable until it expires.
    pub(super) fn use_session(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        request: &Resume,
    ) -> Result<Login<()>, Error> {
        let now = self.clock().now();
        let session = tx
            .state(tenant)
            .sessions
            .get(&request.session)
            .filter(|s| s.link == request.link && s.expires_at > now)
            .cloned()
            .ok_or(Error::SessionExpired)?;
        match request.token.as_deref() {
            None => Ok(Login::TokenRequired(MfaChallenge {
                session: request.session.clone(),
                expiry: (session.expires_at - now).num_seconds().max(0) as u64,
                link: request.link,
            })),
            Some(WRONG_TOKEN) => Err(Error::Login(LoginFailure::InvalidCredentials)),
            Some(_) => {
                tx.apply(tenant, Op::Session(request.session.clone(), None));
                Ok(Login::Done(()))
            }
        }
    }
}
