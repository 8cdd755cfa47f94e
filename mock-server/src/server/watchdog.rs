//! What one connection is doing and how long it may go on doing it: waiting for a request's
//! headers, reading its body, being answered by the service, or having the answer written.
//! Each phase but the service's own has a deadline, and a connection past it is closed, so
//! a client that stalls (slowloris headers, an upload that stops, an answer it never reads)
//! holds a connection for a bounded time only.
//!
//! The connection's socket notes when bytes last moved each way ([`Metered`]); the service
//! notes the phases ([`Tracked`]): the request body ends when it is read or dropped
//! ([`RequestBody`]), the answer ends when hyper has polled its body to the end
//! ([`ResponseBody`]). Everything of one connection runs in one task, so the atomics here
//! are plain stores in practice; they are atomics because the accept loop reads them from
//! another thread when it looks for a connection to evict ([`super::registry`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
// tokio's, so the unit tests can run on paused time.
use tokio::time::Instant;

use crate::config::Limits;

/// The phases of a connection.
const WAITING: u8 = 0;
const BODY: u8 = 1;
const HANDLING: u8 = 2;
const WRITING: u8 = 3;

/// Why a connection was closed by its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// No complete request headers within the header read timeout (idle, or slowloris).
    Headers,
    /// The request body stalled, or took longer than the body read timeout in all.
    Body,
    /// The answer was not read: no byte could be written for the stall timeout.
    Write,
    /// The connection cap was reached and this was the idlest connection.
    Evicted,
}

/// The deadlines a watchdog enforces.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub header: Duration,
    pub stall: Duration,
    pub body: Duration,
}

impl From<&Limits> for Timeouts {
    fn from(limits: &Limits) -> Self {
        Self {
            header: limits.header_read_timeout,
            stall: limits.stall_timeout,
            body: limits.body_read_timeout,
        }
    }
}

/// One connection's activity, shared by its socket, its service and the accept loop.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    phase: AtomicU8,
    /// Microseconds after `opened` the current phase began.
    since: AtomicU64,
    /// Microseconds after `opened` a byte was last read, and last written.
    read_at: AtomicU64,
    write_at: AtomicU64,
    evicted: AtomicBool,
    evict: Notify,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            opened: Instant::now(),
            phase: AtomicU8::new(WAITING),
            since: AtomicU64::new(0),
            read_at: AtomicU64::new(0),
            write_at: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn at(&self, micros: u64) -> Instant {
        self.opened + Duration::from_micros(micros)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.micros(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// The request body ended (read to its end, failed, or dropped unread).
    fn body_done(&self) {
        if self.phase.load(Ordering::Acquire) == BODY {
            self.enter(HANDLING);
        }
    }

    /// Since when the connection has been idle, if it is in a phase that may be cut short:
    /// waiting for headers (a slowloris's dribble does not count), a stalled body, an answer
    /// not read. `None` while the service is answering, and once evicted.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        let since = self.since.load(Ordering::Relaxed);
        let idle = match self.phase.load(Ordering::Acquire) {
            WAITING | WRITING => since.max(self.write_at.load(Ordering::Relaxed)),
            BODY => since.max(self.read_at.load(Ordering::Relaxed)),
            _ => return None,
        };
        Some(self.at(idle))
    }

    #[cfg(test)]
    pub fn enter_handling_for_tests(&self) {
        self.enter(HANDLING);
    }

    /// Asks the connection to close (the accept loop needs its slot).
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.evict.notify_one();
    }

    /// When the current phase must end, and why; `None` while the service is answering.
    fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, Closed)> {
        let since = self.since.load(Ordering::Relaxed);
        let read = self.read_at.load(Ordering::Relaxed);
        let write = self.write_at.load(Ordering::Relaxed);
        match self.phase.load(Ordering::Acquire) {
            // The keep-alive wait starts when the last answer's last byte went out.
            WAITING => Some((self.at(since.max(write)) + timeouts.header, Closed::Headers)),
            BODY => {
                let stalled = self.at(since.max(read)) + timeouts.stall;
                let whole = self.at(since) + timeouts.body;
                Some((stalled.min(whole), Closed::Body))
            }
            WRITING => Some((self.at(since.max(write)) + timeouts.stall, Closed::Write)),
            _ => None,
        }
    }

    /// Resolves when the connection must be closed, and says why. Each poll compares the
    /// timestamps with the timer: a phase with an earlier deadline (a body begins, an answer
    /// is written) moves the timer forward, a later one waits for it to fire and re-arms it,
    /// so a connection that keeps moving costs one timer per timeout, not one per request.
    /// The connection's task must poll this after the connection itself (`biased`), so it
    /// sees the phase the connection just entered.
    pub async fn overdue(&self, timeouts: Timeouts) -> Closed {
        let recheck = timeouts.header.min(timeouts.stall);
        let evicted = self.evict.notified();
        tokio::pin!(evicted);
        let timer = tokio::time::sleep_until(Instant::now() + recheck);
        tokio::pin!(timer);
        std::future::poll_fn(|cx| {
            loop {
                if evicted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Closed::Evicted);
                }
                let now = Instant::now();
                let wake = match self.deadline(&timeouts) {
                    Some((at, why)) if at <= now => return Poll::Ready(why),
                    Some((at, _)) => at,
                    // The service's own work has no deadline; the phase after it does.
                    None => now + recheck,
                };
                if wake < timer.deadline() || timer.is_elapsed() {
                    timer.as_mut().reset(wake);
                }
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}

/// A connection's socket, noting when bytes move.
#[derive(Debug)]
pub struct Metered<T> {
    pub inner: T,
    pub activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            let now = this.activity.micros();
            this.activity.read_at.store(now, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> Metered<T> {
    fn wrote(&self, written: io::Result<usize>) -> io::Result<usize> {
        if let Ok(n @ 1..) = written {
            self.activity
                .write_at
                .store(self.activity.micros(), Ordering::Relaxed);
            return Ok(n);
        }
        written
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf));
        Poll::Ready(this.wrote(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs));
        Poll::Ready(this.wrote(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request's body as the served service sees it: hyper's, with its end noted.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    activity: Option<Arc<Activity>>,
}

impl RequestBody {
    fn done(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.body_done();
        }
    }
}

impl Body for RequestBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
            this.done();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.done();
    }
}

/// An answer's body: the service's, with the connection marked as waiting for the next
/// request once hyper has polled it to the end (or dropped it).
#[derive(Debug)]
pub struct ResponseBody<B> {
    inner: B,
    answered: Option<Answered>,
}

impl<B: Body + Unpin> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.answered = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks the connection as waiting for the next request's headers when dropped.
#[derive(Debug)]
struct Answered(Arc<Activity>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.enter(WAITING);
    }
}

