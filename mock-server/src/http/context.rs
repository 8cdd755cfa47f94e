//! Per-request context: the request id, the authenticated tenant, the query, the JSON body and
//! the base for absolute URLs, each as an extractor whose rejection is an [`ApiError`].

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, HEADERS_LIMIT, URI_LIMIT, render};
use super::requests::Entry;
use crate::store::fields::python_type;
use crate::store::{Error, Params, TenantId};

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

/// Outermost middleware: gives the request its id, renders any error with it, journals and
/// logs the line.
pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId(Uuid::new_v4());
    request.extensions_mut().insert(id);
    // Authenticate once here; handlers behind Basic auth take the `Tenant` extractor, which
    // answers the 401 array when it is missing. Unknown routes still answer 404.
    let tenant = basic_tenant(request.headers(), &state).map(Tenant);
    if let Some(tenant) = tenant {
        request.extensions_mut().insert(tenant);
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Kept raw here and redacted when the journal is read: nothing else ever sees it.
    let query = request.uri().query().map(str::to_owned);
    let started = Instant::now();
    let at = state.store.clock().now();
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    let response = if uri_bytes > URI_LIMIT {
        ApiError::UriTooLong.into_response()
    } else if header_bytes > HEADERS_LIMIT {
        ApiError::HeadersTooLarge.into_response()
    } else {
        next.run(request).await
    };
    let mut response = render(response, id.0);
    let status = response.status().as_u16();
    // Browsers ask for the keys only when challenged: the dashboard's pages are.
    if status == 401 && path.starts_with("/_mock/ui") {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"belvo-mock\", charset=\"UTF-8\""),
        );
    }
    let latency = started.elapsed();
    if let Some(Tenant(tenant)) = tenant {
        state.requests.record(
            tenant,
            Entry {
                method: method.to_string(),
                path: path.clone(),
                query,
                status,
                request_id: id.0,
                at,
                latency_ms: latency.as_secs_f64() * 1000.0,
            },
        );
    }
    tracing::info!(
        target: "belvo_mock::request",
        %method,
        path,
        status,
        request_id = %id.hex(),
        micros = latency.as_micros() as u64,
        "request"
    );
    response
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
fn basic_tenant(headers: &HeaderMap, state: &AppState) -> Option<TenantId> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = std::str::from_utf8(&decoded).ok()?;
    let (id, password) = text.split_once(':')?;
    state.store.authenticate(id, password)
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
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("127.0.0.1");
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
