//! Widget access tokens on the app: the per-server signing secret (given, kept in
//! `--data-dir`, or new for each run) and `POST /api/token/` (the token planned into the store
//! by the writer, then signed as Belvo's HS512 JWTs).

use super::App;
use crate::db::{Durable, Write};
use crate::store::Error;
use crate::store::tokens::{TokenKind, TokenRequest, WidgetToken};
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
