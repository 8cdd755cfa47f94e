//! The control plane (`/_mock/`) and the in-process handle.

use reqwest::Method;
use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn health_needs_no_keys() {
    let api = Api::start().await;
    let reply = api.with_auth(None).get("/_mock/health").await;
    assert_eq!(reply.expect(200, "mock_health.json")["status"], "ok");
}

#[tokio::test]
async fn reset_forgets_only_the_callers_links() {
    let api = Api::start_with(Api::two_tenants()).await;
    api.valid_link().await;
    let other = api.with_auth(Some(("other", "other-password")));
    other
        .send(
            reqwest::Method::POST,
            "/api/links/",
            Some(json!({"institution": "inss_br_employment", "username": "52998224725", "password": "mock:no-mfa"})),
        )
        .await
        .expect(201, "link.json");
    let reply = api.post("/_mock/reset", json!({})).await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        api.get("/api/links/").await.expect(200, "links_page.json")["count"],
        0
    );
    assert_eq!(
        other
            .get("/api/links/")
            .await
            .expect(200, "links_page.json")["count"],
        1
    );
}

#[tokio::test]
async fn advancing_the_clock_over_http_expires_sessions() {
    let api = Api::start().await;
    let element = api.register("a-good-password").await.body[0].clone();
    let before = api.get("/_mock/clock").await;
    assert_eq!(before.expect(200, "mock_clock.json")["offset_seconds"], 0.0);
    let reply = api
        .post("/_mock/clock/advance", json!({"seconds": 120.5}))
        .await;
    assert_eq!(
        reply.expect(200, "mock_clock.json")["offset_seconds"],
        120.5
    );
    api.patch(
        "/api/links/",
        json!({"link": element["link"], "session": element["session"], "token": "1"}),
    )
    .await
    .expect(400, "errors.json");
}

#[tokio::test]
async fn a_bad_clock_body_is_a_field_error() {
    let api = Api::start().await;
    api.post("/_mock/clock/advance", json!({}))
        .await
        .expect_errors(
            400,
            &[("required", "This field is required.", Some("seconds"))],
        );
    api.post("/_mock/clock/advance", json!({"seconds": -3}))
        .await
        .expect_errors(
            400,
            &[(
                "min_value",
                "Ensure this value is greater than or equal to 0.",
                Some("seconds"),
            )],
        );
    api.post("/_mock/clock/advance", json!({"seconds": "soon"}))
        .await
        .expect_errors(
            400,
            &[("invalid", "A valid number is required.", Some("seconds"))],
        );
}

/// A page of another origin cannot drive the control plane with a browser's cached keys (a
/// `text/plain` form post needs no preflight); the same request without `Origin`, or from the
/// fake's own origin, goes through. Dashboard pages are never framed.
#[tokio::test]
async fn control_plane_writes_from_another_origin_are_refused() {
    let api = Api::start().await;
    api.valid_link().await;
    let own = api.server.uri();
    for (method, path) in [
        (Method::POST, "/_mock/reset"),
        (Method::POST, "/_mock/webhooks/flush"),
        (Method::POST, "/_mock/clock/advance"),
        (Method::PUT, "/_mock/webhook"),
    ] {
        for origin in ["http://evil.example", "null"] {
            let refused = api
                .raw(
                    method.clone(),
                    path,
                    &[("Origin", origin), ("Content-Type", "text/plain")],
                    b"{\"seconds\": 60}".to_vec(),
                )
                .await;
            refused.expect_errors(
                403,
                &[(
                    "forbidden",
                    "Requests to the control plane from another origin are refused.",
                    None,
                )],
            );
        }
    }
    assert_eq!(
        api.get("/api/links/").await.body["count"],
        1,
        "nothing was reset"
    );
    let same = api
        .raw(
            Method::POST,
            "/_mock/webhooks/flush",
            &[("Origin", own.as_str())],
            Vec::new(),
        )
        .await;
    same.expect(200, "mock_flush.json");
    let (id, password) = api.server.secret_keys();
    let page = reqwest::Client::new()
        .get(api.url("/_mock/ui/"))
        .basic_auth(id, Some(password))
        .send()
        .await
        .expect("the dashboard answers");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(
        page.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

/// An Authorization holding CR, LF or NUL is refused when it is set (every attempt would fail
/// later), with the field named, and the settings stay as they were.
#[tokio::test]
async fn a_webhook_authorization_with_control_characters_is_refused_at_put_time() {
    let api = Api::start().await;
    let before = api.get("/_mock/webhook").await.body.clone();
    for bad in ["Bearer a\r\nX-Evil: 1", "tok\u{0}en", "line\nbreak"] {
        api.put(
            "/_mock/webhook",
            json!({"url": "http://127.0.0.1:9/hooks", "authorization": bad}),
        )
        .await
        .expect_errors(
            400,
            &[(
                "invalid",
                "Enter a value without control characters (CR, LF, NUL, …).",
                Some("authorization"),
            )],
        );
    }
    assert_eq!(api.get("/_mock/webhook").await.body, before);
    api.put(
        "/_mock/webhook",
        json!({"url": "http://127.0.0.1:9/hooks", "authorization": "Bearer\ttok"}),
    )
    .await
    .expect(200, "mock_webhook_config.json");
}

/// An advance that would carry timestamps past the year 9999 is refused with the field named
/// (it used to overflow and panic every thread), and the clock stays where it was.
#[tokio::test]
async fn an_advance_past_the_year_9999_is_refused_and_the_server_keeps_answering() {
    let api = Api::start().await;
    let before = api.get("/_mock/clock").await.body["offset_seconds"].clone();
    for _ in 0..9 {
        let refused = api
            .post("/_mock/clock/advance", json!({"seconds": 1e12}))
            .await;
        refused.expect(400, "errors.json");
        assert_eq!(refused.body[0]["code"], "max_value", "{}", refused.text);
        assert_eq!(refused.body[0]["field"], "seconds");
        let message = refused.body[0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Ensure this value is less than or equal to "),
            "{message}"
        );
    }
    assert_eq!(api.get("/_mock/clock").await.body["offset_seconds"], before);
    api.get("/_mock/health")
        .await
        .expect(200, "mock_health.json");
    // A whole century still fits.
    api.post(
        "/_mock/clock/advance",
        json!({"seconds": 100.0 * 365.0 * 86400.0}),
    )
    .await
    .expect(200, "mock_clock.json");
}

#[tokio::test]
async fn the_handle_resets_everything_and_shuts_the_server_down() {
    let api = Api::start().await;
    api.valid_link().await;
    api.server.reset();
    assert_eq!(
        api.get("/api/links/").await.expect(200, "links_page.json")["count"],
        0
    );
    let address = api.server.address();
    api.server.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the port is closed once shutdown returns"
    );
}
