//! The step runner: sends one request, checks the body at both tiers (Belvo's spec for the
//! operation and status, the fake's schema its status calls for), and records a step
//! (request, status, latency, failing violations, drift, failed expectations). It can record
//! every response, redacted, into a folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::redact::Redactor;
use crate::report::Step;
use crate::tiers::Tiers;

/// Changes a response body before it is checked (tests use it to prove the suite can fail).
pub type Tamper = Arc<dyn Fn(&str, &mut Value) + Send + Sync>;

/// One answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Talks to the target and keeps the steps.
pub struct Runner {
    client: reqwest::Client,
    base: String,
    auth: (String, String),
    tiers: Tiers,
    /// The target is a belvo-mock: every difference at either tier fails.
    exact: bool,
    pub steps: Vec<Step>,
    redactor: Redactor,
    record: Option<PathBuf>,
    recorded: usize,
    tamper: Option<Tamper>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("base", &self.base)
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl Runner {
    pub fn new(
        base: String,
        auth: (String, String),
        tiers: Tiers,
        exact: bool,
        record: Option<PathBuf>,
        tamper: Option<Tamper>,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!(
                "belvo-mock-contract-tests/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            auth,
            tiers,
            exact,
            steps: Vec::new(),
            redactor: Redactor::new(),
            record,
            recorded: 0,
            tamper,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Checks a body that answers no request of the run (a webhook) at the shape tier, and
    /// adds what it finds to the last step.
    pub fn judge_last(&mut self, shape: &str, body: &Value) {
        let verdict = self.tiers.judge("", "", 0, Some(shape), body, self.exact);
        if let Some(step) = self.steps.last_mut() {
            step.violations.extend(verdict.failing);
            step.drift.extend(verdict.drift);
        }
    }

    /// Sends a request with the run's keys (or `auth`), expects one of `expected`
    /// `(status, schema)` pairs and records the step. `None` when nothing usable came back.
    pub async fn call(
        &mut self,
        name: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: &[(u16, &str)],
    ) -> Option<Answer> {
        let auth = self.auth.clone();
        self.call_as(name, method, path, body, expected, Some(&auth))
            .await
    }

    pub async fn call_as(
        &mut self,
        name: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: &[(u16, &str)],
        auth: Option<&(String, String)>,
    ) -> Option<Answer> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let shown_path = url.strip_prefix(&self.base).unwrap_or(&url).to_owned();
        let mut step = Step {
            name: name.to_owned(),
            request: format!("{method} {}", self.redactor.path(&shown_path)),
            ..Step::default()
        };
        // The keys go to the target's origin only: a `next` (or any URL an answer hands over)
        // that points elsewhere, a misconfigured proxy's or a hostile one, gets nothing.
        if let Some(target) = foreign_origin(&self.base, &url) {
            step.failures.push(format!(
                "{url} is not at the target's origin ({target}): nothing was sent there (the keys go to the target only)"
            ));
            self.steps.push(step);
            return None;
        }
        let mut request = self.client.request(method.clone(), &url);
        if let Some((id, password)) = auth {
            request = request.basic_auth(id, Some(password));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = request.send().await;
        let answer = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                step.latency = started.elapsed();
                step.status = Some(status);
                let mut body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_str(&text) {
                        Ok(v) => v,
                        Err(e) => {
                            step.failures.push(format!("the body is not JSON: {e}"));
                            Value::Null
                        }
                    }
                };
                if let Some(tamper) = &self.tamper {
                    tamper(name, &mut body);
                }
                Some(Answer { status, body })
            }
            Err(e) => {
                step.latency = started.elapsed();
                step.failures.push(format!("no answer: {e}"));
                None
            }
        };
        if let Some(answer) = &answer {
            let shape = expected
                .iter()
                .find(|(status, _)| *status == answer.status)
                .map(|(_, schema)| *schema);
            if shape.is_none() {
                let wanted: Vec<String> = expected.iter().map(|(s, _)| s.to_string()).collect();
                let code = answer.body[0]["code"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                step.failures.push(format!(
                    "expected status {}, got {}{code}",
                    wanted.join(" or "),
                    answer.status
                ));
            }
            // The spec is looked up by the URL's own path (a `next` is absolute), less the
            // target's own path (`--target https://gateway.example/belvo`).
            let spec_path = api_path(&self.base, &url);
            let verdict = self.tiers.judge(
                method.as_str(),
                &spec_path,
                answer.status,
                shape,
                &answer.body,
                self.exact,
            );
            step.violations = verdict.failing;
            step.drift = verdict.drift;
            let schema = expected
                .iter()
                .find(|(status, _)| *status == answer.status)
                .map_or("", |(_, schema)| schema);
            self.save(name, &method, &shown_path, schema, answer);
        }
        self.steps.push(step);
        answer
    }

    /// Stores a redacted copy of an answer when recording.
    fn save(&mut self, name: &str, method: &Method, path: &str, schema: &str, answer: &Answer) {
        let Some(dir) = &self.record else {
            return;
        };
        self.recorded += 1;
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let file = dir.join(format!("{:02}-{slug}.json", self.recorded));
        let entry = json!({
            "step": name,
            "method": method.as_str(),
            "path": self.redactor.path(path),
            "status": answer.status,
            "schema": (!schema.is_empty()).then_some(schema),
            "body": self.redactor.body(&answer.body),
        });
        let text = serde_json::to_string_pretty(&entry).unwrap_or_default();
        if let Err(e) = std::fs::write(&file, text + "\n") {
            self.steps.push(Step {
                name: format!("record {name}"),
                failures: vec![format!("cannot write {}: {e}", file.display())],
                ..Step::default()
            });
        }
    }

    /// Records a cross-check: passes when `failures` is empty.
    pub fn check(&mut self, name: &str, failures: Vec<String>, notes: Vec<String>) {
        self.steps.push(Step {
            name: name.to_owned(),
            failures,
            notes,
            ..Step::default()
        });
    }

    /// Adds a note to the last step.
    pub fn note(&mut self, note: impl Into<String>) {
        if let Some(step) = self.steps.last_mut() {
            step.notes.push(note.into());
        }
    }

    /// Fails the last step with a message.
    pub fn fail(&mut self, failure: impl Into<String>) {
        if let Some(step) = self.steps.last_mut() {
            step.failures.push(failure.into());
        }
    }
}

/// The path of `url` as Belvo's spec names it: without the query, and without the path of
/// `base` when the target sits below one.
fn api_path(base: &str, url: &str) -> String {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    let prefix = reqwest::Url::parse(base)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    match path.strip_prefix(&prefix) {
        Some(rest) if !prefix.is_empty() && rest.starts_with('/') => rest.to_owned(),
        _ => path,
    }
}

/// `scheme://host:port` of a URL, the port made explicit.
fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(format!(
        "{}://{host}:{}",
        url.scheme(),
        url.port_or_known_default()?
    ))
}

