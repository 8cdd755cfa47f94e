//! The connection layer under the request front: hyper's HTTP/1 on worker threads, with a
//! cap on concurrent connections (the idlest is closed to admit a new one), deadlines for a
//! request's headers and body and for an answer's progress, a bound on the header buffer, a
//! listen backlog for bursts, and graceful shutdown. Generic over the hyper service it
//! serves: it knows nothing of the fake.
//!
//! `registry.rs` keeps the open connections and the cap; `watchdog.rs` what each connection
//! is doing and its deadlines.

mod registry;
mod watchdog;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};

use registry::Registry;
pub use watchdog::RequestBody;
use watchdog::{Activity, Metered, Timeouts, Tracked};

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

/// The listen backlog asked for (the kernel caps it at `net.core.somaxconn`): room for a
/// burst of connections while the accept loop makes room at the cap.
pub const BACKLOG: u32 = 4096;

/// Binds a listener on `address` with [`BACKLOG`].
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and tokio's own `bind` do: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
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
    S: Service<Request<RequestBody>, Response = Response<B>, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + Unpin + 'static,
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let registry = Registry::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // No hyper timer: its header read timeout arms and drops a timer for every request (a
    // tenth of the throughput in the load benchmark); the per-connection watchdog enforces
    // the same rule, and the body and write ones, with one timer that fires once per timeout.
    builder.max_buf_size(limits.max_buffer.max(8192));
    // Room past the front's own limit of 100 headers, so a request with a few more gets the
    // front's 431 array instead of hyper's bare one.
    builder.max_headers(HYPER_MAX_HEADERS);
    let timeouts = Timeouts::from(&limits);
    tokio::pin!(shutdown);
    loop {
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
        let activity = Arc::new(Activity::new());
        let slot = tokio::select! {
            slot = registry.admit(Arc::clone(&activity)) => match slot {
                Some(slot) => slot,
                None => break,
            },
            () = &mut shutdown => break,
        };
        stream.set_nodelay(true).ok();
        let api = service.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let connection = move |stream: tokio::net::TcpStream| async move {
            let service = Tracked {
                api,
                activity: Arc::clone(&activity),
            };
            let io = TokioIo::new(Metered {
                inner: stream,
                activity: Arc::clone(&activity),
            });
            let connection = builder.serve_connection(io, service);
            let watched = watcher.watch(connection);
            // The connection first: its watchdog then sees the phase it just entered.
            tokio::select! {
                biased;
                ended = watched => if let Err(e) = ended {
                    tracing::debug!("connection ended: {e}");
                },
                why = activity.overdue(timeouts) => {
                    tracing::debug!("closed a connection: {why:?}");
                }
            }
            drop(slot);
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

/// The most headers hyper parses in one request (its default is 100). The front refuses more
/// than [`MAX_HEADERS`] with Belvo's error array; past this, hyper answers a bare 431.
const HYPER_MAX_HEADERS: usize = 128;

/// The most headers a request may have; more are refused with a 431 array by the front.
pub const MAX_HEADERS: usize = 100;
