//! The shared store: records in PostgreSQL, for several eipd nodes serving
//! one fleet.
//!
//! A node commits its operations in groups, as the embedded store does, per
//! region: the public IP pool is per region and shared by its accounts, so
//! the region is the unit that must not change under an operation. Records
//! carry the region's version at their last change (deletions leave a
//! tombstone), and the region's row holds its version.
//!
//! Optimistic commits, the usual way: the writer runs a group on its copy
//! of the region and sends one statement (`LAND_GROUP`) that writes the
//! changed records and moves the region on only if the region is still at
//! the version the group ran on. It runs and sends the region's next group
//! without waiting for the answer; that one lands only after this one did
//! (the row's token). One round trip per group, and no BEGIN or COMMIT.
//!
//! Locked commits, after a group did not land (another node wrote first):
//! the transaction locks the rows of the group's regions (`INSERT … ON
//! CONFLICT DO UPDATE`, in sorted order, one statement), catches up with
//! what other nodes committed, runs the operations, writes every changed
//! record and the regions' next versions in one statement, and commits:
//! two round trips (the transaction, wipe counter and locks pipelined; then
//! the write and the commit pipelined), three when it catches up. The node
//! goes back to optimistic commits once a locked group finds that nobody
//! else wrote.
//!
//! Either way racing nodes apply operations one group after the other and
//! never give one address two associations or one IP two holders. Reads
//! (`Probe`) ask for the region's version and catch up through the writer
//! only when it moved.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use super::Persistence;
use eipd_domain::{Record, RecordKey, Region, Scope, World};

/// The schema this eipd creates and reads.
const SCHEMA_VERSION: i64 = 2;
/// Serializes schema migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x6569_7064; // "eipd"

