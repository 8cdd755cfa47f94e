//! The hosted widget (`/widget/`), driven as a browser would: pages fetched, forms posted with
//! their hidden fields, redirects read from `Location`. Every rule of the API path applies.

use mock_server::Config;
use serde_json::{Value, json};

use crate::support::{Api, CPF};

const SUCCESS: &str = "myapp://success";
const EXIT: &str = "myapp://exit";
const EVENT: &str = "myapp://error";

struct Widget {
    api: Api,
    /// Follows no redirect: the test reads where the widget sends the user.
    browser: reqwest::Client,
}

/// One page or redirect.
struct Seen {
    status: u16,
    location: Option<String>,
    html: String,
}

impl Seen {
    /// The hidden fields of the form posting to `action`.
    fn form(&self, action: &str) -> Vec<(String, String)> {
        let start = self
            .html
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("a form to {action} in {}", self.html));
        let form = &self.html[start..];
        let form = &form[..form.find("</form>").unwrap_or(form.len())];
        form.split("<input type=\"hidden\" ")
            .skip(1)
            .filter_map(|input| {
                let name = input.split("name=\"").nth(1)?.split('"').next()?;
                let value = input.split("value=\"").nth(1)?.split('"').next()?;
                Some((name.to_owned(), value.replace("&amp;", "&")))
            })
            .collect()
    }
}

impl Widget {
    async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    async fn start_with(config: Config) -> Self {
        Self {
            api: Api::start_with(config).await,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
        }
    }

    /// An access token from `POST /api/token/` with `widget`.
    async fn token(&self, widget: Value) -> String {
        let (id, password) = self.api.server.secret_keys();
        let reply = self
            .api
            .post(
                "/api/token/",
                json!({"id": id, "password": password, "scopes": "read_institutions,write_links",
                       "fetch_resources": ["EMPLOYMENTS", "OWNERS"], "widget": widget}),
            )
            .await;
        reply.expect(200, "widget_token.json")["access"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn callbacks(&self) -> String {
        self.token(json!({
            "callback_urls": {"success": SUCCESS, "exit": EXIT, "event": EVENT},
            "branding": {"company_icon": "data:,", "company_logo": "data:,", "company_name": "ACME Crédito",
                         "company_terms_url": "https://acme.test/terms"}
        }))
        .await
    }

    async fn seen(response: reqwest::Response) -> Seen {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == 200 {
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(
                kind.starts_with("text/html") || kind.starts_with("text/javascript"),
                "{kind}"
            );
        }
        let html = response.text().await.unwrap_or_default();
        Seen {
            status,
            location,
            html,
        }
    }

    async fn get(&self, path_and_query: &str) -> Seen {
        let url = format!("{}{path_and_query}", self.api.server.uri());
        Self::seen(
            self.browser
                .get(url)
                .send()
                .await
                .expect("the widget answers"),
        )
        .await
    }

    async fn post(&self, path: &str, fields: &[(String, String)]) -> Seen {
        let url = format!("{}{path}", self.api.server.uri());
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            body.append_pair(name, value);
        }
        let request = self
            .browser
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        Self::seen(request.send().await.expect("the widget answers")).await
    }

    /// Opens the widget and goes past consent to the login form.
    async fn login_form(&self, token: &str, startup: &str) -> Seen {
        let consent = self
            .get(&format!("/widget/?access_token={token}{startup}"))
            .await;
        assert_eq!(consent.status, 200, "{}", consent.html);
        let fields = consent.form("/widget/login");
        let query: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.get(&format!("/widget/login?{}", query.join("&")))
            .await
    }

    async fn submit_login(&self, login: &Seen, cpf: &str, password: &str) -> Seen {
        let mut fields = login.form("/widget/login");
        fields.push(("username".into(), cpf.into()));
        fields.push(("password".into(), password.into()));
        self.post("/widget/login", &fields).await
    }

    async fn submit_mfa(&self, mfa: &Seen, token: &str) -> Seen {
        let mut fields = mfa.form("/widget/mfa");
        fields.push(("token".into(), token.into()));
        self.post("/widget/mfa", &fields).await
    }
}

fn query_of(location: &str, base: &str) -> String {
    location
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('?'))
        .unwrap_or_else(|| panic!("{location} is {base}?…"))
        .to_owned()
}

