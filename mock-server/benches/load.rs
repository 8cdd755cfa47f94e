//! Load benchmark: wrk (64 connections, 10 s per endpoint) against the release belvo-mock binary in
//! the configuration users get (the default: `info`, one log line per request) and with
//! `--log-level warn`, side by side, and, in the same run, against three bare-hyper fixed-body
//! baselines (examples/baseline.rs):
//! A, the canonical `#[tokio::main]` server answering `{"status":"ok"}` (15 bytes); B, the same
//! on the fake's own connection layout (one single-threaded runtime per core); C, that layout
//! answering the very bytes of the fake's employments list. The list and the baselines are
//! measured in alternating rounds (`LOAD_ROUNDS`, 3 by default), each server warmed up first
//! (`LOAD_WARMUP` seconds per endpoint, 3 by default: a fresh process is slower for its first
//! seconds), and each round's shares are reported with the median, since this machine's speed
//! drifts by a quarter from minute to minute. With two cores or more, every server is pinned to
//! core 0 and wrk to core 1 (`taskset`; `LOAD_PIN=0` turns it off), so the server's share is
//! not decided by how it competes with wrk.
//! Reports requests/s, p50 and p99 latency, start-up time to the first 200, idle and peak RSS,
//! and RSS holding 100,000 links with their data.
//!
//! Run it with `mock-server/benches/load.sh` (installs wrk, builds the release binaries).
//! `LOAD_SECONDS`, `LOAD_ROUNDS` and `LOAD_LINKS` shorten a run; `LOAD_ARGS` adds server flags;
//! `LOAD_DATA_DIR=DIR` runs every server start with its own fresh `--data-dir DIR/<n>`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AUTH: &str = "Basic c2FuZGJveC1zZWNyZXQtaWQ6c2FuZGJveC1zZWNyZXQtcGFzc3dvcmQ=";

/// Whether servers run pinned to core 0 and wrk to core 1.
fn pinned() -> bool {
    static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        std::env::var("LOAD_PIN").as_deref() != Ok("0")
            && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            && Command::new("taskset").arg("-V").output().is_ok()
    })
}

