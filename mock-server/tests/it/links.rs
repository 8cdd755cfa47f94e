//! Registering links: the 428/201 answers, the MFA resume, scenarios and every validation rule.
//! Lists, detail, modify, new credentials, delete and refresh are `link_management.rs`.

use std::time::Duration;

use mock_server::{Config, MfaMode};
use serde_json::{Value, json};

use crate::support::{Api, CPF, CPF_DIGITS, id_of};

const SESSION_EXPIRED: &str = "The session you are trying to resume has expired, please start again from register/retrieve endpoint";
const INVALID_CREDENTIALS: &str = "Invalid credentials provided to login to the institution";

#[tokio::test]
async fn registering_answers_428_token_required_and_keeps_the_link_unconfirmed() {
    let api = Api::start().await;
    let reply = api.register("a-good-password").await;
    let body = reply.expect(428, "token_required.json");
    let element = &body[0];
    assert_eq!(element["code"], "token_required");
    assert_eq!(
        element["message"],
        "A MFA token is required by the institution to login"
    );
    assert_eq!(element["expiry"], 120);
    // Belvo's INSS link guide (belvo-api.md §11.1), exactly.
    assert_eq!(
        element["token_generation_data"],
        json!({
            "instructions": "Use your app or device to generate a token",
            "type": "inputless",
            "value": null,
            "expects_user_input": true
        })
    );
    let link = api
        .get(&format!(
            "/api/links/{}/",
            element["link"].as_str().unwrap_or_default()
        ))
        .await;
    let link = link.expect(200, "link.json");
    assert_eq!(link["status"], "unconfirmed");
    assert_eq!(link["last_accessed_at"], Value::Null);
}

#[tokio::test]
async fn the_mfa_token_completes_the_link_which_is_then_valid() {
    let api = Api::start().await;
    let challenge = api.register("a-good-password").await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    let reply = api
        .patch(
            "/api/links/",
            json!({"link": element["link"], "session": element["session"], "token": "123456", "save_data": true}),
        )
        .await;
    let link = reply.expect(200, "link.json");
    assert_eq!(link["id"], element["link"]);
    assert_eq!(link["status"], "valid");
    assert_eq!(link["institution"], "inss_br_employment");
    assert_eq!(link["access_mode"], "recurrent");
    assert_eq!(link["refresh_rate"], "7d");
    assert_eq!(link["credentials_storage"], "store");
    assert_eq!(link["stale_in"], "365d");
    assert_eq!(link["fetch_resources"], json!(["EMPLOYMENTS", "OWNERS"]));
    assert_eq!(link["external_id"], Value::Null);
    assert!(link["last_accessed_at"].is_string());
    let stored = api.get(&format!("/api/links/{}/", id_of(link))).await;
    assert_eq!(stored.expect(200, "link.json"), link);
    // The session is used up.
    api.patch(
        "/api/links/",
        json!({"link": element["link"], "session": element["session"], "token": "123456"}),
    )
    .await
    .expect_error(400, "session_expired", SESSION_EXPIRED);
}

#[tokio::test]
async fn token_000000_is_refused_and_the_session_stays_usable() {
    let api = Api::start().await;
    let element = api.register("a-good-password").await.body[0].clone();
    let resume = |token: &str| json!({"link": element["link"], "session": element["session"], "token": token});
    api.patch("/api/links/", resume("000000"))
        .await
        .expect_error(400, "login_error", INVALID_CREDENTIALS);
    api.patch("/api/links/", resume("654321"))
        .await
        .expect(200, "link.json");
}

#[tokio::test]
async fn a_session_expires_after_its_expiry_on_the_virtual_clock() {
    let api = Api::start().await;
    let element = api.register("a-good-password").await.body[0].clone();
    api.server.advance_clock(Duration::from_secs(121));
    api.patch(
        "/api/links/",
        json!({"link": element["link"], "session": element["session"], "token": "123456"}),
    )
    .await
    .expect_error(400, "session_expired", SESSION_EXPIRED);
}

