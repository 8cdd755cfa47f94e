//! The store's rules, on the store alone: MFA sessions, expiry, tenants, cooldowns, sweeps,
//! the sync delete limit, and the commit path's promise (a rolled-back change leaves no trace).

use super::*;
use crate::store::error::{LoginFailure, MfaChallenge};
use crate::store::links::LinkStatus;
use serde_json::{Map, Value, json};
use std::time::Duration;

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn store() -> (Store, TenantId) {
    let config = Config {
        keys: vec![SecretKey::new("a", "pa"), SecretKey::new("b", "pb")],
        ..Config::default()
    };
    let generator = Generator::new(1, 60, crate::fixtures::Overrides::default());
    let store = Store::new(&config, Clock::new(), generator, false);
    let tenant = store
        .authenticate("a", "pa")
        .unwrap_or_else(|| panic!("tenant a"));
    (store, tenant)
}

/// Runs one change and commits it (what the app's writer does in memory).
fn change<R>(
    store: &Store,
    plan: impl FnOnce(&mut Tx<'_>) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut tx = Tx::new(store);
    let mark = tx.mark();
    let result = plan(&mut tx);
    if result.is_err() {
        tx.undo_to(mark);
    }
    tx.commit();
    result
}

fn create(store: &Store, t: TenantId, body: &Map<String, Value>) -> Result<Link, Error> {
    match change(store, |tx| store.create_link(tx, t, body, Uuid::nil()))? {
        Login::Done(link) => Ok(link),
        Login::TokenRequired(c) => Err(Error::TokenRequired(c)),
    }
}

fn resume_with(store: &Store, t: TenantId, body: &Map<String, Value>) -> Result<Link, Error> {
    match change(store, |tx| store.resume_link(tx, t, body, Uuid::nil()))? {
        Login::Done(link) => Ok(link),
        Login::TokenRequired(c) => Err(Error::TokenRequired(c)),
    }
}

fn refresh(store: &Store, t: TenantId, id: &str) -> Result<Vec<crate::event::Resource>, Error> {
    change(store, |tx| {
        store.refresh_link(tx, t, id, &Map::new(), Uuid::nil())
    })
}

fn delete(store: &Store, t: TenantId, id: &str, asynchronous: bool) -> Result<(), Error> {
    change(store, |tx| {
        store.delete_link(tx, t, id, asynchronous, Uuid::nil())
    })
}

fn sweep(store: &Store) -> usize {
    change(store, |tx| Ok(store.sweep(tx, usize::MAX).0)).unwrap_or(0)
}

fn new_link(password: &str) -> Map<String, Value> {
    body(
        json!({"institution": "inss_br_employment", "username": "52998224725", "password": password}),
    )
}

fn challenge(result: Result<Link, Error>) -> MfaChallenge {
    match result {
        Err(Error::TokenRequired(c)) => c,
        other => panic!("expected a 428, got {other:?}"),
    }
}

#[test]
fn only_matching_key_pairs_authenticate() {
    let (store, a) = store();
    assert_eq!(store.authenticate("a", "pa"), Some(a));
    assert!(store.authenticate("b", "pb").is_some_and(|b| b != a));
    assert_eq!(store.authenticate("a", "pb"), None);
    assert_eq!(store.authenticate("", ""), None);
}

#[test]
fn mfa_links_stay_unconfirmed_until_a_token_completes_them() {
    let (store, t) = store();
    let c = challenge(create(&store, t, &new_link("12345678")));
    assert_eq!(c.expiry, 120);
    assert_eq!(c.session.len(), 32);
    let id = c.link.to_string();
    assert_eq!(
        store.link(t, &id).map(|l| l.status),
        Ok(LinkStatus::Unconfirmed)
    );

    let resume = |token: &str| body(json!({"link": id, "session": c.session, "token": token}));
    assert_eq!(
        resume_with(&store, t, &resume("000000")).map(|_| ()),
        Err(Error::Login(LoginFailure::InvalidCredentials))
    );
    let link = resume_with(&store, t, &resume("123456")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.status, LinkStatus::Valid);
    assert!(link.last_accessed_at.is_some());
    // A used session is gone.
    assert_eq!(
        resume_with(&store, t, &resume("123456")).map(|_| ()),
        Err(Error::SessionExpired)
    );
}

#[test]
fn sessions_expire_on_the_virtual_clock() {
    let (store, t) = store();
    let c = challenge(create(&store, t, &new_link("12345678")));
    store.clock().advance(Duration::from_secs(121));
    let resume = body(json!({"link": c.link, "session": c.session, "token": "1"}));
    assert_eq!(
        resume_with(&store, t, &resume).map(|_| ()),
        Err(Error::SessionExpired)
    );
}

#[test]
fn a_session_of_another_link_is_expired_for_this_one() {
    let (store, t) = store();
    let first = challenge(create(&store, t, &new_link("12345678")));
    let second = challenge(create(&store, t, &new_link("12345678")));
    let resume = body(json!({"link": first.link, "session": second.session, "token": "1"}));
    assert_eq!(
        resume_with(&store, t, &resume).map(|_| ()),
        Err(Error::SessionExpired)
    );
}

#[test]
fn failed_logins_store_nothing() {
    let (store, t) = store();
    for password in ["mock:invalid", "mock:institution-down", "mock:unexpected"] {
        assert!(create(&store, t, &new_link(password)).is_err());
    }
    assert_eq!(
        store
            .list_links(t, &Params::default(), |n| Some(0..n))
            .map(|(n, _)| n),
        Ok(0)
    );
}

#[test]
fn tenants_never_see_each_others_links() {
    let (store, a) = store();
    let b = store
        .authenticate("b", "pb")
        .unwrap_or_else(|| panic!("tenant b"));
    let link = create(&store, a, &new_link("mock:no-mfa")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.link(b, &link.id.to_string()).map(|_| ()),
        Err(Error::NotFound)
    );
    assert_eq!(
        store
            .list_links(b, &Params::default(), |n| Some(0..n))
            .map(|(n, _)| n),
        Ok(0)
    );
    assert_eq!(
        delete(&store, b, &link.id.to_string(), false),
        Err(Error::NotFound)
    );
}

#[test]
fn refreshes_wait_ten_minutes() {
    let (store, t) = store();
    let link = create(&store, t, &new_link("mock:no-mfa")).unwrap_or_else(|e| panic!("{e}"));
    let id = link.id.to_string();
    assert!(refresh(&store, t, &id).is_ok());
    store.clock().advance(Duration::from_secs(181));
    assert_eq!(
        refresh(&store, t, &id),
        Err(Error::LinkRefreshed { minutes: 7 })
    );
    store.clock().advance(Duration::from_secs(420));
    assert!(refresh(&store, t, &id).is_ok());
}

#[test]
fn expired_sessions_and_abandoned_unconfirmed_links_are_swept() {
    let (store, t) = store();
    let c = challenge(create(&store, t, &new_link("12345678")));
    store.clock().advance(Duration::from_secs(121));
    assert_eq!(sweep(&store), 0, "a fresh unconfirmed link stays");
    assert!(
        store.lock(t).sessions.is_empty(),
        "the expired session is gone"
    );
    store.clock().advance(Duration::from_secs(24 * 3600));
    assert_eq!(sweep(&store), 1);
    assert_eq!(
        store.link(t, &c.link.to_string()).map(|_| ()),
        Err(Error::NotFound)
    );
}

#[test]
fn the_sixth_sync_delete_in_a_minute_is_throttled() {
    let (store, t) = store();
    let ids: Vec<String> = (0..7)
        .map(|_| {
            create(&store, t, &new_link("mock:no-mfa"))
                .map(|l| l.id.to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for id in &ids[..5] {
        assert_eq!(delete(&store, t, id, false), Ok(()));
    }
    assert_eq!(
        delete(&store, t, &ids[5], false),
        Err(Error::Throttled { seconds: 60 })
    );
    // Async deletions are not limited, and time heals the sync limit.
    assert_eq!(delete(&store, t, &ids[5], true), Ok(()));
    store.clock().advance(Duration::from_secs(60));
    assert_eq!(delete(&store, t, &ids[6], false), Ok(()));
}

/// The commit path's promise: a change that is rolled back leaves memory exactly as it was.
#[test]
fn a_rolled_back_change_leaves_no_trace() {
    let config = Config {
        mfa: MfaMode::Never,
        ..Config::default()
    };
    let generator = Generator::new(1, 60, crate::fixtures::Overrides::default());
    let store = Store::new(&config, Clock::new(), generator, false);
    let t = TenantId::from_index(0);
    let body = match json!({"institution": "inss_br_employment", "username": "52998224725", "password": "secret-123"})
    {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let version = store.data_version(t);
    let mut tx = Tx::new(&store);
    assert!(store.create_link(&mut tx, t, &body, Uuid::nil()).is_ok());
    tx.rollback();
    drop(tx);
    assert_eq!(store.link_count(t), 0);
    assert_eq!(store.lock(t).next_seq, 0);
    assert!(store.lock(t).record_links.is_empty());
    assert_eq!(store.data_version(t), version, "nothing was committed");
}

/// A sweep does a bounded amount of work per call and says when more is due, so a backlog
/// (a flood, then a day's clock jump) never holds the tenant lock long.
#[test]
fn a_sweep_works_in_bounded_steps() {
    let (store, t) = store();
    for _ in 0..5 {
        challenge(create(&store, t, &new_link("12345678")));
    }
    store.clock().advance(Duration::from_secs(121));
    let step = |budget| change(&store, |tx| Ok(store.sweep(tx, budget))).unwrap_or((0, false));
    assert_eq!(step(2), (0, true));
    assert_eq!(store.lock(t).sessions.len(), 3);
    assert_eq!(step(2), (0, true));
    assert_eq!(step(2), (0, false));
    assert!(store.lock(t).sessions.is_empty());
}

/// A list walks the creation-order index: newest first, the count of every matching link,
/// only the asked window rendered, and filters applied before the window.
#[test]
fn a_link_list_is_a_window_of_the_matching_links_newest_first() {
    let (store, t) = store();
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = new_link("mock:no-mfa");
        body.insert(
            "external_id".into(),
            json!(if i % 2 == 0 { "even" } else { "odd" }),
        );
        ids.push(
            create(&store, t, &body)
                .unwrap_or_else(|e| panic!("{e}"))
                .id,
        );
    }
    let listed = |query: &str, window: std::ops::Range<usize>| {
        let (count, page) = store
            .list_links(t, &Params::parse(query), |_| Some(window))
            .unwrap_or_else(|e| panic!("{e}"));
        let page: Vec<String> = page
            .iter()
            .map(|l| l["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        (count, page)
    };
    let newest: Vec<String> = ids.iter().rev().map(Uuid::to_string).collect();
    assert_eq!(listed("", 1..3), (5, newest[1..3].to_vec()));
    let evens: Vec<String> = [4, 2, 0].iter().map(|i| ids[*i].to_string()).collect();
    assert_eq!(listed("external_id=even", 1..3), (3, evens[1..3].to_vec()));
    assert_eq!(
        store
            .list_links(t, &Params::default(), |_| None)
            .map(|(n, _)| n),
        Err(Error::NotFound),
        "a window past the end is a 404"
    );
    // A deleted link leaves the index with the map.
    change(&store, |tx| {
        store.delete_link(tx, t, &ids[4].to_string(), false, Uuid::nil())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed("", 0..1), (4, vec![ids[3].to_string()]));
}

fn issue(store: &Store, t: TenantId) -> tokens::WidgetToken {
    let request = tokens::TokenRequest::validate(&body(json!({
        "id": "a", "password": "pa", "scopes": "read_institutions,write_links"
    })))
    .unwrap_or_else(|e| panic!("{e:?}"));
    change(store, |tx| store.issue_token(tx, t, request)).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn widget_tokens_are_kept_a_day_past_their_expiry_then_swept() {
    let (store, a) = store();
    let b = store.authenticate("b", "pb").unwrap_or_else(|| panic!("b"));
    let token = issue(&store, a);
    issue(&store, b);
    assert_eq!(
        token.expires_at() - token.issued_at,
        chrono::Duration::minutes(10)
    );
    store
        .clock()
        .advance(Duration::from_secs(600 + 24 * 3600 - 1));
    sweep(&store);
    assert_eq!(store.lock(a).tokens.len(), 1, "expired, still known");
    store.clock().advance(Duration::from_secs(2));
    sweep(&store);
    assert!(store.lock(a).tokens.is_empty() && store.lock(a).token_order.is_empty());
    assert!(store.lock(b).tokens.is_empty(), "every tenant's");
}

#[test]
fn past_the_cap_the_oldest_widget_token_goes() {
    let (store, a) = store();
    let first = issue(&store, a);
    for _ in 1..tokens::MAX_TOKENS {
        issue(&store, a);
    }
    assert!(store.lock(a).tokens.contains_key(&first.jti));
    let last = issue(&store, a);
    let state = store.lock(a);
    assert_eq!(state.tokens.len(), tokens::MAX_TOKENS);
    assert!(!state.tokens.contains_key(&first.jti) && state.tokens.contains_key(&last.jti));
}

#[test]
fn an_update_mode_token_for_a_link_of_another_tenant_is_refused_and_nothing_is_kept() {
    let (store, a) = store();
    let b = store.authenticate("b", "pb").unwrap_or_else(|| panic!("b"));
    let link = create(
        &store,
        a,
        &body(json!({"institution": "inss_br_employment", "username": "52998224725", "password": "mock:no-mfa"})),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let request = tokens::TokenRequest::validate(&body(json!({
        "id": "b", "password": "pb", "scopes": "write_links", "link_id": link.id
    })))
    .unwrap_or_else(|e| panic!("{e:?}"));
    let refused = change(&store, |tx| store.issue_token(tx, b, request));
    assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
    assert!(store.lock(b).tokens.is_empty());
}
