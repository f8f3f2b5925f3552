//! The shared store: records in PostgreSQL, for several eipd nodes serving
//! one fleet.
//!
//! Every write locks its region's row (`SELECT … FOR UPDATE`): the public IP
//! pool is per region and shared by its accounts, so this is the unit that
//! must not change under an operation. Under the lock the node catches up
//! with what other nodes committed (records carry the region's version at
//! their last change; deletions leave a tombstone), runs the operation on its
//! in-memory copy, writes the changed records with the next version, and
//! commits. Racing nodes therefore apply operations one after the other and
//! never give one address two associations or one IP two holders. Reads ask
//! for the region's version first and catch up when it moved.

use anyhow::{Context, bail};
use postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use super::Persistence;
use eipd_domain::{Record, RecordKey, Region, Scope, World};

/// The schema this eipd creates and reads.
const SCHEMA_VERSION: i64 = 1;
/// Serializes schema migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x6569_7064; // "eipd"

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS eipd_meta (key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS eipd_regions (region text PRIMARY KEY, version bigint NOT NULL);
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
    client: Client,
    /// The wipe counter this node's World reflects: a reset elsewhere means
    /// everything must be reloaded.
    epoch: i64,
    /// The regions locked by the open transaction and their next versions.
    open: Vec<(Region, i64)>,
    /// The record upsert, prepared once per connection.
    upsert: Option<Statement>,
}

fn connect(url: &str) -> anyhow::Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("cannot connect to PostgreSQL at {}", super::redact_url(url)))
}

impl PostgresStore {
    /// Connects, creates or migrates the schema, and loads every record.
    pub(crate) fn open(url: &str) -> anyhow::Result<(Self, World)> {
        let mut client = connect(url)?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let migrated = (|| -> anyhow::Result<()> {
            let existing: Option<i64> = client
                .query_opt(
                    "SELECT value FROM eipd_meta WHERE key = 'schema_version' AND to_regclass('eipd_meta') IS NOT NULL",
                    &[],
                )
                .ok()
                .flatten()
                .map(|row| row.get(0));
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
        let mut store = Self { url: url.to_owned(), client, epoch: 0, open: Vec::new(), upsert: None };
        let world = store.load_all()?;
        Ok((store, world))
    }

    fn epoch(&mut self) -> anyhow::Result<i64> {
        Ok(self.client.query_one("SELECT value FROM eipd_meta WHERE key = 'epoch'", &[])?.get(0))
    }

    fn load_all(&mut self) -> anyhow::Result<World> {
        let mut world = World::default();
        self.epoch = self.epoch()?;
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
        Ok(world)
    }

    /// Applies what other nodes committed in `region` after `world`'s version.
    fn catch_up(&mut self, world: &mut World, region: &Region, version: i64) -> anyhow::Result<()> {
        let seen = world.synced.get(region).copied().unwrap_or(0);
        if version <= seen {
            return Ok(());
        }
        let rows = self.client.query(
            "SELECT account, key, body FROM eipd_records WHERE region = $1 AND version > $2",
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

    /// Opens a transaction and reads the wipe counter: one round trip (a
    /// simple query may carry both statements; the transaction stays open).
    fn begin_reading_epoch(&mut self) -> anyhow::Result<i64> {
        let answers = self.client.simple_query("BEGIN; SELECT value FROM eipd_meta WHERE key = 'epoch'")?;
        let epoch = answers
            .iter()
            .find_map(|answer| match answer {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .context("eipd_meta has no epoch")?;
        Ok(epoch.parse()?)
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
            self.upsert = None;
        }
        Ok(())
    }

    fn begin_locked(&mut self, world: &mut World, regions: &[Region]) -> anyhow::Result<()> {
        // A reset elsewhere: reload everything first.
        let epoch = self.begin_reading_epoch()?;
        self.reload_if_wiped(world, epoch)?;
        // Regions come sorted: every node locks in the same order.
        for region in regions {
            // Creates the region's row on first use; either way the row is
            // locked until COMMIT (ON CONFLICT DO UPDATE locks what it finds).
            let version: i64 = self
                .client
                .query_one(
                    "INSERT INTO eipd_regions VALUES ($1, 0)
                     ON CONFLICT (region) DO UPDATE SET version = eipd_regions.version RETURNING version",
                    &[&&**region],
                )?
                .get(0);
            self.catch_up(world, region, version)?;
            self.open.push((region.clone(), version + 1));
        }
        Ok(())
    }

    fn write(&mut self, world: &mut World, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        let insert = match &self.upsert {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(
                    "INSERT INTO eipd_records (region, account, key, version, body) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (region, account, key) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body",
                )?;
                self.upsert.insert(statement).clone()
            }
        };
        for (scope, key) in changed {
            let version = self
                .open
                .iter()
                .find(|(r, _)| *r == scope.region)
                .map(|(_, v)| *v)
                .context("a change outside the locked regions")?;
            let body = match world.partition(scope).and_then(|p| p.record(key)) {
                Some(record) => Some(serde_json::to_string(&record)?),
                None => None,
            };
            self.client.execute(&insert, &[&&*scope.region, &&*scope.account, &key.encode(), &version, &body])?;
        }
        for (region, version) in &self.open {
            self.client.execute("UPDATE eipd_regions SET version = $2 WHERE region = $1", &[&&**region, version])?;
        }
        self.client.batch_execute("COMMIT")?;
        for (region, version) in std::mem::take(&mut self.open) {
            world.synced.insert(region, version);
        }
        Ok(())
    }

    fn rollback(&mut self) {
        self.open.clear();
        if !self.client.is_closed() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
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
        if self.reload_if_wiped(world, epoch)? {
            return Ok(());
        }
        match version {
            Some(version) => self.catch_up(world, region, version),
            None => Ok(()),
        }
    }

    fn shared(&self) -> bool {
        true
    }

    fn replace_all(&mut self, world: &World) -> anyhow::Result<()> {
        self.reconnect_if_closed()?;
        self.client.batch_execute(
            "BEGIN;
             TRUNCATE eipd_records, eipd_regions;
             UPDATE eipd_meta SET value = value + 1 WHERE key = 'epoch';",
        )?;
        let written = (|| -> anyhow::Result<()> {
            let insert = self
                .client
                .prepare("INSERT INTO eipd_records (region, account, key, version, body) VALUES ($1, $2, $3, 1, $4)")?;
            let mut regions = std::collections::BTreeSet::new();
            for (scope, key) in super::all_records(world) {
                if let Some(record) = world.partition(&scope).and_then(|p| p.record(&key)) {
                    let body = serde_json::to_string(&record)?;
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
             TRUNCATE eipd_records, eipd_regions;
             UPDATE eipd_meta SET value = value + 1 WHERE key = 'epoch';
             COMMIT;",
        )?;
        self.epoch = self.epoch()?;
        Ok(())
    }
}
