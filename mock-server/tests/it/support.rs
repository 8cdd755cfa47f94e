//! Test support: a fake started on port 0, an HTTP client that speaks to it, and validation of
//! every response body against `schemas/`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use mock_server::{Config, MockServer, SecretKey};
use reqwest::Method;
use serde_json::Value;

/// Every schema in `schemas/`, compiled once, by file name.
fn validators() -> &'static HashMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
        let mut schemas = Vec::new();
        for entry in std::fs::read_dir(dir).expect("schemas/ exists") {
            let path = entry.expect("readable dir entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable schema");
            let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name");
            schemas.push((name.to_owned(), schema));
        }
        let registry = jsonschema::Registry::new()
            .extend(schemas.iter().map(|(_, s)| {
                (
                    s["$id"]
                        .as_str()
                        .expect("every schema has an $id")
                        .to_owned(),
                    s.clone(),
                )
            }))
            .expect("schemas register")
            .prepare()
            .expect("schemas resolve");
        schemas
            .iter()
            .map(|(name, schema)| {
                let validator = jsonschema::options()
                    .with_registry(&registry)
                    .should_validate_formats(true)
                    .offline()
                    .build(schema)
                    .unwrap_or_else(|e| panic!("schema {name} compiles: {e}"));
                (name.clone(), validator)
            })
            .collect()
    })
}

/// Panics with every violation when `body` does not match `schemas/<schema>`.
pub fn assert_schema(schema: &str, body: &Value) {
    let validator = validators()
        .get(schema)
        .unwrap_or_else(|| panic!("no schema named {schema}"));
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "body does not match {schema}:\n{}\nbody: {body:#}",
        problems.join("\n")
    );
}

/// Belvo's OpenAPI 1.223.0 document (`../shared/reference/openapi.json`), rewritten from
/// OpenAPI 3.0 schema objects to JSON Schema: `nullable: true` becomes a `null` type.
fn spec() -> &'static (jsonschema::Registry<'static>, Value) {
    static SPEC: OnceLock<(jsonschema::Registry<'static>, Value)> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/openapi.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("Belvo's spec is read from {path} (shared/ beside the checkout): {e}")
        });
        let mut doc: Value = serde_json::from_str(&text).expect("the spec is JSON");
        // belvo-api.md §3.1 and §10.17: Belvo forces `external_id` to null (PII detected, or
        // none given) although 1.223.0 stopped marking it nullable; v1.35 did.
        if let Some(external_id) =
            doc.pointer_mut("/components/schemas/Link/properties/external_id")
        {
            external_id["nullable"] = Value::Bool(true);
        }
        nullable_to_json_schema(&mut doc);
        let registry = jsonschema::Registry::new()
            .extend([(SPEC_ID.to_owned(), doc.clone())])
            .expect("the spec registers")
            .prepare()
            .expect("the spec resolves");
        (registry, doc)
    })
}

const SPEC_ID: &str = "https://belvo-mock.dev/belvo-openapi-1.223.0.json";

