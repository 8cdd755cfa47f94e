//! `/api/owners/`: list, detail, delete, retrieve (POST, may ask for a token) and MFA resume
//! (PATCH).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::context::{JsonObject, Origin, PathId, Query, Tenant};
use super::error::ApiError;
use super::pagination::{paginate, project};
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

pub async fn list(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    super::cached_json(&state, tenant, &headers, &uri, || {
        let owners = state.store.list_owners(tenant, &params)?;
        paginate(owners, &params, &origin, uri.path())
    })
}

pub async fn detail(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    Query(params): Query,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    super::cached_json(&state, tenant, &headers, &uri, || {
        Ok(project(state.store.owner(tenant, &id)?, &params))
    })
}

pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
) -> Result<Response> {
    state
        .app
        .change(move |tx| tx.store().delete_owner(tx, tenant, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
