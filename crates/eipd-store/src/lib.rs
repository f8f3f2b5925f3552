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

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use eipd_domain::{Changes, RecordKey, Region, Scope, Settings, Tx, World};

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
    /// Opens the transaction of a batch of operations on the partitions
    /// `scopes` and brings `world` up to date with changes other nodes made
    /// (shared stores).
    fn begin(&mut self, _world: &mut World, _scopes: &[Scope]) -> anyhow::Result<()> {
        Ok(())
    }
    /// Writes the current value of every changed record (`changes.records`,
    /// each once; or its absence) in one atomic, durable transaction, and
    /// ends the transaction `begin` opened. A shared store fails it with
    /// [`Conflict`] when another node's change to the region's pool met it.
    fn commit(&mut self, world: &mut World, changes: &Changes) -> anyhow::Result<()>;

    /// Whether the next group may commit optimistically (`send`, `land`)
    /// rather than under lock (`begin`, `commit`).
    fn optimistic(&self) -> bool {
        false
    }
    /// Sends the changes of a group of operations on the partitions
    /// `scopes` (of one region), run on `world` without a lock, to be
    /// written only if the partitions are still as `world` saw them, and
    /// what the operations saw of the region's pool still holds (no other
    /// node wrote since; and for a group sent while another is on its way,
    /// that one landed), without waiting for the answer. Moves `world` on
    /// to the versions it will be at.
    fn send(&mut self, _world: &mut World, _scopes: &[Scope], _changes: &Changes) -> anyhow::Result<()> {
        anyhow::bail!("this store does not commit optimistically")
    }
    /// Waits for the oldest group sent: true when it was written, false
    /// when another node got there first (nothing was written).
    fn land(&mut self) -> anyhow::Result<bool> {
        anyhow::bail!("this store does not commit optimistically")
    }
    /// Before a group of `region` runs optimistically: brings `world` up to
    /// date with the region when a group there did not land for want of
    /// that (another node took an IP this node did not know of).
    fn catch_up_if_behind(&mut self, _world: &mut World, _region: &Region) -> anyhow::Result<()> {
        Ok(())
    }

    /// Brings `world` up to date for a read of the partition `scope`
    /// (shared stores).
    fn refresh(&mut self, _world: &mut World, _scope: &Scope) -> anyhow::Result<()> {
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
    fn commit(&mut self, _: &mut World, _: &Changes) -> anyhow::Result<()> {
        Ok(())
    }

    fn wipe(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn replace_all(&mut self, _: &World) -> anyhow::Result<()> {
        Ok(())
    }
}

/// An operation waiting in the writer. Its rule may run more than once: a
/// group whose optimistic commit met another node's change is run again on
/// the caught-up state, and only the last run counts.
trait Pending: Send {
    fn scope(&self) -> &Scope;
    /// Runs the rule on `world`; true when it succeeded and its changes stay.
    fn run(&mut self, world: &mut World, settings: &Settings, changes: &mut Changes) -> bool;
    /// Answers the caller: the last run's outcome once it is durable, or why
    /// it is not.
    fn answer(self: Box<Self>, persisted: Result<(), StoreError>);
}

/// `Store::write`'s operation: the rule, its last outcome and its caller.
struct Write<F, R, E> {
    scope: Scope,
    rule: F,
    outcome: Option<Result<R, E>>,
    done: oneshot::Sender<Result<Result<R, E>, StoreError>>,
}

impl<F, R, E> Pending for Write<F, R, E>
where
    F: Fn(&mut Tx) -> Result<R, E> + Send,
    R: Send,
    E: Send,
{
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn run(&mut self, world: &mut World, settings: &Settings, changes: &mut Changes) -> bool {
        let mut tx = world.tx(&self.scope, settings, now_secs(), changes);
        let outcome = (self.rule)(&mut tx);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, persisted: Result<(), StoreError>) {
        let Self { outcome, done, .. } = *self;
        let answer = match (persisted, outcome) {
            (Ok(()), Some(outcome)) => Ok(outcome),
            (Ok(()), None) => Err(StoreError::Panicked("the operation never ran".into())),
            (Err(e), _) => Err(e),
        };
        let _ = done.send(answer);
    }
}

enum Job {
    /// Runs an operation on its scope.
    Op(Box<dyn Pending>),
    /// Catches up with other nodes before a read of a partition (shared stores).
    Refresh(Scope, oneshot::Sender<Result<(), StoreError>>),
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

/// What the store observes of its group commits and of its reads' checks.
#[derive(Clone)]
pub struct StoreMetrics {
    /// Operations per commit: how well concurrent writes are grouped.
    pub operations: Histogram,
    /// Time from handing a commit to the backend until it is durable.
    pub duration: Histogram,
    /// Operations run again because another node changed their partition
    /// or what they saw of the region's pool before their commit landed.
    pub reruns: Counter,
    /// Reads answered by one question to a shared store (whether another
    /// node wrote in their partitions): reads waiting together share one.
    pub read_checks: Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            operations: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            reruns: Counter::default(),
            read_checks: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
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
    metrics: StoreMetrics,
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
        let metrics = StoreMetrics::default();
        let probe = match kind {
            StoreKind::Postgres(url) => Some(Arc::new(postgres::Probe::new(url, metrics.read_checks.clone()))),
            _ => None,
        };
        let batch = if group_commit { MAX_BATCH } else { 1 };
        let writer = Writer::new(current.clone(), settings.clone(), persistence, batch, metrics.clone());
        std::thread::Builder::new().name("eipd-writer".into()).spawn(move || writer.run(&queue))?;
        Ok(Self { current, metrics, jobs, settings, probe })
    }

    /// The latest durable state this node has, for reads that need not see
    /// other nodes' latest changes (metrics, health).
    pub fn snapshot(&self) -> Arc<World> {
        self.current.load_full()
    }

    /// The latest durable state for a read of the partition `scope`,
    /// including what other nodes committed in it before this call
    /// (read-your-writes across a fleet).
    ///
    /// A shared store's read asks the store for the partition's version (one
    /// round trip, not through the writer) and is served from this node's
    /// snapshot when that is at the version already; only when another node
    /// wrote since does the writer catch up first (reads waiting together
    /// share one catch-up). So a write acknowledged by any node before a read
    /// starts is in what the read sees.
    pub async fn read(&self, scope: &Scope) -> Result<Arc<World>, StoreError> {
        let Some(probe) = &self.probe else { return Ok(self.snapshot()) };
        let (epoch, version) = probe.versions(scope).await.map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        let snapshot = self.snapshot();
        let current = snapshot.epoch == epoch
            && version.is_none_or(|v| snapshot.synced.get(scope).is_some_and(|seen| *seen >= v));
        if current {
            return Ok(snapshot);
        }
        let (done, answer) = oneshot::channel();
        self.submit(Job::Refresh(scope.clone(), done))?;
        answer.await.unwrap_or(Err(StoreError::Stopped))?;
        Ok(self.snapshot())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store's figures of its commits and reads, for `/metrics`.
    pub fn metrics(&self) -> StoreMetrics {
        self.metrics.clone()
    }

    pub fn stats(&self) -> StoreStats {
        let world = self.snapshot();
        StoreStats { addresses: world.address_count(), partitions: world.partitions().count() }
    }

    /// Runs `op` as one transaction on `scope`: all of its changes become
    /// durable and visible together, or none do. The outer error is the
    /// store's; the inner result is the operation's own (an `Err` of it
    /// undoes its changes). `op` may run more than once (a shared store
    /// runs it again when another node changed the state it ran on): only
    /// the last run's changes and result count.
    pub async fn write<R, E, F>(&self, scope: Scope, op: F) -> Result<Result<R, E>, StoreError>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&mut Tx) -> Result<R, E> + Send + 'static,
    {
        let (done, answer) = oneshot::channel::<Result<Result<R, E>, StoreError>>();
        self.submit(Job::Op(Box::new(Write { scope, rule: op, outcome: None, done })))?;
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
///
/// A shared store may commit optimistically: a group is sent without
/// waiting for the one before it (in one region, at most `MAX_IN_FLIGHT`
/// groups), each landing only if the region is still where the group
/// found it. A group that does not land, and every one sent after it, runs
/// again on the published state: the locking way, unless the backend knows
/// how to land it without (`Persistence::catch_up_if_behind`).
struct Writer {
    current: Arc<ArcSwap<World>>,
    settings: Arc<Settings>,
    persistence: Box<dyn Persistence>,
    max_batch: usize,
    /// The published world plus the open batch and the groups in flight.
    working: World,
    /// Applied operations whose commit has not started.
    open: Batch,
    /// Groups sent optimistically, oldest first, all of one region.
    in_flight: std::collections::VecDeque<Flight>,
    metrics: StoreMetrics,
}

#[derive(Default)]
struct Batch {
    changes: Changes,
    ops: Vec<Box<dyn Pending>>,
}

/// A group whose optimistic commit is on its way.
struct Flight {
    region: Region,
    ops: Vec<Box<dyn Pending>>,
    /// The world to publish when it lands: what was published, the groups
    /// in flight before it, and its own changes.
    after: World,
    sent: Instant,
}

/// Most optimistic groups on their way at once: the next group runs while
/// the one before it commits.
const MAX_IN_FLIGHT: usize = 2;
/// Most runs of a locked group that another node's change to the pool meets.
const LOCKED_ATTEMPTS: usize = 32;

impl Writer {
    fn new(
        current: Arc<ArcSwap<World>>,
        settings: Arc<Settings>,
        persistence: Box<dyn Persistence>,
        max_batch: usize,
        metrics: StoreMetrics,
    ) -> Self {
        let working = World::clone(&current.load());
        Self {
            current,
            settings,
            persistence,
            max_batch,
            working,
            open: Batch::default(),
            in_flight: Default::default(),
            metrics,
        }
    }

    fn run(mut self, queue: &mpsc::Receiver<Job>) {
        loop {
            // With groups in flight, take what is waiting or land the
            // oldest; with none, wait for work.
            let first = if self.in_flight.is_empty() {
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            } else {
                match queue.try_recv() {
                    Ok(job) => job,
                    Err(mpsc::TryRecvError::Empty) => {
                        self.land_oldest();
                        continue;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.land_all();
                        return;
                    }
                }
            };
            // Everything waiting now, without blocking, up to the batch limit.
            let mut ops = Vec::new();
            let mut refreshes = Vec::new();
            let mut job = Some(first);
            while let Some(current) = job {
                match current {
                    Job::Op(op) => ops.push(op),
                    // Answered after this batch: a read sees at least what
                    // was committed when it asked.
                    Job::Refresh(scope, done) => refreshes.push((scope, done)),
                    Job::Reset(done) => {
                        self.write(std::mem::take(&mut ops));
                        self.land_all();
                        self.reset(done);
                    }
                    Job::Check(done) => {
                        self.land_all();
                        let _ =
                            done.send(self.persistence.check().map_err(|e| StoreError::Unavailable(format!("{e:#}"))));
                    }
                    Job::Close(done) => {
                        self.write(std::mem::take(&mut ops));
                        self.land_all();
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
            self.write(ops);
            if !refreshes.is_empty() {
                self.land_all();
                self.refresh(refreshes);
            }
        }
    }

    /// Commits a batch: optimistically when the backend takes it (a group
    /// per region: a region's operations never read another's state), else
    /// as one locked transaction.
    fn write(&mut self, ops: Vec<Box<dyn Pending>>) {
        if ops.is_empty() {
            return;
        }
        if !self.persistence.optimistic() {
            self.write_locked(ops);
            return;
        }
        let mut groups: Vec<(Region, Vec<Box<dyn Pending>>)> = Vec::new();
        for op in ops {
            let region = &op.scope().region;
            match groups.iter_mut().find(|(r, _)| r == region) {
                Some((_, group)) => group.push(op),
                None => groups.push((region.clone(), vec![op])),
            }
        }
        for (region, group) in groups {
            self.send(region, group);
        }
    }

    /// Runs a group and sends its commit without waiting for the answer.
    fn send(&mut self, region: Region, ops: Vec<Box<dyn Pending>>) {
        // Only groups of one region follow each other in flight: each lands
        // only where the one before it did.
        while self.in_flight.front().is_some_and(|f| f.region != region) || self.in_flight.len() >= MAX_IN_FLIGHT {
            self.land_oldest();
        }
        if !self.persistence.optimistic() {
            // A landing met another node's change: the locking way for a while.
            self.write_locked(ops);
            return;
        }
        if let Err(e) = self.persistence.catch_up_if_behind(&mut self.working, &region) {
            self.fail_unsent(ops, e);
            return;
        }
        let mut changes = Changes::default();
        let ops = self.run_all(ops, &mut changes);
        changes.records = changes.records_once();
        match self.persistence.send(&mut self.working, &scopes_of(&ops), &changes) {
            Ok(()) => {
                let after = self.working.clone();
                self.in_flight.push_back(Flight { region, ops, after, sent: Instant::now() });
            }
            Err(e) => self.fail_unsent(ops, e),
        }
    }

    /// Answers a group that was not sent with the backend's error; the
    /// groups before it land or fail on their own.
    fn fail_unsent(&mut self, ops: Vec<Box<dyn Pending>>, e: anyhow::Error) {
        answer_all(ops, Err(storage_error(e)));
        self.land_all();
        self.working = World::clone(&self.current.load());
    }

    /// Commits operations as one locked transaction, once the groups in
    /// flight have landed (it runs on the published state). Should the
    /// backend still find a conflict (the regions' pool locks are meant to
    /// rule it out), it runs again, a few times at most.
    fn write_locked(&mut self, ops: Vec<Box<dyn Pending>>) {
        self.land_all();
        let mut ops = ops;
        for attempt in 1.. {
            self.apply(ops);
            let Some(again) = self.commit() else { return };
            if attempt == LOCKED_ATTEMPTS {
                let e = StoreError::Unavailable(format!(
                    "other nodes' changes to the region's address pool met this commit {LOCKED_ATTEMPTS} times"
                ));
                answer_all(again, Err(e));
                return;
            }
            self.metrics.reruns.inc_by(again.len() as u64);
            ops = again;
        }
    }

    fn land_all(&mut self) {
        while !self.in_flight.is_empty() {
            self.land_oldest();
        }
    }

    /// Waits for the oldest group in flight: landed, it is published and
    /// answered; not landed, it and every later group (built on it, so not
    /// landed either) run again on the published state (`write`: the
    /// locking way unless the backend is still optimistic).
    fn land_oldest(&mut self) {
        let Some(flight) = self.in_flight.pop_front() else { return };
        let landed = self.persistence.land();
        let mut again = Vec::new();
        match landed {
            Ok(true) => {
                self.observe(flight.ops.len(), flight.sent.elapsed());
                self.current.store(Arc::new(flight.after));
                answer_all(flight.ops, Ok(()));
                return;
            }
            Ok(false) => again.extend(flight.ops),
            Err(e) => {
                let e = storage_error(e);
                answer_all(flight.ops, Err(e));
            }
        }
        for later in std::mem::take(&mut self.in_flight) {
            match self.persistence.land() {
                Ok(false) => again.extend(later.ops),
                Ok(true) => {
                    // The backend refuses a group whose predecessor did not
                    // land; if one landed all the same, its changes are
                    // durable but the world it was built on is not: answer
                    // it, unpublished; the backend reloads at the next
                    // transaction.
                    answer_all(later.ops, Ok(()));
                }
                Err(e) => {
                    let e = storage_error(e);
                    answer_all(later.ops, Err(e));
                }
            }
        }
        self.working = World::clone(&self.current.load());
        if !again.is_empty() {
            // Under lock, unless the backend knows how to land it without
            // (it met only an IP another node took).
            tracing::debug!(operations = again.len(), "another node wrote first: running the group again");
            self.metrics.reruns.inc_by(again.len() as u64);
            self.write(again);
        }
    }

    /// Runs operations on the working world, each one all-or-nothing; gives
    /// back those that are to be answered (a panicking one is answered by
    /// its dropped reply).
    fn run_all(&mut self, ops: Vec<Box<dyn Pending>>, changes: &mut Changes) -> Vec<Box<dyn Pending>> {
        let mut kept = Vec::with_capacity(ops.len());
        for mut op in ops {
            let before = self.working.clone();
            let mark = changes.mark();
            let outcome = run_guarded(op.as_mut(), &mut self.working, &self.settings, changes);
            // A failed rule, or one that panicked part-way: drop whatever it
            // changed.
            match outcome {
                Some(true) => {}
                Some(false) => {
                    self.working = before;
                    changes.undo_failed(mark);
                }
                None => {
                    self.working = before;
                    changes.undo_to(mark);
                }
            }
            if outcome.is_some() {
                kept.push(op);
            }
        }
        kept
    }

    /// Applies operations to the working world inside a locked transaction
    /// of the backend, each one all-or-nothing.
    fn apply(&mut self, ops: Vec<Box<dyn Pending>>) {
        if ops.is_empty() {
            return;
        }
        if let Err(e) = self.persistence.begin(&mut self.working, &scopes_of(&ops)) {
            // The backend could not open the transaction: nothing ran.
            let e = storage_error(e);
            answer_all(ops, Err(e));
            return;
        }
        let mut changes = std::mem::take(&mut self.open.changes);
        let ops = self.run_all(ops, &mut changes);
        self.open.changes = changes;
        self.open.ops.extend(ops);
    }

    fn observe(&self, operations: usize, elapsed: Duration) {
        self.metrics.operations.observe(operations as f64);
        self.metrics.duration.observe(elapsed.as_secs_f64());
        if elapsed > Duration::from_millis(500) {
            tracing::warn!(operations, elapsed_ms = elapsed.as_millis() as u64, "slow commit");
        }
    }

    /// Commits the open batch, then publishes and answers it; on failure
    /// answers it with the error and starts again from what is durable.
    /// Gives the operations back, unanswered, when the backend found a
    /// conflict: they are to run again.
    fn commit(&mut self) -> Option<Vec<Box<dyn Pending>>> {
        if self.open.ops.is_empty() {
            return None;
        }
        let Batch { mut changes, ops } = std::mem::take(&mut self.open);
        // A shared store commits even with nothing changed: that ends the
        // transaction `begin` opened and publishes what it caught up with.
        if changes.records.is_empty() && !self.persistence.shared() {
            // Nothing to persist: the working world is the published one.
            answer_all(ops, Ok(()));
            return None;
        }
        let started = Instant::now();
        changes.records = changes.records_once();
        let result = self.persistence.commit(&mut self.working, &changes);
        self.observe(ops.len(), started.elapsed());
        match result {
            Ok(()) => {
                // Publish first, answer second: whoever is answered sees the new state.
                self.current.store(Arc::new(self.working.clone()));
                answer_all(ops, Ok(()));
                None
            }
            Err(e) => {
                self.working = World::clone(&self.current.load());
                if e.downcast_ref::<Conflict>().is_some() {
                    tracing::debug!(operations = ops.len(), error = %format!("{e:#}"), "another node changed the pool: running the group again");
                    return Some(ops);
                }
                answer_all(ops, Err(storage_error(e)));
                None
            }
        }
    }

    /// Catches up once per region for every read waiting on it (shared
    /// stores), then publishes and answers them all.
    fn refresh(&mut self, waiting: Vec<(Scope, oneshot::Sender<Result<(), StoreError>>)>) {
        if waiting.is_empty() {
            return;
        }
        let mut results = BTreeMap::new();
        for (scope, _) in &waiting {
            if !results.contains_key(scope) {
                let result = self.persistence.refresh(&mut self.working, scope).map_err(storage_error);
                results.insert(scope.clone(), result);
            }
        }
        self.current.store(Arc::new(self.working.clone()));
        for (scope, done) in waiting {
            let _ = done.send(results[&scope].clone());
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

/// The partitions operations run on, each once, in order.
fn scopes_of(ops: &[Box<dyn Pending>]) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = ops.iter().map(|op| op.scope().clone()).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// Answers every operation of a group with the same outcome.
fn answer_all(ops: Vec<Box<dyn Pending>>, persisted: Result<(), StoreError>) {
    for op in ops {
        op.answer(persisted.clone());
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

/// Marks a backend error that is a race lost to another node: nothing was
/// written, and the operations are to run again on what it wrote.
#[derive(Debug, thiserror::Error)]
#[error("another node changed what the commit depended on")]
struct Conflict;

/// Marks a backend error after which a commit's outcome is unknown.
#[derive(Debug, thiserror::Error)]
#[error("the connection broke during COMMIT, which may or may not have been applied")]
struct OutcomeUnknown;

/// Runs one operation, catching a panic of its rule so that one faulty
/// request cannot stop the writer every other request depends on: true when
/// it succeeded and its changes stay, `None` when it panicked (its changes
/// to `world` are then partial, and the caller must undo them).
fn run_guarded(op: &mut dyn Pending, world: &mut World, settings: &Settings, changes: &mut Changes) -> Option<bool> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.run(world, settings, changes))) {
        Ok(ok) => Some(ok),
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

    pub(crate) fn allocate(tx: &mut Tx) -> ApiResult<std::net::Ipv4Addr> {
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

    /// A shared backend whose optimistic commits land or not as the test
    /// says, and which records what the writer asked of it.
    #[derive(Default)]
    struct Scripted {
        /// What `land` answers, in order.
        landings: std::collections::VecDeque<anyhow::Result<bool>>,
        optimistic: bool,
        /// A group that did not land leaves the backend optimistic (it met
        /// an IP another node took), behind with the region until the
        /// next group catches up.
        catches_up: bool,
        behind: bool,
        /// Catch-ups made, each as the number of groups sent before it and
        /// of the addresses in the world it caught up.
        caught_up: Arc<std::sync::Mutex<Vec<(usize, usize)>>>,
        /// Operations' record counts sent optimistically, and committed under lock.
        sent: Arc<std::sync::Mutex<Vec<usize>>>,
        locked: Arc<std::sync::Mutex<Vec<usize>>>,
    }

    impl Persistence for Scripted {
        fn commit(&mut self, _: &mut World, changes: &Changes) -> anyhow::Result<()> {
            self.locked.lock().unwrap().push(changes.records.len());
            Ok(())
        }
        fn optimistic(&self) -> bool {
            self.optimistic
        }
        fn send(&mut self, world: &mut World, scopes: &[Scope], changes: &Changes) -> anyhow::Result<()> {
            self.sent.lock().unwrap().push(changes.records.len());
            for scope in scopes {
                let next = world.synced.get(scope).copied().unwrap_or(0) + 1;
                world.synced.insert(scope.clone(), next);
            }
            Ok(())
        }
        fn land(&mut self) -> anyhow::Result<bool> {
            let landed = self.landings.pop_front().expect("a landing scripted");
            if !matches!(landed, Ok(true)) {
                self.optimistic &= self.catches_up;
                self.behind |= self.catches_up;
            }
            landed
        }
        fn catch_up_if_behind(&mut self, world: &mut World, _: &Region) -> anyhow::Result<()> {
            if std::mem::take(&mut self.behind) {
                self.caught_up.lock().unwrap().push((self.sent.lock().unwrap().len(), world.address_count()));
            }
            Ok(())
        }
        fn shared(&self) -> bool {
            true
        }
        fn wipe(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        fn replace_all(&mut self, _: &World) -> anyhow::Result<()> {
            Ok(())
        }
    }

    type Answer = oneshot::Receiver<Result<ApiResult<std::net::Ipv4Addr>, StoreError>>;

    /// An allocation as the writer receives it, counting its runs.
    fn allocation(runs: &Arc<std::sync::atomic::AtomicUsize>) -> (Box<dyn Pending>, Answer) {
        let (done, answer) = oneshot::channel();
        let runs = runs.clone();
        let rule = move |tx: &mut Tx| {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            allocate(tx)
        };
        (Box::new(Write { scope: Scope::new("123456789012", "us-east-1"), rule, outcome: None, done }), answer)
    }

    /// A writer on a scripted backend, and two allocations sent, a group each.
    struct TwoGroups {
        writer: Writer,
        current: Arc<ArcSwap<World>>,
        metrics: StoreMetrics,
        runs: Arc<std::sync::atomic::AtomicUsize>,
        answers: [Answer; 2],
    }

    impl TwoGroups {
        fn sent(backend: Scripted) -> Self {
            let current = Arc::new(ArcSwap::from_pointee(World::default()));
            let metrics = StoreMetrics::default();
            let mut writer = Writer::new(
                current.clone(),
                Arc::new(Settings::default()),
                Box::new(backend),
                MAX_BATCH,
                metrics.clone(),
            );
            let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let (first, first_answer) = allocation(&runs);
            let (second, second_answer) = allocation(&runs);
            writer.write(vec![first]);
            writer.write(vec![second]);
            Self { writer, current, metrics, runs, answers: [first_answer, second_answer] }
        }

        fn runs(&self) -> usize {
            self.runs.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// Two groups sent one after the other, the first not landing: both run
    /// again under lock on the published state, each answered once with
    /// the outcome of that second run, and nothing of the first runs is
    /// published.
    #[test]
    fn a_group_that_does_not_land_runs_again_under_lock_with_the_groups_after_it() {
        let backend = Scripted { landings: [Ok(false), Ok(false)].into(), optimistic: true, ..Default::default() };
        let (sent, locked) = (backend.sent.clone(), backend.locked.clone());
        let mut two = TwoGroups::sent(backend);
        assert_eq!(two.writer.in_flight.len(), 2, "the second group is sent before the first lands");
        assert!(two.answers[0].try_recv().is_err(), "not answered before it lands");
        assert_eq!(two.current.load().address_count(), 0, "nothing published before it lands");

        two.writer.land_oldest();
        assert!(two.writer.in_flight.is_empty());
        assert_eq!(two.runs(), 4, "each ran twice");
        assert_eq!(sent.lock().unwrap().len(), 2);
        assert_eq!(locked.lock().unwrap().len(), 1, "run again together, in one locked commit");
        let world = two.current.load();
        assert_eq!(world.address_count(), 2, "the second runs' allocations, not the first runs'");
        let ips = two.answers.each_mut().map(|a| a.try_recv().unwrap().unwrap().unwrap());
        assert_ne!(ips[0], ips[1]);
        for ip in ips {
            assert_eq!(world.pool("us-east-1").and_then(|p| p.holder(ip)).map(|a| &**a), Some("123456789012"));
        }
        assert_eq!(two.metrics.reruns.get(), 2);
    }

    /// Two groups sent, the first meeting an IP another node took: both run
    /// again as one optimistic group once the backend caught up (before
    /// they ran), not under lock, and are answered when it lands.
    #[test]
    fn a_group_that_met_a_taken_ip_runs_again_optimistically_after_a_catch_up() {
        let landings = [Ok(false), Ok(false), Ok(true)];
        let backend = Scripted { landings: landings.into(), optimistic: true, catches_up: true, ..Default::default() };
        let (sent, locked, caught_up) = (backend.sent.clone(), backend.locked.clone(), backend.caught_up.clone());
        let mut two = TwoGroups::sent(backend);
        two.writer.land_oldest();
        assert_eq!(
            *caught_up.lock().unwrap(),
            [(2, 0)],
            "one catch-up, after the two groups were sent, of the published world, before they ran again"
        );
        assert_eq!(sent.lock().unwrap().len(), 3, "run again as one group, sent");
        assert!(locked.lock().unwrap().is_empty(), "nothing under lock");
        assert_eq!(two.writer.in_flight.len(), 1);
        assert!(two.answers[0].try_recv().is_err(), "not answered before the rerun lands");
        two.writer.land_oldest();
        assert_eq!(two.current.load().address_count(), 2);
        let ips = two.answers.each_mut().map(|a| a.try_recv().unwrap().unwrap().unwrap());
        assert_ne!(ips[0], ips[1]);
        assert_eq!(two.runs(), 4, "each ran twice");
        assert_eq!(two.metrics.reruns.get(), 2);
    }

    /// Groups that land are published and answered in order, each with the
    /// world as it was after it.
    #[test]
    fn groups_that_land_are_published_in_order() {
        let backend = Scripted { landings: [Ok(true), Ok(true)].into(), optimistic: true, ..Default::default() };
        let locked = backend.locked.clone();
        let mut two = TwoGroups::sent(backend);
        two.writer.land_oldest();
        assert_eq!(two.current.load().address_count(), 1, "the first group's world, without the second's change");
        let first_ip = two.answers[0].try_recv().unwrap().unwrap().unwrap();
        assert!(two.answers[1].try_recv().is_err());
        two.writer.land_oldest();
        assert_eq!(two.current.load().address_count(), 2);
        assert_ne!(two.answers[1].try_recv().unwrap().unwrap().unwrap(), first_ip);
        assert_eq!(two.runs(), 2, "each ran once");
        assert!(locked.lock().unwrap().is_empty());
        assert_eq!(two.metrics.reruns.get(), 0);
    }

    /// A group whose commit failed is answered with the failure; the group
    /// after it, built on it, does not land either and runs again.
    #[test]
    fn a_failed_group_is_answered_with_its_failure_and_the_next_runs_again() {
        let landings = [Err(anyhow::anyhow!("the connection broke").context(OutcomeUnknown)), Ok(false)];
        let backend = Scripted { landings: landings.into(), optimistic: true, ..Default::default() };
        let mut two = TwoGroups::sent(backend);
        two.writer.land_oldest();
        assert!(matches!(two.answers[0].try_recv().unwrap(), Err(StoreError::OutcomeUnknown(_))));
        let ip = two.answers[1].try_recv().unwrap().unwrap().unwrap();
        let world = two.current.load();
        assert_eq!(world.address_count(), 1, "only the second, run again");
        assert!(world.pool("us-east-1").and_then(|p| p.holder(ip)).is_some());
        assert_eq!(two.metrics.reruns.get(), 1);
    }
}
