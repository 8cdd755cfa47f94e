//! The one commit path: a change is persisted, cached and announced in one place, so a cached
//! read never outlives the change, a write the disk refuses changes nothing (memory, database
//! and webhooks alike), a reset is one operation, and one data folder has one server.

use std::path::PathBuf;

use mock_server::{Config, MockServer};
use serde_json::{Value, json};

use crate::support::{Api, CPF, id_of};

const UNEXPECTED: &str = "Belvo is unable to process the request due to an internal system issue or to an unsupported response from an institution";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("belvo-mock-commit-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn durable(dir: &std::path::Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

/// Setting a scenario changes what the employments render, so a cached list must not
/// outlive it (it answered `count: 3` after `mock:no-data`).
#[tokio::test]
async fn a_scenario_change_is_seen_by_a_cached_employments_list() {
    let api = Api::start().await;
    let id = id_of(&api.valid_link().await);
    let path = format!("/api/br/employments/?link={id}");
    let before = api.get(&path).await;
    assert!(before.expect(200, "employments_page.json")["count"].as_u64() > Some(0));
    api.put(
        &format!("/_mock/links/{id}/scenario"),
        json!({"scenario": "mock:no-data"}),
    )
    .await
    .expect(200, "link.json");
    let after = api.get(&path).await;
    let uncached = api.get(&format!("{path}&page_size=99")).await;
    assert_eq!(after.expect(200, "employments_page.json")["count"], 0);
    assert_eq!(uncached.expect(200, "employments_page.json")["count"], 0);
}

/// With the disk refusing writes, every change answers 500 and changes nothing: the retry
/// of a PATCH still finds its session, a refused link is never listed, a refused async
/// delete leaves the link and sends nothing, and settings, clock and reset stay as they were
/// — before and after a restart.
#[tokio::test]
async fn a_write_the_disk_refuses_answers_500_and_changes_nothing() {
    let dir = temp_dir("refused");
    let api = Api::start_with(durable(&dir)).await;
    let kept = id_of(&api.valid_link().await);
    let waiting = api.register("a-good-password").await.body[0].clone();
    let clock = api.get("/_mock/clock").await.body["offset_seconds"].clone();
    let settings = api.get("/_mock/webhook").await.body.clone();

    api.server.fail_writes(true);
    let resume = json!({"link": waiting["link"], "session": waiting["session"], "token": "123456"});
    api.patch("/api/links/", resume.clone()).await.expect_error(
        500,
        "unexpected_error",
        UNEXPECTED,
    );
    api.post(
        "/api/links/",
        json!({"institution": "inss_br_employment", "username": CPF, "password": "mock:no-mfa"}),
    )
    .await
    .expect_error(500, "unexpected_error", UNEXPECTED);
    let asynchronous = api
        .raw(
            reqwest::Method::DELETE,
            &format!("/api/links/{kept}/"),
            &[("X-Belvo-Request-Mode", "async")],
            Vec::new(),
        )
        .await;
    asynchronous.expect_error(500, "unexpected_error", UNEXPECTED);
    api.put("/_mock/webhook", json!({"url": "http://127.0.0.1:9/hooks"}))
        .await
        .expect_error(500, "unexpected_error", UNEXPECTED);
    api.post("/_mock/clock/advance", json!({"seconds": 3600}))
        .await
        .expect_error(500, "unexpected_error", UNEXPECTED);
    api.post("/_mock/reset", json!({}))
        .await
        .expect_error(500, "unexpected_error", UNEXPECTED);

    unchanged(&api, &kept, &clock, &settings).await;
    api.server.fail_writes(false);
    api.server.shutdown().await;

    let api = Api::start_with(durable(&dir)).await;
    unchanged(&api, &kept, &clock, &settings).await;
    // The refused PATCH did not use the session up.
    api.patch("/api/links/", resume)
        .await
        .expect(200, "link.json");
    api.server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// `MockServer::reset()` is `POST /_mock/reset` for every key pair: the request log goes too.
#[tokio::test]
async fn the_handles_reset_is_the_control_planes_reset() {
    let api = Api::start().await;
    api.valid_link().await;
    assert!(api.get("/_mock/requests").await.body["count"].as_u64() > Some(0));
    api.server.reset();
    let requests = api.get("/_mock/requests").await;
    // A request is logged once answered: the log is empty.
    assert_eq!(requests.body["count"], 0, "{}", requests.text);
    assert_eq!(api.get("/api/links/").await.body["count"], 0);
    assert_eq!(api.get("/_mock/webhooks").await.body["count"], 0);
}

/// A second server on a data folder in use refuses to start and names the holder.
#[tokio::test]
async fn a_second_server_on_one_data_folder_refuses_to_start() {
    let dir = temp_dir("two");
    let first = MockServer::start_with(durable(&dir))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let error = MockServer::start_with(durable(&dir))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains(&format!(
            "{} is in use by another belvo-mock (pid {})",
            dir.display(),
            std::process::id()
        )),
        "{error}"
    );
    first.shutdown().await;
    let again = MockServer::start_with(durable(&dir)).await;
    assert!(again.is_ok(), "the folder is free once its server stopped");
    if let Ok(server) = again {
        server.shutdown().await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Expired sessions leave the database as well as memory, by the housekeeping the clock's
/// jump wakes (they stayed in SQLite until a restart deleted them one transaction each).
#[tokio::test]
async fn expired_sessions_leave_the_database_too() {
    let dir = temp_dir("expired");
    let api = Api::start_with(durable(&dir)).await;
    for _ in 0..3 {
        api.register("a-good-password")
            .await
            .expect(428, "token_required.json");
    }
    let sessions = || {
        let conn = rusqlite::Connection::open(dir.join(mock_server::DATABASE_FILE))
            .unwrap_or_else(|e| panic!("{e}"));
        // A link's open sessions are kept in its row.
        conn.query_row(
            "SELECT coalesce(sum(json_array_length(body, '$.sessions')), 0) FROM links",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(-1)
    };
    assert_eq!(sessions(), 3);
    api.post("/_mock/clock/advance", json!({"seconds": 600}))
        .await
        .expect(200, "mock_clock.json");
    // Housekeeping runs in the background: wait (bounded) for the rows to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sessions() != 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(sessions(), 0);
    api.server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// What a refused write must leave: the valid and the waiting link, their two webhooks, the
/// clock and the settings as they were.
async fn unchanged(api: &Api, kept: &str, clock: &Value, settings: &Value) {
    let links = api.get("/api/links/").await;
    let ids: Vec<String> = links.expect(200, "links_page.json")["results"]
        .as_array()
        .map(|r| r.iter().map(id_of).collect())
        .unwrap_or_default();
    assert_eq!(
        ids.len(),
        2,
        "the valid and the waiting link, nothing else: {ids:?}"
    );
    assert!(ids.iter().any(|i| i == kept));
    api.get(&format!("/api/links/{kept}/"))
        .await
        .expect(200, "link.json");
    assert_eq!(
        api.get("/_mock/webhooks").await.body["count"],
        2,
        "two historical updates, no link_deleted"
    );
    assert_eq!(&api.get("/_mock/clock").await.body["offset_seconds"], clock);
    assert_eq!(&api.get("/_mock/webhook").await.body, settings);
}
