//! The hosted widget's operations on the store: the login it makes (a link exactly as
//! `POST /api/links/` makes it, with the token's settings; in update mode, the link's new
//! credentials as `PUT /api/links/{id}/` takes them, or a new MFA session for a link the
//! institution asks a token of), the MFA step, and what the token remembers of its session
//! (the link it connected, the last error the user met).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{Error, MfaChallenge};
use super::links::{Link, LinkStatus};
use super::sessions::Login;
use super::state::Op;
use super::tokens::WidgetToken;
use super::tx::Tx;
use super::{Store, institutions};
use crate::scenario::Scenario;
use crate::tenant::TenantId;

/// Where a widget step left the user.
#[derive(Debug)]
pub enum WidgetStep {
    /// The link is `valid`: the token is used up.
    Connected {
        link: Uuid,
        institution: &'static str,
    },
    /// The institution asks for an MFA token.
    Mfa(MfaChallenge),
    /// Refused: a field (the page shows it by the field) or a login error (remembered for the
    /// exit callback's `last_encountered_error_*`).
    Failed(Error),
    /// The token is expired or used up (another tab finished first).
    TokenInvalid,
}

/// What a token's session can still do.
pub fn usable(token: &WidgetToken, now: chrono::DateTime<chrono::Utc>) -> bool {
    token.connected.is_none() && now < token.expires_at()
}

impl Store {
    /// The token with this `jti`, and whose it is.
    pub fn find_token(&self, jti: Uuid) -> Option<(TenantId, WidgetToken)> {
        self.tenants().find_map(|t| {
            self.lock(t)
                .tokens
                .get(&jti)
                .cloned()
                .map(|token| (t, token))
        })
    }

    /// The tenant's widget tokens, newest first, at most `limit` (the dashboard's list of
    /// widget sessions).
    pub fn widget_tokens(&self, tenant: TenantId, limit: usize) -> Vec<WidgetToken> {
        let state = self.lock(tenant);
        state
            .token_order
            .iter()
            .rev()
            .take(limit)
            .filter_map(|(_, jti)| state.tokens.get(jti).cloned())
            .collect()
    }

    /// The login screen: CPF and INSS password, plus the startup parameters that shape a
    /// link (`access_mode`, `external_id`).
    pub fn widget_login(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        jti: Uuid,
        credentials: (&str, &str),
        startup: (Option<&str>, Option<&str>),
        request_id: Uuid,
    ) -> Result<WidgetStep, Error> {
        let Some(token) = self.open_token(tx, tenant, jti) else {
            return Ok(WidgetStep::TokenInvalid);
        };
        let (cpf, password) = credentials;
        if let Some(target) = token.link.as_ref().map(|l| l.id) {
            return Ok(self.widget_update(tx, tenant, token, target, password, request_id));
        }
        let (access_mode, external_id) = startup;
        let mut body = Map::new();
        body.insert("institution".into(), json!(institutions::INSS));
        body.insert("username".into(), json!(cpf));
        body.insert("password".into(), json!(password));
        body.insert("fetch_resources".into(), json!(token.fetch_resources));
        body.insert("stale_in".into(), json!(token.stale_in));
        if let Some(mode) = access_mode {
            body.insert("access_mode".into(), json!(mode));
        }
        // A recurrent link always stores its credentials; the token's setting is for single
        // links (as Belvo's token body documents it).
        if access_mode == Some("single") {
            body.insert(
                "credentials_storage".into(),
                json!(token.credentials_storage),
            );
        }
        if let Some(id) = external_id {
            body.insert("external_id".into(), Value::String(id.to_owned()));
        }
        let mark = tx.mark();
        let result = self.create_link(tx, tenant, &body, request_id);
        Ok(self.widget_outcome(tx, tenant, token, result, mark))
    }

    /// Update mode: a link that needs a new MFA token gets a session (its screen asks for
    /// the token); any other gets the new password, as `PUT /api/links/{id}/` (which may ask
    /// for a token in turn). Another key pair's link, or one deleted since, is not found.
    fn widget_update(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        token: WidgetToken,
        target: Uuid,
        password: &str,
        request_id: Uuid,
    ) -> WidgetStep {
        let status = tx.state(tenant).links.get(&target).map(|l| l.status);
        let mark = tx.mark();
        let result = match status {
            None => Err(Error::NotFound),
            Some(LinkStatus::TokenRequired) => {
                Ok(Login::TokenRequired(self.open_session(tx, tenant, target)))
            }
            Some(_) => {
                let body = json!({"password": password});
                let body = body.as_object().cloned().unwrap_or_default();
                self.update_link_credentials(tx, tenant, &target.to_string(), &body, request_id)
            }
        };
        self.widget_outcome(tx, tenant, token, result, mark)
    }

    /// The MFA screen: the token the user's app generated, for the session of `link`.
    pub fn widget_mfa(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        jti: Uuid,
        session: (Uuid, &str),
        mfa_token: &str,
        request_id: Uuid,
    ) -> Result<WidgetStep, Error> {
        let Some(token) = self.open_token(tx, tenant, jti) else {
            return Ok(WidgetStep::TokenInvalid);
        };
        let (link, session) = session;
        let body = json!({"link": link, "session": session, "token": mfa_token});
        let body = body.as_object().cloned().unwrap_or_default();
        let mark = tx.mark();
        let result = self.resume_link(tx, tenant, &body, request_id);
        Ok(self.widget_outcome(tx, tenant, token, result, mark))
    }

    /// The token, if its session can still go on (not used up, not expired).
    fn open_token(&self, tx: &mut Tx<'_>, tenant: TenantId, jti: Uuid) -> Option<WidgetToken> {
        let now = self.clock().now();
        tx.state(tenant)
            .tokens
            .get(&jti)
            .filter(|t| usable(t, now))
            .cloned()
    }

    fn widget_outcome(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        mut token: WidgetToken,
        result: Result<Login<Link>, Error>,
        mark: super::tx::Mark,
    ) -> WidgetStep {
        match result {
            Ok(Login::Done(mut link)) => {
                // The user answered the institution's new token: the link's next refreshes
                // log in again without one (set `mock:token-required` again to repeat it).
                if token.link.is_some() && link.scenario == Some(Scenario::TokenRequired) {
                    link.scenario = None;
                    tx.apply(tenant, Op::Link(link.id, Some(Box::new(link.clone()))));
                }
                token.connected = Some(link.id);
                tx.apply(tenant, Op::Token(token.jti, Some(Box::new(token))));
                WidgetStep::Connected {
                    link: link.id,
                    institution: link.institution,
                }
            }
            Ok(Login::TokenRequired(challenge)) => WidgetStep::Mfa(challenge),
            Err(error) => {
                // A refused login stores nothing of the link, as the API's.
                tx.undo_to(mark);
                if !matches!(error, Error::Validation(_)) {
                    let (_, code, message) = error.elements().into_iter().next().unwrap_or((
                        None,
                        "unexpected_error",
                        String::new(),
                    ));
                    token.last_error = Some((code.to_owned(), message));
                    tx.apply(tenant, Op::Token(token.jti, Some(Box::new(token))));
                }
                WidgetStep::Failed(error)
            }
        }
    }
}
