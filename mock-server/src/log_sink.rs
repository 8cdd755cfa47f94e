//! The log's way to stdout: every thread appends its formatted lines to a buffer of its own,
//! and one writer thread empties them all every 50 ms in large writes.
//!
//! Why not tracing-appender's non-blocking writer (used before): it allocates each line, sends
//! it through a channel and, as its writer thread is idle between lines, wakes that thread for
//! nearly every line. Those wake-ups land on the core that serves the requests; with them the
//! default configuration answered about 83 % of what `--log-level warn` did. Here a request
//! pays a copy into its thread's buffer under a lock nobody else holds (the writer takes it
//! only to swap buffers), and the writer wakes on a timer.
//!
//! A connection is served by one worker thread, so its lines share a buffer and keep their
//! order. When stdout cannot keep up and a thread's buffer is full, lines are dropped, and
//! how many is said on stderr once a second while it happens. Dropping the [`Guard`] writes
//! out what is buffered.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How often the writer empties the buffers: often enough that a line shows at once to a
/// person, seldom enough that whoever reads the pipe (a terminal, `docker logs`, a CI runner)
/// is woken a few times a second, not once per line. At 10 ms the reader's wake-ups, which
/// the kernel tends to place on the waking (serving) core, cost the list a few points.
const INTERVAL: Duration = Duration::from_millis(50);
/// A thread's buffer past which the writer is woken early.
const EARLY: usize = 1024 * 1024;
/// A thread's buffer past which its lines are dropped (stdout is not keeping up).
const FULL: usize = 8 * 1024 * 1024;

type Buffer = Arc<Mutex<Vec<u8>>>;

struct Shared {
    /// Tells this sink's buffers from another's (tests start several).
    id: usize,
    buffers: Mutex<Vec<Buffer>>,
    dropped: AtomicU64,
    /// Dropped lines already reported on stderr.
    reported: AtomicU64,
    /// Set once the writer has made its last pass: later lines are dropped (and counted).
    finished: std::sync::atomic::AtomicBool,
    /// `true` once the guard asks the writer to finish.
    stop: Mutex<bool>,
    wake: Condvar,
}

thread_local! {
    /// This thread's buffer, and the sink it belongs to.
    static MINE: RefCell<Option<(usize, Buffer)>> = const { RefCell::new(None) };
}

/// The `MakeWriter` handed to tracing-subscriber's fmt layer.
#[derive(Clone)]
pub struct Sink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("dropped", &self.shared.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Stops the writer thread, after it has written out every buffer, when dropped: waiting
/// at most [`FLUSH_WAIT`], as a stdout nobody reads (a full pipe) would block it for ever.
#[derive(Debug)]
pub struct Guard {
    sink: Sink,
    /// Hung up by the writer thread when it ends.
    ended: std::sync::mpsc::Receiver<()>,
    flush_wait: Duration,
}

/// How long shutdown waits for the log to be written out.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

impl Drop for Guard {
    fn drop(&mut self) {
        *self
            .sink
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.sink.shared.wake.notify_all();
        // Disconnected when the writer has ended; a timeout leaves it blocked on stdout.
        self.ended.recv_timeout(self.flush_wait).ok();
        report_drops(&self.sink.shared);
    }
}

/// Says on stderr how many lines were dropped since the last report, if any.
fn report_drops(shared: &Shared) {
    let dropped = shared.dropped.load(Ordering::Relaxed);
    let reported = shared.reported.swap(dropped, Ordering::Relaxed);
    if dropped > reported {
        eprintln!(
            "belvo-mock: {} log line(s) dropped: stdout could not keep up",
            dropped - reported
        );
    }
}

impl Sink {
    /// A sink writing to `out` from a thread of its own.
    pub fn spawn(out: impl Write + Send + 'static) -> std::io::Result<(Self, Guard)> {
        Self::spawn_with(out, FLUSH_WAIT)
    }

    /// The same, shutdown waiting at most `flush_wait` for the last lines to be written.
    fn spawn_with(
        out: impl Write + Send + 'static,
        flush_wait: Duration,
    ) -> std::io::Result<(Self, Guard)> {
        static IDS: AtomicUsize = AtomicUsize::new(1);
        let sink = Self {
            shared: Arc::new(Shared {
                id: IDS.fetch_add(1, Ordering::Relaxed),
                buffers: Mutex::new(Vec::new()),
                dropped: AtomicU64::new(0),
                reported: AtomicU64::new(0),
                finished: std::sync::atomic::AtomicBool::new(false),
                stop: Mutex::new(false),
                wake: Condvar::new(),
            }),
        };
        let shared = Arc::clone(&sink.shared);
        let (ended, ended_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("belvo-mock-log".into())
            .spawn(move || {
                write_loop(&shared, out);
                drop(ended);
            })?;
        // Drops are reported by a thread of their own: they happen while the writer is
        // blocked on stdout, so it could not say so itself.
        let weak = Arc::downgrade(&sink.shared);
        std::thread::Builder::new()
            .name("belvo-mock-log-drops".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(shared) = weak.upgrade() else { return };
                    report_drops(&shared);
                }
            })?;
        let guard = Guard {
            sink: sink.clone(),
            ended: ended_rx,
            flush_wait,
        };
        Ok((sink, guard))
    }

    /// Lines dropped so far because a buffer was full.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Appends one formatted line (tracing's fmt layer writes each event in one call).
    fn append(&self, bytes: &[u8]) {
        MINE.with(|mine| {
            let mut mine = mine.borrow_mut();
            let buffer = match &*mine {
                Some((id, buffer)) if *id == self.shared.id => buffer,
                _ => {
                    let buffer: Buffer = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
                    self.shared
                        .buffers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Arc::clone(&buffer));
                    &mine.insert((self.shared.id, buffer)).1
                }
            };
            let mut lines = buffer.lock().unwrap_or_else(PoisonError::into_inner);
            if lines.len() + bytes.len() > FULL || self.shared.finished.load(Ordering::Relaxed) {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let before = lines.len();
            lines.extend_from_slice(bytes);
            let early = before < EARLY && lines.len() >= EARLY;
            drop(lines);
            if early {
                self.shared.wake.notify_one();
            }
        });
    }
}

