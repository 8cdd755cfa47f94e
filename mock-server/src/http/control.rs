//! The control plane under the reserved prefix `/_mock/`: health (no auth), reset of the
//! caller's tenant, and the virtual clock.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::context::{JsonObject, Origin, PathId, Query, Tenant};
use super::error::ApiError;
use super::pagination::paginate_with;
use crate::clock::format_timestamp;
use crate::scenario::Scenario;
use crate::store::Error;
use crate::store::fields::{Fields, Text};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Forgets the calling tenant's links, sessions, data, webhooks and request journal; other
/// tenants are untouched.
pub async fn reset(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<StatusCode, ApiError> {
    state.app.reset(tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's request journal, newest first, in Belvo's list envelope (`page`,
/// `page_size`); filters `path` (substring) and `status`.
pub async fn requests(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    uri: Uri,
) -> Result<Response, ApiError> {
    let status = match params.get("status").filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            raw.parse::<u16>()
                .map_err(|_| Error::field("status", "invalid", "A valid integer is required."))?,
        ),
        None => None,
    };
    let path = params.get("path").filter(|p| !p.is_empty());
    let entries = state.app.requests.entries(tenant, path, status);
    let page = paginate_with(&entries, |e| e.to_json(), &params, &origin, uri.path())?;
    Ok(Json(page).into_response())
}

/// `{"scenario": "mock:invalid" | null}`: how the link's next login behaves (a refresh of a
/// link whose login now fails makes it `invalid` and sends a LINK `invalid_credentials`
/// webhook).
pub async fn set_link_scenario(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&body);
    let name = fields.text(
        "scenario",
        Text {
            required: true,
            allow_null: true,
            ..Text::OPTIONAL
        },
    );
    let scenario = match name.as_deref() {
        Some(n) => match Scenario::from_name(n) {
            Some(s) => Some(s),
            None => {
                fields.add(
                    "scenario",
                    "invalid_choice",
                    format!("\"{n}\" is not a valid choice."),
                );
                None
            }
        },
        None => None,
    };
    fields.finish()?;
    let link = state.app.set_scenario(tenant, id, scenario).await?;
    Ok(Json(link.to_json()).into_response())
}

fn clock_body(state: &AppState) -> Json<Value> {
    let clock = state.store.clock();
    Json(json!({
        "now": format_timestamp(clock.now()),
        "offset_seconds": clock.offset().as_secs_f64(),
    }))
}

pub async fn clock(State(state): State<AppState>, Tenant(_): Tenant) -> Json<Value> {
    clock_body(&state)
}

/// `{"seconds": N}` moves virtual time forward: sessions expire, cooldowns end.
pub async fn advance_clock(
    State(state): State<AppState>,
    Tenant(_): Tenant,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&body);
    let seconds = fields.number_at_least("seconds", true, 0.0);
    fields.finish()?;
    // Past about 8,000 years the advance is refused below; clamp first so the float fits.
    let seconds = seconds.unwrap_or(0.0).min(1e15);
    state
        .app
        .advance_clock(Duration::from_secs_f64(seconds))
        .await?;
    Ok(clock_body(&state).into_response())
}