/// The served service with the connection's phases noted around each request.
#[derive(Debug)]
pub struct Tracked<S> {
    pub api: S,
    pub activity: Arc<Activity>,
}

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
    S::Future: Unpin,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let reading = !request.body().is_end_stream();
        self.activity.enter(if reading { BODY } else { HANDLING });
        let activity = Arc::clone(&self.activity);
        let request = request.map(|inner| RequestBody {
            inner,
            activity: reading.then(|| Arc::clone(&activity)),
        });
        TrackedFuture {
            inner: self.api.call(request),
            answered: Some(Answered(activity)),
        }
    }
}

/// The service's answer; once it is ready, the connection is writing it.
#[derive(Debug)]
pub struct TrackedFuture<F> {
    inner: F,
    answered: Option<Answered>,
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>> + Unpin,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = ready!(Pin::new(&mut this.inner).poll(cx))?;
        let answered = this.answered.take();
        if let Some(Answered(activity)) = &answered {
            activity.enter(WRITING);
        }
        Poll::Ready(Ok(response.map(|inner| ResponseBody { inner, answered })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        stall: Duration::from_secs(3),
        body: Duration::from_secs(30),
    };

    async fn closes_after(activity: &Activity, limit: Duration) -> Option<(Closed, Duration)> {
        let started = Instant::now();
        let why = tokio::time::timeout(limit, activity.overdue(TIMEOUTS))
            .await
            .ok()?;
        Some((why, started.elapsed()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waiting_for_headers_is_closed_a_header_timeout_after_it_opened() {
        let activity = Activity::new();
        let closed = closes_after(&activity, Duration::from_secs(60)).await;
        assert_eq!(closed, Some((Closed::Headers, TIMEOUTS.header)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_service_s_own_work_is_never_cut_short() {
        let activity = Activity::new();
        activity.enter(HANDLING);
        assert_eq!(
            closes_after(&activity, Duration::from_secs(600)).await,
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_closed_a_stall_timeout_after_its_last_byte() {
        let activity = Activity::new();
        activity.enter(BODY);
        tokio::time::advance(Duration::from_secs(2)).await;
        activity.read_at.store(activity.micros(), Ordering::Relaxed);
        let closed = closes_after(&activity, Duration::from_secs(60)).await;
        assert_eq!(closed, Some((Closed::Body, TIMEOUTS.stall)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_is_closed_at_the_body_read_timeout() {
        let activity = Arc::new(Activity::new());
        activity.enter(BODY);
        let trickle = {
            let activity = Arc::clone(&activity);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    activity.read_at.store(activity.micros(), Ordering::Relaxed);
                }
            }
        };
        let closed = tokio::select! {
            closed = closes_after(&activity, Duration::from_secs(600)) => closed,
            () = trickle => None,
        };
        assert_eq!(closed, Some((Closed::Body, TIMEOUTS.body)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_being_written_is_cut_only_when_no_byte_moves_for_the_stall_timeout() {
        let activity = Activity::new();
        activity.enter(WRITING);
        // Written slowly but steadily for longer than the header timeout.
        for _ in 0..20 {
            tokio::time::advance(Duration::from_secs(1)).await;
            activity
                .write_at
                .store(activity.micros(), Ordering::Relaxed);
        }
        let closed = closes_after(&activity, Duration::from_secs(60)).await;
        assert_eq!(closed, Some((Closed::Write, TIMEOUTS.stall)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_keep_alive_wait_starts_when_the_last_byte_of_the_answer_went_out() {
        let activity = Activity::new();
        activity.enter(WAITING);
        tokio::time::advance(Duration::from_secs(5)).await;
        activity
            .write_at
            .store(activity.micros(), Ordering::Relaxed);
        let closed = closes_after(&activity, Duration::from_secs(60)).await;
        assert_eq!(closed, Some((Closed::Headers, TIMEOUTS.header)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_evicted_connection_closes_at_once_and_is_no_longer_a_candidate() {
        let activity = Activity::new();
        assert_eq!(activity.idle_since(), Some(activity.opened));
        activity.evict();
        assert_eq!(activity.idle_since(), None);
        let closed = closes_after(&activity, Duration::from_secs(1)).await;
        assert_eq!(closed, Some((Closed::Evicted, Duration::ZERO)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slowloris_dribble_does_not_make_a_connection_look_busy() {
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(4)).await;
        activity.read_at.store(activity.micros(), Ordering::Relaxed);
        assert_eq!(activity.idle_since(), Some(activity.opened));
        activity.enter(HANDLING);
        assert_eq!(activity.idle_since(), None);
    }
}
