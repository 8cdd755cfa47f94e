//! The dashboard under `/_mock/ui/`: links and their data, webhook settings and deliveries
//! with every attempt, the request journal and the virtual clock, as server-rendered HTML
//! (maud; no JavaScript, nothing from a CDN). Forms POST and redirect; every form carries a
//! token tied to the key pair, so another site cannot make the browser submit them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::context::{PathId, Query, RawBody, Tenant};
use super::error::ApiError;
use crate::clock::format_timestamp;
use crate::store::{Error, Params};
use crate::tenant::TenantId;
use crate::webhooks::{Delivery, WebhookConfig};

type Result<T> = std::result::Result<T, ApiError>;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2433;background:#f5f7fb}
header{background:#0f1f3d;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfe0ff;text-decoration:none;font-weight:600}header strong{font-size:18px;margin-right:16px}
main{padding:20px 24px;max-width:1200px}
section{background:#fff;border:1px solid #dde3ee;border-radius:8px;padding:16px 20px;margin-bottom:20px}
h1{font-size:22px;margin:0 0 16px}h2{font-size:17px;margin:0 0 12px}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef1f6;vertical-align:top}
th{color:#5b6577;font-weight:600}code{font-size:13px}
.status{padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600}
.valid,.delivered{background:#dff5e6;color:#17693a}.unconfirmed,.pending{background:#fff3d6;color:#8a5a00}
.invalid,.failed,.token_required{background:#fde2e1;color:#9b1c1c}.undeliverable{background:#e8ebf2;color:#3f4859}
form.inline{display:inline}input[type=text],input[type=number]{padding:6px 8px;border:1px solid #c9d1df;border-radius:6px;min-width:320px}
button{padding:6px 12px;border:0;border-radius:6px;background:#2457d6;color:#fff;font-weight:600;cursor:pointer}
.muted{color:#6b7485}.attempts{margin:4px 0 0;padding-left:18px;font-size:13px}
"#;

/// The token every form of this key pair carries.
fn csrf_token(state: &AppState, tenant: TenantId) -> String {
    let digest =
        Sha256::digest(format!("csrf/{}/{}", state.csrf_secret, tenant.index()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A submitted form, with its token checked.
fn form(state: &AppState, tenant: TenantId, body: &Bytes) -> Result<Params> {
    let params = Params::parse(&String::from_utf8_lossy(body));
    let sent = params.get("csrf").unwrap_or_default();
    let expected = csrf_token(state, tenant);
    if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(params)
    } else {
        Err(Error::field(
            "csrf",
            "invalid",
            "The form token is missing or wrong; reload the page.",
        )
        .into())
    }
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn page(state: &AppState, tenant: TenantId, title: &str, body: Markup) -> Response {
    let clock = state.store.clock();
    let csrf = csrf_token(state, tenant);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · belvo-mock" }
                // No favicon request: nothing the page loads may fail.
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "belvo-mock" }
                    a href="/_mock/ui/" { "Links" }
                    a href="/_mock/ui/webhooks" { "Webhooks" }
                    a href="/_mock/ui/requests" { "Requests" }
                    a href="/_mock/ui/widget" { "Widget" }
                    span.muted style="margin-left:auto;color:#cfe0ff" {
                        "virtual time " (format_timestamp(clock.now()))
                    }
                }
                main {
                    (body)
                    section id="clock" {
                        h2 { "Clock" }
                        p {
                            "Virtual time " code { (format_timestamp(clock.now())) }
                            ", " (format!("{:.0}", clock.offset().as_secs_f64())) " s ahead of real time. "
                            "Advancing it expires MFA sessions, ends cooldowns and brings webhook delays and retries forward."
                        }
                        form method="post" action="/_mock/ui/clock/advance" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="number" name="seconds" min="0" step="1" value="60" aria-label="seconds";
                            " "
                            button type="submit" { "Advance" }
                        }
                    }
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

fn status_badge(status: &str) -> Markup {
    html! { span class=(format!("status {status}")) { (status) } }
}

/// `529.***.***-25`: enough to tell people apart, not enough to leak the CPF.
fn masked_cpf(cpf: &str) -> String {
    if cpf.len() == 11 {
        format!("{}.***.***-{}", &cpf[..3], &cpf[9..])
    } else {
        "***".to_owned()
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn deliveries_table(state: &AppState, tenant: TenantId, deliveries: &[Delivery]) -> Markup {
    let csrf = csrf_token(state, tenant);
    html! {
        @if deliveries.is_empty() {
            p.muted { "No webhook yet." }
        } @else {
            table id="deliveries" {
                tr { th { "Webhook" } th { "Link" } th { "Type / code" } th { "Status" } th { "Attempts" } th {} }
                @for d in deliveries {
                    tr.delivery data-webhook-id=(d.webhook_id) {
                        td { code { (d.webhook_id) } br; span.muted { (format_timestamp(d.created_at)) } }
                        td { a href=(format!("/_mock/ui/links/{}", d.link_id)) { code { (d.link_id.to_string()[..8]) "…" } } }
                        td { (d.webhook_type) " / " (d.webhook_code) }
                        td { (status_badge(d.status.as_str()))
                             @if let Some(next) = d.next_attempt_at { br; span.muted { "next " (format_timestamp(next)) } } }
                        td {
                            span.attempt-count { (d.attempts.len()) }
                            @if !d.attempts.is_empty() {
                                ol.attempts {
                                    @for a in &d.attempts {
                                        li {
                                            (format_timestamp(a.at)) " — "
                                            @match a.status_code { Some(code) => { "HTTP " (code) }, None => { "no answer" } }
                                            " in " (format!("{:.1}", a.latency_ms)) " ms"
                                            @if let Some(error) = &a.error { " — " span.muted { (error) } }
                                        }
                                    }
                                }
                            }
                        }
                        td {
                            @if d.status.is_final() {
                                form.inline method="post" action=(format!("/_mock/ui/webhooks/{}/redeliver", d.webhook_id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Redeliver" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Links shown on the dashboard's first page, newest first (the API pages through all).
const LINK_ROWS: usize = 200;

/// `GET /_mock/ui/`: the key pair's newest links.
pub async fn links(State(state): State<AppState>, Tenant(tenant): Tenant) -> Result<Response> {
    let (count, links) = state
        .store
        .list_links(tenant, &Params::default(), |count| {
            Some(0..count.min(LINK_ROWS))
        })?;
    let body = html! {
        section {
            h1 { "Links" }
            @if count > links.len() {
                p.muted { "The newest " (links.len()) " of " (count) " links; GET /api/links/ pages through all of them." }
            }
            @if links.is_empty() {
                p.muted { "No link yet. Create one with POST /api/links/ (see the README)." }
            } @else {
                table id="links" {
                    tr { th { "Link" } th { "Status" } th { "Institution" } th { "CPF" } th { "external_id" } th { "Created" } }
                    @for l in &links {
                        @let id = text(&l["id"]);
                        @let cpf = state.store.link(tenant, &id).map(|link| masked_cpf(&link.cpf)).unwrap_or_default();
                        tr {
                            td { a href=(format!("/_mock/ui/links/{id}")) { code { (id) } } }
                            td { (status_badge(&text(&l["status"]))) }
                            td { (text(&l["institution"])) }
                            td { (cpf) }
                            td { (text(&l["external_id"])) }
                            td { (text(&l["created_at"])) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&state, tenant, "Links", body))
}

/// `GET /_mock/ui/links/{id}`: one link with its owners, employments and webhooks.
pub async fn link(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
) -> Result<Response> {
    let link = state.store.link(tenant, &id)?;
    let json = link.to_json();
    let by_link = Params::parse(&format!("link={}", link.id));
    // An unconfirmed link has no data to show (the API refuses it too).
    let owners = state
        .store
        .list_owners(tenant, &by_link)
        .unwrap_or_default();
    let employments = state
        .store
        .list_employments(tenant, &by_link)
        .unwrap_or_default();
    let deliveries = state
        .app
        .journal
        .deliveries(Some(tenant), Some(link.id), None);
    let body = html! {
        section {
            h1 { "Link " code { (link.id) } }
            table {
                @for key in ["status", "institution", "access_mode", "refresh_rate", "credentials_storage", "stale_in", "fetch_resources", "external_id", "created_at", "last_accessed_at"] {
                    tr { th { (key) } td { @if key == "status" { (status_badge(&text(&json[key]))) } @else { (text(&json[key])) } } }
                }
                tr { th { "CPF" } td { (masked_cpf(&link.cpf)) } }
                tr { th { "next scheduled refresh" } td {
                    @match link.next_refresh() {
                        Some(at) => { (format_timestamp(at)) }
                        None => { span.muted { "none (only valid recurrent links are refreshed)" } }
                    }
                } }
            }
        }
        section {
            h2 { "Status history" }
            table id="history" {
                tr { th { "Time" } th { "Status" } th { "Cause" } }
                @for change in &link.history {
                    tr {
                        td { (format_timestamp(change.at)) }
                        td { (status_badge(change.status.as_str())) }
                        td { (change.cause) }
                    }
                }
            }
        }
        section {
            h2 { "Owners (" (owners.len()) ")" }
            @for o in &owners {
                p { strong { (text(&o["display_name"])) } br;
                    span.muted { (text(&o["email"])) " · " (text(&o["phone_number"])) } br;
                    (text(&o["address"])) }
            }
        }
        section {
            h2 { "Employments (" (employments.len()) ")" }
            table id="employments" {
                tr { th { "Employer" } th { "CNPJ" } th { "Period" } th { "Occupation" } th { "Latest salary" } }
                @for e in &employments {
                    @let latest = e["salaries"].as_array().and_then(|s| s.iter().rev().find(|x| x["type"] == "REGULAR")).cloned().unwrap_or(Value::Null);
                    tr {
                        td { (text(&e["employer_data"]["name"])) br; span.muted { (text(&e["employer_data"]["economic_activity"])) } }
                        td { code { (text(&e["employer_data"]["code"])) } }
                        td { (text(&e["start_date"])) " → " @if e["end_date"].is_null() { "current" } @else { (text(&e["end_date"])) } }
                        td { @for o in e["occupations"].as_array().into_iter().flatten() { (text(&o["name"])) br; } }
                        td { @if latest.is_null() { "—" } @else { "R$ " (text(&latest["base_amount"])) " (" (text(&latest["month"])) ")" } }
                    }
                }
            }
        }
        section {
            h2 { "Webhooks of this link" }
            (deliveries_table(&state, tenant, &deliveries))
        }
    };
    Ok(page(&state, tenant, "Link", body))
}

/// `GET /_mock/ui/webhooks`: settings, deliveries, flush.
pub async fn webhooks(State(state): State<AppState>, Tenant(tenant): Tenant) -> Result<Response> {
    let config = state.app.journal.config(tenant);
    let deliveries = state.app.journal.deliveries(Some(tenant), None, None);
    let csrf = csrf_token(&state, tenant);
    let body = html! {
        section {
            h1 { "Webhooks" }
            h2 { "Settings" }
            p.muted { "Like Belvo's dashboard (Developers → Webhooks): where webhooks go, and the Authorization header sent with them (a bare token is sent as Bearer)." }
            form id="settings" method="post" action="/_mock/ui/webhook" {
                input type="hidden" name="csrf" value=(csrf);
                p { label { "URL " br; input type="text" name="url" value=(config.url.clone().unwrap_or_default()) placeholder="https://example.com/belvo-webhooks"; } }
                p { label { "Authorization " br; input type="text" name="authorization" value=(config.authorization.clone().unwrap_or_default()) placeholder="Bearer my-token"; } }
                button type="submit" { "Save" }
            }
        }
        section {
            h2 { "Deliveries (" (deliveries.len()) ")" }
            form.inline method="post" action="/_mock/ui/webhooks/flush" {
                input type="hidden" name="csrf" value=(csrf);
                button id="flush" type="submit" { "Send pending now" }
            }
            (deliveries_table(&state, tenant, &deliveries))
        }
    };
    Ok(page(&state, tenant, "Webhooks", body))
}

/// `GET /_mock/ui/requests`: the journal, newest first, filterable by path and status.
/// The widget sessions: every widget access token of the key pair (newest 200), what it
/// was for and how it ended.
pub async fn widget(State(state): State<AppState>, Tenant(tenant): Tenant) -> Result<Response> {
    let now = state.store.clock().now();
    let tokens = state.store.widget_tokens(tenant, 200);
    let body = html! {
        section {
            h1 { "Widget sessions" }
            p.muted {
                "Widget access tokens from " code { "POST /api/token/" } " and what the hosted widget made of them (newest first)."
            }
            table id="widget-sessions" {
                tr { th { "Issued" } th { "Expires" } th { "For" } th { "Outcome" } th { "jti" } }
                @for token in &tokens {
                    tr.widget-session {
                        td { (format_timestamp(token.issued_at)) }
                        td { (format_timestamp(token.expires_at())) }
                        td {
                            @match &token.link {
                                Some(link) => { "update of " a href=(format!("/_mock/ui/links/{}", link.id)) { code { (link.id) } } " (" (link.status.as_str()) ")" }
                                None => { "a new connection" }
                            }
                        }
                        td.outcome {
                            @if let Some(link) = token.connected {
                                span.status.valid { "connected" } " " a href=(format!("/_mock/ui/links/{link}")) { code { (link) } }
                            } @else if token.expires_at() <= now {
                                span.status.undeliverable { "expired" }
                            } @else {
                                span.status.pending { "open" }
                            }
                            @if let Some((code, message)) = &token.last_error {
                                br; span.muted { "last error: " code { (code) } " " (message) }
                            }
                        }
                        td { code { (token.jti.simple()) } }
                    }
                }
            }
        }
    };
    Ok(page(&state, tenant, "Widget sessions", body))
}

pub async fn requests(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
) -> Result<Response> {
    let path = params
        .get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let status = params.get("status").and_then(|s| s.parse::<u16>().ok());
    let entries = state.app.requests.entries(tenant, path.as_deref(), status);
    let body = html! {
        section {
            h1 { "Requests" }
            form method="get" action="/_mock/ui/requests" {
                input type="text" name="path" value=(path.clone().unwrap_or_default()) placeholder="path contains…";
                " "
                input type="number" name="status" value=(status.map(|s| s.to_string()).unwrap_or_default()) placeholder="status" style="min-width:100px";
                " "
                button type="submit" { "Filter" }
            }
            table id="requests" {
                tr { th { "Time" } th { "Request" } th { "Status" } th { "Latency" } th { "request_id" } }
                @for e in &entries {
                    @let json = e.to_json();
                    tr {
                        td { (text(&json["at"])) }
                        td { code { (e.method.as_str()) " " (e.path) @if let Some(q) = json["query"].as_str() { "?" (q) } } }
                        td { (e.status) }
                        td { (format!("{:.2}", e.latency_ms)) " ms" }
                        td { code { (text(&json["request_id"])) } }
                    }
                }
            }
        }
    };
    Ok(page(&state, tenant, "Requests", body))
}

/// `POST /_mock/ui/webhook`: saves the settings form.
pub async fn save_settings(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    RawBody(body): RawBody,
) -> Result<Response> {
    let params = form(&state, tenant, &body)?;
    let url = params
        .get("url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    if let Some(u) = &url
        && !crate::config::is_http_url(u)
    {
        return Err(Error::field("url", "invalid", crate::config::INVALID_URL).into());
    }
    let authorization = params
        .get("authorization")
        .filter(|a| !a.trim().is_empty())
        .map(str::to_owned);
    if let Some(a) = &authorization
        && !crate::config::is_header_value(a)
    {
        return Err(Error::field("authorization", "invalid", crate::config::INVALID_HEADER).into());
    }
    state
        .app
        .set_webhook(tenant, WebhookConfig { url, authorization })
        .await?;
    Ok(redirect("/_mock/ui/webhooks"))
}

/// `POST /_mock/ui/webhooks/flush`.
pub async fn flush(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    RawBody(body): RawBody,
) -> Result<Response> {
    form(&state, tenant, &body)?;
    state.app.flush(Some(tenant)).await?;
    Ok(redirect("/_mock/ui/webhooks"))
}

/// `POST /_mock/ui/webhooks/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    RawBody(body): RawBody,
) -> Result<Response> {
    form(&state, tenant, &body)?;
    state.app.redeliver(tenant, id).await?;
    Ok(redirect("/_mock/ui/webhooks"))
}

/// `POST /_mock/ui/clock/advance`.
pub async fn advance(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    RawBody(body): RawBody,
) -> Result<Response> {
    let params = form(&state, tenant, &body)?;
    let seconds = params
        .get("seconds")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| Error::field("seconds", "invalid", "A valid number is required."))?;
    state
        .app
        .advance_clock(std::time::Duration::from_secs_f64(seconds.min(1e15)))
        .await?;
    Ok(redirect("/_mock/ui/"))
}