const SCHEMA: &str = "
SET client_min_messages = warning; -- not a NOTICE per table that exists
CREATE TABLE IF NOT EXISTS eipd_meta (key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS eipd_regions (region text PRIMARY KEY, version bigint NOT NULL);
-- Schema 2: the token of the last optimistic commit, which the next one
-- sent before its answer came must find.
ALTER TABLE eipd_regions ADD COLUMN IF NOT EXISTS token bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS eipd_records (
    region text NOT NULL,
    account text NOT NULL,
    key text NOT NULL,
    version bigint NOT NULL,
    body text,
    PRIMARY KEY (region, account, key)
);
CREATE INDEX IF NOT EXISTS eipd_records_by_version ON eipd_records (region, version);
INSERT INTO eipd_meta VALUES ('epoch', 0) ON CONFLICT DO NOTHING;
";

pub(crate) struct PostgresStore {
    url: String,
    client: Connection,
    /// The wipe counter this node's World reflects: a reset elsewhere means
    /// everything must be reloaded.
    epoch: i64,
    /// The regions locked by the open transaction and their next versions.
    open: Vec<(Region, i64)>,
    /// Prepared once per connection.
    statements: Option<Statements>,
    /// Whether groups commit optimistically now: until one meets another
    /// node's change, and again once a locked group finds none.
    optimistic: bool,
    /// Optimistic groups sent, oldest first, whose answers are awaited.
    sent: std::collections::VecDeque<Sent>,
    /// A group of those on their way did not land.
    chain_broken: bool,
}

/// An optimistic group on its way.
struct Sent {
    /// What the region's row carries once it lands.
    token: i64,
    /// Whether it landed.
    answer: Answer<bool>,
}

struct Statements {
    /// Locks the regions of a group (creating their rows on first use) and
    /// gives their versions.
    lock: Statement,
    /// Writes the changed records and the regions' new versions.
    write: Statement,
    /// Writes an optimistic group if its region is where the group found it.
    land: Statement,
}

/// Rows are locked in the regions' order, the same on every node, so two
/// nodes' groups never wait on each other in a cycle.
const LOCK_REGIONS: &str = "
INSERT INTO eipd_regions (region, version) SELECT r, 0 FROM unnest($1::text[]) AS r ORDER BY r
ON CONFLICT (region) DO UPDATE SET version = eipd_regions.version
RETURNING region, version";

/// One statement for every change of a group: the records (each key once;
/// deleted ones keep a tombstone with a null body, for other nodes to see)
/// and the versions of the regions they are in.
const WRITE_GROUP: &str = "
WITH bumped AS (
    UPDATE eipd_regions SET version = v.version
    FROM unnest($6::text[], $7::bigint[]) AS v(region, version)
    WHERE eipd_regions.region = v.region
)
INSERT INTO eipd_records (region, account, key, version, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
ON CONFLICT (region, account, key) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body";

/// An optimistic group's commit, one statement on its own (no BEGIN, no
/// COMMIT): the region moves to its next version and takes the group's
/// token only if it is still at the version the group ran on, the store was
/// not wiped since, and, for a group sent before the answer of the one
/// before it came, it carries that one's token (that one landed: versions
/// alone cannot tell, another node may have reached the same number); the
/// records are written only if it moved. The row's lock holds off another
/// node's group until the commit, and a waiting UPDATE checks the row as
/// that commit left it. A region's first group creates its row.
const LAND_GROUP: &str = "
WITH epoch AS (
    SELECT value = $5 AS current FROM eipd_meta WHERE key = 'epoch'
), moved AS (
    UPDATE eipd_regions SET version = $7, token = $8
    WHERE region = $4 AND version = $6 AND ($9::bigint IS NULL OR token = $9) AND (SELECT current FROM epoch)
    RETURNING 1
), created AS (
    INSERT INTO eipd_regions (region, version, token)
    SELECT $4, $7, $8 WHERE $6 = 0 AND $9::bigint IS NULL AND (SELECT current FROM epoch)
    ON CONFLICT (region) DO NOTHING
    RETURNING 1
), landed AS (
    SELECT EXISTS (SELECT FROM moved) OR EXISTS (SELECT FROM created) AS landed
), written AS (
    INSERT INTO eipd_records (region, account, key, version, body)
    SELECT $4, a, k, $7, b FROM unnest($1::text[], $2::text[], $3::text[]) AS r(a, k, b)
    WHERE (SELECT landed FROM landed)
    ON CONFLICT (region, account, key) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body
)
SELECT landed FROM landed";

/// The answer of a round trip sent and not yet awaited.
type Answer<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send>>;

/// The longest the writer waits for one answer of PostgreSQL (connecting
/// included) before it gives the connection up. A server that stopped
/// without closing its connections (frozen, SIGSTOPped, cut off by the
/// network) would otherwise hold the writer, and every request queued
/// behind it, for ever. Taking a region lock another node holds is one such
/// wait, so this is well above a group's commit time.
const ROUND_TRIP_DEADLINE: Duration = Duration::from_secs(10);

/// The writer's connection: tokio-postgres, driven by a runtime of its own
/// (the writer is a thread), every round trip under `ROUND_TRIP_DEADLINE`.
/// One that missed it is closed: the next operation reconnects, and a commit
/// whose answer never came is of unknown outcome.
struct Connection {
    client: std::sync::Arc<Client>,
    /// The connection's socket lives in this task; dropping the runtime
    /// (with the Connection) closes it.
    runtime: tokio::runtime::Runtime,
    driver: tokio::task::JoinHandle<()>,
    timed_out: std::cell::Cell<bool>,
}

impl Connection {
    fn open(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        // The timer is made inside the runtime, which it needs.
        let connected = runtime
            .block_on(async { tokio::time::timeout(ROUND_TRIP_DEADLINE, tokio_postgres::connect(url, NoTls)).await });
        let cannot = || format!("cannot connect to PostgreSQL at {}", super::redact_url(url));
        let (client, driver) = match connected {
            Ok(connected) => connected.with_context(cannot)?,
            Err(_) => bail!("{}: no answer within {} s", cannot(), ROUND_TRIP_DEADLINE.as_secs()),
        };
        let driver = runtime.spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "the writer's connection to PostgreSQL ended");
            }
        });
        let connection =
            Self { client: std::sync::Arc::new(client), runtime, driver, timed_out: std::cell::Cell::new(false) };
        // The lock path reads what others committed after its lock: every
        // statement needs a snapshot of its own, whatever the database's default.
        connection.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")?;
        Ok(connection)
    }

    /// Sends a round trip's request now, after those sent before it on this
    /// connection, without waiting for the answer (`run` waits for it).
    fn start<T: Send + 'static>(
        &self,
        round_trip: impl Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    ) -> Answer<T> {
        let mut answer: Answer<T> = Box::pin(round_trip);
        // The first poll hands the request to the connection's task ...
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(done) = answer.as_mut().poll(&mut context) {
            return Box::pin(std::future::ready(done));
        }
        // ... which writes it to the socket when it runs: now.
        self.runtime.block_on(tokio::task::yield_now());
        answer
    }

    /// One round trip (or a few pipelined), answered within the deadline.
    fn run<T>(&self, round_trip: impl Future<Output = Result<T, tokio_postgres::Error>>) -> anyhow::Result<T> {
        match self.runtime.block_on(async { tokio::time::timeout(ROUND_TRIP_DEADLINE, round_trip).await }) {
            Ok(answer) => Ok(answer?),
            Err(_) => {
                self.timed_out.set(true);
                // Close the socket now: a transaction left open on the
                // server would hold its region locks until this node's
                // next request reconnects.
                self.driver.abort();
                self.runtime.block_on(tokio::task::yield_now());
                bail!(
                    "PostgreSQL did not answer within {} s; the connection is given up",
                    ROUND_TRIP_DEADLINE.as_secs()
                )
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.timed_out.get() || self.client.is_closed()
    }

    /// Whether the connection is closed, after letting its task read what
    /// the socket holds (the server's goodbye, a reset): between requests
    /// nothing else runs it.
    fn closed_now(&self) -> bool {
        // One tick polls the socket and wakes the task, the next runs it.
        self.runtime.block_on(async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        });
        self.is_closed()
    }

    fn execute(
        &self,
        statement: &(impl tokio_postgres::ToStatement + ?Sized),
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<u64> {
        self.run(self.client.execute(statement, params))
    }

    fn batch_execute(&self, statements: &str) -> anyhow::Result<()> {
        self.run(self.client.batch_execute(statements))
    }

    fn simple_query(&self, statements: &str) -> anyhow::Result<Vec<SimpleQueryMessage>> {
        self.run(self.client.simple_query(statements))
    }

    fn query(
        &self,
        statement: &(impl tokio_postgres::ToStatement + ?Sized),
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        self.run(self.client.query(statement, params))
    }

    fn query_one(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<tokio_postgres::Row> {
        self.run(self.client.query_one(statement, params))
    }

    fn prepare(&self, statement: &str) -> anyhow::Result<Statement> {
        self.run(self.client.prepare(statement))
    }
}

/// Opens a group's transaction and reads the wipe counter (a simple query
/// may carry both statements; the transaction stays open).
const BEGIN_READING_EPOCH: &str = "BEGIN; SELECT value FROM eipd_meta WHERE key = 'epoch'";

/// The wipe counter in the answers to `BEGIN_READING_EPOCH`.
fn epoch_of(answers: &[SimpleQueryMessage]) -> anyhow::Result<i64> {
    let epoch = answers
        .iter()
        .find_map(|answer| match answer {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .context("eipd_meta has no epoch")?;
    Ok(epoch.parse()?)
}

fn connect(url: &str) -> anyhow::Result<Connection> {
    Connection::open(url)
}

impl PostgresStore {
    /// Connects, creates or migrates the schema, and loads every record.
    pub(crate) fn open(url: &str) -> anyhow::Result<(Self, World)> {
        let client = connect(url)?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let migrated = (|| -> anyhow::Result<()> {
            let existing: Option<i64> = client
                .query(
                    "SELECT value FROM eipd_meta WHERE key = 'schema_version' AND to_regclass('eipd_meta') IS NOT NULL",
                    &[],
                )
                .ok()
                .and_then(|rows| rows.first().map(|row| row.get(0)));
            if let Some(v) = existing.filter(|v| *v > SCHEMA_VERSION) {
                bail!("the database was set up by a newer eipd (schema {v}; this eipd knows up to {SCHEMA_VERSION})");
            }
            client.batch_execute(SCHEMA)?;
            client.execute(
                "INSERT INTO eipd_meta VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
                &[&SCHEMA_VERSION],
            )?;
            Ok(())
        })();
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
        migrated?;
        let mut store = Self {
            url: url.to_owned(),
            client,
            epoch: 0,
            open: Vec::new(),
            statements: None,
            optimistic: true,
            sent: Default::default(),
            chain_broken: false,
        };
        let world = store.load_all()?;
        Ok((store, world))
    }

    fn epoch(&mut self) -> anyhow::Result<i64> {
        Ok(self.client.query_one("SELECT value FROM eipd_meta WHERE key = 'epoch'", &[])?.get(0))
    }

    /// Loads every record; until it succeeds, the store knows of no epoch
    /// (a half-done reload must not pass for the wipe it follows).
    fn load_all(&mut self) -> anyhow::Result<World> {
        let epoch = self.epoch()?;
        self.epoch = i64::MIN;
        let mut world = World::default();
        world.epoch = epoch;
        for row in self.client.query("SELECT region, version FROM eipd_regions", &[])? {
            let region: String = row.get(0);
            world.synced.insert(Region::from(region.as_str()), row.get(1));
        }
        for row in
            self.client.query("SELECT region, account, key, body FROM eipd_records WHERE body IS NOT NULL", &[])?
        {
            let (region, account, key, body): (String, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let kind = key.split('/').next().unwrap_or_default();
            let record = Record::decode(kind, body.as_bytes())
                .with_context(|| format!("bad record {account}/{region}/{key}"))?;
            world.load(&Scope::new(&account, &region), record);
        }
        self.epoch = epoch;
        Ok(world)
    }

    /// Applies what other nodes committed in `region` after `world`'s version.
    fn catch_up(&mut self, world: &mut World, region: &Region, version: i64) -> anyhow::Result<()> {
        let seen = world.synced.get(region).copied().unwrap_or(0);
        if version <= seen {
            // A region whose row is at 0 (only groups with nothing to
            // write so far) is known from now on: reads stop asking.
            if !world.synced.contains_key(region) {
                world.synced.insert(region.clone(), version);
            }
            return Ok(());
        }
        // In commit order, and within one commit the deletions first: one
        // commit may release an IP in one account and allocate it in
        // another, and a deletion applied after the new holder's record
        // would give the pool back an IP that is held.
        let rows = self.client.query(
            "SELECT account, key, body FROM eipd_records WHERE region = $1 AND version > $2
             ORDER BY version, body IS NOT NULL",
            &[&&**region, &seen],
        )?;
        for row in rows {
            let (account, key, body): (String, String, Option<String>) = (row.get(0), row.get(1), row.get(2));
            let scope = Scope::new(&account, region);
            let key = RecordKey::decode(&key).with_context(|| format!("bad record key {key:?}"))?;
            let record = match body {
                Some(body) => Some(Record::decode(key.kind(), body.as_bytes()).context("bad record")?),
                None => None,
            };
            world.replace(&scope, &key, record);
        }
        tracing::debug!(region = %region, from = seen, to = version, "caught up");
        world.synced.insert(region.clone(), version);
        Ok(())
    }

    /// Reloads everything if the wipe counter read from the database is not
    /// the one `world` reflects; true when it did.
    fn reload_if_wiped(&mut self, world: &mut World, epoch: i64) -> anyhow::Result<bool> {
        if epoch == self.epoch {
            return Ok(false);
        }
        *world = self.load_all()?;
        Ok(true)
    }

    fn reconnect_if_closed(&mut self) -> anyhow::Result<()> {
        if self.client.is_closed() {
            tracing::warn!("reconnecting to PostgreSQL");
            self.client = connect(&self.url)?;
            self.open.clear();
            self.statements = None;
            self.optimistic = false;
            // The server may not be the one this node saw commit (a standby
            // promoted; a restored backup): reload everything at the next
            // begin or refresh rather than trust the copy in memory.
            self.epoch = i64::MIN;
        }
        Ok(())
    }

    fn statements(&mut self) -> anyhow::Result<&Statements> {
        if self.statements.is_none() {
            let lock = self.client.prepare(LOCK_REGIONS)?;
            let write = self.client.prepare(WRITE_GROUP)?;
            let land = self.client.prepare(LAND_GROUP)?;
            self.statements = Some(Statements { lock, write, land });
        }
        Ok(self.statements.as_ref().expect("prepared above"))
    }

    fn begin_locked(&mut self, world: &mut World, regions: &[Region]) -> anyhow::Result<()> {
        let lock = self.statements()?.lock.clone();
        let names: Vec<&str> = regions.iter().map(|r| &**r).collect();
        // One round trip: the transaction, the wipe counter and the locks,
        // pipelined (sent in this order without waiting for each answer).
        let client = &self.client.client;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
        let (answers, rows) = self
            .client
            .run(async { tokio::try_join!(client.simple_query(BEGIN_READING_EPOCH), client.query(&lock, &params)) })?;
        // A reset elsewhere: reload everything first.
        self.reload_if_wiped(world, epoch_of(&answers)?)?;
        let locked: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        // Optimistic again once no other node wrote in the regions since.
        self.optimistic = true;
        for (region, version) in locked {
            let region = Region::from(region.as_str());
            if version > world.synced.get(&region).copied().unwrap_or(0) {
                self.optimistic = false;
            }
            self.catch_up(world, &region, version)?;
            self.open.push((region, version + 1));
        }
        Ok(())
    }

    fn write(&mut self, world: &mut World, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        let outcome = if !changed.is_empty() {
            let write = self.statements()?.write.clone();
            let next_version = |region: &Region| {
                self.open
                    .iter()
                    .find(|(r, _)| r == region)
                    .map(|(_, v)| *v)
                    .context("a change outside the locked regions")
            };
            let mut columns = GroupColumns::default();
            for (scope, key) in changed {
                columns.regions.push(&scope.region);
                columns.accounts.push(&scope.account);
                columns.keys.push(key.encode());
                columns.versions.push(next_version(&scope.region)?);
                columns.bodies.push(body(world, scope, key)?);
            }
            // Only the regions with changes move on to their next version.
            let mut bumped: Vec<(&str, i64)> =
                columns.regions.iter().zip(&columns.versions).map(|(r, v)| (*r, *v)).collect();
            bumped.sort_unstable();
            bumped.dedup();
            let (bumped_regions, bumped_versions): (Vec<&str>, Vec<i64>) = bumped.into_iter().unzip();
            // One round trip: the records and the commit, pipelined. After a
            // failed write PostgreSQL answers the COMMIT with a rollback, so
            // the write's error is the one that counts.
            let client = &self.client.client;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                &columns.regions,
                &columns.accounts,
                &columns.keys,
                &columns.versions,
                &columns.bodies,
                &bumped_regions,
                &bumped_versions,
            ];
            self.client
                .run(async { Ok(tokio::join!(client.execute(&write, &params), client.batch_execute("COMMIT"))) })
                .and_then(|(written, committed)| {
                    written?;
                    Ok(committed?)
                })
        } else {
            self.client.batch_execute("COMMIT")
        };
        if let Err(e) = outcome {
            // An error the server answered means it rolled back; a broken
            // connection leaves the commit's fate unknown.
            return Err(if self.client.is_closed() { e.context(super::OutcomeUnknown) } else { e });
        }
        let written: std::collections::BTreeSet<&Region> = changed.iter().map(|(scope, _)| &scope.region).collect();
        for (region, next) in std::mem::take(&mut self.open) {
            // The version this node is at now: the new one where it wrote,
            // the one it locked (and caught up with) elsewhere.
            let version = if written.contains(&region) { next } else { next - 1 };
            world.synced.insert(region, version);
        }
        world.epoch = self.epoch;
        Ok(())
    }

    fn rollback(&mut self) {
        self.open.clear();
        if !self.client.is_closed() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

/// A record as stored: its JSON, or None for a tombstone (it is gone).
fn body(world: &World, scope: &Scope, key: &RecordKey) -> anyhow::Result<Option<String>> {
    world
        .partition(scope)
        .and_then(|p| p.record(key))
        .map(|record| serde_json::to_string(&record))
        .transpose()
        .map_err(Into::into)
}

/// A group's changed records, column by column, for `WRITE_GROUP`.
#[derive(Default)]
struct GroupColumns<'a> {
    regions: Vec<&'a str>,
    accounts: Vec<&'a str>,
    keys: Vec<String>,
    versions: Vec<i64>,
    bodies: Vec<Option<String>>,
}

impl Persistence for PostgresStore {
    fn begin(&mut self, world: &mut World, regions: &[Region]) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        let begun = self.begin_locked(world, regions);
        if begun.is_err() {
            self.rollback();
        }
        begun
    }

    fn commit(&mut self, world: &mut World, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        let written = self.write(world, changed);
        if written.is_err() {
            self.rollback();
        }
        written
    }

    fn optimistic(&self) -> bool {
        // A connection to make first reloads everything: the lock path does.
        // With groups on their way the connection's task runs often enough
        // to have noticed a close; without, give it a turn first.
        let closed = if self.sent.is_empty() { self.client.closed_now() } else { self.client.is_closed() };
        self.optimistic && !closed
    }

    fn send(&mut self, world: &mut World, region: &Region, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        // The groups on their way are answered on their own connection
        // (whether they landed may be unknown): no new one before they are.
        if !self.sent.is_empty() && self.client.is_closed() {
            bail!("the connection to PostgreSQL closed while groups were on their way");
        }
        self.reconnect_if_closed()?;
        let land = self.statements()?.land.clone();
        let expected = world.synced.get(region).copied().unwrap_or(0);
        let next = expected + i64::from(!changed.is_empty());
        // Sent while another group is on its way: it lands only after that one.
        let after: Option<i64> = self.sent.back().map(|sent| sent.token);
        let token: i64 = rand::random();
        let (mut accounts, mut keys, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
        for (scope, key) in changed {
            anyhow::ensure!(scope.region == *region, "a change outside the group's region");
            accounts.push(scope.account.to_string());
            keys.push(key.encode());
            bodies.push(body(world, scope, key)?);
        }
        let (client, epoch, region_name) = (self.client.client.clone(), self.epoch, region.to_string());
        let answer = self.client.start(async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] =
                [&accounts, &keys, &bodies, &region_name, &epoch, &expected, &next, &token, &after];
            Ok(client.query_one(&land, &params).await?.get::<_, bool>(0))
        });
        self.sent.push_back(Sent { token, answer });
        world.synced.insert(region.clone(), next);
        world.epoch = self.epoch;
        Ok(())
    }

    fn land(&mut self) -> anyhow::Result<bool> {
        let sent = self.sent.pop_front().context("no group on its way")?;
        let landed = if self.client.timed_out.get() {
            // Given up while an earlier group's answer was awaited: no
            // second wait for a server that does not answer.
            Err(anyhow::anyhow!("PostgreSQL stopped answering before this group's answer came"))
        } else {
            self.client.run(sent.answer)
        };
        match landed {
            Ok(true) if self.chain_broken => {
                // Built on a group that did not land, it should not have
                // landed either (the token): whatever happened, reload.
                tracing::error!("a group landed after the one before it did not; reloading the store");
                self.epoch = i64::MIN;
            }
            Ok(true) => {}
            _ => {
                self.optimistic = false;
                self.chain_broken = true;
            }
        }
        if self.sent.is_empty() {
            self.chain_broken = false;
        }
        // An error the server answered means nothing was written; a broken
        // connection leaves it unknown.
        landed.map_err(|e| if self.client.is_closed() { e.context(super::OutcomeUnknown) } else { e })
    }

    fn check(&mut self) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        self.client.simple_query("SELECT 1").context("PostgreSQL does not answer")?;
        Ok(())
    }

    fn refresh(&mut self, world: &mut World, region: &Region) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        // One round trip: the wipe counter and the region's version.
        let row = self.client.query_one(
            "SELECT (SELECT value FROM eipd_meta WHERE key = 'epoch'),
                    (SELECT version FROM eipd_regions WHERE region = $1)",
            &[&&**region],
        )?;
        let (epoch, version): (i64, Option<i64>) = (row.get(0), row.get(1));
        if !self.reload_if_wiped(world, epoch)?
            && let Some(version) = version
        {
            self.catch_up(world, region, version)?;
        }
        world.epoch = self.epoch;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn replace_all(&mut self, world: &World) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        self.client.batch_execute(
            "BEGIN;
             TRUNCATE eipd_regions, eipd_records;
             UPDATE eipd_meta SET value = value + 1 WHERE key = 'epoch';",
        )?;
        let written = (|| -> anyhow::Result<()> {
            let insert = self
                .client
                .prepare("INSERT INTO eipd_records (region, account, key, version, body) VALUES ($1, $2, $3, 1, $4)")?;
            let mut regions = std::collections::BTreeSet::new();
            for (scope, key) in super::all_records(world) {
                if let Some(body) = body(world, &scope, &key)? {
                    self.client.execute(&insert, &[&&*scope.region, &&*scope.account, &key.encode(), &body])?;
                    regions.insert(scope.region.to_string());
                }
            }
            for region in regions {
                self.client.execute("INSERT INTO eipd_regions VALUES ($1, 1)", &[&region])?;
            }
            self.client.batch_execute("COMMIT")?;
            Ok(())
        })();
        if written.is_err() {
            self.rollback();
        }
        written?;
        self.epoch = self.epoch()?;
        Ok(())
    }

    fn wipe(&mut self) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        self.client.batch_execute(
            "BEGIN;
             TRUNCATE eipd_regions, eipd_records;
             UPDATE eipd_meta SET value = value + 1 WHERE key = 'epoch';
             COMMIT;",
        )?;
        self.epoch = self.epoch()?;
        Ok(())
    }
}

