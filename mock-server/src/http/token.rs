//! `POST /api/token/`: a widget access token pair. The credentials are the body's (`id`,
//! `password`), as Belvo's SDKs send them, with or without a Basic header beside them.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::context::{JsonObject, Origin};
use super::error::ApiError;
use crate::store::tokens::TokenRequest;

pub async fn create(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // The body's rules first (a missing `id` is a 400 that names it), then its keys.
    let request = TokenRequest::validate(&body)?;
    let tenant = state
        .store
        .authenticate(&request.id, &request.password)
        .ok_or(ApiError::Unauthorized)?;
    // `api_url` and `iss` name the server without a scheme, as Belvo's (`sandbox.belvo.com`).
    let host = origin
        .split_once("://")
        .map_or(origin.as_str(), |(_, host)| host)
        .trim_end_matches('/')
        .to_owned();
    let signed = state.app.issue_widget_token(tenant, request, host).await?;
    Ok(Json(json!({"access": signed.access, "refresh": signed.refresh})).into_response())
}
