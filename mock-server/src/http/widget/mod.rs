//! The hosted widget under `/widget/`, the fake's `https://widget.belvo.io/`: opened with an
//! `access_token` from `POST /api/token/` and the startup parameters, it takes the user
//! through consent, CPF and password and the MFA token, creates the link as `POST
//! /api/links/` would (or, in update mode, repairs the token's link), and sends the user back to the token's `callback_urls` with Belvo's
//! query parameters (`success`, `exit`, `event`). Forms post back to `/widget/…`; no script.

mod pages;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::Markup;

use super::AppState;
use super::context::{Query, RawBody, RequestId};
use crate::app::WidgetAccess;
use crate::store::institutions::{INSS, INSS_RESOURCES};
use crate::store::tokens::WidgetToken;
use crate::store::widget::WidgetStep;
use crate::store::{Error, Params};
use crate::tenant::TenantId;
use pages::Locale;

/// The startup parameters a page is opened with, carried from page to page.
#[derive(Debug)]
pub struct Startup {
    pub locale: Locale,
    pub access_mode: Option<String>,
    pub external_id: Option<String>,
    pub show_close_dialog: bool,
    pub show_abandon_survey: bool,
    /// The filters (`institutions`, `institution_types`, `country_codes`, `resources`) let
    /// INSS through.
    pub offers_inss: bool,
    /// `(name, value)` of the token and every startup parameter given.
    pub carried: Vec<(String, String)>,
}

const STARTUP: &[&str] = &[
    "access_token",
    "locale",
    "access_mode",
    "external_id",
    "institutions",
    "institution_types",
    "country_codes",
    "resources",
    "show_close_dialog",
    "show_abandon_survey",
];

/// Belvo's `event` callback for a token that opens nothing.
const NOT_VALID: (&str, &str) = (
    "ACCESS_TOKEN_NOT_VALID",
    "The access token was not provided or is not valid",
);

impl Startup {
    fn read(params: &Params) -> Self {
        let given = |name: &str| params.get(name).map(str::trim).filter(|v| !v.is_empty());
        let list = |name: &str| {
            given(name).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        let allows = |name: &str, value: &str| {
            list(name).is_none_or(|l| l.iter().any(|v| v.eq_ignore_ascii_case(value)))
        };
        let resources_ok = list("resources").is_none_or(|wanted| {
            wanted
                .iter()
                .all(|r| INSS_RESOURCES.iter().any(|o| o.eq_ignore_ascii_case(r)))
        });
        Self {
            locale: Locale::parse(given("locale")),
            access_mode: given("access_mode").map(str::to_owned),
            external_id: given("external_id").map(str::to_owned),
            show_close_dialog: given("show_close_dialog") != Some("false"),
            show_abandon_survey: given("show_abandon_survey") != Some("false"),
            offers_inss: allows("institutions", INSS)
                && allows("institution_types", "employment")
                && allows("country_codes", "BR")
                && resources_ok,
            carried: params
                .pairs()
                .iter()
                .filter(|(k, v)| STARTUP.contains(&k.as_str()) && !v.is_empty())
                .cloned()
                .collect(),
        }
    }
}

/// A page of the widget: never cached, framable (the widget script embeds it), no script.
fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; base-uri 'none'",
        ),
    );
    response
}

/// A 303 to `target` with `query` appended (after `?`, or `&` when it has a query).
fn redirect(target: &str, query: &[(&str, String)]) -> Response {
    let encoded = encode(query);
    let separator = if target.contains('?') { '&' } else { '?' };
    let location = format!("{target}{separator}{encoded}");
    match HeaderValue::try_from(location) {
        Ok(value) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SEE_OTHER;
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        // A callback URL that cannot be a header (validated as text only): say so on a page.
        Err(_) => page(
            StatusCode::OK,
            pages::finished(Locale::default(), false, &encoded),
        ),
    }
}

