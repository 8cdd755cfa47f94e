//! Tenant isolation: key pair B can never read, change, delete or see anything of key pair A,
//! on any route, control plane included.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, id_of};

#[tokio::test]
async fn another_key_pair_cannot_reach_anything_of_a_tenant() {
    let mut config = Api::two_tenants();
    config.webhooks.delay = Duration::from_secs(3600);
    config.webhook_url = Some("http://127.0.0.1:9/hooks".to_owned());
    let api = Api::start_with(config).await;

    // Tenant A: a valid link with data, a pending one with a session, webhooks, journal.
    let link = api.valid_link().await;
    let id = id_of(&link);
    let pending = api.register("a-good-password").await.body[0].clone();
    let owner_id = id_of(&api.get(&format!("/api/owners/?link={id}")).await.body["results"][0]);
    let employment_id = id_of(
        &api.get(&format!("/api/br/employments/?link={id}"))
            .await
            .body["results"][0],
    );
    let deliveries = api.get("/_mock/webhooks").await;
    let webhook_id = deliveries.body["results"][0]["webhook_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(deliveries.body["count"], 2);

    let b = api.with_auth(Some(("other", "other-password")));
    let not_found = |reply: crate::support::Reply, what: &str| {
        assert_eq!(reply.status, 404, "{what}: {}", reply.text);
        reply.expect_error(404, "not_found", "Not found");
    };
    let body = |v: Value| Some(v);

    not_found(b.get(&format!("/api/links/{id}/")).await, "link detail");
    not_found(
        b.send(
            Method::PATCH,
            &format!("/api/links/{id}/"),
            body(json!({"stale_in": "9d"})),
        )
        .await,
        "link modify",
    );
    not_found(
        b.send(
            Method::PUT,
            &format!("/api/links/{id}/"),
            body(json!({"password": "mock:no-mfa"})),
        )
        .await,
        "link credentials",
    );
    not_found(
        b.send(
            Method::POST,
            &format!("/api/links/{id}/refresh/"),
            body(json!({})),
        )
        .await,
        "refresh",
    );
    not_found(
        b.send(Method::DELETE, &format!("/api/links/{id}/"), None)
            .await,
        "link delete",
    );
    not_found(
        b.send(
            Method::PATCH,
            "/api/links/",
            body(json!({"link": pending["link"], "session": pending["session"], "token": "1"})),
        )
        .await,
        "MFA resume",
    );
    not_found(
        b.get(&format!("/api/owners/{owner_id}/")).await,
        "owner detail",
    );
    not_found(
        b.send(Method::DELETE, &format!("/api/owners/{owner_id}/"), None)
            .await,
        "owner delete",
    );
    not_found(
        b.send(
            Method::POST,
            "/api/owners/",
            body(json!({"link": id, "token": "1"})),
        )
        .await,
        "owners retrieve",
    );
    not_found(
        b.send(
            Method::PATCH,
            "/api/owners/",
            body(json!({"link": id, "session": pending["session"], "token": "1"})),
        )
        .await,
        "owners resume",
    );
    not_found(
        b.get(&format!("/api/br/employments/{employment_id}/"))
            .await,
        "employment detail",
    );
    not_found(
        b.send(
            Method::DELETE,
            &format!("/api/br/employments/{employment_id}/"),
            None,
        )
        .await,
        "employment delete",
    );
    not_found(
        b.send(
            Method::POST,
            "/api/br/employments/",
            body(json!({"link": id})),
        )
        .await,
        "employments retrieve",
    );
    not_found(
        b.send(
            Method::PUT,
            &format!("/_mock/links/{id}/scenario"),
            body(json!({"scenario": "mock:invalid"})),
        )
        .await,
        "scenario",
    );
    not_found(
        b.send(
            Method::POST,
            &format!("/_mock/webhooks/{webhook_id}/redeliver"),
            body(json!({})),
        )
        .await,
        "redeliver",
    );

    for (path, schema) in [
        ("/api/links/", "links_page.json"),
        (&*format!("/api/owners/?link={id}"), "owners_page.json"),
        ("/api/owners/", "owners_page.json"),
        (
            &*format!("/api/br/employments/?link={id}"),
            "employments_page.json",
        ),
        ("/_mock/webhooks", "mock_deliveries.json"),
    ] {
        let reply = b.get(path).await;
        assert_eq!(reply.expect(200, schema)["count"], 0, "{path}");
    }
    let ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["request_id"].as_str().map(str::to_owned))
            .collect()
    };
    let a_requests = ids(api.get("/_mock/requests").await.body_ref());
    let b_journal = b.get("/_mock/requests").await;
    let b_requests = ids(b_journal.expect(200, "mock_requests.json"));
    assert!(!a_requests.is_empty() && !b_requests.is_empty());
    assert!(
        a_requests.iter().all(|r| !b_requests.contains(r)),
        "B's journal holds none of A's requests"
    );
    let config = b.get("/_mock/webhook").await;
    assert_eq!(
        config.expect(200, "mock_webhook_config.json")["url"],
        "http://127.0.0.1:9/hooks"
    );
    b.send(
        Method::PUT,
        "/_mock/webhook",
        body(json!({"url": "http://127.0.0.1:8/b"})),
    )
    .await;
    let flushed = b
        .send(Method::POST, "/_mock/webhooks/flush", body(json!({})))
        .await;
    assert_eq!(
        flushed.expect(200, "mock_flush.json")["flushed"],
        0,
        "A's pending deliveries are not B's"
    );
    assert_eq!(
        b.send(Method::POST, "/_mock/reset", body(json!({})))
            .await
            .status,
        204
    );

    // A is untouched.
    let still = api.get(&format!("/api/links/{id}/")).await;
    assert_eq!(still.expect(200, "link.json")["status"], "valid");
    assert_eq!(still.body["stale_in"], "365d");
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(owners.expect(200, "owners_page.json")["count"], 1);
    api.get(&format!("/api/br/employments/{employment_id}/"))
        .await
        .expect(200, "employment.json");
    let mine = api.get("/_mock/webhook").await;
    assert_eq!(
        mine.expect(200, "mock_webhook_config.json")["url"],
        "http://127.0.0.1:9/hooks"
    );
    let pending_deliveries = api.get("/_mock/webhooks?status=pending").await;
    assert_eq!(
        pending_deliveries.expect(200, "mock_deliveries.json")["count"],
        2
    );
    api.patch(
        "/api/links/",
        json!({"link": pending["link"], "session": pending["session"], "token": "1"}),
    )
    .await
    .expect(200, "link.json");
}
