//! The dispatcher: a background task that hands due deliveries, through a bounded queue, to a
//! fixed pool of senders (the cap on requests in flight). A sender POSTs the payload with the
//! tenant's Authorization; a 2xx within the timeout is a success, anything else an attempt to
//! retry. Timers run on the virtual clock: advancing it, or any new event, wakes the loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinSet;

use super::{Attempt, Job, Journal};

/// How much of a receiver's answer is kept in the journal.
const RESPONSE_EXCERPT: usize = 256;
/// How long the loop sleeps when nothing is scheduled (it is woken by events anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// Tells the dispatcher to stop: it keeps sending what is due until the deadline, then ends.
#[derive(Clone, Debug)]
pub struct Stop(watch::Sender<Option<Instant>>);

impl Stop {
    pub fn at(&self, deadline: Instant) {
        self.0.send_replace(Some(deadline));
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        // A redirect is not a 2xx: Belvo does not follow them for webhooks.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "belvo-mock/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Sends one attempt and describes its outcome.
async fn attempt(client: &reqwest::Client, journal: &Journal, job: &Job) -> Attempt {
    let at = journal.clock().now();
    let started = Instant::now();
    let mut request = client
        .post(&job.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(job.body.clone());
    if let Some(auth) = &job.authorization {
        request = request.header(reqwest::header::AUTHORIZATION, auth);
    }
    let outcome = request.send().await;
    let (status_code, error, response_body) = match outcome {
        Ok(mut response) => {
            let status = response.status().as_u16();
            // Read the start of the body for the journal; a slow body does not undo a 2xx.
            let mut excerpt = Vec::new();
            while excerpt.len() < RESPONSE_EXCERPT {
                match response.chunk().await {
                    Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            excerpt.truncate(RESPONSE_EXCERPT);
            let text =
                (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned());
            (Some(status), None, text)
        }
        Err(e) => {
            let timeout = journal.settings().timeout;
            let reason = if e.is_timeout() {
                format!("no answer within {:.1} s", timeout.as_secs_f64())
            } else if e.is_connect() {
                format!("connection failed: {}", root_cause(&e))
            } else {
                format!("request failed: {}", root_cause(&e))
            };
            (None, Some(reason), None)
        }
    };
    Attempt {
        number: job.attempt,
        at,
        url: job.url.clone(),
        status_code,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        error,
        response_body,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Starts the dispatcher; the returned task ends after [`Stop::at`]'s deadline (or when
/// nothing is left to send before it).
pub fn spawn(journal: Journal) -> (Stop, tokio::task::JoinHandle<()>) {
    let (stop_tx, stop_rx) = watch::channel(None);
    let handle = tokio::spawn(run(journal, stop_rx));
    (Stop(stop_tx), handle)
}

async fn run(journal: Journal, mut stop: watch::Receiver<Option<Instant>>) {
    let settings = journal.settings().clone();
    let senders = settings.concurrency.max(1);
    // The bounded queue between the schedule and the senders.
    let (queue, jobs) = mpsc::channel::<Job>(senders * 2);
    let jobs = Arc::new(Mutex::new(jobs));
    let client = client(settings.timeout);
    let mut pool = JoinSet::new();
    for _ in 0..senders {
        let jobs = Arc::clone(&jobs);
        let journal = journal.clone();
        let client = client.clone();
        pool.spawn(async move {
            loop {
                let next = jobs.lock().await.recv().await;
                let Some(job) = next else { break };
                let outcome = attempt(&client, &journal, &job).await;
                journal.record(&job.webhook_id, outcome);
            }
        });
    }

    loop {
        // Register for every wake-up before looking at the schedule, so none is missed.
        let clock = journal.clock().clone();
        let advanced = clock.advanced().notified();
        tokio::pin!(advanced);
        advanced.as_mut().enable();

        let deadline = *stop.borrow_and_update();
        let now = clock.now();
        if let Some(deadline) = deadline
            && (Instant::now() >= deadline || !journal.busy(now))
        {
            break;
        }
        let room = queue.capacity();
        let (due, next) = if room > 0 {
            journal.take_due(now, room)
        } else {
            (Vec::new(), None)
        };
        for job in due {
            if queue.send(job).await.is_err() {
                return;
            }
        }
        let wait = if room == 0 {
            // Every sender is busy and the queue is full: wait for room.
            match queue.reserve().await {
                Ok(permit) => drop(permit),
                Err(_) => return,
            }
            continue;
        } else {
            next.map_or(IDLE, |at| clock.until(at))
        };
        let wait = match deadline {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        };
        tokio::select! {
            () = &mut advanced => {}
            () = journal.dispatch_notify().notified() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    // Let the senders finish what they hold, within the deadline.
    drop(queue);
    let deadline = *stop.borrow();
    let finish = async { while pool.join_next().await.is_some() {} };
    match deadline {
        Some(d) => {
            if tokio::time::timeout(d.saturating_duration_since(Instant::now()), finish)
                .await
                .is_err()
            {
                tracing::warn!(target: "belvo_mock::webhooks", "shutdown grace over; abandoning deliveries in flight");
            }
        }
        None => finish.await,
    }
}
