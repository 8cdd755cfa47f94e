//! Widget access tokens on the app: the per-server signing secret (given, kept in
//! `--data-dir`, or new for each run), `POST /api/token/` (the token planned into the store
//! by the writer, then signed as Belvo's HS512 JWTs), and the hosted widget's steps (the
//! token read back from the `access_token` it is opened with).

use super::App;
use crate::db::{Durable, Write};
use crate::store::Error;
use crate::store::tokens::{TokenKind, TokenRequest, WidgetToken};
use crate::store::widget::{WidgetStep, usable};
use crate::tenant::TenantId;

/// The meta key of the secret in the database.
const SECRET_KEY: &str = "widget_secret";

/// The secret tokens are signed with: `given` (`--widget-secret`), else the one kept in the
/// database (made and kept on first use), else a new random one for this run.
pub(super) fn secret(given: Option<&str>, db: Option<&Durable>) -> Result<Vec<u8>, String> {
    if let Some(secret) = given {
        return Ok(secret.as_bytes().to_vec());
    }
    let fresh = || -> String {
        // 64 bytes from the OS's generator (through uuid's v4), as hex.
        (0..4)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect()
    };
    let Some(db) = db else {
        return Ok(fresh().into_bytes());
    };
    if let Some(kept) = db.meta(SECRET_KEY).map_err(|e| e.to_string())? {
        return Ok(kept.into_bytes());
    }
    let made = fresh();
    // Written straight to the database: this runs at start-up, before the writer thread
    // exists, like the read back of the rest (nothing else writes yet).
    db.commit(&[Write::Meta(SECRET_KEY, made.clone())])
        .map_err(|e| e.to_string())?;
    Ok(made.into_bytes())
}

/// The two tokens of one `POST /api/token/` answer.
#[derive(Debug)]
pub struct SignedTokens {
    pub access: String,
    pub refresh: String,
    pub token: WidgetToken,
}

impl App {
    /// Issues the widget token `request` asks for, for `tenant` (whose credentials the
    /// request carried), and signs it; `host` names this server in the claims.
    pub async fn issue_widget_token(
        &self,
        tenant: TenantId,
        request: TokenRequest,
        host: String,
    ) -> Result<SignedTokens, Error> {
        let token = self
            .change(move |tx| tx.store().issue_token(tx, tenant, request))
            .await?;
        let user = self.store.user(tenant);
        let claims = |kind| token.claims(kind, user, &host);
        Ok(SignedTokens {
            access: crate::jwt::sign_hs512(&self.widget_secret, &claims(TokenKind::Access)),
            refresh: crate::jwt::sign_hs512(&self.widget_secret, &claims(TokenKind::Refresh)),
            token,
        })
    }
}

/// What an `access_token` opens.
#[derive(Debug)]
pub enum WidgetAccess {
    /// A token of this server that can still connect a link.
    Open(TenantId, WidgetToken),
    /// A token of this server that expired or was used up.
    Spent(WidgetToken),
    /// No token, a token of another server, or not a token at all.
    Unknown,
}

impl App {
    /// Reads the widget's `access_token`: the signature, the token type, then the token kept
    /// under its `jti` (its state, not its claims, says whether it is used up).
    pub fn widget_access(&self, access_token: &str) -> WidgetAccess {
        let Some(claims) = crate::jwt::verify_hs512(&self.widget_secret, access_token) else {
            return WidgetAccess::Unknown;
        };
        let jti = claims["jti"]
            .as_str()
            .and_then(|j| uuid::Uuid::try_parse(j).ok());
        let (Some(jti), true) = (jti, claims["token_type"] == "access") else {
            return WidgetAccess::Unknown;
        };
        match self.store.find_token(jti) {
            None => WidgetAccess::Unknown,
            Some((tenant, token)) if usable(&token, self.clock.now()) => {
                WidgetAccess::Open(tenant, token)
            }
            Some((_, token)) => WidgetAccess::Spent(token),
        }
    }

    /// The widget's login screen submitted (see [`crate::Store::widget_login`]).
    pub async fn widget_login(
        &self,
        tenant: TenantId,
        jti: uuid::Uuid,
        credentials: (String, String),
        startup: (Option<String>, Option<String>),
        request_id: uuid::Uuid,
    ) -> Result<WidgetStep, Error> {
        self.change(move |tx| {
            tx.store().widget_login(
                tx,
                tenant,
                jti,
                (&credentials.0, &credentials.1),
                (startup.0.as_deref(), startup.1.as_deref()),
                request_id,
            )
        })
        .await
    }

    /// The widget's MFA screen submitted.
    pub async fn widget_mfa(
        &self,
        tenant: TenantId,
        jti: uuid::Uuid,
        session: (uuid::Uuid, String),
        mfa_token: String,
        request_id: uuid::Uuid,
    ) -> Result<WidgetStep, Error> {
        self.change(move |tx| {
            tx.store().widget_mfa(
                tx,
                tenant,
                jti,
                (session.0, &session.1),
                &mfa_token,
                request_id,
            )
        })
        .await
    }
}
