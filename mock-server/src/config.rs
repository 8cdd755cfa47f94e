//! Runtime configuration of one fake: tenants (key pairs), MFA mode, timings, seed, public URL.
//!
//! Built by the CLI (`cli.rs`) or by hand for the in-process [`crate::MockServer`]; it holds no
//! HTTP types so the store can read it too.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The secret id used when neither `BELVO_SECRET_ID` nor a flag says otherwise.
pub const DEFAULT_SECRET_ID: &str = "sandbox-secret-id";
/// The secret password used when neither `BELVO_SECRET_PASSWORD` nor a flag says otherwise.
pub const DEFAULT_SECRET_PASSWORD: &str = "sandbox-secret-password";

/// One Belvo key pair. Each pair is a tenant with its own links, data and journals.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub id: String,
    pub password: String,
}

impl SecretKey {
    pub fn new(id: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            password: password.into(),
        }
    }
}

// Never print the password, not even in debug output.
impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl FromStr for SecretKey {
    type Err = String;

    /// Parses `ID:PASSWORD` (the password may itself contain `:`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((id, password)) if !id.is_empty() && !password.is_empty() => {
                Ok(Self::new(id, password))
            }
            _ => Err(format!("expected ID:PASSWORD, got {s:?}")),
        }
    }
}

/// Whether a link login asks for an MFA token (428) before completing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MfaMode {
    /// Every login answers 428 `token_required`, as Belvo's INSS link guide documents.
    #[default]
    Always,
    /// Logins complete at once with 201.
    Never,
}

impl FromStr for MfaMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(format!("expected always or never, got {other:?}")),
        }
    }
}

/// Everything one running fake needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Key pairs; the first is the "default" tenant printed at startup. Never empty.
    pub keys: Vec<SecretKey>,
    pub mfa: MfaMode,
    /// How long an MFA session stays usable (the 428's `expiry`).
    pub session_expiry: Duration,
    /// Unconfirmed links (registered, MFA never completed) kept per key pair; past it the
    /// oldest is forgotten with its sessions, so a flood of 428s cannot grow memory without
    /// bound.
    pub max_unconfirmed: usize,
    /// Seed of the deterministic data generator.
    pub seed: u64,
    /// Base for absolute URLs (`next`/`previous`); `None` means the request's Host header.
    pub public_url: Option<String>,
    /// Months of salary history kept per employment.
    pub salary_months: u32,
    /// Folder of per-CPF override files (`<cpf>.json`); `None`: generated data only.
    pub fixtures: Option<PathBuf>,
    /// Every tenant's webhook URL until it sets its own (`None`: events are undeliverable).
    pub webhook_url: Option<String>,
    /// The Authorization sent with webhooks (a bare token is sent as `Bearer <token>`).
    pub webhook_authorization: Option<String>,
    /// Delivery timing and bounds.
    pub webhooks: WebhookSettings,
    /// How long shutdown keeps delivering webhooks that are due.
    pub shutdown_grace: Duration,
    /// Connection limits.
    pub limits: Limits,
    /// Keep state in an SQLite database in this folder; `None`: in memory only.
    pub data_dir: Option<PathBuf>,
    /// What widget access tokens are signed with; `None`: the one kept in `data_dir`, or a new
    /// one for each run.
    pub widget_secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keys: vec![SecretKey::new(DEFAULT_SECRET_ID, DEFAULT_SECRET_PASSWORD)],
            mfa: MfaMode::Always,
            session_expiry: Duration::from_secs(120),
            max_unconfirmed: 100_000,
            seed: 1,
            public_url: None,
            salary_months: 60,
            fixtures: None,
            webhook_url: None,
            webhook_authorization: None,
            webhooks: WebhookSettings::default(),
            shutdown_grace: Duration::from_secs(5),
            limits: Limits::default(),
            data_dir: None,
            widget_secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pairs_parse_id_and_password_split_at_the_first_colon() {
        let key: SecretKey = "abc:p:w".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key, SecretKey::new("abc", "p:w"));
        assert!("nocolon".parse::<SecretKey>().is_err());
        assert!(":pw".parse::<SecretKey>().is_err());
        assert!("id:".parse::<SecretKey>().is_err());
    }

    #[test]
    fn retries_wait_linearly_by_default_or_double_when_asked() {
        let step = Duration::from_secs(3);
        let waits = |b: Backoff| {
            (1..=5)
                .map(|r| b.wait(step, r).as_secs())
                .collect::<Vec<_>>()
        };
        assert_eq!(waits(Backoff::default()), [3, 6, 9, 12, 15]);
        assert_eq!(waits(Backoff::Doubling), [3, 6, 12, 24, 48]);
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let shown = format!("{:?}", SecretKey::new("id", "hunter2hunter2"));
        assert!(!shown.contains("hunter2"));
    }
}

