//! Owners and Brazilian employments over HTTP: lists, details, deletes, retrieves, the
//! unconfirmed/deleted link rules, determinism across re-links, and fixture overrides.

use mock_server::{Config, MfaMode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, CPF_DIGITS, id_of};

fn no_mfa() -> Config {
    Config {
        mfa: MfaMode::Never,
        ..Config::default()
    }
}

fn repo_fixtures() -> Config {
    Config {
        mfa: MfaMode::Never,
        fixtures: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures").into()),
        ..Config::default()
    }
}

async fn link_for(api: &Api, cpf: &str, password: &str) -> Value {
    let reply = api
        .post(
            "/api/links/",
            json!({"institution": "inss_br_employment", "username": cpf, "password": password}),
        )
        .await;
    reply.expect(201, "link.json").clone()
}

#[tokio::test]
async fn a_completed_link_lists_its_owner_and_employments() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    let page = owners.expect(200, "owners_page.json");
    assert_eq!(page["count"], 1);
    let owner = &page["results"][0];
    assert_eq!(owner["link"], link["id"]);
    assert_eq!(
        owner["document_id"],
        json!({"document_type": "CPF", "document_number": CPF_DIGITS})
    );
    let detail = api.get(&format!("/api/owners/{}/", id_of(owner))).await;
    assert_eq!(detail.expect(200, "owner.json"), owner);

    let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
    let page = employments.expect(200, "employments_page.json");
    let results = page["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(page["count"], results.len());
    for e in &results {
        assert_eq!(e["link"], link["id"]);
        let detail = api.get(&format!("/api/br/employments/{}/", id_of(e))).await;
        assert_eq!(detail.expect(200, "employment.json"), e);
    }
}

