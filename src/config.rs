//! Configuration: flags, `EIPD_*` environment variables of the same names,
//! and a TOML file with the same settings (D18). A flag or variable beats the
//! file; the file beats the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::auth::AuthMode;
use crate::faults::{FaultConfig, FaultSpec, parse_duration_ms};
use eipd_domain::{Flavor, Settings};
use eipd_store::StoreKind;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_POOL: &str = "198.18.0.0/15";
pub const DEFAULT_ADDRESS_LIMIT: u32 = 5;
/// The embedded store's file inside the data directory.
pub const STORE_FILE: &str = "eipd.redb";
/// Connections served at once where the open-file limit allows more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Seconds that requests in flight at shutdown may take (`--shutdown-grace`).
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlavorArg {
    /// Answer as AWS does (the default).
    Aws,
    /// Reproduce moto's test-visible behaviour, for suites written against moto.
    Moto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `eipd serve` options.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address and port to listen on: `HOST:PORT`, `localhost:PORT` or
    /// `:PORT` (on 127.0.0.1); port 0 picks a free one, printed on standard
    /// output [default: 127.0.0.1:4599]
    #[arg(long, env = "EIPD_LISTEN", value_name = "HOST:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,

    /// Where the embedded store keeps its file [default: $XDG_DATA_HOME/eipd,
    /// else ~/.local/share/eipd]
    #[arg(long, env = "EIPD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where state lives: `embedded` (a file in the data directory, survives
    /// restarts), `memory` (throwaway), or `postgres://USER@HOST/DB` (shared
    /// by several eipd nodes; PostgreSQL 12 or newer) [default: embedded]
    #[arg(long, env = "EIPD_STORE", value_name = "memory|embedded|postgres://…")]
    pub store: Option<String>,

    /// A TOML file with the same settings as these flags (listen, data_dir,
    /// store, address_limit, pool, flavor, log_format, auth, credentials,
    /// association_retention, group_commit, faults, consistency_delay)
    #[arg(long, env = "EIPD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Elastic IP addresses per account and region (AWS's default quota is 5)
    /// [default: 5]
    #[arg(long, env = "EIPD_ADDRESS_LIMIT", value_name = "N")]
    pub address_limit: Option<u32>,

    /// The public IPv4 pool of every region, as CIDRs [default: 198.18.0.0/15,
    /// the benchmarking range: no address reaches a real host]
    #[arg(long, env = "EIPD_POOL", value_name = "CIDR[,CIDR…]", value_delimiter = ',', value_parser = parse_pool_cidr)]
    pub pool: Option<Vec<Ipv4Net>>,

    /// Whose behaviour to reproduce where AWS and moto differ [default: aws]
    #[arg(long, env = "EIPD_FLAVOR", value_enum)]
    pub flavor: Option<FlavorArg>,

    /// Log format on standard error [default: text]
    #[arg(long, env = "EIPD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// `open` accepts any well-formed SigV4 signature (keys in --credentials
    /// are still verified); `strict` accepts only the configured keys, with
    /// verified signatures and clocks [default: open]
    #[arg(long, env = "EIPD_AUTH", value_enum)]
    pub auth: Option<AuthMode>,

    /// A TOML file of users: [[user]] name, access_key_id,
    /// secret_access_key, account_id, and an optional IAM policy (JSON)
    #[arg(long, env = "EIPD_CREDENTIALS", value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    /// How long an ended association id is still answered as ended by
    /// DisassociateAddress (idempotency), in seconds [default: 604800, 7 days]
    #[arg(long, env = "EIPD_ASSOCIATION_RETENTION", value_name = "SECONDS")]
    pub association_retention: Option<u64>,

    /// On SIGTERM or Ctrl-C: how long requests already received may take to
    /// be answered before eipd exits anyway, in seconds; a second signal
    /// exits at once [default: 10]
    #[arg(long, env = "EIPD_SHUTDOWN_GRACE", value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,

    /// Connections served at once; one more is answered 503 and closed
    /// [default: the open-file limit less 64]
    #[arg(long, env = "EIPD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Commit each change in its own transaction instead of batching the
    /// changes that arrive together (slower; for benchmarks)
    #[arg(long, env = "EIPD_NO_GROUP_COMMIT")]
    pub no_group_commit: bool,

    /// Fault injection (off by default; repeatable): ACTION:FAULT=VALUE[,…]
    /// where ACTION is an EC2 action or `*`, and FAULT is `throttle=RATE`
    /// (503 RequestLimitExceeded), `error=RATE` (500 InternalError) or
    /// `latency=DURATION[-DURATION]`. RATE is 0.5 or 50%. E.g.
    /// --fault 'AllocateAddress:throttle=0.5' --fault '*:latency=20ms'. The
    /// variable takes several, separated by `;`. Changeable at run time
    /// through /eipd-api/faults
    #[arg(
        long = "fault",
        env = "EIPD_FAULTS",
        value_name = "ACTION:FAULT=VALUE",
        value_delimiter = ';',
        help_heading = "Fault injection"
    )]
    pub faults: Vec<FaultSpec>,

    /// After a successful change by an account in a region, its Describe*
    /// calls show the state as of this long ago (eventual consistency, as
    /// EC2 documents it), e.g. 500ms or 2s [default: 0, off]
    #[arg(
        long,
        env = "EIPD_CONSISTENCY_DELAY",
        value_name = "DURATION",
        value_parser = parse_duration_ms,
        help_heading = "Fault injection"
    )]
    pub consistency_delay: Option<u64>,
}

