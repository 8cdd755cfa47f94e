//! The connection layer under the request front: hyper's HTTP/1 with a cap on concurrent
//! connections, a timeout for reading request headers (idle or half-open connections are
//! closed), a bound on the header buffer, and graceful shutdown. Generic over the hyper
//! service it serves: it knows nothing of the fake.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
// tokio's, so the watchdog's unit test can run on paused time.
use tokio::time::Instant;

pub use crate::config::Limits;

/// Threads that serve connections, each running its own single-threaded tokio runtime.
/// Connections are dealt to them in turn and stay on their thread, so answering a request takes
/// no wake-up of another thread and no work stealing. On the 2-core machine the fake's
/// employments list went from about 100k to 120k requests/s this way, with p99 from 4-5 ms to
/// about 2.2 ms (bare hyper on this layout gained about 5 % in the same comparison).
#[derive(Debug)]
pub struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` (at least one) worker threads.
    pub fn start(n: usize) -> io::Result<Self> {
        let mut workers = Self {
            handles: Vec::new(),
            next: AtomicUsize::new(0),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for index in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            workers.stops.push(stop);
            workers.threads.push(
                std::thread::Builder::new()
                    .name(format!("belvo-mock-worker-{index}"))
                    // The runtime runs its connections while it waits for the stop signal,
                    // and drops whatever is left when it ends.
                    .spawn(move || {
                        runtime.block_on(async {
                            stopped.await.ok();
                        });
                    })?,
            );
        }
        Ok(workers)
    }

    /// Serves `stream` with `serve` on the next worker in turn. The socket moves to that
    /// worker's reactor, so its readiness wakes only that thread.
    pub fn serve<F, Fut>(&self, stream: tokio::net::TcpStream, serve: F)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[index].spawn(async move {
            match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => serve(stream).await,
                Err(e) => tracing::warn!("cannot serve an accepted connection: {e}"),
            }
        });
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            stop.send(()).ok();
        }
        for thread in self.threads.drain(..) {
            thread.join().ok();
        }
    }
}

/// Serves `service` on `listener` until `shutdown` resolves; then stops accepting and lets
/// open connections finish their requests (within `limits.drain`). Connections are served on
/// `workers` when given, else on the calling runtime.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    workers: Option<Arc<Workers>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + Unpin + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // No hyper timer: its header read timeout arms and drops a timer for every request (a
    // tenth of the throughput in the load benchmark); the per-connection watchdog below
    // enforces the same rule with one timer that fires once per timeout.
    builder.max_buf_size(limits.max_buffer.max(8192));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        stream.set_nodelay(true).ok();
        let api = service.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let timeout = limits.header_read_timeout;
        let connection = move |stream: tokio::net::TcpStream| async move {
            let activity = Arc::new(Activity::new());
            let service = Tracked {
                api,
                activity: Arc::clone(&activity),
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let watched = watcher.watch(connection);
            tokio::select! {
                ended = watched => if let Err(e) = ended {
                    tracing::debug!("connection ended: {e}");
                },
                () = activity.headers_overdue(timeout) => {
                    tracing::debug!("closed a connection that sent no request headers within {timeout:?}");
                }
            }
            drop(permit);
        };
        match &workers {
            Some(workers) => workers.serve(stream, connection),
            None => {
                tokio::spawn(connection(stream));
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
    Ok(())
}

/// What the header-read watchdog of one connection knows: whether a request is being
/// answered, and since when the connection has been waiting for the next request's headers.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    busy: AtomicBool,
    /// Microseconds after `opened` the last answer was ready.
    waiting_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            busy: AtomicBool::new(false),
            waiting_since: AtomicU64::new(0),
        }
    }

    fn answered(&self) {
        let micros = u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waiting_since.store(micros, Ordering::Relaxed);
        self.busy.store(false, Ordering::Release);
    }

    /// Resolves once the connection has waited `timeout` for a request's complete headers
    /// (since it opened or since its last answer). While a request is being answered it
    /// never resolves: the timeout is for headers only.
    async fn headers_overdue(&self, timeout: Duration) {
        loop {
            let deadline = if self.busy.load(Ordering::Acquire) {
                Instant::now() + timeout
            } else {
                let since = Duration::from_micros(self.waiting_since.load(Ordering::Relaxed));
                self.opened + since + timeout
            };
            if deadline <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The served service with the connection's activity noted around each request.
#[derive(Debug)]
struct Tracked<S> {
    api: S,
    activity: Arc<Activity>,
}

impl<S> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.busy.store(true, Ordering::Release);
        TrackedFuture {
            inner: self.api.call(request),
            _answered: Answered(Arc::clone(&self.activity)),
        }
    }
}

/// Marks the connection as waiting for headers again when the answer is done with (hyper
/// drops the future once it has the response).
#[derive(Debug)]
struct Answered(Arc<Activity>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.answered();
    }
}

#[derive(Debug)]
struct TrackedFuture<F> {
    inner: F,
    _answered: Answered,
}

impl<F: Future + Unpin> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn headers_are_overdue_a_timeout_after_the_last_answer_but_never_while_busy() {
        let activity = Activity::new();
        let timeout = Duration::from_secs(10);
        activity.busy.store(true, Ordering::Release);
        let waited =
            tokio::time::timeout(Duration::from_secs(60), activity.headers_overdue(timeout));
        assert!(waited.await.is_err(), "a busy connection is never overdue");
        activity.answered();
        let started = tokio::time::Instant::now();
        activity.headers_overdue(timeout).await;
        assert!(started.elapsed() >= timeout);
    }
}
