//! The command line: every flag also from a `BELVO_MOCK_*` environment variable (and the keys
//! from the `BELVO_SECRET_ID` / `BELVO_SECRET_PASSWORD` variables Belvo apps already use).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, DEFAULT_SECRET_ID, DEFAULT_SECRET_PASSWORD, MfaMode, SecretKey};

/// A faithful local fake of Belvo's Brazil employment API.
///
/// Without a subcommand it serves the API (see the flags); `fixtures` generates or checks
/// per-CPF data files; `healthcheck` asks a running fake whether it is up.
#[derive(Debug, Parser)]
#[command(
    name = "belvo-mock",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate or check per-CPF data files (`<cpf>.json`).
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Exit 0 when a fake answers `GET /_mock/health` with 200 within the timeout, 1 otherwise
    /// (for a container's HEALTHCHECK: a scratch image has no curl).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The fake's base URL (default: http://127.0.0.1:<port of BELVO_MOCK_ADDR, else 8000>).
    pub url: Option<String>,
    /// Seconds to wait for the answer (more than 0).
    #[arg(long, default_value_t = 3.0, value_parser = positive_seconds)]
    pub timeout: f64,
}

impl HealthcheckArgs {
    /// The URL to ask: the given one, or loopback on the port the server was told to use
    /// (an address of 0.0.0.0 is reached on 127.0.0.1).
    pub fn url(&self) -> String {
        let base = self.url.clone().unwrap_or_else(|| {
            let port = std::env::var("BELVO_MOCK_ADDR")
                .ok()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map_or(8000, |a| a.port());
            format!("http://127.0.0.1:{port}")
        });
        format!("{}/_mock/health", base.trim_end_matches('/'))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Write the data the server would serve for some CPFs, as override files.
    Generate(GenerateArgs),
    /// Check every override file of a folder, as the server does at start-up.
    Check {
        /// The folder to check.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Seed of the generator (the server's --seed).
    #[arg(long, env = "BELVO_MOCK_SEED", default_value_t = 1)]
    pub seed: u64,
    /// A CPF to generate (11 digits or XXX.XXX.XXX-XX); repeat for more.
    #[arg(long, required_unless_present = "count", conflicts_with = "count")]
    pub cpf: Vec<String>,
    /// How many CPFs to generate (chosen from the seed).
    #[arg(long)]
    pub count: Option<usize>,
    /// Folder to write `<cpf>.json` files into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Months of salary history per employment (the server's --salary-months).
    #[arg(long, env = "BELVO_MOCK_SALARY_MONTHS", default_value_t = 60)]
    pub salary_months: u32,
    /// The day the data is cut at (default: today, UTC).
    #[arg(long)]
    pub today: Option<NaiveDate>,
}

/// The flags of the server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "BELVO_MOCK_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// Secret id of the default key pair.
    #[arg(long, env = "BELVO_SECRET_ID", default_value = DEFAULT_SECRET_ID)]
    pub secret_id: String,

    /// Secret password of the default key pair.
    #[arg(long, env = "BELVO_SECRET_PASSWORD", default_value = DEFAULT_SECRET_PASSWORD, hide_env_values = true)]
    pub secret_password: String,

    /// More key pairs as ID:PASSWORD, one tenant each (repeat the flag, or comma-separate in the env var).
    #[arg(
        long = "key",
        env = "BELVO_MOCK_KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub keys: Vec<SecretKey>,

    /// Whether link logins ask for an MFA token (428 token_required) or complete at once (201).
    #[arg(long, env = "BELVO_MOCK_MFA", default_value = "always", value_parser = ["always", "never"])]
    pub mfa: String,

    /// Seconds an MFA session stays usable (the 428's `expiry`), 1 to 31,536,000 (a year).
    #[arg(long, env = "BELVO_MOCK_SESSION_EXPIRY", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub session_expiry: u64,

    /// Unconfirmed links (MFA never completed) kept per key pair, 1 to 10,000,000; past it the
    /// oldest is forgotten with its session.
    #[arg(long, env = "BELVO_MOCK_MAX_UNCONFIRMED", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_unconfirmed: u32,

    /// Seed of the deterministic data generator.
    #[arg(long, env = "BELVO_MOCK_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Base of absolute URLs in `next`/`previous`, an http(s) URL (default: http://<Host header>).
    #[arg(long, env = "BELVO_MOCK_PUBLIC_URL", value_parser = http_url)]
    pub public_url: Option<String>,

    /// Log filter: off, error, warn, info, debug or trace, or directives such as
    /// `info,belvo_mock::webhooks=debug`.
    #[arg(long, env = "BELVO_MOCK_LOG_LEVEL", default_value = "info", value_parser = log_filter)]
    pub log_level: String,

    /// Log lines as `text` or as one JSON object per line (`json`).
    #[arg(long, env = "BELVO_MOCK_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Months of salary history per employment.
    #[arg(long, env = "BELVO_MOCK_SALARY_MONTHS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1200))]
    pub salary_months: u32,

    /// Folder of per-CPF override files (default: ./fixtures when it exists).
    #[arg(long, env = "BELVO_MOCK_FIXTURES", conflicts_with = "no_fixtures")]
    pub fixtures: Option<PathBuf>,

    /// Generated data only: no override files, not even ./fixtures (an app's own fixtures
    /// folder would otherwise be read, and a file in it not named after a CPF stops start-up).
    #[arg(long, env = "BELVO_MOCK_NO_FIXTURES")]
    pub no_fixtures: bool,

    /// Once listening, write `{"url": …, "version": …, "pid": …}` (one JSON line, no secrets)
    /// to this file, so a harness can wait for it instead of reading the banner. Written
    /// whole (a temporary file renamed into place).
    #[arg(long, env = "BELVO_MOCK_READY_FILE")]
    pub ready_file: Option<PathBuf>,

    /// Where webhooks are POSTed, an http(s) URL (every key pair, until changed with PUT
    /// /_mock/webhook; empty: none).
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_URL", value_parser = webhook_url)]
    pub webhook_url: Option<String>,

    /// Authorization header for webhooks: `Bearer <token>`, `Basic <base64>`, or a bare token (sent as Bearer).
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_AUTHORIZATION", hide_env_values = true, value_parser = header_value)]
    pub webhook_authorization: Option<String>,

    /// Seconds between an event and its webhook's first attempt (virtual time; 0 allowed).
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_DELAY", default_value_t = 2.0, value_parser = seconds)]
    pub webhook_delay: f64,

    /// Retries after a failed first attempt, 0 to 20.
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_RETRIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub webhook_retries: u32,

    /// Seconds of the retry step, 0 to 3,600: retry N waits N steps (linear, as Belvo
    /// documents), or 2^(N-1) steps with `--webhook-backoff-schedule doubling`.
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_BACKOFF", default_value_t = 3.0, value_parser = backoff)]
    pub webhook_backoff: f64,

    /// How retry waits grow: `linear` (3, 6, 9, 12, 15 s; Belvo's documented policy) or
    /// `doubling` (3, 6, 12, 24, 48 s).
    #[arg(
        long,
        env = "BELVO_MOCK_WEBHOOK_BACKOFF_SCHEDULE",
        default_value = "linear"
    )]
    pub webhook_backoff_schedule: crate::config::Backoff,

    /// Seconds a receiver has to answer 2xx (more than 0).
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_TIMEOUT", default_value_t = 5.0, value_parser = positive_seconds)]
    pub webhook_timeout: f64,

    /// Webhook requests in flight at once.
    #[arg(long, env = "BELVO_MOCK_WEBHOOK_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub webhook_concurrency: u16,

    /// Seconds shutdown keeps delivering webhooks that are due.
    #[arg(long, env = "BELVO_MOCK_SHUTDOWN_GRACE", default_value_t = 5.0, value_parser = seconds)]
    pub shutdown_grace: f64,

    /// Connections open at once, 1 to 4294967295; at the cap the idlest (waiting for
    /// headers, a stalled body or an unread answer) is closed to admit a new one.
    #[arg(long, env = "BELVO_MOCK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Keep links, sessions, data, webhooks and the clock in an SQLite database in this folder
    /// (survives restarts; empty: in memory).
    #[arg(long, env = "BELVO_MOCK_DATA_DIR", value_parser = folder)]
    pub data_dir: Option<PathBuf>,

    /// Secret that widget access tokens (`POST /api/token/`, HS512 JWTs) are signed with
    /// (default: one kept in --data-dir, else a new one each run).
    #[arg(long, env = "BELVO_MOCK_WIDGET_SECRET", hide_env_values = true)]
    pub widget_secret: Option<String>,

    /// Threads serving connections, each with its own single-threaded runtime (default: one per
    /// CPU core). Webhooks and housekeeping run on the main thread.
    #[arg(long, env = "BELVO_MOCK_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// Seconds a connection has to send a request's headers (more than 0; idle connections are
    /// closed).
    #[arg(long, env = "BELVO_MOCK_HEADER_READ_TIMEOUT", default_value_t = 10.0, value_parser = positive_seconds)]
    pub header_read_timeout: f64,

    /// Seconds a request body, or an answer being written, may go without a byte moving (more
    /// than 0; then the connection is closed).
    #[arg(long, env = "BELVO_MOCK_STALL_TIMEOUT", default_value_t = 10.0, value_parser = positive_seconds)]
    pub stall_timeout: f64,

    /// Seconds a connection has to send a request's whole body (more than 0; then it is
    /// closed).
    #[arg(long, env = "BELVO_MOCK_BODY_READ_TIMEOUT", default_value_t = 30.0, value_parser = positive_seconds)]
    pub body_read_timeout: f64,
}