#[tokio::test]
async fn resuming_with_an_unknown_link_or_a_foreign_session_fails_like_belvo() {
    let api = Api::start().await;
    let first = api.register("a-good-password").await.body[0].clone();
    let second = api.register("a-good-password").await.body[0].clone();
    api.patch(
        "/api/links/",
        json!({"link": "7f1f6ac4-2c3a-4a67-8d3c-6a1e0b6f1c11", "session": first["session"], "token": "1"}),
    )
    .await
    .expect_error(404, "not_found", "Not found");
    api.patch(
        "/api/links/",
        json!({"link": first["link"], "session": second["session"], "token": "1"}),
    )
    .await
    .expect_error(400, "session_expired", SESSION_EXPIRED);
    api.patch(
        "/api/links/",
        json!({"link": first["link"], "session": "0123456789abcdef0123456789abcdef", "token": "1"}),
    )
    .await
    .expect_error(400, "session_expired", SESSION_EXPIRED);
}

#[tokio::test]
async fn resuming_without_a_token_asks_again_on_the_same_session() {
    let api = Api::start().await;
    let first = api.register("a-good-password").await.body[0].clone();
    let again = api
        .patch(
            "/api/links/",
            json!({"link": first["link"], "session": first["session"]}),
        )
        .await;
    let element = &again.expect(428, "token_required.json")[0];
    assert_eq!(element["session"], first["session"]);
    assert_eq!(element["link"], first["link"]);
}

#[tokio::test]
async fn a_resume_body_missing_fields_names_each_field() {
    let api = Api::start().await;
    api.patch("/api/links/", json!({})).await.expect_errors(
        400,
        &[
            ("required", "This field is required.", Some("session")),
            ("required", "This field is required.", Some("link")),
        ],
    );
    api.patch("/api/links/", json!({"link": "nope", "session": "abc"}))
        .await
        .expect_errors(400, &[("invalid", "Must be a valid UUID.", Some("link"))]);
}

#[tokio::test]
async fn without_mfa_registering_answers_201_with_a_valid_link() {
    let api = Api::start_with(Config {
        mfa: MfaMode::Never,
        ..Config::default()
    })
    .await;
    let reply = api.register("a-good-password").await;
    assert_eq!(reply.expect(201, "link.json")["status"], "valid");
    let institution = api.get("/api/institutions/").await;
    assert_eq!(
        institution.expect(200, "institutions_page.json")["results"][0]["features"],
        json!([])
    );
}

#[tokio::test]
async fn the_no_mfa_scenario_answers_201_even_when_mfa_is_on() {
    let api = Api::start().await;
    let reply = api.register("mock:no-mfa").await;
    let link = reply.expect(201, "link.json");
    assert_eq!(link["status"], "valid");
}

#[tokio::test]
async fn scenario_passwords_produce_belvos_exact_errors_and_store_nothing() {
    let api = Api::start().await;
    let cases: &[(&str, u16, &str, &str)] = &[
        ("mock:invalid", 400, "login_error", INVALID_CREDENTIALS),
        (
            "mock:locked",
            400,
            "login_error",
            "The user account is locked, user needs to contact the institution to unlock it",
        ),
        (
            "mock:forbidden",
            400,
            "login_error",
            "The user account access was forbidden by the institution",
        ),
        (
            "mock:institution-down",
            400,
            "institution_down",
            "The financial institution is down, try again later",
        ),
        (
            "mock:institution-unavailable",
            400,
            "institution_unavailable",
            "The financial institution is unavailable",
        ),
        (
            "mock:too-many-sessions",
            400,
            "too_many_sessions",
            "Impossible to login, a session is already opened with the institution for these credentials",
        ),
        (
            "mock:timeout",
            408,
            "request_timeout",
            "The request timed out, you can retry asking for less data by changing your query parameters",
        ),
        (
            "mock:unexpected",
            500,
            "unexpected_error",
            "Belvo is unable to process the request due to an internal system issue or to an unsupported response from an institution",
        ),
    ];
    for (password, status, code, message) in cases {
        api.register(password)
            .await
            .expect_error(*status, code, message);
    }
    let list = api.get("/api/links/").await;
    assert_eq!(list.expect(200, "links_page.json")["count"], 0);
    // mock:no-data logs in normally (its data is empty).
    api.register("mock:no-data")
        .await
        .expect(428, "token_required.json");
}

