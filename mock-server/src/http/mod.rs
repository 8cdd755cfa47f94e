//! The HTTP transport: routes, auth, request context and error rendering over the app.
//!
//! Every route is served with AND without its trailing slash, both answered directly (a
//! redirect would turn an SDK's POST into a GET).

mod context;
mod control;
mod employments;
pub(crate) mod error;
mod institutions;
mod links;
mod owners;
pub(crate) mod pagination;
mod records;
pub(crate) mod service;
mod token;
mod ui;
mod webhooks;
mod widget;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::{App, cache};
use crate::store::{Error, Store};
use crate::tenant::TenantId;
use context::{Origin, Tenant};
use error::{ApiError, BODY_LIMIT};

/// What every handler shares, behind one `Arc` (the router clones it for every request).
#[derive(Clone, Debug)]
pub struct AppState(std::sync::Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub app: App,
    /// The app's store (reads go straight to it; changes through `app`).
    pub store: Store,
    pub public_url: Option<String>,
    /// Per-process secret the dashboard's form tokens derive from.
    pub csrf_secret: String,
    /// `Basic <base64 of id:password>` of every tenant, as clients send it.
    pub basic_headers: Vec<(Vec<u8>, TenantId)>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(app: App, public_url: Option<String>) -> Self {
        use base64::Engine as _;
        let store = app.store.clone();
        let basic_headers = store
            .tenants()
            .map(|tenant| {
                let key = store.key(tenant);
                let credentials = format!("{}:{}", key.id, key.password);
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                (format!("Basic {encoded}").into_bytes(), tenant)
            })
            .collect();
        Self(std::sync::Arc::new(Shared {
            basic_headers,
            app,
            store,
            public_url,
            csrf_secret: uuid::Uuid::new_v4().simple().to_string(),
        }))
    }
}

/// Registers `path` (written without a trailing slash) and `path/`.
fn both(router: Router<AppState>, path: &str, route: MethodRouter<AppState>) -> Router<AppState> {
    router
        .route(path, route.clone())
        .route(&format!("{path}/"), route)
}

/// `GET /api/`: the SDKs' login probe; lists the resources this fake serves.
async fn api_root(Tenant(_): Tenant, Origin(origin): Origin) -> Json<Value> {
    Json(json!({
        "institutions": format!("{origin}/api/institutions/"),
        "links": format!("{origin}/api/links/"),
        "owners": format!("{origin}/api/owners/"),
        "br/employments": format!("{origin}/api/br/employments/"),
    }))
}

/// Serves a data read from the body cache, or renders it with `render` and keeps the bytes.
/// (The request front answers repeated reads from the cache before they reach the router.)
pub fn cached_json(
    state: &AppState,
    tenant: TenantId,
    headers: &HeaderMap,
    uri: &Uri,
    render: impl FnOnce() -> Result<Value, ApiError>,
) -> Result<axum::response::Response, ApiError> {
    let key = cache::ReadKey::of(state.public_url.as_deref(), headers, uri);
    // Read before rendering: a change meanwhile files the new body under the old version,
    // which is never asked for again, rather than an old body under the new version.
    let version = state.store.data_version(tenant);
    let body = match state.app.bodies.get(tenant, key, version) {
        Some(body) => body,
        None => {
            let value = render()?;
            let body = axum::body::Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
            state.app.bodies.put(tenant, key, version, body.clone());
            body
        }
    };
    Ok(service::json_body(axum::body::Body::from(body)))
}

/// `/_mock/ui` → `/_mock/ui/` (a GET page: the redirect cannot turn a POST into a GET).
fn ui_redirect() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::http::StatusCode::MOVED_PERMANENTLY.into_response();
    response.headers_mut().insert(
        axum::http::header::LOCATION,
        axum::http::HeaderValue::from_static("/_mock/ui/"),
    );
    response
}

async fn not_found() -> ApiError {
    Error::NotFound.into()
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

/// The routes behind the request front ([`service::Api`]), which authenticates, limits,
/// journals and renders errors for them.
pub fn router(state: AppState) -> Router {
    let mut authed = Router::new();
    authed = both(authed, "/api", get(api_root));
    authed = both(authed, "/api/institutions", get(institutions::list));
    authed = both(authed, "/api/institutions/{id}", get(institutions::detail));
    authed = both(
        authed,
        "/api/links",
        get(links::list).post(links::create).patch(links::resume),
    );
    authed = both(
        authed,
        "/api/links/{id}",
        get(links::detail)
            .patch(links::modify)
            .put(links::update_credentials)
            .delete(links::delete),
    );
    authed = both(authed, "/api/links/{id}/refresh", post(links::refresh));
    authed = both(
        authed,
        "/api/owners",
        get(records::list::<records::Owners>)
            .post(owners::retrieve)
            .patch(owners::resume),
    );
    authed = both(
        authed,
        "/api/owners/{id}",
        get(records::detail::<records::Owners>).delete(records::delete::<records::Owners>),
    );
    authed = both(
        authed,
        "/api/br/employments",
        get(records::list::<records::Employments>).post(employments::retrieve),
    );
    authed = both(
        authed,
        "/api/br/employments/{id}",
        get(records::detail::<records::Employments>)
            .delete(records::delete::<records::Employments>),
    );
    authed = both(authed, "/_mock/reset", post(control::reset));
    authed = both(
        authed,
        "/_mock/webhook",
        get(webhooks::config).put(webhooks::set_config),
    );
    authed = both(authed, "/_mock/webhooks", get(webhooks::deliveries));
    authed = both(authed, "/_mock/webhooks/flush", post(webhooks::flush));
    authed = both(
        authed,
        "/_mock/webhooks/{id}/redeliver",
        post(webhooks::redeliver),
    );
    authed = both(authed, "/_mock/requests", get(control::requests));
    authed = authed.route("/_mock/ui", get(|| async { ui_redirect() }));
    authed = authed.route("/_mock/ui/", get(ui::links));
    authed = both(authed, "/_mock/ui/links/{id}", get(ui::link));
    authed = both(authed, "/_mock/ui/webhooks", get(ui::webhooks));
    authed = both(authed, "/_mock/ui/requests", get(ui::requests));
    authed = both(authed, "/_mock/ui/widget", get(ui::widget));
    authed = both(authed, "/_mock/ui/webhook", post(ui::save_settings));
    authed = both(authed, "/_mock/ui/webhooks/flush", post(ui::flush));
    authed = both(
        authed,
        "/_mock/ui/webhooks/{id}/redeliver",
        post(ui::redeliver),
    );
    authed = both(authed, "/_mock/ui/clock/advance", post(ui::advance));
    authed = both(
        authed,
        "/_mock/links/{id}/scenario",
        axum::routing::put(control::set_link_scenario),
    );
    authed = both(authed, "/_mock/clock", get(control::clock));
    authed = both(authed, "/_mock/clock/advance", post(control::advance_clock));

    let open = both(Router::new(), "/_mock/health", get(control::health));
    // Authenticated by the body's `id` and `password`, not by the Basic header.
    let open = both(open, "/api/token", post(token::create));
    // The hosted widget: a browser page, opened with an access token, not the keys.
    let open = both(open, "/widget", get(widget::entry))
        .route("/widget/login", get(widget::login_page).post(widget::login))
        .route("/widget/mfa", post(widget::mfa))
        .route("/widget/exit", post(widget::exit))
        .route("/widget/bridge.js", get(widget::bridge_script))
        // Where an app loads Belvo's widget script from, on the fake.
        .route("/belvo-widget-1-stable.js", get(widget::sdk_script));

    authed
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
