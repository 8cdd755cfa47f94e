//! Webhooks end to end: events after link completion, refresh, async retrieve and delete;
//! delivery with Authorization, retries on the virtual clock, failure and redelivery,
//! timeouts, concurrency; the control plane. Tests wait on the journal, never sleep.

use std::collections::HashSet;
use std::time::Duration;

use mock_server::{Config, DeliveryStatus, MfaMode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, Behaviour, CPF_DIGITS, Receiver, assert_schema, closed_address, id_of};

const WAIT: Duration = Duration::from_secs(20);

fn config(url: Option<&str>) -> Config {
    let mut config = Config {
        webhook_url: url.map(str::to_owned),
        ..Config::default()
    };
    config.webhooks.delay = Duration::ZERO;
    config
}

fn payloads(receiver: &Receiver) -> Vec<Value> {
    receiver.received().into_iter().map(|r| r.body).collect()
}

#[tokio::test]
async fn completing_a_link_sends_both_historical_updates_with_the_lists_totals() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.webhook_authorization = Some("s3cret-token".to_owned());
    let api = Api::start_with(cfg).await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    let done = api.server.wait_for_deliveries(2, WAIT).await;
    assert!(done.is_ok(), "both webhooks delivered: {done:?}");

    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_schema("webhook.json", &r.body);
        assert_eq!(r.authorization.as_deref(), Some("Bearer s3cret-token"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.body["link_id"], link["id"]);
        assert_eq!(r.body["process_type"], "historical_update");
        assert_eq!(r.body["webhook_code"], "historical_update");
        assert_eq!(r.body["external_id"], Value::Null);
    }
    let by_type = |t: &str| {
        got.iter()
            .find(|r| r.body["webhook_type"] == t)
            .map(|r| r.body.clone())
    };
    let owners = by_type("OWNERS").unwrap_or_default();
    let employments = by_type("EMPLOYMENTS").unwrap_or_default();
    let owners_list = api.get(&format!("/api/owners/?link={id}")).await;
    let employments_list = api.get(&format!("/api/br/employments/?link={id}")).await;
    assert_eq!(owners["data"]["total_owners"], owners_list.body["count"]);
    assert_eq!(
        employments["data"]["total_employments"],
        employments_list.body["count"]
    );

    // The request id is the PATCH's, written as a hyphenated UUID.
    let journal = api.get("/_mock/requests?path=/api/links").await;
    let patch = journal.expect(200, "mock_requests.json")["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["method"] == "PATCH")
        .cloned()
        .unwrap_or_default();
    let hex = patch["request_id"].as_str().unwrap_or_default();
    let hyphenated = owners["request_id"]
        .as_str()
        .unwrap_or_default()
        .replace('-', "");
    assert_eq!(hyphenated, hex);
}

#[tokio::test]
async fn only_the_links_fetch_resources_are_announced() {
    let receiver = Receiver::start(Behaviour::Answer(204)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.mfa = MfaMode::Never;
    let api = Api::start_with(cfg).await;
    api.post(
        "/api/links/",
        json!({"institution": "inss_br_employment", "username": CPF_DIGITS,
               "password": "a-good-password", "fetch_resources": ["EMPLOYMENTS"], "external_id": "user-77"}),
    )
    .await
    .expect(201, "link.json");
    let done = api
        .server
        .wait_for_deliveries(1, WAIT)
        .await
        .unwrap_or_default();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].webhook_type, "EMPLOYMENTS");
    assert_eq!(payloads(&receiver)[0]["external_id"], "user-77");
}

