//! The stored records of both resources, `/api/owners/` and `/api/br/employments/`: list,
//! detail (both served from the body cache) and delete, written once over the resource.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::context::{Origin, PathId, Query, Tenant};
use super::error::ApiError;
use super::pagination::{paginate, project};
use crate::event::Resource;

type Result<T> = std::result::Result<T, ApiError>;

/// Which resource a route serves (a type, so one handler serves both).
pub trait Kind {
    const RESOURCE: Resource;
}

#[derive(Debug)]
pub struct Owners;

#[derive(Debug)]
pub struct Employments;

impl Kind for Owners {
    const RESOURCE: Resource = Resource::Owners;
}

impl Kind for Employments {
    const RESOURCE: Resource = Resource::Employments;
}

pub async fn list<K: Kind>(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    super::cached_json(&state, tenant, &headers, &uri, || {
        let records = state.store.list(K::RESOURCE, tenant, &params)?;
        paginate(records, &params, &origin, uri.path())
    })
}

pub async fn detail<K: Kind>(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
    Query(params): Query,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    super::cached_json(&state, tenant, &headers, &uri, || {
        Ok(project(
            state.store.detail(K::RESOURCE, tenant, &id)?,
            &params,
        ))
    })
}

pub async fn delete<K: Kind>(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
) -> Result<Response> {
    state
        .app
        .change(move |tx| tx.store().delete_record(tx, tenant, &id, K::RESOURCE))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
