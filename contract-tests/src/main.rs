//! `contract-tests`: run the flow against the in-process fake (default) or a URL, print the
//! report, optionally write JUnit XML and a redacted recording; exit 0 only when every check
//! passes.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use contract_tests::{MfaToken, Options, Target};

/// One Belvo employment flow, checked against schemas/, against the fake or real Belvo.
#[derive(Debug, Parser)]
#[command(name = "contract-tests", version, about)]
struct Cli {
    /// `mock` (an in-process fake) or a base URL, e.g. http://127.0.0.1:8000 or https://api.belvo.com.
    #[arg(long, env = "CONTRACT_TARGET", default_value = "mock")]
    target: String,
    /// Secret id for a URL target.
    #[arg(long, env = "BELVO_SECRET_ID", hide_env_values = true)]
    secret_id: Option<String>,
    /// Secret password for a URL target.
    #[arg(long, env = "BELVO_SECRET_PASSWORD", hide_env_values = true)]
    secret_password: Option<String>,
    /// The user's CPF (a real one against production).
    #[arg(long, env = "BELVO_CPF", hide_env_values = true)]
    cpf: Option<String>,
    /// The user's INSS password.
    #[arg(long, env = "BELVO_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The MFA token, when the institution asks for one (else a prompt on a terminal).
    #[arg(long, env = "BELVO_MFA_TOKEN", hide_env_values = true)]
    mfa_token: Option<String>,
    /// Where the local webhook receiver listens.
    #[arg(long, env = "CONTRACT_WEBHOOK_LISTEN", default_value = "127.0.0.1:0")]
    webhook_listen: SocketAddr,
    /// Public URL of the receiver (a tunnel to --webhook-listen) that Belvo can POST to.
    #[arg(long, env = "CONTRACT_WEBHOOK_PUBLIC_URL")]
    webhook_public_url: Option<String>,
    /// Seconds to wait for both webhooks (or for polled counts to settle).
    #[arg(long, env = "CONTRACT_WEBHOOK_TIMEOUT", default_value_t = 120)]
    webhook_timeout: u64,
    /// Write the report as JUnit XML to this file.
    #[arg(long, env = "CONTRACT_JUNIT")]
    junit: Option<PathBuf>,
    /// Store every response, with personal data replaced, in this folder.
    #[arg(long, env = "CONTRACT_RECORD")]
    record: Option<PathBuf>,
    /// The folder of JSON schemas.
    #[arg(long, env = "CONTRACT_SCHEMAS", default_value_os_t = contract_tests::schemas::default_dir())]
    schemas: PathBuf,
    /// The contract tier: Belvo's OpenAPI document, or the extract of it this checkout ships.
    #[arg(long, env = "CONTRACT_SPEC", default_value_os_t = contract_tests::tiers::default_spec_path())]
    spec: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = if cli.target == "mock" {
        Target::InProcess
    } else {
        Target::Remote(cli.target.clone())
    };
    let defaults = Options::default();
    let against_fake = target == Target::InProcess;
    let mfa_token = match (&cli.mfa_token, against_fake) {
        (Some(t), _) => MfaToken::Fixed(t.clone()),
        (None, true) => defaults.mfa_token.clone(),
        (None, false) if std::io::stdin().is_terminal() => MfaToken::Prompt,
        (None, false) => MfaToken::Missing,
    };
    let options = Options {
        target,
        secret_id: cli.secret_id,
        secret_password: cli.secret_password,
        cpf: cli.cpf.unwrap_or(defaults.cpf.clone()),
        password: cli.password.unwrap_or(defaults.password.clone()),
        mfa_token,
        webhook_listen: cli.webhook_listen,
        webhook_public_url: cli.webhook_public_url,
        webhook_timeout: Duration::from_secs(cli.webhook_timeout),
        schemas_dir: cli.schemas,
        spec: cli.spec,
        record: cli.record.clone(),
        ..defaults
    };
    let report = contract_tests::run(options).await;
    print!("{}", report.text(true));
    if let Some(path) = &cli.junit {
        match std::fs::write(path, report.junit()) {
            Ok(()) => println!("JUnit report: {}", path.display()),
            Err(e) => {
                eprintln!("contract-tests: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = &cli.record {
        println!("recorded (redacted) responses: {}", dir.display());
    }
    let failed = report.failed_steps();
    println!(
        "contract: {} passed, {failed} failed",
        report.steps.len() - failed
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