#[tokio::test]
async fn data_is_readable_before_its_webhook_leaves() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.webhooks.delay = Duration::from_secs(60);
    let api = Api::start_with(cfg).await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(owners.expect(200, "owners_page.json")["count"], 1);
    let pending = api.get("/_mock/webhooks?status=pending").await;
    assert_eq!(pending.expect(200, "mock_deliveries.json")["count"], 2);
    assert!(receiver.received().is_empty());
    // The virtual clock brings the delay to an end without waiting a minute.
    api.server.advance_clock(Duration::from_secs(60));
    assert!(api.server.wait_for_deliveries(2, WAIT).await.is_ok());
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn without_a_url_events_are_journaled_as_undeliverable_and_can_be_redelivered() {
    let api = Api::start_with(config(None)).await;
    api.valid_link().await;
    let list = api.get("/_mock/webhooks?status=undeliverable").await;
    let body = list.expect(200, "mock_deliveries.json").clone();
    assert_eq!(body["count"], 2);
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    api.put(
        "/_mock/webhook",
        json!({"url": receiver.url, "authorization": "Basic dTpw"}),
    )
    .await
    .expect(200, "mock_webhook_config.json");
    for delivery in body["results"].as_array().into_iter().flatten() {
        let id = delivery["webhook_id"].as_str().unwrap_or_default();
        api.post(&format!("/_mock/webhooks/{id}/redeliver"), json!({}))
            .await
            .expect(200, "mock_delivery.json");
    }
    let done = api
        .server
        .wait_for_webhooks(WAIT, |all| {
            all.iter()
                .filter(|d| d.status == DeliveryStatus::Delivered)
                .count()
                == 2
        })
        .await;
    assert!(done.is_ok());
    let got = receiver.received();
    assert!(
        got.iter()
            .all(|r| r.authorization.as_deref() == Some("Basic dTpw"))
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_then_up_gets_the_webhook_on_a_retry() {
    let address = closed_address().await;
    let api = Api::start_with(config(Some(&format!("http://{address}/hooks")))).await;
    api.valid_link().await;
    // First attempts fail: nothing listens.
    let first = api
        .server
        .wait_for_webhooks(WAIT, |all| {
            all.len() == 2 && all.iter().all(|d| d.attempts.len() == 1)
        })
        .await
        .unwrap_or_default();
    assert!(first.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert!(first.iter().all(|d| d.attempts[0].error.is_some()));
    let receiver = Receiver::start_on(address, Behaviour::Answer(200)).await;
    api.server.advance_clock(Duration::from_secs(3));
    let done = api
        .server
        .wait_for_deliveries(2, WAIT)
        .await
        .unwrap_or_default();
    assert!(
        done.iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts.len() == 2)
    );
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_receiver_failing_forever_exhausts_the_retries_then_a_redelivery_succeeds() {
    let receiver = Receiver::start(Behaviour::Answer(500)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.mfa = MfaMode::Never;
    cfg.webhook_url = Some(receiver.url.clone());
    let api = Api::start_with(cfg).await;
    api.post(
        "/api/links/",
        json!({"institution": "inss_br_employment", "username": CPF_DIGITS,
               "password": "a-good-password", "fetch_resources": ["OWNERS"]}),
    )
    .await
    .expect(201, "link.json");
    // 1 attempt + 5 retries after 3, 6, 12, 24 and 48 s of virtual time.
    for (attempts, wait) in [(1, 3), (2, 6), (3, 12), (4, 24), (5, 48)] {
        api.server
            .wait_for_webhooks(WAIT, |all| {
                all.first().is_some_and(|d| d.attempts.len() == attempts)
            })
            .await
            .ok();
        api.server.advance_clock(Duration::from_secs(wait));
    }
    let failed = api
        .server
        .wait_for_deliveries(1, WAIT)
        .await
        .unwrap_or_default();
    assert_eq!(failed[0].status, DeliveryStatus::Failed);
    assert_eq!(failed[0].attempts.len(), 6);
    assert!(
        failed[0]
            .attempts
            .iter()
            .all(|a| a.status_code == Some(500))
    );
    let ids: HashSet<String> = payloads(&receiver)
        .iter()
        .map(|p| p["webhook_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "the same webhook_id on every attempt");

    receiver.set(Behaviour::Answer(200));
    let id = failed[0].webhook_id.clone();
    api.post(&format!("/_mock/webhooks/{id}/redeliver"), json!({}))
        .await
        .expect(200, "mock_delivery.json");
    let done = api
        .server
        .wait_for_webhooks(WAIT, |all| all[0].status == DeliveryStatus::Delivered)
        .await
        .unwrap_or_default();
    assert_eq!(done[0].attempts.len(), 7);
    let list = api.get("/_mock/webhooks?status=delivered").await;
    let entry = &list.expect(200, "mock_deliveries.json")["results"][0];
    assert_eq!(entry["attempts"].as_array().map(Vec::len), Some(7));
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_failed_attempt() {
    let receiver = Receiver::start(Behaviour::Slow(Duration::from_secs(3))).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.webhooks.timeout = Duration::from_millis(300);
    cfg.webhooks.retries = 0;
    let api = Api::start_with(cfg).await;
    api.valid_link().await;
    let done = api
        .server
        .wait_for_deliveries(2, WAIT)
        .await
        .unwrap_or_default();
    for d in &done {
        assert_eq!(d.status, DeliveryStatus::Failed);
        let error = d.attempts[0].error.clone().unwrap_or_default();
        assert!(error.contains("no answer within 0.3 s"), "{error}");
    }
}

#[tokio::test]
async fn five_hundred_concurrent_link_completions_send_exactly_a_thousand_webhooks() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.mfa = MfaMode::Never;
    let api = std::sync::Arc::new(Api::start_with(cfg).await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let api = std::sync::Arc::clone(&api);
        tasks.spawn(async move {
            api.post(
                "/api/links/",
                json!({"institution": "inss_br_employment", "username": CPF_DIGITS, "password": "a-good-password"}),
            )
            .await
            .status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.ok(), Some(201));
    }
    let done = api
        .server
        .wait_for_deliveries(1000, Duration::from_secs(60))
        .await;
    let done = done.unwrap_or_else(|partial| panic!("only {} finished", partial.len()));
    assert_eq!(done.len(), 1000);
    assert!(
        done.iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts.len() == 1)
    );
    let got = payloads(&receiver);
    assert_eq!(got.len(), 1000, "none lost, none sent twice");
    let ids: HashSet<&str> = got
        .iter()
        .filter_map(|p| p["webhook_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1000);
    for p in &got {
        assert_schema("webhook.json", p);
    }
}

#[tokio::test]
async fn refresh_async_retrieve_and_async_delete_send_their_webhooks() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let api = Api::start_with(config(Some(&receiver.url))).await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    api.server.wait_for_deliveries(2, WAIT).await.ok();

    let refresh = api
        .post(
            &format!("/api/links/{id}/refresh/"),
            json!({"fetch_resources": ["OWNERS"]}),
        )
        .await;
    let refresh_id = refresh.expect(202, "request_accepted.json")["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let retrieve = api
        .raw(
            Method::POST,
            "/api/br/employments/",
            &[
                ("X-Belvo-Request-Mode", "async"),
                ("Content-Type", "application/json"),
            ],
            json!({"link": id}).to_string().into_bytes(),
        )
        .await;
    let retrieve_id = retrieve.expect(202, "request_accepted.json")["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let delete = api
        .raw(
            Method::DELETE,
            &format!("/api/links/{id}/"),
            &[("X-Belvo-Request-Mode", "async")],
            vec![],
        )
        .await;
    let delete_id = delete.expect(202, "link_delete_accepted.json")["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.server.wait_for_deliveries(5, WAIT).await.ok();
    let got = payloads(&receiver);
    assert_eq!(got.len(), 5);
    for p in &got {
        assert_schema("webhook.json", p);
    }
    let find = |request: &str| {
        got.iter()
            .find(|p| {
                p["request_id"].as_str().map(|r| r.replace('-', ""))
                    == Some(request.replace('-', ""))
            })
            .cloned()
            .unwrap_or_default()
    };
    let refreshed = find(&refresh_id);
    assert_eq!(
        (
            refreshed["webhook_type"].as_str(),
            refreshed["webhook_code"].as_str()
        ),
        (Some("OWNERS"), Some("historical_update"))
    );
    let retrieved = find(&retrieve_id);
    assert_eq!(retrieved["webhook_type"], "EMPLOYMENTS");
    let deleted = find(&delete_id);
    assert_eq!(
        (
            deleted["webhook_type"].as_str(),
            deleted["webhook_code"].as_str()
        ),
        (Some("LINK"), Some("link_deleted"))
    );
    assert_eq!(
        deleted["request_id"],
        delete_id.as_str(),
        "the 202's hyphenated id"
    );
}

#[tokio::test]
async fn a_link_whose_credentials_stop_working_is_invalidated_by_its_next_refresh() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let api = Api::start_with(config(Some(&receiver.url))).await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    api.server.wait_for_deliveries(2, WAIT).await.ok();
    api.put(
        &format!("/_mock/links/{id}/scenario"),
        json!({"scenario": "mock:invalid"}),
    )
    .await
    .expect(200, "link.json");
    api.post(&format!("/api/links/{id}/refresh/"), json!({}))
        .await
        .expect(202, "request_accepted.json");
    api.server.wait_for_deliveries(3, WAIT).await.ok();
    let invalid = payloads(&receiver)
        .into_iter()
        .find(|p| p["webhook_type"] == "LINK")
        .unwrap_or_default();
    assert_schema("webhook.json", &invalid);
    assert_eq!(invalid["webhook_code"], "invalid_credentials");
    assert_eq!(invalid["process_type"], "recurrent_update");
    assert_eq!(
        invalid["data"],
        json!({"error_code": "login_error",
               "error_message": "Invalid credentials provided to login to the institution",
               "status": 400})
    );
    let now = api.get(&format!("/api/links/{id}/")).await;
    assert_eq!(now.expect(200, "link.json")["status"], "invalid");
    api.post("/api/br/employments/", json!({"link": id}))
        .await
        .expect_error(
            400,
            "invalid_link",
            "The link has been invalidated. You may need to update link credentials",
        );
}

#[tokio::test]
async fn webhook_settings_are_validated_and_scoped_to_the_key_pair() {
    let api = Api::start_with(Api::two_tenants()).await;
    let empty = api.get("/_mock/webhook").await;
    assert_eq!(
        empty.expect(200, "mock_webhook_config.json"),
        &json!({"url": null, "authorization": null})
    );
    api.put("/_mock/webhook", json!({"url": "ftp://example.com/x"}))
        .await
        .expect_errors(400, &[("invalid", "Enter a valid URL.", Some("url"))]);
    api.put("/_mock/webhook", json!({"url": true}))
        .await
        .expect_errors(400, &[("invalid", "Not a valid string.", Some("url"))]);
    let set = api
        .put(
            "/_mock/webhook",
            json!({"url": "https://hooks.example.com/belvo", "authorization": "tok"}),
        )
        .await;
    assert_eq!(
        set.expect(200, "mock_webhook_config.json")["url"],
        "https://hooks.example.com/belvo"
    );
    let other = api.with_auth(Some(("other", "other-password")));
    let theirs = other.get("/_mock/webhook").await;
    assert_eq!(
        theirs.expect(200, "mock_webhook_config.json")["url"],
        Value::Null
    );
    api.post(
        "/_mock/webhooks/0123456789abcdef0123456789abcdef/redeliver",
        json!({}),
    )
    .await
    .expect_error(404, "not_found", "Not found");
    api.get("/_mock/webhooks?status=lost")
        .await
        .expect(400, "errors.json");
    let flushed = api.post("/_mock/webhooks/flush", json!({})).await;
    assert_eq!(flushed.expect(200, "mock_flush.json")["flushed"], 0);
}

#[tokio::test]
async fn the_request_journal_is_per_key_pair_and_keeps_no_secrets() {
    let api = Api::start_with(Api::two_tenants()).await;
    api.valid_link().await;
    api.get("/api/links/?token=123456&status=valid").await;
    let journal = api.get("/_mock/requests").await;
    let body = journal.expect(200, "mock_requests.json").clone();
    let text = body.to_string();
    assert!(
        !text.contains("a-good-password") && !text.contains("123456"),
        "{text}"
    );
    assert!(text.contains("token=%5Bredacted%5D"));
    let errors = api.get("/_mock/requests?status=428").await;
    assert_eq!(errors.expect(200, "mock_requests.json")["count"], 1);
    let other = api.with_auth(Some(("other", "other-password")));
    let theirs = other.get("/_mock/requests").await;
    // Only their own request to the journal itself.
    assert_eq!(theirs.expect(200, "mock_requests.json")["count"], 0);
}

#[tokio::test]
async fn the_delivery_and_request_journals_are_paginated_like_belvo_lists() {
    let mut cfg = config(None);
    cfg.mfa = MfaMode::Never;
    let api = Api::start_with(cfg).await;
    for _ in 0..3 {
        api.register("a-good-password")
            .await
            .expect(201, "link.json");
    }
    // Two events per link (historical update of each resource), none deliverable.
    let first = api.get("/_mock/webhooks?page_size=4").await;
    let first = first.expect(200, "mock_deliveries.json").clone();
    assert_eq!(first["count"], 6, "{first}");
    assert_eq!(first["results"].as_array().map(Vec::len), Some(4));
    assert_eq!(first["previous"], Value::Null);
    let next = first["next"].as_str().unwrap_or_default();
    assert_eq!(
        next,
        format!("{}/_mock/webhooks?page=2&page_size=4", api.server.uri())
    );
    let path = next.trim_start_matches(&api.server.uri());
    let second = api.get(path).await;
    let second = second.expect(200, "mock_deliveries.json").clone();
    assert_eq!(second["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["next"], Value::Null);
    api.get("/_mock/webhooks?page=3&page_size=4")
        .await
        .expect_error(404, "not_found", "Not found");

    let requests = api.get("/_mock/requests?page_size=2").await;
    let requests = requests.expect(200, "mock_requests.json").clone();
    assert_eq!(
        requests["count"], 6,
        "3 registrations and 3 journal reads: {requests}"
    );
    assert_eq!(requests["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        requests["next"],
        format!("{}/_mock/requests?page=2&page_size=2", api.server.uri())
    );
}

#[tokio::test]
async fn shutting_down_still_delivers_what_is_due() {
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let mut cfg = config(Some(&receiver.url));
    cfg.mfa = MfaMode::Never;
    let api = Api::start_with(cfg).await;
    for _ in 0..10 {
        api.register("a-good-password")
            .await
            .expect(201, "link.json");
    }
    api.server.shutdown().await;
    assert_eq!(
        receiver.received().len(),
        20,
        "every due webhook left before exit"
    );
}
