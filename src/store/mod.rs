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
mod postgres;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::oneshot;

use crate::domain::{RecordKey, Region, Scope, Settings, Tx, World};
use crate::error::{ApiError, ApiResult};

pub use embedded::{EmbeddedStore, FORMAT_VERSION};
use postgres::PostgresStore;

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
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
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

type Reply = Box<dyn FnOnce(Result<(), ApiError>) + Send>;
/// The records an operation changed, by partition.
type Changed = Vec<(Scope, RecordKey)>;
type Operation = Box<dyn FnOnce(&mut World, &Settings, &mut Changed) -> (bool, Reply) + Send>;

enum Job {
    /// Runs an operation on a scope; `true` when it succeeded and its changes stay.
    Op(Scope, Operation),
    /// Catches up with other nodes before a read of a region (shared stores).
    Refresh(Region, oneshot::Sender<Result<(), ApiError>>),
    /// Wipes everything (the moto reset endpoint).
    Reset(oneshot::Sender<Result<(), ApiError>>),
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
            let url = url.clone();
            let (store, world) = std::thread::spawn(move || PostgresStore::open(&url))
                .join()
                .map_err(|_| anyhow::anyhow!("connecting to PostgreSQL panicked"))??;
            (world, Box::new(store))
        }
    })
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
    jobs: mpsc::SyncSender<Job>,
    settings: Arc<Settings>,
    /// Reads ask the backend first: other nodes write to it too.
    shared: bool,
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
        let shared = persistence.shared();
        // A shared store locks regions in the database: one operation per
        // transaction keeps nodes from waiting on each other's batches.
        let batch = if group_commit && !shared { MAX_BATCH } else { 1 };
        let (writer_current, writer_settings) = (current.clone(), settings.clone());
        std::thread::Builder::new()
            .name("eipd-writer".into())
            .spawn(move || writer(queue, writer_current, writer_settings, persistence, batch))?;
        Ok(Self { current, jobs, settings, shared })
    }

    /// The latest durable state this node has, for reads that need not see
    /// other nodes' latest changes (metrics, health).
    pub fn snapshot(&self) -> Arc<World> {
        self.current.load_full()
    }

    /// The latest durable state for a read of `region`, including what other
    /// nodes committed before this call (read-your-writes across a fleet).
    pub async fn read(&self, region: &Region) -> ApiResult<Arc<World>> {
        if self.shared {
            let (done, answer) = oneshot::channel();
            self.submit(Job::Refresh(region.clone(), done))?;
            answer.await.unwrap_or_else(|_| Err(ApiError::internal_error("the store writer stopped")))?;
        }
        Ok(self.snapshot())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn stats(&self) -> StoreStats {
        let world = self.snapshot();
        StoreStats { addresses: world.address_count(), partitions: world.partitions().count() }
    }

    /// Runs `op` as one transaction on `scope`: all of its changes become
    /// durable and visible together, or none do.
    pub async fn write<R, F>(&self, scope: Scope, op: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx) -> ApiResult<R> + Send + 'static,
    {
        let (done, answer) = oneshot::channel::<ApiResult<R>>();
        let job = Job::Op(
            scope.clone(),
            Box::new(move |world: &mut World, settings: &Settings, dirty: &mut Vec<(Scope, RecordKey)>| {
                let now = now_secs();
                let mut tx = world.tx(&scope, settings, now, dirty);
                let result = op(&mut tx);
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |persisted: Result<(), ApiError>| {
                    let _ = done.send(persisted.and(result));
                });
                (ok, reply)
            }),
        );
        self.submit(job)?;
        answer.await.unwrap_or_else(|_| Err(ApiError::internal_error("the store writer stopped")))
    }

    /// Wipes all state (durably).
    pub async fn reset(&self) -> ApiResult<()> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Reset(done))?;
        answer.await.unwrap_or_else(|_| Err(ApiError::internal_error("the store writer stopped")))
    }

    fn submit(&self, job: Job) -> ApiResult<()> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => Err(ApiError::server_busy()),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(ApiError::internal_error("the store writer stopped")),
        }
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn writer(
    queue: mpsc::Receiver<Job>,
    current: Arc<ArcSwap<World>>,
    settings: Arc<Settings>,
    mut persistence: Box<dyn Persistence>,
    max_batch: usize,
) {
    while let Ok(first) = queue.recv() {
        // A reset ends a batch: what was acknowledged after it must survive it.
        let mut batch = vec![first];
        while batch.len() < max_batch && !matches!(batch.last(), Some(Job::Reset(_))) {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut world = World::clone(&current.load());
        let mut regions: Vec<Region> = batch
            .iter()
            .filter_map(|job| match job {
                Job::Op(scope, _) => Some(scope.region.clone()),
                _ => None,
            })
            .collect();
        regions.sort();
        regions.dedup();
        let begun =
            if regions.is_empty() { Ok(()) } else { persistence.begin(&mut world, &regions).map_err(storage_error) };
        let mut dirty = Vec::new();
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let mut refreshes = Vec::new();
        let mut resets = Vec::new();
        for job in batch {
            match job {
                Job::Op(_, op) => {
                    let before = world.clone();
                    let mark = dirty.len();
                    let (ok, reply) = op(&mut world, &settings, &mut dirty);
                    if !ok {
                        world = before;
                        dirty.truncate(mark);
                    }
                    replies.push(reply);
                }
                Job::Refresh(region, done) => refreshes.push((region, done)),
                Job::Reset(done) => resets.push(done),
            }
        }
        let outcome = match begun {
            Err(e) => Err(e),
            Ok(()) if regions.is_empty() => Ok(()),
            Ok(()) => commit(&mut *persistence, &mut world, &mut dirty),
        };
        if outcome.is_err() {
            // Nothing of the batch happened: start again from what is durable.
            world = World::clone(&current.load());
        }
        let refreshed: Vec<_> = refreshes
            .into_iter()
            .map(|(region, done)| (done, persistence.refresh(&mut world, &region).map_err(storage_error)))
            .collect();
        let wiped: Vec<_> = resets
            .into_iter()
            .map(|done| {
                let wiped = persistence.wipe().map_err(storage_error);
                if wiped.is_ok() {
                    world = World::default();
                }
                (done, wiped)
            })
            .collect();
        // Publish first, answer second: whoever is answered sees the new state.
        current.store(Arc::new(world));
        for (done, result) in refreshed.into_iter().chain(wiped) {
            let _ = done.send(result);
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

fn commit(
    persistence: &mut dyn Persistence,
    world: &mut World,
    dirty: &mut Vec<(Scope, RecordKey)>,
) -> Result<(), ApiError> {
    dirty.sort();
    dirty.dedup();
    let started = Instant::now();
    let result = persistence.commit(world, dirty).map_err(storage_error);
    if started.elapsed() > Duration::from_millis(500) {
        tracing::warn!(records = dirty.len(), elapsed_ms = started.elapsed().as_millis() as u64, "slow commit");
    }
    dirty.clear();
    result
}

fn storage_error(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %e, "store commit failed");
    ApiError::internal_error("The store could not commit the change; nothing was changed.")
}
