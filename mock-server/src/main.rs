//! `belvo-mock`: parse the CLI, then either serve (set up logs, bind, print how to use it,
//! serve until Ctrl-C or SIGTERM) or run a `fixtures` or `healthcheck` subcommand.

use std::process::ExitCode;

use clap::Parser;
use mock_server::cli::{
    Cli, Command, FixturesCommand, GenerateArgs, HealthcheckArgs, LogFormat, ServeArgs,
};
use mock_server::fixtures;
use tracing_subscriber::EnvFilter;

mod log_format;
mod log_sink;

// Every request allocates a little; glibc's allocator serialises those between the two
// worker threads (its arena lock showed in the load profile), mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Fixtures(FixturesCommand::Generate(args))) => generate(&args),
        Some(Command::Fixtures(FixturesCommand::Check { dir })) => check(&dir),
        Some(Command::Healthcheck(args)) => healthcheck(&args),
        None => serve(cli.serve),
    }
}

fn generate(args: &GenerateArgs) -> ExitCode {
    let cpfs: Vec<String> = match args.count {
        Some(n) => fixtures::cpfs_for(args.seed, n),
        None => {
            let mut digits = Vec::new();
            for cpf in &args.cpf {
                if fixtures::is_cpf(cpf) {
                    digits.push(cpf.chars().filter(char::is_ascii_digit).collect());
                } else {
                    eprintln!(
                        "belvo-mock: {cpf:?} is not a valid CPF (11 digits or XXX.XXX.XXX-XX with valid check digits)"
                    );
                    return ExitCode::FAILURE;
                }
            }
            digits
        }
    };
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    match fixtures::write_files(args.seed, &cpfs, today, args.salary_months, &args.out) {
        Ok(paths) => {
            println!(
                "wrote {} file(s) to {} (seed {}, as of {today})",
                paths.len(),
                args.out.display(),
                args.seed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("belvo-mock: cannot write to {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}

/// Log lines are formatted where they happen and written to stdout by a thread of their own
/// ([`log_sink`]: per-thread buffers emptied every 50 ms), so a request never waits on a slow
/// terminal or pipe. When stdout cannot keep up, a thread's lines past 8 MiB of buffer are
/// dropped rather than slowing the server, and how many is said on stderr once a second while
/// it happens. No ANSI colours unless stdout is a terminal and `NO_COLOR` is unset.
fn logging(level: &str, format: LogFormat) -> Option<log_sink::Guard> {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = match log_sink::Sink::spawn(std::io::stdout()) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("belvo-mock: no log writer thread ({e}): logging to stderr");
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .init();
            return None;
        }
    };
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text if ansi => builder.with_ansi(true).init(),
        // Piped or NO_COLOR: the same line, written with less work (see log_format).
        LogFormat::Text => builder
            .with_ansi(false)
            .event_format(log_format::Plain)
            .init(),
        // Flattened: a line's fields sit beside `timestamp`, `level` and `target`, as log
        // collectors expect, rather than under a `fields` object.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    Some(guard)
}

/// The ready file: one JSON line, written to a temporary file and renamed into place so a
/// reader never sees half of it.
fn write_ready_file(path: &std::path::Path, base: &str) -> std::io::Result<()> {
    let line = serde_json::json!({
        "url": base,
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
    });
    let partial = path.with_extension("partial");
    std::fs::write(&partial, format!("{line}\n"))?;
    std::fs::rename(&partial, path)
}

/// `GET <url>/_mock/health` once: 0 on a 200, 1 (with the reason on stderr) otherwise.
fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let url = args.url();
    let ask = async {
        // Straight to the fake: a proxy from HTTP_PROXY would not reach its loopback port
        // (a container's HEALTHCHECK inherits the proxy settings Docker injects).
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs_f64(args.timeout))
            .no_proxy()
            .build()?;
        client.get(&url).send().await
    };
    let answer = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(ask),
        Err(e) => {
            eprintln!("belvo-mock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(response) if response.status() == reqwest::StatusCode::OK => {
            println!("{url}: healthy");
            ExitCode::SUCCESS
        }
        Ok(response) => {
            eprintln!("belvo-mock: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            // reqwest's message is only the outermost layer ("error sending request"); the
            // cause (refused, timed out) is further down the chain.
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                reason = format!("{reason}: {cause}");
                source = cause.source();
            }
            eprintln!("belvo-mock: {url} did not answer: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn check(dir: &std::path::Path) -> ExitCode {
    match fixtures::Overrides::load(dir) {
        Ok(overrides) => {
            println!("{}: {} override file(s) OK", dir.display(), overrides.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("belvo-mock: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    // Flushed when dropped, at the end of this function: the last lines are not lost.
    let _log = logging(&args.log_level, args.log_format);
    // Connections are served on worker threads (one single-threaded runtime each); the main
    // thread's runtime accepts them and runs webhooks, housekeeping and signals.
    let count = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let workers = match mock_server::server::Workers::start(count) {
        Ok(w) => std::sync::Arc::new(w),
        Err(e) => {
            eprintln!("belvo-mock: cannot start the worker threads: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("belvo-mock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve_async(args, std::sync::Arc::clone(&workers)));
    // Stops and joins the workers here, outside any runtime.
    drop(workers);
    code
}

async fn serve_async(
    args: ServeArgs,
    workers: std::sync::Arc<mock_server::server::Workers>,
) -> ExitCode {
    let config = args.config();
    let listener = match mock_server::server::bind(args.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("belvo-mock: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("belvo-mock: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Everything start-up needs, once: a bad fixture file, a damaged, newer or busy
    // database stops start-up before anything is announced.
    let app = match mock_server::App::build(&config) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("belvo-mock: not starting: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = format!("http://{address}");
    if let Some(path) = &args.ready_file
        && let Err(e) = write_ready_file(path, &base)
    {
        eprintln!(
            "belvo-mock: cannot write the ready file {}: {e}",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    let key = &config.keys[0];
    // A password from the environment may be a real one (the contract suite's production
    // keys): it is not printed.
    let from_env =
        std::env::var("BELVO_SECRET_PASSWORD").is_ok_and(|p| !p.is_empty() && p == key.password);
    let password = if from_env {
        "$BELVO_SECRET_PASSWORD".to_owned()
    } else {
        key.password.clone()
    };
    println!(
        "belvo-mock {} listening on {base}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  BELVO_API_URL={base}");
    println!("  secret id:       {}", key.id);
    if from_env {
        println!("  secret password: ******** (from BELVO_SECRET_PASSWORD)");
    } else {
        println!("  secret password: {}", key.password);
    }
    if config.keys.len() > 1 {
        println!("  + {} more key pair(s) from --key", config.keys.len() - 1);
    }
    println!(
        "  MFA: {:?}, session expiry {}s, seed {}, {} salary months",
        config.mfa,
        config.session_expiry.as_secs(),
        config.seed,
        config.salary_months
    );
    match &config.fixtures {
        Some(dir) => println!(
            "  fixtures: {} override file(s) from {}",
            app.fixture_files,
            dir.display()
        ),
        None => println!("  fixtures: none (generated data only)"),
    }
    match app.database() {
        Some(file) => println!("  state: {} (survives restarts)", file.display()),
        None => println!("  state: in memory (use --data-dir to keep it across restarts)"),
    }
    match &config.webhook_url {
        Some(url) => println!(
            "  webhooks: POST {url} after {:.1}s (retries: {})",
            config.webhooks.delay.as_secs_f64(),
            config.webhooks.retries
        ),
        None => println!(
            "  webhooks: no URL yet (events are journaled as undeliverable); set one with --webhook-url or PUT {base}/_mock/webhook"
        ),
    }
    println!("  dashboard: {base}/_mock/ui/ (sign in with the keys above)");
    println!("Try it:");
    println!(
        "  curl -u '{}:{}' -H 'Content-Type: application/json' \\\n    -d '{{\"institution\":\"inss_br_employment\",\"username\":\"529.982.247-25\",\"password\":\"secret-123\"}}' \\\n    {base}/api/links/",
        key.id, password
    );
    println!("Press Ctrl-C to stop.");

    match mock_server::run_app(listener, app, config, workers, shutdown_signal()).await {
        Ok(()) => {
            println!("belvo-mock stopped.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("belvo-mock: {e}");
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
