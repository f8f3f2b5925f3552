//! The embedded store: a redb file of records and a journal beside it.
//!
//! - `eipd.redb` holds every record (the checkpointed state) and, in its meta
//!   table, the last journal entry that state includes (`applied_seq`).
//! - `eipd-journal/` holds the group commits not yet checkpointed: one entry
//!   per commit, the changed records of every operation in it (see `journal`).
//!
//! A commit appends one journal entry and fdatasyncs it before any caller is
//! answered: one sequential write, where writing the records in place would
//! rewrite a random B-tree leaf (and its branch pages) for every changed
//! record. A checkpointer thread folds the journal into `eipd.redb` in large
//! redb transactions, where the many changes of one record collapse into one
//! write; journal segments are reused only once a durable checkpoint covers
//! them. A crash at any point leaves the records at some `applied_seq` and
//! the journal holding every later acknowledged commit: start-up replays
//! those and nothing acknowledged is lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::journal::{self, Journal};

use super::Persistence;
use eipd_domain::{Record, RecordKey, Scope, World};

/// Records by `account/region/kind/id`: a CRC-32 of the key and the JSON
/// (little-endian), then the record as JSON (format 3; see `seal`).
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// `format_version`, `applied_seq` and other facts about the file.
const META: TableDefinition<&str, u64> = TableDefinition::new("eipd_meta");
/// The on-disk format this eipd writes. A newer eipd migrates older files;
/// a file from a newer eipd is refused. 1: records only; 2: records and a
/// journal directory; 3: every record carries a checksum.
pub const FORMAT_VERSION: u64 = 3;

/// A record as stored: the CRC-32 of its key and JSON, then the JSON. The
/// key is in the sum so that a record moved under another key is damage too.
fn seal(key: &str, json: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(4 + json.len());
    sealed.extend_from_slice(&record_checksum(key, json).to_le_bytes());
    sealed.extend_from_slice(json);
    sealed
}

fn record_checksum(key: &str, json: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(json);
    hasher.finalize()
}

/// The JSON of a stored record whose checksum matches.
fn unseal<'a>(key: &str, stored: &'a [u8]) -> anyhow::Result<&'a [u8]> {
    let (sum, json) = stored.split_at_checked(4).context("shorter than its checksum")?;
    if u32::from_le_bytes(sum.try_into().expect("4 bytes")) != record_checksum(key, json) {
        bail!("its checksum does not match its content");
    }
    Ok(json)
}

/// The journal directory beside the records file.
pub fn journal_path(records: &Path) -> PathBuf {
    records.with_file_name("eipd-journal")
}

/// A checkpoint starts once a journal segment fills (so that the journal stays
/// a few segments long however fast it is written), once this many distinct
/// records wait for one…
const CHECKPOINT_RECORDS: usize = 32 * 1024;
/// …or once the oldest waiting change is this old (`EIPD_CHECKPOINT_INTERVAL_MS`
/// sets another interval: tests that need the journal unfolded set a long one).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

fn checkpoint_interval() -> Duration {
    std::env::var("EIPD_CHECKPOINT_INTERVAL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(CHECKPOINT_INTERVAL, Duration::from_millis)
}

/// The journal's segment size; `EIPD_JOURNAL_SEGMENT_BYTES` sets another, so
/// that tests fill segments (and need new ones) within a few hundred commits.
fn journal_segment_size() -> u64 {
    std::env::var("EIPD_JOURNAL_SEGMENT_BYTES")
        .ok()
        .and_then(|bytes| bytes.parse().ok())
        .map_or(journal::SEGMENT_SIZE, |bytes: u64| bytes.max(4096))
}

/// Whether an error comes from a full file system (or a full quota).
fn disk_full(e: &anyhow::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    let io = e.chain().filter_map(|c| c.downcast_ref::<std::io::Error>());
    io.clone().any(|io| matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT)))
        // redb's errors carry the io::Error without exposing it as a source.
        || format!("{e:#}").contains(&format!("(os error {ENOSPC})"))
}

/// The records file, reopened after a failed write: redb refuses every
/// later transaction of a handle that once failed to write ("Previous I/O
/// error"), so a short disk-full would otherwise stop checkpoints for good.
struct RecordsFile {
    path: PathBuf,
    /// None after a failure, until it opens again.
    db: Option<Database>,
}

