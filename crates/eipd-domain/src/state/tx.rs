//! The transaction a rule sees.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::Rng;

use super::{Partition, Record, RecordKey, RegionPool, Settings};
use crate::model::*;

/// One operation's view of its partition and region pool. Every change goes
/// through here, so the store learns exactly which records to persist.
pub struct Tx<'a> {
    pub scope: Scope,
    pub(super) part: &'a mut Partition,
    pub(super) pool: &'a mut RegionPool,
    pub settings: &'a Settings,
    /// Seconds since the Unix epoch, fixed for the whole operation.
    pub now: i64,
    pub(super) changes: &'a mut Changes,
}

/// What the operations of a transaction changed: the records to persist,
/// and what they did with and learnt of their regions' pools.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub records: Vec<(Scope, RecordKey)>,
    pub pool: Vec<(Scope, PoolEvent)>,
}

/// Where `Changes` stood before an operation, to undo it.
#[derive(Clone, Copy)]
pub struct ChangesMark(usize, usize);

impl Changes {
    pub fn mark(&self) -> ChangesMark {
        ChangesMark(self.records.len(), self.pool.len())
    }

    /// Forgets what was noted after `mark` (an operation that panicked).
    pub fn undo_to(&mut self, mark: ChangesMark) {
        self.records.truncate(mark.0);
        self.pool.truncate(mark.1);
    }

    /// Forgets what an operation that failed after `mark` changed, but not
    /// what it saw of the pool: its answer depends on it. What it saw after
    /// its own takes and releases (which go with it) is restated as of
    /// before them: a full pool counted the IPs it took, and an IP it took
    /// or gave back is not what the pool holds.
    pub fn undo_failed(&mut self, mark: ChangesMark) {
        self.records.truncate(mark.0);
        let failed = self.pool.split_off(mark.1);
        let mut taken: BTreeMap<Region, i64> = BTreeMap::new();
        let mut touched: BTreeSet<(Region, Ipv4Addr)> = BTreeSet::new();
        for (scope, event) in failed {
            match event {
                PoolEvent::Took(ip) => {
                    *taken.entry(scope.region.clone()).or_default() += 1;
                    touched.insert((scope.region.clone(), ip));
                }
                PoolEvent::Freed(ip) => {
                    *taken.entry(scope.region.clone()).or_default() -= 1;
                    touched.insert((scope.region.clone(), ip));
                }
                PoolEvent::Saw(ip, _) if touched.contains(&(scope.region.clone(), ip)) => {}
                PoolEvent::SawFull { size } => {
                    let own = taken.get(&scope.region).copied().unwrap_or(0);
                    let size = size.saturating_add_signed(-own);
                    self.pool.push((scope, PoolEvent::SawFull { size }));
                }
                event @ PoolEvent::Saw(..) => self.pool.push((scope, event)),
            }
        }
    }

    /// The changed records, each once, in order.
    pub fn records_once(&self) -> Vec<(Scope, RecordKey)> {
        let mut records = self.records.clone();
        records.sort();
        records.dedup();
        records
    }
}

/// One use of a region's public IPv4 pool by an operation. The pool is
/// shared by every account of the region: a store whose nodes commit
/// accounts independently writes what an operation took and freed, and
/// checks that what it saw of other accounts' holdings is still so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolEvent {
    /// The operation took this free IP.
    Took(Ipv4Addr),
    /// The operation gave back an IP its account held.
    Freed(Ipv4Addr),
    /// The operation's outcome depends on this IP's holder (or on it being free).
    Saw(Ipv4Addr, Option<AccountId>),
    /// The operation found the pool, of `size` IPs, without a free one.
    SawFull { size: u64 },
}

impl Tx<'_> {
    pub fn part(&self) -> &Partition {
        self.part
    }

    pub fn put(&mut self, record: Record) {
        self.changes.records.push((self.scope.clone(), record.key()));
        self.part.put(record);
    }

    pub fn delete(&mut self, key: RecordKey) {
        self.part.delete(&key);
        self.changes.records.push((self.scope.clone(), key));
    }

    fn note(&mut self, event: PoolEvent) {
        self.changes.pool.push((self.scope.clone(), event));
    }

    /// Who holds a public IP of the region, if anyone.
    pub fn holder(&mut self, ip: Ipv4Addr) -> Option<AccountId> {
        let holder = self.pool.holder(ip).cloned();
        self.note(PoolEvent::Saw(ip, holder.clone()));
        holder
    }

    /// Takes a random free IP of the pool for this account.
    pub fn take_public_ip(&mut self) -> Option<Ipv4Addr> {
        let total: u64 = self.settings.pool.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        if total == 0 {
            return None;
        }
        if self.pool.held_count() as u64 >= total {
            self.note(PoolEvent::SawFull { size: total });
            return None;
        }
        // Random probe, then walk forward: O(1) expected while the pool has room.
        let start = rand::rng().random_range(0..total);
        for step in 0..total {
            let ip = nth_pool_ip(&self.settings.pool, (start + step) % total);
            if self.pool.holder(ip).is_none() {
                self.pool.hold(ip, &self.scope.account);
                self.note(PoolEvent::Took(ip));
                return Some(ip);
            }
        }
        self.note(PoolEvent::SawFull { size: total });
        None
    }

    /// Takes a specific pool IP; false when it is outside the pool or held.
    pub fn claim_public_ip(&mut self, ip: Ipv4Addr) -> bool {
        if !self.settings.pool.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.claim_any_free_ip(ip)
    }

    /// Takes any free IP, in the pool or not (moto's `Address=`, D1).
    pub fn claim_any_free_ip(&mut self, ip: Ipv4Addr) -> bool {
        if let Some(holder) = self.pool.holder(ip).cloned() {
            self.note(PoolEvent::Saw(ip, Some(holder)));
            return false;
        }
        self.pool.hold(ip, &self.scope.account);
        self.note(PoolEvent::Took(ip));
        true
    }

    pub fn release_public_ip(&mut self, ip: Ipv4Addr) {
        self.pool.free(ip, &self.scope.account);
        self.note(PoolEvent::Freed(ip));
    }
}

fn nth_pool_ip(pool: &[Ipv4Net], mut n: u64) -> Ipv4Addr {
    for net in pool {
        let size = 1u64 << (32 - net.prefix_len());
        if n < size {
            return Ipv4Addr::from(u32::from(net.network()) + n as u32);
        }
        n -= size;
    }
    unreachable!("n is below the pool's total size")
}
