//! Widget access tokens (`POST /api/token/`): the rules of the Employments Brazil request body
//! and of the short update-mode body (`link_id`), and the token a widget session starts from
//! with the claims Belvo's JWTs carry. Signing is the app's (it holds the secret).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::Error;
use super::fields::{Fields, Text};
use super::links::{self, LinkStatus};

/// Seconds an access token is valid, on the virtual clock. Belvo's guides say "valid for 10
/// minutes" (four pages); the JWT examples of the spec are 20 minutes: the shorter is kept,
/// as an app that works with it works with the longer.
pub const ACCESS_LIFETIME_SECS: i64 = 600;
/// Seconds a refresh token is valid: 7,200 days, as in the spec's examples (Belvo documents
/// no use for it).
pub const REFRESH_LIFETIME_SECS: i64 = 7_200 * 86_400;
/// Tokens kept per key pair; past it the oldest is forgotten (a flood of token requests
/// cannot grow memory without bound).
pub const MAX_TOKENS: usize = 10_000;
/// How long an expired token is kept (for the widget to tell "expired" from "unknown").
pub const KEEP_EXPIRED_SECS: i64 = 24 * 3600;

/// A scope of `scopes` (a comma-separated string on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    ReadInstitutions,
    WriteLinks,
    ReadLinks,
    DeleteLinks,
    ReadConsents,
    WriteConsents,
    WriteConsentCallback,
    DeleteConsents,
}