#[tokio::test]
async fn the_same_cpf_gets_the_same_data_after_a_reset_and_a_new_link() {
    let api = Api::start_with(no_mfa()).await;
    let strip = |page: &Value| -> Vec<Value> {
        page["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mut r = r.clone();
                for key in ["id", "link", "created_at", "collected_at"] {
                    r.as_object_mut().map(|o| o.remove(key));
                }
                r
            })
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..2 {
        let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
        let id = id_of(&link);
        let owners = api.get(&format!("/api/owners/?link={id}")).await;
        let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
        seen.push((
            strip(owners.expect(200, "owners_page.json")),
            strip(employments.expect(200, "employments_page.json")),
        ));
        assert_eq!(api.post("/_mock/reset", json!({})).await.status, 204);
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn after_a_reset_the_unfiltered_owners_list_shows_only_what_came_after() {
    let api = Api::start_with(no_mfa()).await;
    link_for(&api, CPF_DIGITS, "a-good-password").await;
    let before = api.get("/api/owners/").await;
    let before = before.expect(200, "owners_page.json");
    assert_eq!(
        before["results"][0]["document_id"]["document_number"],
        CPF_DIGITS
    );
    assert_eq!(api.post("/_mock/reset", json!({})).await.status, 204);
    // As many changes as before the reset: a version counter that restarted would match the
    // body rendered before it.
    link_for(&api, "11144477735", "a-good-password").await;
    let after = api.get("/api/owners/").await;
    let after = after.expect(200, "owners_page.json");
    assert_eq!(after["count"], 1, "{after}");
    assert_eq!(
        after["results"][0]["document_id"]["document_number"],
        "11144477735"
    );
}

#[tokio::test]
async fn a_repeated_data_read_gets_the_same_bytes_and_is_journaled_each_time() {
    let api = Api::start().await;
    let id = id_of(&api.valid_link().await);
    let path = format!("/api/br/employments/?link={id}");
    let first = api.get(&path).await;
    let second = api.get(&path).await;
    first.expect(200, "employments_page.json");
    second.expect(200, "employments_page.json");
    assert_eq!(first.text, second.text);
    assert_eq!(second.headers["content-type"], "application/json");
    assert_eq!(
        first.headers["content-length"],
        second.headers["content-length"]
    );
    let journal = api.get("/_mock/requests").await;
    let journal = journal.expect(200, "mock_requests.json");
    let reads: Vec<&Value> = journal["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["path"] == "/api/br/employments/" && e["query"] == format!("link={id}"))
        .collect();
    assert_eq!(reads.len(), 2, "{journal}");
    assert!(
        reads
            .iter()
            .all(|e| e["status"] == 200 && e["method"] == "GET")
    );
    assert_ne!(reads[0]["request_id"], reads[1]["request_id"]);
}

#[tokio::test]
async fn listing_employments_needs_a_link() {
    let api = Api::start().await;
    api.get("/api/br/employments/").await.expect_errors(
        400,
        &[("required", "This field is required.", Some("link"))],
    );
    api.get("/api/br/employments/?link=nope")
        .await
        .expect_errors(400, &[("invalid", "Enter a valid UUID.", Some("link"))]);
}

#[tokio::test]
async fn data_of_an_unconfirmed_link_is_refused() {
    let api = Api::start().await;
    let link = api.register("a-good-password").await.body[0]["link"].clone();
    let id = link.as_str().unwrap_or_default();
    let unconfirmed = (
        "unconfirmed_link",
        "The link creation has not been completed yet",
    );
    for path in [
        format!("/api/owners/?link={id}"),
        format!("/api/br/employments/?link={id}"),
    ] {
        api.get(&path)
            .await
            .expect_error(400, unconfirmed.0, unconfirmed.1);
    }
    api.post("/api/owners/", json!({"link": id}))
        .await
        .expect_error(400, unconfirmed.0, unconfirmed.1);
    api.post("/api/br/employments/", json!({"link": id}))
        .await
        .expect_error(400, unconfirmed.0, unconfirmed.1);
}

#[tokio::test]
async fn deleting_a_link_deletes_its_data() {
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
    let id = id_of(&link);
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    let owner_id = id_of(&owners.body["results"][0]);
    assert_eq!(api.delete(&format!("/api/links/{id}/")).await.status, 204);
    api.get(&format!("/api/owners/{owner_id}/"))
        .await
        .expect_error(404, "not_found", "Not found");
    let after = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(after.expect(200, "owners_page.json")["count"], 0);
    let after = api.get(&format!("/api/br/employments/?link={id}")).await;
    assert_eq!(after.expect(200, "employments_page.json")["count"], 0);
}

#[tokio::test]
async fn owners_and_employments_can_be_deleted_one_by_one() {
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
    let id = id_of(&link);
    let owner_id = id_of(&api.get(&format!("/api/owners/?link={id}")).await.body["results"][0]);
    assert_eq!(
        api.delete(&format!("/api/owners/{owner_id}/")).await.status,
        204
    );
    api.delete(&format!("/api/owners/{owner_id}/"))
        .await
        .expect_error(404, "not_found", "Not found");
    let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
    let count = employments.body["count"].as_u64().unwrap_or(0);
    assert!(count > 0, "CPF_DIGITS has employments at seed 1");
    let first = id_of(&employments.body["results"][0]);
    assert_eq!(
        api.delete(&format!("/api/br/employments/{first}/"))
            .await
            .status,
        204
    );
    let after = api.get(&format!("/api/br/employments/?link={id}")).await;
    assert_eq!(
        after.expect(200, "employments_page.json")["count"],
        count - 1
    );
}

#[tokio::test]
async fn employment_filters_and_pagination_follow_the_spec() {
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
    let id = id_of(&link);
    let all = api.get(&format!("/api/br/employments/?link={id}")).await;
    let all = all.expect(200, "employments_page.json")["results"].clone();
    let results = all.as_array().cloned().unwrap_or_default();
    let last_start = results
        .last()
        .and_then(|e| e["start_date"].as_str())
        .unwrap_or_default()
        .to_owned();
    let recent = api
        .get(&format!(
            "/api/br/employments/?link={id}&start_date__gte={last_start}"
        ))
        .await;
    assert_eq!(recent.expect(200, "employments_page.json")["count"], 1);
    let open = api
        .get(&format!(
            "/api/br/employments/?link={id}&end_date__lte=2100-01-01"
        ))
        .await;
    let closed = results.iter().filter(|e| !e["end_date"].is_null()).count();
    assert_eq!(open.expect(200, "employments_page.json")["count"], closed);
    let paged = api
        .get(&format!(
            "/api/br/employments/?link={id}&page_size=1&fields=id,start_date"
        ))
        .await;
    let page = paged.expect(200, "page.json");
    assert_eq!(
        page["results"][0],
        json!({"id": results[0]["id"], "start_date": results[0]["start_date"]})
    );
    assert_eq!(page["count"], results.len());
    api.get(&format!(
        "/api/br/employments/?link={id}&start_date=someday"
    ))
    .await
    .expect_errors(
        400,
        &[("invalid", "Enter a valid date.", Some("start_date"))],
    );
}

#[tokio::test]
async fn retrieving_owners_asks_for_a_token_then_resumes() {
    let api = Api::start().await;
    let link = api.valid_link().await;
    let id = id_of(&link);
    let challenge = api.post("/api/owners/", json!({"link": id})).await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    assert_eq!(element["link"], link["id"]);
    let resumed = api
        .patch(
            "/api/owners/",
            json!({"link": id, "session": element["session"], "token": "123456"}),
        )
        .await;
    let owners = resumed.expect(201, "owners.json");
    assert_eq!(owners.as_array().map(Vec::len), Some(1));
    // With the token in the body there is no second step.
    let direct = api
        .post(
            "/api/owners/",
            json!({"link": id, "token": "123456", "save_data": false}),
        )
        .await;
    direct.expect(200, "owners.json");
    api.post("/api/owners/", json!({"link": id, "token": "000000"}))
        .await
        .expect_error(
            400,
            "login_error",
            "Invalid credentials provided to login to the institution",
        );
}

#[tokio::test]
async fn retrieving_owners_stores_them_unless_save_data_is_false() {
    let api = Api::start_with(no_mfa()).await;
    let body = json!({"institution": "inss_br_employment", "username": CPF_DIGITS,
                      "password": "a-good-password", "fetch_resources": ["EMPLOYMENTS"]});
    let link = api
        .post("/api/links/", body)
        .await
        .expect(201, "link.json")
        .clone();
    let id = id_of(&link);
    let empty = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(
        empty.expect(200, "owners_page.json")["count"],
        0,
        "OWNERS was not fetched"
    );
    let not_saved = api
        .post("/api/owners/", json!({"link": id, "save_data": false}))
        .await;
    not_saved.expect(200, "owners.json");
    let still = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(still.expect(200, "owners_page.json")["count"], 0);
    let saved = api.post("/api/owners/", json!({"link": id})).await;
    let owners = saved.expect(201, "owners.json").clone();
    let listed = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(listed.expect(200, "owners_page.json")["results"], owners);
    api.post(
        "/api/owners/",
        json!({"link": "0d3ffb69-f83b-456e-ad8e-208d0998d71d"}),
    )
    .await
    .expect_error(404, "not_found", "Not found");
    api.post("/api/owners/", json!({})).await.expect_errors(
        400,
        &[("required", "This field is required.", Some("link"))],
    );
}

#[tokio::test]
async fn retrieving_employments_validates_the_period() {
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
    let id = id_of(&link);
    let all = api.post("/api/br/employments/", json!({"link": id})).await;
    let all = all.expect(201, "employments.json").clone();
    let count = all.as_array().map_or(0, Vec::len);
    assert!(count > 0);
    let not_saved = api
        .post(
            "/api/br/employments/",
            json!({"link": id, "date_from": "1990-01-01", "date_to": "1990-12-31", "save_data": false}),
        )
        .await;
    assert_eq!(not_saved.expect(200, "employments.json"), &json!([]));
    let accepted = api
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
    accepted.expect(202, "request_accepted.json");
    api.post(
        "/api/br/employments/",
        json!({"link": id, "date_from": "2024/01/01", "date_to": "2099-01-01"}),
    )
    .await
    .expect_errors(
        400,
        &[
            (
                "invalid",
                "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
                Some("date_from"),
            ),
            (
                "invalid",
                "date_to cannot be in the future.",
                Some("date_to"),
            ),
        ],
    );
    api.post(
        "/api/br/employments/",
        json!({"link": id, "date_from": "2024-02-01", "date_to": "2024-01-01"}),
    )
    .await
    .expect_errors(
        400,
        &[(
            "invalid",
            "date_from cannot be after date_to.",
            Some("date_from"),
        )],
    );
}

#[tokio::test]
async fn the_no_data_scenario_has_an_owner_and_no_employments() {
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "mock:no-data").await;
    let id = id_of(&link);
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    assert_eq!(owners.expect(200, "owners_page.json")["count"], 1);
    let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
    assert_eq!(employments.expect(200, "employments_page.json")["count"], 0);
}

#[tokio::test]
async fn fixture_files_override_the_generated_data_and_name_scenarios() {
    let api = Api::start_with(repo_fixtures()).await;
    let link = link_for(&api, "444.555.666-19", "a-good-password").await;
    let id = id_of(&link);
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    let owner = &owners.expect(200, "owners_page.json")["results"][0];
    assert_eq!(owner["display_name"], "Camila Rocha Figueiredo");
    assert_eq!(owner["email"], "camila.figueiredo@example.com.br");
    assert!(
        owner["address"].is_string(),
        "fields not in the file keep generated values"
    );
    let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
    let page = employments.expect(200, "employments_page.json");
    assert_eq!(page["count"], 1);
    assert_eq!(
        page["results"][0]["employer_data"]["code"],
        "7QX4MB2N000167"
    );

    // 987.654.321-00 is locked whatever the password.
    api.post(
        "/api/links/",
        json!({"institution": "inss_br_employment", "username": "98765432100", "password": "a-good-password"}),
    )
    .await
    .expect_error(
        400,
        "login_error",
        "The user account is locked, user needs to contact the institution to unlock it",
    );
    let nodata = link_for(&api, "22233344405", "a-good-password").await;
    let employments = api
        .get(&format!("/api/br/employments/?link={}", id_of(&nodata)))
        .await;
    assert_eq!(employments.expect(200, "employments_page.json")["count"], 0);
}

#[tokio::test]
async fn a_bad_fixture_file_stops_start_up_naming_the_file_and_path() {
    let dir = std::env::temp_dir().join(format!("belvo-mock-bad-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    std::fs::write(dir.join("52998224725.json"), r#"{"owner": {"email": 42}}"#).ok();
    let error = mock_server::MockServer::start_with(Config {
        fixtures: Some(dir.clone()),
        ..Config::default()
    })
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(error.contains("52998224725.json"), "{error}");
    assert!(error.contains("owner.email"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn bodies_are_checked_against_belvos_own_openapi_schemas() {
    use crate::support::assert_spec;
    let api = Api::start_with(no_mfa()).await;
    let link = link_for(&api, CPF_DIGITS, "a-good-password").await;
    let id = id_of(&link);
    let employments = api.get(&format!("/api/br/employments/?link={id}")).await;
    let owners = api.get(&format!("/api/owners/?link={id}")).await;
    // The spec documents these operations, so the check really runs ...
    assert!(assert_spec(
        "GET",
        "/api/br/employments/",
        200,
        &employments.body
    ));
    assert!(assert_spec("GET", "/api/owners/", 200, &owners.body));
    assert!(assert_spec("GET", &format!("/api/links/{id}/"), 200, &link));
    // ... and it can fail: EmploymentBrazil allows no extra key.
    let mut tampered = employments.body.clone();
    tampered["results"][0]["employer_cnpj"] = json!("11222333000181");
    let outcome = std::panic::catch_unwind(|| {
        assert_spec("GET", "/api/br/employments/", 200, &tampered);
    });
    assert!(outcome.is_err(), "an extra key fails Belvo's schema");
}