impl RecordsFile {
    fn db(&mut self) -> anyhow::Result<&Database> {
        if self.db.is_none() {
            let db = Database::builder()
                .set_cache_size(RECORDS_CACHE)
                .create(&self.path)
                .with_context(|| format!("reopening {}", self.path.display()))?;
            tracing::info!(path = %self.path.display(), "reopened the records file");
            self.db = Some(db);
        }
        Ok(self.db.as_ref().expect("opened above"))
    }

    /// Runs `write` on the file; after a failure the handle is dropped, so
    /// the next call starts from what the file last committed.
    fn write(&mut self, write: impl FnOnce(&Database) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let result = self.db().and_then(write);
        if result.is_err() {
            self.db = None;
        }
        result
    }
}

/// redb's page cache for the records file. The records are read once at start
/// and then only written by checkpoints, so a big cache (redb's default is
/// 1 GiB) would only hold the whole file in the process's memory; the
/// operating system's page cache serves the checkpoints' reads.
const RECORDS_CACHE: usize = 32 << 20;

/// One changed record: its stored key and its JSON, `None` once deleted.
type Change = (String, Option<Vec<u8>>);

pub struct EmbeddedStore {
    records: Arc<Mutex<RecordsFile>>,
    path: PathBuf,
    /// Written by the store's writer thread itself: handing each commit to a
    /// journal thread and its outcome back cost two thread wake-ups per
    /// commit, more CPU than applying the next operations meanwhile saved.
    journal: Journal,
    /// Entries up to here are in the records file (set by the checkpointer).
    applied: Arc<AtomicU64>,
    /// Why the last journal write failed, until one succeeds.
    journal_failure: Option<String>,
    /// Why the last checkpoint failed, until one succeeds (the checkpointer's).
    checkpoint_failure: Arc<Mutex<Option<String>>>,
    /// Records handed to the checkpointer since it was last woken.
    queued: usize,
    checkpointer: ToCheckpointer,
    checkpointer_thread: Option<std::thread::JoinHandle<()>>,
}

/// The way to the checkpointer thread. Committed changes are queued without
/// waking it: it wakes on its interval, or when enough records are queued
/// (a wake-up per committed entry cost a context switch per commit), or when
/// a journal segment fills.
/// Flushes and the stop wake it at once.
struct ToCheckpointer {
    queue: mpsc::Sender<Checkpoint>,
    thread: std::thread::Thread,
}

impl ToCheckpointer {
    fn send(&self, message: Checkpoint, wake: bool) -> anyhow::Result<()> {
        self.queue.send(message).map_err(|_| anyhow::anyhow!("the checkpointer stopped"))?;
        if wake {
            self.thread.unpark();
        }
        Ok(())
    }
}

enum Checkpoint {
    /// A committed journal entry to fold into the records.
    Changes(u64, Vec<Change>),
    /// Fold everything received now (a journal segment filled).
    Now,
    /// Fold everything received now and answer when it is durable.
    Flush(mpsc::SyncSender<anyhow::Result<()>>),
    /// Fold everything received and end.
    Stop,
}

pub(crate) fn record_key(scope: &Scope, key: &RecordKey) -> String {
    format!("{}/{}/{}", scope.account, scope.region, key.encode())
}

/// A record as stored (JSON), read from `world`; None once deleted.
fn record_json(world: &World, scope: &Scope, key: &RecordKey) -> anyhow::Result<Option<Vec<u8>>> {
    match world.partition(scope).and_then(|p| p.record(key)) {
        Some(record) => Ok(Some(serde_json::to_vec(&record)?)),
        None => Ok(None),
    }
}

fn parse_key(key: &str) -> Option<(Scope, RecordKey)> {
    let mut parts = key.splitn(3, '/');
    let account = parts.next()?;
    let region = parts.next()?;
    let record = RecordKey::decode(parts.next()?)?;
    Some((Scope::new(account, region), record))
}

/// The tables of a records file.
const OURS: [&str; 2] = ["records", "eipd_meta"];

