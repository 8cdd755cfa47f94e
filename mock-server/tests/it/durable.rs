//! `--data-dir`: links, sessions, data, webhooks, settings and the clock survive a restart
//! and a `kill -9`; a damaged database stops start-up and is left untouched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mock_server::Config;
use serde_json::{Value, json};

use crate::support::{Api, Behaviour, Binary, Receiver, closed_address, spawn_binary};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("belvo-mock-it-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

#[tokio::test]
async fn a_restart_keeps_links_sessions_data_webhooks_settings_and_the_clock() {
    let dir = temp_dir("restart");
    let hooks = format!("http://{}/hooks", closed_address().await);
    let config = || {
        let mut c = Config {
            data_dir: Some(dir.clone()),
            ..Config::default()
        };
        c.webhooks.delay = Duration::from_secs(3600);
        c
    };
    let api = Api::start_with(config()).await;
    api.put(
        "/_mock/webhook",
        json!({"url": hooks, "authorization": "tok"}),
    )
    .await
    .expect(200, "mock_webhook_config.json");
    let link = api.valid_link().await;
    let id = link["id"].as_str().unwrap_or_default().to_owned();
    let waiting = api.register("a-good-password").await.body[0].clone();
    api.post("/_mock/clock/advance", json!({"seconds": 30}))
        .await
        .expect(200, "mock_clock.json");
    let before: Vec<Value> = futures_all(&api, &id).await;
    let deliveries = api.get("/_mock/webhooks").await.body["results"].clone();
    api.server.shutdown().await;

    let api = Api::start_with(config()).await;
    let after: Vec<Value> = futures_all(&api, &id).await;
    assert_eq!(before, after, "links and data read back identical");
    let restored = api.get("/_mock/webhooks").await;
    assert_eq!(
        restored.expect(200, "mock_deliveries.json")["results"],
        deliveries
    );
    let settings = api.get("/_mock/webhook").await;
    assert_eq!(settings.body, json!({"url": hooks, "authorization": "tok"}));
    let clock = api.get("/_mock/clock").await;
    assert!(
        clock.body["offset_seconds"].as_f64().unwrap_or(0.0) >= 30.0,
        "{}",
        clock.text
    );
    // The waiting session survived too: completing it works after the restart.
    api.patch(
        "/api/links/",
        json!({"link": waiting["link"], "session": waiting["session"], "token": "4321"}),
    )
    .await
    .expect(200, "link.json");
    api.server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

async fn futures_all(api: &Api, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/api/links/{id}/"),
        "/api/links/".to_owned(),
        format!("/api/owners/?link={id}"),
        format!("/api/br/employments/?link={id}"),
    ] {
        out.push(api.get(&path).await.body);
    }
    out
}

fn start_binary(dir: &Path, hooks: &str) -> Binary {
    let args: Vec<std::ffi::OsString> = [
        "--log-level",
        "error",
        "--mfa",
        "never",
        "--webhook-delay",
        "0",
        "--webhook-backoff",
        "600",
        "--webhook-url",
        hooks,
        "--data-dir",
    ]
    .iter()
    .map(Into::into)
    .chain(std::iter::once(dir.as_os_str().to_owned()))
    .collect();
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    spawn_binary(&refs)
}

async fn webhooks(client: &reqwest::Client, base: &str, status: &str) -> Value {
    client
        .get(format!("{base}/_mock/webhooks?status={status}"))
        .basic_auth("sandbox-secret-id", Some("sandbox-secret-password"))
        .send()
        .await
        .expect("the fake answers")
        .json()
        .await
        .unwrap_or_default()
}

/// Polls an external process (no virtual clock reaches it) until `done`, for at most 30 s.
async fn until(mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gave up waiting"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kill_9_with_100_pending_webhooks_loses_none() {
    let dir = temp_dir("kill9");
    let address = closed_address().await;
    let hooks = format!("http://{address}/hooks");
    let client = reqwest::Client::new();
    let server = start_binary(&dir, &hooks);
    for i in 0..50 {
        let reply = client
            .post(format!("{}/api/links/", server.base))
            .basic_auth("sandbox-secret-id", Some("sandbox-secret-password"))
            .json(
                &json!({"institution": "inss_br_employment", "username": "529.982.247-25",
                          "password": "a-good-password", "external_id": format!("kill-{i}")}),
            )
            .send()
            .await
            .expect("the fake answers");
        assert_eq!(reply.status().as_u16(), 201);
    }
    // Every webhook has failed its first attempt (the receiver is down) and waits 10 minutes.
    until(async || {
        let pending = webhooks(&client, &server.base, "pending").await;
        pending["count"] == 100
            && pending["results"].as_array().is_some_and(|all| {
                all.iter()
                    .all(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()))
            })
    })
    .await;
    drop(server); // SIGKILL: no shutdown, no drain

    let receiver = Receiver::start_on(address, Behaviour::Answer(200)).await;
    let server = start_binary(&dir, &hooks);
    let pending = webhooks(&client, &server.base, "pending").await;
    assert_eq!(pending["count"], 100, "every pending webhook is back");
    client
        .post(format!("{}/_mock/webhooks/flush", server.base))
        .basic_auth("sandbox-secret-id", Some("sandbox-secret-password"))
        .send()
        .await
        .expect("the fake answers");
    until(async || webhooks(&client, &server.base, "delivered").await["count"] == 100).await;
    let ids: std::collections::HashSet<String> = receiver
        .received()
        .iter()
        .filter_map(|r| r.body["webhook_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 100, "all 100 arrived");
    let links = client
        .get(format!("{}/api/links/", server.base))
        .basic_auth("sandbox-secret-id", Some("sandbox-secret-password"))
        .send()
        .await
        .expect("the fake answers")
        .json::<Value>()
        .await
        .unwrap_or_default();
    assert_eq!(links["count"], 50, "and every link");
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_damaged_database_stops_start_up_with_a_clear_message_and_stays_untouched() {
    let dir = temp_dir("damaged");
    std::fs::create_dir_all(&dir).ok();
    let file = dir.join(mock_server::DATABASE_FILE);
    let garbage = b"SQLite format 3\0 but not really".repeat(300);
    std::fs::write(&file, &garbage).ok();
    let mut child = Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    let status = child.wait().expect("it exits");
    assert!(!status.success());
    assert!(stderr.contains("belvo-mock.sqlite3"), "{stderr}");
    assert!(stderr.contains("left untouched"), "{stderr}");
    assert_eq!(std::fs::read(&file).ok(), Some(garbage));
    std::fs::remove_dir_all(&dir).ok();
}
