//! The `eipd` command: parses flags, sets up logging, runs the server.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::sync::Arc;

use eipd::app::AppState;
use eipd::auth::Authenticator;
use eipd::config::{Config, LogFormat, ServeArgs};
use eipd::faults::Faults;
use eipd::metrics::Metrics;
use eipd::server;
use eipd::store::{Offline, Store, StoreKind};
use eipd::transfer;
use tracing_subscriber::EnvFilter;

// glibc malloc was ~11% of the request path in profiles; mimalloc is faster
// at the small, cross-thread allocations a request makes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    verbatim_doc_comment,
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
    /// Write the whole state as JSON Lines (a header, then one record a line)
    ///
    /// For backups and fixtures. Reads the store the same options name as for
    /// `serve`; an embedded store must not be open in a running server. From
    /// a damaged embedded store it writes every sound record, lists what it
    /// left out, and exits 1.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Where to write [default: standard output]
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify an embedded store without changing it
    ///
    /// Checks every record's checksum and JSON, that the journal replays,
    /// and the invariants of the state they make (one public IP one
    /// holder, one address per association target, one interface per
    /// private IP, references that resolve), then lists every problem.
    /// Exit status 0: sound; 1: problems (or the store cannot be read).
    /// The server must not be running on the directory.
    Check {
        /// The data directory [default: as for `serve`]
        #[arg(long, env = "EIPD_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Replace the whole state by an export, all or nothing
    ///
    /// Every line is read and checked before anything is written; the store
    /// is then replaced in one transaction. A store that holds anything is
    /// refused unless --replace is given.
    Import {
        /// The export to read (`-` for standard input)
        #[arg(value_name = "FILE")]
        input: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Replace a store that is not empty
        #[arg(long)]
        replace: bool,
    },
}

/// Which store `export` and `import` work on.
#[derive(clap::Args, Debug)]
struct StoreArgs {
    /// The data directory of an embedded store [default: as for `serve`]
    #[arg(long, env = "EIPD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `embedded` or `postgres://…` [default: embedded]
    #[arg(long, env = "EIPD_STORE", value_name = "embedded|postgres://…")]
    store: Option<String>,
    /// A config file naming them
    #[arg(long, env = "EIPD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    /// The configuration these options name (never the memory store).
    fn config(self) -> anyhow::Result<Config> {
        let config = Config::resolve(ServeArgs {
            data_dir: self.data_dir,
            store: self.store,
            config: self.config,
            ..ServeArgs::default()
        })?;
        if config.store == StoreKind::Memory {
            anyhow::bail!("a memory store holds nothing to export or import into");
        }
        Ok(config)
    }

    fn open(self) -> anyhow::Result<Offline> {
        let config = self.config()?;
        config.prepare_data_dir()?;
        Offline::open(&config.store)
    }
}

fn export(store: StoreArgs, output: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = store.config()?;
    // A damaged embedded store is exported as far as it is intact: that is
    // when an export is needed most.
    let (world, problems) = match &config.store {
        StoreKind::Embedded(path) if path.exists() => {
            let report = eipd::store::check(path)?;
            let problems = report_lines(&report);
            (report.world, problems)
        }
        kind => {
            config.prepare_data_dir()?;
            (Offline::open(kind)?.world, Vec::new())
        }
    };
    let written = match &output {
        Some(path) => transfer::export(
            &world,
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )?,
        None => transfer::export(&world, std::io::stdout().lock())?,
    };
    eprintln!("eipd: exported {written} records in {:.1?}", started.elapsed());
    if !problems.is_empty() {
        for line in &problems {
            eprintln!("eipd:   - {line}");
        }
        anyhow::bail!("the store is damaged: the export holds what is intact, and not the {} above", problems.len());
    }
    Ok(())
}

/// Every problem `eipd check` found, one line each.
fn report_lines(report: &eipd::store::CheckReport) -> Vec<String> {
    let mut lines: Vec<String> = report.damaged.iter().map(|d| format!("damaged {d}")).collect();
    lines.extend(report.journal.iter().map(|j| format!("journal: {j}")));
    lines.extend(report.violations.iter().map(|v| format!("invariant broken: {v}")));
    lines
}

fn check(data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = StoreArgs { data_dir, store: Some("embedded".into()), config: None }.config()?;
    let StoreKind::Embedded(path) = config.store else {
        anyhow::bail!("eipd check verifies an embedded store");
    };
    if !path.exists() {
        anyhow::bail!("{} does not exist: no store to check", path.display());
    }
    let report = eipd::store::check(&path)?;
    let problems = report_lines(&report);
    println!(
        "{}: {} records, {} journal entries to replay, {} problems ({:.1?})",
        path.display(),
        report.records,
        report.journal_entries,
        problems.len(),
        started.elapsed()
    );
    for line in &problems {
        println!("  - {line}");
    }
    if report.is_sound() {
        println!("sound");
        Ok(())
    } else {
        anyhow::bail!("{} problems found", problems.len())
    }
}

fn import(input: PathBuf, store: StoreArgs, replace: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let world = if input.as_os_str() == "-" {
        transfer::read(std::io::stdin().lock())?
    } else {
        let file = std::fs::File::open(&input).with_context(|| format!("cannot read {}", input.display()))?;
        transfer::read(std::io::BufReader::new(file))?
    };
    let mut offline = store.open()?;
    if offline.world.partitions().next().is_some() && !replace {
        anyhow::bail!("the store is not empty: add --replace to replace everything it holds by the import");
    }
    let records: usize = world.partitions().map(|(_, p)| p.record_keys().count()).sum();
    offline.replace_all(world)?;
    eprintln!("eipd: imported {records} records in {:.1?}", started.elapsed());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: not into a redirected log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Export { store, output } => export(store, output),
        Command::Check { data_dir } => check(data_dir),
        Command::Import { input, store, replace } => import(input, store, replace),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eipd: {e:#}");
            ExitCode::FAILURE
        }
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
            StoreKind::Embedded(path) => {
                format!("embedded at {} and {}", path.display(), eipd::store::journal_path(path).display())
            }
            StoreKind::Postgres(url) => format!("postgres at {}", eipd::store::redact_url(url)),
        };
        tracing::info!(
            listen = %local,
            store = %where_data,
            auth = ?config.auth,
            users = auth.user_count(),
            max_connections = config.max_connections,
            "eipd ready"
        );
        tracing::info!(
            dashboard = %format!("http://{local}/dashboard"),
            health = %format!("http://{local}/health"),
            metrics = %format!("http://{local}/metrics"),
            "Ctrl-C or SIGTERM stops it (requests in flight are answered first)"
        );
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
            tracing::info!("shutting down: no new connections; a second signal exits at once");
            let _ = stop.send(true);
            shutdown_signal().await;
            tracing::warn!("second signal: exiting without waiting for the requests in flight");
            std::process::exit(130);
        });
        let mut metrics = Metrics::new();
        metrics.register_store(&store.metrics());
        let closing = store.clone();
        let state = AppState {
            store,
            auth: Arc::new(auth),
            metrics: Arc::new(metrics),
            started,
            faults: Arc::new(Faults::new(config.faults)),
            requests: Arc::default(),
        };
        server::run(listener, state, stopped, config.shutdown_grace, config.max_connections).await?;
        // What was answered is durable already. Closing the store folds the
        // journal in, so the next start has nothing to replay or repair.
        if tokio::time::timeout(Duration::from_secs(30), closing.close()).await.is_err() {
            tracing::warn!("the store did not close within 30 s; the next start replays the journal");
        }
        tracing::info!("stopped");
        Ok(())
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
