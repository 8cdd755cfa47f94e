//! Per-request context for handlers: the request id, the authenticated tenant (both put in
//! the request's extensions by the request front, [`super::service`]), the path id, the query,
//! the JSON body and the base for absolute URLs, each as an extractor whose rejection is an
//! [`ApiError`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::{AppState, Shared};
use crate::store::fields::python_type;
use crate::store::{Error, Params};
use crate::tenant::TenantId;

/// The id of this request: 32 hex in error bodies, hyphenated where Belvo shows a UUID.
#[derive(Clone, Copy, Debug)]
pub struct RequestId(pub Uuid);

impl RequestId {
    pub fn hex(&self) -> String {
        self.0.simple().to_string()
    }
    pub fn hyphenated(&self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .copied()
            .unwrap_or_else(|| RequestId(Uuid::new_v4())))
    }
}

/// `X-Belvo-Request-Mode: async`, exactly (Belvo treats `ASYNC` as a sync call).
pub fn is_async(headers: &HeaderMap) -> bool {
    headers
        .get("x-belvo-request-mode")
        .is_some_and(|v| v.as_bytes() == b"async")
}

/// The tenant whose Basic credentials the request carries.
#[derive(Clone, Copy, Debug)]
pub struct Tenant(pub TenantId);

/// The tenant of a `Basic` Authorization header, if its key pair is configured.
pub fn basic_tenant(headers: &HeaderMap, state: &Shared) -> Option<TenantId> {
    let value = headers.get(header::AUTHORIZATION)?;
    // The header exactly as clients write it needs no decoding. Compared with every
    // tenant's without stopping at a difference, like the decoded pair below.
    let mut found = None;
    for (expected, tenant) in &state.basic_headers {
        if same_bytes(value.as_bytes(), expected) {
            found = Some(*tenant);
        }
    }
    if found.is_some() {
        return found;
    }
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    // Decoded on the stack, as every request comes through here; on the heap if it is long.
    let encoded = encoded.trim();
    let mut stack = [0u8; 512];
    let heap;
    let decoded: &[u8] = match STANDARD.decode_slice(encoded, &mut stack) {
        Ok(len) => &stack[..len],
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            heap = STANDARD.decode(encoded).ok()?;
            &heap
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return None,
    };
    let text = std::str::from_utf8(decoded).ok()?;
    let (id, password) = text.split_once(':')?;
    state.store.authenticate(id, password)
}

/// Byte equality whose time depends on the lengths only: no early exit at the first
/// difference. (`subtle`'s slice compare does the same a byte at a time behind an optimisation
/// barrier, which showed in the load profile; this folds to a few vector instructions.)
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Tenant>()
            .copied()
            .ok_or(ApiError::Unauthorized)
    }
}

/// The `{id}` of a resource path. An id that cannot even be decoded names nothing: 404.
#[derive(Clone, Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|_| Error::NotFound.into())
    }
}

/// The decoded query string.
#[derive(Clone, Debug)]
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Query(Params::parse(parts.uri.query().unwrap_or(""))))
    }
}

/// Where this request's absolute URLs start: `--public-url`, else `http://<Host>`.
#[derive(Clone, Debug)]
pub struct Origin(pub String);

impl FromRequestParts<AppState> for Origin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(public) = &state.public_url {
            return Ok(Origin(public.trim_end_matches('/').to_owned()));
        }
        let host = crate::app::cache::request_host(&parts.headers, &parts.uri);
        Ok(Origin(format!("http://{host}")))
    }
}

/// A body as bytes (the dashboard's forms), within the body limit.
#[derive(Clone, Debug, Default)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status().as_u16() == 413 {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadBody
                }
            })
    }
}

/// A JSON object body. An empty body counts as `{}` (so missing fields are reported as
/// required, as DRF does); anything else must be JSON and an object.
#[derive(Clone, Debug, Default)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let media = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status().as_u16() == 413 {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadBody
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject::default());
        }
        if let Some(media) = media {
            let essence = media
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(media));
            }
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(other) => Err(ApiError::NotAnObject(python_type(&other))),
            Err(e) => Err(ApiError::Parse(e.to_string())),
        }
    }
}