/// Every `INTERVAL` (or when a buffer fills up): swap each thread's buffer for an empty one
/// and write what it held. Asked to stop, it makes one last pass, after which lines are
/// dropped and counted.
fn write_loop(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::with_capacity(64 * 1024);
    loop {
        let stopping = {
            let stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
            if *stop {
                true
            } else {
                let (stop, _) = shared
                    .wake
                    .wait_timeout(stop, INTERVAL)
                    .unwrap_or_else(PoisonError::into_inner);
                *stop
            }
        };
        if stopping {
            shared.finished.store(true, Ordering::Relaxed);
        }
        let buffers: Vec<Buffer> = shared
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for buffer in &buffers {
            // Held only for the swap: the thread that owns the buffer never waits on a write.
            std::mem::swap(
                &mut *buffer.lock().unwrap_or_else(PoisonError::into_inner),
                &mut spare,
            );
            if !spare.is_empty() {
                // A closed stdout loses the lines; there is nowhere else to put them.
                out.write_all(&spare).ok();
                spare.clear();
            }
        }
        out.flush().ok();
        drop(buffers);
        // A buffer only the list holds belonged to a thread that has ended; once it is empty
        // it goes.
        shared
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|b| Arc::strong_count(b) > 1 || !b.lock().is_ok_and(|l| l.is_empty()));
        if stopping {
            return;
        }
    }
}

/// Appends to the calling thread's buffer.
#[derive(Debug)]
pub struct LineWriter<'a> {
    sink: &'a Sink,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.sink.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { sink: self }
    }
}

/// What the log modules' tests share.
#[cfg(test)]
pub mod testing {
    use std::sync::{Arc, Mutex, PoisonError};

    /// A `Write` whose bytes a test can read.
    #[derive(Clone, Default)]
    pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub fn text(&self) -> String {
            String::from_utf8(
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            )
            .unwrap_or_default()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::log_sink::testing::Captured;

    #[test]
    fn every_threads_lines_arrive_in_their_order_and_the_guard_writes_out_the_rest() {
        let out = Captured::default();
        let (sink, guard) = Sink::spawn(out.clone()).unwrap_or_else(|e| panic!("{e}"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&sink);
                        w.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join()
                .unwrap_or_else(|_| panic!("a writing thread panicked"));
        }
        drop(guard);
        let text = out.text();
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..1000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines, all and in order");
        }
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn a_full_buffer_drops_lines_and_counts_them_and_shutdown_does_not_wait_for_ever() {
        /// Never accepts a byte: stdout that does not keep up at all.
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let wait = Duration::from_millis(50);
        let (sink, guard) = Sink::spawn_with(Stuck, wait).unwrap_or_else(|e| panic!("{e}"));
        let line = vec![b'x'; 1024];
        // The writer may take one buffer before it sticks; two buffers' worth is sure to fill.
        for _ in 0..(2 * FULL / line.len() + 10) {
            sink.append(&line);
        }
        assert!(sink.dropped() > 0);
        // The writer never returns from its write: shutdown gives up on it after a while.
        let started = std::time::Instant::now();
        drop(guard);
        assert!(started.elapsed() < wait + Duration::from_secs(5));
    }
}