#[tokio::test]
async fn the_widget_connects_a_link_with_mfa_and_sends_the_user_to_success() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    let consent = w
        .get(&format!(
            "/widget/?access_token={token}&locale=pt&access_mode=single&external_id=user-42"
        ))
        .await;
    assert_eq!(consent.status, 200);
    assert!(consent.html.contains("lang=\"pt-BR\""), "{}", consent.html);
    assert!(
        consent.html.contains("ACME Crédito"),
        "the token's branding"
    );
    assert!(consent.html.contains("https://acme.test/terms"));
    let login = w
        .login_form(&token, "&locale=pt&access_mode=single&external_id=user-42")
        .await;
    assert!(login.html.contains("name=\"username\""), "{}", login.html);
    let mfa = w.submit_login(&login, CPF, "secret-123").await;
    assert_eq!(mfa.status, 200);
    assert!(
        mfa.html
            .contains("Use seu aplicativo ou dispositivo para gerar um código"),
        "INSS's inputless instructions: {}",
        mfa.html
    );
    let done = w.submit_mfa(&mfa, "123456").await;
    assert_eq!(done.status, 303, "{}", done.html);
    let location = done.location.unwrap_or_default();
    let query = query_of(&location, SUCCESS);
    let link_id = query
        .strip_prefix("link=")
        .and_then(|q| q.strip_suffix("&institution=inss_br_employment"))
        .unwrap_or_else(|| panic!("link and institution: {query}"))
        .to_owned();

    // The link is the API's: settings from the token and the startup parameters, its data,
    // its two webhooks.
    let link = w.api.get(&format!("/api/links/{link_id}/")).await;
    let link = link.expect(200, "link.json");
    assert_eq!(link["status"], "valid");
    assert_eq!(link["access_mode"], "single");
    assert_eq!(link["external_id"], "user-42");
    assert_eq!(link["fetch_resources"], json!(["EMPLOYMENTS", "OWNERS"]));
    let owners = w.api.get(&format!("/api/owners/?link={link_id}")).await;
    assert_eq!(owners.expect(200, "owners_page.json")["count"], 1);
    let deliveries = w
        .api
        .get(&format!("/_mock/webhooks?link_id={link_id}"))
        .await;
    let codes: Vec<String> = deliveries.expect(200, "mock_deliveries.json")["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} {}",
                d["payload"]["webhook_type"], d["payload"]["webhook_code"]
            )
        })
        .collect();
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(
        codes.iter().all(|c| c.ends_with("\"historical_update\"")),
        "{codes:?}"
    );

    // Used up: opening it again sends the user to the event URL.
    let again = w.get(&format!("/widget/?access_token={token}")).await;
    assert_eq!(again.status, 303);
    assert_eq!(
        again.location.as_deref(),
        Some(
            "myapp://error?error=ACCESS_TOKEN_NOT_VALID&error_message=The%20access%20token%20was%20not%20provided%20or%20is%20not%20valid"
        )
    );
}

