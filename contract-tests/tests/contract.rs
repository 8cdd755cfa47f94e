//! The contract suite against the fake: the whole flow (in-process and over HTTP), a
//! snapshot of the redacted report, proof that the checks can fail, every schema rejecting a
//! known-bad body, and the recorded sets validating without drift.

use std::sync::Arc;

use std::path::PathBuf;

use contract_tests::tiers::Tiers;
use contract_tests::{Options, Report, SchemaSet, Target, drift};
use serde_json::{Value, json};
use test_kit::Class;

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

/// A second local listener that stands for another origin, and its port: `accept` fails
/// (non-blocking) as long as nothing connected.
fn another_origin() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    (listener, port)
}

#[tokio::test]
async fn a_next_url_at_another_origin_gets_no_request_and_fails_the_step() {
    // A second local listener stands for another origin (a misconfigured proxy's `next`).
    let (elsewhere, port) = another_origin();
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
            "list employments (page 2): breaking: {shown} is not at the target's origin"
        )),
        "{text}"
    );
    assert!(
        elsewhere.accept().is_err(),
        "nothing connected to the other origin"
    );
}

/// The same with nothing tampered: a fake started with the `--public-url` of another port
/// writes that origin into every `next`, and the suite sends nothing there.
#[tokio::test]
async fn a_fake_whose_public_url_is_another_origin_gets_no_request_there() {
    let (elsewhere, port) = another_origin();
    let mut config = mock_server::Config::default();
    config.webhooks.delay = std::time::Duration::ZERO;
    config.public_url = Some(format!("http://127.0.0.1:{port}"));
    let server = mock_server::MockServer::start_with(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = contract_tests::run(Options {
        target: Target::Remote(server.uri()),
        ..Options::default()
    })
    .await;
    assert!(!report.passed());
    let text = failures(&report);
    assert!(
        text.contains(&format!(
            "list employments (page 2): breaking: http://127.0.0.1:{port}/api/br/employments/?"
        )) && text.contains("is not at the target's origin"),
        "{text}"
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "the deleted link is gone"),
        "the cleanup still ran: {}",
        report.text(false)
    );
    assert!(
        elsewhere.accept().is_err(),
        "nothing connected to the public URL's origin"
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

fn tiers() -> Tiers {
    Tiers::load(
        &contract_tests::schemas::default_dir(),
        &contract_tests::tiers::default_spec_path(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn recorded_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/recorded"))
}

/// What the fake answers the flow now, recorded the way a production run is (once per test
/// binary: the recorded-set tests compare against it).
async fn fresh_recording() -> &'static [drift::Recorded] {
    static FRESH: tokio::sync::OnceCell<Vec<drift::Recorded>> = tokio::sync::OnceCell::const_new();
    FRESH
        .get_or_init(|| async {
            let dir =
                std::env::temp_dir().join(format!("belvo-contract-fresh-{}", std::process::id()));
            std::fs::remove_dir_all(&dir).ok();
            let report = contract_tests::run(Options {
                record: Some(dir.clone()),
                ..Options::default()
            })
            .await;
            assert!(report.passed(), "{}", report.text(true));
            let now = drift::load(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::remove_dir_all(&dir).ok();
            now
        })
        .await
}

#[tokio::test]
async fn recorded_sets_validate_and_have_not_drifted_from_the_fake() {
    let tiers = tiers();
    let mut sets: Vec<_> = std::fs::read_dir(recorded_root())
        .unwrap_or_else(|e| panic!("fixtures/recorded exists: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    assert!(!sets.is_empty(), "at least one recorded set is shipped");
    let now = fresh_recording().await;
    for dir in sets {
        let recorded = drift::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        // A set recorded from a belvo-mock must match it exactly; one from anywhere else
        // passes unless it breaks Belvo's contract.
        let exact = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("belvo-mock-"));
        let check = drift::check_set(&recorded, now, &tiers, exact);
        println!("{}: {}", dir.display(), check.text());
        assert!(check.passed(), "{}: {}", dir.display(), check.text());
        if exact {
            assert!(
                check.findings.is_empty(),
                "{}: {}",
                dir.display(),
                check.text()
            );
        }
    }
}

/// The shipped set, rewritten by `change`, written to a folder of its own and loaded back.
fn rewritten_set(name: &str, change: impl Fn(&str, &mut Value)) -> Vec<drift::Recorded> {
    let from = recorded_root().join("belvo-mock-0.1.0");
    let to = std::env::temp_dir().join(format!("belvo-contract-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&to).ok();
    std::fs::create_dir_all(&to).unwrap_or_else(|e| panic!("{e}"));
    for file in std::fs::read_dir(&from).into_iter().flatten().flatten() {
        let path = file.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let mut entry: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let step = entry["step"].as_str().unwrap_or_default().to_owned();
        change(&step, &mut entry["body"]);
        std::fs::write(to.join(file.file_name()), entry.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let set = drift::load(&to).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&to).ok();
    set
}

/// `2026-12-02T00:58:51.649520Z` as Belvo's older reference shows it:
/// `2026-12-02T00:58:51.649+00:00`, everywhere in `value`.
fn offset_timestamps(value: &mut Value) {
    match value {
        Value::String(s) if s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' => {
            *s = format!("{}+00:00", &s[..23]);
        }
        Value::Array(items) => items.iter_mut().for_each(offset_timestamps),
        Value::Object(map) => map.values_mut().for_each(offset_timestamps),
        _ => {}
    }
}

#[tokio::test]
async fn a_recorded_set_with_offset_timestamps_and_an_extra_key_has_drift_notes_only() {
    let set = rewritten_set("offsets", |step, body| {
        offset_timestamps(body);
        if step == "employment detail" {
            body["belvo_new_field"] = json!("added in a later version");
        }
    });
    let check = drift::check_set(&set, fresh_recording().await, &tiers(), false);
    let text = check.text();
    assert!(check.passed(), "{text}");
    assert_eq!(check.count(Class::Breaking), 0, "{text}");
    assert!(
        text.contains(
            "drift, additive (other timestamp precision or offset): link.json: at /created_at"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "drift, additive (added key): Belvo's spec (get /api/br/employments/{id}/ 200): at /:"
        ),
        "{text}"
    );
    assert!(
        text.contains("drift, additive (added key): belvo_new_field is only in the recording"),
        "{text}"
    );
    assert!(text.contains("; 0 fail the set,"), "{text}");
}

#[tokio::test]
async fn a_recorded_set_missing_a_required_key_fails_as_breaking() {
    let set = rewritten_set("missing", |step, body| {
        if step == "employment detail"
            && let Some(map) = body.as_object_mut()
        {
            map.remove("start_date");
        }
    });
    let check = drift::check_set(&set, fresh_recording().await, &tiers(), false);
    let text = check.text();
    assert!(!check.passed(), "{text}");
    let failing: Vec<&drift::Finding> = check.findings.iter().filter(|f| f.failing).collect();
    assert_eq!(failing.len(), 1, "{text}");
    assert_eq!(failing[0].class, Class::Breaking);
    assert!(
        failing[0].text.starts_with(
            "breaking (missing required key): Belvo's spec (get /api/br/employments/{id}/ 200): at /:"
        ),
        "{text}"
    );
    assert!(text.contains("1 fail the set"), "{text}");
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

/// The contract tier is Belvo's spec itself, less its prose: regenerated from
/// `../shared/reference/openapi.json` and compared with the committed extract, so the two can
/// never be hand-kept apart.
#[test]
fn the_contract_tier_is_belvos_spec_without_its_prose() {
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(test_kit::Spec::default_path())
            .unwrap_or_else(|e| panic!("Belvo's spec beside the checkout: {e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let derived = test_kit::contract_extract(&raw);
    let path = contract_tests::tiers::default_spec_path();
    if std::env::var_os("BELVO_MOCK_WRITE_CONTRACT").is_some() {
        let text = serde_json::to_string_pretty(&derived).unwrap_or_default() + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(
        committed == derived,
        "{} is not what Belvo's spec gives: run BELVO_MOCK_WRITE_CONTRACT=1 cargo test -p contract-tests --test contract the_contract_tier",
        path.display()
    );
    let text = serde_json::to_string(&committed).unwrap_or_default();
    assert!(!text.contains("\"description\":\"") && !text.contains("\"example\""));
    for template in test_kit::CONTRACT_PATHS {
        assert!(committed["paths"][*template].is_object(), "{template}");
    }
}