/// `program` as a command, pinned to `core` when [`pinned`].
fn command(program: &Path, core: &str) -> Command {
    if pinned() {
        let mut command = Command::new("taskset");
        command.args(["-c", core]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

struct Server {
    child: Child,
    base: String,
    startup: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn release_dir() -> PathBuf {
    // target/release/deps/load-<hash> → target/release
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// A raw HTTP/1.1 GET; the status code, or `None` when nothing answered.
fn get_status(host: &str, path: &str, auth: bool) -> Option<u16> {
    let mut stream = TcpStream::connect(host).ok()?;
    let auth = if auth {
        format!("Authorization: {AUTH}\r\n")
    } else {
        String::new()
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Starts a server that prints `… http://127.0.0.1:PORT` first, and measures the time from
/// spawn to its first 200 on `probe`.
fn start(program: &Path, args: &[&str], probe: &str) -> Server {
    start_with_env(program, args, probe, &[])
}

fn start_with_env(program: &Path, args: &[&str], probe: &str, env: &[(&str, &str)]) -> Server {
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    if let Ok(root) = std::env::var("LOAD_DATA_DIR")
        && program.ends_with("belvo-mock")
    {
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = Path::new(&root).join(n.to_string());
        std::fs::remove_dir_all(&dir).ok();
        args.push("--data-dir".to_owned());
        args.push(dir.display().to_string());
    }
    let started = Instant::now();
    let mut child = command(program, "0")
        .args(&args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).ok();
    // Keep draining its output: a closed pipe would kill the server at its next line.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let host = base.trim_start_matches("http://").to_owned();
    while get_status(&host, probe, true) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no 200 from {probe}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    Server {
        startup: started.elapsed(),
        child,
        base,
    }
}

/// The median start-up time over five fresh starts (one start is at the mercy of noise).
fn startup_median(program: &Path, args: &[&str], probe: &str) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| start(program, args, probe).startup)
        .collect();
    times.sort();
    times[2]
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn to_ms(text: &str) -> f64 {
    let (number, unit): (String, String) =
        text.chars().partition(|c| c.is_ascii_digit() || *c == '.');
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    match unit.as_str() {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => f64::NAN,
    }
}

/// wrk with 64 connections for `seconds` (2 threads, or 1 on its own core when pinned);
/// `lua` makes it a POST.
fn wrk(url: &str, seconds: u64, lua: Option<&Path>) -> Load {
    let mut command = command(Path::new("wrk"), "1");
    let threads = if pinned() { "-t1" } else { "-t2" };
    command.args([threads, "-c64", &format!("-d{seconds}s"), "--latency", "-H"]);
    command.arg(format!("Authorization: {AUTH}"));
    if let Some(script) = lua {
        command.arg("-s").arg(script);
    }
    command.arg(url);
    let output = command
        .output()
        .expect("wrk runs (install it: apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_default()
    };
    let non_2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
        .and_then(|l| l.rsplit(' ').next()?.trim().parse().ok())
        .unwrap_or(0);
    Load {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        p50_ms: to_ms(&field("50%")),
        p99_ms: to_ms(&field("99%")),
        non_2xx,
    }
}

/// The body of a GET (read to the end of a `Connection: close` response).
fn get_body(host: &str, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(host).expect("the server answers");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {AUTH}\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok();
    let start = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    out.split_off(start)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn post_json(host: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(host).expect("the server answers");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {AUTH}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request sent");
    let mut out = String::new();
    stream.read_to_string(&mut out).ok();
    out
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let links: usize = std::env::var("LOAD_LINKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let extra = std::env::var("LOAD_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let dir = release_dir();
    let baseline_bin = dir.join("examples/baseline");
    let server_bin = dir.join("belvo-mock");

    let warmup: u64 = std::env::var("LOAD_WARMUP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);

    // The fake as users run it (the default log level) and with `--log-level warn`, each
    // with a link whose data the list endpoints serve.
    let mut args = vec!["--addr", "127.0.0.1:0"];
    args.extend(extra.iter().copied());
    let mut warn_args = args.clone();
    warn_args.extend(["--log-level", "warn"]);
    let server = start(&server_bin, &args, "/api/");
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(200));
    let idle_rss = rss_kib(pid, "VmRSS:");
    let quiet = start(&server_bin, &warn_args, "/api/");
    let link_of = |server: &Server| {
        let host = server.base.trim_start_matches("http://").to_owned();
        let created = post_json(
            &host,
            "/api/links/",
            r#"{"institution":"inss_br_employment","username":"529.982.247-25","password":"mock:no-mfa"}"#,
        );
        created
            .split("\"id\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a link id")
            .to_owned()
    };
    let link = link_of(&server);
    let quiet_link = link_of(&quiet);
    let employments_path = format!("/api/br/employments/?link={link}");
    let quiet_path = format!("/api/br/employments/?link={quiet_link}");
    let host = server.base.trim_start_matches("http://").to_owned();
    let employments_body = get_body(&host, &employments_path);
    let body_file = std::env::temp_dir().join("belvo-mock-employments-body.json");
    std::fs::write(&body_file, &employments_body).expect("body file written");

    // The baselines: the canonical `#[tokio::main]` server with a 15-byte body; the same body
    // on the fake's own layout (connections dealt to one single-threaded runtime per core it
    // may use); and that layout answering the employments list's bytes.
    let tiny = start(&baseline_bin, &["127.0.0.1:0"], "/");
    let cores = if pinned() {
        "1".to_owned()
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .to_string()
    };
    let layout = [("BASELINE_WORKERS", cores.as_str())];
    let tiny_cores = start_with_env(&baseline_bin, &["127.0.0.1:0"], "/", &layout);
    let body_arg = body_file.display().to_string();
    let same = start_with_env(&baseline_bin, &["127.0.0.1:0", &body_arg], "/", &layout);

    let targets = [
        format!("{}/", tiny.base),
        format!("{}/", tiny_cores.base),
        format!("{}/", same.base),
        format!("{}{employments_path}", server.base),
        format!("{}{quiet_path}", quiet.base),
    ];
    if warmup > 0 {
        for target in &targets {
            wrk(target, warmup, None);
        }
    }
    let mut loads: [Vec<Load>; 5] = Default::default();
    for _ in 0..rounds {
        for (kept, target) in loads.iter_mut().zip(&targets) {
            kept.push(wrk(target, seconds, None));
        }
    }
    let [
        tiny_loads,
        tiny_cores_loads,
        same_loads,
        employment_loads,
        quiet_loads,
    ] = loads;
    drop(tiny);
    drop(tiny_cores);
    drop(same);
    drop(quiet);
    let owners = wrk(
        &format!("{}/api/owners/?link={link}", server.base),
        seconds,
        None,
    );
    let lua = std::env::temp_dir().join("belvo-mock-post-links.lua");
    std::fs::write(
        &lua,
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"institution":"inss_br_employment","username":"529.982.247-25","password":"bench-password"}'
"#,
    )
    .expect("lua script written");
    let register = wrk(&format!("{}/api/links/", server.base), seconds, Some(&lua));
    let peak_rss = rss_kib(pid, "VmHWM:");
    drop(server);
    let startup = startup_median(&server_bin, &args, "/api/");
    let baseline_startup = startup_median(&baseline_bin, &["127.0.0.1:0"], "/");

    // A fresh server holding 100,000 links with their data, created over HTTP.
    let server = start(&server_bin, &args, "/api/");
    let pid = server.child.id();
    let host = server.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let workers = 16;
    let per = links.div_ceil(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let host = host.clone();
            scope.spawn(move || {
                for i in 0..per {
                    let cpf = cpf_for(i as u64 * 7919 + 13);
                    let body = format!(
                        r#"{{"institution":"inss_br_employment","username":"{cpf}","password":"mock:no-mfa"}}"#
                    );
                    post_json(&host, "/api/links/", &body);
                }
            });
        }
    });
    let fill = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let full_rss = rss_kib(pid, "VmRSS:");
    drop(server);

    println!(
        "{rounds} round(s) of {seconds} s per endpoint; employments list body {} bytes\n",
        employments_body.len()
    );
    println!(
        "| round | A: bare hyper, `#[tokio::main]`, 15-byte body | B: bare hyper, the fake's layout, 15-byte body | C: bare hyper, the fake's layout, the list's bytes | `GET /api/br/employments/?link=`, default (`info`) | the same, `--log-level warn` | default as a share of warn | default as a share of A / B / C |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut shares: [Vec<f64>; 3] = Default::default();
    let mut warn_shares: [Vec<f64>; 3] = Default::default();
    let mut of_warn = Vec::new();
    for (round, ((((a, b), c), e), w)) in tiny_loads
        .iter()
        .zip(&tiny_cores_loads)
        .zip(&same_loads)
        .zip(&employment_loads)
        .zip(&quiet_loads)
        .enumerate()
    {
        let of = [a, b, c].map(|base| e.rps / base.rps * 100.0);
        let warn_of = [a, b, c].map(|base| w.rps / base.rps * 100.0);
        for (kept, share) in shares.iter_mut().zip(of) {
            kept.push(share);
        }
        for (kept, share) in warn_shares.iter_mut().zip(warn_of) {
            kept.push(share);
        }
        of_warn.push(e.rps / w.rps * 100.0);
        println!(
            "| {} | {:.0} rps, p99 {:.2} ms | {:.0} rps, p99 {:.2} ms | {:.0} rps, p99 {:.2} ms | {:.0} rps, p50 {:.2} ms, p99 {:.2} ms ({} non-2xx) | {:.0} rps, p99 {:.2} ms | {:.0} % | {:.0} / {:.0} / {:.0} % |",
            round + 1,
            a.rps,
            a.p99_ms,
            b.rps,
            b.p99_ms,
            c.rps,
            c.p99_ms,
            e.rps,
            e.p50_ms,
            e.p99_ms,
            e.non_2xx,
            w.rps,
            w.p99_ms,
            e.rps / w.rps * 100.0,
            of[0],
            of[1],
            of[2]
        );
    }
    println!();
    println!(
        "servers {}; warm-up {warmup} s per endpoint before the rounds",
        if pinned() {
            "pinned to core 0, wrk (1 thread) to core 1"
        } else {
            "and wrk (2 threads) unpinned"
        }
    );
    println!();
    println!("| measure | baseline (bare hyper) | mock-server |");
    println!("|---|---|---|");
    println!(
        "| start-up to first 200 (median of 5) | {:.1} ms | {:.1} ms |",
        baseline_startup.as_secs_f64() * 1000.0,
        startup.as_secs_f64() * 1000.0
    );
    println!(
        "| employments list p99, worst round | | {:.2} ms |",
        employment_loads
            .iter()
            .map(|l| l.p99_ms)
            .fold(0.0, f64::max)
    );
    let spread = |kept: &[f64]| {
        format!(
            "**{:.0} %** ({:.0}–{:.0} %)",
            median(kept.to_vec()),
            kept.iter().copied().fold(f64::INFINITY, f64::min),
            kept.iter().copied().fold(0.0, f64::max)
        )
    };
    println!(
        "| employments list rps, default as a share of `--log-level warn`, median (min–max) | | {} |",
        spread(&of_warn)
    );
    for ((name, kept), warn_kept) in [
        "A (canonical bare hyper, 15-byte body)",
        "B (bare hyper on the fake's layout, 15-byte body)",
        "C (bare hyper on the fake's layout, the list's bytes)",
    ]
    .iter()
    .zip(&shares)
    .zip(&warn_shares)
    {
        println!(
            "| employments list rps as a share of {name}, median (min–max) | | default {}; warn {} |",
            spread(kept),
            spread(warn_kept)
        );
    }
    println!(
        "| GET /api/owners/?link=: rps / p50 / p99 | | {:.0} / {:.2} ms / {:.2} ms ({} non-2xx) |",
        owners.rps, owners.p50_ms, owners.p99_ms, owners.non_2xx
    );
    // Every registration here is a 428 token_required: wrk counts them as non-2xx.
    println!(
        "| POST /api/links/ (428 path, default configuration): rps / p50 / p99 | | {:.0} / {:.2} ms / {:.2} ms ({} answers, all 428) |",
        register.rps, register.p50_ms, register.p99_ms, register.non_2xx
    );
    println!("| RSS idle | | {:.1} MB |", idle_rss as f64 / 1024.0);
    println!(
        "| peak RSS after the runs above (the 428 flood's {} registrations leave at most `--max-unconfirmed`, 100,000 by default, unconfirmed links with their sessions) | | {:.1} MB |",
        register.non_2xx,
        peak_rss as f64 / 1024.0
    );
    println!(
        "| RSS holding {links} links with their data (created over HTTP in {:.1} s) | | {:.1} MB |",
        fill.as_secs_f64(),
        full_rss as f64 / 1024.0
    );
}

/// A valid CPF from a number (for many distinct people).
fn cpf_for(n: u64) -> String {
    let mut d: Vec<u32> = format!("{:09}", n % 1_000_000_000)
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    if d.iter().all(|x| *x == d[0]) {
        d[8] = (d[8] + 1) % 10;
    }
    for len in [9usize, 10] {
        let sum: u32 = d
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(a, w)| a * w)
            .sum();
        let r = (sum * 10) % 11;
        d.push(if r == 10 { 0 } else { r });
    }
    d.iter().map(|x| char::from(b'0' + *x as u8)).collect()
}