impl Scope {
    const ALL: [Scope; 8] = [
        Scope::ReadInstitutions,
        Scope::WriteLinks,
        Scope::ReadLinks,
        Scope::DeleteLinks,
        Scope::ReadConsents,
        Scope::WriteConsents,
        Scope::WriteConsentCallback,
        Scope::DeleteConsents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadInstitutions => "read_institutions",
            Self::WriteLinks => "write_links",
            Self::ReadLinks => "read_links",
            Self::DeleteLinks => "delete_links",
            Self::ReadConsents => "read_consents",
            Self::WriteConsents => "write_consents",
            Self::WriteConsentCallback => "write_consent_callback",
            Self::DeleteConsents => "delete_consents",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Where the hosted widget sends the user back (`widget.callback_urls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackUrls {
    pub success: String,
    pub exit: String,
    pub event: String,
}

/// The app's branding on the widget's screens (`widget.branding`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    pub company_icon: String,
    pub company_logo: String,
    pub company_name: String,
    pub company_terms_url: String,
    pub company_terms_version: Option<String>,
    pub overlay_background_color: Option<String>,
    pub social_proof: Option<bool>,
}

/// The `widget` object of the request: all of it optional (the SDKs send none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widget {
    pub callback_urls: Option<CallbackUrls>,
    pub branding: Option<Branding>,
    /// `(css_key, value)` pairs.
    pub theme: Vec<(String, String)>,
}

/// A `POST /api/token/` body that passed every rule.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub id: String,
    pub password: String,
    pub scopes: Vec<Scope>,
    pub stale_in: Option<String>,
    pub credentials_storage: Option<String>,
    pub fetch_resources: Option<Vec<String>>,
    /// Update mode: the link the widget is to repair.
    pub link: Option<Uuid>,
    pub widget: Widget,
}

/// The link an update-mode token is for, as it was when the token was issued (the `link`
/// claim).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLink {
    pub id: Uuid,
    pub status: LinkStatus,
    pub institution: String,
}

/// An issued token: what its claims say and what the widget needs of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetToken {
    /// The access token's `jti`, the token's key.
    pub jti: Uuid,
    pub refresh_jti: Uuid,
    pub issued_at: DateTime<Utc>,
    pub scopes: Vec<Scope>,
    pub stale_in: String,
    pub credentials_storage: String,
    pub fetch_resources: Vec<String>,
    pub link: Option<TokenLink>,
    pub widget: Widget,
    /// The link the widget connected with it: the token is used up.
    #[serde(default)]
    pub connected: Option<Uuid>,
    /// The last error the user met in the widget, `(code, message)`, for the exit callback.
    #[serde(default)]
    pub last_error: Option<(String, String)>,
}

/// Which of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl WidgetToken {
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.issued_at + chrono::Duration::seconds(ACCESS_LIFETIME_SECS)
    }

    /// The JWT claims, in the order of Belvo's examples. `user` is the key pair's Belvo user
    /// (`user_id`, also links' `created_by`); `host` names this server (`api_url`, `iss`).
    pub fn claims(&self, kind: TokenKind, user: Uuid, host: &str) -> Value {
        let (token_type, jti, lifetime) = match kind {
            TokenKind::Access => ("access", self.jti, ACCESS_LIFETIME_SECS),
            TokenKind::Refresh => ("refresh", self.refresh_jti, REFRESH_LIFETIME_SECS),
        };
        let iat = self.issued_at.timestamp();
        let mut claims = json!({
            "token_type": token_type,
            "exp": iat + lifetime,
            "iat": iat,
            "jti": jti.simple().to_string(),
            // The same id as the `created_by` of the key pair's links.
            "user_id": user.hyphenated().to_string(),
            "scopes": self.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "environment": "sandbox",
            "api_url": host,
            "credentials_storage": self.credentials_storage,
            "stale_in": self.stale_in,
            "fetch_resources": self.fetch_resources,
            "iss": host,
        });
        if let Some(link) = &self.link {
            claims["link"] = json!({
                "id": link.id,
                "status": link.status.as_str(),
                "institution": link.institution,
            });
        }
        claims
    }
}

impl TokenRequest {
    /// Applies every rule of `WidgetTokenRequestEmploymentBrazil`, with what the SDKs and the
    /// update-mode guide actually send optional: `{id, password, scopes}` alone is a token
    /// with the defaults, `link_id` makes it an update-mode token. Extra keys are ignored.
    pub fn validate(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let id = f.text("id", Text::REQUIRED);
        let password = f.text(
            "password",
            Text {
                keep_whitespace: true,
                ..Text::REQUIRED
            },
        );
        let scopes = f.text("scopes", Text::REQUIRED).and_then(|raw| {
            let mut scopes = Vec::new();
            for name in raw.split(',').map(str::trim) {
                match Scope::parse(name) {
                    Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
                    Some(_) => {}
                    None => {
                        f.add(
                            "scopes",
                            "invalid_choice",
                            format!("\"{name}\" is not a valid choice."),
                        );
                        return None;
                    }
                }
            }
            Some(scopes)
        });
        let stale_in = links::stale_in(&mut f);
        let credentials_storage = f.text("credentials_storage", Text::OPTIONAL);
        if let Some(s) = &credentials_storage
            && !links::credentials_storage_ok(s)
        {
            f.add("credentials_storage", "invalid", super::fields::NOT_VALID);
        }
        let fetch_resources = links::fetch_resources(&mut f);
        // `null` is what a client sends for "no link" as often as it leaves the key out.
        let link = match body.get("link_id") {
            None | Some(Value::Null) => None,
            Some(_) => f.uuid("link_id", false),
        };
        let widget = f.object("widget").map(|w| widget(&mut f, w));
        f.finish()?;
        let (Some(id), Some(password), Some(scopes)) = (id, password, scopes) else {
            // `finish` reports every missing required field, so this is unreachable.
            return Err(Error::Unexpected);
        };
        if let Some(resources) = &fetch_resources {
            links::check_supported(resources)?;
        }
        Ok(Self {
            id,
            password,
            scopes,
            stale_in,
            credentials_storage,
            fetch_resources,
            link,
            widget: widget.unwrap_or_default(),
        })
    }
}

/// `widget`: `callback_urls` (all three when given), `branding` (the four company fields
/// when given) and `theme`; errors are named by their path (`widget.branding.company_name`).
fn widget(f: &mut Fields<'_>, body: &Map<String, Value>) -> Widget {
    let mut w = Fields::new(body);
    let callback_urls = w.object("callback_urls").map(|urls| {
        let mut u = Fields::new(urls);
        let [success, exit, event] =
            ["success", "exit", "event"].map(|name| u.text(name, Text::REQUIRED));
        w.absorb("callback_urls", u);
        Some(CallbackUrls {
            success: success?,
            exit: exit?,
            event: event?,
        })
    });
    let branding = w.object("branding").map(|brand| {
        let mut b = Fields::new(brand);
        let [icon, logo, name, terms] = [
            "company_icon",
            "company_logo",
            "company_name",
            "company_terms_url",
        ]
        .map(|field| b.text(field, Text::REQUIRED));
        let terms_version = b.text("company_terms_version", Text::OPTIONAL);
        let overlay = b.text("overlay_background_color", Text::OPTIONAL);
        let social_proof = b.boolean("social_proof");
        w.absorb("branding", b);
        Some(Branding {
            company_icon: icon?,
            company_logo: logo?,
            company_name: name?,
            company_terms_url: terms?,
            company_terms_version: terms_version,
            overlay_background_color: overlay,
            social_proof,
        })
    });
    let theme = theme(&mut w, body);
    f.absorb("widget", w);
    Widget {
        callback_urls: callback_urls.flatten(),
        branding: branding.flatten(),
        theme,
    }
}

/// `widget.theme`: a list of `{css_key, value}`.
fn theme(w: &mut Fields<'_>, body: &Map<String, Value>) -> Vec<(String, String)> {
    let Some(value) = body.get("theme") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        w.add(
            "theme",
            "not_a_list",
            format!(
                "Expected a list of items but got type \"{}\".",
                super::fields::python_type(value)
            ),
        );
        return Vec::new();
    };
    let mut theme = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            w.add(
                &format!("theme.{i}"),
                "invalid",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    super::fields::python_type(item)
                ),
            );
            continue;
        };
        let mut e = Fields::new(entry);
        let key = e.text("css_key", Text::REQUIRED);
        let value = e.text("value", Text::REQUIRED);
        w.absorb(&format!("theme.{i}"), e);
        if let (Some(key), Some(value)) = (key, value) {
            theme.push((key, value));
        }
    }
    theme
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn fields_of(error: Error) -> Vec<(String, &'static str, String)> {
        match error {
            Error::Validation(fields) => fields
                .into_iter()
                .map(|f| (f.field, f.code, f.message))
                .collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn what_the_sdks_send_is_enough() {
        let request = TokenRequest::validate(&body(json!({
            "id": "key", "password": "secret", "scopes": "read_institutions,write_links"
        })))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            request.scopes,
            vec![Scope::ReadInstitutions, Scope::WriteLinks]
        );
        assert_eq!((request.link, request.widget), (None, Widget::default()));
    }

    #[test]
    fn the_employments_brazil_body_is_read_whole() {
        let request = TokenRequest::validate(&body(json!({
            "id": "key", "password": "secret", "scopes": "read_institutions,write_links",
            "stale_in": "365d", "credentials_storage": "store",
            "fetch_resources": ["EMPLOYMENTS", "OWNERS"],
            "widget": {
                "callback_urls": {"success": "app://success", "exit": "app://exit", "event": "app://error"},
                "branding": {"company_icon": "https://acme.test/i.svg", "company_logo": "https://acme.test/l.svg",
                             "company_name": "ACME", "company_terms_url": "https://acme.test/terms",
                             "social_proof": true},
                "theme": [{"css_key": "--color-primary-base", "value": "#123456"}]
            }
        })))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(request.stale_in.as_deref(), Some("365d"));
        assert_eq!(
            request.widget.callback_urls.map(|u| u.event).as_deref(),
            Some("app://error")
        );
        assert_eq!(
            request
                .widget
                .branding
                .map(|b| (b.company_name, b.social_proof)),
            Some(("ACME".to_owned(), Some(true)))
        );
        assert_eq!(
            request.widget.theme,
            vec![("--color-primary-base".to_owned(), "#123456".to_owned())]
        );
    }

    #[test]
    fn every_bad_field_is_named_by_its_path() {
        let error = TokenRequest::validate(&body(json!({
            "scopes": "read_institutions,write_everything",
            "stale_in": "1y",
            "credentials_storage": "forever",
            "fetch_resources": ["EMPLOYMENTS", "SALARIES"],
            "link_id": "not-a-uuid",
            "widget": {
                "callback_urls": {"success": "app://success"},
                "branding": {"company_name": "ACME", "social_proof": "maybe"},
                "theme": [{"css_key": "--x"}, 3]
            }
        })))
        .err()
        .unwrap_or_else(|| panic!("refused"));
        let fields = fields_of(error);
        let named: Vec<&str> = fields.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(
            named,
            vec![
                "id",
                "password",
                "scopes",
                "stale_in",
                "credentials_storage",
                "fetch_resources",
                "link_id",
                "widget.callback_urls.exit",
                "widget.callback_urls.event",
                "widget.branding.company_icon",
                "widget.branding.company_logo",
                "widget.branding.company_terms_url",
                "widget.branding.social_proof",
                "widget.theme.0.value",
                "widget.theme.1",
            ]
        );
        assert_eq!(
            fields[2],
            (
                "scopes".to_owned(),
                "invalid_choice",
                "\"write_everything\" is not a valid choice.".to_owned()
            )
        );
        assert_eq!(
            fields[14].2,
            "Invalid data. Expected a dictionary, but got int."
        );
    }

    #[test]
    fn resources_inss_does_not_offer_are_refused_as_a_whole() {
        let refused = TokenRequest::validate(&body(json!({
            "id": "key", "password": "secret", "scopes": "read_institutions,write_links",
            "fetch_resources": ["ACCOUNTS"]
        })));
        assert!(
            matches!(refused, Err(Error::InvalidResources(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn an_update_mode_token_carries_the_link_claim_and_the_documented_lifetimes() {
        let link = Uuid::new_v4();
        let token = WidgetToken {
            jti: Uuid::new_v4(),
            refresh_jti: Uuid::new_v4(),
            issued_at: DateTime::from_timestamp(1_727_358_995, 0).unwrap_or_default(),
            scopes: vec![Scope::ReadInstitutions, Scope::WriteLinks],
            stale_in: "365d".into(),
            credentials_storage: "store".into(),
            fetch_resources: vec!["EMPLOYMENTS".into(), "OWNERS".into()],
            link: Some(TokenLink {
                id: link,
                status: LinkStatus::Invalid,
                institution: "inss_br_employment".into(),
            }),
            widget: Widget::default(),
            connected: None,
            last_error: None,
        };
        let access = token.claims(TokenKind::Access, Uuid::nil(), "127.0.0.1:8000");
        assert_eq!(access["exp"].as_i64(), Some(1_727_358_995 + 600));
        assert_eq!(
            access["link"],
            json!({"id": link, "status": "invalid", "institution": "inss_br_employment"})
        );
        assert_eq!(
            access["scopes"],
            json!(["read_institutions", "write_links"])
        );
        let refresh = token.claims(TokenKind::Refresh, Uuid::nil(), "127.0.0.1:8000");
        assert_eq!(refresh["token_type"], "refresh");
        assert_eq!(refresh["exp"].as_i64(), Some(1_727_358_995 + 622_080_000));
        assert_ne!(refresh["jti"], access["jti"]);
    }
}
