//! The state the rules see: every partition (one account in one region,
//! `partition`) and the regions' public IPv4 pools (`World`), the records
//! the stores persist (`record`), and the transaction through which a rule
//! changes one partition (`tx`).
//!
//! Maps are persistent (imbl): cloning a [`World`] is O(1), so the store can
//! hand readers an immutable snapshot while a writer builds the next one, and
//! can undo a failed operation by keeping the clone it started from.

mod partition;
mod record;
mod tx;

pub use partition::{Partition, availability_zones};
pub use record::{Record, RecordKey};
pub use tx::{Changes, ChangesMark, PoolEvent, Tx};

use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::OrdMap;
use ipnet::Ipv4Net;

use crate::model::*;

/// Settings the rules depend on (from the command line or config file).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Addresses per account and region (D9); `None` means no limit.
    pub address_limit: Option<u32>,
    /// The public IPv4 pool of every region (D8).
    pub pool: Vec<Ipv4Net>,
    pub flavor: Flavor,
    /// How long an ended association id is still answered as ended (D2).
    pub association_retention_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            address_limit: Some(5),
            pool: vec!["198.18.0.0/15".parse().expect("valid CIDR")],
            flavor: Flavor::Aws,
            association_retention_secs: 7 * 24 * 3600,
        }
    }
}

/// Whose behaviour to reproduce where AWS and moto differ (D1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Flavor {
    #[default]
    Aws,
    Moto,
}

/// Everything eipd holds: partitions by (account, region) and the public
/// IPv4 pools by region.
#[derive(Clone, Default)]
pub struct World {
    /// Behind an Arc: a writer's copy-on-write of one partition clones that
    /// partition's index roots, not every partition sharing its map node.
    partitions: OrdMap<Scope, Arc<Partition>>,
    pools: OrdMap<Region, RegionPool>,
    /// For a store shared by several nodes: the store's version of each
    /// partition that this World reflects. Kept here so that a World and the
    /// versions it is at are always replaced together.
    pub synced: OrdMap<Scope, i64>,
    /// For a shared store: its wipe counter this World reflects (a reset on
    /// any node means every node reloads).
    pub epoch: i64,
}

impl World {
    pub fn partition(&self, scope: &Scope) -> Option<&Partition> {
        self.partitions.get(scope).map(Arc::as_ref)
    }

    /// The partition itself, for a reader that keeps it past this World.
    pub fn shared_partition(&self, scope: &Scope) -> Option<Arc<Partition>> {
        self.partitions.get(scope).cloned()
    }

    pub fn partitions(&self) -> impl Iterator<Item = (&Scope, &Partition)> {
        self.partitions.iter().map(|(scope, part)| (scope, part.as_ref()))
    }

    pub fn pool(&self, region: &str) -> Option<&RegionPool> {
        self.pools.get(region)
    }

    pub fn pools(&self) -> impl Iterator<Item = (&Region, &RegionPool)> {
        self.pools.iter()
    }

