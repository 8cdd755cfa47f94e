//! The one error type of the HTTP layer and the one place that renders it: Belvo's error array
//! `[{code, message, request_id[, field]}]`, whatever failed (domain rule, auth, routing, body
//! parsing or size).
//!
//! Handlers and extractors return [`ApiError`]; its `IntoResponse` only sets the status and
//! stashes the error in the response extensions. The request front (`service.rs`), which knows
//! the request id, then writes the body ([`render`]). So even rejections raised before a
//! handler runs get the exact same shape.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::store::Error;

/// Everything that can go wrong with a request.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// A domain error from the store (validation, not found, MFA, login, …).
    Belvo(Error),
    /// Missing or wrong Basic credentials.
    Unauthorized,
    /// The path exists but not with this method.
    MethodNotAllowed(Method),
    /// A body over the 1 MiB limit.
    PayloadTooLarge,
    /// A body in something other than JSON.
    UnsupportedMediaType(String),
    /// A body that is not valid JSON.
    Parse(String),
    /// Valid JSON that is not an object; carries Python's name of what it was.
    NotAnObject(&'static str),
    /// The body could not be read at all.
    BadBody,
    /// The request line's URI is longer than [`URI_LIMIT`].
    UriTooLong,
    /// The request headers add up to more than [`HEADERS_LIMIT`].
    HeadersTooLarge,
    /// More headers than [`MAX_HEADERS`].
    TooManyHeaders,
    /// A write to the control plane from a page of another origin (a browser's `Origin`).
    CrossSite,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::Belvo(error)
    }
}

/// The body limit for every request.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// The longest URI (path and query) accepted.
pub const URI_LIMIT: usize = 8 * 1024;
/// The most header bytes (names and values) accepted.
pub const HEADERS_LIMIT: usize = 16 * 1024;
/// The most headers accepted in one request.
pub use crate::server::MAX_HEADERS;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        let code = match self {
            Self::Belvo(e) => e.status(),
            Self::Unauthorized => 401,
            Self::MethodNotAllowed(_) => 405,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge | Self::TooManyHeaders => 431,
            Self::CrossSite => 403,
            Self::UnsupportedMediaType(_) => 415,
            Self::Parse(_) | Self::NotAnObject(_) | Self::BadBody => 400,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The error array for this error, stamped with the request id.
    pub fn body(&self, request_id: &str) -> Value {
        let element = |code: &str, message: &str| json!({"code": code, "message": message, "request_id": request_id});
        let elements = match self {
            Self::Belvo(error) => {
                let mut out = Vec::new();
                for (field, code, message) in error.elements() {
                    let mut obj = Map::new();
                    obj.insert("code".into(), code.into());
                    obj.insert("message".into(), message.into());
                    obj.insert("request_id".into(), request_id.into());
                    if let Some(field) = field {
                        obj.insert("field".into(), field.into());
                    }
                    if let Error::TokenRequired(c) = error {
                        obj.insert("session".into(), c.session.clone().into());
                        obj.insert("expiry".into(), c.expiry.into());
                        obj.insert("link".into(), c.link.to_string().into());
                        obj.insert(
                            "token_generation_data".into(),
                            // INSS's own token, as Belvo's INSS link guide shows it
                            // (belvo-api.md §11.1): nothing to display, the user's app
                            // generates it.
                            json!({
                                "instructions": "Use your app or device to generate a token",
                                "type": "inputless",
                                "value": null,
                                "expects_user_input": true
                            }),
                        );
                    }
                    out.push(Value::Object(obj));
                }
                out
            }
            Self::Unauthorized => vec![element("authentication_failed", "Invalid Secret Keys")],
            Self::MethodNotAllowed(method) => vec![element(
                "method_not_allowed",
                &format!("Method \"{method}\" not allowed."),
            )],
            Self::PayloadTooLarge => vec![element(
                "request_too_large",
                &format!("The request body exceeds the limit of {BODY_LIMIT} bytes."),
            )],
            Self::UnsupportedMediaType(media) => vec![element(
                "unsupported_media_type",
                &format!("Unsupported media type \"{media}\" in request."),
            )],
            Self::Parse(detail) => vec![element(
                "parse_error",
                &format!("JSON parse error - {detail}"),
            )],
            Self::NotAnObject(kind) => {
                let mut e = element(
                    "invalid",
                    &format!("Invalid data. Expected a dictionary, but got {kind}."),
                );
                e["field"] = "non_field_errors".into();
                vec![e]
            }
            Self::BadBody => vec![element(
                "parse_error",
                "The request body could not be read.",
            )],
            Self::UriTooLong => vec![element(
                "uri_too_long",
                &format!("The request URI exceeds the limit of {URI_LIMIT} bytes."),
            )],
            Self::CrossSite => vec![element(
                "forbidden",
                "Requests to the control plane from another origin are refused.",
            )],
            Self::HeadersTooLarge => vec![element(
                "headers_too_large",
                &format!("The request headers exceed the limit of {HEADERS_LIMIT} bytes."),
            )],
            Self::TooManyHeaders => vec![element(
                "headers_too_large",
                &format!("The request has more than {MAX_HEADERS} headers."),
            )],
        };
        Value::Array(elements)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Writes the error array into a response that carries an [`ApiError`].
pub fn render(mut response: Response, request_id: uuid::Uuid) -> Response {
    let Some(error) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    let body = error.body(&request_id.simple().to_string()).to_string();
    let mut rendered = (error.status(), body).into_response();
    rendered.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    rendered
}
