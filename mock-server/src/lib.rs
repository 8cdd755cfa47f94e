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
mod http;
pub mod scenario;
pub mod store;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use clock::Clock;
pub use config::{Config, MfaMode, SecretKey};
use store::Store;

/// Serves the fake on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let store = build_store(&config)?;
    serve(listener, store, config.public_url, shutdown).await
}

/// The store for `config`, with its override files loaded and checked.
fn build_store(config: &Config) -> io::Result<Store> {
    let overrides = match &config.fixtures {
        Some(dir) => fixtures::Overrides::load(dir)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        None => fixtures::Overrides::default(),
    };
    let generator = fixtures::Generator::new(config.seed, config.salary_months, overrides);
    Ok(Store::new(config, Clock::new(), generator))
}

async fn serve(
    listener: TcpListener,
    store: Store,
    public_url: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = http::router(http::AppState { store, public_url });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
        let public_url = config.public_url.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                rx.await.ok();
            };
            if let Err(e) = serve(listener, served, public_url, shutdown).await {
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
        self.store.clock().advance(by);
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

    /// Forgets every tenant's links and sessions.
    pub fn reset(&self) {
        self.store.reset_all();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}