/// The format of an eipd records file (None: not written yet), refusing a
/// file from a newer eipd or of another program.
fn format_of(db: &impl ReadableDatabase, path: &Path) -> anyhow::Result<Option<u64>> {
    let version = match db.begin_read()?.open_table(META) {
        Ok(meta) => meta.get("format_version")?.map(|v| v.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    match version {
        Some(v) if v > FORMAT_VERSION => bail!(
            "{} was written by a newer eipd (format {v}; this eipd reads up to {FORMAT_VERSION}); refusing to open it",
            path.display()
        ),
        None if has_foreign_tables(db, &OURS)? => {
            bail!("{} is a redb file but not an eipd data file; refusing to touch it", path.display())
        }
        version => Ok(version),
    }
}

/// Opens (or creates) the records file. An existing file is read first
/// without writing to it, so that a file from a newer eipd or of another
/// program is refused untouched.
fn open_database(path: &Path) -> anyhow::Result<Database> {
    let in_use = || {
        anyhow::anyhow!(
            "{} is in use by another eipd process (only one process may open an embedded store; use --store postgres://… for several nodes)",
            path.display()
        )
    };
    if path.exists() {
        match ReadOnlyDatabase::open(path) {
            Ok(db) => {
                format_of(&db, path)?;
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(in_use()),
            // A file that needs repair after a crash opens read-write only;
            // `check_format` refuses it then if it is not ours.
            Err(_) => {}
        }
    }
    Database::builder().set_cache_size(RECORDS_CACHE).create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => in_use(),
        e @ redb::DatabaseError::Storage(redb::StorageError::Io(_)) => {
            anyhow::anyhow!("opening {}: {e}", path.display())
        }
        e => anyhow::anyhow!("{} is not a readable eipd data file: {e}", path.display()),
    })
}

fn has_foreign_tables(db: &impl ReadableDatabase, ours: &[&str]) -> anyhow::Result<bool> {
    let read = db.begin_read()?;
    Ok(read.list_tables()?.any(|t| !ours.contains(&t.name())))
}

impl EmbeddedStore {
    /// Opens (or creates) the store whose records file is `path`, loads every
    /// record and replays the journal.
    pub fn open(path: &Path) -> anyhow::Result<(Self, World)> {
        Self::open_records(path).map_err(|e| {
            if disk_full(&e) {
                let dir = path.parent().unwrap_or(path);
                e.context(format!("no space left on the file system of {}: free some and start again", dir.display()))
            } else {
                e
            }
        })
    }

    fn open_records(path: &Path) -> anyhow::Result<(Self, World)> {
        let records = open_database(path)?;
        let applied = check_format(&records, path)?;
        let journal_dir = journal_path(path);
        let started = Instant::now();
        let (mut world, damaged) = load(&records, true)?;
        if !damaged.is_empty() {
            return Err(refusal(path, "holds damaged records", &damaged));
        }
        let loaded = started.elapsed();
        let (last, replayed) = replay(&journal_dir, applied, &mut world)?;
        let replayed_in = started.elapsed() - loaded;
        let violations = eipd_domain::verify::violations(&world);
        if !violations.is_empty() {
            return Err(refusal(path, "holds a state that breaks eipd's invariants", &violations));
        }
        tracing::debug!(
            load_ms = loaded.as_millis() as u64,
            replay_ms = replayed_in.as_millis() as u64,
            verify_ms = (started.elapsed() - loaded - replayed_in).as_millis() as u64,
            "records loaded, journal replayed, invariants verified"
        );
        if !replayed.is_empty() {
            // Fold what the last run left in the journal now, so that the
            // journal only ever holds what this run committed.
            let count = replayed.len();
            let bytes: usize = replayed.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum();
            let changes: HashMap<String, Option<Vec<u8>>> = replayed.into_iter().collect();
            write_records(&records, &changes, last).with_context(|| {
                format!(
                    "folding {} of journal entries into {} (it may need about twice that free)",
                    journal::mebibytes(bytes as u64),
                    path.display()
                )
            })?;
            tracing::info!(changes = count, entries = last - applied, "replayed the journal");
        }
        let journal = Journal::start(&journal_dir, last + 1, journal_segment_size())?;
        let records = Arc::new(Mutex::new(RecordsFile { path: path.to_owned(), db: Some(records) }));
        let applied = Arc::new(AtomicU64::new(last));
        let checkpoint_failure = Arc::new(Mutex::new(None));
        let (queue, received) = mpsc::channel();
        let checkpointer_thread = {
            let (records, applied, failure) = (records.clone(), applied.clone(), checkpoint_failure.clone());
            std::thread::Builder::new().name("eipd-checkpoint".into()).spawn(move || {
                checkpointer_loop(&records, &received, &applied, &failure, checkpoint_interval());
            })?
        };
        let checkpointer = ToCheckpointer { queue, thread: checkpointer_thread.thread().clone() };
        let store = Self {
            records,
            path: path.to_owned(),
            journal,
            applied,
            journal_failure: None,
            checkpoint_failure,
            queued: 0,
            checkpointer,
            checkpointer_thread: Some(checkpointer_thread),
        };
        Ok((store, world))
    }

    /// Waits until the records file holds every committed change.
    fn flush(&mut self) -> anyhow::Result<()> {
        let (done, answer) = mpsc::sync_channel(1);
        self.checkpointer.send(Checkpoint::Flush(done), true)?;
        answer.recv().map_err(|_| anyhow::anyhow!("the checkpointer stopped"))?
    }

    /// Replaces every record by those of `world` (None: by nothing) in one
    /// transaction of the records file. The journal holds nothing after the
    /// records' `applied_seq` then (the flush saw to that), so it stays.
    fn rewrite(&mut self, world: Option<&World>) -> anyhow::Result<()> {
        self.flush()?;
        self.records.lock().unwrap_or_else(PoisonError::into_inner).write(|db| {
            let write = db.begin_write()?;
            write.delete_table(RECORDS)?;
            {
                let mut table = write.open_table(RECORDS)?;
                if let Some(world) = world {
                    for (scope, key) in super::all_records(world) {
                        if let Some(json) = record_json(world, &scope, &key)? {
                            let key = record_key(&scope, &key);
                            table.insert(key.as_str(), seal(&key, &json).as_slice())?;
                        }
                    }
                }
            }
            write.commit()?;
            Ok(())
        })
    }
}

/// Checks (or writes, or migrates) the records file's format; the journal
/// entries it already holds.
fn check_format(db: &Database, path: &Path) -> anyhow::Result<u64> {
    match format_of(db, path)? {
        Some(FORMAT_VERSION) => {
            let read = db.begin_read()?;
            let applied = read.open_table(META)?.get("applied_seq")?.map(|v| v.value());
            Ok(applied.unwrap_or(0))
        }
        // Format 1 had no journal (its records are the whole state), 1 and
        // 2 no checksums: every record is sealed once, in one transaction.
        version @ (Some(1) | Some(2) | None) => {
            let write = db.begin_write()?;
            let applied = {
                let mut meta = write.open_table(META)?;
                let applied = match version {
                    Some(2) => meta.get("applied_seq")?.map_or(0, |v| v.value()),
                    _ => 0,
                };
                meta.insert("format_version", FORMAT_VERSION)?;
                meta.insert("applied_seq", applied)?;
                applied
            };
            let mut table = write.open_table(RECORDS)?;
            let unsealed: Vec<(String, Vec<u8>)> = table
                .iter()?
                .map(|item| item.map(|(k, v)| (k.value().to_owned(), v.value().to_vec())))
                .collect::<Result<_, _>>()?;
            for (key, json) in &unsealed {
                table.insert(key.as_str(), seal(key, json).as_slice())?;
            }
            drop(table);
            write.commit()?;
            if let Some(from) = version {
                tracing::info!(
                    path = %path.display(),
                    records = unsealed.len(),
                    "migrated the data file from format {from} to {FORMAT_VERSION} (checksummed records)"
                );
            }
            Ok(applied)
        }
        Some(v) => bail!("{} has unknown format {v}", path.display()),
    }
}

/// Loads every record whose key, checksum (`sealed`: format 3 on) and JSON
/// are sound, and names the others. A second thread reads and parses the
/// file while this one builds the in-memory indexes: start-up takes the
/// longer of the two rather than their sum.
fn load(db: &(impl ReadableDatabase + Sync), sealed: bool) -> anyhow::Result<(World, Vec<String>)> {
    const CHUNK: usize = 4096;
    std::thread::scope(|threads| {
        let (parsed, chunks) = mpsc::sync_channel::<Vec<(Scope, Record)>>(4);
        let parser = threads.spawn(move || -> anyhow::Result<Vec<String>> {
            let read = db.begin_read()?;
            let table = read.open_table(RECORDS)?;
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut damaged = Vec::new();
            // Records of one partition are stored together: share its scope.
            let mut scope: Option<(String, Scope)> = None;
            for item in table.iter()? {
                let (key, value) = item?;
                let key = key.value();
                let Some(prefix) = key.rsplitn(3, '/').nth(2) else {
                    damaged.push(format!("record {key:?}: not a record key"));
                    continue;
                };
                let current = match &scope {
                    Some((p, s)) if p == prefix => s.clone(),
                    _ => match parse_key(key) {
                        Some((fresh, _)) => {
                            scope = Some((prefix.to_owned(), fresh.clone()));
                            fresh
                        }
                        None => {
                            damaged.push(format!("record {key:?}: not a record key"));
                            continue;
                        }
                    },
                };
                let json = if sealed {
                    match unseal(key, value.value()) {
                        Ok(json) => json,
                        Err(e) => {
                            damaged.push(format!("record {key:?}: {e}"));
                            continue;
                        }
                    }
                } else {
                    value.value()
                };
                let kind = key.rsplit('/').nth(1).unwrap_or_default();
                match Record::decode(kind, json) {
                    Ok(record) => chunk.push((current, record)),
                    Err(e) => {
                        damaged.push(format!("record {key:?}: not a valid {kind} record ({e})"));
                        continue;
                    }
                }
                if chunk.len() == CHUNK
                    && parsed.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).is_err()
                {
                    return Ok(damaged);
                }
            }
            let _ = parsed.send(chunk);
            Ok(damaged)
        });
        let mut world = World::default();
        for chunk in chunks {
            for (scope, record) in chunk {
                world.load(&scope, record);
            }
        }
        let damaged = parser.join().map_err(|_| anyhow::anyhow!("the record parser panicked"))??;
        Ok((world, damaged))
    })
}

