//! The hosted widget under `/widget/`, the fake's `https://widget.belvo.io/`: opened with an
//! `access_token` from `POST /api/token/` and the startup parameters, it takes the user
//! through consent, CPF and password and the MFA token, creates the link as `POST
//! /api/links/` would (or, in update mode, repairs the token's link), and sends the user back to the token's `callback_urls` with Belvo's
//! query parameters (`success`, `exit`, `event`). Forms post back to `/widget/…`. Embedded by
//! the widget script (`/belvo-widget-1-stable.js`, which passes `sdk_origin`), the same pages
//! tell the app's page instead, through `bridge.js` and `postMessage`.

mod pages;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::Markup;
use serde_json::{Value, json};

use super::AppState;
use super::context::{Query, RawBody, RequestId};
use crate::app::WidgetAccess;
use crate::store::institutions::{INSS, INSS_RESOURCES};
use crate::store::tokens::WidgetToken;
use crate::store::widget::WidgetStep;
use crate::store::{Error, Params};
use crate::tenant::TenantId;
use pages::{Bridge, Locale};

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
    /// The origin of the app's page that embeds the widget (the widget script's); `None`:
    /// the hosted widget, which redirects.
    pub sdk_origin: Option<String>,
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
    "sdk_origin",
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
            sdk_origin: given("sdk_origin")
                .filter(|o| is_origin(o))
                .map(str::to_owned),
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

/// `http(s)://host[:port]` and nothing else: where `postMessage` may deliver.
fn is_origin(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Belvo's `ERROR` event of the webview and web SDK (`meta_data`, with a millisecond
/// timestamp).
fn error_event(state: &AppState, code: &str, message: &str, institution: &str) -> Value {
    json!({
        "eventName": "ERROR",
        "request_id": uuid::Uuid::new_v4().hyphenated().to_string(),
        "meta_data": {
            "error_code": code,
            "error_message": message,
            "institution_name": institution,
            "timestamp": state.store.clock().now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        },
    })
}

/// A page of the widget: never cached, framable (the widget script embeds it); the only
/// script is `bridge.js`, of this origin.
fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src http: https: data:; base-uri 'none'",
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
            pages::finished(&Bridge::default(), Locale::default(), false, &encoded),
        ),
    }
}

/// Where a token that opens nothing sends the user: its `event` URL when it is a token of
/// ours (expired or used up), else a page saying so; embedded, the app's `onEvent` hears an
/// `ERROR` with the same code.
fn not_valid(state: &AppState, startup: &Startup, token: Option<&WidgetToken>) -> Response {
    let bridge = Bridge::end(startup).event(error_event(state, NOT_VALID.0, NOT_VALID.1, ""));
    let event = token
        .and_then(|t| t.widget.callback_urls.as_ref())
        .map(|u| u.event.clone());
    match event {
        Some(url) if !bridge.embedded() => redirect(
            &url,
            &[
                ("error", NOT_VALID.0.to_owned()),
                ("error_message", NOT_VALID.1.to_owned()),
            ],
        ),
        _ => page(
            StatusCode::UNAUTHORIZED,
            pages::invalid(&bridge, startup.locale),
        ),
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
        WidgetAccess::Spent(token) => Err(Box::new(not_valid(state, &startup, Some(&token)))),
        WidgetAccess::Unknown => Err(Box::new(not_valid(state, &startup, None))),
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
            let bridge = Bridge::page(&startup, "/institutions", "");
            page(
                StatusCode::OK,
                pages::no_institution(&bridge, &startup, &token),
            )
        }
        Ok((_, token, startup)) => {
            let bridge = Bridge::page(&startup, "/consent", "");
            page(StatusCode::OK, pages::consent(&bridge, &startup, &token))
        }
    }
}

