//! Property tests: whatever arrives on a write route or in a query string — arbitrary JSON,
//! bytes, huge or deeply nested values, wrong types, unicode, duplicated keys — the answer is
//! never a 5xx, an error is always Belvo's array, and a refused request stores nothing.

use std::sync::OnceLock;

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::support::{Api, assert_schema};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    api: Api,
    link: String,
}

/// One fake for all cases, with a valid link whose id some cases aim at.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (api, link) = runtime.block_on(async {
            let api = Api::start().await;
            let link = api.valid_link().await["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (api, link)
        });
        Fixture { runtime, api, link }
    })
}

const FIELDS: &[&str] = &[
    "institution",
    "username",
    "password",
    "access_mode",
    "fetch_resources",
    "credentials_storage",
    "stale_in",
    "external_id",
    "link",
    "session",
    "token",
    "save_data",
    "date_from",
    "date_to",
    "url",
    "authorization",
    "seconds",
    "scenario",
    "password2",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[0-9.\\-]{0,16}".prop_map(Value::String),
        Just(Value::String("x".repeat(70_000))),
        Just(Value::String("52998224725".to_owned())),
        Just(Value::String("inss_br_employment".to_owned())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner.clone()), 0..8).prop_map(
                |pairs| Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A raw body: JSON text, arbitrary bytes, deep nesting, or duplicated keys.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..512),
        (1usize..20_000)
            .prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        (prop::sample::select(FIELDS), json_value(), json_value())
            .prop_map(|(k, a, b)| { format!("{{\"{k}\": {a}, \"{k}\": {b}}}").into_bytes() }),
    ]
}

fn routes(link: &str) -> Vec<(Method, String)> {
    vec![
        (Method::POST, "/api/links/".to_owned()),
        (Method::PATCH, "/api/links/".to_owned()),
        (Method::PATCH, format!("/api/links/{link}/")),
        (Method::PUT, format!("/api/links/{link}/")),
        (Method::POST, format!("/api/links/{link}/refresh/")),
        (Method::POST, "/api/owners/".to_owned()),
        (Method::PATCH, "/api/owners/".to_owned()),
        (Method::POST, "/api/br/employments/".to_owned()),
        (Method::PUT, "/_mock/webhook".to_owned()),
        (Method::POST, "/_mock/clock/advance".to_owned()),
        (Method::PUT, format!("/_mock/links/{link}/scenario")),
    ]
}

/// Checks one answer; returns whether it was an error.
fn check(reply: &crate::support::Reply, what: &str) -> bool {
    assert!(
        reply.status < 500,
        "{what} answered {}: {}",
        reply.status,
        reply.text
    );
    if reply.status >= 400 {
        let schema = if reply.status == 428 {
            "token_required.json"
        } else {
            "errors.json"
        };
        assert_schema(schema, &reply.body);
    }
    reply.status >= 400
}

fn link_count(f: &Fixture) -> Value {
    f.runtime
        .block_on(f.api.get("/api/links/?page_size=1"))
        .body["count"]
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn write_routes_never_fail_with_a_5xx_and_refusals_store_nothing(
        route in 0usize..11,
        body in raw_body(),
        json_content_type in any::<bool>(),
    ) {
        let f = fixture();
        let (method, path) = routes(&f.link)[route].clone();
        let before = link_count(f);
        let headers: &[(&str, &str)] = if json_content_type {
            &[("Content-Type", "application/json")]
        } else {
            &[("Content-Type", "text/plain; charset=utf-8")]
        };
        let reply = f.runtime.block_on(f.api.raw(method.clone(), &path, headers, body));
        let refused = check(&reply, &format!("{method} {path}"));
        if refused {
            prop_assert_eq!(link_count(f), before, "a refused {} {} stored a link", method, path);
        }
    }

    #[test]
    fn query_strings_never_fail_with_a_5xx(
        path in prop::sample::select(vec![
            "/api/links/", "/api/owners/", "/api/br/employments/", "/api/institutions/",
            "/_mock/webhooks", "/_mock/requests", "/api/links/{link}/", "/api/institutions/2034/",
        ]),
        pairs in prop::collection::vec(
            (prop_oneof![prop::sample::select(vec![
                "link", "page", "page_size", "fields", "omit", "status", "status__in", "id", "id__in",
                "created_at", "created_at__range", "start_date__gte", "end_date__range", "link__in",
                "name__in", "type", "refresh_rate", "link_id", "external_id__in", "display_name",
            ]).prop_map(str::to_owned), any::<String>()], any::<String>()),
            0..6,
        ),
    ) {
        let f = fixture();
        let path = path.replace("{link}", &f.link);
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let reply = f.runtime.block_on(f.api.get(&format!("{path}?{query}")));
        check(&reply, &path);
    }
}
