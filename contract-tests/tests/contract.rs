//! The contract suite against the fake: the whole flow (in-process and over HTTP), a
//! snapshot of the redacted report, proof that the checks can fail, every schema rejecting a
//! known-bad body, and the recorded sets validating without drift.

use std::sync::Arc;

use contract_tests::{Options, Report, SchemaSet, Target, drift};
use serde_json::{Value, json};

fn schemas() -> SchemaSet {
    SchemaSet::load(&contract_tests::schemas::default_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn failures(report: &Report) -> String {
    report
        .steps
        .iter()
        .filter(|s| !s.passed())
        .flat_map(|s| {
            s.problems()
                .into_iter()
                .map(move |p| format!("{}: {p}", s.name))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_flow_passes_against_the_in_process_fake() {
    let report = contract_tests::run(Options::default()).await;
    assert!(report.passed(), "{}", report.text(true));
    assert!(report.steps.len() >= 20);
    println!("{}", report.text(true));
}

#[tokio::test]
async fn the_redacted_report_reads_the_same_every_run() {
    let report = contract_tests::run(Options::default()).await;
    insta::assert_snapshot!("report_in_process", report.text(false));
}

#[tokio::test]
async fn the_flow_passes_against_a_fake_reached_over_http_and_writes_junit() {
    let mut config = mock_server::Config::default();
    config.webhooks.delay = std::time::Duration::ZERO;
    let server = mock_server::MockServer::start_with(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        target: Target::Remote(server.uri()),
        ..Options::default()
    };
    let report = contract_tests::run(options).await;
    assert!(report.passed(), "{}", report.text(true));
    assert!(report.target.ends_with("(belvo-mock)"));
    let junit = report.junit();
    assert!(junit.contains("<testsuite name=\"belvo-contract\""));
    assert!(junit.contains("failures=\"0\""));
}

/// A fake shared with an app keeps the app's webhook settings: the suite points them at its
/// own receiver for the run and puts them back after, even when a step failed.
#[tokio::test]
async fn the_suite_restores_a_shared_fakes_webhook_settings_even_when_a_step_fails() {
    let mut config = mock_server::Config::default();
    config.webhooks.delay = std::time::Duration::ZERO;
    config.webhook_url = Some("http://127.0.0.1:9/app-hooks".to_owned());
    config.webhook_authorization = Some("app-token".to_owned());
    let server = mock_server::MockServer::start_with(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        target: Target::Remote(server.uri()),
        tamper: Some(Arc::new(|step: &str, body: &mut Value| {
            if step == "owner detail" {
                body["email"] = json!(42);
            }
        })),
        ..Options::default()
    };
    let report = contract_tests::run(options).await;
    assert!(!report.passed(), "the tampered step fails");
    let restored = report
        .steps
        .iter()
        .find(|s| s.name == "restore the fake's webhook settings")
        .unwrap_or_else(|| panic!("{}", report.text(true)));
    assert!(restored.passed());
    assert!(
        report
            .text(true)
            .contains("webhook URL set back to http://127.0.0.1:9/app-hooks"),
        "{}",
        report.text(true)
    );
    let (id, password) = server.secret_keys();
    let settings: Value = reqwest::Client::new()
        .get(format!("{}/_mock/webhook", server.uri()))
        .basic_auth(id, Some(password))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings,
        json!({"url": "http://127.0.0.1:9/app-hooks", "authorization": "app-token"})
    );
}

#[tokio::test]
async fn a_schema_violating_field_fails_the_suite_naming_its_json_path() {
    let options = Options {
        tamper: Some(Arc::new(|step: &str, body: &mut Value| {
            if step == "owner detail" {
                body["email"] = json!(42);
            }
            if step == "list employments (page 1)" {
                let paid = body["results"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .find(|e| e["salaries"].as_array().is_some_and(|s| !s.is_empty()));
                if let Some(employment) = paid {
                    employment["salaries"][0]["month"] = json!("2024-13");
                }
            }
        })),
        ..Options::default()
    };
    let report = contract_tests::run(options).await;
    assert!(!report.passed());
    let text = failures(&report);
    assert!(text.contains("owner.json: at /email"), "{text}");
    assert!(
        text.contains("employments_page.json: at /results/") && text.contains("/salaries/0/month"),
        "{text}"
    );
    // The detail check notices the list/detail mismatch too, and values are never shown.
    assert!(
        !text.contains("42"),
        "violations mask the offending value: {text}"
    );
    let junit = report.junit();
    assert!(junit.contains("<failure"), "{junit}");
}

#[tokio::test]
async fn a_wrong_status_fails_the_step_with_belvos_error_code() {
    let options = Options {
        password: "mock:locked".to_owned(),
        ..Options::default()
    };
    let report = contract_tests::run(options).await;
    assert!(!report.passed());
    let text = failures(&report);
    assert!(
        text.contains("expected status 201 or 428, got 400 (login_error)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_next_url_at_another_origin_gets_no_request_and_fails_the_step() {
    // A second local listener stands for another origin (a misconfigured proxy's `next`).
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    elsewhere
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let port = elsewhere
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let next = format!("http://127.0.0.1:{port}/api/br/employments/?page=2&page_size=2");
    let shown = next.clone();
    let options = Options {
        tamper: Some(Arc::new(move |step: &str, body: &mut Value| {
            if step == "list employments (page 1)" {
                body["next"] = json!(next);
            }
        })),
        ..Options::default()
    };
    let report = contract_tests::run(options).await;
    assert!(!report.passed());
    let text = failures(&report);
    assert!(
        text.contains(&format!(
            "list employments (page 2): {shown} is not at the target's origin"
        )),
        "{text}"
    );
    assert!(
        elsewhere.accept().is_err(),
        "nothing connected to the other origin"
    );
}

/// A body each schema must refuse: every schema file needs an entry, so a new schema is
/// proven able to fail.
fn known_bad(schema: &str) -> Value {
    let link = json!({"id": "not-a-uuid"});
    match schema {
        "api_root.json" => json!({"links": "not a url"}),
        "employment.json" => json!({"id": "0d3ffb69-f83b-456e-ad8e-208d0998d71d"}),
        "employments.json" => json!([{"salaries": []}]),
        "employments_page.json" => {
            json!({"count": 1, "next": null, "previous": null, "results": [{}]})
        }
        "errors.json" => json!([]),
        "institution.json" => json!({"name": "inss_br_employment"}),
        "institutions_page.json" => {
            json!({"count": -1, "next": null, "previous": null, "results": []})
        }
        "link.json" => link,
        "link_delete_accepted.json" => json!({"request_id": "9e7b283c6efa449c9c028a16b5c249fb"}),
        "links_page.json" => {
            json!({"count": 1, "next": null, "previous": null, "results": [{"id": 1}]})
        }
        "mock_clock.json" => json!({"now": "yesterday", "offset_seconds": 0}),
        "mock_deliveries.json" => json!({"count": 0}),
        "mock_delivery.json" => json!({"webhook_id": "x"}),
        "mock_flush.json" => json!({"flushed": -1}),
        "mock_health.json" => json!({"status": "ok"}),
        "mock_requests.json" => json!({"count": 0, "results": [{"method": "GET"}]}),
        "mock_webhook_config.json" => json!({"url": "ftp://x", "authorization": null}),
        "owner.json" => json!({"id": "0d3ffb69-f83b-456e-ad8e-208d0998d71d", "email": 3}),
        "owners.json" => json!({}),
        "owners_page.json" => {
            json!({"count": 0, "next": "not a uri", "previous": null, "results": []})
        }
        "page.json" => json!({"count": 0, "results": []}),
        "request_accepted.json" => json!({"request_id": "0d3ffb69-f83b-456e-ad8e-208d0998d71d"}),
        "token_required.json" => {
            json!([{"code": "token_required", "message": "A MFA token is required by the institution to login"}])
        }
        // Not a JWT (two parts), and no refresh token.
        "widget_token.json" => json!({"access": "eyJhbGciOiJIUzUxMiJ9.e30"}),
        "webhook.json" => json!({
            "webhook_id": "aadf41a1fc8e4f79a49f7f04027ac999", "webhook_type": "OWNERS",
            "process_type": "historical_update", "webhook_code": "historical_update",
            "link_id": "16f68516-bcbc-4cf7-b815-c500d4204e28",
            "request_id": "4363b08b-51eb-4350-9c74-5df5ac92a7f6", "external_id": null,
            "data": {"total_employments": 1}
        }),
        other => panic!("add a known-bad body for the new schema {other}"),
    }
}

#[test]
fn every_schema_rejects_a_known_bad_body() {
    let set = schemas();
    for name in set.names() {
        let violations = set.validate(&name, &known_bad(&name));
        assert!(!violations.is_empty(), "{name} accepted its known-bad body");
    }
}

#[tokio::test]
async fn recorded_sets_validate_and_have_not_drifted_from_the_fake() {
    let set = schemas();
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/recorded"));
    let mut sets: Vec<_> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("fixtures/recorded exists: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    assert!(!sets.is_empty(), "at least one recorded set is shipped");

    // What the fake answers now, recorded the same way.
    let fresh = std::env::temp_dir().join(format!("belvo-contract-fresh-{}", std::process::id()));
    std::fs::remove_dir_all(&fresh).ok();
    let report = contract_tests::run(Options {
        record: Some(fresh.clone()),
        ..Options::default()
    })
    .await;
    assert!(report.passed(), "{}", report.text(true));
    let now = drift::load(&fresh).unwrap_or_else(|e| panic!("{e}"));

    for dir in sets {
        let recorded = drift::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(!recorded.is_empty(), "{} holds recordings", dir.display());
        let mut drifts = Vec::new();
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = file.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let entry: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()));
            if let Some(schema) = entry["schema"].as_str() {
                let violations = set.validate(schema, &entry["body"]);
                assert!(violations.is_empty(), "{}: {violations:?}", path.display());
            }
        }
        for (step, status, body) in &recorded {
            match now.iter().find(|(s, st, _)| s == step && st == status) {
                Some((_, _, fake)) => drifts.push(drift::compare(step, body, fake)),
                None => panic!(
                    "{}: the fake's flow has no step {step:?} answering {status}",
                    dir.display()
                ),
            }
        }
        let text = drift::report(&drifts);
        println!("{}: {text}", dir.display());
        assert!(
            drifts.iter().all(drift::Drift::is_empty),
            "{}: {text}",
            dir.display()
        );
    }
    std::fs::remove_dir_all(&fresh).ok();
}

#[test]
fn cross_checks_catch_bad_data() {
    let link = "30cb4806-6e00-48a4-91c9-ca55968576c8";
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
    let owners = vec![
        json!({"link": link, "document_id": {"document_type": "CPF", "document_number": "11144477735"}}),
    ];
    let employments = vec![json!({
        "link": "another", "start_date": "2027-01-01", "end_date": null,
        "employer_data": {"code": "11222333000180"},
        "occupations": [], "salaries": [{"month": "2020-01"}]
    })];
    let checks = contract_tests::flow::cross_checks(
        link,
        "52998224725",
        today,
        &owners,
        &employments,
        Some((1, 2)),
    );
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, f, _)| !f.is_empty())
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(
        failed,
        vec![
            "webhook totals equal the list counts",
            "every record belongs to the link",
            "the owner's document is the CPF",
            "employment dates are ordered and not in the future",
            "salaries fall inside their employment",
            "employer CNPJs have valid check digits",
        ]
    );
}
