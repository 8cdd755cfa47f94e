//! Rules every endpoint follows: auth, trailing slashes, the error array for every failure,
//! request ids.

use reqwest::Method;
use serde_json::json;

use crate::support::{Api, assert_schema};

const NOT_FOUND: (&str, &str) = ("not_found", "Not found");

#[tokio::test]
async fn the_api_root_answers_200_to_valid_keys_like_the_sdks_login_probe() {
    let api = Api::start().await;
    let reply = api.get("/api/").await;
    let body = reply.expect(200, "api_root.json");
    assert_eq!(body["links"], format!("{}/api/links/", api.server.uri()));
}

#[tokio::test]
async fn wrong_or_missing_keys_get_the_exact_401_array() {
    let api = Api::start().await;
    for auth in [
        None,
        Some(("sandbox-secret-id", "wrong")),
        Some(("wrong", "sandbox-secret-password")),
        Some(("", "")),
    ] {
        for path in ["/api/", "/api/links/", "/api/institutions/", "/_mock/clock"] {
            api.with_auth(auth).get(path).await.expect_error(
                401,
                "authentication_failed",
                "Invalid Secret Keys",
            );
        }
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_a_401_not_a_crash() {
    let api = Api::start().await;
    for header in ["Basic", "Basic !!!", "Bearer abc", "Basic Zm9v", "basic"] {
        let reply = reqwest::Client::new()
            .get(api.url("/api/"))
            .header("Authorization", header)
            .send()
            .await
            .expect("reaches the fake");
        assert_eq!(reply.status().as_u16(), 401, "{header}");
        let body: serde_json::Value = reply.json().await.expect("json");
        assert_schema("errors.json", &body);
    }
}

#[tokio::test]
async fn every_route_answers_with_and_without_its_trailing_slash_and_never_redirects() {
    let api = Api::start().await;
    for path in [
        "/api",
        "/api/",
        "/api/links",
        "/api/links/",
        "/api/institutions",
        "/api/institutions/",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
    }
    // A POST without the slash is served as a POST (a redirect would turn it into a GET).
    let reply = api
        .post(
            "/api/links",
            json!({"institution": "inss_br_employment", "username": "52998224725", "password": "mock:no-mfa"}),
        )
        .await;
    reply.expect(201, "link.json");
    let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
    api.get(&format!("/api/links/{id}"))
        .await
        .expect(200, "link.json");
    api.get(&format!("/api/links/{id}/"))
        .await
        .expect(200, "link.json");
}

#[tokio::test]
async fn unknown_routes_are_a_404_array() {
    let api = Api::start().await;
    for path in [
        "/nope",
        "/api/nope/",
        "/api/links/x/y/z/",
        "/",
        "/api/links/%FF%FE/",
        "/api/institutions/%C0/",
    ] {
        api.get(path)
            .await
            .expect_error(404, NOT_FOUND.0, NOT_FOUND.1);
    }
}

#[tokio::test]
async fn wrong_methods_are_a_405_array() {
    let api = Api::start().await;
    api.raw(Method::DELETE, "/api/links/", &[], vec![])
        .await
        .expect_error(405, "method_not_allowed", "Method \"DELETE\" not allowed.");
    api.raw(Method::PUT, "/api/institutions", &[], vec![])
        .await
        .expect_error(405, "method_not_allowed", "Method \"PUT\" not allowed.");
}

#[tokio::test]
async fn malformed_json_is_a_400_parse_error_and_stores_nothing() {
    let api = Api::start().await;
    let reply = api
        .raw(
            Method::POST,
            "/api/links/",
            &[("Content-Type", "application/json")],
            b"{\"institution\": ".to_vec(),
        )
        .await;
    reply.expect(400, "errors.json");
    assert_eq!(reply.body[0]["code"], "parse_error");
    assert!(
        reply.body[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("JSON parse error - ")),
        "{}",
        reply.text
    );
    let list = api.get("/api/links/").await;
    assert_eq!(list.expect(200, "links_page.json")["count"], 0);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_like_drf_does() {
    let api = Api::start().await;
    let reply = api
        .raw(
            Method::POST,
            "/api/links/",
            &[("Content-Type", "application/json")],
            b"[1, 2]".to_vec(),
        )
        .await;
    reply.expect_errors(
        400,
        &[(
            "invalid",
            "Invalid data. Expected a dictionary, but got list.",
            Some("non_field_errors"),
        )],
    );
}

#[tokio::test]
async fn a_body_in_another_media_type_is_a_415_array() {
    let api = Api::start().await;
    let reply = api
        .raw(
            Method::POST,
            "/api/links/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"institution=inss_br_employment".to_vec(),
        )
        .await;
    reply.expect_error(
        415,
        "unsupported_media_type",
        "Unsupported media type \"application/x-www-form-urlencoded\" in request.",
    );
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_a_413_array() {
    let api = Api::start().await;
    let mut big = b"{\"institution\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend(b"\"}");
    let reply = api
        .raw(
            Method::POST,
            "/api/links/",
            &[("Content-Type", "application/json")],
            big,
        )
        .await;
    reply.expect_error(
        413,
        "request_too_large",
        "The request body exceeds the limit of 1048576 bytes.",
    );
}

#[tokio::test]
async fn an_empty_json_body_on_get_and_delete_is_fine_as_the_node_sdk_sends_it() {
    let api = Api::start().await;
    let json_header = [("Content-Type", "application/json")];
    api.raw(Method::GET, "/api/links/", &json_header, vec![])
        .await
        .expect(200, "links_page.json");
    let link = api.register("mock:no-mfa").await;
    let id = link.body["id"].as_str().unwrap_or_default().to_owned();
    let reply = api
        .raw(
            Method::DELETE,
            &format!("/api/links/{id}/"),
            &json_header,
            vec![],
        )
        .await;
    assert_eq!(reply.status, 204);
    assert!(reply.text.is_empty());
}

#[tokio::test]
async fn every_request_gets_its_own_32_hex_request_id() {
    let api = Api::start().await;
    let a = api.get("/api/nope/").await;
    let b = api.get("/api/nope/").await;
    let id = |r: &crate::support::Reply| {
        r.body[0]["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_ne!(id(&a), id(&b));
    assert_eq!(id(&a).len(), 32);
    assert_eq!(
        a.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
}

#[tokio::test]
async fn another_tenants_links_answer_404_and_never_show_in_lists() {
    let api = Api::start_with(Api::two_tenants()).await;
    let link = api.valid_link().await;
    let id = link["id"].as_str().unwrap_or_default();
    let other = api.with_auth(Some(("other", "other-password")));
    other
        .get(&format!("/api/links/{id}/"))
        .await
        .expect_error(404, NOT_FOUND.0, NOT_FOUND.1);
    let list = other.get("/api/links/").await;
    assert_eq!(list.expect(200, "links_page.json")["count"], 0);
    other
        .send(Method::DELETE, &format!("/api/links/{id}/"), None)
        .await
        .expect_error(404, NOT_FOUND.0, NOT_FOUND.1);
    other
        .send(Method::POST, &format!("/api/links/{id}/refresh/"), None)
        .await
        .expect_error(404, NOT_FOUND.0, NOT_FOUND.1);
    // Still there for its owner.
    api.get(&format!("/api/links/{id}/"))
        .await
        .expect(200, "link.json");
}
