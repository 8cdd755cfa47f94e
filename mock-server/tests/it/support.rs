//! Test support: a fake started on port 0, an HTTP client that speaks to it, and validation of
//! every response body against `schemas/` and Belvo's spec (both test-kit's, as is the webhook
//! receiver).

use mock_server::{Config, MockServer, SecretKey};
use reqwest::Method;
use serde_json::Value;

pub use test_kit::{Behaviour, Receiver, assert_schema, assert_spec};

/// The `id` of a body (a link, owner or employment).
pub fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
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
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_belvo-mock"))
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