#[tokio::test]
async fn a_failed_login_shows_belvos_message_stores_nothing_and_the_exit_carries_it() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    let login = w.login_form(&token, "&locale=en").await;
    let refused = w.submit_login(&login, CPF, "mock:invalid").await;
    assert_eq!(refused.status, 200);
    assert!(
        refused
            .html
            .contains("Invalid credentials provided to login to the institution"),
        "{}",
        refused.html
    );
    let links = w.api.get("/api/links/").await;
    assert_eq!(links.expect(200, "links_page.json")["count"], 0);

    let bad_cpf = w
        .submit_login(&refused, "123.456.789-00", "secret-123")
        .await;
    assert!(
        bad_cpf.html.contains("Entered value is not valid."),
        "{}",
        bad_cpf.html
    );

    let mut leave = bad_cpf.form("/widget/exit");
    for (name, value) in &mut leave {
        if name == "step" {
            *value = "leave".into();
        }
    }
    let exit = w.post("/widget/exit", &leave).await;
    assert_eq!(exit.status, 303);
    assert_eq!(
        query_of(&exit.location.unwrap_or_default(), EXIT),
        "last_encountered_error_code=login_error&last_encountered_error_message=Invalid%20credentials%20provided%20to%20login%20to%20the%20institution&meta_data_institution_name=inss_br_employment"
    );
}

#[tokio::test]
async fn leaving_at_consent_asks_first_then_sends_abandon_survey() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    let consent = w.get(&format!("/widget/?access_token={token}")).await;
    assert!(consent.html.contains("lang=\"es\""), "Spanish by default");
    let confirm = w.post("/widget/exit", &consent.form("/widget/exit")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.html.contains("name=\"reason\""), "the exit survey");
    let exit = w.post("/widget/exit", &confirm.form("/widget/exit")).await;
    assert_eq!(
        exit.location.as_deref(),
        Some("myapp://exit?meta_data_step=abandon-survey")
    );

    // Without the dialog and the survey, the exit button leaves at once.
    let quick = w
        .get(&format!(
            "/widget/?access_token={token}&show_close_dialog=false&show_abandon_survey=false"
        ))
        .await;
    let exit = w.post("/widget/exit", &quick.form("/widget/exit")).await;
    assert_eq!(exit.status, 303);
}

#[tokio::test]
async fn a_wrong_mfa_token_keeps_the_session_and_the_right_one_connects() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    let login = w.login_form(&token, "&locale=en").await;
    let mfa = w.submit_login(&login, CPF, "secret-123").await;
    let wrong = w.submit_mfa(&mfa, "000000").await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong
            .html
            .contains("Invalid credentials provided to login to the institution"),
        "{}",
        wrong.html
    );
    let done = w.submit_mfa(&wrong, "654321").await;
    assert_eq!(done.status, 303);
    assert!(done.location.unwrap_or_default().starts_with(SUCCESS));
}

#[tokio::test]
async fn an_expired_or_foreign_token_opens_nothing() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    w.api
        .server
        .advance_clock(std::time::Duration::from_secs(601));
    let expired = w.get(&format!("/widget/?access_token={token}")).await;
    assert_eq!(expired.status, 303);
    assert!(
        expired
            .location
            .unwrap_or_default()
            .starts_with("myapp://error?error=ACCESS_TOKEN_NOT_VALID&")
    );

    // No token, garbage, or another server's: nowhere known to send the user.
    let other = Widget::start_with(Config {
        widget_secret: Some("another server".into()),
        ..Config::default()
    })
    .await;
    let foreign = other.callbacks().await;
    for query in [
        String::new(),
        "?access_token=abc".to_owned(),
        format!("?access_token={foreign}"),
    ] {
        let seen = w.get(&format!("/widget/{query}")).await;
        assert_eq!(seen.status, 401, "{query}");
        assert!(
            seen.html.contains("ACCESS_TOKEN_NOT_VALID"),
            "{}",
            seen.html
        );
    }
}

#[tokio::test]
async fn filters_that_leave_out_inss_show_no_institution() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    for filter in [
        "institutions=ofbradesco_br_retail",
        "country_codes=MX",
        "resources=ACCOUNTS,OWNERS",
        "institution_types=retail",
    ] {
        let seen = w
            .get(&format!("/widget/?access_token={token}&locale=en&{filter}"))
            .await;
        assert!(
            seen.html
                .contains("No institution matches the widget's configuration."),
            "{filter}"
        );
    }
    let shown = w
        .get(&format!(
            "/widget/?access_token={token}&institutions=inss_br_employment&country_codes=BR&resources=EMPLOYMENTS&institution_types=employment"
        ))
        .await;
    assert!(shown.html.contains("/widget/login"), "{}", shown.html);
}

