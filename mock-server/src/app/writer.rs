//! The one writer: every change of state goes through here. A change is planned into a
//! transaction under the tenant locks (the store's ops, applied with their inverses, and
//! the webhook deliveries it causes), persisted in one database transaction with those
//! deliveries (an outbox), then committed in memory (versions bumped, the journal and other
//! `after`s applied) or rolled back exactly. Notifications go out after the locks are
//! released.
//!
//! In memory the change runs on the caller's thread. Under `--data-dir` it runs on the
//! writer thread, which takes every change queued meanwhile into the same transaction
//! (group commit): concurrent requests share one commit, and each is answered only after
//! its change is committed.

use std::sync::Mutex;
use std::sync::mpsc;

use crate::db::{Durable, Write};
use crate::store::{Error, Store, Tx};
use crate::tenant::TenantId;
use crate::webhooks::Journal;

/// Called once the transaction is decided: `true` committed, `false` rolled back.
type Reply = Box<dyn FnOnce(bool) + Send>;
/// A planned change: runs on the writer with the transaction, returns how to answer.
pub(super) type Job = Box<dyn for<'s> FnOnce(&mut Tx<'s>) -> Reply + Send>;

/// Changes taken into one transaction at most.
const MAX_GROUP: usize = 1024;

enum Msg {
    Job(Job),
    /// Deliveries the dispatcher changed in memory (attempts, retries, the journal limit):
    /// their rows are written as they are when the writer gets to them.
    Deliveries(Vec<(TenantId, String)>),
    Stop,
}

#[derive(Debug)]
pub(super) struct Writer {
    mode: Mode,
}

enum Mode {
    Inline,
    Thread {
        sender: mpsc::Sender<Msg>,
        thread: Mutex<Option<std::thread::JoinHandle<()>>>,
        db: Durable,
    },
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline => f.write_str("Inline"),
            Self::Thread { db, .. } => f.debug_tuple("Thread").field(db).finish(),
        }
    }
}

impl Writer {
    /// Changes applied on the caller's thread, nothing persisted.
    pub(super) fn inline() -> Self {
        Self { mode: Mode::Inline }
    }

    /// Changes persisted to `db` by a writer thread; the journal's own changes go there too.
    pub(super) fn thread(store: Store, journal: Journal, db: Durable) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let sink = sender.clone();
        journal.set_sink(Box::new(move |ids| {
            sink.send(Msg::Deliveries(ids)).ok();
        }));
        let thread_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("belvo-mock-writer".into())
            .spawn(move || run(&store, &journal, &thread_db, &receiver))?;
        Ok(Self {
            mode: Mode::Thread {
                sender,
                thread: Mutex::new(Some(thread)),
                db,
            },
        })
    }

    pub(super) fn db(&self) -> Option<&Durable> {
        match &self.mode {
            Mode::Inline => None,
            Mode::Thread { db, .. } => Some(db),
        }
    }

    /// Runs `job` (here, or queued to the writer thread). `Err(job)` if the writer has
    /// stopped.
    pub(super) fn submit(&self, store: &Store, journal: &Journal, job: Job) {
        match &self.mode {
            Mode::Inline => commit_group(store, journal, None, vec![Msg::Job(job)]),
            Mode::Thread { sender, .. } => {
                if let Err(mpsc::SendError(Msg::Job(job))) = sender.send(Msg::Job(job)) {
                    // Shut down: refuse, as a failed write would.
                    let mut tx = Tx::new(store);
                    let reply = job(&mut tx);
                    tx.rollback();
                    reply(false);
                }
            }
        }
    }

    /// Commits what is queued and stops the writer thread.
    pub(super) fn stop(&self) {
        if let Mode::Thread { sender, thread, .. } = &self.mode {
            sender.send(Msg::Stop).ok();
            let handle = thread.lock().ok().and_then(|mut t| t.take());
            if let Some(handle) = handle {
                handle.join().ok();
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: one group of queued changes per transaction until told to stop.
fn run(store: &Store, journal: &Journal, db: &Durable, receiver: &mpsc::Receiver<Msg>) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(msg) => group.push(msg),
                Err(_) => break,
            }
        }
        let stop = group.iter().any(|m| matches!(m, Msg::Stop));
        commit_group(store, journal, Some(db), group);
        if stop {
            // What the last group's own `after`s queued (the journal limit's deletions).
            let rest: Vec<Msg> = receiver.try_iter().collect();
            if !rest.is_empty() {
                commit_group(store, journal, Some(db), rest);
            }
            break;
        }
    }
}

/// Plans every change of the group into one transaction, persists it, then commits or
/// rolls back, answers each change, and notifies the dispatcher with no lock held when the
/// journal changed.
fn commit_group(store: &Store, journal: &Journal, db: Option<&Durable>, group: Vec<Msg>) {
    let mut tx = Tx::new(store);
    let mut replies = Vec::with_capacity(group.len());
    let mut saw_updates = false;
    for msg in group {
        match msg {
            Msg::Job(job) => {
                let mark = tx.mark();
                // A planner that panics (a bug) fails its own change, not the writer: its
                // reply is dropped with it, which answers 500.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx))) {
                    Ok(reply) => replies.push(reply),
                    Err(_) => {
                        tracing::error!("a change panicked while being planned; refused");
                        tx.undo_to(mark);
                        continue;
                    }
                }
                let deliveries: Vec<_> = tx
                    .take_events_since(mark)
                    .iter()
                    .map(|(tenant, event)| journal.prepare(*tenant, event))
                    .collect();
                if !deliveries.is_empty() {
                    tx.persist(deliveries.iter().filter_map(|d| journal.row(d)));
                    let journal = journal.clone();
                    tx.after(Box::new(move || journal.insert(deliveries)));
                }
            }
            Msg::Deliveries(ids) => {
                saw_updates = true;
                // A tenant reset in this transaction has none: its rows are deleted.
                let rows: Vec<Write> = ids
                    .iter()
                    .filter(|(tenant, _)| !tx.was_reset(*tenant))
                    .filter_map(|(tenant, id)| journal.row_of(*tenant, id))
                    .collect();
                tx.persist(rows);
            }
            Msg::Stop => {}
        }
    }
    // The dispatcher and the webhook waiters care about the journal alone, which only an
    // `after` (new deliveries, a reset, a flush, settings) or the dispatcher's own updates
    // change. Most changes (a 428's link and session) touch neither, and waking the
    // dispatcher's thread for each of them cost the registration flood a context switch per
    // request.
    let wake = tx.has_afters() || saw_updates;
    let rows = tx.take_rows();
    let committed = match db {
        None => true,
        Some(db) => match db.commit(&rows) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("cannot write to the data directory: {e}");
                false
            }
        },
    };
    if committed {
        tx.commit();
    } else {
        tx.rollback();
        journal.discard_plans();
    }
    for reply in replies {
        reply(committed);
    }
    drop(tx);
    if wake {
        journal.changed();
    }
}

