//! The dashboard over HTTP (the browser test in `tests/ui` drives it in Chromium): pages
//! render for the key pair, ask browsers for keys, and forms need the page's token.

use crate::support::{Api, assert_schema};

async fn html(
    api: &Api,
    path: &str,
    auth: Option<(&str, &str)>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(api.url(path));
    if let Some((id, password)) = auth {
        request = request.basic_auth(id, Some(password));
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap_or_default(), headers)
}

const KEYS: (&str, &str) = ("sandbox-secret-id", "sandbox-secret-password");

#[tokio::test]
async fn the_pages_render_for_the_key_pair_and_challenge_browsers_without_keys() {
    let api = Api::start_with(Api::two_tenants()).await;
    let link = api.valid_link().await;
    let id = link["id"].as_str().unwrap_or_default();
    for path in [
        "/_mock/ui/",
        "/_mock/ui/webhooks",
        "/_mock/ui/requests?path=/api&status=200",
        &format!("/_mock/ui/links/{id}"),
    ] {
        let (status, body, headers) = html(&api, path, Some(KEYS)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/html; charset=utf-8")
        );
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(
            !body.contains("52998224725") && !body.contains("529.982.247-25"),
            "the CPF is masked on {path}"
        );
    }
    let (_, links, _) = html(&api, "/_mock/ui/", Some(KEYS)).await;
    assert!(links.contains(id) && links.contains("529.***.***-25"));
    let (status, body, headers) = html(&api, "/_mock/ui/", None).await;
    assert_eq!(status, 401);
    assert!(
        headers
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("Basic"))
    );
    assert_schema(
        "errors.json",
        &serde_json::from_str(&body).unwrap_or_default(),
    );
    let (status, _, _) = html(
        &api,
        &format!("/_mock/ui/links/{id}"),
        Some(("other", "other-password")),
    )
    .await;
    assert_eq!(status, 404, "another key pair's link is not found");
}

#[tokio::test]
async fn forms_need_the_pages_token_and_redirect_after_posting() {
    let api = Api::start().await;
    let post = |body: String| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .post(api.url("/_mock/ui/webhook"))
            .basic_auth(KEYS.0, Some(KEYS.1))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let refused = post("url=http%3A%2F%2F127.0.0.1%3A9%2Fh".to_owned())
        .await
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 400);
    let body: serde_json::Value = refused.json().await.unwrap_or_default();
    assert_schema("errors.json", &body);
    assert_eq!(body[0]["field"], "csrf");

    let (_, page, _) = html(&api, "/_mock/ui/webhooks", Some(KEYS)).await;
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(token.len(), 32);
    let saved = post(format!(
        "csrf={token}&url=http%3A%2F%2F127.0.0.1%3A9%2Fh&authorization=t"
    ))
    .await
    .expect("answers");
    assert_eq!(saved.status().as_u16(), 303);
    assert_eq!(
        saved
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/_mock/ui/webhooks")
    );
    let config = api.get("/_mock/webhook").await;
    assert_eq!(
        config.expect(200, "mock_webhook_config.json"),
        &serde_json::json!({"url": "http://127.0.0.1:9/h", "authorization": "t"})
    );
}

#[tokio::test]
async fn the_links_page_shows_the_newest_200_and_says_how_many_there_are() {
    let config = mock_server::Config {
        mfa: mock_server::MfaMode::Never,
        ..mock_server::Config::default()
    };
    let api = Api::start_with(config).await;
    let mut ids = Vec::new();
    for _ in 0..201 {
        let link = api.register("a-good-password").await;
        ids.push(
            link.expect(201, "link.json")["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let (status, page, _) = html(&api, "/_mock/ui/", Some(KEYS)).await;
    assert_eq!(status, 200);
    assert!(page.contains("The newest 200 of 201 links"), "{page:.300}");
    assert!(page.contains(&ids[200]) && page.contains(&ids[1]));
    assert!(!page.contains(&ids[0]), "the oldest is past the first 200");
}

#[tokio::test]
async fn a_link_page_shows_its_next_scheduled_refresh_and_its_status_history() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let id = link["id"].as_str().unwrap_or_default().to_owned();
    let accessed =
        chrono::DateTime::parse_from_rfc3339(link["last_accessed_at"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    let next = (accessed + chrono::Duration::days(7))
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (status, page, _) = html(&api, &format!("/_mock/ui/links/{id}"), Some(KEYS)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("next scheduled refresh") && page.contains(&next),
        "{next}"
    );
    assert!(
        page.contains("created") && page.contains("login"),
        "unconfirmed, then valid by the login"
    );
    api.put(
        &format!("/_mock/links/{id}/scenario"),
        serde_json::json!({"scenario": "mock:invalid"}),
    )
    .await
    .expect(200, "link.json");
    api.post(
        "/_mock/clock/advance",
        serde_json::json!({"seconds": 8 * 86_400}),
    )
    .await
    .expect(200, "mock_clock.json");
    let (_, page, _) = html(&api, &format!("/_mock/ui/links/{id}"), Some(KEYS)).await;
    assert!(
        page.contains("scheduled refresh: invalid_credentials"),
        "the history names the cause"
    );
    assert!(page.contains("none (only valid recurrent links are refreshed)"));
}