    /// Opens a transaction on one partition (created with its default VPC on
    /// first use) and its region's pool.
    pub fn tx<'a>(&'a mut self, scope: &Scope, settings: &'a Settings, now: i64, changes: &'a mut Changes) -> Tx<'a> {
        if !self.partitions.contains_key(scope) {
            let fresh = Partition::with_defaults(scope);
            changes.records.extend(fresh.record_keys().map(|k| (scope.clone(), k)));
            self.partitions.insert(scope.clone(), Arc::new(fresh));
        }
        let World { partitions, pools, .. } = self;
        let part = Arc::make_mut(partitions.get_mut(scope).expect("inserted above"));
        if part.lacks_default_groups() {
            for group in crate::security_groups::add_missing_default_groups(part) {
                let record = Record::SecurityGroup(group);
                changes.records.push((scope.clone(), record.key()));
                part.put(record);
            }
        }
        if part.lacks_main_route_tables() {
            for table in crate::route_tables::add_missing_main_route_tables(part) {
                let record = Record::RouteTable(table);
                changes.records.push((scope.clone(), record.key()));
                part.put(record);
            }
        }
        let pool = pools.entry(scope.region.clone()).or_default();
        Tx { scope: scope.clone(), part, pool, settings, now, changes }
    }

    /// Loads one stored record (start-up, import).
    pub fn load(&mut self, scope: &Scope, mut record: Record) {
        let region = scope.region.clone();
        if let Record::Address(a) = &mut record
            && a.network_border_group == region
        {
            // One shared copy of the region's name rather than one per address.
            a.network_border_group = region.clone();
        }
        let part = Arc::make_mut(self.partitions.entry(scope.clone()).or_default());
        for ip in record.public_ips() {
            self.pools.entry(region.clone()).or_default().hold(ip, &scope.account);
        }
        part.put(record);
    }

    /// Applies what other nodes committed: each record replaced (or, with
    /// `None`, removed), the regions' pools in step. Every old record goes
    /// before any new one comes: one commit may move an IP between two
    /// records (an interface's IP given back, an Elastic IP taking it), and
    /// its rows come in no particular order.
    pub fn apply_committed(&mut self, records: Vec<(Scope, RecordKey, Option<Record>)>) {
        for (scope, key, _) in &records {
            self.replace(scope, key, None);
        }
        for (scope, _, record) in records {
            if let Some(record) = record {
                self.load(&scope, record);
            }
        }
    }

    /// Replaces (or, with `None`, removes) one stored record, keeping the
    /// region's pool in step.
    pub fn replace(&mut self, scope: &Scope, key: &RecordKey, record: Option<Record>) {
        if let Some(part) = self.partitions.get_mut(scope).map(Arc::make_mut) {
            if let Some(old) = part.record(key) {
                let pool = self.pools.entry(scope.region.clone()).or_default();
                for ip in old.public_ips() {
                    pool.free(ip, &scope.account);
                }
            }
            part.delete(key);
        }
        if let Some(record) = record {
            self.load(scope, record);
        }
    }

    pub fn address_count(&self) -> usize {
        self.partitions.values().map(|p| p.address_count()).sum()
    }
}

/// The public IPv4 addresses handed out in one region, to whichever account:
/// one IP never has two holders (D8).
///
/// A node of a fleet learns other accounts' changes partition by partition,
/// so for a while it may know an IP's new holder before the old holder's
/// release: the pool then keeps both, and whichever record goes first leaves
/// the other's holding in place. Once every partition is caught up, each IP
/// has one holder again.
#[derive(Clone, Default)]
pub struct RegionPool {
    held: OrdMap<Ipv4Addr, AccountId>,
    /// Further holders of an IP of `held` (usually none).
    also: OrdMap<(Ipv4Addr, AccountId), ()>,
}

impl RegionPool {
    pub fn holder(&self, ip: Ipv4Addr) -> Option<&AccountId> {
        self.held.get(&ip)
    }

    /// How many IPs are held.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Every IP held and its holder.
    pub fn held(&self) -> impl Iterator<Item = (Ipv4Addr, &AccountId)> {
        self.held.iter().map(|(ip, holder)| (*ip, holder))
    }

    pub(crate) fn hold(&mut self, ip: Ipv4Addr, account: &AccountId) {
        match self.held.get(&ip) {
            None => {
                self.held.insert(ip, account.clone());
            }
            Some(holder) if holder == account => {}
            Some(_) => {
                self.also.insert((ip, account.clone()), ());
            }
        }
    }

    pub(crate) fn free(&mut self, ip: Ipv4Addr, account: &AccountId) {
        if self.held.get(&ip) != Some(account) {
            self.also.remove(&(ip, account.clone()));
            return;
        }
        self.held.remove(&ip);
        let next = self.also.range((ip, AccountId::from(""))..).next().map(|(key, ())| key.clone());
        if let Some((next_ip, holder)) = next.filter(|(next_ip, _)| *next_ip == ip) {
            self.also.remove(&(next_ip, holder.clone()));
            self.held.insert(ip, holder);
        }
    }
}