/// A number of seconds from 0 to 1,000,000,000.
fn seconds(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=1e9).contains(&s) => Ok(s),
        _ => Err(format!(
            "expected a number of seconds from 0 to 1000000000, got {raw:?}"
        )),
    }
}

/// A number of seconds above 0 (a timeout of 0 would refuse everything).
fn positive_seconds(raw: &str) -> Result<f64, String> {
    match seconds(raw) {
        Ok(s) if s > 0.0 => Ok(s),
        _ => Err(format!(
            "expected a number of seconds above 0 and up to 1000000000, got {raw:?}"
        )),
    }
}

/// The retry step: 0 to 3,600 s (even doubled per retry, twenty retries stay within a
/// century of virtual time).
fn backoff(raw: &str) -> Result<f64, String> {
    match seconds(raw) {
        Ok(s) if s <= 3600.0 => Ok(s),
        _ => Err(format!(
            "expected a number of seconds from 0 to 3600, got {raw:?}"
        )),
    }
}

/// An http(s) URL with a host.
fn http_url(raw: &str) -> Result<String, String> {
    if crate::config::is_http_url(raw.trim()) {
        Ok(raw.trim().to_owned())
    } else {
        Err(format!(
            "expected an http:// or https:// URL with a host, got {raw:?}"
        ))
    }
}