/// How a node's reads learn whether another node wrote: the region's
/// version and the wipe counter, asked on a connection of their own (not
/// through the writer, so reads scale with nodes and never queue behind a
/// group commit). Concurrent reads share the connection: tokio-postgres
/// pipelines their queries.
pub(crate) struct Probe {
    url: String,
    connection: tokio::sync::Mutex<Option<(std::sync::Arc<tokio_postgres::Client>, tokio_postgres::Statement)>>,
}

/// What a read asks: the wipe counter and the region's version (None: no
/// node ever wrote in it).
const VERSIONS: &str = "SELECT (SELECT value FROM eipd_meta WHERE key = 'epoch'),
        (SELECT version FROM eipd_regions WHERE region = $1)";

/// A read waits at most this long for PostgreSQL before it is answered 503.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Probe {
    pub(crate) fn new(url: &str) -> Self {
        Self { url: url.to_owned(), connection: tokio::sync::Mutex::new(None) }
    }

    /// The store's wipe counter and the region's version now.
    pub(crate) async fn versions(&self, region: &Region) -> anyhow::Result<(i64, Option<i64>)> {
        let asked = async {
            let (client, statement) = self.connected().await?;
            let row = client.query_one(&statement, &[&&**region]).await;
            if row.is_err() && client.is_closed() {
                *self.connection.lock().await = None;
            }
            let row = row.context("PostgreSQL did not answer a read's version check")?;
            anyhow::Ok((row.get(0), row.get(1)))
        };
        tokio::time::timeout(PROBE_TIMEOUT, asked)
            .await
            .map_err(|_| anyhow::anyhow!("PostgreSQL did not answer within {} s", PROBE_TIMEOUT.as_secs()))?
    }

    /// The connection (made, or made again after it closed) and its statement.
    async fn connected(&self) -> anyhow::Result<(std::sync::Arc<tokio_postgres::Client>, tokio_postgres::Statement)> {
        let mut connection = self.connection.lock().await;
        if let Some((client, statement)) = &*connection
            && !client.is_closed()
        {
            return Ok((client.clone(), statement.clone()));
        }
        let (client, driver) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", super::redact_url(&self.url)))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "the read connection to PostgreSQL ended");
            }
        });
        let statement = client.prepare(VERSIONS).await?;
        let client = std::sync::Arc::new(client);
        *connection = Some((client.clone(), statement.clone()));
        Ok((client, statement))
    }
}

