//! Managing links: lists (pagination, filters, `fields`/`omit`), detail, modify, new
//! credentials, delete (sync, async, throttled) and refresh.

use std::time::Duration;

use mock_server::{Config, MfaMode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, CPF, id_of};

#[tokio::test]
async fn lists_paginate_with_absolute_next_links_that_keep_every_parameter() {
    let api = Api::start().await;
    for _ in 0..5 {
        api.register("mock:no-mfa").await.expect(201, "link.json");
    }
    api.register("a-good-password")
        .await
        .expect(428, "token_required.json");
    let first = api.get("/api/links/?status=valid&page_size=2").await;
    let page = first.expect(200, "links_page.json");
    assert_eq!(page["count"], 5);
    assert_eq!(page["previous"], Value::Null);
    let next = page["next"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        next,
        format!(
            "{}/api/links/?page=2&page_size=2&status=valid",
            api.server.uri()
        )
    );
    // Follow `next` verbatim, as belvo-python does.
    let mut seen: Vec<Value> = page["results"].as_array().cloned().unwrap_or_default();
    let mut url = Some(next);
    while let Some(u) = url {
        let path = u.trim_start_matches(&api.server.uri()).to_owned();
        let reply = api.get(&path).await;
        let page = reply.expect(200, "links_page.json");
        seen.extend(page["results"].as_array().cloned().unwrap_or_default());
        url = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let mut ids: Vec<String> = seen.iter().map(id_of).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "no link twice");
    api.get("/api/links/?status=valid&page_size=2&page=4")
        .await
        .expect_error(404, "not_found", "Not found");
}

#[tokio::test]
async fn the_public_url_is_the_base_of_next_links() {
    let api = Api::start_with(Config {
        public_url: Some("https://belvo.example.test/".to_owned()),
        mfa: MfaMode::Never,
        ..Config::default()
    })
    .await;
    api.register("a-good-password").await;
    api.register("a-good-password").await;
    let page = api.get("/api/links?page_size=1").await;
    assert_eq!(
        page.expect(200, "links_page.json")["next"],
        "https://belvo.example.test/api/links?page=2&page_size=1"
    );
}

#[tokio::test]
async fn link_filters_follow_the_spec() {
    let api = Api::start().await;
    let valid = api.valid_link().await;
    let unconfirmed = api.register("a-good-password").await.body[0]["link"].clone();
    let count =
        |reply: crate::support::Reply| reply.expect(200, "links_page.json")["count"].clone();
    assert_eq!(count(api.get("/api/links/?status=unconfirmed").await), 1);
    assert_eq!(
        count(api.get("/api/links/?status__in=valid,unconfirmed").await),
        2
    );
    assert_eq!(
        count(api.get(&format!("/api/links/?id={}", id_of(&valid))).await),
        1
    );
    assert_eq!(
        count(
            api.get(&format!(
                "/api/links/?id__in={},{}",
                id_of(&valid),
                unconfirmed.as_str().unwrap_or_default()
            ))
            .await
        ),
        2
    );
    assert_eq!(
        count(
            api.get("/api/links/?institution=inss_br_employment&access_mode=recurrent")
                .await
        ),
        2
    );
    assert_eq!(count(api.get("/api/links/?access_mode=single").await), 0);
    assert_eq!(
        count(api.get("/api/links/?created_at__gte=2000-01-01").await),
        2
    );
    assert_eq!(
        count(api.get("/api/links/?created_at__lt=2000-01-01").await),
        0
    );
    assert_eq!(count(api.get("/api/links/?refresh_rate=null").await), 0);
    api.get("/api/links/?status=broken").await.expect_errors(
        400,
        &[(
            "invalid_choice",
            "Select a valid choice. broken is not one of the available choices.",
            Some("status"),
        )],
    );
    api.get("/api/links/?created_at=yesterday&id=nope")
        .await
        .expect_errors(
            400,
            &[
                ("invalid", "Enter a valid UUID.", Some("id")),
                ("invalid", "Enter a valid date.", Some("created_at")),
            ],
        );
}

#[tokio::test]
async fn fields_and_omit_shape_list_and_detail_bodies() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let detail = api
        .get(&format!("/api/links/{}/?fields=id,status", id_of(&link)))
        .await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body, json!({"id": link["id"], "status": "valid"}));
    let list = api.get("/api/links/?omit=created_by,stale_in").await;
    assert_eq!(list.status, 200);
    let first = &list.body["results"][0];
    assert!(first.get("created_by").is_none() && first.get("stale_in").is_none());
    assert_eq!(first["id"], link["id"]);
}

#[tokio::test]
async fn patching_a_link_changes_its_data_retrieval() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let path = format!("/api/links/{}/", id_of(&link));
    let reply = api
        .patch(
            &path,
            json!({"access_mode": "single", "stale_in": "30d", "fetch_resources": ["EMPLOYMENTS"]}),
        )
        .await;
    let changed = reply.expect(200, "link.json");
    assert_eq!(changed["access_mode"], "single");
    assert_eq!(changed["refresh_rate"], Value::Null);
    assert_eq!(changed["stale_in"], "30d");
    assert_eq!(changed["fetch_resources"], json!(["EMPLOYMENTS"]));
    api.patch(&path, json!({"access_mode": "recurrent"}))
        .await
        .expect(200, "link.json");
    api.patch(&path, json!({"stale_in": "soon"}))
        .await
        .expect_errors(
            400,
            &[("invalid", "Entered value is not valid.", Some("stale_in"))],
        );
}

