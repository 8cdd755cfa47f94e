//! Unit tests of `links`.

use super::*;
use crate::store::error::FieldError;

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn field_errors(result: Result<NewLink, Error>) -> Vec<FieldError> {
    match result {
        Err(Error::Validation(errors)) => errors,
        other => panic!("expected field errors, got {other:?}"),
    }
}

const CPF: &str = "529.982.247-25";

#[test]
fn a_minimal_request_gets_belvos_defaults() {
    let link = NewLink::validate(&body(
        json!({"institution": "inss_br_employment", "username": CPF, "password": "12345678"}),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.cpf, "52998224725");
    assert_eq!(link.access_mode, AccessMode::Recurrent);
    assert_eq!(link.credentials_storage, "store");
    assert_eq!(link.stale_in.as_deref(), Some("365d"));
    assert_eq!(link.fetch_resources, vec!["EMPLOYMENTS", "OWNERS"]);
    assert_eq!(link.scenario, None);
}

#[test]
fn single_links_store_credentials_for_365_days_by_default() {
    let link = NewLink::validate(&body(json!({
        "institution": "inss_br_employment", "username": "52998224725",
        "password": "12345678", "access_mode": "single"
    })))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.credentials_storage, "365d");
    // Belvo's INSS link guide: a single link's PATCH response shows `"stale_in": null`.
    assert_eq!(link.stale_in, None);
    let stored = link.into_link(Uuid::nil(), Uuid::nil(), Utc::now(), LinkStatus::Valid, 0);
    assert_eq!(stored.refresh_rate, None);
    assert_eq!(stored.to_json()["stale_in"], serde_json::Value::Null);
}

#[test]
fn cpfs_need_the_format_and_the_check_digits() {
    for bad in [
        "529.982.247-24",
        "52998224724",
        "529982247-25",
        "000.000.000-00",
        "5299822472",
    ] {
        let errors = field_errors(NewLink::validate(&body(json!({
            "institution": "inss_br_employment", "username": bad, "password": "12345678"
        }))));
        assert_eq!(
            errors,
            vec![FieldError::new("username", "invalid", NOT_VALID)],
            "{bad}"
        );
    }
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let errors = field_errors(NewLink::validate(&body(json!({
        "institution": "narnia", "password": "short", "access_mode": "sometimes",
        "credentials_storage": "400d", "stale_in": "forever", "external_id": "ab"
    }))));
    let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        got,
        vec![
            ("username", "required"),
            ("password", "min_length"),
            ("external_id", "min_length"),
            ("access_mode", "invalid_choice"),
            ("credentials_storage", "invalid"),
            ("stale_in", "invalid"),
            ("institution", "does_not_exist"),
        ]
    );
    assert_eq!(errors[6].message, "Object with name=narnia does not exist.");
}

#[test]
fn storage_and_resource_combinations_follow_belvos_rules() {
    let base =
        json!({"institution": "inss_br_employment", "username": CPF, "password": "12345678"});
    let with = |extra: Value| {
        let mut b = body(base.clone());
        b.extend(body(extra));
        NewLink::validate(&b).map(|_| ())
    };
    assert_eq!(
        with(json!({"credentials_storage": "nostore"})),
        Err(Error::InvalidCredentialsStorage)
    );
    assert_eq!(
        with(json!({"credentials_storage": "30d"})),
        Err(Error::InvalidCredentialsStorage)
    );
    assert_eq!(
        with(json!({"access_mode": "single", "credentials_storage": "nostore"})),
        Err(Error::InvalidFetchResources)
    );
    assert_eq!(
        with(
            json!({"access_mode": "single", "credentials_storage": "nostore", "fetch_resources": []})
        ),
        Err(Error::InvalidFetchResources)
    );
    assert_eq!(
        with(
            json!({"access_mode": "single", "credentials_storage": "nostore", "fetch_resources": ["OWNERS"]})
        ),
        Ok(())
    );
    assert_eq!(
        with(json!({"fetch_resources": ["ACCOUNTS", "OWNERS"]})),
        Err(Error::InvalidResources(INSS_RESOURCES))
    );
    assert_eq!(
        with(json!({"save_data": true, "username_type": "001", "token": "x"})),
        Ok(())
    );
}

#[test]
fn passwords_name_scenarios_exactly() {
    assert_eq!(Scenario::from_name("mock:no-mfa"), Some(Scenario::NoMfa));
    assert_eq!(Scenario::from_name("mock:no-mfa "), None);
    assert_eq!(
        login_error(Scenario::Locked),
        Some(Error::Login(LoginFailure::Locked))
    );
    assert_eq!(login_error(Scenario::NoData), None);
}

#[test]
fn institution_user_ids_are_44_chars_and_stable_per_cpf() {
    let a = institution_user_id("inss_br_employment", "52998224725");
    assert_eq!(a.len(), 44);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-=_".contains(c))
    );
    assert_eq!(a, institution_user_id("inss_br_employment", "52998224725"));
    assert_ne!(a, institution_user_id("inss_br_employment", "11144477735"));
}

#[test]
fn a_nostore_link_cannot_become_recurrent() {
    let mut link = NewLink::validate(&body(json!({
        "institution": "inss_br_employment", "username": CPF, "password": "12345678",
        "access_mode": "single", "credentials_storage": "nostore", "fetch_resources": ["OWNERS"]
    })))
    .unwrap_or_else(|e| panic!("{e}"))
    .into_link(Uuid::nil(), Uuid::nil(), Utc::now(), LinkStatus::Valid, 0);
    let change = Options {
        access_mode: Some(AccessMode::Recurrent),
        ..Options::default()
    };
    assert_eq!(change.apply(&mut link), Err(Error::InvalidAccessModeSwitch));
}
