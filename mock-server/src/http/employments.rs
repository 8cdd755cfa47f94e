//! `/api/br/employments/`: list (`link` required), detail, delete and retrieve (POST; 202
//! with `X-Belvo-Request-Mode: async`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::context::{JsonObject, Origin, PathId, Query, RequestId, Tenant, is_async};
use super::error::ApiError;
use super::pagination::{paginate, project};

type Result<T> = std::result::Result<T, ApiError>;

pub async fn list(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    super::cached_json(&state, tenant, &headers, &uri, || {
        let employments = state.store.list_employments(tenant, &params)?;
        paginate(employments, &params, &origin, uri.path())
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
        Ok(project(state.store.employment(tenant, &id)?, &params))
    })
}

pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
) -> Result<Response> {
    state
        .app
        .change(move |tx| tx.store().delete_employment(tx, tenant, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    request_id: RequestId,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let asynchronous = is_async(&headers);
    let request = request_id.0;
    let (employments, stored) = state
        .app
        .change(move |tx| {
            tx.store()
                .retrieve_employments(tx, tenant, &body, request, asynchronous)
        })
        .await?;
    if asynchronous {
        // The data is fetched and stored now; the caller learns of it by webhook.
        let body = json!({"request_id": request_id.hex()});
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let status = if stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(employments)).into_response())
}
