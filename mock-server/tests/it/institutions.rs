//! `/api/institutions/`: the INSS record, its filters and detail.

use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn the_catalogue_lists_inss_with_its_resources_and_form_fields() {
    let api = Api::start().await;
    let reply = api.get("/api/institutions/").await;
    let page = reply.expect(200, "institutions_page.json");
    assert_eq!(page["count"], 1);
    let inss = &page["results"][0];
    assert_eq!(inss["name"], "inss_br_employment");
    assert_eq!(inss["display_name"], "INSS");
    assert_eq!(inss["type"], "employment");
    assert_eq!(inss["country_codes"], json!(["BR"]));
    assert_eq!(inss["resources"], json!(["EMPLOYMENTS", "OWNERS"]));
    assert_eq!(inss["integration_type"], "credentials");
    assert_eq!(inss["status"], "healthy");
    // The default MFA mode asks for tokens, and the record says so.
    assert_eq!(inss["features"][0]["name"], "token_required");
    let names: Vec<&str> = inss["form_fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["username", "password"]);
}

#[tokio::test]
async fn institution_filters_narrow_the_catalogue() {
    let api = Api::start().await;
    let count =
        |reply: crate::support::Reply| reply.expect(200, "institutions_page.json")["count"].clone();
    assert_eq!(
        count(api.get("/api/institutions/?name=inss_br_employment").await),
        1
    );
    assert_eq!(
        count(
            api.get("/api/institutions/?name__in=erebor_br_retail,inss_br_employment")
                .await
        ),
        1
    );
    assert_eq!(
        count(
            api.get("/api/institutions/?country_code=BR&type=employment&status=healthy")
                .await
        ),
        1
    );
    assert_eq!(
        count(api.get("/api/institutions/?country_code=MX").await),
        0
    );
    assert_eq!(count(api.get("/api/institutions/?type=bank").await), 0);
    assert_eq!(
        count(api.get("/api/institutions/?display_name=ins").await),
        1
    );
    api.get("/api/institutions/?type=spaceship")
        .await
        .expect_errors(
            400,
            &[(
                "invalid_choice",
                "Select a valid choice. spaceship is not one of the available choices.",
                Some("type"),
            )],
        );
}

#[tokio::test]
async fn an_institution_is_found_by_its_integer_id_only() {
    let api = Api::start().await;
    let list = api.get("/api/institutions/").await;
    let id = list.body["results"][0]["id"].clone();
    let detail = api.get(&format!("/api/institutions/{id}/")).await;
    assert_eq!(
        detail.expect(200, "institution.json")["name"],
        "inss_br_employment"
    );
    for bad in ["inss_br_employment", "999999", "-1"] {
        api.get(&format!("/api/institutions/{bad}/"))
            .await
            .expect_error(404, "not_found", "Not found");
    }
}