/// Connection-level limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once; at the cap the idlest is closed to admit a new one (a new
    /// one waits in the listen backlog only while every open one is being answered).
    pub max_connections: usize,
    /// A connection must send a request's complete headers within this (since it opened, or
    /// since its last answer went out).
    pub header_read_timeout: Duration,
    /// A request body, or an answer being written, may go this long without a byte moving.
    pub stall_timeout: Duration,
    /// A request's whole body must arrive within this.
    pub body_read_timeout: Duration,
    /// hyper's read buffer: headers larger than this are refused by hyper itself (431).
    pub max_buffer: usize,
    /// How long shutdown waits for open connections to finish their requests.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_buffer: 64 * 1024,
            drain: Duration::from_secs(5),
        }
    }
}

/// How deliveries are timed and bounded.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Time between the event and its first attempt.
    pub delay: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The retry step: linear waits are 1, 2, 3… steps (3, 6, 9, 12, 15 s by default), doubling
    /// ones 1, 2, 4… steps.
    pub backoff: Duration,
    /// How retry waits grow.
    pub schedule: Backoff,
    /// An attempt succeeds on a 2xx received within this time.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Finished deliveries kept per tenant (pending ones are never dropped).
    pub journal_limit: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(2),
            retries: 5,
            backoff: Duration::from_secs(3),
            schedule: Backoff::Linear,
            timeout: Duration::from_secs(5),
            concurrency: 32,
            journal_limit: 10_000,
        }
    }
}

/// How the waits between webhook retries grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backoff {
    /// One more step each retry: Belvo's documented "linear backoff" (belvo-api.md §11.2).
    #[default]
    Linear,
    /// Twice the previous wait each retry (the fake's schedule before Belvo's was found).
    Doubling,
}

impl Backoff {
    /// The wait before retry number `retry` (1-based).
    pub fn wait(self, step: Duration, retry: u32) -> Duration {
        let steps = match self {
            Self::Linear => retry.max(1),
            Self::Doubling => 1u32 << (retry.max(1) - 1).min(20),
        };
        step.saturating_mul(steps)
    }
}

impl FromStr for Backoff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(Self::Linear),
            "doubling" => Ok(Self::Doubling),
            other => Err(format!("expected linear or doubling, got {other:?}")),
        }
    }
}

/// Why a URL or header value is refused: the same words for the flag, the control plane and
/// the dashboard.
pub const INVALID_URL: &str = "Enter a valid URL.";
/// The message for an Authorization that is not a valid HTTP header value.
pub const INVALID_HEADER: &str = "Enter a value without control characters (CR, LF, NUL, …).";

/// Whether `url` is an absolute `http` or `https` URL with a host: the webhook URL and the
/// public URL accept nothing else.
pub fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some())
}

/// Whether `value` can be sent as an HTTP header value (RFC 9110: visible characters, spaces
/// and tabs; no CR, LF, NUL or other control characters). A webhook Authorization that is
/// not would make every attempt fail.
pub fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}
