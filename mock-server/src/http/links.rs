//! `/api/links/`: register (201 or 428), resume MFA, list, detail, modify, update credentials,
//! delete (sync 204 or async 202) and refresh (202).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::context::{JsonObject, Origin, PathId, Query, RequestId, Tenant, is_async};
use super::error::ApiError;
use super::pagination::{Page, project};
use crate::store::{Link, Login};

type Result<T> = std::result::Result<T, ApiError>;

pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    request_id: RequestId,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let id = request_id.0;
    let created = state
        .app
        .change(move |tx| tx.store().create_link(tx, tenant, &body, id))
        .await?;
    let link = login(created)?;
    Ok((StatusCode::CREATED, Json(link.to_json())).into_response())
}

pub async fn resume(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    request_id: RequestId,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let id = request_id.0;
    let resumed = state
        .app
        .change(move |tx| tx.store().resume_link(tx, tenant, &body, id))
        .await?;
    Ok(Json(login(resumed)?.to_json()).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    uri: Uri,
) -> Result<Response> {
    let page = Page::of(&params);
    let (count, links) = state
        .store
        .list_links(tenant, &params, |count| page.range(count))?;
    let results = links.into_iter().map(|l| project(l, &params)).collect();
    Ok(Json(page.envelope(count, results, &params, &origin, uri.path())).into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    Query(params): Query,
) -> Result<Response> {
    let link = state.store.link(tenant, &id)?;
    Ok(Json(project(link.to_json(), &params)).into_response())
}

pub async fn modify(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let link = state
        .app
        .change(move |tx| tx.store().update_link_options(tx, tenant, &id, &body))
        .await?;
    Ok(Json(link.to_json()).into_response())
}

pub async fn update_credentials(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    request_id: RequestId,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let request = request_id.0;
    let updated = state
        .app
        .change(move |tx| {
            tx.store()
                .update_link_credentials(tx, tenant, &id, &body, request)
        })
        .await?;
    Ok(Json(login(updated)?.to_json()).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    request_id: RequestId,
    headers: HeaderMap,
) -> Result<Response> {
    let asynchronous = is_async(&headers);
    let request = request_id.0;
    state
        .app
        .change(move |tx| {
            tx.store()
                .delete_link(tx, tenant, &id, asynchronous, request)
        })
        .await?;
    if asynchronous {
        // The one place Belvo's spec gives the request id as a hyphenated UUID.
        let body = json!({"request_id": request_id.hyphenated()});
        Ok((StatusCode::ACCEPTED, Json(body)).into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

pub async fn refresh(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    request_id: RequestId,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let request = request_id.0;
    state
        .app
        .change(move |tx| tx.store().refresh_link(tx, tenant, &id, &body, request))
        .await?;
    let body = json!({"request_id": request_id.hex()});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// A login's link, or the 428 that asks for a token (Belvo renders it as an error array).
fn login(outcome: Login<Link>) -> Result<Link> {
    match outcome {
        Login::Done(link) => Ok(link),
        Login::TokenRequired(challenge) => {
            Err(crate::store::Error::TokenRequired(challenge).into())
        }
    }
}
