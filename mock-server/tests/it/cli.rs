//! The binary: `--addr 127.0.0.1:0` prints the bound address, serves, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn the_binary_prints_its_bound_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
        .args(["--addr", "127.0.0.1:0", "--log-level", "warn"])
        .env_remove("BELVO_SECRET_ID")
        .env_remove("BELVO_SECRET_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("first line names the URL: {first:?}"))
        .to_owned();
    assert!(!base.ends_with(":0"), "the real port is printed: {base}");
    let banner: Vec<String> = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Press Ctrl-C"))
        .collect();
    assert!(
        banner.iter().any(|l| l.contains("sandbox-secret-id")),
        "{banner:?}"
    );
    assert!(banner.iter().any(|l| l.contains("curl -u")), "{banner:?}");

    let reply = get_with_keys(&reqwest::Client::new(), format!("{base}/api/")).await;
    assert_eq!(reply.status().as_u16(), 200);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = child.wait().expect("the binary exits");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[tokio::test]
async fn the_binary_deals_connections_to_its_workers_and_each_one_serves_them() {
    let binary = crate::support::spawn_binary(&[
        "--workers".as_ref(),
        "3".as_ref(),
        "--log-level".as_ref(),
        "warn".as_ref(),
    ]);
    // One client per connection, more connections than workers: every worker gets some.
    let replies = (0..9).map(|_| {
        let url = format!("{}/api/links/", binary.base);
        async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let reply = get_with_keys(&client, url.clone()).await;
                statuses.push(reply.status().as_u16());
                let body: serde_json::Value = reply.json().await.expect("a JSON body");
                crate::support::assert_schema("links_page.json", &body);
            }
            statuses
        }
    });
    let statuses: Vec<u16> = futures_join_all(replies)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(statuses, vec![200; 27]);
}

/// Awaits every future (the test crate has no `futures` dependency).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("the request task ends"));
    }
    out
}