#[tokio::test]
async fn every_bad_field_of_a_register_body_gets_its_own_element() {
    let api = Api::start().await;
    api.post("/api/links/", json!({})).await.expect_errors(
        400,
        &[
            ("required", "This field is required.", Some("institution")),
            ("required", "This field is required.", Some("username")),
            ("required", "This field is required.", Some("password")),
        ],
    );
    api.post(
        "/api/links/",
        json!({
            "institution": null, "username": "", "password": "x".repeat(71),
            "access_mode": "forever", "fetch_resources": "OWNERS", "stale_in": "1y",
            "credentials_storage": "sometimes", "external_id": "ab"
        }),
    )
    .await
    .expect_errors(
        400,
        &[
            ("null", "This field may not be null.", Some("institution")),
            ("blank", "This field may not be blank.", Some("username")),
            (
                "max_length",
                "Ensure this field has no more than 70 characters.",
                Some("password"),
            ),
            (
                "min_length",
                "Ensure this field has at least 3 characters.",
                Some("external_id"),
            ),
            (
                "invalid_choice",
                "\"forever\" is not a valid choice.",
                Some("access_mode"),
            ),
            (
                "not_a_list",
                "Expected a list of items but got type \"str\".",
                Some("fetch_resources"),
            ),
            (
                "invalid",
                "Entered value is not valid.",
                Some("credentials_storage"),
            ),
            ("invalid", "Entered value is not valid.", Some("stale_in")),
        ],
    );
}

#[tokio::test]
async fn an_unknown_institution_and_a_bad_cpf_are_field_errors() {
    let api = Api::start().await;
    api.post(
        "/api/links/",
        json!({"institution": "narnia", "username": "123.456.789-00", "password": "12345678"}),
    )
    .await
    .expect_errors(
        400,
        &[
            (
                "does_not_exist",
                "Object with name=narnia does not exist.",
                Some("institution"),
            ),
            ("invalid", "Entered value is not valid.", Some("username")),
        ],
    );
}