/// The message that stops a start on damaged records or a state that
/// breaks its invariants: what is wrong (the first 20), and what to do.
fn refusal(path: &Path, what: &str, problems: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "{} {what}:{}\neipd will not serve this state. `eipd check --data-dir {}` lists every problem; `eipd export` writes out what is intact",
        path.display(),
        super::problem_list(problems),
        path.parent().unwrap_or(path).display()
    )
}

/// What `eipd check` found in a data directory.
#[derive(Default)]
pub struct CheckReport {
    pub records: usize,
    /// Records whose key, checksum or JSON is not sound.
    pub damaged: Vec<String>,
    /// Journal entries not yet in the records file.
    pub journal_entries: usize,
    /// Why the journal cannot be replayed, if it cannot.
    pub journal: Option<String>,
    /// Breaches of the invariants by what could be loaded.
    pub violations: Vec<String>,
    /// What was loaded: every sound record, and the journal if it replays.
    pub world: World,
}

impl CheckReport {
    pub fn is_sound(&self) -> bool {
        self.damaged.is_empty() && self.journal.is_none() && self.violations.is_empty()
    }
}

/// Verifies a data directory without changing what it holds (the server
/// must not be running on it; a file left by a crash is repaired first, as
/// a start would): every record's checksum and JSON, the journal, and the
/// invariants of the state they make. `eipd check` and `eipd export` use it.
pub fn check(path: &Path) -> anyhow::Result<CheckReport> {
    let db = open_database(path)?;
    let version = format_of(&db, path)?.unwrap_or(FORMAT_VERSION);
    let (mut world, damaged) = load(&db, version >= 3)?;
    let applied = match db.begin_read()?.open_table(META) {
        Ok(meta) if version >= 2 => meta.get("applied_seq")?.map_or(0, |v| v.value()),
        _ => 0,
    };
    let mut report = CheckReport { damaged, ..CheckReport::default() };
    match replay(&journal_path(path), applied, &mut world) {
        Ok((last, _)) => report.journal_entries = (last - applied) as usize,
        Err(e) => report.journal = Some(format!("{e:#}")),
    }
    report.records = world.partitions().map(|(_, p)| p.record_keys().count()).sum();
    report.violations = eipd_domain::verify::violations(&world);
    report.world = world;
    Ok(report)
}

