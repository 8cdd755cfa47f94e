//! The flow, identical for every target: API root → institutions → register (201 or 428) →
//! MFA → both historical_update webhooks (or polling) → owners and employments (every page,
//! one detail each) → cross-checks → negative checks that are safe on production. Deleting
//! the link afterwards is [`cleanup`], which runs even when a step failed.

use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use reqwest::Method;
use serde_json::{Value, json};
use test_kit::Receiver;

use crate::runner::Runner;

/// Where the MFA token comes from.
#[derive(Clone, Debug)]
pub enum MfaToken {
    /// Given (env `BELVO_MFA_TOKEN`, or a valid token for the fake).
    Fixed(String),
    /// Asked on the terminal when the 428 arrives.
    Prompt,
    /// None available: a 428 fails the run with advice.
    Missing,
}

/// What the flow needs besides the runner.
#[derive(Debug)]
pub struct Context {
    /// The user's CPF as sent (11 digits or formatted).
    pub cpf: String,
    pub password: String,
    pub mfa_token: MfaToken,
    /// Receives webhooks, when the target can reach it.
    pub receiver: Option<Receiver>,
    /// The URL the target should POST webhooks to.
    pub receiver_url: Option<String>,
    /// The target is a belvo-mock (it has `/_mock/`): the suite configures its webhook URL.
    pub fake: bool,
    /// The target is the suite's own in-process fake, whose virtual clock it may move (a
    /// fake at a URL may be shared: its clock is left alone).
    pub owns_clock: bool,
    pub webhook_timeout: Duration,
    pub today: NaiveDate,
}

