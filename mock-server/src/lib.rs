//! belvo-mock's server: a faithful local fake of Belvo's Brazil employment API.
//!
//! Run it with `cargo run -p mock-server`, or in-process from tests:
//!
//! ```no_run
//! # async fn demo() {
//! let server = mock_server::MockServer::start().await;
//! let base = server.uri(); // http://127.0.0.1:<port>
//! let (id, password) = server.secret_keys();
//! // ... point a Belvo client at `base` with `id`/`password` ...
//! server.advance_clock(std::time::Duration::from_secs(120)); // expire MFA sessions
//! drop(server); // shuts the server down
//! # }
//! ```

//!
//! # Layout
//!
//! Layers depend downwards only:
//!
//! 1. Leaves: [`config`], [`clock`], `tenant` (key pairs as tenants), [`scenario`], `event`
//!    (the webhooks Belvo sends, typed), `db` (the SQLite file under `--data-dir` and its
//!    lock), `jwt` (HS512 tokens), and the wire contract inside `store` (`error`, `fields`, `query`, `links`,
//!    `records`: Belvo's error catalogue, DRF field rules, django-filter queries, shapes).
//! 2. [`fixtures`]: the deterministic data generator.
//! 3. `store` (links, sessions, data, widget tokens; changes planned into a transaction) and `webhooks`
//!    (the delivery journal and dispatcher), siblings: webhooks never import the store.
//! 4. `app`: the one application object and the one writer every change goes through, with
//!    the request log, the body cache and the control operations.
//! 5. `http`: routes, extractors, error rendering, the dashboard, the hosted widget
//!    (`widget/`), the request front.
//! 6. [`server`]: connections (generic over any hyper service), workers, the cap with
//!    eviction of the idlest connection (`registry.rs`), per-connection deadlines for
//!    headers, bodies and answers (`watchdog.rs`).
//! 7. This file and `main.rs`: [`run`], [`MockServer`], the binary (whose own `log_sink.rs`
//!    and `log_format.rs` write its log to stdout).

mod app;
pub mod cli;
pub mod clock;
pub mod config;
mod db;
mod event;
pub mod fixtures;
pub mod fuzzing;
mod http;
mod jwt;
pub mod scenario;
pub mod server;
mod store;
mod tenant;
mod webhooks;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use app::{App, BuildError};
pub use clock::Clock;
pub use config::{Config, MfaMode, SecretKey};
/// The database file's name inside `--data-dir`.
pub use db::FILE_NAME as DATABASE_FILE;
pub use store::records::{EmploymentRecord, OwnerRecord, record_id};
pub use store::{Link, Login, Params, Store, Tx};
pub use webhooks::{Attempt, Delivery, DeliveryStatus, WebhookConfig};

/// Serves the fake on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish and keeps delivering due webhooks for `shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = build(&config)?;
    serve(listener, app, &config, None, shutdown).await
}

/// [`run`] for an app already built (the binary builds it before printing its banner),
/// with connections served on `workers` (the binary's layout: one single-threaded runtime
/// per core) instead of the calling runtime.
pub async fn run_app(
    listener: TcpListener,
    app: App,
    config: Config,
    workers: std::sync::Arc<server::Workers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve(listener, app, &config, Some(workers), shutdown).await
}

fn build(config: &Config) -> io::Result<App> {
    App::build(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn serve(
    listener: TcpListener,
    app: App,
    config: &Config,
    workers: Option<std::sync::Arc<server::Workers>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, dispatcher) = webhooks::dispatcher::spawn(app.journal.clone());
    app.start_housekeeping();
    let janitor = tokio::spawn(sweep_forever(app.clone()));
    let api = http::service::Api::new(http::AppState::new(app.clone(), config.public_url.clone()));
    let served = server::serve(listener, api, config.limits.clone(), workers, shutdown).await;
    janitor.abort();
    stop.at(std::time::Instant::now() + config.shutdown_grace);
    dispatcher.await.ok();
    app.stop();
    served
}

/// Housekeeping every 30 s and whenever the virtual clock jumps: expired sessions and
/// abandoned unconfirmed links go, so memory stays bounded under any load, and scheduled
/// refreshes that fell due run.
async fn sweep_forever(app: App) {
    loop {
        let clock = app.clock.clone();
        let advanced = clock.advanced().notified();
        tokio::pin!(advanced);
        advanced.as_mut().enable();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
            () = &mut advanced => {}
        }
        match app.sweep().await {
            Ok(0) => {}
            Ok(forgotten) => tracing::debug!("swept {forgotten} abandoned unconfirmed link(s)"),
            Err(e) => tracing::error!("housekeeping failed: {e}"),
        }
        // Refreshes that fell due as real time passed (an advance runs its own at once).
        match app.refresh_due().await {
            Ok(0) => {}
            Ok(ran) => tracing::debug!("ran {ran} scheduled refresh(es)"),
            Err(e) => tracing::error!("scheduled refreshes failed: {e}"),
        }
    }
}