/// Where a token that opens nothing sends the user: its `event` URL when it is a token of
/// ours (expired or used up), else a page saying so.
fn not_valid(locale: Locale, token: Option<&WidgetToken>) -> Response {
    let event = token
        .and_then(|t| t.widget.callback_urls.as_ref())
        .map(|u| u.event.clone());
    match event {
        Some(url) => redirect(
            &url,
            &[
                ("error", NOT_VALID.0.to_owned()),
                ("error_message", NOT_VALID.1.to_owned()),
            ],
        ),
        None => page(StatusCode::UNAUTHORIZED, pages::invalid(locale)),
    }
}

/// The token the request carries, open: else the answer for a token that opens nothing.
fn open(
    state: &AppState,
    params: &Params,
) -> Result<(TenantId, WidgetToken, Startup), Box<Response>> {
    let startup = Startup::read(params);
    let access_token = params.get("access_token").unwrap_or_default();
    match state.app.widget_access(access_token) {
        WidgetAccess::Open(tenant, token) => Ok((tenant, token, startup)),
        WidgetAccess::Spent(token) => Err(Box::new(not_valid(startup.locale, Some(&token)))),
        WidgetAccess::Unknown => Err(Box::new(not_valid(startup.locale, None))),
    }
}

/// For an update-mode token, the link it repairs as the login screen shows it (`None` for a
/// new connection, or when the link is gone: the login then says it is not found).
fn repair(state: &AppState, tenant: TenantId, token: &WidgetToken) -> Option<pages::Repair> {
    let target = token.link.as_ref()?;
    let link = state.store.link(tenant, &target.id.to_string()).ok()?;
    let digits: String = link.cpf.chars().filter(char::is_ascii_digit).collect();
    let cpf = match (digits.get(..3), digits.get(9..)) {
        (Some(head), Some(tail)) => format!("{head}.***.***-{tail}"),
        _ => "***".to_owned(),
    };
    Some(pages::Repair {
        needs_token: link.status == crate::store::links::LinkStatus::TokenRequired,
        cpf,
    })
}

fn form(body: &RawBody) -> Params {
    Params::parse(&String::from_utf8_lossy(&body.0))
}

/// `GET /widget/`: the consent screen.
pub async fn entry(State(state): State<AppState>, Query(params): Query) -> Response {
    match open(&state, &params) {
        Err(answer) => *answer,
        Ok((_, token, startup)) if !startup.offers_inss => {
            page(StatusCode::OK, pages::no_institution(&startup, &token))
        }
        Ok((_, token, startup)) => page(StatusCode::OK, pages::consent(&startup, &token)),
    }
}

/// `GET /widget/login`: CPF and password.
pub async fn login_page(State(state): State<AppState>, Query(params): Query) -> Response {
    match open(&state, &params) {
        Err(answer) => *answer,
        Ok((tenant, token, startup)) => {
            let repair = repair(&state, tenant, &token);
            page(
                StatusCode::OK,
                pages::login(&startup, &token, None, repair.as_ref()),
            )
        }
    }
}

/// `POST /widget/login`: logs in as `POST /api/links/` would.
pub async fn login(
    State(state): State<AppState>,
    request_id: RequestId,
    body: RawBody,
) -> Response {
    let params = form(&body);
    let (tenant, token, startup) = match open(&state, &params) {
        Ok(open) => open,
        Err(answer) => return *answer,
    };
    let credentials = (
        params.get("username").unwrap_or_default().to_owned(),
        params.get("password").unwrap_or_default().to_owned(),
    );
    let step = state
        .app
        .widget_login(
            tenant,
            token.jti,
            credentials,
            (startup.access_mode.clone(), startup.external_id.clone()),
            request_id.0,
        )
        .await;
    let repair = repair(&state, tenant, &token);
    finish(&startup, &token, step, |error| {
        page(
            StatusCode::OK,
            pages::login(&startup, &token, Some((error.0, error.1)), repair.as_ref()),
        )
    })
}