/// The target's origin when `url` is not at it (`None`: the same origin, so the keys may go).
fn foreign_origin(base: &str, url: &str) -> Option<String> {
    let target = origin(base).unwrap_or_else(|| base.to_owned());
    (origin(url).as_deref() != Some(target.as_str())).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::{api_path, foreign_origin};

    #[test]
    fn the_spec_path_leaves_out_the_query_and_the_targets_own_path() {
        assert_eq!(
            api_path(
                "https://api.belvo.com",
                "https://api.belvo.com/api/owners/?link=x"
            ),
            "/api/owners/"
        );
        assert_eq!(
            api_path(
                "https://gw.test/belvo/",
                "https://gw.test/belvo/api/links/1/"
            ),
            "/api/links/1/"
        );
        assert_eq!(
            api_path("https://gw.test/belvo", "https://gw.test/belvo-other/api/"),
            "/belvo-other/api/"
        );
    }

    #[test]
    fn only_the_targets_own_origin_gets_the_keys() {
        let base = "https://api.belvo.com";
        assert_eq!(
            foreign_origin(base, "https://api.belvo.com/api/links/?page=2"),
            None
        );
        assert_eq!(foreign_origin(base, "https://API.belvo.com:443/api/"), None);
        for elsewhere in [
            "https://sandbox.belvo.com/api/links/?page=2",
            "http://api.belvo.com/api/links/",
            "https://api.belvo.com:8443/api/links/",
            "https://api.belvo.com.evil.test/api/",
            "not a url",
        ] {
            assert_eq!(
                foreign_origin(base, elsewhere).as_deref(),
                Some("https://api.belvo.com:443"),
                "{elsewhere}"
            );
        }
        assert_eq!(
            foreign_origin("http://127.0.0.1:8000", "http://127.0.0.1:9000/api/"),
            Some("http://127.0.0.1:8000".to_owned())
        );
    }
}