#[tokio::test]
async fn without_callback_urls_the_widget_ends_on_a_page_with_what_it_would_send() {
    let w = Widget::start_with(Config {
        mfa: mock_server::MfaMode::Never,
        ..Config::default()
    })
    .await;
    let token = w.token(json!({})).await;
    let login = w.login_form(&token, "&locale=en").await;
    let done = w.submit_login(&login, CPF, "secret-123").await;
    assert_eq!(done.status, 200);
    assert!(done.html.contains("Account connected."), "{}", done.html);
    assert!(done.html.contains("institution=inss_br_employment"));
}

impl Widget {
    /// A valid link whose next login follows `scenario` (set as the control plane does),
    /// refreshed 11 minutes later (past the cooldown).
    async fn refreshed_link(&self, scenario: &str) -> String {
        let challenge = self.api.register("a-good-password").await;
        let element = challenge.expect(428, "token_required.json")[0].clone();
        let done = self
            .api
            .patch(
                "/api/links/",
                json!({"link": element["link"], "session": element["session"], "token": "123456"}),
            )
            .await;
        let id = done.expect(200, "link.json")["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let set = self
            .api
            .put(
                &format!("/_mock/links/{id}/scenario"),
                json!({"scenario": scenario}),
            )
            .await;
        assert!(set.status < 300, "{}", set.text);
        self.api
            .server
            .advance_clock(std::time::Duration::from_secs(11 * 60));
        let refresh = self
            .api
            .post(&format!("/api/links/{id}/refresh/"), json!({}))
            .await;
        refresh.expect(202, "request_accepted.json");
        id
    }

    async fn update_token(&self, link: &str) -> String {
        let (id, password) = self.api.server.secret_keys();
        let reply = self
            .api
            .post(
                "/api/token/",
                json!({"id": id, "password": password, "link_id": link,
                       "scopes": "read_institutions,write_links,read_links",
                       "widget": {"callback_urls": {"success": SUCCESS, "exit": EXIT, "event": EVENT}}}),
            )
            .await;
        reply.expect(200, "widget_token.json")["access"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn status(&self, link: &str) -> String {
        let reply = self.api.get(&format!("/api/links/{link}/")).await;
        reply.expect(200, "link.json")["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn historical_updates(&self, link: &str) -> usize {
        let reply = self
            .api
            .get(&format!("/_mock/webhooks?link_id={link}"))
            .await;
        reply.expect(200, "mock_deliveries.json")["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["payload"]["webhook_code"] == "historical_update")
            .count()
    }
}

#[tokio::test]
async fn update_mode_repairs_an_invalid_link_with_the_new_password_and_keeps_its_id() {
    let w = Widget::start().await;
    let id = w.refreshed_link("mock:invalid").await;
    assert_eq!(
        w.status(&id).await,
        "invalid",
        "the user changed their password"
    );
    let before = w.historical_updates(&id).await;

    let token = w.update_token(&id).await;
    let login = w.login_form(&token, "&locale=en").await;
    assert!(
        login.html.contains("Update your Meu INSS password"),
        "{}",
        login.html
    );
    assert!(
        login.html.contains("529.***.***-25"),
        "the link's CPF, masked"
    );
    assert!(!login.html.contains("name=\"username\""), "no CPF to type");
    let mut fields = login.form("/widget/login");
    fields.push(("password".into(), "my-new-password".into()));
    let mfa = w.post("/widget/login", &fields).await;
    let done = w.submit_mfa(&mfa, "123456").await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{SUCCESS}?link={id}&institution=inss_br_employment").as_str()),
        "the same link"
    );
    assert_eq!(w.status(&id).await, "valid");
    assert_eq!(
        w.historical_updates(&id).await,
        before + 2,
        "its historical update webhooks"
    );
}

#[tokio::test]
async fn update_mode_asks_a_token_required_link_only_for_the_new_token() {
    let w = Widget::start().await;
    let id = w.refreshed_link("mock:token-required").await;
    assert_eq!(w.status(&id).await, "token_required");

    let token = w.update_token(&id).await;
    let login = w.login_form(&token, "&locale=en").await;
    assert!(
        login
            .html
            .contains("INSS asks for a new verification code for this connection."),
        "{}",
        login.html
    );
    assert!(
        !login.html.contains("name=\"password\""),
        "no password to give"
    );
    let mfa = w.post("/widget/login", &login.form("/widget/login")).await;
    let wrong = w.submit_mfa(&mfa, "000000").await;
    assert!(
        wrong
            .html
            .contains("Invalid credentials provided to login to the institution")
    );
    let done = w.submit_mfa(&wrong, "123456").await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert!(
        done.location
            .unwrap_or_default()
            .contains(&format!("link={id}"))
    );
    assert_eq!(w.status(&id).await, "valid");

    // Answered: the next scheduled refresh (a week on) logs in without asking again.
    w.api
        .server
        .advance_clock(std::time::Duration::from_secs(8 * 86_400));
    assert_eq!(w.status(&id).await, "valid");
}

#[tokio::test]
async fn an_update_mode_token_for_a_link_deleted_since_says_it_is_not_found() {
    let w = Widget::start().await;
    let id = w.refreshed_link("mock:invalid").await;
    let token = w.update_token(&id).await;
    let gone = w.api.delete(&format!("/api/links/{id}/")).await;
    assert_eq!(gone.status, 204);
    let login = w.login_form(&token, "&locale=en").await;
    let mut fields = login.form("/widget/login");
    fields.push(("username".into(), CPF.into()));
    fields.push(("password".into(), "my-new-password".into()));
    let refused = w.post("/widget/login", &fields).await;
    assert_eq!(refused.status, 200);
    assert!(refused.html.contains("Not found"), "{}", refused.html);
}

/// The messages an embedded page posts (its `bridge.js` element's `data-messages`).
fn posted(seen: &Seen) -> Vec<Value> {
    let Some(start) = seen.html.find("data-messages=\"") else {
        return Vec::new();
    };
    let rest = &seen.html[start + "data-messages=\"".len()..];
    let raw = &rest[..rest.find('"').unwrap_or(rest.len())];
    let json = raw
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[tokio::test]
async fn embedded_by_the_widget_script_the_pages_post_to_the_app_instead_of_redirecting() {
    let w = Widget::start().await;
    let script = w.get("/belvo-widget-1-stable.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .html
            .contains("window.belvoSDK = { createWidget: createWidget }")
    );
    assert_eq!(w.get("/widget/bridge.js").await.status, 200);

    let token = w.callbacks().await;
    let app = "&sdk_origin=http://127.0.0.1:4000&locale=en";
    let consent = w.get(&format!("/widget/?access_token={token}{app}")).await;
    assert!(
        consent
            .html
            .contains("<script src=\"/widget/bridge.js\" data-origin=\"http://127.0.0.1:4000\""),
        "{}",
        consent.html
    );
    assert_eq!(
        posted(&consent),
        vec![json!({"kind": "event", "data": {"eventName": "PAGE_LOAD",
            "metadata": {"page": "/consent", "from": "", "institution_name": ""}}})]
    );
    let login = w.login_form(&token, app).await;
    let refused = w.submit_login(&login, CPF, "mock:locked").await;
    let messages = posted(&refused);
    assert_eq!(messages.len(), 2, "{messages:?}");
    let error = &messages[1]["data"];
    assert_eq!(error["eventName"], "ERROR");
    assert_eq!(error["meta_data"]["error_code"], "login_error");
    assert_eq!(
        error["meta_data"]["error_message"],
        "The user account is locked, user needs to contact the institution to unlock it"
    );
    assert_eq!(error["meta_data"]["institution_name"], "inss_br_employment");
    let mfa = w.submit_login(&refused, CPF, "secret-123").await;
    let done = w.submit_mfa(&mfa, "123456").await;
    assert_eq!(done.status, 200, "no redirect when embedded");
    let end = posted(&done);
    assert_eq!(end.len(), 1, "{end:?}");
    assert_eq!(end[0]["kind"], "success");
    assert_eq!(end[0]["institution"], "inss_br_employment");
    let link = end[0]["link"].as_str().unwrap_or_default();
    assert_eq!(
        w.api
            .get(&format!("/api/links/{link}/"))
            .await
            .expect(200, "link.json")["status"],
        "valid"
    );

    // The exit, as one object for onExit; a spent token, as an ERROR for onEvent.
    let token = w.callbacks().await;
    let login = w.login_form(&token, app).await;
    let refused = w.submit_login(&login, CPF, "mock:invalid").await;
    let mut leave = refused.form("/widget/exit");
    for (name, value) in &mut leave {
        if name == "step" {
            *value = "leave".into();
        }
    }
    let exit = posted(&w.post("/widget/exit", &leave).await);
    assert_eq!(
        exit,
        vec![json!({"kind": "exit", "data": {
            "last_encountered_error": {"code": "login_error",
                "message": "Invalid credentials provided to login to the institution"},
            "meta_data": {"institution_name": "inss_br_employment"}}})]
    );
    let used = w
        .get(&format!(
            "/widget/?access_token={}{app}",
            w.callbacks().await
        ))
        .await;
    assert_eq!(used.status, 200);
    w.api
        .server
        .advance_clock(std::time::Duration::from_secs(601));
    let expired = w.get(&format!("/widget/?access_token={token}{app}")).await;
    assert_eq!(expired.status, 401);
    let events = posted(&expired);
    assert_eq!(
        events[0]["data"]["meta_data"]["error_code"],
        "ACCESS_TOKEN_NOT_VALID"
    );

    // An origin that is not one is ignored: the hosted widget redirects as usual.
    let odd = w
        .get(&format!(
            "/widget/?access_token={token}&sdk_origin=javascript:alert(1)"
        ))
        .await;
    assert_eq!(odd.status, 303);
}

#[tokio::test]
async fn the_dashboard_lists_widget_sessions_with_their_outcome() {
    let w = Widget::start().await;
    let token = w.callbacks().await;
    let login = w.login_form(&token, "&locale=en").await;
    let refused = w.submit_login(&login, CPF, "mock:locked").await;
    let mfa = w.submit_login(&refused, CPF, "secret-123").await;
    let done = w.submit_mfa(&mfa, "123456").await;
    let link = query_of(&done.location.unwrap_or_default(), SUCCESS)
        .trim_start_matches("link=")
        .split('&')
        .next()
        .unwrap_or_default()
        .to_owned();
    w.update_token(&link).await;
    let (id, password) = w.api.server.secret_keys();
    let url = format!("{}/_mock/ui/widget", w.api.server.uri());
    let seen = Widget::seen(
        w.browser
            .get(url)
            .basic_auth(id, Some(password))
            .send()
            .await
            .expect("the dashboard answers"),
    )
    .await;
    assert_eq!(seen.status, 200);
    let rows: Vec<&str> = seen
        .html
        .split("<tr class=\"widget-session\">")
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 2, "{}", seen.html);
    assert!(
        rows[0].contains("update of") && rows[0].contains("open"),
        "{}",
        rows[0]
    );
    assert!(rows[1].contains("a new connection"), "{}", rows[1]);
    assert!(
        rows[1].contains("connected") && rows[1].contains(&link),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("last error: <code>login_error</code>"),
        "{}",
        rows[1]
    );
}
