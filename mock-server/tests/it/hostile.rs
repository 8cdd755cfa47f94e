//! Hostile clients against the binary over raw TCP: floods of stalled uploads, slowloris
//! headers and idle connections past the connection cap, while a fresh client keeps checking
//! that it is answered within 1 s (a functional bound, not a benchmark). Run by `.ci/run`
//! (`cargo test --test it -- --ignored hostile`); about 30 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::spawn_binary;

/// How long a fresh client may wait for its whole answer while a flood is on.
const BOUND: Duration = Duration::from_secs(1);
/// Probes per flood, one every `PROBE_EVERY`.
const PROBES: usize = 25;
const PROBE_EVERY: Duration = Duration::from_millis(120);

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Headers and 1 byte of a 100-byte body, then nothing.
    StalledUpload,
    /// A request line, then one header line a second, never finished.
    Slowloris,
    /// A connection that sends nothing.
    Idle,
}

impl Attack {
    async fn hold(self, stream: &mut TcpStream, host: &str) -> std::io::Result<()> {
        match self {
            Attack::StalledUpload => {
                let head = format!(
                    "POST /api/links/ HTTP/1.1\r\nHost: {host}\r\n\
                     Authorization: Basic c2FuZGJveC1zZWNyZXQtaWQ6c2FuZGJveC1zZWNyZXQtcGFzc3dvcmQ=\r\n\
                     Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
                );
                stream.write_all(head.as_bytes()).await?;
                wait_closed(stream).await
            }
            Attack::Slowloris => {
                stream
                    .write_all(format!("GET /api/links/ HTTP/1.1\r\nHost: {host}\r\n").as_bytes())
                    .await?;
                let mut buf = [0u8; 64];
                for i in 0.. {
                    stream
                        .write_all(format!("X-Drip-{i}: a\r\n").as_bytes())
                        .await?;
                    let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf));
                    if let Ok(Ok(0) | Err(_)) = read.await {
                        return Ok(());
                    }
                }
                Ok(())
            }
            Attack::Idle => wait_closed(stream).await,
        }
    }
}

async fn wait_closed(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// `count` attackers, each reconnecting 200 ms after the server closes its connection, until
/// `stop`. Returns how many are connected at the moment (for the ramp-up).
fn flood(
    attack: Attack,
    count: usize,
    host: &str,
    stop: &Arc<AtomicBool>,
) -> (Arc<AtomicUsize>, Vec<tokio::task::JoinHandle<()>>) {
    let connected = Arc::new(AtomicUsize::new(0));
    let tasks = (0..count)
        .map(|_| {
            let (host, stop, connected) =
                (host.to_owned(), Arc::clone(stop), Arc::clone(&connected));
            tokio::spawn(async move {
                let mut first = true;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut stream) = TcpStream::connect(&host).await {
                        if first {
                            connected.fetch_add(1, Ordering::Relaxed);
                            first = false;
                        }
                        attack.hold(&mut stream, &host).await.ok();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        })
        .collect();
    (connected, tasks)
}

/// A fresh connection's `GET /_mock/health`, answered in full; how long it took.
async fn probe(host: &str) -> Result<Duration, String> {
    let started = tokio::time::Instant::now();
    let answered = tokio::time::timeout(BOUND, async {
        let mut stream = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
        let request =
            format!("GET /_mock/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("}") {
            Ok(())
        } else {
            Err(format!("unexpected answer {answer:?}"))
        }
    })
    .await;
    match answered {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("not answered within {BOUND:?}")),
    }
}

/// Runs `attack` with `count` attackers against a fresh binary started with `args`, probes
/// while it lasts, and returns the probes' times (failing on any probe not answered).
async fn under(attack: Attack, count: usize, args: &[&str]) -> Vec<Duration> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let server = spawn_binary(&args);
    let host = server.base.trim_start_matches("http://").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let (connected, tasks) = flood(attack, count, &host, &stop);
    let ramp = tokio::time::Instant::now();
    while connected.load(Ordering::Relaxed) < count && ramp.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        connected.load(Ordering::Relaxed),
        count,
        "{attack:?}: every attacker connected"
    );
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..PROBES {
        match probe(&host).await {
            Ok(took) => times.push(took),
            Err(e) => failures.push(e),
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    drop(server);
    assert!(
        failures.is_empty(),
        "{attack:?} x{count}: {} of {PROBES} fresh clients failed: {failures:?}",
        failures.len()
    );
    times.sort();
    println!(
        "{attack:?} x{count} {args:?}: fresh client answered in median {:?}, max {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about 30 s; run by .ci/run: cargo test --test it -- --ignored hostile"]
async fn hostile_clients_never_keep_a_fresh_client_waiting_over_a_second() {
    under(Attack::StalledUpload, 2_000, &[]).await;
    under(Attack::Slowloris, 2_000, &[]).await;
    under(Attack::Idle, 300, &["--max-connections", "100"]).await;
}
