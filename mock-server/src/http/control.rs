//! The control plane under the reserved prefix `/_mock/`: health (no auth), reset of the
//! caller's tenant, and the virtual clock.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::context::{JsonObject, Tenant};
use super::error::ApiError;
use crate::clock::format_timestamp;
use crate::store::fields::Fields;

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Forgets the calling tenant's links and sessions; other tenants are untouched.
pub async fn reset(State(state): State<AppState>, Tenant(tenant): Tenant) -> StatusCode {
    state.store.reset(tenant);
    StatusCode::NO_CONTENT
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
    let seconds = seconds.unwrap_or(0.0).min(1e12);
    state
        .store
        .clock()
        .advance(Duration::from_secs_f64(seconds));
    Ok(clock_body(&state).into_response())
}
