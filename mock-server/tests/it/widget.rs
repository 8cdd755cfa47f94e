//! `POST /api/token/`: widget access tokens as the SDKs and Belvo's guides ask for them, signed
//! HS512 with the server's secret, on the virtual clock, scoped to the key pair, kept in
//! `--data-dir` with the secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mock_server::Config;
use serde_json::{Value, json};

use crate::support::{Api, Reply};

const SECRET: &str = "widget-test-secret";

fn config() -> Config {
    Config {
        widget_secret: Some(SECRET.to_owned()),
        ..Api::two_tenants()
    }
}

/// The claims of a JWT whose HS512 signature `secret` made (the test fails otherwise).
fn claims(token: &str, secret: &[u8]) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS: {token}");
    let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    assert!(
        mac.verify_slice(&signature).is_ok(),
        "signed HS512 with the secret"
    );
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("base64url"))
            .expect("JSON header");
    assert_eq!(header, json!({"alg": "HS512", "typ": "JWT"}));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
        .expect("JSON claims")
}

/// The access token's claims of a 200 `POST /api/token/` (validated), signed with `SECRET`.
fn access_claims(reply: &Reply) -> Value {
    let body = reply.expect(200, "widget_token.json");
    claims(
        body["access"].as_str().unwrap_or_default(),
        SECRET.as_bytes(),
    )
}

/// What belvo-python's `WidgetToken.create()` sends (and belvo npm's, less the Basic header).
fn sdk_body(id: &str, password: &str) -> Value {
    json!({"id": id, "password": password, "scopes": "read_institutions,write_links"})
}

async fn token(api: &Api, body: Value, basic: bool) -> Reply {
    let (id, password) = api.server.secret_keys();
    let auth = basic.then_some((id, password));
    api.with_auth(auth)
        .send(reqwest::Method::POST, "/api/token/", Some(body))
        .await
}

fn virtual_now(clock: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap_or_default())
        .map(|t| t.timestamp())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_sdk_body_without_basic_auth_gets_an_access_and_a_refresh_token() {
    let api = Api::start_with(config()).await;
    let (id, password) = api.server.secret_keys();
    let (id, password) = (id.to_owned(), password.to_owned());
    let link = api.valid_link().await;
    let now = virtual_now(&api.get("/_mock/clock").await.body);

    let reply = token(&api, sdk_body(&id, &password), false).await;
    let body = reply.expect(200, "widget_token.json");
    let access = claims(
        body["access"].as_str().unwrap_or_default(),
        SECRET.as_bytes(),
    );
    let iat = access["iat"].as_i64().unwrap_or_default();
    assert!(
        (now..now + 5).contains(&iat),
        "issued now on the virtual clock: {access}"
    );
    let host = api.server.uri().trim_start_matches("http://").to_owned();
    let jti = access["jti"].as_str().unwrap_or_default().to_owned();
    assert!(
        jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()),
        "{jti}"
    );
    assert_eq!(
        access,
        json!({
            "token_type": "access",
            "exp": iat + 600,
            "iat": iat,
            "jti": jti,
            "user_id": link["created_by"],
            "scopes": ["read_institutions", "write_links"],
            "environment": "sandbox",
            "api_url": host,
            "credentials_storage": "store",
            "stale_in": "365d",
            "fetch_resources": ["EMPLOYMENTS", "OWNERS"],
            "iss": host,
        })
    );
    let refresh = claims(
        body["refresh"].as_str().unwrap_or_default(),
        SECRET.as_bytes(),
    );
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(refresh["exp"].as_i64(), Some(iat + 7_200 * 86_400));
    assert_ne!(refresh["jti"], access["jti"]);

    // Two requests, two tokens.
    let again = token(&api, sdk_body(&id, &password), false).await;
    let second = access_claims(&again);
    assert_ne!(second["jti"], access["jti"]);
}