/// `POST /widget/mfa`: the MFA token for the session the login opened.
pub async fn mfa(State(state): State<AppState>, request_id: RequestId, body: RawBody) -> Response {
    let params = form(&body);
    let (tenant, token, startup) = match open(&state, &params) {
        Ok(open) => open,
        Err(answer) => return *answer,
    };
    let link = params.get("link").unwrap_or_default().to_owned();
    let session = params.get("session").unwrap_or_default().to_owned();
    let repair = repair(&state, tenant, &token);
    let Ok(link_id) = uuid::Uuid::try_parse(&link) else {
        return page(
            StatusCode::OK,
            pages::login(&startup, &token, None, repair.as_ref()),
        );
    };
    let step = state
        .app
        .widget_mfa(
            tenant,
            token.jti,
            (link_id, session.clone()),
            params.get("token").unwrap_or_default().to_owned(),
            request_id.0,
        )
        .await;
    finish(&startup, &token, step, |error| {
        // A wrong token leaves the session usable: the same screen again. Anything else
        // (the session expired) starts over at the login.
        match error.2 {
            Error::Login(_) => page(
                StatusCode::OK,
                pages::mfa(&startup, &token, (&link, &session), Some(error.1)),
            ),
            _ => page(
                StatusCode::OK,
                pages::login(&startup, &token, Some((None, error.1)), repair.as_ref()),
            ),
        }
    })
}

/// The answer to a login or MFA step; `refused` renders a step that was refused, with
/// `(field, message, error)`.
fn finish(
    startup: &Startup,
    token: &WidgetToken,
    step: Result<WidgetStep, Error>,
    refused: impl FnOnce((Option<&str>, &str, &Error)) -> Response,
) -> Response {
    match step {
        Ok(WidgetStep::Connected { link, institution }) => {
            let query = [
                ("link", link.to_string()),
                ("institution", institution.to_owned()),
            ];
            match &token.widget.callback_urls {
                Some(urls) => redirect(&urls.success, &query),
                None => page(
                    StatusCode::OK,
                    pages::finished(startup.locale, true, &encode(&query)),
                ),
            }
        }
        Ok(WidgetStep::Mfa(challenge)) => page(
            StatusCode::OK,
            pages::mfa(
                startup,
                token,
                (&challenge.link.to_string(), &challenge.session),
                None,
            ),
        ),
        Ok(WidgetStep::TokenInvalid) => not_valid(startup.locale, Some(token)),
        Ok(WidgetStep::Failed(error)) | Err(error) => {
            let elements = error.elements();
            let (field, message) = elements
                .first()
                .map_or((None, String::new()), |(f, _, m)| (*f, m.clone()));
            refused((field, &message, &error))
        }
    }
}

/// `name=value&…`, spaces as `%20` as in Belvo's examples (`+` is percent-encoded by the
/// serializer, so every `+` it leaves stands for a space).
fn encode(query: &[(&str, String)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in query {
        encoded.append_pair(name, value);
    }
    encoded.finish().replace('+', "%20")
}

/// `POST /widget/exit`: the "are you sure" dialog (`step=confirm`, unless
/// `show_close_dialog=false`), then back to the app's `exit` URL with the last error the
/// user met and where they left.
pub async fn exit(State(state): State<AppState>, body: RawBody) -> Response {
    let params = form(&body);
    let (_, token, startup) = match open(&state, &params) {
        Ok(open) => open,
        Err(answer) => return *answer,
    };
    let screen = match params.get("screen") {
        Some("login") => "login",
        Some("mfa") => "mfa",
        _ => "consent",
    };
    if params.get("step") == Some("confirm") && startup.show_close_dialog {
        return page(
            StatusCode::OK,
            pages::confirm_exit(&startup, &token, screen),
        );
    }
    let mut query = Vec::new();
    if let Some((code, message)) = &token.last_error {
        query.push(("last_encountered_error_code", code.clone()));
        query.push(("last_encountered_error_message", message.clone()));
    }
    if screen == "consent" {
        // Belvo: sent when the user leaves at the initial screen, always `abandon-survey`.
        query.push(("meta_data_step", "abandon-survey".to_owned()));
    } else {
        // Belvo: sent when the user leaves after choosing an institution (INSS is the one).
        query.push(("meta_data_institution_name", INSS.to_owned()));
    }
    match &token.widget.callback_urls {
        Some(urls) => redirect(&urls.exit, &query),
        None => page(
            StatusCode::OK,
            pages::finished(startup.locale, false, &encode(&query)),
        ),
    }
}