/// The request log at the default level: written off the request path, yet every line
/// arrives, each connection's in its order, without colour codes when stdout is not a
/// terminal.
#[tokio::test]
async fn at_the_default_level_every_request_is_logged_in_order_without_colour_codes() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_belvo-mock"));
    command.env_remove("NO_COLOR");
    let (mut child, lines_rx, base) = logging_binary(command, &[]);
    // Four clients, each on its own kept-alive connection, each sending its requests one
    // after another while the others do the same.
    let lists: Vec<Vec<String>> = (0..4)
        .map(|_| (0..25).map(|_| uuid::Uuid::new_v4().to_string()).collect())
        .collect();
    let tasks = lists.iter().cloned().map(|ids| {
        let base = base.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for id in &ids {
                let reply = get_with_keys(&client, format!("{base}/api/links/{id}/")).await;
                assert_eq!(reply.status().as_u16(), 404);
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.expect("a client task ends");
    }
    let total: usize = lists.iter().map(Vec::len).sum();
    let mut logged = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while logged.len() < total && std::time::Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_secs(1)) else {
            continue;
        };
        assert!(
            !line.contains('\u{1b}'),
            "no ANSI codes on a pipe: {line:?}"
        );
        if line.contains("belvo_mock::request") && line.contains("status=404") {
            logged.push(line);
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(logged.len(), total, "every request logged: {logged:?}");
    for ids in &lists {
        let mine: Vec<&String> = logged
            .iter()
            .filter(|line| ids.iter().any(|id| line.contains(id.as_str())))
            .collect();
        assert_eq!(mine.len(), ids.len(), "{mine:?}");
        for (line, id) in mine.iter().zip(ids) {
            assert!(
                line.contains(&format!("path=\"/api/links/{id}/\"")),
                "a connection's lines in its order: {line}"
            );
        }
    }
}

/// What embedding needs: a ready file with the URL (no banner parsing), `--no-fixtures` for an
/// app whose own `./fixtures` folder is not the fake's, and a banner that names
/// `BELVO_API_URL` and keeps a password from the environment to itself.
#[tokio::test]
async fn an_embedded_fake_announces_itself_in_a_ready_file_and_keeps_env_secrets_out_of_the_banner()
{
    let dir = std::env::temp_dir().join(format!("belvo-mock-embed-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("fixtures")).expect("a folder");
    // An app's own fixture, not named after a CPF: read, it would stop start-up.
    std::fs::write(dir.join("fixtures/users.json"), "[]").expect("a file");
    let ready = dir.join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
        .current_dir(&dir)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--no-fixtures",
            "--log-level",
            "warn",
        ])
        .arg("--ready-file")
        .arg(&ready)
        .env("BELVO_SECRET_PASSWORD", "a-production-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let banner: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Press Ctrl-C"))
        .collect();
    let text = banner.join("\n");
    let line = std::fs::read_to_string(&ready).unwrap_or_default();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    let url = announced["url"].as_str().unwrap_or_default().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{line}"
    );
    assert_eq!(announced["pid"], child.id());
    assert!(text.contains(&format!("BELVO_API_URL={url}")), "{text}");
    assert!(!text.contains("a-production-password"), "{text}");
    assert!(
        text.contains("******** (from BELVO_SECRET_PASSWORD)"),
        "{text}"
    );
    assert!(text.contains("fixtures: none"), "{text}");
    let reply = reqwest::Client::new()
        .get(format!("{url}/api/"))
        .basic_auth("sandbox-secret-id", Some("a-production-password"))
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(reply.status().as_u16(), 200);
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// `--log-format json`: every log line is one JSON object with the event's fields beside
/// `timestamp`, `level` and `target` (the banner stays text); `healthcheck` exits 0 against a
/// running fake and 1, with the reason, where nothing answers.
#[tokio::test]
async fn json_logs_are_one_object_a_line_and_healthcheck_tells_up_from_down() {
    let command = Command::new(env!("CARGO_BIN_EXE_belvo-mock"));
    let (mut child, lines_rx, base) = logging_binary(command, &["--log-format", "json"]);
    let id = uuid::Uuid::new_v4();
    let reply = get_with_keys(&reqwest::Client::new(), format!("{base}/api/links/{id}/")).await;
    assert_eq!(reply.status().as_u16(), 404);
    let mut logged = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while logged.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_secs(1)) else {
            continue;
        };
        if !line.starts_with('{') {
            continue;
        }
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if object["target"] == "belvo_mock::request" {
            logged = Some(object);
        }
    }
    let logged = logged.expect("the request is logged as JSON");
    assert_eq!(logged["level"], "INFO", "{logged}");
    assert_eq!(logged["status"], 404, "{logged}");
    assert_eq!(logged["path"], format!("/api/links/{id}/"), "{logged}");
    assert!(logged["timestamp"].is_string(), "{logged}");

    let up = Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
        .args(["healthcheck", &base])
        .output()
        .expect("healthcheck runs");
    assert!(up.status.success(), "{up:?}");
    child.kill().ok();
    child.wait().ok();

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let down = Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
        .args(["healthcheck", &format!("http://{closed}"), "--timeout", "2"])
        .output()
        .expect("healthcheck runs");
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let reason = String::from_utf8_lossy(&down.stderr);
    assert!(
        reason.contains(&format!("http://{closed}/_mock/health did not answer")),
        "{reason}"
    );
}

/// Starts `command` (the binary) on a free port at the default log level with `args`, its
/// stdout lines on a channel (read by a thread of their own, so the pipe never fills), and
/// the URL of its first line.
fn logging_binary(
    mut command: Command,
    args: &[&str],
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    String,
) {
    let mut child = command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("BELVO_MOCK_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_default();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("first line names the URL: {first:?}"))
        .to_owned();
    (child, lines_rx, base)
}

/// GETs `url` with the default sandbox keys; panics when nothing answers.
async fn get_with_keys(client: &reqwest::Client, url: String) -> reqwest::Response {
    client
        .get(url)
        .basic_auth("sandbox-secret-id", Some("sandbox-secret-password"))
        .send()
        .await
        .expect("the fake answers")
}