/// The job for a change planned by `plan`: an `Err` undoes what it applied; a change that
/// cannot be persisted is answered `unexpected_error` (500), as Belvo does.
pub(super) fn job<R: Send + 'static>(
    plan: impl for<'s> FnOnce(&mut Tx<'s>) -> Result<R, Error> + Send + 'static,
    answer: impl FnOnce(Result<R, Error>) + Send + 'static,
) -> Job {
    Box::new(move |tx| {
        let mark = tx.mark();
        let result = plan(tx);
        if result.is_err() {
            tx.undo_to(mark);
        }
        Box::new(move |committed| {
            answer(match result {
                Ok(_) if !committed => Err(Error::Unexpected),
                other => other,
            });
        })
    })
}

#[cfg(test)]
mod tests {
    //! The group commit's ordering rules, on groups built by hand (the writer thread would
    //! group them only by timing).
    use super::*;
    use crate::app::App;
    use crate::config::{Config, MfaMode};
    use crate::webhooks::{DeliveryStatus, WebhookConfig};

    fn new_link() -> serde_json::Map<String, serde_json::Value> {
        match serde_json::json!({"institution": "inss_br_employment", "username": "52998224725", "password": "secret-123"})
        {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    fn create_job(tenant: TenantId) -> Msg {
        Msg::Job(job(
            move |tx| {
                tx.store()
                    .create_link(tx, tenant, &new_link(), uuid::Uuid::nil())
            },
            |_| {},
        ))
    }

    fn config(dir: Option<std::path::PathBuf>) -> Config {
        let mut c = Config {
            mfa: MfaMode::Never,
            data_dir: dir,
            ..Config::default()
        };
        c.webhooks.delay = std::time::Duration::from_secs(3600);
        c
    }

    /// Events planned after a settings change in the same group use the new settings.
    #[test]
    fn a_link_created_after_a_webhook_url_is_set_in_one_group_is_delivered() {
        let app = App::build(&config(None)).unwrap_or_else(|e| panic!("{e}"));
        let t = TenantId::from_index(0);
        let set = WebhookConfig {
            url: Some("http://127.0.0.1:9/hooks".into()),
            authorization: None,
        };
        let group = vec![
            Msg::Job(job(app.set_webhook_plan(vec![t], set), |_| {})),
            create_job(t),
        ];
        commit_group(&app.store, &app.journal, None, group);
        let all = app.journal.deliveries(Some(t), None, None);
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending));
    }

    /// Two advances in one group move the clock, and its stored offset, by both.
    #[test]
    fn two_advances_in_one_group_add_up() {
        let app = App::build(&config(None)).unwrap_or_else(|e| panic!("{e}"));
        let hour = std::time::Duration::from_secs(3600);
        let mut tx = Tx::new(&app.store);
        assert!((app.advance_plan(hour))(&mut tx).is_ok());
        assert!((app.advance_plan(hour))(&mut tx).is_ok());
        assert_eq!(tx.planned_clock(), Some(2 * hour));
        tx.commit();
        drop(tx);
        assert_eq!(app.clock.offset(), 2 * hour);
    }

    /// A delivery the dispatcher touched is not written back after its tenant's reset in the
    /// same transaction (it came back after a restart).
    #[test]
    fn a_reset_deletes_deliveries_the_dispatcher_touched_in_the_same_group() {
        let dir = std::env::temp_dir().join(format!("belvo-mock-writer-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        let mut c = config(Some(dir.clone()));
        c.webhook_url = Some("http://127.0.0.1:9/hooks".into());
        let app = App::build(&c).unwrap_or_else(|e| panic!("{e}"));
        let t = TenantId::from_index(0);
        let created = app.change_blocking(move |tx| {
            tx.store()
                .create_link(tx, t, &new_link(), uuid::Uuid::nil())
        });
        assert!(created.is_ok());
        let ids: Vec<(TenantId, String)> = app
            .journal
            .deliveries(Some(t), None, None)
            .into_iter()
            .map(|d| (t, d.webhook_id))
            .collect();
        assert_eq!(ids.len(), 2);
        let db = app
            .writer
            .db()
            .cloned()
            .unwrap_or_else(|| panic!("durable"));
        let group = vec![
            Msg::Job(job(app.reset_plan(vec![t]), |_| {})),
            Msg::Deliveries(ids),
        ];
        commit_group(&app.store, &app.journal, Some(&db), group);
        let rows = db
            .load(crate::db::Table::Deliveries)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.is_empty(), "{rows:?}");
        app.stop();
        drop(app);
        std::fs::remove_dir_all(&dir).ok();
    }
}