/// Applies the journal entries after `applied` to `world`, in commit order:
/// the last entry's number and every change, latest last.
fn replay(dir: &Path, applied: u64, world: &mut World) -> anyhow::Result<(u64, Vec<Change>)> {
    let mut last = applied;
    let mut changes = Vec::new();
    for (seq, payload) in journal::read(dir, applied)? {
        last = seq;
        for (key, json) in decode_entry(&payload).with_context(|| format!("bad journal entry {seq}"))? {
            let (scope, record_key) = parse_key(&key).with_context(|| format!("bad record key {key:?}"))?;
            let record = match &json {
                Some(json) => {
                    Some(Record::decode(record_key.kind(), json).with_context(|| format!("bad record {key:?}"))?)
                }
                None => None,
            };
            world.replace(&scope, &record_key, record);
            changes.push((key, json));
        }
    }
    Ok((last, changes))
}

/// Writes the latest version of every changed record and `applied_seq` in
/// one durable transaction of the records file.
fn write_records(db: &Database, changes: &HashMap<String, Option<Vec<u8>>>, applied: u64) -> anyhow::Result<()> {
    let write = db.begin_write()?;
    {
        let mut table = write.open_table(RECORDS)?;
        for (key, json) in changes {
            match json {
                Some(json) => table.insert(key.as_str(), seal(key, json).as_slice())?,
                None => table.remove(key.as_str())?,
            };
        }
        write.open_table(META)?.insert("applied_seq", applied)?;
    }
    write.commit()?;
    Ok(())
}

