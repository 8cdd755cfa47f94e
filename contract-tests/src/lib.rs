//! contract-tests: one Belvo employment flow, checked at two tiers (Belvo's contract, from
//! its OpenAPI document, and the fake's exact shape, `schemas/`), run unchanged against the
//! in-process fake or a base URL (a separately started belvo-mock, or Belvo production), so
//! users learn where the fake and the real API differ, and whether the difference can break
//! an app.
//!
//! # Layout
//! - [`flow`]: the steps, identical for every target, and the cross-checks.
//! - [`runner`]: one request → one step; the keys go to the target's origin only.
//! - [`tiers`]: the contract and shape checks, and which differences fail.
//! - [`report`]: the text and JUnit report, every difference classified.
//! - [`drift`]: recorded sets of responses checked and compared with the fake.
//! - [`redact`]: personal data out of recordings and paths.
//!
//! ```no_run
//! # async fn demo() {
//! let report = contract_tests::run(contract_tests::Options::default()).await;
//! println!("{}", report.text(true));
//! assert!(report.passed());
//! # }
//! ```

pub mod drift;
pub mod flow;
pub mod redact;
pub mod report;
pub mod runner;
pub mod tiers;

// The schema set and the webhook receiver are test-kit's, shared with mock-server's tests;
// re-exported so `contract_tests::schemas::…` and `contract_tests::receiver::…` stay put.
pub use test_kit::{receiver, schemas};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mock_server::{Config, MockServer};

pub use flow::MfaToken;
pub use report::{Report, Step};
pub use runner::Tamper;
pub use schemas::{SchemaSet, Violation};

/// Who the flow talks to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// A fake started in this process (`mock_server::MockServer`), webhook delay 0.
    #[default]
    InProcess,
    /// A base URL: a running belvo-mock or `https://api.belvo.com`.
    Remote(String),
}

/// Everything a run needs.
#[derive(Clone)]
pub struct Options {
    pub target: Target,
    /// Secret keys for a remote target (defaults: the fake's sandbox keys).
    pub secret_id: Option<String>,
    pub secret_password: Option<String>,
    /// The user's CPF and INSS password (defaults work against the fake only).
    pub cpf: String,
    pub password: String,
    pub mfa_token: MfaToken,
    /// Where the local webhook receiver listens.
    pub webhook_listen: SocketAddr,
    /// The public URL of the receiver (a tunnel) that a remote Belvo can POST to.
    pub webhook_public_url: Option<String>,
    /// How long to wait for both webhooks (or for polled counts to settle).
    pub webhook_timeout: Duration,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    pub schemas_dir: PathBuf,
    /// The contract tier's document (`schemas/contract/belvo-openapi.json`).
    pub spec: PathBuf,
    /// Store every response, redacted, in this folder.
    pub record: Option<PathBuf>,
    /// Changes responses before they are checked (to prove the suite can fail).
    pub tamper: Option<Tamper>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets, the CPF and the password stay out of debug output.
        f.debug_struct("Options")
            .field("target", &self.target)
            .field("webhook_listen", &self.webhook_listen)
            .field("webhook_public_url", &self.webhook_public_url)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            target: Target::InProcess,
            secret_id: None,
            secret_password: None,
            cpf: "529.982.247-25".to_owned(),
            password: "contract-tests-password".to_owned(),
            mfa_token: MfaToken::Fixed("123456".to_owned()),
            webhook_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            webhook_public_url: None,
            webhook_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            schemas_dir: schemas::default_dir(),
            spec: tiers::default_spec_path(),
            record: None,
            tamper: None,
        }
    }
}

/// Whether `base` is a belvo-mock (it answers `/_mock/health`).
async fn is_fake(base: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let Ok(response) = client.get(format!("{base}/_mock/health")).send().await else {
        return false;
    };
    response.status().is_success()
        && response
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|v| v["status"] == "ok")
}

