//! The application, built once at start-up: the store, the webhook journal, the request log,
//! the body cache, the clock and the one writer every change goes through. The control
//! operations (reset, flush, redeliver, webhook settings, clock, scenarios) are its methods,
//! used alike by `/_mock/*`, the dashboard and [`crate::MockServer`]; so is issuing widget
//! access tokens (`widget.rs`, with the signing secret).

pub(crate) mod cache;
mod control;
pub(crate) mod requests;
mod widget;
mod writer;

pub use widget::WidgetAccess;

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Durable;
use crate::fixtures::{Generator, Overrides};
use crate::store::{Error, Store, Tx};
use crate::webhooks::{Journal, WebhookConfig};

/// Why the app cannot be built: start-up stops with this message.
#[derive(Debug)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// A cheap handle on the application. Clones share everything.
#[derive(Clone, Debug)]
pub struct App(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub journal: Journal,
    pub requests: requests::RequestJournal,
    pub bodies: cache::BodyCache,
    pub clock: Clock,
    /// How many override files were loaded (for the banner).
    pub fixture_files: usize,
    /// What widget access tokens are signed with (HS512).
    widget_secret: Vec<u8>,
    writer: writer::Writer,
    /// Links to rewrite once serving: read back with sessions that expired while the server
    /// was down.
    leftovers: std::sync::Mutex<Vec<(crate::tenant::TenantId, uuid::Uuid, u64)>>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Loads the override files and (with `--data-dir`) takes the folder, opens, checks and
    /// reads back the database: everything start-up needs, once.
    pub fn build(config: &Config) -> Result<Self, BuildError> {
        let overrides = match &config.fixtures {
            Some(dir) => Overrides::load(dir).map_err(|e| BuildError(e.to_string()))?,
            None => Overrides::default(),
        };
        let fixture_files = overrides.len();
        let generator = Generator::new(config.seed, config.salary_months, overrides);
        let clock = Clock::new();
        let db = match &config.data_dir {
            Some(dir) => Some(Durable::open(dir).map_err(|e| BuildError(e.to_string()))?),
            None => None,
        };
        let store = Store::new(config, clock.clone(), generator, db.is_some());
        let journal = Journal::new(
            clock.clone(),
            config.webhooks.clone(),
            WebhookConfig {
                url: config.webhook_url.clone(),
                authorization: config.webhook_authorization.clone(),
            },
            store.names(),
        );
        let widget_secret =
            widget::secret(config.widget_secret.as_deref(), db.as_ref()).map_err(BuildError)?;
        let mut leftovers = Vec::new();
        let writer = match db {
            None => writer::Writer::inline(),
            Some(db) => {
                let fail = |e: crate::db::DurableError| BuildError(e.to_string());
                control::restore_clock(&db, &clock).map_err(BuildError)?;
                leftovers = store.restore(&db).map_err(fail)?;
                journal.restore(&db).map_err(fail)?;
                writer::Writer::thread(store.clone(), journal.clone(), db)
                    .map_err(|e| BuildError(format!("cannot start the writer thread: {e}")))?
            }
        };
        Ok(Self(Arc::new(Inner {
            store,
            journal,
            requests: requests::RequestJournal::default(),
            bodies: cache::BodyCache::default(),
            clock,
            fixture_files,
            widget_secret,
            writer,
            leftovers: std::sync::Mutex::new(leftovers),
        })))
    }

    /// The database file, under `--data-dir`.
    pub fn database(&self) -> Option<&std::path::Path> {
        self.writer.db().map(Durable::path)
    }

    /// Start-up housekeeping, handed to the writer once the server answers (nobody waits
    /// for it).
    pub(crate) fn start_housekeeping(&self) {
        let links = self
            .leftovers
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        if links.is_empty() {
            return;
        }
        let job = writer::job(
            move |tx| {
                tx.store().rewrite(tx, &links);
                Ok(())
            },
            |result| {
                if let Err(e) = result {
                    tracing::error!("start-up housekeeping failed: {e}");
                }
            },
        );
        self.writer.submit(&self.store, &self.journal, job);
    }

    /// Commits what is queued and stops the writer (the folder lock goes with the process,
    /// or with the last handle).
    pub(crate) fn stop(&self) {
        self.writer.stop();
    }

    /// Makes every later commit fail as a full disk would (the tests' fault seam).
    pub(crate) fn fail_writes(&self, on: bool) {
        if let Some(db) = self.writer.db() {
            db.fail_writes(on);
        }
    }

    /// Applies the change `plan` describes through the one writer and answers once it is
    /// committed: `plan`'s own error, or 500 `unexpected_error` when it cannot be persisted
    /// (memory then stays exactly as it was).
    pub async fn change<R: Send + 'static>(
        &self,
        plan: impl for<'s> FnOnce(&mut Tx<'s>) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        let job = writer::job(plan, move |result| {
            tx.send(result).ok();
        });
        self.writer.submit(&self.store, &self.journal, job);
        rx.await.unwrap_or(Err(Error::Unexpected))
    }

    /// [`App::change`] for synchronous callers (the in-process handle): blocks this thread
    /// until the change is committed.
    pub fn change_blocking<R: Send + 'static>(
        &self,
        plan: impl for<'s> FnOnce(&mut Tx<'s>) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        let job = writer::job(plan, move |result| {
            tx.send(result).ok();
        });
        self.writer.submit(&self.store, &self.journal, job);
        rx.recv().unwrap_or(Err(Error::Unexpected))
    }
}
