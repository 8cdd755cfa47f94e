//! The request front: the hyper service every request enters. It gives the request its id and
//! tenant, enforces the URI and header limits, answers a GET whose rendered body is cached
//! without entering the router, hands everything else to the axum router, renders errors as
//! Belvo's array, and journals and logs the request.
//!
//! Written by hand rather than as axum middleware: `from_fn` boxes a future and clones the
//! router's state per request, and polling apps (the load this fake sees most) only need the
//! cache lookup, so the router is skipped for them.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Request, Response, Uri, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use http_body_util::{Either, Full};
use hyper::service::Service;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use uuid::Uuid;

use super::AppState;
use super::context::{RequestId, Tenant, basic_tenant};
use super::error::{ApiError, HEADERS_LIMIT, MAX_HEADERS, URI_LIMIT, render};
use crate::app::cache::ReadKey;
use crate::app::requests;
use crate::server::RequestBody;
use crate::tenant::TenantId;

/// The whole HTTP application as a hyper service; cheap to clone (one per connection).
#[derive(Clone, Debug)]
pub struct Api {
    state: AppState,
    router: TowerToHyperService<Router>,
}

impl Api {
    pub fn new(state: AppState) -> Self {
        Self {
            router: TowerToHyperService::new(super::router(state.clone())),
            state,
        }
    }

    /// The cached body for this request, when it is a data read rendered at the tenant's
    /// current data version.
    fn cached(&self, tenant: TenantId, request: &Request<RequestBody>) -> Option<Bytes> {
        if request.method() != Method::GET {
            return None;
        }
        let key = ReadKey::of(
            self.state.public_url.as_deref(),
            request.headers(),
            request.uri(),
        );
        let version = self.state.store.data_version(tenant);
        self.state.app.bodies.get(tenant, key, version)
    }
}

/// A response body: cached bytes as they are, or whatever the router answered (boxed).
pub type ApiBody = Either<Full<Bytes>, Body>;

/// A rendered JSON body as a 200.
pub fn json_body<B>(body: B) -> Response<B> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What the front notes of a request before answering it.
struct Arrival {
    id: RequestId,
    tenant: Option<TenantId>,
    method: Method,
    /// Kept raw until it is journaled (which redacts the query when it is read).
    uri: Uri,
    started: Instant,
    at: DateTime<Utc>,
}

impl Arrival {
    fn new(state: &AppState, request: &Request<RequestBody>) -> Self {
        Self {
            id: RequestId(Uuid::new_v4()),
            // Authenticated once here; handlers behind Basic auth take the `Tenant`
            // extractor, which answers the 401 array when it is missing.
            tenant: basic_tenant(request.headers(), state),
            method: request.method().clone(),
            uri: request.uri().clone(),
            started: Instant::now(),
            at: state.store.clock().now(),
        }
    }

    /// Renders an error response as Belvo's array, then journals and logs the request.
    fn finish(self, state: &AppState, response: Response<Body>) -> Response<ApiBody> {
        let mut response = render(response, self.id.0);
        let status = response.status().as_u16();
        if self.uri.path().starts_with("/_mock/ui") {
            // Browsers ask for the keys only when challenged: the dashboard's pages are.
            if status == 401 {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"belvo-mock\", charset=\"UTF-8\""),
                );
            }
            // The dashboard is never framed, runs no script and posts only to itself.
            let headers = response.headers_mut();
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DASHBOARD_CSP),
            );
        }
        self.log(state, status);
        response.map(Either::Right)
    }

    /// Journals (requests with keys) and logs the request.
    fn log(self, state: &AppState, status: u16) {
        let path = self.uri.path();
        let latency = self.started.elapsed();
        if let Some(tenant) = self.tenant {
            state.app.requests.record(
                tenant,
                requests::Seen {
                    method: &self.method,
                    path,
                    query: self.uri.query(),
                    status,
                    request_id: self.id.0,
                    at: self.at,
                    latency_ms: latency.as_secs_f64() * 1000.0,
                },
            );
        }
        tracing::info!(
            target: "belvo_mock::request",
            method = %self.method,
            path,
            status,
            request_id = %self.id.0.simple(),
            micros = latency.as_micros() as u64,
            "request"
        );
    }
}

/// The dashboard's Content-Security-Policy: its own inline styles and forms, nothing else.
const DASHBOARD_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A write to `/_mock/` sent by a browser from a page of another origin: a page a user
/// happens to visit must not reset the sandbox or move its clock with the user's cached keys.
/// Clients that send no `Origin` (SDKs, curl, tests) and the dashboard's own forms pass (its
/// origin is the request's host, or `--public-url` behind a proxy).
fn cross_site(request: &Request<RequestBody>, public_url: Option<&str>) -> Option<ApiError> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || !request.uri().path().starts_with("/_mock/")
    {
        return None;
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .unwrap_or("null");
    if public_url.is_some_and(|public| public.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return None;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    (origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host))
        .then_some(ApiError::CrossSite)
}

/// The limit a request breaks before anything reads it, if any.
fn oversized(request: &Request<RequestBody>) -> Option<ApiError> {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_bytes > URI_LIMIT {
        return Some(ApiError::UriTooLong);
    }
    if request.headers().len() > MAX_HEADERS {
        return Some(ApiError::TooManyHeaders);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > HEADERS_LIMIT).then_some(ApiError::HeadersTooLarge)
}

impl Service<Request<RequestBody>> for Api {
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = ApiFuture;

    fn call(&self, mut request: Request<RequestBody>) -> ApiFuture {
        let arrival = Arrival::new(&self.state, &request);
        let public_url = self.state.public_url.as_deref();
        if let Some(error) = oversized(&request).or_else(|| cross_site(&request, public_url)) {
            let response = arrival.finish(&self.state, error.into_response());
            return ApiFuture::Answered(ready(Ok(response)));
        }
        let cached = arrival
            .tenant
            .and_then(|tenant| self.cached(tenant, &request));
        if let Some(body) = cached {
            arrival.log(&self.state, 200);
            let response = json_body(Either::Left(Full::new(body)));
            return ApiFuture::Answered(ready(Ok(response)));
        }
        request.extensions_mut().insert(arrival.id);
        if let Some(tenant) = arrival.tenant {
            request.extensions_mut().insert(Tenant(tenant));
        }
        ApiFuture::Routed(Routed {
            inner: Box::pin(self.router.call(request)),
            arrival: Some(arrival),
            state: self.state.clone(),
        })
    }
}

/// The answer to one request: ready at once, or from the router.
#[derive(Debug)]
pub enum ApiFuture {
    Answered(Ready<Result<Response<ApiBody>, Infallible>>),
    Routed(Routed),
}

/// The router's answer to a request, finished by the front when it is ready.
pub struct Routed {
    inner: Pin<Box<TowerToHyperServiceFuture<Router, Request<RequestBody>>>>,
    arrival: Option<Arrival>,
    state: AppState,
}

impl std::fmt::Debug for Routed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed").finish_non_exhaustive()
    }
}

impl Future for ApiFuture {
    type Output = Result<Response<ApiBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ApiFuture::Answered(ready) => Pin::new(ready).poll(cx),
            ApiFuture::Routed(routed) => {
                let Poll::Ready(Ok(response)) = routed.inner.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                Poll::Ready(Ok(match routed.arrival.take() {
                    Some(arrival) => arrival.finish(&routed.state, response),
                    None => response.map(Either::Right),
                }))
            }
        }
    }
}