fn nullable_to_json_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                match map.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        map.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), serde_json::json!([inner, {"type": "null"}]));
                    }
                }
                if let Some(Value::Array(options)) = map.get_mut("enum")
                    && !options.contains(&Value::Null)
                {
                    options.push(Value::Null);
                }
            }
            map.values_mut().for_each(nullable_to_json_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

/// The spec's path template matching a concrete `/api/...` path (`{id}` matches a segment).
fn spec_path(path: &str) -> Option<String> {
    let paths = spec().1["paths"].as_object()?;
    let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    paths.keys().find_map(|template| {
        let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
        let matches = parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')));
        matches.then(|| template.clone())
    })
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Validates `body` against the response schema Belvo's spec gives this operation and status.
/// Returns `false` when the spec documents no JSON body for it (nothing to check).
pub fn assert_spec(method: &str, path: &str, status: u16, body: &Value) -> bool {
    static VALIDATORS: OnceLock<
        Mutex<HashMap<String, Option<std::sync::Arc<jsonschema::Validator>>>>,
    > = OnceLock::new();
    let Some(template) = spec_path(path) else {
        return false;
    };
    let mut method = method.to_ascii_lowercase();
    // The spec lists only the open-finance owner shapes for PATCH /api/owners/, although the
    // MFA resume returns what POST returns (Owner Standard for INSS): check it as POST.
    if method == "patch" && template == "/api/owners/" {
        method = "post".to_owned();
    }
    // A response is either inline or a `$ref` to `#/components/responses/...`.
    let response = format!(
        "/paths/{}/{method}/responses/{status}",
        pointer_escape(&template)
    );
    let response = match spec()
        .1
        .pointer(&format!("{response}/$ref"))
        .and_then(Value::as_str)
    {
        Some(target) => target.trim_start_matches('#').to_owned(),
        None => response,
    };
    let pointer = format!("{response}/content/application~1json/schema");
    let key = pointer.clone();
    let cache = VALIDATORS.get_or_init(|| Mutex::new(HashMap::new()));
    let cached = cache.lock().ok().and_then(|c| c.get(&key).cloned());
    let validator = match cached {
        Some(v) => v,
        None => {
            let (registry, doc) = spec();
            let built = doc.pointer(&pointer).map(|_| {
                // `{id}` must be percent-encoded inside a URI fragment.
                let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
                let schema = serde_json::json!({"$ref": format!("{SPEC_ID}#{fragment}")});
                std::sync::Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .with_registry(registry)
                        .should_validate_formats(true)
                        .offline()
                        .build(&schema)
                        .unwrap_or_else(|e| panic!("spec schema {pointer} compiles: {e}")),
                )
            });
            if let Ok(mut c) = cache.lock() {
                c.insert(key, built.clone());
            }
            built
        }
    };
    let Some(validator) = validator else {
        return false;
    };
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "body does not match Belvo's spec for {method} {template} {status}:\n{}\nbody: {body:#}",
        problems.join("\n")
    );
    true
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Asserts the status, validates the body against `schema`, returns the body.
    pub fn expect(&self, status: u16, schema: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_schema(schema, &self.body);
        // `fields=`/`omit=` trim bodies below what any schema of the spec requires.
        let projected = self.query.contains("fields=") || self.query.contains("omit=");
        if self.path.starts_with("/api/") && !projected {
            assert_spec(&self.method, &self.path, self.status, &self.body);
        }
        &self.body
    }

    /// Asserts a Belvo error array with exactly these `(code, message, field)` elements, and
    /// that every element carries the same 32-hex request id.
    pub fn expect_errors(&self, status: u16, expected: &[(&str, &str, Option<&str>)]) {
        self.expect(status, "errors.json");
        let got: Vec<(String, String, Option<String>)> = self
            .body
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["code"].as_str().unwrap_or_default().to_owned(),
                    e["message"].as_str().unwrap_or_default().to_owned(),
                    e.get("field").and_then(Value::as_str).map(str::to_owned),
                )
            })
            .collect();
        let want: Vec<(String, String, Option<String>)> = expected
            .iter()
            .map(|(c, m, f)| ((*c).to_owned(), (*m).to_owned(), f.map(str::to_owned)))
            .collect();
        assert_eq!(got, want, "error body: {}", self.text);
        let ids: Vec<&str> = self
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["request_id"].as_str())
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] == w[1]),
            "one request id per request"
        );
    }

    pub fn body_ref(&self) -> &Value {
        &self.body
    }

    /// Asserts a single-element error array.
    pub fn expect_error(&self, status: u16, code: &str, message: &str) {
        self.expect_errors(status, &[(code, message, None)]);
    }
}

/// A fake and a client authenticated with its default key pair.
pub struct Api {
    pub server: MockServer,
    client: reqwest::Client,
    auth: Option<(String, String)>,
}

pub const CPF: &str = "529.982.247-25";
pub const CPF_DIGITS: &str = "52998224725";

impl Api {
    pub async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let server = MockServer::start_with(config)
            .await
            .expect("the fake binds a loopback port");
        let (id, password) = server.secret_keys();
        let auth = Some((id.to_owned(), password.to_owned()));
        Self {
            server,
            client: reqwest::Client::new(),
            auth,
        }
    }

    /// A config with two tenants: the default pair and `other:other-password`.
    pub fn two_tenants() -> Config {
        let mut config = Config::default();
        config.keys.push(SecretKey::new("other", "other-password"));
        config
    }

    /// The same fake seen with other credentials (`None`: no Authorization header).
    pub fn with_auth(&self, auth: Option<(&str, &str)>) -> Caller<'_> {
        Caller {
            api: self,
            auth: auth.map(|(a, b)| (a.to_owned(), b.to_owned())),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.uri(), path)
    }

    fn caller(&self) -> Caller<'_> {
        Caller {
            api: self,
            auth: self.auth.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.caller().get(path).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.caller().send(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.caller().send(Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.caller().send(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.caller().send(Method::DELETE, path, None).await
    }

    /// A raw request: any method, headers and bytes.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let name = method.to_string();
        let mut request = self.client.request(method, self.url(path));
        if let Some((id, password)) = &self.auth {
            request = request.basic_auth(id, Some(password));
        }
        for (header, value) in headers {
            request = request.header(*header, *value);
        }
        reply(
            name,
            request
                .body(body)
                .send()
                .await
                .expect("request reaches the fake"),
        )
        .await
    }

    /// Registers a link for `CPF` with `password`: 201 body or the 428 element.
    pub async fn register(&self, password: &str) -> Reply {
        self.post(
            "/api/links/",
            serde_json::json!({"institution": "inss_br_employment", "username": CPF, "password": password}),
        )
        .await
    }

    /// Registers and completes MFA; returns the valid link.
    pub async fn valid_link(&self) -> Value {
        let challenge = self.register("a-good-password").await;
        let element = challenge.expect(428, "token_required.json")[0].clone();
        let done = self
            .patch(
                "/api/links/",
                serde_json::json!({"link": element["link"], "session": element["session"], "token": "123456"}),
            )
            .await;
        done.expect(200, "link.json").clone()
    }
}

/// Requests with a chosen Authorization.
pub struct Caller<'a> {
    api: &'a Api,
    auth: Option<(String, String)>,
}