/// `HOST:PORT`, `localhost:PORT` or `:PORT` (127.0.0.1).
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let with_host = match value.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => match value.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => value.to_owned(),
        },
    };
    with_host.parse().map_err(|_| {
        format!("{value:?} is not an address to listen on: give HOST:PORT (127.0.0.1:4599, 0.0.0.0:4599, [::1]:4599), localhost:PORT or :PORT")
    })
}

/// A CIDR of the public pool, with a message that says what a CIDR is.
pub fn parse_pool_cidr(value: &str) -> Result<Ipv4Net, String> {
    value.parse().map_err(|_| format!("{value:?} is not an IPv4 CIDR (write it as 198.18.0.0/15)"))
}

/// The TOML config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    address_limit: Option<u32>,
    pool: Option<Vec<Ipv4Net>>,
    flavor: Option<FlavorArg>,
    log_format: Option<LogFormat>,
    group_commit: Option<bool>,
    auth: Option<AuthMode>,
    credentials: Option<PathBuf>,
    association_retention: Option<u64>,
    shutdown_grace: Option<u64>,
    max_connections: Option<usize>,
    faults: Option<Vec<String>>,
    consistency_delay: Option<DurationValue>,
}

/// A duration in the config file: `"500ms"`, `"2s"`, or a number of milliseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Millis(u64),
    Text(String),
}

/// The settled configuration of a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreKind,
    pub settings: Settings,
    pub log_format: LogFormat,
    pub group_commit: bool,
    pub auth: AuthMode,
    pub credentials: Option<PathBuf>,
    /// Fault injection at start (all off by default).
    pub faults: FaultConfig,
    /// How long requests in flight at shutdown may take.
    pub shutdown_grace: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// The process's open-file limit less room for the store's files and the
/// listener: a cap that keeps accept() from failing for want of descriptors.
fn default_max_connections() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse::<usize>().ok()
    });
    limit.map_or(DEFAULT_MAX_CONNECTIONS, |n| n.saturating_sub(64).clamp(16, DEFAULT_MAX_CONNECTIONS))
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("eipd");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/eipd"),
        None => PathBuf::from("eipd-data"),
    }
}

impl Config {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid"));
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(default_data_dir);
        let store = match args.store.or(file.store).as_deref().unwrap_or("embedded") {
            "memory" => StoreKind::Memory,
            "embedded" => StoreKind::Embedded(data_dir.join(STORE_FILE)),
            other if other.starts_with("postgres://") || other.starts_with("postgresql://") => {
                StoreKind::Postgres(other.to_owned())
            }
            other => bail!("--store {other:?} is not a store: use memory, embedded or postgres://…"),
        };
        let pool = args.pool.or(file.pool).unwrap_or_else(|| vec![DEFAULT_POOL.parse().expect("valid")]);
        if pool.is_empty() {
            bail!("--pool needs at least one CIDR");
        }
        // 198.18.0.1/15 names no network: a typo, not a wish.
        if let Some(net) = pool.iter().find(|n| n.trunc() != **n) {
            bail!("--pool {net} has host bits set: did you mean {}?", net.trunc());
        }
        for (i, a) in pool.iter().enumerate() {
            if pool[i + 1..].iter().any(|b| a.contains(b) || b.contains(a)) {
                bail!("--pool CIDRs overlap ({a})");
            }
        }
        let flavor = match args.flavor.or(file.flavor).unwrap_or(FlavorArg::Aws) {
            FlavorArg::Aws => Flavor::Aws,
            FlavorArg::Moto => Flavor::Moto,
        };
        let address_limit = args.address_limit.or(file.address_limit).unwrap_or(DEFAULT_ADDRESS_LIMIT);
        let fault_specs = if !args.faults.is_empty() {
            args.faults
        } else {
            let mut specs = Vec::new();
            for spec in file.faults.iter().flatten() {
                specs.push(spec.parse::<FaultSpec>().map_err(|e| anyhow::anyhow!("the config file's faults: {e}"))?);
            }
            specs
        };
        let consistency_delay_ms = match (args.consistency_delay, file.consistency_delay) {
            (Some(ms), _) => ms,
            (None, Some(DurationValue::Millis(ms))) => parse_duration_ms(&ms.to_string())
                .map_err(|e| anyhow::anyhow!("the config file's consistency_delay: {e}"))?,
            (None, Some(DurationValue::Text(text))) => {
                parse_duration_ms(&text).map_err(|e| anyhow::anyhow!("the config file's consistency_delay: {e}"))?
            }
            (None, None) => 0,
        };
        let settings = Settings {
            address_limit: (flavor == Flavor::Aws).then_some(address_limit),
            pool,
            flavor,
            association_retention_secs: args
                .association_retention
                .or(file.association_retention)
                .map_or(Settings::default().association_retention_secs, |s| s.min(i64::MAX as u64) as i64),
        };
        Ok(Self {
            listen,
            data_dir,
            store,
            settings,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            group_commit: !args.no_group_commit && file.group_commit.unwrap_or(true),
            auth: args.auth.or(file.auth).unwrap_or_default(),
            credentials: args.credentials.or(file.credentials),
            faults: FaultConfig::from_specs(fault_specs, consistency_delay_ms),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or_else(default_max_connections)
                .max(1),
            shutdown_grace: Duration::from_secs(
                args.shutdown_grace.or(file.shutdown_grace).unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
        })
    }