/// Runs `op` in a transaction of account 123456789012 in us-east-1 with
/// `settings`: the rules' unit tests.
#[cfg(test)]
pub(crate) fn test_tx<T>(world: &mut World, settings: &Settings, op: impl FnOnce(&mut Tx) -> T) -> T {
    let mut changes = Changes::default();
    let mut tx = world.tx(&Scope::new("123456789012", "us-east-1"), settings, 0, &mut changes);
    op(&mut tx)
}

/// `test_tx` with the default settings (the AWS flavour).
#[cfg(test)]
pub(crate) fn world_tx<T>(world: &mut World, op: impl FnOnce(&mut Tx) -> T) -> T {
    test_tx(world, &Settings::default(), op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_partition_is_stable_and_complete() {
        let scope = Scope::new("123456789012", "us-east-1");
        let a = Partition::with_defaults(&scope);
        let b = Partition::with_defaults(&scope);
        let vpc = a.default_vpc().expect("default vpc");
        assert_eq!(Some(&vpc.id), b.default_vpc().map(|v| &v.id));
        assert_eq!(a.subnets().count(), 3);
        assert!(a.gateway_of(&vpc.id).is_some());
    }

    #[test]
    fn vpcs_stored_before_security_groups_get_their_default_group_at_the_first_write() {
        let scope = Scope::new("123456789012", "us-east-1");
        let mut world = World::default();
        // As loaded from a store written before eipd had security groups.
        for key in Partition::with_defaults(&scope).record_keys() {
            let record = Partition::with_defaults(&scope).record(&key).unwrap();
            if !matches!(record, Record::SecurityGroup(_)) {
                world.load(&scope, record);
            }
        }
        let vpc = world.partition(&scope).unwrap().default_vpc().unwrap().id.clone();
        assert!(world.partition(&scope).unwrap().default_security_group(&vpc).is_none());
        let (settings, mut changes) = (Settings::default(), Changes::default());
        let tx = world.tx(&scope, &settings, 0, &mut changes);
        let group = tx.part().default_security_group(&vpc).expect("added").id.clone();
        assert_eq!(changes.records, [(scope.clone(), RecordKey::SecurityGroup(group.clone()))], "and persisted");
        let fresh = Partition::with_defaults(&scope);
        assert_eq!(fresh.default_security_group(&vpc).map(|g| &g.id), Some(&group), "the id a new account gets");
    }

    #[test]
    fn pool_never_gives_one_ip_twice() {
        let settings = Settings { pool: vec!["10.0.0.0/29".parse().unwrap()], ..Settings::default() };
        let mut world = World::default();
        let mut changes = Changes::default();
        let mut seen = std::collections::HashSet::new();
        for account in ["111111111111", "222222222222"] {
            let scope = Scope::new(account, "r");
            let mut tx = world.tx(&scope, &settings, 0, &mut changes);
            for _ in 0..4 {
                assert!(seen.insert(tx.take_public_ip().expect("room")));
            }
        }
        let scope = Scope::new("333333333333", "r");
        let mark = changes.mark();
        let mut tx = world.tx(&scope, &settings, 0, &mut changes);
        assert_eq!(tx.take_public_ip(), None);
        assert!(!tx.claim_public_ip("10.0.0.1".parse().unwrap()));
        // What a fleet's store checks: the pool was full, 10.0.0.1 held.
        let holder = world.pool("r").unwrap().holder("10.0.0.1".parse().unwrap()).cloned();
        let mut noted = changes.clone();
        noted.undo_to(mark);
        assert_eq!(noted.pool.len(), 8, "eight IPs taken before");
        assert_eq!(
            changes.pool[8..],
            [
                (scope.clone(), PoolEvent::SawFull { size: 8 }),
                (scope.clone(), PoolEvent::Saw("10.0.0.1".parse().unwrap(), holder))
            ]
        );
    }

    /// One commit of another node moved IP Y, within one account, from an
    /// interface's auto-assigned IP to a new Elastic IP: in whichever order
    /// its rows come, the copy's pool holds Y.
    #[test]
    fn a_commit_moving_an_ip_between_records_of_one_account_keeps_it_held() {
        use crate::addresses::{AllocateAddress, allocate_address};
        use crate::network_interfaces::{InterfaceSpec, create_network_interface};
        let settings = Settings { pool: vec!["10.0.0.0/29".parse().unwrap()], ..Settings::default() };
        let scope = Scope::new("111111111111", "r");
        let y: Ipv4Addr = "10.0.0.3".parse().unwrap();
        let mut before = World::default();
        let mut changes = Changes::default();
        let mut eni = {
            let mut tx = before.tx(&scope, &settings, 0, &mut changes);
            let subnet = tx.part().subnets().next().unwrap().id.clone();
            let mut eni = create_network_interface(&mut tx, &subnet, InterfaceSpec::default()).unwrap();
            assert!(tx.claim_public_ip(y));
            eni.auto_public_ip = Some(y);
            tx.put(Record::NetworkInterface(eni.clone()));
            eni
        };
        let mut after = before.clone();
        let address = {
            let mut tx = after.tx(&scope, &settings, 0, &mut changes);
            eni.auto_public_ip = None;
            tx.release_public_ip(y);
            tx.put(Record::NetworkInterface(eni.clone()));
            let input = AllocateAddress {
                domain: crate::Domain::Vpc,
                address: Some(y),
                network_border_group: None,
                tags: Default::default(),
            };
            allocate_address(&mut tx, input).unwrap()
        };
        let rows = [Record::Address(address), Record::NetworkInterface(eni)];
        for rows in [rows.to_vec(), rows.iter().rev().cloned().collect()] {
            let mut copy = before.clone();
            copy.apply_committed(rows.into_iter().map(|r| (scope.clone(), r.key(), Some(r))).collect());
            assert!(copy.partition(&scope).unwrap().address(y).is_some());
            assert_eq!(copy.pool("r").unwrap().holder(y), Some(&scope.account));
        }
    }

    /// An operation that took the pool's last IP, then found it full, and
    /// failed: what it saw is kept as of before its own take.
    #[test]
    fn a_failed_operation_keeps_what_it_saw_as_of_before_its_own_changes() {
        let settings = Settings { pool: vec!["10.0.0.0/30".parse().unwrap()], ..Settings::default() };
        let mut world = World::default();
        let mut changes = Changes::default();
        let scope = Scope::new("111111111111", "r");
        let mark = changes.mark();
        let mut tx = world.tx(&scope, &settings, 0, &mut changes);
        let taken: Vec<Ipv4Addr> = (0..4).map(|_| tx.take_public_ip().unwrap()).collect();
        assert_eq!(tx.take_public_ip(), None);
        assert_eq!(tx.holder(taken[0]), Some(scope.account.clone()));
        assert_eq!(tx.holder("10.9.9.9".parse().unwrap()), None);
        changes.undo_failed(mark);
        assert_eq!(
            changes.pool,
            [
                (scope.clone(), PoolEvent::SawFull { size: 0 }),
                (scope.clone(), PoolEvent::Saw("10.9.9.9".parse().unwrap(), None))
            ],
            "the pool was full once its own four takes are counted out; its own IP is no sight"
        );
    }

    /// A node of a fleet may learn an IP's new holder before its old
    /// holder's release: either can go first, the other holding stays.
    #[test]
    fn an_ip_known_held_twice_keeps_the_holder_whose_record_stays() {
        let ip: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let (old, new): (AccountId, AccountId) = ("111111111111".into(), "222222222222".into());
        for old_goes_first in [true, false] {
            let mut pool = RegionPool::default();
            pool.hold(ip, &old);
            pool.hold(ip, &new);
            assert_eq!(pool.held_count(), 1);
            let (gone, stays) = if old_goes_first { (&old, &new) } else { (&new, &old) };
            pool.free(ip, gone);
            assert_eq!(pool.holder(ip), Some(stays));
            pool.free(ip, stays);
            assert_eq!(pool.holder(ip), None);
            assert_eq!(pool.held_count(), 0);
        }
    }
}
