//! `POST /api/br/employments/`: the retrieve (202 with `X-Belvo-Request-Mode: async`). The
//! list (`link` required), detail and delete are `records.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::context::{JsonObject, RequestId, Tenant, is_async};
use super::error::ApiError;

type Result<T> = std::result::Result<T, ApiError>;

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
