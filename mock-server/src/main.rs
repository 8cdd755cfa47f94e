//! `mock-server`: parse the CLI, set up logs, bind, print how to use it, serve until Ctrl-C or
//! SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use mock_server::cli::Cli;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let config = cli.config();
    let listener = match TcpListener::bind(cli.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock-server: cannot listen on {}: {e}", cli.addr);
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mock-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = format!("http://{address}");
    let key = &config.keys[0];
    println!(
        "belvo-mock {} listening on {base}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  secret id:       {}", key.id);
    println!("  secret password: {}", key.password);
    if config.keys.len() > 1 {
        println!("  + {} more key pair(s) from --key", config.keys.len() - 1);
    }
    println!(
        "  MFA: {:?}, session expiry {}s, seed {}",
        config.mfa,
        config.session_expiry.as_secs(),
        config.seed
    );
    println!("Try it:");
    println!(
        "  curl -u '{}:{}' -H 'Content-Type: application/json' \\\n    -d '{{\"institution\":\"inss_br_employment\",\"username\":\"529.982.247-25\",\"password\":\"secret-123\"}}' \\\n    {base}/api/links/",
        key.id, key.password
    );
    println!("Press Ctrl-C to stop.");

    match mock_server::run(listener, config, shutdown_signal()).await {
        Ok(()) => {
            println!("belvo-mock stopped.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mock-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