/// A running fake on 127.0.0.1 with a random port. Dropping it shuts the server down.
#[derive(Debug)]
pub struct MockServer {
    address: SocketAddr,
    config: Config,
    app: App,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Starts a fake with the default configuration (sandbox keys, MFA always).
    ///
    /// # Panics
    /// When no loopback port can be bound, like `wiremock::MockServer::start`.
    pub async fn start() -> Self {
        match Self::start_with(Config::default()).await {
            Ok(server) => server,
            Err(e) => panic!("belvo-mock could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a fake with `config` on 127.0.0.1:0.
    pub async fn start_with(config: Config) -> io::Result<Self> {
        let listener = server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let app = build(&config)?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        let served_config = config.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                rx.await.ok();
            };
            if let Err(e) = serve(listener, served, &served_config, None, shutdown).await {
                tracing::error!("belvo-mock stopped: {e}");
            }
        });
        Ok(Self {
            address,
            config,
            app,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:54321` (no trailing slash).
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The first (default) key pair: `(secret id, secret password)`.
    pub fn secret_keys(&self) -> (&str, &str) {
        let key = &self.config.keys[0];
        (&key.id, &key.password)
    }

    /// Every configured key pair (one tenant each).
    pub fn keys(&self) -> &[SecretKey] {
        &self.config.keys
    }

    /// Moves the virtual clock forward: MFA sessions expire, cooldowns end, and every
    /// scheduled refresh of a recurrent link that falls due in the span runs (in order)
    /// before this returns, its webhooks journaled: no sleeping needed.
    ///
    /// # Panics
    /// When the advance would carry timestamps past the year 9999.
    pub fn advance_clock(&self, by: Duration) {
        if let Err(e) = self.app.advance_clock_blocking(by) {
            panic!("cannot advance the clock by {by:?}: {e}");
        }
    }

    /// Stops accepting connections, lets in-flight requests finish, and returns once the
    /// server is down. Dropping the handle does the same without waiting.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.ok();
        }
    }

    /// Forgets every tenant's links, sessions, data, webhook deliveries and settings, and
    /// request log: the same operation as `POST /_mock/reset`, for every key pair at once.
    pub fn reset(&self) {
        let tenants = self.app.store.tenants().collect();
        if let Err(e) = self.app.change_blocking(self.app.reset_plan(tenants)) {
            tracing::error!("reset failed: {e}");
        }
    }

    /// Makes every later write to `--data-dir` fail, as a full disk would, until called
    /// with `false`: the seam tests use to check that a failed write changes nothing.
    #[doc(hidden)]
    pub fn fail_writes(&self, on: bool) {
        self.app.fail_writes(on);
    }

    /// Every webhook delivery of every tenant, newest first, with its attempts.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.app.journal.deliveries(None, None, None)
    }

    /// Waits until at least `n` deliveries are finished (delivered, failed or undeliverable)
    /// and returns them all; `Err` with what there is when `timeout` passes first. Tests wait
    /// on this instead of sleeping.
    pub async fn wait_for_deliveries(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Delivery>, Vec<Delivery>> {
        self.wait_for_webhooks(timeout, |all| {
            all.iter().filter(|d| d.status.is_final()).count() >= n
        })
        .await
    }

    /// Waits until `done` holds for the deliveries (checked on every change).
    pub async fn wait_for_webhooks(
        &self,
        timeout: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Result<Vec<Delivery>, Vec<Delivery>> {
        let journal = &self.app.journal;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = journal.updated().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let all = self.deliveries();
            if done(&all) {
                return Ok(all);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(self.deliveries());
            }
        }
    }

    /// Makes every pending delivery due now (as `POST /_mock/webhooks/flush`).
    pub fn flush(&self) -> usize {
        self.app
            .change_blocking(self.app.flush_plan(None))
            .unwrap_or(0)
    }

    /// Sets the webhook URL and Authorization of every tenant (as `PUT /_mock/webhook`).
    pub fn set_webhook(&self, url: Option<&str>, authorization: Option<&str>) {
        let config = WebhookConfig {
            url: url.map(str::to_owned),
            authorization: authorization.map(str::to_owned),
        };
        let tenants = self.app.store.tenants().collect();
        if let Err(e) = self
            .app
            .change_blocking(self.app.set_webhook_plan(tenants, config))
        {
            tracing::error!("cannot set the webhook: {e}");
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}
