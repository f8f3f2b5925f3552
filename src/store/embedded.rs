//! The embedded store: records in a redb file in the data directory.
//!
//! redb is a pure-Rust, copy-on-write B-tree with ACID transactions; a commit
//! with `Durability::Immediate` is fsynced before it returns, and a crash at
//! any point leaves the last committed transaction intact.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::Persistence;
use crate::domain::{Record, RecordKey, Scope, World};

/// Records by `account/region/kind/id`, as JSON.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// `format_version` and other facts about the file.
const META: TableDefinition<&str, u64> = TableDefinition::new("eipd_meta");

/// The on-disk format this eipd writes. A newer eipd migrates older files;
/// a file from a newer eipd is refused.
pub const FORMAT_VERSION: u64 = 1;

pub struct EmbeddedStore {
    db: Database,
    path: PathBuf,
}

pub fn record_key(scope: &Scope, key: &RecordKey) -> String {
    format!("{}/{}/{}", scope.account, scope.region, key.encode())
}

fn parse_scope(key: &str) -> Option<Scope> {
    let mut parts = key.splitn(3, '/');
    let account = parts.next()?;
    let region = parts.next()?;
    parts.next()?;
    Some(Scope::new(account, region))
}

impl EmbeddedStore {
    /// Opens (or creates) `path` and loads every record.
    pub fn open(path: &Path) -> anyhow::Result<(Self, World)> {
        let existed = path.exists();
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
                "{} is in use by another eipd process (only one process may open an embedded store; use --store postgres://… for several nodes)",
                path.display()
            ),
            e => anyhow::anyhow!("{} is not a readable eipd data file: {e}", path.display()),
        })?;
        let store = Self { db, path: path.to_owned() };
        store.check_format(existed)?;
        let world = store.load()?;
        Ok((store, world))
    }

    fn check_format(&self, existed: bool) -> anyhow::Result<()> {
        let read = self.db.begin_read()?;
        let version = match read.open_table(META) {
            Ok(meta) => meta.get("format_version")?.map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        drop(read);
        match version {
            Some(v) if v == FORMAT_VERSION => Ok(()),
            Some(v) if v > FORMAT_VERSION => bail!(
                "{} was written by a newer eipd (format {v}; this eipd reads up to {FORMAT_VERSION}); refusing to open it",
                self.path.display()
            ),
            Some(v) => bail!("{} has unknown format {v}", self.path.display()),
            None if existed && self.has_foreign_tables()? => {
                bail!("{} is a redb file but not an eipd data file; refusing to touch it", self.path.display())
            }
            None => {
                let write = self.db.begin_write()?;
                write.open_table(META)?.insert("format_version", FORMAT_VERSION)?;
                write.open_table(RECORDS)?;
                write.commit()?;
                Ok(())
            }
        }
    }

    fn has_foreign_tables(&self) -> anyhow::Result<bool> {
        let read = self.db.begin_read()?;
        Ok(read.list_tables()?.any(|t| t.name() != "records" && t.name() != "eipd_meta"))
    }

    fn load(&self) -> anyhow::Result<World> {
        let mut world = World::default();
        let read = self.db.begin_read()?;
        let table = read.open_table(RECORDS)?;
        for item in table.iter()? {
            let (key, value) = item?;
            let key = key.value();
            let scope = parse_scope(key).with_context(|| format!("bad record key {key:?}"))?;
            let record: Record =
                serde_json::from_slice(value.value()).with_context(|| format!("bad record {key:?}"))?;
            world.load(&scope, record);
        }
        Ok(world)
    }
}

impl Persistence for EmbeddedStore {
    fn commit(&mut self, world: &mut World, changed: &[(Scope, RecordKey)]) -> anyhow::Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(RECORDS)?;
            let mut buf = Vec::with_capacity(512);
            for (scope, key) in changed {
                let stored = record_key(scope, key);
                match world.partition(scope).and_then(|p| p.record(key)) {
                    Some(record) => {
                        buf.clear();
                        serde_json::to_writer(&mut buf, &record)?;
                        table.insert(stored.as_str(), buf.as_slice())?;
                    }
                    None => {
                        table.remove(stored.as_str())?;
                    }
                }
            }
        }
        write.commit()?;
        Ok(())
    }

    fn replace_all(&mut self, world: &World) -> anyhow::Result<()> {
        let write = self.db.begin_write()?;
        write.delete_table(RECORDS)?;
        {
            let mut table = write.open_table(RECORDS)?;
            let mut buf = Vec::with_capacity(512);
            for (scope, key) in super::all_records(world) {
                if let Some(record) = world.partition(&scope).and_then(|p| p.record(&key)) {
                    buf.clear();
                    serde_json::to_writer(&mut buf, &record)?;
                    table.insert(record_key(&scope, &key).as_str(), buf.as_slice())?;
                }
            }
        }
        write.commit()?;
        Ok(())
    }

    fn wipe(&mut self) -> anyhow::Result<()> {
        let write = self.db.begin_write()?;
        write.delete_table(RECORDS)?;
        write.open_table(RECORDS)?;
        write.commit()?;
        Ok(())
    }
}