impl Context {
    fn cpf_digits(&self) -> String {
        self.cpf.chars().filter(char::is_ascii_digit).collect()
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

async fn token(ctx: &Context) -> Option<String> {
    match &ctx.mfa_token {
        MfaToken::Fixed(t) => Some(t.clone()),
        MfaToken::Missing => None,
        MfaToken::Prompt => tokio::task::spawn_blocking(|| {
            use std::io::Write;
            eprint!("MFA token sent to the user (input hidden from the report): ");
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).ok()?;
            let token = line.trim().to_owned();
            (!token.is_empty()).then_some(token)
        })
        .await
        .ok()
        .flatten(),
    }
}

/// Follows `next` from `first` and returns every result.
async fn all_pages(r: &mut Runner, name: &str, first: &str, schema: &str) -> Option<Vec<Value>> {
    let mut results = Vec::new();
    let mut url = first.to_owned();
    let mut page = 1;
    loop {
        let step = format!("{name} (page {page})");
        // A page that fails ends the walk; what came before is still checked.
        let Some(answer) = r
            .call(&step, Method::GET, &url, None, &[(200, schema)])
            .await
            .filter(|a| a.status == 200)
        else {
            return Some(results);
        };
        results.extend(
            answer.body["results"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match answer.body["next"].as_str() {
            Some(next) if page < 1000 => {
                url = next.to_owned();
                page += 1;
            }
            _ => {
                let count = answer.body["count"].as_u64().unwrap_or(0);
                if count != results.len() as u64 {
                    r.fail(format!(
                        "count says {count} but the pages held {}",
                        results.len()
                    ));
                }
                return Some(results);
            }
        }
    }
}

/// A fake's webhook settings as the run found them, before it points them at its receiver
/// (`None`: the run changes nothing there).
pub async fn save_webhook(r: &mut Runner, ctx: &Context) -> Option<Value> {
    if !ctx.fake || ctx.receiver_url.is_none() {
        return None;
    }
    r.call(
        "remember the fake's webhook settings",
        Method::GET,
        "/_mock/webhook",
        None,
        &[(200, "mock_webhook_config.json")],
    )
    .await
    .map(|answer| answer.body)
}

/// Puts back the settings [`save_webhook`] found, whatever happened in between: a fake shared
/// with an app keeps delivering that app's webhooks.
pub async fn restore_webhook(r: &mut Runner, saved: &Value) {
    let restored = r
        .call(
            "restore the fake's webhook settings",
            Method::PUT,
            "/_mock/webhook",
            Some(saved),
            &[(200, "mock_webhook_config.json")],
        )
        .await;
    if restored.is_some() {
        let url = saved["url"].as_str().unwrap_or("none");
        r.note(format!("webhook URL set back to {url}"));
    }
}

/// Runs the flow; returns the link id when one was created (for [`cleanup`]).
pub async fn run(r: &mut Runner, ctx: &Context) -> Option<String> {
    r.call(
        "the API root accepts the keys",
        Method::GET,
        "/api/",
        None,
        &[(200, "")],
    )
    .await?;

    if let Some(answer) = r
        .call(
            "institutions list INSS",
            Method::GET,
            "/api/institutions/?name=inss_br_employment",
            None,
            &[(200, "institutions_page.json")],
        )
        .await
    {
        let inss = answer.body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == "inss_br_employment")
            .cloned();
        match inss {
            None => r.fail("inss_br_employment is not in the catalogue"),
            Some(i) => {
                for resource in ["EMPLOYMENTS", "OWNERS"] {
                    if !i["resources"]
                        .as_array()
                        .is_some_and(|a| a.contains(&json!(resource)))
                    {
                        r.fail(format!("INSS does not offer {resource}"));
                    }
                }
            }
        }
    }

    if ctx.fake
        && let Some(url) = &ctx.receiver_url
    {
        r.call(
            "point the fake's webhooks at the local receiver",
            Method::PUT,
            "/_mock/webhook",
            Some(&json!({"url": url, "authorization": null})),
            &[(200, "mock_webhook_config.json")],
        )
        .await;
    }

    // A single link without stored credentials: the smallest footprint on production.
    let request = json!({
        "institution": "inss_br_employment",
        "username": ctx.cpf,
        "password": ctx.password,
        "access_mode": "single",
        "credentials_storage": "nostore",
        "fetch_resources": ["OWNERS", "EMPLOYMENTS"],
        "external_id": format!("contract-tests-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    });
    let created = r
        .call(
            "register the link (201, or 428 for MFA)",
            Method::POST,
            "/api/links/",
            Some(&request),
            &[(201, "link.json"), (428, "token_required.json")],
        )
        .await?;
    let link_id = match created.status {
        201 => str_of(&created.body, "id").to_owned(),
        428 => str_of(&created.body[0], "link").to_owned(),
        _ => return None,
    };
    if link_id.is_empty() {
        return None;
    }
    let link = if created.status == 428 {
        let Some(token) = token(ctx).await else {
            r.fail(
                "the institution asks for an MFA token: set BELVO_MFA_TOKEN or run on a terminal",
            );
            return Some(link_id);
        };
        let resume =
            json!({"link": link_id, "session": created.body[0]["session"], "token": token});
        let answer = r
            .call(
                "complete MFA",
                Method::PATCH,
                "/api/links/",
                Some(&resume),
                &[(200, "link.json")],
            )
            .await;
        match answer {
            Some(a) if a.status == 200 => a.body,
            _ => return Some(link_id),
        }
    } else {
        created.body
    };
    if link["status"] != "valid" {
        r.fail(format!("the link is {}, not valid", link["status"]));
    }

    let totals = wait_for_data(r, ctx, &link_id).await;

    let owners = all_pages(
        r,
        "list owners",
        &format!("{}/api/owners/?link={link_id}", r.base()),
        "owners_page.json",
    )
    .await
    .unwrap_or_default();
    if let Some(first) = owners.first() {
        let path = format!("/api/owners/{}/", str_of(first, "id"));
        if let Some(a) = r
            .call(
                "owner detail",
                Method::GET,
                &path,
                None,
                &[(200, "owner.json")],
            )
            .await
            && a.body != *first
        {
            r.fail("the detail differs from the list item");
        }
    }
    let employments = all_pages(
        r,
        "list employments",
        &format!(
            "{}/api/br/employments/?link={link_id}&page_size=2",
            r.base()
        ),
        "employments_page.json",
    )
    .await
    .unwrap_or_default();
    if let Some(first) = employments.first() {
        let path = format!("/api/br/employments/{}/", str_of(first, "id"));
        if let Some(a) = r
            .call(
                "employment detail",
                Method::GET,
                &path,
                None,
                &[(200, "employment.json")],
            )
            .await
            && a.body != *first
        {
            r.fail("the detail differs from the list item");
        }
    }

    for (name, failures, notes) in cross_checks(
        &link_id,
        &ctx.cpf_digits(),
        ctx.today,
        &owners,
        &employments,
        totals,
    ) {
        r.check(name, failures, notes);
    }

    recurrent_schedule(r, ctx).await;
    negative_checks(r, ctx).await;
    Some(link_id)
}

/// A recurrent link is refreshed at its `refresh_rate` (7 days). It needs a week of virtual
/// time, so it runs only against the suite's own fake; elsewhere the report says why not.
async fn recurrent_schedule(r: &mut Runner, ctx: &Context) {
    if !ctx.owns_clock {
        r.check(
            "a recurrent link is refreshed on schedule (skipped)",
            Vec::new(),
            vec![
                "needs a week of virtual time: runs only against the suite's own in-process fake"
                    .to_owned(),
            ],
        );
        return;
    }
    let request = json!({
        "institution": "inss_br_employment",
        "username": ctx.cpf,
        "password": "mock:no-mfa",
    });
    let Some(created) = r
        .call(
            "register a recurrent link",
            Method::POST,
            "/api/links/",
            Some(&request),
            &[(201, "link.json")],
        )
        .await
    else {
        return;
    };
    let id = str_of(&created.body, "id").to_owned();
    let accessed = timestamp(&created.body["last_accessed_at"]);
    r.call(
        "advance the fake's clock a week",
        Method::POST,
        "/_mock/clock/advance",
        Some(&json!({"seconds": 7 * 86_400})),
        &[(200, "mock_clock.json")],
    )
    .await;
    let path = format!("/api/links/{id}/");
    if let Some(after) = r
        .call(
            "the recurrent link was refreshed on schedule",
            Method::GET,
            &path,
            None,
            &[(200, "link.json")],
        )
        .await
    {
        let refreshed = timestamp(&after.body["last_accessed_at"]);
        match (accessed, refreshed) {
            (Some(a), Some(b)) if b - a == chrono::Duration::days(7) => {}
            _ => r.fail(format!(
                "last_accessed_at went from {} to {}, not 7 days later",
                created.body["last_accessed_at"], after.body["last_accessed_at"]
            )),
        }
    }
    r.call(
        "delete the recurrent link",
        Method::DELETE,
        &path,
        None,
        &[(204, "")],
    )
    .await;
}

fn timestamp(value: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(value.as_str()?).ok()
}

/// Waits for both historical_update webhooks of the link (their totals), or, with no receiver
/// the target can reach, polls the lists until their counts hold still.
async fn wait_for_data(r: &mut Runner, ctx: &Context, link_id: &str) -> Option<(u64, u64)> {
    let Some(receiver) = &ctx.receiver else {
        return poll_counts(r, ctx, link_id).await;
    };
    let mine = |p: &Value, kind: &str| {
        p["link_id"] == link_id
            && p["webhook_type"] == kind
            && p["webhook_code"] == "historical_update"
    };
    let payloads = receiver
        .wait(ctx.webhook_timeout, |all| {
            ["OWNERS", "EMPLOYMENTS"]
                .iter()
                .all(|k| all.iter().any(|p| mine(p, k)))
        })
        .await;
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut totals = [None, None];
    let mut checked = Vec::new();
    for (i, (kind, key)) in [
        ("OWNERS", "total_owners"),
        ("EMPLOYMENTS", "total_employments"),
    ]
    .iter()
    .enumerate()
    {
        match payloads.iter().find(|p| mine(p, kind)) {
            None => failures.push(format!(
                "no {kind} historical_update webhook within {} s",
                ctx.webhook_timeout.as_secs()
            )),
            Some(p) => {
                checked.push(p.clone());
                totals[i] = p["data"][key].as_u64();
                notes.push(format!(
                    "{kind} webhook announces {key} = {}",
                    p["data"][key]
                ));
            }
        }
    }
    r.check("both historical_update webhooks arrive", failures, notes);
    for payload in &checked {
        r.judge_last("webhook.json", payload);
    }
    Some((totals[0]?, totals[1]?))
}

async fn poll_counts(r: &mut Runner, ctx: &Context, link_id: &str) -> Option<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + ctx.webhook_timeout;
    let mut last = None;
    let mut round = 0;
    while tokio::time::Instant::now() < deadline {
        round += 1;
        let owners = r
            .call(
                &format!("poll owners count ({round})"),
                Method::GET,
                &format!("/api/owners/?link={link_id}&page_size=1"),
                None,
                &[(200, "owners_page.json")],
            )
            .await
            .and_then(|a| a.body["count"].as_u64());
        let employments = r
            .call(
                &format!("poll employments count ({round})"),
                Method::GET,
                &format!("/api/br/employments/?link={link_id}&page_size=1"),
                None,
                &[(200, "employments_page.json")],
            )
            .await
            .and_then(|a| a.body["count"].as_u64());
        let now = owners.zip(employments);
        if now.is_some() && now == last && now.is_some_and(|(o, _)| o > 0) {
            r.note("counts held still: no webhook receiver, polled instead");
            return None;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    r.check(
        "data arrives (polling)",
        vec![format!(
            "the counts did not settle within {} s",
            ctx.webhook_timeout.as_secs()
        )],
        Vec::new(),
    );
    None
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn date(v: &Value) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.as_str()?, "%Y-%m-%d").ok()
}

type Check = (&'static str, Vec<String>, Vec<String>);

/// The cross-checks over what was listed, as `(name, failures, notes)`.
pub fn cross_checks(
    link_id: &str,
    cpf_digits: &str,
    today: NaiveDate,
    owners: &[Value],
    employments: &[Value],
    totals: Option<(u64, u64)>,
) -> Vec<Check> {
    let mut checks = Vec::new();

    let mut failures = Vec::new();
    if let Some((o, e)) = totals {
        if o != owners.len() as u64 {
            failures.push(format!(
                "webhook said {o} owners, the list has {}",
                owners.len()
            ));
        }
        if e != employments.len() as u64 {
            failures.push(format!(
                "webhook said {e} employments, the list has {}",
                employments.len()
            ));
        }
    }
    let note = format!(
        "{} owner(s), {} employment(s)",
        owners.len(),
        employments.len()
    );
    checks.push(("webhook totals equal the list counts", failures, vec![note]));

    let strangers = owners
        .iter()
        .chain(employments)
        .filter(|r| r["link"] != link_id)
        .count();
    let failures = if strangers > 0 {
        vec![format!("{strangers} record(s) belong to another link")]
    } else {
        Vec::new()
    };
    checks.push(("every record belongs to the link", failures, Vec::new()));

    let mut failures = Vec::new();
    if owners.is_empty() {
        failures.push("no owner listed".to_owned());
    }
    for (i, o) in owners.iter().enumerate() {
        let doc = &o["document_id"];
        if doc["document_type"] != "CPF" || doc["document_number"] != cpf_digits {
            failures.push(format!("owner {i}: document_id is not the link's CPF"));
        }
    }
    checks.push(("the owner's document is the CPF", failures, Vec::new()));

    let mut dates = Vec::new();
    let mut salaries = Vec::new();
    let mut cnpjs = Vec::new();
    let mut previous_start: Option<NaiveDate> = None;
    for (i, e) in employments.iter().enumerate() {
        let (Some(start), end) = (date(&e["start_date"]), date(&e["end_date"])) else {
            dates.push(format!("employment {i}: start_date is not a date"));
            continue;
        };
        if start > today || end.is_some_and(|d| d > today) {
            dates.push(format!("employment {i}: a date is in the future"));
        }
        if end.is_some_and(|d| d < start) {
            dates.push(format!("employment {i}: ends before it starts"));
        }
        if previous_start.is_some_and(|p| p > start) {
            dates.push(format!("employment {i}: out of start_date order"));
        }
        previous_start = Some(start);
        for (j, o) in e["occupations"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let (Some(os), oe) = (date(&o["start_date"]), date(&o["end_date"])) else {
                continue;
            };
            let inside = os >= start
                && end.is_none_or(|end| oe.is_some_and(|oe| oe <= end))
                && oe.is_none_or(|oe| oe >= os);
            if !inside {
                dates.push(format!(
                    "employment {i}: occupation {j} is outside the employment"
                ));
            }
        }
        let last = month_index(end.unwrap_or(today).min(today));
        for (k, s) in e["salaries"].as_array().into_iter().flatten().enumerate() {
            let month = s["month"]
                .as_str()
                .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok());
            match month {
                Some(m) if month_index(m) >= month_index(start) && month_index(m) <= last => {}
                _ => salaries.push(format!(
                    "employment {i}: salary {k} is outside the employment"
                )),
            }
        }
        let code = str_of(&e["employer_data"], "code");
        match code.len() {
            14 if stdbr_core::cnpj::is_valid_strict(code).is_ok() => {}
            8 if code.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
            _ => cnpjs.push(format!("employment {i}: employer code is not a valid CNPJ")),
        }
    }
    checks.push((
        "employment dates are ordered and not in the future",
        dates,
        Vec::new(),
    ));
    checks.push((
        "salaries fall inside their employment",
        salaries,
        Vec::new(),
    ));
    checks.push(("employer CNPJs have valid check digits", cnpjs, Vec::new()));
    checks
}

/// Errors that change nothing on the target: wrong keys, a missing field, an unknown link.
async fn negative_checks(r: &mut Runner, ctx: &Context) {
    let wrong = (
        "contract-tests-wrong-id".to_owned(),
        "wrong-password".to_owned(),
    );
    if let Some(a) = r
        .call_as(
            "wrong keys are refused",
            Method::GET,
            "/api/links/",
            None,
            &[(401, "errors.json")],
            Some(&wrong),
        )
        .await
        && a.body[0]["code"] != "authentication_failed"
    {
        r.fail(format!(
            "code is {}, not authentication_failed",
            a.body[0]["code"]
        ));
    }
    let missing = json!({"institution": "inss_br_employment", "username": ctx.cpf});
    if let Some(a) = r
        .call(
            "a missing field is named",
            Method::POST,
            "/api/links/",
            Some(&missing),
            &[(400, "errors.json")],
        )
        .await
    {
        let named = a
            .body
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["field"] == "password");
        if !named {
            r.fail("no error element names the field password");
        }
    }
    let unknown = format!("/api/links/{}/", uuid::Uuid::new_v4());
    r.call(
        "an unknown link is not found",
        Method::GET,
        &unknown,
        None,
        &[(404, "errors.json")],
    )
    .await;
}

/// Deletes the link and checks it is gone.
pub async fn cleanup(r: &mut Runner, link_id: &str) {
    let path = format!("/api/links/{link_id}/");
    r.call(
        "delete the link",
        Method::DELETE,
        &path,
        None,
        &[(204, ""), (202, "link_delete_accepted.json")],
    )
    .await;
    r.call(
        "the deleted link is gone",
        Method::GET,
        &path,
        None,
        &[(404, "errors.json")],
    )
    .await;
}