/// The checkpointer thread: gathers committed changes (the latest of each
/// record) and writes them into the records file once enough are waiting or
/// the oldest has waited long enough; ends when the store is dropped.
///
/// A failed checkpoint keeps its changes (the journal holds them too) and
/// is tried again each interval on a reopened records file, so the store
/// heals by itself once the disk has room again; `failure` says why it
/// failed meanwhile.
fn checkpointer_loop(
    records: &Mutex<RecordsFile>,
    queue: &mpsc::Receiver<Checkpoint>,
    applied: &AtomicU64,
    failure: &Mutex<Option<String>>,
    interval: Duration,
) {
    let mut pending: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    let mut last = applied.load(Ordering::Acquire);
    let mut last_checkpoint = Instant::now();
    let mut flushes = Vec::new();
    loop {
        let mut stopping = false;
        let mut now = false;
        loop {
            match queue.try_recv() {
                Ok(Checkpoint::Changes(seq, changes)) => {
                    pending.extend(changes);
                    last = seq;
                }
                Ok(Checkpoint::Now) => now = true,
                Ok(Checkpoint::Flush(done)) => flushes.push(done),
                Ok(Checkpoint::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let due = stopping
            || now
            || !flushes.is_empty()
            || pending.len() >= CHECKPOINT_RECORDS
            || last_checkpoint.elapsed() >= interval;
        if due && !pending.is_empty() {
            let started = Instant::now();
            let written =
                records.lock().unwrap_or_else(PoisonError::into_inner).write(|db| write_records(db, &pending, last));
            let failed_before = std::mem::replace(
                &mut *failure.lock().unwrap_or_else(PoisonError::into_inner),
                written.as_ref().err().map(|e| format!("{e:#}")),
            );
            match written {
                Ok(()) => {
                    if failed_before.is_some() {
                        tracing::info!(records = pending.len(), "checkpoint succeeded again");
                    }
                    applied.store(last, Ordering::Release);
                    tracing::debug!(
                        records = pending.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "checkpoint"
                    );
                    pending.clear();
                }
                Err(e) => {
                    // The journal keeps every change until a checkpoint
                    // succeeds; the changes stay pending and the next
                    // interval retries them. Logged once per outage.
                    if failed_before.is_none() {
                        tracing::error!(error = %format!("{e:#}"), "checkpoint failed; the journal keeps the changes and it is retried every interval");
                    }
                    for done in flushes.drain(..) {
                        let _ = done.send(Err(anyhow::anyhow!("checkpoint failed: {e}")));
                    }
                }
            }
        }
        if due {
            last_checkpoint = Instant::now();
        }
        for done in flushes.drain(..) {
            let _ = done.send(Ok(()));
        }
        if stopping {
            return;
        }
        // Until the next interval, or until woken (see `ToCheckpointer`).
        std::thread::park_timeout(interval.saturating_sub(last_checkpoint.elapsed()));
    }
}

/// A journal entry: for each change, the key's length (u32, little-endian)
/// and bytes, then the record's length and bytes (length `u32::MAX`: deleted).
fn encode_entry(changes: &[Change]) -> Vec<u8> {
    let size = changes.iter().map(|(k, v)| 8 + k.len() + v.as_ref().map_or(0, Vec::len)).sum();
    let mut out = Vec::with_capacity(size);
    for (key, json) in changes {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        match json {
            Some(json) => {
                out.extend_from_slice(&(json.len() as u32).to_le_bytes());
                out.extend_from_slice(json);
            }
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }
    out
}

fn decode_entry(mut buf: &[u8]) -> anyhow::Result<Vec<Change>> {
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> anyhow::Result<&'a [u8]> {
        if buf.len() < n {
            bail!("truncated journal entry");
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }
    fn length(buf: &mut &[u8]) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(take(buf, 4)?.try_into().expect("four bytes")))
    }
    let mut changes = Vec::new();
    while !buf.is_empty() {
        let key_len = length(&mut buf)? as usize;
        let key = String::from_utf8(take(&mut buf, key_len)?.to_vec()).context("journal key is not UTF-8")?;
        let json = match length(&mut buf)? {
            u32::MAX => None,
            n => Some(take(&mut buf, n as usize)?.to_vec()),
        };
        changes.push((key, json));
    }
    Ok(changes)
}

impl Persistence for EmbeddedStore {
    fn commit(&mut self, world: &mut World, changed: &eipd_domain::Changes) -> anyhow::Result<()> {
        if changed.records.is_empty() {
            return Ok(());
        }
        let changes: Vec<Change> = changed
            .records
            .iter()
            .map(|(scope, key)| Ok((record_key(scope, key), record_json(world, scope, key)?)))
            .collect::<anyhow::Result<_>>()?;
        let entry = encode_entry(&changes);
        let sealed_before = self.journal.sealed_ever();
        let seq = match self.journal.append(&entry, self.applied.load(Ordering::Acquire)) {
            Ok(seq) => seq,
            Err(e) => {
                let e = e.context("journal write failed; nothing of it was acknowledged, the next commit tries again");
                self.journal_failure = Some(format!("{e:#}"));
                return Err(e);
            }
        };
        if self.journal_failure.take().is_some() {
            tracing::info!("journal writes succeed again");
        }
        // Durable: the records file follows in the background.
        self.queued += changes.len();
        let wake = self.queued >= CHECKPOINT_RECORDS;
        if wake {
            self.queued = 0;
        }
        let _ = self.checkpointer.send(Checkpoint::Changes(seq, changes), wake);
        if self.journal.sealed_ever() != sealed_before {
            let _ = self.checkpointer.send(Checkpoint::Now, true);
        }
        Ok(())
    }

    fn replace_all(&mut self, world: &World) -> anyhow::Result<()> {
        self.rewrite(Some(world))
    }

    /// Degraded while the last journal write failed (clearing what it left
    /// is retried here, so health recovers without a write) or while
    /// checkpoints fail (writes may still succeed then, but the journal
    /// cannot be recycled and grows).
    fn check(&mut self) -> anyhow::Result<()> {
        if !self.journal.is_settled() {
            if let Err(e) = self.journal.settle() {
                bail!("the journal cannot be written: {e:#}");
            }
            self.journal_failure = None;
        }
        if let Some(reason) = &self.journal_failure {
            bail!("the last journal write failed ({reason})");
        }
        if let Some(reason) = &*self.checkpoint_failure.lock().unwrap_or_else(PoisonError::into_inner) {
            bail!(
                "checkpoints of {} fail ({reason}); the journal keeps every change meanwhile ({} at most)",
                self.path.display(),
                journal::mebibytes(self.journal.unfolded())
            );
        }
        Ok(())
    }

    fn wipe(&mut self) -> anyhow::Result<()> {
        self.rewrite(None)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Fold the journal into the records so the next start has nothing
        // to replay, and release both files.
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, path = %self.path.display(), "final checkpoint failed; the next start replays the journal");
        }
        let _ = self.checkpointer.send(Checkpoint::Stop, true);
        if let Some(thread) = self.checkpointer_thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eipd_domain::Partition;
    use proptest::prelude::*;

    /// The default records of one account, as (stored key, JSON).
    fn sample() -> Vec<Change> {
        let scope = Scope::new("123456789012", "us-east-1");
        let part = Partition::with_defaults(&scope);
        part.record_keys()
            .map(|k| (record_key(&scope, &k), Some(serde_json::to_vec(&part.record(&k).unwrap()).unwrap())))
            .collect()
    }

    fn count(world: &World) -> usize {
        world.partitions().map(|(_, p)| p.record_keys().count()).sum()
    }

    fn write_journal(path: &Path, first: u64, entries: &[Vec<Change>]) {
        let mut journal = Journal::start(&journal_path(path), first, journal::SEGMENT_SIZE).unwrap();
        for changes in entries {
            journal.append(&encode_entry(changes), 0).unwrap();
        }
    }

    #[test]
    fn commits_survive_without_a_checkpoint() {
        // A run that ended before its checkpointer wrote anything leaves the
        // records file empty and the journal full: start-up replays it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eipd.redb");
        drop(EmbeddedStore::open(&path).unwrap());
        let changes = sample();
        // Deleting the last record (not the VPC the others are in) leaves a
        // sound state.
        let (kept, deleted) = changes.split_at(changes.len() - 1);
        assert!(!deleted[0].0.contains("/vpc/"), "{deleted:?}");
        let deletion = vec![(deleted[0].0.clone(), None)];
        write_journal(&path, 1, &[changes.clone(), deletion]);
        let (store, world) = EmbeddedStore::open(&path).unwrap();
        assert_eq!(count(&world), kept.len());
        drop(store);
        // The replay was folded into the records file and the journal emptied.
        let records = Database::create(&path).unwrap();
        assert_eq!(load(&records, true).map(|(w, _)| count(&w)).unwrap(), kept.len());
        assert!(journal::read(&journal_path(&path), 0).unwrap().is_empty());
    }

    #[test]
    fn a_journal_with_a_gap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eipd.redb");
        drop(EmbeddedStore::open(&path).unwrap());
        write_journal(&path, 5, &[sample()]);
        let err = EmbeddedStore::open(&path).err().expect("refused").to_string();
        assert!(err.contains("does not continue"), "{err}");
    }

    #[test]
    fn format_1_files_are_migrated_with_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eipd.redb");
        {
            let db = Database::create(&path).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(META).unwrap().insert("format_version", 1).unwrap();
            {
                let mut table = write.open_table(RECORDS).unwrap();
                for (key, json) in sample() {
                    table.insert(key.as_str(), json.unwrap().as_slice()).unwrap();
                }
            }
            write.commit().unwrap();
        }
        let (store, world) = EmbeddedStore::open(&path).unwrap();
        assert_eq!(count(&world), sample().len());
        drop(store);
        let db = Database::create(&path).unwrap();
        let read = db.begin_read().unwrap();
        let meta = read.open_table(META).unwrap();
        assert_eq!(meta.get("format_version").unwrap().map(|v| v.value()), Some(FORMAT_VERSION));
    }

    #[test]
    fn newer_and_foreign_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer/eipd.redb");
        let foreign = dir.path().join("foreign/eipd.redb");
        for (path, table) in [(&newer, "eipd_meta"), (&foreign, "somebody_elses")] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let db = Database::create(path).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(TableDefinition::<&str, u64>::new(table)).unwrap().insert("format_version", 99).unwrap();
            write.commit().unwrap();
        }
        let before = |p: &Path| std::fs::read(p).unwrap();
        let (newer_bytes, foreign_bytes) = (before(&newer), before(&foreign));
        let err = EmbeddedStore::open(&newer).err().expect("refused").to_string();
        assert!(err.contains("newer eipd"), "{err}");
        let err = EmbeddedStore::open(&foreign).err().expect("refused").to_string();
        assert!(err.contains("not an eipd data file"), "{err}");
        assert_eq!(before(&newer), newer_bytes);
        assert_eq!(before(&foreign), foreign_bytes);
        assert!(!journal_path(&newer).exists() && !journal_path(&foreign).exists());
    }

    proptest! {
        #[test]
        fn journal_entries_round_trip(changes in proptest::collection::vec(
            (".{0,40}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))), 0..20)
        ) {
            prop_assert_eq!(decode_entry(&encode_entry(&changes)).unwrap(), changes);
        }

        #[test]
        fn decoding_garbage_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_entry(&bytes);
        }
    }
}
