//! Links that live: scheduled refreshes of recurrent links on the virtual clock, the webhooks
//! they send, the records they announce, links that stop working over time and come back,
//! and the schedule across a restart.

use chrono::{DateTime, Duration, Utc};
use mock_server::{Config, MfaMode};
use serde_json::{Value, json};

use crate::support::{Api, assert_schema, id_of};

const DAY: i64 = 86_400;

async fn advance(api: &Api, seconds: i64) {
    api.post("/_mock/clock/advance", json!({"seconds": seconds}))
        .await
        .expect(200, "mock_clock.json");
}

/// Every delivery of the key pair, oldest first, each payload checked against webhook.json.
async fn payloads(api: &Api) -> Vec<Value> {
    let journal = api.get("/_mock/webhooks?page_size=1000").await;
    let journal = journal.expect(200, "mock_deliveries.json").clone();
    let mut payloads: Vec<Value> = journal["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|d| d["payload"].clone())
        .collect();
    payloads.reverse();
    for payload in &payloads {
        assert_schema("webhook.json", payload);
    }
    payloads
}

fn codes(payloads: &[Value]) -> Vec<String> {
    payloads
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["webhook_type"].as_str().unwrap_or(""),
                p["webhook_code"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a timestamp: {value}"))
}

async fn link(api: &Api, id: &str) -> Value {
    let reply = api.get(&format!("/api/links/{id}/")).await;
    reply.expect(200, "link.json").clone()
}

/// What one week's refresh announced, and what `created_at__range=<its day>` lists.
async fn week(api: &Api, id: &str, day: &str) -> u64 {
    let listed = api
        .get(&format!(
            "/api/br/employments/?link={id}&created_at__range={day},{day}"
        ))
        .await;
    let listed = listed.expect(200, "employments_page.json").clone();
    for record in listed["results"].as_array().into_iter().flatten() {
        assert_eq!(
            record["created_at"].as_str().map(|s| &s[..10]),
            Some(day),
            "{record}"
        );
    }
    listed["count"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_recurrent_link_is_refreshed_weekly_announcing_exactly_the_records_it_lists() {
    let api = Api::start().await;
    let created = api.valid_link().await;
    let id = id_of(&created);
    let accessed = time(&created["last_accessed_at"]);
    assert_eq!(
        codes(&payloads(&api).await),
        ["EMPLOYMENTS historical_update", "OWNERS historical_update"]
    );
    let mut seen = 2;
    let mut weeks = Vec::new();
    for n in 1..=5 {
        advance(&api, 7 * DAY).await;
        let day = (accessed + Duration::days(7 * n))
            .format("%Y-%m-%d")
            .to_string();
        let sent = payloads(&api).await;
        let new: Vec<&Value> = sent[seen..].iter().collect();
        seen = sent.len();
        let listed = week(&api, &id, &day).await;
        match new.as_slice() {
            [] => assert_eq!(listed, 0, "nothing new, nothing sent: {day}"),
            [webhook] => {
                assert_eq!(webhook["webhook_type"], "EMPLOYMENTS");
                assert_eq!(webhook["webhook_code"], "new_employments_available");
                assert_eq!(webhook["process_type"], "recurrent_update");
                assert_eq!(webhook["data"]["new_employments"], listed, "{day}");
                assert_ne!(webhook["request_id"], sent[0]["request_id"]);
            }
            more => panic!(
                "one webhook per refresh at most: {:?}",
                codes(&sent[sent.len() - more.len()..])
            ),
        }
        weeks.push(listed);
        assert_eq!(
            time(&link(&api, &id).await["last_accessed_at"]),
            accessed + Duration::days(7 * n)
        );
    }
    assert!(
        weeks.iter().sum::<u64>() > 0,
        "a current job gains a salary month within 35 days: {weeks:?}"
    );

    // One 35-day advance runs the same five refreshes, in order, each as of its own day.
    let jump = Api::start().await;
    let created = jump.valid_link().await;
    let id = id_of(&created);
    let accessed = time(&created["last_accessed_at"]);
    advance(&jump, 35 * DAY).await;
    assert_eq!(
        time(&link(&jump, &id).await["last_accessed_at"]),
        accessed + Duration::days(35),
        "refreshed at 7, 14, 21, 28 and 35 days"
    );
    let mut jumped = Vec::new();
    for n in 1..=5 {
        let day = (accessed + Duration::days(7 * n))
            .format("%Y-%m-%d")
            .to_string();
        jumped.push(week(&jump, &id, &day).await);
    }
    assert_eq!(jumped, weeks);
    let announced: Vec<u64> = payloads(&jump).await[2..]
        .iter()
        .map(|p| p["data"]["new_employments"].as_u64().unwrap_or(0))
        .collect();
    let expected: Vec<u64> = weeks.iter().copied().filter(|n| *n > 0).collect();
    assert_eq!(announced, expected);
}

#[tokio::test]
async fn a_single_link_is_never_refreshed_until_switched_to_recurrent_then_updated_the_next_day() {
    let api = Api::start().await;
    let challenge = api
        .post(
            "/api/links/",
            json!({"institution": "inss_br_employment", "username": "52998224725",
                   "password": "a-good-password", "access_mode": "single"}),
        )
        .await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    let done = api
        .patch(
            "/api/links/",
            json!({"link": element["link"], "session": element["session"], "token": "1"}),
        )
        .await;
    let id = id_of(done.expect(200, "link.json"));
    advance(&api, 40 * DAY).await;
    assert_eq!(
        payloads(&api).await.len(),
        2,
        "single links are never refreshed"
    );

    let switched = api
        .patch(
            &format!("/api/links/{id}/"),
            json!({"access_mode": "recurrent"}),
        )
        .await;
    let switched = switched.expect(200, "link.json").clone();
    assert_eq!(switched["refresh_rate"], "7d");
    advance(&api, DAY / 2).await;
    assert_eq!(payloads(&api).await.len(), 2, "not before the next day");
    advance(&api, DAY / 2).await;
    let after = payloads(&api).await;
    assert_eq!(
        codes(&after[2..]),
        ["EMPLOYMENTS historical_update", "OWNERS historical_update"],
        "a full historical update the next day (spec 1.223)"
    );
    let updated = link(&api, &id).await;
    let next_day = time(&updated["last_accessed_at"]);
    // Then it follows the schedule: a week later it is refreshed again.
    advance(&api, 7 * DAY).await;
    assert_eq!(
        time(&link(&api, &id).await["last_accessed_at"]),
        next_day + Duration::days(7)
    );
}

#[tokio::test]
async fn invalid_credentials_then_new_credentials_bring_the_link_back_to_the_schedule() {
    let api = Api::start().await;
    let id = id_of(&api.valid_link().await);
    api.put(
        &format!("/_mock/links/{id}/scenario"),
        json!({"scenario": "mock:invalid"}),
    )
    .await
    .expect(200, "link.json");
    advance(&api, 8 * DAY).await;
    assert_eq!(link(&api, &id).await["status"], "invalid");
    let sent = payloads(&api).await;
    let last = sent.last().cloned().unwrap_or_default();
    assert_eq!(last["webhook_type"], "LINK");
    assert_eq!(last["webhook_code"], "invalid_credentials");
    assert_eq!(last["process_type"], "recurrent_update");
    // Nothing refreshes an invalid link.
    advance(&api, 30 * DAY).await;
    assert_eq!(payloads(&api).await.len(), sent.len());

    recover(&api, &id).await;
}

#[tokio::test]
async fn a_token_required_refresh_sends_the_link_webhook_and_the_mfa_path_recovers_it() {
    let api = Api::start().await;
    let id = id_of(&api.valid_link().await);
    api.put(
        &format!("/_mock/links/{id}/scenario"),
        json!({"scenario": "mock:token-required"}),
    )
    .await
    .expect(200, "link.json");
    advance(&api, 7 * DAY).await;
    assert_eq!(link(&api, &id).await["status"], "token_required");
    let sent = payloads(&api).await;
    let last = sent.last().cloned().unwrap_or_default();
    assert_eq!(last["webhook_type"], "LINK");
    assert_eq!(last["webhook_code"], "token_required");
    assert_eq!(last["process_type"], "recurrent_update");
    assert_eq!(
        last["data"],
        json!({"error_code": "token_required",
               "error_message": "A MFA token is required by the institution to login",
               "status": 428})
    );
    advance(&api, 30 * DAY).await;
    assert_eq!(
        payloads(&api).await.len(),
        sent.len(),
        "no refresh while token_required"
    );

    recover(&api, &id).await;
}

/// The documented way back: `PUT /api/links/{id}/` with the password (428), then
/// `PATCH /api/links/` with the token; the link is valid, updated, and on the schedule again.
async fn recover(api: &Api, id: &str) {
    let challenge = api
        .put(
            &format!("/api/links/{id}/"),
            json!({"password": "the-new-password"}),
        )
        .await;
    let element = challenge.expect(428, "token_required.json")[0].clone();
    let before = payloads(api).await.len();
    let done = api
        .patch(
            "/api/links/",
            json!({"link": id, "session": element["session"], "token": "123456"}),
        )
        .await;
    let back = done.expect(200, "link.json").clone();
    assert_eq!(back["status"], "valid");
    let sent = payloads(api).await;
    assert_eq!(
        codes(&sent[before..]),
        ["EMPLOYMENTS historical_update", "OWNERS historical_update"]
    );
    let accessed = time(&back["last_accessed_at"]);
    advance(api, 7 * DAY).await;
    assert_eq!(
        time(&link(api, id).await["last_accessed_at"]),
        accessed + Duration::days(7),
        "back on the schedule"
    );
}

#[tokio::test]
async fn the_schedule_survives_a_restart_with_a_data_dir() {
    let dir = std::env::temp_dir().join(format!("belvo-mock-recurrent-{}", uuid::Uuid::new_v4()));
    let config = || Config {
        data_dir: Some(dir.clone()),
        mfa: MfaMode::Never,
        ..Config::default()
    };
    let api = Api::start_with(config()).await;
    let created = api.register("a-good-password").await;
    let id = id_of(created.expect(201, "link.json"));
    let accessed = time(&created.body["last_accessed_at"]);
    advance(&api, 3 * DAY).await;
    api.server.shutdown().await;

    let api = Api::start_with(config()).await;
    advance(&api, 4 * DAY).await;
    assert_eq!(
        time(&link(&api, &id).await["last_accessed_at"]),
        accessed + Duration::days(7),
        "refreshed on its day after the restart"
    );
    api.server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_in_process_handle_runs_due_refreshes_before_advance_clock_returns() {
    let config = Config {
        mfa: MfaMode::Never,
        ..Config::default()
    };
    let api = Api::start_with(config).await;
    let created = api.register("a-good-password").await;
    let id = id_of(created.expect(201, "link.json"));
    let accessed = time(&created.body["last_accessed_at"]);
    api.server
        .advance_clock(std::time::Duration::from_secs(14 * DAY as u64));
    assert_eq!(
        time(&link(&api, &id).await["last_accessed_at"]),
        accessed + Duration::days(14)
    );
}