    /// Makes sure the data directory exists and is writable.
    pub fn prepare_data_dir(&self) -> anyhow::Result<()> {
        if let StoreKind::Embedded(_) = self.store {
            if self.data_dir.exists() && !self.data_dir.is_dir() {
                anyhow::bail!(
                    "--data-dir {} is a file, not a directory: give the directory eipd keeps its files in (it is created if missing)",
                    self.data_dir.display()
                );
            }
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
            let probe = self.data_dir.join(".eipd-write-test");
            std::fs::write(&probe, b"")
                .with_context(|| format!("the data directory {} is not writable", self.data_dir.display()))?;
            let _ = std::fs::remove_file(probe);
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("the config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_a_bare_port_and_localhost() {
        assert_eq!(parse_listen(":0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(parse_listen(":4600").unwrap(), "127.0.0.1:4600".parse().unwrap());
        assert_eq!(parse_listen("localhost:0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(parse_listen("0.0.0.0:80").unwrap(), "0.0.0.0:80".parse().unwrap());
        assert!(parse_listen("4599").unwrap_err().contains(":PORT"));
    }

    #[test]
    fn pool_cidrs_are_networks() {
        assert!(parse_pool_cidr("banana").unwrap_err().contains("not an IPv4 CIDR"));
        let args = ServeArgs { pool: Some(vec!["198.18.0.1/15".parse().unwrap()]), ..ServeArgs::default() };
        let Err(e) = Config::resolve(args) else { panic!("198.18.0.1/15 was accepted") };
        let e = e.to_string();
        assert!(e.contains("host bits") && e.contains("198.18.0.0/15"), "{e}");
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("eipd.toml");
        std::fs::write(&file, "address_limit = 9\nstore = \"memory\"\npool = [\"10.0.0.0/24\"]\n").unwrap();
        let args = ServeArgs { config: Some(file), address_limit: Some(3), ..ServeArgs::default() };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.settings.address_limit, Some(3));
        assert_eq!(c.store, StoreKind::Memory);
        assert_eq!(c.settings.pool, vec!["10.0.0.0/24".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
    }

    #[test]
    fn faults_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("eipd.toml");
        std::fs::write(
            &file,
            "faults = [\"AllocateAddress:throttle=0.5\", \"*:latency=5ms\"]\nconsistency_delay = \"1s\"\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs { config: Some(file.clone()), ..ServeArgs::default() }).unwrap();
        assert_eq!(c.faults.consistency_delay_ms, 1000);
        assert_eq!(c.faults.rule_for("AllocateAddress").throttle, Some(0.5));
        let flag = "ReleaseAddress:error=1".parse().unwrap();
        let args =
            ServeArgs { config: Some(file), faults: vec![flag], consistency_delay: Some(20), ..ServeArgs::default() };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.faults.consistency_delay_ms, 20);
        assert_eq!(c.faults.rule_for("AllocateAddress").throttle, None);
        assert_eq!(c.faults.rule_for("ReleaseAddress").internal_error, Some(1.0));
        assert!(Config::resolve(ServeArgs::default()).unwrap().faults.is_off());
        std::fs::write(dir.path().join("bad.toml"), "faults = [\"Nope:throttle=1\"]\n").unwrap();
        let bad = ServeArgs { config: Some(dir.path().join("bad.toml")), ..ServeArgs::default() };
        assert!(Config::resolve(bad).is_err());
    }

    #[test]
    fn unknown_keys_and_stores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("eipd.toml");
        std::fs::write(&file, "adress_limit = 9\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(file), ..ServeArgs::default() }).is_err());
        assert!(Config::resolve(ServeArgs { store: Some("disk".into()), ..ServeArgs::default() }).is_err());
    }
}
