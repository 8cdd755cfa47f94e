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

pub mod cli;
pub mod clock;
pub mod config;
pub mod fixtures;
pub mod fuzzing;
mod http;
pub mod scenario;
pub mod server;
pub mod store;
pub mod webhooks;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use clock::Clock;
pub use config::{Config, MfaMode, SecretKey};
use store::Store;
pub use webhooks::{Delivery, DeliveryStatus, WebhookConfig};

/// Serves the fake on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish and keeps delivering due webhooks for `shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let store = build_store(&config)?;
    serve(listener, store, &config, None, shutdown).await
}

/// [`run`], with connections served on `workers` (the binary's layout: one single-threaded
/// runtime per core) instead of the calling runtime.
pub async fn run_on(
    listener: TcpListener,
    config: Config,
    workers: std::sync::Arc<server::Workers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let store = build_store(&config)?;
    serve(listener, store, &config, Some(workers), shutdown).await
}

/// The store for `config`, with its override files loaded and checked.
fn build_store(config: &Config) -> io::Result<Store> {
    Store::from_config(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn serve(
    listener: TcpListener,
    store: Store,
    config: &Config,
    workers: Option<std::sync::Arc<server::Workers>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, dispatcher) = webhooks::dispatcher::spawn(store.webhooks().clone());
    let janitor = tokio::spawn(sweep_forever(store.clone()));
    let api = http::service::Api::new(http::AppState::new(store, config.public_url.clone()));
    let served = server::serve(listener, api, config.limits.clone(), workers, shutdown).await;
    janitor.abort();
    stop.at(std::time::Instant::now() + config.shutdown_grace);
    dispatcher.await.ok();
    served
}

/// Housekeeping every 30 s and whenever the virtual clock jumps: expired sessions and
/// abandoned unconfirmed links go, so memory stays bounded under any load.
async fn sweep_forever(store: Store) {
    loop {
        let clock = store.clock().clone();
        let advanced = clock.advanced().notified();
        tokio::pin!(advanced);
        advanced.as_mut().enable();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
            () = &mut advanced => {}
        }
        let forgotten = store.sweep();
        if forgotten > 0 {
            tracing::debug!("swept {forgotten} abandoned unconfirmed link(s)");
        }
    }
}

/// A running fake on 127.0.0.1 with a random port. Dropping it shuts the server down.
#[derive(Debug)]
pub struct MockServer {
    address: SocketAddr,
    config: Config,
    store: Store,
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
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let store = build_store(&config)?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = store.clone();
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
            store,
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

    /// Moves the virtual clock forward: MFA sessions expire, cooldowns end.
    pub fn advance_clock(&self, by: Duration) {
        self.store.advance_clock(by);
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

    /// Forgets every tenant's links, sessions, data and webhook deliveries.
    pub fn reset(&self) {
        self.store.reset_all();
    }

    /// Every webhook delivery of every tenant, newest first, with its attempts.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.store.webhooks().deliveries(None, None, None)
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
        let journal = self.store.webhooks();
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
        self.store.webhooks().flush(None)
    }

    /// Sets the webhook URL and Authorization of every tenant (as `PUT /_mock/webhook`).
    pub fn set_webhook(&self, url: Option<&str>, authorization: Option<&str>) {
        let config = WebhookConfig {
            url: url.map(str::to_owned),
            authorization: authorization.map(str::to_owned),
        };
        for tenant in self.store.tenants() {
            self.store.webhooks().set_config(tenant, config.clone());
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