/// `GET /widget/login`: CPF and password.
pub async fn login_page(State(state): State<AppState>, Query(params): Query) -> Response {
    match open(&state, &params) {
        Err(answer) => *answer,
        Ok((tenant, token, startup)) => {
            let repair = repair(&state, tenant, &token);
            let bridge = Bridge::page(&startup, "/login", "/consent");
            page(
                StatusCode::OK,
                pages::login(&bridge, &startup, &token, None, repair.as_ref()),
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
    finish(&state, &startup, &token, step, |error| {
        let bridge = refused_bridge(&state, &startup, "/login", "/login", error);
        page(
            StatusCode::OK,
            pages::login(
                &bridge,
                &startup,
                &token,
                Some((error.0, error.1)),
                repair.as_ref(),
            ),
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
        let bridge = Bridge::page(&startup, "/login", "/mfa");
        return page(
            StatusCode::OK,
            pages::login(&bridge, &startup, &token, None, repair.as_ref()),
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
    finish(&state, &startup, &token, step, |error| {
        // A wrong token leaves the session usable: the same screen again. Anything else
        // (the session expired) starts over at the login.
        match error.2 {
            Error::Login(_) => {
                let bridge = refused_bridge(&state, &startup, "/mfa", "/mfa", error);
                page(
                    StatusCode::OK,
                    pages::mfa(&bridge, &startup, &token, (&link, &session), Some(error.1)),
                )
            }
            _ => {
                let bridge = refused_bridge(&state, &startup, "/login", "/mfa", error);
                page(
                    StatusCode::OK,
                    pages::login(
                        &bridge,
                        &startup,
                        &token,
                        Some((None, error.1)),
                        repair.as_ref(),
                    ),
                )
            }
        }
    })
}

/// The answer to a login or MFA step; `refused` renders a step that was refused, with
/// `(field, message, error)`.
fn finish(
    state: &AppState,
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
            let bridge = Bridge::end(startup).post(json!({
                "kind": "success", "link": link, "institution": institution,
            }));
            match &token.widget.callback_urls {
                Some(urls) if !bridge.embedded() => redirect(&urls.success, &query),
                _ => page(
                    StatusCode::OK,
                    pages::finished(&bridge, startup.locale, true, &encode(&query)),
                ),
            }
        }
        Ok(WidgetStep::Mfa(challenge)) => {
            let bridge = Bridge::page(startup, "/mfa", "/login");
            page(
                StatusCode::OK,
                pages::mfa(
                    &bridge,
                    startup,
                    token,
                    (&challenge.link.to_string(), &challenge.session),
                    None,
                ),
            )
        }
        Ok(WidgetStep::TokenInvalid) => not_valid(state, startup, Some(token)),
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
/// The bridge of a screen shown again after a refused step: its `PAGE_LOAD`, and an `ERROR`
/// for a login error (not for a field the user can correct).
fn refused_bridge(
    state: &AppState,
    startup: &Startup,
    page: &str,
    from: &str,
    error: (Option<&str>, &str, &Error),
) -> Bridge {
    let bridge = Bridge::page(startup, page, from);
    match error.2 {
        Error::Validation(_) => bridge,
        other => {
            let code = other.elements().first().map_or("unexpected_error", |e| e.1);
            bridge.event(error_event(state, code, error.1, INSS))
        }
    }
}

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
        let bridge = Bridge::page(&startup, "/exit", &format!("/{screen}"));
        return page(
            StatusCode::OK,
            pages::confirm_exit(&bridge, &startup, &token, screen),
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
    // The web SDK's `onExit` gets the same facts as one object (the shape of Belvo's webview
    // JSON; third-party typings that say "an array" are not followed).
    let mut meta = json!({});
    if screen == "consent" {
        meta["step"] = json!("abandon-survey");
    } else {
        meta["institution_name"] = json!(INSS);
    }
    let mut data = json!({"meta_data": meta});
    if let Some((code, message)) = &token.last_error {
        data["last_encountered_error"] = json!({"code": code, "message": message});
    }
    let bridge = Bridge::end(&startup).post(json!({"kind": "exit", "data": data}));
    match &token.widget.callback_urls {
        Some(urls) if !bridge.embedded() => redirect(&urls.exit, &query),
        _ => page(
            StatusCode::OK,
            pages::finished(&bridge, startup.locale, false, &encode(&query)),
        ),
    }
}

/// `bridge.js`: posts an embedded page's messages to the app's page (the origin the widget
/// script gave), so the script can call `callback`, `onExit` and `onEvent`.
pub async fn bridge_script() -> Response {
    script(BRIDGE_JS)
}

/// The drop-in for Belvo's widget script: `window.belvoSDK.createWidget(access_token,
/// config).build()` on `<div id="belvo">`, the hosted widget in an iframe.
pub async fn sdk_script() -> Response {
    script(SDK_JS)
}

fn script(source: &'static str) -> Response {
    let mut response = source.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

const BRIDGE_JS: &str = include_str!("bridge.js");
const SDK_JS: &str = include_str!("belvo-widget.js");
