//! The transaction a rule sees.

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
    pub(super) dirty: &'a mut Vec<(Scope, RecordKey)>,
}

impl Tx<'_> {
    pub fn part(&self) -> &Partition {
        self.part
    }

    pub fn pool(&self) -> &RegionPool {
        self.pool
    }

    pub fn put(&mut self, record: Record) {
        self.dirty.push((self.scope.clone(), record.key()));
        self.part.put(record);
    }

    pub fn delete(&mut self, key: RecordKey) {
        self.part.delete(&key);
        self.dirty.push((self.scope.clone(), key));
    }

    /// Takes a random free IP of the pool for this account.
    pub fn take_public_ip(&mut self) -> Option<Ipv4Addr> {
        let total: u64 = self.settings.pool.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        if total == 0 || self.pool.held.len() as u64 >= total {
            return None;
        }
        // Random probe, then walk forward: O(1) expected while the pool has room.
        let start = rand::rng().random_range(0..total);
        for step in 0..total {
            let ip = nth_pool_ip(&self.settings.pool, (start + step) % total);
            if !self.pool.held.contains_key(&ip) {
                self.pool.held.insert(ip, self.scope.account.clone());
                return Some(ip);
            }
        }
        None
    }

    /// Takes a specific pool IP; false when it is outside the pool or held.
    pub fn claim_public_ip(&mut self, ip: Ipv4Addr) -> bool {
        if !self.settings.pool.iter().any(|n| n.contains(&ip)) || self.pool.held.contains_key(&ip) {
            return false;
        }
        self.pool.held.insert(ip, self.scope.account.clone());
        true
    }

    /// Takes any free IP, in the pool or not (moto's `Address=`, D1).
    pub fn claim_any_free_ip(&mut self, ip: Ipv4Addr) -> bool {
        if self.pool.held.contains_key(&ip) {
            return false;
        }
        self.pool.held.insert(ip, self.scope.account.clone());
        true
    }

    pub fn release_public_ip(&mut self, ip: Ipv4Addr) {
        self.pool.held.remove(&ip);
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