impl Caller<'_> {
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let name = method.to_string();
        let mut request = self.api.client.request(method, self.api.url(path));
        if let Some((id, password)) = &self.auth {
            request = request.basic_auth(id, Some(password));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(
            name,
            request.send().await.expect("request reaches the fake"),
        )
        .await
    }
}

async fn reply(method: String, response: reqwest::Response) -> Reply {
    let path = response.url().path().to_owned();
    let query = response.url().query().unwrap_or_default().to_owned();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body readable");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("every body is JSON ({e}): {text:?}"))
    };
    Reply {
        method,
        path,
        query,
        status,
        headers,
        body,
        text,
    }
}

/// What a test webhook receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Answer(u16),
    /// 500 to every other request, 200 to the rest.
    Alternate,
    /// Answer 200 after this long.
    Slow(std::time::Duration),
}

/// One webhook request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

/// A local webhook receiver on 127.0.0.1, recording every request.
pub struct Receiver {
    pub url: String,
    received: std::sync::Arc<Mutex<Vec<Received>>>,
    behaviour: std::sync::Arc<Mutex<Behaviour>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port");
        Self::serve(listener, behaviour)
    }

    /// A receiver on a port chosen before (to bring a "down" receiver up).
    pub async fn start_on(address: std::net::SocketAddr, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("the port is free again");
        Self::serve(listener, behaviour)
    }

    fn serve(listener: tokio::net::TcpListener, behaviour: Behaviour) -> Self {
        use axum::extract::State as AxumState;
        use axum::http::{HeaderMap, StatusCode};
        type Shared = (
            std::sync::Arc<Mutex<Vec<Received>>>,
            std::sync::Arc<Mutex<Behaviour>>,
        );
        async fn hook(
            AxumState((received, behaviour)): AxumState<Shared>,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> StatusCode {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let entry = Received {
                authorization: header("authorization"),
                content_type: header("content-type"),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let seen = match received.lock() {
                Ok(mut r) => {
                    r.push(entry);
                    r.len()
                }
                Err(_) => 0,
            };
            let now = behaviour
                .lock()
                .map(|b| *b)
                .unwrap_or(Behaviour::Answer(200));
            match now {
                Behaviour::Alternate if seen % 2 == 1 => StatusCode::INTERNAL_SERVER_ERROR,
                Behaviour::Alternate => StatusCode::OK,
                Behaviour::Answer(code) => {
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }
                Behaviour::Slow(wait) => {
                    tokio::time::sleep(wait).await;
                    StatusCode::OK
                }
            }
        }
        let address = listener.local_addr().expect("bound");
        let received = std::sync::Arc::new(Mutex::new(Vec::new()));
        let behaviour = std::sync::Arc::new(Mutex::new(behaviour));
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(hook))
            .with_state((received.clone(), behaviour.clone()));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            url: format!("http://{address}/hooks"),
            received,
            behaviour,
            _task: task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Answers 500 to every other request from now on.
    pub fn fail_every_other(&self) {
        self.set(Behaviour::Alternate);
    }

    pub fn set(&self, behaviour: Behaviour) {
        if let Ok(mut b) = self.behaviour.lock() {
            *b = behaviour;
        }
    }
}

/// A free loopback address nothing listens on (a receiver that is down).
pub async fn closed_address() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a loopback port");
    listener.local_addr().expect("bound")
}

/// The mock-server binary running on a free port (killed, SIGKILL, when dropped).
pub struct Binary {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Starts the binary with `--addr 127.0.0.1:0` and `args`; reads the URL from its first line
/// and keeps draining its output (a closed pipe would kill it at its next line).
pub fn spawn_binary(args: &[&std::ffi::OsStr]) -> Binary {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    lines.read_line(&mut first).ok();
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    Binary { child, base }
}