/// The webhook URL: an http(s) URL, or empty for none.
fn webhook_url(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        http_url(raw)
    }
}

/// A folder, or nothing when empty (`BELVO_MOCK_DATA_DIR=` in a compose file or a container's
/// environment turns the data folder off rather than stopping start-up).
fn folder(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}

/// A value that can be sent as an HTTP header.
fn header_value(raw: &str) -> Result<String, String> {
    if crate::config::is_header_value(raw) {
        Ok(raw.to_owned())
    } else {
        Err("expected a header value without control characters (CR, LF, NUL, …)".to_owned())
    }
}

/// The log levels a filter may name.
const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// A log filter: comma-separated directives, each a level or `target=level` (a typo such as
/// `warning` would otherwise be taken for a target and silence every log).
fn log_filter(raw: &str) -> Result<String, String> {
    let valid = !raw.trim().is_empty()
        && raw.split(',').all(|directive| {
            let level = directive.rsplit('=').next().unwrap_or_default().trim();
            let target_ok = match directive.split_once('=') {
                Some((target, _)) => !target.trim().is_empty(),
                None => true,
            };
            target_ok && LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str())
        });
    if valid {
        Ok(raw.trim().to_owned())
    } else {
        Err(format!(
            "expected one of {} or directives like `info,belvo_mock::webhooks=debug`, got {raw:?}",
            LOG_LEVELS.join(", ")
        ))
    }
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> Config {
        let mut keys = vec![SecretKey::new(&self.secret_id, &self.secret_password)];
        keys.extend(self.keys.iter().cloned());
        Config {
            keys,
            mfa: self.mfa.parse().unwrap_or(MfaMode::Always),
            session_expiry: Duration::from_secs(self.session_expiry),
            max_unconfirmed: self.max_unconfirmed as usize,
            seed: self.seed,
            public_url: self.public_url.clone(),
            salary_months: self.salary_months,
            fixtures: if self.no_fixtures {
                None
            } else {
                self.fixtures.clone().or_else(|| {
                    let default = PathBuf::from("fixtures");
                    default.is_dir().then_some(default)
                })
            },
            webhook_url: self.webhook_url.clone().filter(|u| !u.is_empty()),
            webhook_authorization: self.webhook_authorization.clone().filter(|a| !a.is_empty()),
            webhooks: crate::webhooks::Settings {
                delay: Duration::from_secs_f64(self.webhook_delay),
                retries: self.webhook_retries,
                backoff: Duration::from_secs_f64(self.webhook_backoff),
                schedule: self.webhook_backoff_schedule,
                timeout: Duration::from_secs_f64(self.webhook_timeout),
                concurrency: usize::from(self.webhook_concurrency),
                ..crate::webhooks::Settings::default()
            },
            shutdown_grace: Duration::from_secs_f64(self.shutdown_grace),
            limits: crate::server::Limits {
                max_connections: self.max_connections as usize,
                header_read_timeout: Duration::from_secs_f64(self.header_read_timeout.max(0.001)),
                stall_timeout: Duration::from_secs_f64(self.stall_timeout.max(0.001)),
                body_read_timeout: Duration::from_secs_f64(self.body_read_timeout.max(0.001)),
                ..crate::server::Limits::default()
            },
            data_dir: self.data_dir.clone().filter(|d| !d.as_os_str().is_empty()),
            widget_secret: self.widget_secret.clone().filter(|s| !s.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_the_config_with_the_default_pair_first() {
        let cli = Cli::try_parse_from([
            "belvo-mock",
            "--key",
            "a:b",
            "--key",
            "c:d",
            "--mfa",
            "never",
            "--session-expiry",
            "30",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let config = cli.serve.config();
        assert_eq!(config.keys.len(), 3);
        assert_eq!(config.keys[1], SecretKey::new("a", "b"));
        assert_eq!(config.mfa, MfaMode::Never);
        assert_eq!(config.session_expiry, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_are_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["belvo-mock", "--mfa", "sometimes"]).is_err());
        assert!(Cli::try_parse_from(["belvo-mock", "--key", "nocolon"]).is_err());
        assert!(Cli::try_parse_from(["belvo-mock", "--addr", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["belvo-mock", "--salary-months", "0"]).is_err());
        assert!(Cli::try_parse_from(["belvo-mock", "--webhook-delay", "-1"]).is_err());
        assert!(Cli::try_parse_from(["belvo-mock", "--webhook-concurrency", "0"]).is_err());
    }

    /// Flags outside their documented range, URLs that are not http(s), header values with
    /// control characters and log-level typos stop start-up (exit 2) with the range named.
    #[test]
    fn out_of_range_flags_bad_urls_and_log_typos_are_refused_naming_what_is_valid() {
        let refused = |args: &[&str]| {
            let mut all = vec!["belvo-mock"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all) {
                Ok(_) => panic!("{args:?} was accepted"),
                Err(e) => e.to_string(),
            }
        };
        assert!(refused(&["--session-expiry", "18446744073709551615"]).contains("1..=31536000"));
        assert!(refused(&["--session-expiry", "0"]).contains("1..=31536000"));
        assert!(
            refused(&["--log-level", "warning"]).contains("off, error, warn, info, debug, trace")
        );
        assert!(refused(&["--log-level", "=debug"]).contains("directives"));
        for url in ["ftp://x", "notaurl", "http://"] {
            assert!(
                refused(&["--webhook-url", url]).contains("http:// or https://"),
                "{url}"
            );
        }
        assert!(refused(&["--public-url", "nonsense"]).contains("http:// or https://"));
        assert!(refused(&["--webhook-timeout", "0"]).contains("above 0"));
        assert!(refused(&["--header-read-timeout", "0"]).contains("above 0"));
        assert!(refused(&["--webhook-backoff", "7200"]).contains("0 to 3600"));
        assert!(
            refused(&["--webhook-backoff-schedule", "exponential"])
                .contains("expected linear or doubling")
        );
        assert!(refused(&["--stall-timeout", "0"]).contains("above 0"));
        assert!(refused(&["--body-read-timeout", "0"]).contains("above 0"));
        assert!(refused(&["--webhook-retries", "21"]).contains("0..=20"));
        assert!(
            refused(&["--webhook-authorization", "Bearer a\r\nX-Evil: 1"])
                .contains("control characters")
        );
        // What stays accepted.
        for ok in [
            vec!["--log-level", "WARN"],
            vec!["--log-level", "info,belvo_mock::webhooks=debug"],
            vec!["--webhook-url", ""],
            vec!["--webhook-url", "https://hooks.example/x"],
            vec!["--public-url", "http://127.0.0.1:8000"],
        ] {
            let mut all = vec!["belvo-mock"];
            all.extend(ok.iter().copied());
            assert!(Cli::try_parse_from(all).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn fixtures_generate_needs_cpfs_or_a_count_and_an_output_folder() {
        assert!(Cli::try_parse_from(["belvo-mock", "fixtures", "generate", "--out", "x"]).is_err());
        assert!(
            Cli::try_parse_from([
                "belvo-mock",
                "fixtures",
                "generate",
                "--cpf",
                "52998224725",
                "--count",
                "3",
                "--out",
                "x"
            ])
            .is_err()
        );
        let cli = Cli::try_parse_from([
            "belvo-mock",
            "fixtures",
            "generate",
            "--count",
            "3",
            "--out",
            "x",
            "--seed",
            "9",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Some(Command::Fixtures(FixturesCommand::Generate(args))) = cli.command else {
            panic!("expected fixtures generate");
        };
        assert_eq!((args.count, args.seed), (Some(3), 9));
    }

    #[test]
    fn healthcheck_asks_the_given_url_or_loopback_on_the_configured_port() {
        let given = HealthcheckArgs {
            url: Some("http://fake:9000/".into()),
            timeout: 1.0,
        };
        assert_eq!(given.url(), "http://fake:9000/_mock/health");
        let cli = Cli::try_parse_from(["belvo-mock", "healthcheck", "--timeout", "0.5"])
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(Command::Healthcheck(args)) = cli.command else {
            panic!("expected healthcheck");
        };
        assert!(args.url.is_none());
        assert!(Cli::try_parse_from(["belvo-mock", "healthcheck", "--timeout", "0"]).is_err());
    }

    #[test]
    fn an_empty_data_dir_means_in_memory() {
        let cli =
            Cli::try_parse_from(["belvo-mock", "--data-dir", ""]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.serve.config().data_dir, None);
        let cli = Cli::try_parse_from(["belvo-mock", "--data-dir", "/var/lib/belvo-mock"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.serve.config().data_dir,
            Some(PathBuf::from("/var/lib/belvo-mock"))
        );
    }
}