#[tokio::test]
async fn credential_storage_and_resource_rules_answer_belvos_codes() {
    let api = Api::start().await;
    let with = |extra: Value| {
        let mut body =
            json!({"institution": "inss_br_employment", "username": CPF, "password": "12345678"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    api.post(
        "/api/links/",
        with(json!({"credentials_storage": "nostore"})),
    )
    .await
    .expect_error(
        400,
        "invalid_credentials_storage",
        "Recurrent links must store the credentials",
    );
    api.post(
        "/api/links/",
        with(json!({"access_mode": "single", "credentials_storage": "nostore"})),
    )
    .await
    .expect_error(
        400,
        "invalid_fetch_resources",
        "Single links without stored credentials must fetch resources",
    );
    api.post(
        "/api/links/",
        with(json!({"fetch_resources": ["ACCOUNTS"]})),
    )
    .await
    .expect_errors(
        400,
        &[(
            "invalid",
            "The institution only supports the following resources: EMPLOYMENTS, OWNERS",
            Some("resources"),
        )],
    );
    api.post("/api/links/", with(json!({"fetch_resources": ["NOPE"]})))
        .await
        .expect_errors(
            400,
            &[(
                "invalid_choice",
                "\"NOPE\" is not a valid choice.",
                Some("fetch_resources"),
            )],
        );
    // What the SDKs add is accepted, and the options are kept.
    let reply = api
        .post(
            "/api/links/",
            with(json!({
                "save_data": true, "username_type": "001", "token": null, "access_mode": "single",
                "credentials_storage": "30d", "stale_in": "90d", "fetch_resources": ["OWNERS"],
                "external_id": "customer-42", "password": "mock:no-mfa"
            })),
        )
        .await;
    let link = reply.expect(201, "link.json");
    assert_eq!(link["access_mode"], "single");
    assert_eq!(link["refresh_rate"], Value::Null);
    assert_eq!(link["credentials_storage"], "30d");
    assert_eq!(link["stale_in"], "90d");
    assert_eq!(link["fetch_resources"], json!(["OWNERS"]));
    assert_eq!(link["external_id"], "customer-42");
}

#[tokio::test]
async fn the_same_cpf_always_has_the_same_institution_user_id() {
    let api = Api::start().await;
    let a = api.register("mock:no-mfa").await.body.clone();
    let b = api
        .post(
            "/api/links/",
            json!({"institution": "inss_br_employment", "username": CPF_DIGITS, "password": "mock:no-mfa"}),
        )
        .await
        .body
        .clone();
    assert_eq!(a["institution_user_id"], b["institution_user_id"]);
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["created_by"], b["created_by"]);
}

/// Past the per-key-pair cap on unconfirmed links the oldest is forgotten with its session, so
/// a flood of abandoned registrations cannot grow memory without bound; the newest always
/// gets its 428, and links already confirmed are never touched.
#[tokio::test]
async fn past_the_unconfirmed_cap_the_oldest_registration_is_forgotten() {
    let api = Api::start_with(Config {
        max_unconfirmed: 2,
        ..Config::default()
    })
    .await;
    let valid = id_of(&api.valid_link().await);
    let first = api.register("a-good-password").await.body[0].clone();
    let second = api.register("a-good-password").await.body[0].clone();
    let third = api.register("a-good-password").await;
    third.expect(428, "token_required.json");
    let link = |c: &Value| c["link"].as_str().unwrap_or_default().to_owned();
    api.get(&format!("/api/links/{}/", link(&first)))
        .await
        .expect_error(404, "not_found", "Not found");
    api.patch(
        "/api/links/",
        json!({"link": first["link"], "session": first["session"], "token": "123456"}),
    )
    .await
    .expect_error(404, "not_found", "Not found");
    api.get(&format!("/api/links/{}/", link(&second)))
        .await
        .expect(200, "link.json");
    api.get(&format!("/api/links/{valid}/"))
        .await
        .expect(200, "link.json");
    assert_eq!(api.get("/api/links/").await.body["count"], 3);
}

/// Belvo's INSS link guide (belvo-api.md §11.1): its request example, then its PATCH
/// response's fields for a single link.
#[tokio::test]
async fn a_single_link_completed_as_in_the_inss_guide_has_the_guide_s_fields() {
    let api = Api::start().await;
    let challenge = api
        .post(
            "/api/links/",
            json!({
                "institution": "inss_br_employment", "username": "52998224725",
                "password": "a-good-password", "fetch_resources": ["EMPLOYMENTS", "OWNERS"],
                "access_mode": "single", "external_id": "user-3f2a"
            }),
        )
        .await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    assert_eq!(element["token_generation_data"]["type"], "inputless");
    let reply = api
        .patch(
            "/api/links/",
            json!({"link": element["link"], "session": element["session"], "token": "123456"}),
        )
        .await;
    let link = reply.expect(200, "link.json");
    assert_eq!(link["access_mode"], "single");
    assert_eq!(link["status"], "valid");
    assert_eq!(link["refresh_rate"], Value::Null);
    assert_eq!(link["credentials_storage"], "365d");
    assert_eq!(link["stale_in"], Value::Null);
    assert_eq!(link["fetch_resources"], json!(["EMPLOYMENTS", "OWNERS"]));
    assert_eq!(link["external_id"], "user-3f2a");
    assert_eq!(link["institution_user_id"].as_str().map(str::len), Some(44));
}

/// Spec 1.223: an `external_id` holding personal data is forced to `null` (belvo-api.md
/// §11.4); the fake's detection is in the README.
#[tokio::test]
async fn an_external_id_holding_personal_data_is_stored_and_returned_as_null() {
    let api = Api::start().await;
    for (external_id, kept) in [
        ("529.982.247-25", false),
        ("maria.silva@example.com.br", false),
        ("+55 11 91234-5678", false),
        ("11.222.333/0001-81", false),
        ("user-3f2a", true),
    ] {
        let challenge = api
            .post(
                "/api/links/",
                json!({
                    "institution": "inss_br_employment", "username": "52998224725",
                    "password": "a-good-password", "external_id": external_id
                }),
            )
            .await;
        let element = challenge.expect(428, "token_required.json")[0].clone();
        assert!(
            !challenge.text.contains(external_id),
            "never echoed: {}",
            challenge.text
        );
        let done = api
            .patch(
                "/api/links/",
                json!({"link": element["link"], "session": element["session"], "token": "1234"}),
            )
            .await;
        let link = done.expect(200, "link.json").clone();
        let expected = if kept {
            json!(external_id)
        } else {
            Value::Null
        };
        assert_eq!(link["external_id"], expected, "{external_id}");
        let stored = api.get(&format!("/api/links/{}/", id_of(&link))).await;
        assert_eq!(stored.expect(200, "link.json")["external_id"], expected);
    }
    let journal = api.get("/_mock/requests?page_size=1000").await;
    let text = journal.expect(200, "mock_requests.json").to_string();
    assert!(!text.contains("maria.silva") && !text.contains("529.982.247-25"));
}