#[tokio::test]
async fn a_link_without_stored_credentials_cannot_become_recurrent() {
    let api = Api::start().await;
    let reply = api
        .post(
            "/api/links/",
            json!({"institution": "inss_br_employment", "username": CPF, "password": "mock:no-mfa",
                   "access_mode": "single", "credentials_storage": "nostore", "fetch_resources": ["OWNERS"]}),
        )
        .await;
    let link = reply.expect(201, "link.json").clone();
    api.patch(
        &format!("/api/links/{}/", id_of(&link)),
        json!({"access_mode": "recurrent"}),
    )
    .await
    .expect_error(
        400,
        "invalid_access_mode_switch",
        "This link doesn't have stored credentials hence it can't be switched to recurrent mode\"",
    );
}

#[tokio::test]
async fn using_an_unconfirmed_link_is_refused() {
    let api = Api::start().await;
    let id = api.register("a-good-password").await.body[0]["link"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let unconfirmed = (
        "unconfirmed_link",
        "The link creation has not been completed yet",
    );
    api.post(&format!("/api/links/{id}/refresh/"), json!({}))
        .await
        .expect_error(400, unconfirmed.0, unconfirmed.1);
    api.patch(&format!("/api/links/{id}/"), json!({"stale_in": "30d"}))
        .await
        .expect_error(400, unconfirmed.0, unconfirmed.1);
}

#[tokio::test]
async fn updating_credentials_logs_in_again_through_mfa() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let path = format!("/api/links/{}/", id_of(&link));
    api.put(&path, json!({})).await.expect_errors(
        400,
        &[("required", "This field is required.", Some("password"))],
    );
    api.put(&path, json!({"password": "mock:locked"}))
        .await
        .expect_error(
            400,
            "login_error",
            "The user account is locked, user needs to contact the institution to unlock it",
        );
    let challenge = api.put(&path, json!({"password": "a-new-password"})).await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    assert_eq!(element["link"], link["id"]);
    api.patch(
        "/api/links/",
        json!({"link": element["link"], "session": element["session"], "token": "777777"}),
    )
    .await
    .expect(200, "link.json");
    let direct = api.put(&path, json!({"password": "mock:no-mfa"})).await;
    assert_eq!(direct.expect(200, "link.json")["status"], "valid");
}

#[tokio::test]
async fn deleting_a_link_answers_204_then_the_link_is_gone() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let path = format!("/api/links/{}/", id_of(&link));
    let reply = api.delete(&path).await;
    assert_eq!(reply.status, 204);
    assert!(reply.text.is_empty());
    api.get(&path)
        .await
        .expect_error(404, "not_found", "Not found");
    api.delete(&path)
        .await
        .expect_error(404, "not_found", "Not found");
    api.delete("/api/links/not-a-uuid/")
        .await
        .expect_error(404, "not_found", "Not found");
}

#[tokio::test]
async fn an_async_delete_answers_202_with_a_uuid_request_id() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let path = format!("/api/links/{}/", id_of(&link));
    let reply = api
        .raw(
            Method::DELETE,
            &path,
            &[("X-Belvo-Request-Mode", "async")],
            vec![],
        )
        .await;
    reply.expect(202, "link_delete_accepted.json");
    api.get(&path)
        .await
        .expect_error(404, "not_found", "Not found");
}

#[tokio::test]
async fn the_sixth_sync_delete_within_a_minute_is_throttled() {
    let api = Api::start().await;
    let mut paths = Vec::new();
    for _ in 0..6 {
        let link = api.register("mock:no-mfa").await.body.clone();
        paths.push(format!("/api/links/{}/", id_of(&link)));
    }
    for path in &paths[..5] {
        assert_eq!(api.delete(path).await.status, 204);
    }
    api.delete(&paths[5]).await.expect_error(
        429,
        "throttled",
        "Request was throttled. Expected available in 60 seconds.",
    );
    api.server.advance_clock(Duration::from_secs(60));
    assert_eq!(api.delete(&paths[5]).await.status, 204);
}

#[tokio::test]
async fn refreshing_answers_202_then_409_for_ten_minutes() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let path = format!("/api/links/{}/refresh/", id_of(&link));
    let reply = api
        .post(&path, json!({"fetch_resources": ["OWNERS"]}))
        .await;
    reply.expect(202, "request_accepted.json");
    api.server.advance_clock(Duration::from_secs(3 * 60));
    api.post(&path, json!({})).await.expect_error(
        409,
        "link_refreshed",
        "The link has already been refreshed. Please wait 7 minutes before trying again.",
    );
    api.server.advance_clock(Duration::from_secs(7 * 60));
    api.raw(Method::POST, &path, &[], vec![])
        .await
        .expect(202, "request_accepted.json");
}