#[tokio::test]
async fn the_employments_brazil_body_with_basic_auth_sets_what_the_token_says() {
    let api = Api::start_with(config()).await;
    let (id, password) = api.server.secret_keys();
    let body = json!({
        "id": id, "password": password,
        "scopes": "read_institutions,write_links",
        "stale_in": "300d", "credentials_storage": "30d",
        "fetch_resources": ["OWNERS"],
        "widget": {
            "callback_urls": {
                "success": "your_deeplink_here://success",
                "exit": "your_deeplink_here://exit",
                "event": "your_deeplink_here://error"
            },
            "branding": {
                "company_icon": "https://mysite.com/icon.svg",
                "company_logo": "https://mysite.com/logo.svg",
                "company_name": "ACME",
                "company_terms_url": "https://belvo.com/terms-service/"
            },
            "theme": []
        }
    });
    let reply = token(&api, body, true).await;
    let access = access_claims(&reply);
    assert_eq!(
        (
            &access["stale_in"],
            &access["credentials_storage"],
            &access["fetch_resources"]
        ),
        (&json!("300d"), &json!("30d"), &json!(["OWNERS"]))
    );
    assert!(access.get("link").is_none(), "no link claim: {access}");
}

#[tokio::test]
async fn bad_bodies_are_answered_with_every_bad_field_named() {
    let api = Api::start_with(config()).await;
    let (id, password) = api.server.secret_keys();
    let (id, password) = (id.to_owned(), password.to_owned());
    let required = "This field is required.";
    token(&api, json!({}), false).await.expect_errors(
        400,
        &[
            ("required", required, Some("id")),
            ("required", required, Some("password")),
            ("required", required, Some("scopes")),
        ],
    );
    token(
        &api,
        json!({
            "id": id, "password": password,
            "scopes": "read_institutions,read_everything",
            "stale_in": "forever",
            "fetch_resources": "EMPLOYMENTS",
            "link_id": 42,
            "widget": {"callback_urls": {"success": "app://ok", "exit": ""}, "branding": [], "theme": {}}
        }),
        true,
    )
    .await
    .expect_errors(
        400,
        &[
            (
                "invalid_choice",
                "\"read_everything\" is not a valid choice.",
                Some("scopes"),
            ),
            ("invalid", "Entered value is not valid.", Some("stale_in")),
            (
                "not_a_list",
                "Expected a list of items but got type \"str\".",
                Some("fetch_resources"),
            ),
            ("invalid", "Must be a valid UUID.", Some("link_id")),
            (
                "blank",
                "This field may not be blank.",
                Some("widget.callback_urls.exit"),
            ),
            ("required", required, Some("widget.callback_urls.event")),
            (
                "invalid",
                "Invalid data. Expected a dictionary, but got list.",
                Some("widget.branding"),
            ),
            (
                "not_a_list",
                "Expected a list of items but got type \"dict\".",
                Some("widget.theme"),
            ),
        ],
    );
    token(
        &api,
        json!({"id": id, "password": password, "scopes": "write_links", "fetch_resources": ["ACCOUNTS"]}),
        false,
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
    let not_json = api
        .raw(
            reqwest::Method::POST,
            "/api/token/",
            &[("content-type", "application/json")],
            b"[1, 2]".to_vec(),
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.text);
    not_json.expect(400, "errors.json");
}

#[tokio::test]
async fn credentials_that_are_no_key_pair_are_refused_whatever_the_basic_header_says() {
    let api = Api::start_with(config()).await;
    let (id, _) = api.server.secret_keys();
    let id = id.to_owned();
    for basic in [false, true] {
        token(&api, sdk_body(&id, "wrong-password"), basic)
            .await
            .expect_error(401, "authentication_failed", "Invalid Secret Keys");
    }
    // The body's keys are what count: another tenant's, with the default pair's header.
    let other = token(&api, sdk_body("other", "other-password"), true).await;
    other.expect(200, "widget_token.json");
}

#[tokio::test]
async fn an_update_mode_token_names_its_link_and_only_its_own_key_pairs_links() {
    let api = Api::start_with(config()).await;
    let (id, password) = api.server.secret_keys();
    let (id, password) = (id.to_owned(), password.to_owned());
    let link = api.valid_link().await;
    let link_id = link["id"].as_str().unwrap_or_default().to_owned();
    // What the update-mode guide sends: no widget, stale_in or fetch_resources.
    let body = json!({
        "id": id, "password": password,
        "link_id": link_id, "scopes": "read_institutions,write_links,read_links"
    });
    let reply = token(&api, body, false).await;
    let access = access_claims(&reply);
    assert_eq!(
        access["link"],
        json!({"id": link_id, "status": "valid", "institution": "inss_br_employment"})
    );
    assert_eq!(
        access["scopes"],
        json!(["read_institutions", "write_links", "read_links"])
    );
    // The link's own settings where the request gives none.
    assert_eq!(access["fetch_resources"], link["fetch_resources"]);
    assert_eq!(access["stale_in"], link["stale_in"]);

    let theirs = json!({
        "id": "other", "password": "other-password",
        "link_id": link_id, "scopes": "read_institutions,write_links"
    });
    token(&api, theirs, false).await.expect_errors(
        400,
        &[(
            "does_not_exist",
            &format!("Invalid pk \"{link_id}\" - object does not exist."),
            Some("link_id"),
        )],
    );
    let null_link = json!({
        "id": id, "password": password, "link_id": null, "scopes": "write_links"
    });
    let plain = token(&api, null_link, false).await;
    let plain = access_claims(&plain);
    assert!(plain.get("link").is_none(), "{plain}");
}

#[tokio::test]
async fn tokens_are_issued_and_expire_on_the_virtual_clock() {
    let api = Api::start_with(config()).await;
    let (id, password) = api.server.secret_keys();
    let (id, password) = (id.to_owned(), password.to_owned());
    api.server
        .advance_clock(std::time::Duration::from_secs(30 * 86_400));
    let now = virtual_now(&api.get("/_mock/clock").await.body);
    let reply = token(&api, sdk_body(&id, &password), false).await;
    let access = access_claims(&reply);
    let iat = access["iat"].as_i64().unwrap_or_default();
    assert!(
        (now..now + 5).contains(&iat),
        "a month ahead: {iat} vs {now}"
    );
    assert_eq!(access["exp"].as_i64(), Some(iat + 600));
}

#[tokio::test]
async fn the_signing_secret_and_the_tokens_are_kept_in_the_data_dir() {
    let dir = std::env::temp_dir().join(format!(
        "belvo-mock-it-widget-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let durable = || Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let api = Api::start_with(durable()).await;
        let (id, password) = api.server.secret_keys();
        let (id, password) = (id.to_owned(), password.to_owned());
        let reply = token(&api, sdk_body(&id, &password), false).await;
        tokens.push(
            reply.expect(200, "widget_token.json")["access"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        api.server.shutdown().await;
    }
    let db = rusqlite::Connection::open(dir.join(mock_server::DATABASE_FILE)).expect("the file");
    let secret: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'widget_secret'",
            [],
            |row| row.get(0),
        )
        .expect("the secret is kept");
    assert_eq!(secret.len(), 128, "64 random bytes as hex");
    // Both runs signed with the kept secret, and both tokens are rows.
    let mut jtis = Vec::new();
    for token in &tokens {
        jtis.push(claims(token, secret.as_bytes())["jti"].clone());
    }
    let rows: Vec<String> = db
        .prepare("SELECT key FROM widget_tokens ORDER BY key")
        .and_then(|mut s| {
            s.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("the token rows");
    let mut expected: Vec<String> = jtis
        .iter()
        .map(|j| j.as_str().unwrap_or_default().to_owned())
        .collect();
    expected.sort();
    assert_eq!(rows, expected);
    drop(db);
    std::fs::remove_dir_all(&dir).ok();
}
