//! `/api/institutions/`: the catalogue (list with filters, detail by integer id).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::context::{Origin, PathId, Query, Tenant};
use super::error::ApiError;
use super::pagination::{paginate, project};
use crate::store::institutions;

pub async fn list(
    State(state): State<AppState>,
    Tenant(_): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    uri: Uri,
) -> Result<Response, ApiError> {
    let records = institutions::list(state.store.mfa(), &params)?;
    Ok(Json(paginate(records, &params, &origin, uri.path())?).into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    Tenant(_): Tenant,
    PathId(id): PathId,
    Query(params): Query,
) -> Result<Response, ApiError> {
    let record = institutions::detail(state.store.mfa(), &id)?;
    Ok(Json(project(record, &params)).into_response())
}
