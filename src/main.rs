//! The `eipd` command: parses flags, sets up logging, runs the server.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use eipd::auth::Authenticator;
use eipd::config::{Config, LogFormat, ServeArgs};
use eipd::faults::Faults;
use eipd::metrics::Metrics;
use eipd::server::{self, AppState};
use eipd::store::{Store, StoreKind};
use tracing_subscriber::EnvFilter;

/// A local implementation of the Amazon EC2 Elastic IP address API.
///
/// Point any EC2 client at it (boto3 `endpoint_url`, `aws --endpoint-url`,
/// the Rust SDK's `endpoint_url`) with dummy credentials: it speaks the EC2
/// Query protocol (2016-11-15) and answers as AWS does.
///
/// Start a server:        eipd serve
/// Throwaway, any port:   eipd serve --store memory --listen 127.0.0.1:0
/// Try it:                aws --endpoint-url http://127.0.0.1:4599 ec2 allocate-address
#[derive(Parser, Debug)]
#[command(
    name = "eipd",
    version,
    about,
    long_about,
    after_help = "Every option also reads an EIPD_* environment variable; `eipd serve --help` lists them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the EC2 Elastic IP server
    ///
    /// State lives in an embedded store in the data directory and survives
    /// restarts and crashes; every acknowledged change is on disk before its
    /// answer is sent. Logs go to standard error (RUST_LOG=debug logs every
    /// request); the address the server listens on is printed on standard
    /// output.
    Serve(ServeArgs),
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("eipd: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    init_logging(config.log_format);
    config.prepare_data_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let started = Instant::now();
        let listener = server::bind(config.listen).await?;
        let auth = Authenticator::load(config.auth, config.credentials.as_deref())?;
        let store = Store::open(&config.store, config.settings.clone(), config.group_commit)?;
        let local = listener.local_addr()?;
        let where_data = match &config.store {
            StoreKind::Memory => "memory (nothing is kept after exit)".to_owned(),
            StoreKind::Embedded(path) => format!("embedded at {}", path.display()),
            StoreKind::Postgres(url) => format!("postgres at {}", eipd::store::redact_url(url)),
        };
        tracing::info!(listen = %local, store = %where_data, auth = ?config.auth, users = auth.user_count(), "eipd ready");
        if !config.faults.is_off() {
            tracing::warn!(
                faults = ?config.faults.specs(),
                consistency_delay_ms = config.faults.consistency_delay_ms,
                "fault injection is on"
            );
        }
        let mut stdout = std::io::stdout();
        writeln!(stdout, "eipd listening on http://{local} (store: {where_data})")?;
        stdout.flush()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
        });
        let state = AppState {
            store,
            auth: Arc::new(auth),
            metrics: Arc::new(Metrics::new()),
            started,
            faults: Arc::new(Faults::new(config.faults)),
        };
        server::run(listener, state, stopped).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
