//! `/api/owners/`: the retrieve (POST, may ask for a token) and its MFA resume (PATCH). The
//! list, detail and delete are `records.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::context::{JsonObject, Tenant};
use super::error::ApiError;
use crate::store::{Error, Login};

type Result<T> = std::result::Result<T, ApiError>;

/// 201 when the records were stored (`save_data: true`), 200 when they were not; the 428
/// when the institution asks for a token.
fn retrieved(outcome: Login<(Vec<serde_json::Value>, bool)>) -> Result<Response> {
    let (records, stored) = match outcome {
        Login::Done(done) => done,
        Login::TokenRequired(challenge) => return Err(Error::TokenRequired(challenge).into()),
    };
    let status = if stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(records)).into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let outcome = state
        .app
        .change(move |tx| tx.store().retrieve_owners(tx, tenant, &body))
        .await?;
    retrieved(outcome)
}

pub async fn resume(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let outcome = state
        .app
        .change(move |tx| tx.store().resume_owners(tx, tenant, &body))
        .await?;
    retrieved(outcome)
}
