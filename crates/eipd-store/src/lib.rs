//! Transactions over the records, kept in memory, in embedded redb files
//! (a journal and the checkpointed records: see `embedded`), or in PostgreSQL.
//!
//! One writer thread applies operations to a private copy of the [`World`],
//! persists the records they changed in one database transaction (group
//! commit: one fsync for every operation waiting at that moment), and only
//! then publishes the new world to readers and answers the callers. Readers
//! take the published snapshot without locks, so they never wait for the
//! writer and never see a change that is not yet durable. An operation that
//! fails is undone by dropping its copy: nothing half-done is ever seen.

mod embedded;
mod journal;
mod postgres;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::oneshot;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use eipd_domain::{RecordKey, Region, Scope, Settings, Tx, World};

pub use embedded::{CheckReport, EmbeddedStore, FORMAT_VERSION, check, journal_path};
use postgres::PostgresStore;

/// Why the store could not run an operation or a read. Not a client-facing
/// error: the API layer decides what a client is told (`eipd_api::store_error`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The writer's queue is full: the caller may retry shortly.
    #[error("the store's queue is full")]
    Busy,
    /// The backend could not open or commit the transaction; nothing of the
    /// operations in it was applied.
    #[error("the store could not commit: {0}")]
    Unavailable(String),
    /// The connection to the backend broke while it committed: the changes
    /// may or may not have been applied (the commit may have reached the
    /// server before the connection went).
    #[error("the outcome of the commit is unknown: {0}")]
    OutcomeUnknown(String),
    /// The operation's rule panicked: nothing of it was applied, the writer
    /// goes on with the next one.
    #[error("the operation panicked: {0}")]
    Panicked(String),
    /// The writer has stopped (shutdown).
    #[error("the store's writer has stopped")]
    Stopped,
}

/// Where records are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// Nothing survives the process: for throwaway test servers.
    Memory,
    /// A redb file in the data directory (the default).
    Embedded(PathBuf),
    /// A PostgreSQL database shared by several eipd nodes.
    Postgres(String),
}