/// The optimistic commit against a real PostgreSQL: `scripts/test` runs these
/// with `EIPD_TEST_POSTGRES_URL` once its throwaway cluster is up
/// (`cargo test --workspace --all-targets -- --ignored postgres::`).
#[cfg(test)]
mod tests {
    use eipd_domain::Settings;

    use super::*;

    const NEEDS_POSTGRES: &str = "EIPD_TEST_POSTGRES_URL names the PostgreSQL database these tests use";

    /// The tests share one database: one at a time.
    static DATABASE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Two nodes of one fleet on an emptied database, while the test holds it.
    fn two_nodes() -> (std::sync::MutexGuard<'static, ()>, [(PostgresStore, World); 2]) {
        let held = DATABASE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let url = std::env::var("EIPD_TEST_POSTGRES_URL").expect(NEEDS_POSTGRES);
        PostgresStore::open(&url).unwrap().0.wipe().unwrap();
        (held, [PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap()])
    }

    /// Runs an allocation on `world` and sends it optimistically.
    fn send_allocation(store: &mut PostgresStore, world: &mut World) {
        let (settings, mut changed) = (Settings::default(), Vec::new());
        let scope = Scope::new("123456789012", "us-east-1");
        crate::tests::allocate(&mut world.tx(&scope, &settings, crate::now_secs(), &mut changed)).unwrap();
        changed.sort();
        changed.dedup();
        store.send(world, &Region::from("us-east-1"), &changed).unwrap();
    }

