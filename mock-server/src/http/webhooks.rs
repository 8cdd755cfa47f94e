//! The webhook control plane (`/_mock/webhook`, `/_mock/webhooks…`), scoped to the caller's key
//! pair: settings like Belvo's dashboard (URL + Authorization), the delivery journal, flush
//! and redeliver.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::context::{JsonObject, Origin, PathId, Query, Tenant};
use super::error::ApiError;
use super::pagination::paginate_with;
use crate::config;
use crate::store::Error;
use crate::store::fields::{Fields, Text};
use crate::webhooks::{Delivery, DeliveryStatus, WebhookConfig};

type Result<T> = std::result::Result<T, ApiError>;

const STATUSES: &[&str] = &["pending", "delivered", "failed", "undeliverable"];

pub async fn config(State(state): State<AppState>, Tenant(tenant): Tenant) -> Json<Value> {
    Json(state.app.journal.config(tenant).to_json())
}

/// `{"url": "https://…" | null, "authorization": "…" | null}`; both keys optional (a missing
/// key keeps the current value).
pub async fn set_config(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonObject(body): JsonObject,
) -> Result<Response> {
    let mut fields = Fields::new(&body);
    let nullable = Text {
        allow_null: true,
        max: Some(2048),
        ..Text::OPTIONAL
    };
    let url = fields.text("url", nullable);
    let authorization = fields.text(
        "authorization",
        Text {
            keep_whitespace: true,
            ..nullable
        },
    );
    if let Some(u) = &url
        && !config::is_http_url(u)
    {
        fields.add("url", "invalid", config::INVALID_URL);
    }
    if let Some(a) = &authorization
        && !config::is_header_value(a)
    {
        fields.add("authorization", "invalid", config::INVALID_HEADER);
    }
    fields.finish()?;
    let mut config = state.app.journal.config(tenant);
    if body.contains_key("url") {
        config.url = url;
    }
    if body.contains_key("authorization") {
        config.authorization = authorization;
    }
    state.app.set_webhook(tenant, config.clone()).await?;
    Ok(Json(config_json(&config)).into_response())
}

fn config_json(config: &WebhookConfig) -> Value {
    config.to_json()
}

/// Deliveries newest first, in Belvo's list envelope (`page`, `page_size`); filters
/// `link_id` and `status`.
pub async fn deliveries(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query,
    Origin(origin): Origin,
    uri: Uri,
) -> Result<Response> {
    let mut problems = Vec::new();
    let link = match params.get("link_id").filter(|v| !v.is_empty()) {
        Some(raw) => match Uuid::try_parse(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(crate::store::FieldError::new(
                    "link_id",
                    "invalid",
                    "Enter a valid UUID.",
                ));
                None
            }
        },
        None => None,
    };
    let status = match params.get("status").filter(|v| !v.is_empty()) {
        Some(raw) => match DeliveryStatus::parse(raw) {
            Some(s) => Some(s),
            None => {
                problems.push(crate::store::FieldError::new(
                    "status",
                    "invalid_choice",
                    format!(
                        "Select a valid choice. {raw} is not one of the available choices ({}).",
                        STATUSES.join(", ")
                    ),
                ));
                None
            }
        },
        None => None,
    };
    if !problems.is_empty() {
        return Err(Error::Validation(problems).into());
    }
    let deliveries = state.app.journal.deliveries(Some(tenant), link, status);
    let page = paginate_with(&deliveries, Delivery::to_json, &params, &origin, uri.path())?;
    Ok(Json(page).into_response())
}

pub async fn flush(State(state): State<AppState>, Tenant(tenant): Tenant) -> Result<Json<Value>> {
    let flushed = state.app.flush(Some(tenant)).await?;
    Ok(Json(json!({"flushed": flushed})))
}

pub async fn redeliver(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(id): PathId,
) -> Result<Response> {
    let delivery = state.app.redeliver(tenant, id).await?;
    Ok(Json(delivery.to_json()).into_response())
}