/// A connection URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        // Only a password is hidden: a URL without one is shown as it is.
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// How a backend makes a batch of changes durable.
trait Persistence: Send {
    /// Opens the transaction of a batch of operations on `regions` and brings
    /// `world` up to date with changes other nodes made (shared stores).
    fn begin(&mut self, _world: &mut World, _regions: &[Region]) -> anyhow::Result<()> {
        Ok(())
    }
    /// Writes the current value of every changed record (or its absence) in
    /// one atomic, durable transaction, and ends the transaction `begin` opened.
    fn commit(&mut self, world: &mut World, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()>;

    /// Brings `world` up to date for a read of `region` (shared stores).
    fn refresh(&mut self, _world: &mut World, _region: &Region) -> anyhow::Result<()> {
        Ok(())
    }
    /// Whether reads must ask the backend first (other nodes write too).
    fn shared(&self) -> bool {
        false
    }
    /// Whether the backend can take a write now: the embedded store after a
    /// failed journal write cannot; PostgreSQL must answer.
    fn check(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// Removes every record.
    fn wipe(&mut self) -> anyhow::Result<()>;
    /// Replaces every record by those of `world`, in one transaction.
    fn replace_all(&mut self, world: &World) -> anyhow::Result<()>;
}

/// Every record of a world, for a backend writing them all.
fn all_records(world: &World) -> Vec<(Scope, RecordKey)> {
    world.partitions().flat_map(|(scope, part)| part.record_keys().map(move |k| (scope.clone(), k))).collect()
}

struct NoPersistence;

impl Persistence for NoPersistence {
    fn commit(&mut self, _: &mut World, _: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        Ok(())
    }

    fn wipe(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn replace_all(&mut self, _: &World) -> anyhow::Result<()> {
        Ok(())
    }
}

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// The records an operation changed, by partition.
type Changed = Vec<(Scope, RecordKey)>;
type Operation = Box<dyn FnOnce(&mut World, &Settings, &mut Changed) -> (bool, Reply) + Send>;

enum Job {
    /// Runs an operation on a scope; `true` when it succeeded and its changes stay.
    Op(Scope, Operation),
    /// Catches up with other nodes before a read of a region (shared stores).
    Refresh(Region, oneshot::Sender<Result<(), StoreError>>),
    /// Wipes everything (the moto reset endpoint).
    Reset(oneshot::Sender<Result<(), StoreError>>),
    /// Whether the backend can take writes (health checks).
    Check(oneshot::Sender<Result<(), StoreError>>),
    /// Finish what is in flight, close the backend and stop (shutdown).
    Close(oneshot::Sender<()>),
}

/// Opens a backend and loads its records.
fn open_backend(kind: &StoreKind) -> anyhow::Result<(World, Box<dyn Persistence>)> {
    Ok(match kind {
        StoreKind::Memory => (World::default(), Box::new(NoPersistence)),
        StoreKind::Embedded(path) => {
            let (store, world) = EmbeddedStore::open(path)?;
            (world, Box::new(store))
        }
        StoreKind::Postgres(url) => {
            // The blocking client runs its own runtime: connect from a plain
            // thread, as the writer thread that will own it is one.
            // A refused store is dropped on that thread too: the blocking
            // client cannot close inside the caller's runtime.
            let url = url.clone();
            let (store, world) = std::thread::spawn(move || {
                let (store, world) = PostgresStore::open(&url)?;
                // The embedded store checks its own at open (it names its file).
                let violations = eipd_domain::verify::violations(&world);
                if !violations.is_empty() {
                    anyhow::bail!(
                        "the PostgreSQL store holds a state that breaks eipd's invariants:{}\neipd will not serve it",
                        problem_list(&violations)
                    );
                }
                Ok((store, world))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("connecting to PostgreSQL panicked"))??;
            (world, Box::new(store))
        }
    })
}

/// Problems for a refused start, one a line: the first 20, then how many more.
fn problem_list(problems: &[String]) -> String {
    let mut list = String::new();
    for problem in problems.iter().take(20) {
        list.push_str("\n  - ");
        list.push_str(problem);
    }
    if problems.len() > 20 {
        list.push_str(&format!("\n  … and {} more", problems.len() - 20));
    }
    list
}

/// A store opened without serving, for `eipd export` and `eipd import`.
pub struct Offline {
    persistence: Box<dyn Persistence>,
    pub world: World,
}

impl Offline {
    pub fn open(kind: &StoreKind) -> anyhow::Result<Self> {
        let (world, persistence) = open_backend(kind)?;
        Ok(Self { persistence, world })
    }

    /// Replaces the whole store by `world`, atomically.
    pub fn replace_all(&mut self, world: World) -> anyhow::Result<()> {
        self.persistence.replace_all(&world)?;
        self.world = world;
        Ok(())
    }
}

/// What the store's writer observes of its group commits.
#[derive(Clone)]
pub struct CommitMetrics {
    /// Operations per commit: how well concurrent writes are grouped.
    pub operations: Histogram,
    /// Time from handing a commit to the backend until it is durable.
    pub duration: Histogram,
}

impl Default for CommitMetrics {
    fn default() -> Self {
        Self {
            operations: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
        }
    }
}

/// Figures of the store for logs and metrics.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    pub addresses: usize,
    pub partitions: usize,
}

/// The handle every request uses: cheap to clone.
#[derive(Clone)]
pub struct Store {
    current: Arc<ArcSwap<World>>,
    commits: CommitMetrics,
    jobs: mpsc::SyncSender<Job>,
    settings: Arc<Settings>,
    /// For a shared store: how reads learn whether other nodes wrote.
    probe: Option<Arc<postgres::Probe>>,
}

/// Most operations one group commit takes.
const MAX_BATCH: usize = 1024;
/// Queue depth before callers wait for the writer.
const QUEUE_DEPTH: usize = 16 * 1024;

impl Store {
    /// Opens a store and starts its writer thread. `group_commit` false makes
    /// every operation its own database transaction (for benchmarks).
    pub fn open(kind: &StoreKind, settings: Settings, group_commit: bool) -> anyhow::Result<Self> {
        let started = Instant::now();
        let (world, persistence) = open_backend(kind)?;
        tracing::info!(
            addresses = world.address_count(),
            partitions = world.partitions().count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store loaded"
        );
        let current = Arc::new(ArcSwap::from_pointee(world));
        let settings = Arc::new(settings);
        let (jobs, queue) = mpsc::sync_channel(QUEUE_DEPTH);
        let probe = match kind {
            StoreKind::Postgres(url) => Some(Arc::new(postgres::Probe::new(url))),
            _ => None,
        };
        let batch = if group_commit { MAX_BATCH } else { 1 };
        let commits = CommitMetrics::default();
        let writer = Writer::new(current.clone(), settings.clone(), persistence, batch, commits.clone());
        std::thread::Builder::new().name("eipd-writer".into()).spawn(move || writer.run(&queue))?;
        Ok(Self { current, commits, jobs, settings, probe })
    }

    /// The latest durable state this node has, for reads that need not see
    /// other nodes' latest changes (metrics, health).
    pub fn snapshot(&self) -> Arc<World> {
        self.current.load_full()
    }

    /// The latest durable state for a read of `region`, including what other
    /// nodes committed before this call (read-your-writes across a fleet).
    ///
    /// A shared store's read asks the store for the region's version (one
    /// round trip, not through the writer) and is served from this node's
    /// snapshot when that is at the version already; only when another node
    /// wrote since does the writer catch up first (reads waiting together
    /// share one catch-up). So a write acknowledged by any node before a read
    /// starts is in what the read sees.
    pub async fn read(&self, region: &Region) -> Result<Arc<World>, StoreError> {
        let Some(probe) = &self.probe else { return Ok(self.snapshot()) };
        let (epoch, version) = probe.versions(region).await.map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        let snapshot = self.snapshot();
        let current = snapshot.epoch == epoch
            && version.is_none_or(|v| snapshot.synced.get(region).is_some_and(|seen| *seen >= v));
        if current {
            return Ok(snapshot);
        }
        let (done, answer) = oneshot::channel();
        self.submit(Job::Refresh(region.clone(), done))?;
        answer.await.unwrap_or(Err(StoreError::Stopped))?;
        Ok(self.snapshot())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The writer's figures of its commits, for `/metrics`.
    pub fn commit_metrics(&self) -> CommitMetrics {
        self.commits.clone()
    }

    pub fn stats(&self) -> StoreStats {
        let world = self.snapshot();
        StoreStats { addresses: world.address_count(), partitions: world.partitions().count() }
    }

    /// Runs `op` as one transaction on `scope`: all of its changes become
    /// durable and visible together, or none do. The outer error is the
    /// store's; the inner result is the operation's own (an `Err` of it
    /// undoes its changes).
    pub async fn write<R, E, F>(&self, scope: Scope, op: F) -> Result<Result<R, E>, StoreError>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<R, E> + Send + 'static,
    {
        let (done, answer) = oneshot::channel::<Result<Result<R, E>, StoreError>>();
        let job = Job::Op(
            scope.clone(),
            Box::new(move |world: &mut World, settings: &Settings, dirty: &mut Vec<(Scope, RecordKey)>| {
                let now = now_secs();
                let mut tx = world.tx(&scope, settings, now, dirty);
                let result = op(&mut tx);
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |persisted: Result<(), StoreError>| {
                    let _ = done.send(persisted.map(|()| result));
                });
                (ok, reply)
            }),
        );
        self.submit(job)?;
        // No answer at all: the rule panicked (the writer dropped its reply
        // with it) or the writer stopped in the meantime.
        answer.await.unwrap_or_else(|_| Err(StoreError::Panicked("the operation ended without an answer".into())))
    }

    /// Wipes all state (durably).
    pub async fn reset(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Reset(done))?;
        answer.await.unwrap_or(Err(StoreError::Stopped))
    }

    /// Whether the store can take writes now, within `within`: `Err` says
    /// why not (the backend's failure, a writer that does not answer in
    /// time, or one that stopped). For /health.
    pub async fn check(&self, within: Duration) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Check(done))?;
        match tokio::time::timeout(within, answer).await {
            Ok(answer) => answer.unwrap_or(Err(StoreError::Stopped)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the store's writer did not answer within {} ms",
                within.as_millis()
            ))),
        }
    }

    /// Makes every accepted change durable, closes the backend cleanly (the
    /// embedded store folds its journal into the records) and stops the
    /// writer; later writes fail. For a graceful shutdown.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => Err(StoreError::Busy),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(StoreError::Stopped),
        }
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The writer thread: applies every operation waiting (up to the batch
/// limit) to its working copy of the world, each all-or-nothing, commits
/// their changes in one transaction (group commit), then publishes the new
/// world and answers them. Operations arriving during a commit wait for the
/// next batch, so the busier the store, the larger the batches.
struct Writer {
    current: Arc<ArcSwap<World>>,
    settings: Arc<Settings>,
    persistence: Box<dyn Persistence>,
    max_batch: usize,
    /// The published world plus the open batch.
    working: World,
    /// Applied operations whose commit has not started.
    open: Batch,
    metrics: CommitMetrics,
}

#[derive(Default)]
struct Batch {
    dirty: Vec<(Scope, RecordKey)>,
    replies: Vec<Reply>,
}

impl Writer {
    fn new(
        current: Arc<ArcSwap<World>>,
        settings: Arc<Settings>,
        persistence: Box<dyn Persistence>,
        max_batch: usize,
        metrics: CommitMetrics,
    ) -> Self {
        let working = World::clone(&current.load());
        Self { current, settings, persistence, max_batch, working, open: Batch::default(), metrics }
    }

    fn run(mut self, queue: &mpsc::Receiver<Job>) {
        while let Ok(first) = queue.recv() {
            // Everything waiting now, without blocking, up to the batch limit.
            let mut ops = Vec::new();
            let mut refreshes = Vec::new();
            let mut job = Some(first);
            while let Some(current) = job {
                match current {
                    Job::Op(scope, op) => ops.push((scope, op)),
                    // Answered after this batch: a read sees at least what
                    // was committed when it asked.
                    Job::Refresh(region, done) => refreshes.push((region, done)),
                    Job::Reset(done) => {
                        self.apply(std::mem::take(&mut ops));
                        self.commit();
                        self.reset(done);
                    }
                    Job::Check(done) => {
                        let _ =
                            done.send(self.persistence.check().map_err(|e| StoreError::Unavailable(format!("{e:#}"))));
                    }
                    Job::Close(done) => {
                        self.apply(std::mem::take(&mut ops));
                        self.commit();
                        self.refresh(std::mem::take(&mut refreshes));
                        drop(self.persistence);
                        let _ = done.send(());
                        return;
                    }
                }
                if ops.len() >= self.max_batch {
                    break;
                }
                job = queue.try_recv().ok();
            }
            self.apply(ops);
            self.commit();
            self.refresh(refreshes);
        }
    }

    /// Applies operations to the working world, each one all-or-nothing.
    fn apply(&mut self, ops: Vec<(Scope, Operation)>) {
        if ops.is_empty() {
            return;
        }
        let mut regions: Vec<Region> = ops.iter().map(|(scope, _)| scope.region.clone()).collect();
        regions.sort();
        regions.dedup();
        if let Err(e) = self.persistence.begin(&mut self.working, &regions) {
            // The backend could not open the transaction: run the operations
            // on a copy that is thrown away and answer them with the error.
            let e = storage_error(e);
            let mut scratch = self.working.clone();
            for (_, op) in ops {
                if let Some((_, reply)) = run_guarded(op, &mut scratch, &self.settings, &mut Vec::new()) {
                    reply(Err(e.clone()));
                }
            }
            return;
        }
        for (_, op) in ops {
            let before = self.working.clone();
            let mark = self.open.dirty.len();
            let outcome = run_guarded(op, &mut self.working, &self.settings, &mut self.open.dirty);
            // A failed rule, or one that panicked part-way: drop whatever it
            // changed. A panicking rule's caller learns of it from its reply,
            // dropped in the unwind.
            if !matches!(outcome, Some((true, _))) {
                self.working = before;
                self.open.dirty.truncate(mark);
            }
            if let Some((_, reply)) = outcome {
                self.open.replies.push(reply);
            }
        }
    }

    /// Commits the open batch, then publishes and answers it; on failure
    /// answers it with the error and starts again from what is durable.
    fn commit(&mut self) {
        if self.open.replies.is_empty() {
            return;
        }
        let Batch { mut dirty, replies } = std::mem::take(&mut self.open);
        // A shared store commits even with nothing changed: that ends the
        // transaction `begin` opened and publishes what it caught up with.
        if dirty.is_empty() && !self.persistence.shared() {
            // Nothing to persist: the working world is the published one.
            for reply in replies {
                reply(Ok(()));
            }
            return;
        }
        let started = Instant::now();
        dirty.sort();
        dirty.dedup();
        let result = self.persistence.commit(&mut self.working, &dirty).map_err(storage_error);
        let elapsed = started.elapsed();
        self.metrics.operations.observe(replies.len() as f64);
        self.metrics.duration.observe(elapsed.as_secs_f64());
        if elapsed > Duration::from_millis(500) {
            tracing::warn!(operations = replies.len(), elapsed_ms = elapsed.as_millis() as u64, "slow commit");
        }
        match result {
            Ok(()) => {
                // Publish first, answer second: whoever is answered sees the new state.
                self.current.store(Arc::new(self.working.clone()));
                for reply in replies {
                    reply(Ok(()));
                }
            }
            Err(e) => {
                for reply in replies {
                    reply(Err(e.clone()));
                }
                self.working = World::clone(&self.current.load());
            }
        }
    }

    /// Catches up once per region for every read waiting on it (shared
    /// stores), then publishes and answers them all.
    fn refresh(&mut self, waiting: Vec<(Region, oneshot::Sender<Result<(), StoreError>>)>) {
        if waiting.is_empty() {
            return;
        }
        let mut results = BTreeMap::new();
        for (region, _) in &waiting {
            if !results.contains_key(region) {
                let result = self.persistence.refresh(&mut self.working, region).map_err(storage_error);
                results.insert(region.clone(), result);
            }
        }
        self.current.store(Arc::new(self.working.clone()));
        for (region, done) in waiting {
            let _ = done.send(results[&region].clone());
        }
    }

    /// Wipes everything, with nothing applied.
    fn reset(&mut self, done: oneshot::Sender<Result<(), StoreError>>) {
        let wiped = self.persistence.wipe().map_err(storage_error);
        if wiped.is_ok() {
            self.working = World::default();
            self.current.store(Arc::new(World::default()));
        }
        let _ = done.send(wiped);
    }
}

fn storage_error(e: anyhow::Error) -> StoreError {
    let message = format!("{e:#}");
    tracing::error!(error = %message, "store commit failed");
    if e.downcast_ref::<OutcomeUnknown>().is_some() {
        StoreError::OutcomeUnknown(message)
    } else {
        StoreError::Unavailable(message)
    }
}

/// Marks a backend error after which a commit's outcome is unknown.
#[derive(Debug, thiserror::Error)]
#[error("the connection broke during COMMIT, which may or may not have been applied")]
struct OutcomeUnknown;

/// Runs one operation, catching a panic of its rule so that one faulty
/// request cannot stop the writer every other request depends on. `None`
/// when it panicked: its changes to `world` are then partial, and the
/// caller must undo them.
fn run_guarded(op: Operation, world: &mut World, settings: &Settings, dirty: &mut Changed) -> Option<(bool, Reply)> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(world, settings, dirty))) {
        Ok(outcome) => Some(outcome),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            tracing::error!(panic = %what, "an operation's rule panicked; nothing of it was applied");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use eipd_domain::addresses::{AllocateAddress, allocate_address};
    use eipd_domain::{ApiResult, Domain};

    use super::*;

    #[test]
    fn only_a_password_is_hidden_in_a_url() {
        assert_eq!(redact_url("postgres://eipd:s3cret@db:5432/eipd"), "postgres://eipd:***@db:5432/eipd");
        assert_eq!(redact_url("postgres://eipd@127.0.0.1:5432/eipd"), "postgres://eipd@127.0.0.1:5432/eipd");
        assert_eq!(redact_url("postgres://db/eipd"), "postgres://db/eipd");
    }

    fn allocate(tx: &mut Tx) -> ApiResult<std::net::Ipv4Addr> {
        let input = AllocateAddress {
            domain: Domain::Vpc,
            address: None,
            network_border_group: None,
            tags: Default::default(),
        };
        allocate_address(tx, input).map(|a| a.public_ip)
    }

    /// A rule that panics part-way through costs its own request only:
    /// nothing of it is applied, and the writer serves the next request.
    #[tokio::test]
    async fn the_writer_survives_a_panicking_rule() {
        let store = Store::open(&StoreKind::Memory, Settings::default(), true).unwrap();
        let scope = Scope::new("123456789012", "us-east-1");
        let panicked = store
            .write(scope.clone(), |tx| -> ApiResult<()> {
                allocate(tx)?;
                if tx.part().address_count() == 1 {
                    panic!("a rule's bug");
                }
                Ok(())
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Panicked(_))), "{panicked:?}");
        assert_eq!(store.snapshot().address_count(), 0, "the half-done allocation is not applied");
        assert_eq!(store.snapshot().pool("us-east-1").map_or(0, |p| p.held_count()), 0);

        let ip = store.write(scope.clone(), allocate).await.unwrap().unwrap();
        let world = store.snapshot();
        assert_eq!(world.address_count(), 1);
        assert_eq!(world.pool("us-east-1").and_then(|p| p.holder(ip)).map(|a| &**a), Some("123456789012"));
    }
}