/// Runs the flow once and reports every step. The link it creates is deleted at the end,
/// even when a step failed.
pub async fn run(options: Options) -> Report {
    let started = Instant::now();
    let failed = |target: String, problem: String| Report {
        target,
        steps: vec![Step {
            name: "set up".to_owned(),
            failures: vec![problem],
            ..Step::default()
        }],
        duration: started.elapsed(),
    };
    let tiers = match tiers::Tiers::load(&options.schemas_dir, &options.spec) {
        Ok(t) => t,
        Err(e) => return failed(format!("{:?}", options.target), e),
    };
    if let Some(dir) = &options.record
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return failed(
            format!("{:?}", options.target),
            format!("cannot create {}: {e}", dir.display()),
        );
    }

    // The fake for an in-process run lives as long as this function.
    let mut _server = None;
    let (label, base, keys, fake) = match &options.target {
        Target::InProcess => {
            let mut config = Config::default();
            config.webhooks.delay = Duration::ZERO;
            let server = match MockServer::start_with(config).await {
                Ok(s) => s,
                Err(e) => {
                    return failed(
                        "in-process fake".to_owned(),
                        format!("the fake did not start: {e}"),
                    );
                }
            };
            let (id, password) = server.secret_keys();
            let keys = (id.to_owned(), password.to_owned());
            let base = server.uri();
            _server = Some(server);
            ("in-process fake".to_owned(), base, keys, true)
        }
        Target::Remote(url) => {
            let base = url.trim_end_matches('/').to_owned();
            let fake = is_fake(&base).await;
            let keys = (
                options
                    .secret_id
                    .clone()
                    .unwrap_or_else(|| mock_server::config::DEFAULT_SECRET_ID.to_owned()),
                options
                    .secret_password
                    .clone()
                    .unwrap_or_else(|| mock_server::config::DEFAULT_SECRET_PASSWORD.to_owned()),
            );
            let label = if fake {
                format!("{base} (belvo-mock)")
            } else {
                base.clone()
            };
            (label, base, keys, fake)
        }
    };

    // A receiver is useful when the target can reach it: a fake on this machine, or a remote
    // Belvo through the public URL of a tunnel (configured in Belvo's dashboard).
    let wants_receiver = fake || options.webhook_public_url.is_some();
    let receiver = if wants_receiver {
        match receiver::Receiver::bind(options.webhook_listen, receiver::Behaviour::Answer(200))
            .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                return failed(
                    label,
                    format!("cannot listen on {}: {e}", options.webhook_listen),
                );
            }
        }
    } else {
        None
    };
    let receiver_url = options.webhook_public_url.clone().or_else(|| {
        receiver
            .as_ref()
            .map(|r| format!("http://{}/belvo-webhooks", r.address))
    });
    let context = flow::Context {
        cpf: options.cpf.clone(),
        password: options.password.clone(),
        // Any token but 000000 completes a fake's MFA.
        mfa_token: match (&options.mfa_token, fake) {
            (MfaToken::Missing, true) => MfaToken::Fixed("123456".to_owned()),
            (token, _) => token.clone(),
        },
        receiver,
        receiver_url,
        fake,
        owns_clock: _server.is_some(),
        webhook_timeout: options.webhook_timeout,
        today: chrono::Utc::now().date_naive(),
    };
    let mut runner = runner::Runner::new(
        base,
        keys,
        tiers,
        fake,
        options.record.clone(),
        options.tamper.clone(),
        options.request_timeout,
    );
    let saved = flow::save_webhook(&mut runner, &context).await;
    let link = flow::run(&mut runner, &context).await;
    if let Some(link) = link {
        flow::cleanup(&mut runner, &link).await;
    }
    if let Some(saved) = saved {
        flow::restore_webhook(&mut runner, &saved).await;
    }
    Report {
        target: label,
        steps: runner.steps,
        duration: started.elapsed(),
    }
}