    fn addresses_stored() -> usize {
        let url = std::env::var("EIPD_TEST_POSTGRES_URL").expect(NEEDS_POSTGRES);
        PostgresStore::open(&url).unwrap().1.address_count()
    }

    /// A node whose connection the server closed takes the lock path for
    /// its next group (which connects again and reloads) rather than send
    /// an optimistic group that could not land.
    #[test]
    #[ignore = "needs PostgreSQL (EIPD_TEST_POSTGRES_URL)"]
    fn a_closed_connection_is_noticed_before_the_next_group() {
        let (_held, [(node, _), (other, _)]) = two_nodes();
        assert!(node.optimistic());
        let pid: i32 = node.client.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        other.client.execute("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
        let noticed = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !node.optimistic()
        });
        assert!(noticed, "the closed connection was not noticed");
    }

    /// A region whose row stands at version 0 (groups with nothing to
    /// write) is known after one catch-up: reads on other nodes stop going
    /// through their writer for it.
    #[test]
    #[ignore = "needs PostgreSQL (EIPD_TEST_POSTGRES_URL)"]
    fn a_region_at_version_zero_is_known_after_one_catch_up() {
        let (_held, [(mut node, mut world), (mut other, mut other_world)]) = two_nodes();
        let region = Region::from("eu-west-3");
        node.send(&mut world, &region, &[]).unwrap();
        assert!(node.land().unwrap());
        assert_eq!(other_world.synced.get(&region), None);
        other.refresh(&mut other_world, &region).unwrap();
        assert_eq!(other_world.synced.get(&region), Some(&0));
    }

    /// Two nodes, each with eight clients allocating and releasing in one
    /// region from a pool too small for all of them: the nodes' groups meet
    /// each other's all the time (optimistic groups that do not land, reruns
    /// under lock). Afterwards each node's copy equals the database, the
    /// database keeps every invariant, every acknowledged allocation not
    /// released is there and no released one is.
    #[test]
    #[ignore = "needs PostgreSQL (EIPD_TEST_POSTGRES_URL)"]
    fn two_nodes_racing_in_one_region_agree_with_the_database() {
        use crate::{Store, StoreKind};
        use eipd_domain::Tx;
        use eipd_domain::addresses::{AddressRef, AllocateAddress, ReleaseAddress, allocate_address, release_address};
        let allocate = |tx: &mut Tx| {
            let input = AllocateAddress {
                domain: eipd_domain::Domain::Vpc,
                address: None,
                network_border_group: None,
                tags: Default::default(),
            };
            allocate_address(tx, input).map(|a| (a.public_ip, a.allocation_id))
        };
        let (_held, _) = two_nodes();
        let url = std::env::var("EIPD_TEST_POSTGRES_URL").expect(NEEDS_POSTGRES);
        let settings =
            Settings { pool: vec!["10.99.0.0/25".parse().unwrap()], address_limit: Some(1000), ..Default::default() };
        let nodes: Vec<Store> =
            (0..2).map(|_| Store::open(&StoreKind::Postgres(url.clone()), settings.clone(), true).unwrap()).collect();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..16usize {
            let node = nodes[client % 2].clone();
            let scope = Scope::new(&format!("{:012}", 100 + client % 4), "us-east-1");
            clients.spawn_on(
                async move {
                    let (mut kept, mut released) = (Vec::new(), Vec::new());
                    for step in 0..40usize {
                        let allocated = node.write(scope.clone(), allocate).await.expect("the store answers");
                        let Ok((ip, id)) = allocated else { continue }; // the pool is empty for now
                        if (client + step) % 3 == 0 {
                            let address = AddressRef::Allocation(id.expect("a VPC address"));
                            let release = move |tx: &mut Tx| {
                                release_address(
                                    tx,
                                    ReleaseAddress { address: address.clone(), network_border_group: None },
                                )
                            };
                            node.write(scope.clone(), release).await.expect("the store answers").expect("released");
                            released.push(ip);
                        } else {
                            kept.push((scope.account.to_string(), ip));
                        }
                    }
                    (kept, released)
                },
                runtime.handle(),
            );
        }
        let (mut kept, mut released) = (Vec::new(), Vec::new());
        for (k, r) in runtime.block_on(clients.join_all()) {
            kept.extend(k);
            released.extend(r);
        }
        assert!(nodes.iter().map(|n| n.commit_metrics().reruns.get()).sum::<u64>() > 0, "the nodes never met");

        let stored = PostgresStore::open(&url).unwrap().1;
        assert_eq!(eipd_domain::verify::violations(&stored), Vec::<String>::new());
        let holders = |world: &World| {
            let mut all: Vec<(String, std::net::Ipv4Addr)> = world
                .partitions()
                .flat_map(|(scope, part)| part.addresses().map(|a| (scope.account.to_string(), a.public_ip)))
                .collect();
            all.sort();
            all
        };
        let in_store = holders(&stored);
        kept.sort();
        assert_eq!(in_store, kept, "exactly the acknowledged allocations not released");
        assert!(
            released.iter().all(|ip| !in_store.iter().any(|(_, held)| held == ip) || kept.iter().any(|(_, k)| k == ip))
        );
        for node in &nodes {
            runtime.block_on(node.read(&Region::from("us-east-1"))).unwrap();
            assert_eq!(holders(&node.snapshot()), in_store, "a node's copy is the database's");
            runtime.block_on(node.close());
        }
    }

    /// Groups sent one after the other without waiting both land, in order.
    #[test]
    #[ignore = "needs PostgreSQL (EIPD_TEST_POSTGRES_URL)"]
    fn groups_sent_back_to_back_land_in_order() {
        let (_held, [(mut node, mut world), _]) = two_nodes();
        send_allocation(&mut node, &mut world);
        send_allocation(&mut node, &mut world);
        assert!(node.land().unwrap());
        assert!(node.land().unwrap());
        assert_eq!(addresses_stored(), 2);
    }

    /// A node behind another: its group does not land, and neither does the
    /// group it sent after it, although the region then stands at the very
    /// version that second group expects: the other node's commit reached
    /// it, not the first group. Only the token tells them apart.
    #[test]
    #[ignore = "needs PostgreSQL (EIPD_TEST_POSTGRES_URL)"]
    fn a_group_sent_after_one_that_did_not_land_does_not_land_either() {
        let (_held, [(mut behind, mut behind_world), (mut other, mut other_world)]) = two_nodes();
        send_allocation(&mut other, &mut other_world);
        assert!(other.land().unwrap(), "the region moves to version 1");

        send_allocation(&mut behind, &mut behind_world); // expects version 0
        send_allocation(&mut behind, &mut behind_world); // expects version 1, after the first
        assert!(!behind.land().unwrap(), "the region is not at version 0");
        assert!(!behind.land().unwrap(), "version 1 is the other node's, not the first group's");
        assert!(!behind.optimistic(), "the next groups take the lock");
        assert_eq!(addresses_stored(), 1, "only the other node's allocation is stored");
    }
}
