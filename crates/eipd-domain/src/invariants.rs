//! Property tests: random operation sequences keep every invariant.
//!
//! A small universe (one region, one or two accounts sharing the region's
//! public IPv4 pool, the default VPC and maybe one created VPC) is driven by
//! random sequences of operations that pick their targets by index into what
//! exists, so most operations are valid and some are not. As in production
//! (`store::writer`), a failed operation is rolled back to the World cloned
//! before it. After every step the World is checked:
//!
//! 1. an address has at most one association, found again by its id;
//! 2. a private IP carries at most one Elastic IP, and no association dangles;
//! 3. an interface's public IPv4s are its Elastic IPs plus the auto-assigned
//!    IP on the primary private IP when no Elastic IP is there;
//! 4. one public IP, one holder: the region pool holds exactly the addresses
//!    and auto-assigned IPs of all accounts, each for its owner;
//! 5. a private IPv4 belongs to one interface per VPC; attachments point to
//!    live instances; terminated instances have no interfaces;
//! 6. ended association ids are answered as success, never-issued (or another
//!    account's) ids as InvalidAssociationID.NotFound (D2, D12);
//! 7. the seed's refusal (D3) applies exactly when its three conditions hold.
//!
//! Two more properties: a failed operation leaves the World as it was, and
//! every successful one marks each record it changes dirty, so the records
//! the store persists (incrementally, or all at once) load back into the
//! same World with the same pool holders.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use proptest::prelude::*;

use super::addresses::{
    self, AddressRef, AllocateAddress, AssociateAddress, AssociationTarget, DisassociateAddress, ReleaseAddress,
};
use super::ids::*;
use super::instances::{self, LaunchInterface, RunInstances};
use super::internet_gateways;
use super::model::*;
use super::network_interfaces::{self, InterfaceSpec};
use super::route_tables::{self, CreateRouteTable};
use super::security_groups::{self, CreateSecurityGroup, GroupRef, PeerRef, RuleSpec};
use super::state::{Changes, Flavor, Partition, PoolEvent, Record, RecordKey, Settings, Tx, World};
use super::subnets::{self, CreateSubnet, SubnetAttribute};
use super::tags::{self, ResourceId};
use super::vpcs::{self, CreateVpc, VpcAttribute};
use crate::error::ApiResult;

const REGION: &str = "us-east-1";
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const START: i64 = 1_700_000_000;
const TAG_KEYS: [&str; 2] = ["env", "team"];
const TAG_VALUES: [&str; 2] = ["a", "b"];

// ---- the operations -----------------------------------------------------------

/// How an operation names an address.
#[derive(Clone, Debug)]
enum AddrSel {
    /// One of this account's addresses, by AllocationId or by PublicIp.
    Mine { idx: usize, by_public_ip: bool },
    /// Another account's address, by PublicIp (AuthFailure, D12).
    OtherAccount(usize),
    /// An allocation id never issued.
    Unknown,
}

#[derive(Clone, Debug)]
enum TargetSel {
    Interface(usize),
    Instance(usize),
    Unknown,
}

#[derive(Clone, Debug)]
enum PrivSel {
    Primary,
    Nth(usize),
    /// A private IP the interface does not have.
    Foreign,
}

#[derive(Clone, Debug)]
enum AssocSel {
    /// One of the ids this account was issued (current or ended).
    Issued(usize),
    /// A current association of this account.
    Current(usize),
    NeverIssued,
    /// An id issued to the other account.
    OtherAccount(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Allocate {
        standard: bool,
        at: Option<u8>,
        tag: Option<(u8, u8)>,
    },
    Associate {
        addr: AddrSel,
        target: TargetSel,
        private: PrivSel,
        allow_reassociation: bool,
    },
    Disassociate(AssocSel),
    DisassociatePublicIp(AddrSel),
    Release(AddrSel),
    CreateInterface {
        subnet: usize,
        secondary: u32,
        ipv6: u32,
        explicit_ip: Option<usize>,
        /// One of the account's security groups (maybe of another VPC).
        group: Option<usize>,
    },
    CreateGroup {
        vpc: usize,
    },
    DeleteGroup(usize),
    CreateRouteTable {
        vpc: usize,
    },
    /// A subnet's association with a table (maybe of another VPC).
    AssociateSubnet {
        table: usize,
        subnet: usize,
    },
    /// One of the account's associations (the main ones too) moved to a
    /// table (maybe of another VPC), or ended.
    MoveAssociation {
        table: usize,
        association: usize,
        to: Option<usize>,
    },
    DeleteRouteTable(usize),
    /// An ingress rule of one group naming another (maybe of another VPC).
    AuthorizeFromGroup {
        group: usize,
        peer: usize,
    },
    AssignPrivateIps {
        eni: usize,
        count: u32,
        explicit_ip: Option<usize>,
        allow_reassignment: bool,
    },
    UnassignPrivateIp {
        eni: usize,
        ip: usize,
    },
    Attach {
        eni: usize,
        instance: usize,
        device_index: u32,
    },
    Detach {
        eni: usize,
    },
    Run {
        subnet: usize,
        public: Option<bool>,
        secondary: u32,
        ipv6: u32,
        existing: Option<usize>,
        two_nics: bool,
        count: u32,
        token: Option<u8>,
    },
    Terminate(Vec<usize>),
    Stop(Vec<usize>),
    Start(Vec<usize>),
    DeleteInterface(usize),
    AssignIpv6(usize),
    UnassignIpv6(usize),
    ModifyDnsNames {
        eni: usize,
        hostname_type: HostnameType,
    },
    DnsHostnames {
        vpc: usize,
        on: bool,
    },
    MapPublicIp {
        subnet: usize,
        on: bool,
    },
    VpcIpv6(usize),
    SubnetIpv6(usize),
    AttachGateway(usize),
    DetachGateway(usize),
    /// CreateTags on an address (and maybe an instance too).
    Tag {
        addr: usize,
        also_instance: Option<usize>,
        key: u8,
        value: u8,
    },
    /// DeleteTags on an address: one key, maybe only with a given value.
    Untag {
        addr: usize,
        key: u8,
        value: Option<u8>,
    },
    Wait(i64),
}

/// What each account has before the random operations.
#[derive(Clone, Debug)]
struct Setup {
    /// An IPv6 block on the default VPC and on its subnets.
    default_ipv6: bool,
    /// A second VPC 10.0.0.0/16 with one subnet 10.0.0.0/24 (zone a).
    extra_vpc: bool,
    extra_gateway: bool,
    extra_dns_hostnames: bool,
    extra_ipv6: bool,
    extra_map_public_ip: bool,
    /// The second VPC reuses the default VPC's 172.31.0.0/16 (private IPs
    /// are unique per VPC, not per account).
    extra_overlaps: bool,
}

#[derive(Clone, Debug)]
struct Scenario {
    /// 10.200.0.0/24 or, to make the pool run out, 10.200.0.0/29.
    small_pool: bool,
    moto: bool,
    address_limit: Option<u32>,
    setups: Vec<Setup>,
    steps: Vec<(usize, Op)>,
}

fn idx() -> impl Strategy<Value = usize> {
    0usize..16
}

/// One to three instances, maybe the same one twice.
fn ids() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![6 => idx().prop_map(|i| vec![i]), 1 => prop::collection::vec(idx(), 2..4)]
}

fn addr_sel() -> impl Strategy<Value = AddrSel> {
    prop_oneof![
        12 => (idx(), prop::bool::weighted(0.1)).prop_map(|(idx, by_public_ip)| AddrSel::Mine { idx, by_public_ip }),
        1 => idx().prop_map(AddrSel::OtherAccount),
        1 => Just(AddrSel::Unknown),
    ]
}

fn target_sel() -> impl Strategy<Value = TargetSel> {
    prop_oneof![
        6 => idx().prop_map(TargetSel::Interface),
        4 => idx().prop_map(TargetSel::Instance),
        1 => Just(TargetSel::Unknown),
    ]
}

fn priv_sel() -> impl Strategy<Value = PrivSel> {
    prop_oneof![6 => Just(PrivSel::Primary), 4 => idx().prop_map(PrivSel::Nth), 1 => Just(PrivSel::Foreign)]
}

fn assoc_sel() -> impl Strategy<Value = AssocSel> {
    prop_oneof![
        4 => idx().prop_map(AssocSel::Issued),
        8 => idx().prop_map(AssocSel::Current),
        1 => Just(AssocSel::NeverIssued),
        1 => idx().prop_map(AssocSel::OtherAccount),
    ]
}

fn hostname_type() -> impl Strategy<Value = HostnameType> {
    prop_oneof![
        4 => Just(HostnameType::PublicDualStackDnsName),
        1 => Just(HostnameType::PublicIpv4DnsName),
        1 => Just(HostnameType::PublicIpv6DnsName),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        7 => (prop::bool::weighted(0.15), prop::option::weighted(0.15, 0u8..=12), prop::option::weighted(0.2, (0u8..2, 0u8..2)))
            .prop_map(|(standard, at, tag)| Op::Allocate { standard, at, tag }),
        12 => (addr_sel(), target_sel(), priv_sel(), prop::bool::weighted(0.8)).prop_map(
            |(addr, target, private, allow_reassociation)| Op::Associate { addr, target, private, allow_reassociation }
        ),
        7 => assoc_sel().prop_map(Op::Disassociate),
        1 => addr_sel().prop_map(Op::DisassociatePublicIp),
        3 => addr_sel().prop_map(Op::Release),
        4 => (idx(), 0u32..3, 0u32..2, prop::option::weighted(0.15, idx()), prop::option::weighted(0.3, idx())).prop_map(
            |(subnet, secondary, ipv6, explicit_ip, group)| Op::CreateInterface { subnet, secondary, ipv6, explicit_ip, group }
        ),
        2 => idx().prop_map(|vpc| Op::CreateGroup { vpc }),
        1 => idx().prop_map(Op::DeleteGroup),
        1 => (idx(), idx()).prop_map(|(group, peer)| Op::AuthorizeFromGroup { group, peer }),
        2 => idx().prop_map(|vpc| Op::CreateRouteTable { vpc }),
        2 => (idx(), idx()).prop_map(|(table, subnet)| Op::AssociateSubnet { table, subnet }),
        2 => (idx(), idx(), prop::option::weighted(0.7, idx()))
            .prop_map(|(table, association, to)| Op::MoveAssociation { table, association, to }),
        1 => idx().prop_map(Op::DeleteRouteTable),
        3 => (idx(), 0u32..3, prop::option::weighted(0.2, idx()), any::<bool>()).prop_map(
            |(eni, count, explicit_ip, allow_reassignment)| Op::AssignPrivateIps {
                eni,
                count,
                explicit_ip,
                allow_reassignment
            }
        ),
        2 => (idx(), idx()).prop_map(|(eni, ip)| Op::UnassignPrivateIp { eni, ip }),
        3 => (idx(), idx(), 0u32..3).prop_map(|(eni, instance, device_index)| Op::Attach { eni, instance, device_index }),
        2 => idx().prop_map(|eni| Op::Detach { eni }),
        5 => (
            idx(),
            prop::option::weighted(0.5, prop::bool::weighted(0.7)),
            0u32..2,
            0u32..2,
            prop::option::weighted(0.15, idx()),
            prop::bool::weighted(0.15),
            prop_oneof![8 => Just(1u32), 1 => Just(2u32)],
            prop::option::weighted(0.1, 0u8..3),
        )
            .prop_map(|(subnet, public, secondary, ipv6, existing, two_nics, count, token)| Op::Run {
                subnet,
                public,
                secondary,
                ipv6,
                existing,
                two_nics,
                count,
                token
            }),
        2 => ids().prop_map(Op::Terminate),
        2 => ids().prop_map(Op::Stop),
        2 => ids().prop_map(Op::Start),
        2 => idx().prop_map(Op::DeleteInterface),
        3 => idx().prop_map(Op::AssignIpv6),
        1 => idx().prop_map(Op::UnassignIpv6),
        4 => (idx(), hostname_type()).prop_map(|(eni, hostname_type)| Op::ModifyDnsNames { eni, hostname_type }),
        1 => (idx(), any::<bool>()).prop_map(|(vpc, on)| Op::DnsHostnames { vpc, on }),
        1 => (idx(), any::<bool>()).prop_map(|(subnet, on)| Op::MapPublicIp { subnet, on }),
        1 => idx().prop_map(Op::VpcIpv6),
        1 => idx().prop_map(Op::SubnetIpv6),
        1 => idx().prop_map(Op::AttachGateway),
        1 => idx().prop_map(Op::DetachGateway),
        2 => (idx(), prop::option::weighted(0.2, idx()), 0u8..2, 0u8..2)
            .prop_map(|(addr, also_instance, key, value)| Op::Tag { addr, also_instance, key, value }),
        1 => (idx(), 0u8..2, prop::option::of(0u8..2)).prop_map(|(addr, key, value)| Op::Untag { addr, key, value }),
        1 => prop_oneof![4 => Just(3600i64), 1 => Just(8 * 24 * 3600i64)].prop_map(Op::Wait),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.7),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                default_ipv6,
                extra_vpc,
                extra_gateway,
                extra_dns_hostnames,
                extra_ipv6,
                extra_map_public_ip,
                extra_overlaps,
            )| {
                Setup {
                    default_ipv6,
                    extra_vpc,
                    extra_gateway,
                    extra_dns_hostnames,
                    extra_ipv6,
                    extra_map_public_ip,
                    extra_overlaps,
                }
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..=2,
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.2, 1u32..4),
        prop::collection::vec(setup(), 2),
        prop::collection::vec((0usize..2, op()), 1..60),
    )
        .prop_map(|(accounts, small_pool, moto, address_limit, setups, steps)| Scenario {
            small_pool,
            moto,
            address_limit,
            setups: setups.into_iter().take(accounts).collect(),
            steps: steps.into_iter().map(|(a, op)| (a % accounts, op)).collect(),
        })
}

// ---- the harness ----------------------------------------------------------------

/// What the harness has seen each account create, in creation order (ids and
/// pool IPs are random, so indexes into these lists keep a shrunk case stable).
#[derive(Clone, Default)]
struct Known {
    addresses: Vec<Ipv4Addr>,
    interfaces: Vec<NetworkInterfaceId>,
    instances: Vec<InstanceId>,
    associations: Vec<AssociationId>,
    /// When each association was first seen ended (the store may later
    /// forget it: D2's retention).
    ended: BTreeMap<AssociationId, i64>,
}

/// Every record of every partition, and the pool holders of the region.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    records: BTreeMap<(Scope, RecordKey), Record>,
    holders: BTreeMap<Ipv4Addr, AccountId>,
}

fn snapshot(world: &World) -> Snapshot {
    let mut records = BTreeMap::new();
    for (scope, part) in world.partitions() {
        for key in part.record_keys() {
            let record = part.record(&key).expect("a listed key has a record");
            records.insert((scope.clone(), key), record);
        }
    }
    let mut holders = BTreeMap::new();
    if let Some(pool) = world.pool(REGION) {
        for ip in scenario_ips() {
            if let Some(holder) = pool.holder(ip) {
                holders.insert(ip, holder.clone());
            }
        }
        assert_eq!(holders.len(), pool.held_count(), "the pool holds an IP outside 10.200.0.0/24");
    }
    Snapshot { records, holders }
}

/// Every IP an operation can name: 10.200.0.0/24.
fn scenario_ips() -> impl Iterator<Item = Ipv4Addr> {
    (0..=255).map(|o| Ipv4Addr::new(10, 200, 0, o))
}

/// Loads records into a fresh World, as the embedded store does at start-up.
fn load(records: impl IntoIterator<Item = (Scope, Record)>) -> World {
    let mut world = World::default();
    for (scope, record) in records {
        world.load(&scope, record);
    }
    world
}

#[derive(Clone, Copy)]
struct Checks {
    /// Invariants 1–7 after every step.
    invariants: bool,
    /// A failed operation changes nothing; a successful one marks every
    /// record it changes dirty.
    atomicity: bool,
    /// The persisted records load back into the same World.
    replay: bool,
    /// With `invariants`: the moto flavour's PublicIp disassociation of a
    /// VPC address obeys the seed rule too (D1 does not exempt it from D3).
    moto_public_ip_seed_rule: bool,
}

impl Checks {
    const NONE: Checks = Checks { invariants: false, atomicity: false, replay: false, moto_public_ip_seed_rule: false };
}

struct Harness {
    world: World,
    settings: Settings,
    now: i64,
    scopes: Vec<Scope>,
    known: Vec<Known>,
    checks: Checks,
    /// The store's table, kept as the writer keeps it: JSON by key, written
    /// for the dirty keys of each successful operation.
    persisted: BTreeMap<(Scope, RecordKey), String>,
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

impl Harness {
    fn new(scenario: &Scenario, checks: Checks) -> Self {
        let pool = if scenario.small_pool { "10.200.0.0/29" } else { "10.200.0.0/24" };
        let settings = Settings {
            address_limit: scenario.address_limit,
            pool: vec![pool.parse().expect("valid")],
            flavor: if scenario.moto { Flavor::Moto } else { Flavor::Aws },
            ..Settings::default()
        };
        let scopes: Vec<Scope> = ACCOUNTS[..scenario.setups.len()].iter().map(|a| Scope::new(a, REGION)).collect();
        let mut h = Harness {
            world: World::default(),
            settings,
            now: START,
            known: vec![Known::default(); scopes.len()],
            scopes,
            checks,
            persisted: BTreeMap::new(),
        };
        for (account, setup) in scenario.setups.iter().enumerate() {
            h.setup(account, setup);
        }
        h.check();
        h
    }

    fn setup(&mut self, account: usize, setup: &Setup) {
        // The first write creates the partition with its default VPC.
        self.run(account, |_| Ok(())).expect("empty operation");
        if setup.default_ipv6 {
            let vpc = self.vpcs(account)[0].id.clone();
            let vpc = self.run(account, |tx| vpcs::associate_vpc_ipv6_cidr_block(tx, &vpc)).expect("vpc ipv6");
            let subnets: Vec<SubnetId> =
                self.subnets(account).into_iter().filter(|s| s.vpc_id == vpc.id).map(|s| s.id).collect();
            for (k, subnet) in subnets.iter().enumerate() {
                let block = subnet_block(&vpc, k);
                self.run(account, |tx| subnets::associate_subnet_ipv6_cidr_block(tx, subnet, block))
                    .expect("subnet ipv6");
            }
        }
        if setup.extra_vpc {
            let (vpc_cidr, subnet_cidr) =
                if setup.extra_overlaps { ("172.31.0.0/16", "172.31.0.0/24") } else { ("10.0.0.0/16", "10.0.0.0/24") };
            let input = CreateVpc {
                cidr_block: vpc_cidr.parse().expect("valid"),
                amazon_provided_ipv6_cidr_block: setup.extra_ipv6,
                instance_tenancy: "default".into(),
                tags: Tags::new(),
            };
            let vpc = self.run(account, |tx| vpcs::create_vpc(tx, input)).expect("create vpc");
            let input = CreateSubnet {
                vpc_id: vpc.id.clone(),
                cidr_block: subnet_cidr.parse().expect("valid"),
                availability_zone: Some(format!("{REGION}a")),
                ipv6_cidr_block: setup.extra_ipv6.then(|| subnet_block(&vpc, 1)),
                tags: Tags::new(),
            };
            let subnet = self.run(account, |tx| subnets::create_subnet(tx, input)).expect("create subnet");
            if setup.extra_gateway {
                self.run(account, |tx| {
                    let igw = internet_gateways::create_internet_gateway(tx, Tags::new());
                    internet_gateways::attach_internet_gateway(tx, &igw.id, &vpc.id)
                })
                .expect("gateway");
            }
            if setup.extra_dns_hostnames {
                self.run(account, |tx| vpcs::modify_vpc_attribute(tx, &vpc.id, VpcAttribute::EnableDnsHostnames, true))
                    .expect("dns hostnames");
            }
            if setup.extra_map_public_ip {
                self.run(account, |tx| {
                    subnets::modify_subnet_attribute(tx, &subnet.id, SubnetAttribute::MapPublicIpOnLaunch(true))
                })
                .expect("map public ip");
            }
        }
    }

    fn part(&self, account: usize) -> &Partition {
        self.world.partition(&self.scopes[account]).expect("created by the setup")
    }

    /// Runs one operation as the store's writer does: on error the World is
    /// restored from the clone taken before it.
    fn run<T>(&mut self, account: usize, op: impl FnOnce(&mut Tx) -> ApiResult<T>) -> ApiResult<T> {
        let scope = self.scopes[account].clone();
        let before = self.world.clone();
        let snap_before = self.checks.atomicity.then(|| snapshot(&self.world));
        let mut changes = Changes::default();
        let result = {
            let mut tx = self.world.tx(&scope, &self.settings, self.now, &mut changes);
            op(&mut tx)
        };
        if result.is_err() {
            self.world = before;
            if let Some(snap_before) = snap_before {
                // The clone kept before the operation is untouched by it.
                assert_eq!(snapshot(&self.world), snap_before, "a failed operation changed the World");
            }
            return result;
        }
        if snap_before.is_some() {
            // What a shared store writes of the pool: every IP the
            // operation took or gave back is noted as such.
            let held = |world: &World| -> BTreeSet<Ipv4Addr> {
                world.pool(&scope.region).map_or_else(BTreeSet::new, |pool| {
                    scenario_ips().filter(|ip| pool.holder(*ip) == Some(&scope.account)).collect()
                })
            };
            let (held_before, held_after) = (held(&before), held(&self.world));
            for ip in held_after.difference(&held_before) {
                assert!(changes.pool.contains(&(scope.clone(), PoolEvent::Took(*ip))), "took {ip} unnoted");
            }
            for ip in held_before.difference(&held_after) {
                assert!(changes.pool.contains(&(scope.clone(), PoolEvent::Freed(*ip))), "freed {ip} unnoted");
            }
        }
        let dirty = changes.records;
        if let Some(snap_before) = snap_before {
            let after = snapshot(&self.world);
            let dirty: BTreeSet<&(Scope, RecordKey)> = dirty.iter().collect();
            let keys: BTreeSet<&(Scope, RecordKey)> = snap_before.records.keys().chain(after.records.keys()).collect();
            for key in keys {
                if snap_before.records.get(key) != after.records.get(key) {
                    assert!(dirty.contains(key), "record {key:?} changed but was not marked dirty");
                }
            }
        }
        if self.checks.replay {
            let mut dirty = dirty;
            dirty.sort();
            dirty.dedup();
            for (scope, key) in dirty {
                match self.world.partition(&scope).and_then(|p| p.record(&key)) {
                    Some(record) => {
                        self.persisted.insert((scope, key), serde_json::to_string(&record).expect("serializable"));
                    }
                    None => {
                        self.persisted.remove(&(scope, key));
                    }
                }
            }
        }
        result
    }

    // ---- what exists, in a stable order ------------------------------------

    fn addresses(&self, account: usize) -> Vec<Ipv4Addr> {
        let part = self.part(account);
        self.known[account].addresses.iter().copied().filter(|ip| part.address(*ip).is_some()).collect()
    }

    fn interfaces(&self, account: usize) -> Vec<NetworkInterface> {
        let part = self.part(account);
        self.known[account].interfaces.iter().filter_map(|id| part.interface(id).cloned()).collect()
    }

    fn instances(&self, account: usize) -> Vec<Instance> {
        let part = self.part(account);
        self.known[account].instances.iter().filter_map(|id| part.instance(id).cloned()).collect()
    }

    fn subnets(&self, account: usize) -> Vec<Subnet> {
        let mut subnets: Vec<Subnet> = self.part(account).subnets().cloned().collect();
        subnets.sort_by_key(|s| (s.vpc_id != self.vpcs(account)[0].id, s.cidr_block));
        subnets
    }

    /// The default VPC first.
    fn vpcs(&self, account: usize) -> Vec<Vpc> {
        let mut vpcs: Vec<Vpc> = self.part(account).vpcs().cloned().collect();
        vpcs.sort_by_key(|v| (!v.is_default, v.cidr_block));
        vpcs
    }

    fn route_tables(&self, account: usize) -> Vec<RouteTable> {
        self.part(account).route_tables().cloned().collect()
    }

    fn groups(&self, account: usize) -> Vec<SecurityGroupId> {
        self.part(account).security_groups().map(|g| g.id.clone()).collect()
    }

    fn other(&self, account: usize) -> Option<usize> {
        (self.scopes.len() > 1).then_some(1 - account)
    }

    fn address_ref(&self, account: usize, sel: &AddrSel) -> AddressRef {
        match sel {
            AddrSel::Mine { idx, by_public_ip } => match pick(&self.addresses(account), *idx) {
                Some(ip) => match &self.part(account).address(ip).expect("live").allocation_id {
                    Some(id) if !by_public_ip => AddressRef::Allocation(id.clone()),
                    _ => AddressRef::PublicIp(ip),
                },
                None => AddressRef::Allocation(AllocationId::generate()),
            },
            AddrSel::OtherAccount(idx) => {
                let theirs = self.other(account).map(|o| self.addresses(o)).unwrap_or_default();
                AddressRef::PublicIp(pick(&theirs, *idx).unwrap_or(Ipv4Addr::new(10, 200, 0, 250)))
            }
            AddrSel::Unknown => AddressRef::Allocation(AllocationId::generate()),
        }
    }

    fn allocation_id(&self, account: usize, i: usize) -> Option<AllocationId> {
        let vpc: Vec<AllocationId> = self
            .addresses(account)
            .iter()
            .filter_map(|ip| self.part(account).address(*ip)?.allocation_id.clone())
            .collect();
        pick(&vpc, i)
    }

    fn instance_id(&self, account: usize, i: usize) -> InstanceId {
        pick(&self.instances(account), i).map_or_else(InstanceId::generate, |i| i.id)
    }

    fn interface_id(&self, account: usize, i: usize) -> NetworkInterfaceId {
        pick(&self.interfaces(account), i).map_or_else(NetworkInterfaceId::generate, |n| n.id)
    }

    /// A private IP for an explicit request: one in use in the account, or a
    /// free-looking one in the subnet.
    fn explicit_ip(&self, account: usize, subnet: &Subnet, i: usize) -> Ipv4Addr {
        let mut candidates: Vec<Ipv4Addr> =
            self.interfaces(account).iter().flat_map(|n| n.private_ips.iter().copied()).collect();
        candidates.push(Ipv4Addr::from(u32::from(subnet.cidr_block.network()) + 10 + (i % 8) as u32));
        candidates[i % candidates.len()]
    }

    fn remember_interfaces_of(&mut self, account: usize, instances: &[Instance]) {
        for inst in instances {
            if !self.known[account].instances.contains(&inst.id) {
                self.known[account].instances.push(inst.id.clone());
            }
            let enis: Vec<NetworkInterfaceId> =
                self.part(account).interfaces_of(&inst.id).into_iter().map(|n| n.id.clone()).collect();
            for eni in enis {
                if !self.known[account].interfaces.contains(&eni) {
                    self.known[account].interfaces.push(eni);
                }
            }
        }
    }

    // ---- one step ------------------------------------------------------------------

    fn step(&mut self, account: usize, op: &Op) {
        self.now += 1;
        match op {
            Op::Allocate { standard, at, tag } => {
                let input = AllocateAddress {
                    domain: if *standard { Domain::Standard } else { Domain::Vpc },
                    address: at.map(|o| Ipv4Addr::new(10, 200, 0, o)),
                    network_border_group: None,
                    tags: tag
                        .iter()
                        .map(|(k, v)| (TAG_KEYS[*k as usize].into(), TAG_VALUES[*v as usize].into()))
                        .collect(),
                };
                if let Ok(address) = self.run(account, |tx| addresses::allocate_address(tx, input)) {
                    let known = &mut self.known[account].addresses;
                    known.retain(|ip| *ip != address.public_ip);
                    known.push(address.public_ip);
                }
            }
            Op::Associate { addr, target, private, allow_reassociation } => {
                let address = self.address_ref(account, addr);
                let (target, eni) = match target {
                    TargetSel::Interface(i) => {
                        let eni = pick(&self.interfaces(account), *i);
                        let id = eni.as_ref().map_or_else(NetworkInterfaceId::generate, |n| n.id.clone());
                        (AssociationTarget::Interface(id), eni)
                    }
                    TargetSel::Instance(i) => {
                        let id = self.instance_id(account, *i);
                        let eni = self.part(account).interfaces_of(&id).first().map(|n| (*n).clone());
                        (AssociationTarget::Instance(id), eni)
                    }
                    TargetSel::Unknown => (AssociationTarget::Interface(NetworkInterfaceId::generate()), None),
                };
                let private_ip = match private {
                    PrivSel::Primary => None,
                    PrivSel::Nth(i) => eni.and_then(|n| pick(&n.private_ips, *i)),
                    PrivSel::Foreign => Some(Ipv4Addr::new(192, 0, 2, 1)),
                };
                let input = AssociateAddress { address, target, private_ip, allow_reassociation: *allow_reassociation };
                if let Ok(id) = self.run(account, |tx| addresses::associate_address(tx, input)) {
                    self.known[account].associations.push(id);
                }
            }
            Op::Disassociate(sel) => {
                let id = match sel {
                    AssocSel::Issued(i) => pick(&self.known[account].associations, *i),
                    AssocSel::Current(i) => {
                        let current: Vec<AssociationId> = self
                            .addresses(account)
                            .into_iter()
                            .filter_map(|ip| self.part(account).address(ip)?.association.as_ref().map(|a| a.id.clone()))
                            .collect();
                        pick(&current, *i)
                    }
                    AssocSel::NeverIssued => None,
                    AssocSel::OtherAccount(i) => {
                        self.other(account).and_then(|o| pick(&self.known[o].associations, *i))
                    }
                }
                .unwrap_or_else(AssociationId::generate);
                let _ =
                    self.run(account, |tx| addresses::disassociate_address(tx, DisassociateAddress::Association(id)));
            }
            Op::DisassociatePublicIp(sel) => {
                let ip = match self.address_ref(account, sel) {
                    AddressRef::PublicIp(ip) => ip,
                    AddressRef::Allocation(id) => self
                        .part(account)
                        .address_by_allocation(&id)
                        .map_or(Ipv4Addr::new(10, 200, 0, 251), |a| a.public_ip),
                };
                let _ = self.run(account, |tx| addresses::disassociate_address(tx, DisassociateAddress::PublicIp(ip)));
            }
            Op::Release(sel) => {
                let input = ReleaseAddress { address: self.address_ref(account, sel), network_border_group: None };
                let _ = self.run(account, |tx| addresses::release_address(tx, input));
            }
            Op::CreateInterface { subnet, secondary, ipv6, explicit_ip, group } => {
                let subnet = pick(&self.subnets(account), *subnet).expect("subnets exist");
                let groups = group.and_then(|g| pick(&self.groups(account), g)).map(GroupRef::Id).into_iter().collect();
                let spec = InterfaceSpec {
                    private_ips: explicit_ip.map(|i| self.explicit_ip(account, &subnet, i)).into_iter().collect(),
                    secondary_private_ip_count: *secondary,
                    ipv6_address_count: *ipv6,
                    groups,
                    ..InterfaceSpec::default()
                };
                if let Ok(eni) =
                    self.run(account, |tx| network_interfaces::create_network_interface(tx, &subnet.id, spec))
                {
                    self.known[account].interfaces.push(eni.id);
                }
            }
            Op::CreateGroup { vpc } => {
                let vpc = pick(&self.vpcs(account), *vpc).expect("vpcs exist");
                let name = format!("g{}", self.now);
                let input =
                    CreateSecurityGroup { name, description: "d".into(), vpc_id: Some(vpc.id), tags: Tags::new() };
                let _ = self.run(account, |tx| security_groups::create_security_group(tx, input));
            }
            Op::DeleteGroup(group) => {
                let Some(group) = pick(&self.groups(account), *group) else { return };
                let _ = self.run(account, |tx| security_groups::delete_security_group(tx, &GroupRef::Id(group)));
            }
            Op::CreateRouteTable { vpc } => {
                let vpc = pick(&self.vpcs(account), *vpc).expect("vpcs exist");
                let input = CreateRouteTable { vpc_id: vpc.id, client_token: None, tags: Tags::new() };
                let _ = self.run(account, |tx| route_tables::create_route_table(tx, input));
            }
            Op::AssociateSubnet { table, subnet } => {
                let table = pick(&self.route_tables(account), *table).expect("main tables exist");
                let subnet = pick(&self.subnets(account), *subnet).expect("subnets exist");
                let _ = self.run(account, |tx| {
                    route_tables::associate_route_table(tx, &table.id, AssociatedWith::Subnet(subnet.id))
                });
            }
            Op::MoveAssociation { table, association, to } => {
                let tables = self.route_tables(account);
                let from = pick(&tables, *table).expect("main tables exist");
                let Some(assoc) = pick(&from.associations, *association) else { return };
                let _ = match to.and_then(|t| pick(&tables, t)) {
                    Some(to) => self
                        .run(account, |tx| route_tables::replace_route_table_association(tx, &assoc.id, &to.id))
                        .map(drop),
                    None => self.run(account, |tx| route_tables::disassociate_route_table(tx, &assoc.id)),
                };
            }
            Op::DeleteRouteTable(table) => {
                let Some(table) = pick(&self.route_tables(account), *table) else { return };
                let _ = self.run(account, |tx| route_tables::delete_route_table(tx, &table.id));
            }
            Op::AuthorizeFromGroup { group, peer } => {
                let groups = self.groups(account);
                let (Some(group), Some(peer)) = (pick(&groups, *group), pick(&groups, *peer)) else { return };
                let spec = RuleSpec {
                    permission: security_groups::permission("tcp", Some(22), Some(22)).expect("valid"),
                    peer: PeerRef::Group(GroupRef::Id(peer)),
                    description: None,
                };
                let _ = self.run(account, |tx| security_groups::authorize(tx, &GroupRef::Id(group), false, &[spec]));
            }
            Op::AssignPrivateIps { eni, count, explicit_ip, allow_reassignment } => {
                let Some(eni) = pick(&self.interfaces(account), *eni) else { return };
                let subnet = self.part(account).subnet(&eni.subnet_id).cloned().expect("subnet of a live interface");
                let ips: Vec<Ipv4Addr> =
                    explicit_ip.map(|i| self.explicit_ip(account, &subnet, i)).into_iter().collect();
                let _ = self.run(account, |tx| {
                    network_interfaces::assign_private_ip_addresses(tx, &eni.id, ips, *count, *allow_reassignment)
                });
            }
            Op::UnassignPrivateIp { eni, ip } => {
                let Some(eni) = pick(&self.interfaces(account), *eni) else { return };
                let ip = pick(&eni.private_ips, *ip).expect("an interface has a primary IP");
                let _ =
                    self.run(account, |tx| network_interfaces::unassign_private_ip_addresses(tx, &eni.id, vec![ip]));
            }
            Op::Attach { eni, instance, device_index } => {
                let eni = self.interface_id(account, *eni);
                let instance = self.instance_id(account, *instance);
                let _ = self.run(account, |tx| {
                    network_interfaces::attach_network_interface(tx, &eni, &instance, *device_index)
                });
            }
            Op::Detach { eni } => {
                let attachment = pick(&self.interfaces(account), *eni)
                    .and_then(|n| n.attachment.map(|a| a.id))
                    .unwrap_or_else(AttachmentId::generate);
                let _ = self.run(account, |tx| network_interfaces::detach_network_interface(tx, &attachment));
            }
            Op::Run { subnet, public, secondary, ipv6, existing, two_nics, count, token } => {
                let subnet = pick(&self.subnets(account), *subnet).expect("subnets exist");
                let spec = InterfaceSpec {
                    secondary_private_ip_count: *secondary,
                    ipv6_address_count: *ipv6,
                    ..Default::default()
                };
                let network_interfaces = if let Some(i) = existing {
                    vec![LaunchInterface {
                        device_index: 0,
                        existing: Some(self.interface_id(account, *i)),
                        associate_public_ip_address: *public,
                        ..LaunchInterface::default()
                    }]
                } else if *two_nics {
                    (0..2)
                        .map(|device_index| LaunchInterface {
                            device_index,
                            subnet_id: Some(subnet.id.clone()),
                            associate_public_ip_address: *public,
                            spec: spec.clone(),
                            ..LaunchInterface::default()
                        })
                        .collect()
                } else {
                    vec![LaunchInterface {
                        device_index: 0,
                        subnet_id: Some(subnet.id.clone()),
                        associate_public_ip_address: *public,
                        spec,
                        ..LaunchInterface::default()
                    }]
                };
                let input = RunInstances {
                    image_id: "ami-12345678".into(),
                    instance_type: "t3.micro".into(),
                    min_count: 1,
                    max_count: *count,
                    network_interfaces,
                    client_token: token.map(|t| format!("token-{t}")),
                    ..RunInstances::default()
                };
                if let Ok(instances) = self.run(account, |tx| instances::run_instances(tx, input)) {
                    self.remember_interfaces_of(account, &instances);
                }
            }
            Op::Terminate(i) => {
                let ids: Vec<InstanceId> = i.iter().map(|i| self.instance_id(account, *i)).collect();
                let _ = self.run(account, |tx| instances::terminate_instances(tx, &ids));
            }
            Op::Stop(i) => {
                let ids: Vec<InstanceId> = i.iter().map(|i| self.instance_id(account, *i)).collect();
                let _ = self.run(account, |tx| instances::stop_instances(tx, &ids));
            }
            Op::Start(i) => {
                let ids: Vec<InstanceId> = i.iter().map(|i| self.instance_id(account, *i)).collect();
                let _ = self.run(account, |tx| instances::start_instances(tx, &ids));
            }
            Op::DeleteInterface(i) => {
                let id = self.interface_id(account, *i);
                let _ = self.run(account, |tx| network_interfaces::delete_network_interface(tx, &id));
            }
            Op::AssignIpv6(i) => {
                let id = self.interface_id(account, *i);
                let _ = self.run(account, |tx| network_interfaces::assign_ipv6_addresses(tx, &id, Vec::new(), 1));
            }
            Op::UnassignIpv6(i) => {
                let Some(eni) = pick(&self.interfaces(account), *i) else { return };
                let _ = self.run(account, |tx| {
                    network_interfaces::unassign_ipv6_addresses(tx, &eni.id, eni.ipv6_addresses.clone())
                });
            }
            Op::ModifyDnsNames { eni, hostname_type } => {
                let id = self.interface_id(account, *eni);
                let _ = self
                    .run(account, |tx| network_interfaces::modify_public_ip_dns_name_options(tx, &id, *hostname_type));
            }
            Op::DnsHostnames { vpc, on } => {
                let vpc = pick(&self.vpcs(account), *vpc).expect("the default VPC").id;
                let _ =
                    self.run(account, |tx| vpcs::modify_vpc_attribute(tx, &vpc, VpcAttribute::EnableDnsHostnames, *on));
            }
            Op::MapPublicIp { subnet, on } => {
                let subnet = pick(&self.subnets(account), *subnet).expect("subnets exist").id;
                let _ = self.run(account, |tx| {
                    subnets::modify_subnet_attribute(tx, &subnet, SubnetAttribute::MapPublicIpOnLaunch(*on))
                });
            }
            Op::VpcIpv6(i) => {
                let vpc = pick(&self.vpcs(account), *i).expect("the default VPC").id;
                let _ = self.run(account, |tx| vpcs::associate_vpc_ipv6_cidr_block(tx, &vpc));
            }
            Op::SubnetIpv6(i) => {
                let subnets = self.subnets(account);
                let subnet = pick(&subnets, *i).expect("subnets exist");
                let vpc = self.part(account).vpc(&subnet.vpc_id).cloned().expect("vpc of a subnet");
                let block = subnet_block(&vpc, *i % subnets.len());
                let _ = self.run(account, |tx| subnets::associate_subnet_ipv6_cidr_block(tx, &subnet.id, block));
            }
            Op::AttachGateway(i) => {
                let vpc = pick(&self.vpcs(account), *i).expect("the default VPC").id;
                let _ = self.run(account, |tx| {
                    let free = tx.part().internet_gateways().find(|g| g.attached_vpc.is_none()).cloned();
                    let igw = free.unwrap_or_else(|| internet_gateways::create_internet_gateway(tx, Tags::new()));
                    internet_gateways::attach_internet_gateway(tx, &igw.id, &vpc)
                });
            }
            Op::DetachGateway(i) => {
                let vpc = pick(&self.vpcs(account), *i).expect("the default VPC").id;
                let igw =
                    self.part(account).gateway_of(&vpc).map_or_else(InternetGatewayId::generate, |g| g.id.clone());
                let _ = self.run(account, |tx| internet_gateways::detach_internet_gateway(tx, &igw, &vpc));
            }
            Op::Tag { addr, also_instance, key, value } => {
                let Some(allocation) = self.allocation_id(account, *addr) else { return };
                let mut resources = vec![ResourceId::ElasticIp(allocation)];
                resources.extend(also_instance.map(|i| ResourceId::Instance(self.instance_id(account, i))));
                let tags = Tags::from([(TAG_KEYS[*key as usize].into(), TAG_VALUES[*value as usize].into())]);
                let _ = self.run(account, |tx| tags::create_tags(tx, &resources, &tags));
            }
            Op::Untag { addr, key, value } => {
                let Some(allocation) = self.allocation_id(account, *addr) else { return };
                let tags = [(TAG_KEYS[*key as usize].to_owned(), value.map(|v| TAG_VALUES[v as usize].to_owned()))];
                let _ = self.run(account, |tx| tags::delete_tags(tx, &[ResourceId::ElasticIp(allocation)], &tags));
            }
            Op::Wait(secs) => self.now += secs,
        }
        self.note_ended_associations();
        self.check();
    }

    fn note_ended_associations(&mut self) {
        for (account, known) in self.known.iter_mut().enumerate() {
            let Some(part) = self.world.partition(&self.scopes[account]) else { continue };
            for id in &known.associations {
                if let Some(ended) = part.association_ended_at(id) {
                    known.ended.entry(id.clone()).or_insert(ended);
                }
            }
        }
    }

    // ---- the checks ---------------------------------------------------------------

    fn check(&self) {
        if self.checks.invariants {
            check_world(&self.world);
            self.check_disassociation();
        }
        if self.checks.replay {
            self.check_replay();
        }
    }

    /// Invariants 6 and 7, asked of a clone of the World.
    fn check_disassociation(&self) {
        for (account, scope) in self.scopes.iter().enumerate() {
            let part = self.part(account);
            for id in &self.known[account].associations {
                let by_id = DisassociateAddress::Association(id.clone());
                match part.address_by_association(id) {
                    Some(address) => {
                        let (world, result, _) = self.try_disassociate(scope, &by_id);
                        self.expect_seed_rule(scope, address, (world, result));
                    }
                    None => {
                        let remembered = part.association_ended_at(id);
                        let ended = remembered.or_else(|| self.known[account].ended.get(id).copied());
                        let ended = ended.unwrap_or_else(|| panic!("{id} is neither current nor was seen ended"));
                        let (_, result, wrote) = self.try_disassociate(scope, &by_id);
                        if self.now - ended <= self.settings.association_retention_secs {
                            assert!(remembered.is_some(), "{id} forgotten within the retention (D2)");
                            assert!(result.is_ok(), "ended association {id} not answered as success (D2): {result:?}");
                        } else {
                            let code = result.as_ref().err().map(|e| e.code);
                            assert_eq!(code, Some("InvalidAssociationID.NotFound"), "expired {id}");
                        }
                        assert!(!wrote, "disassociating ended {id} changed the World");
                    }
                }
                // Another account's id is unknown here (D12).
                if let Some(other) = self.other(account) {
                    let (_, result, _) = self.try_disassociate(&self.scopes[other], &by_id);
                    let code = result.as_ref().err().map(|e| e.code);
                    assert_eq!(
                        code,
                        Some("InvalidAssociationID.NotFound"),
                        "{id} of {scope:?} answered to another account"
                    );
                }
            }
            let never = DisassociateAddress::Association(AssociationId::generate());
            let (_, result, _) = self.try_disassociate(scope, &never);
            let code = result.as_ref().err().map(|e| e.code);
            assert_eq!(code, Some("InvalidAssociationID.NotFound"), "a never-issued id");

            // The deprecated PublicIp (D4, D12, and D1's moto exception).
            for ip in self.addresses(account) {
                let address = part.address(ip).expect("live");
                let by_ip = DisassociateAddress::PublicIp(ip);
                let (world, result, wrote) = self.try_disassociate(scope, &by_ip);
                match (address.domain, self.settings.flavor, &address.association) {
                    (Domain::Vpc, Flavor::Moto, Some(_)) => {
                        if self.checks.moto_public_ip_seed_rule {
                            self.expect_seed_rule(scope, address, (world, result));
                        }
                        continue;
                    }
                    (Domain::Vpc, Flavor::Aws, _) => {
                        let code = result.as_ref().err().map(|e| e.code);
                        assert_eq!(code, Some("InvalidParameterValue"), "PublicIp of VPC address {ip} (D4)");
                    }
                    _ => assert!(result.is_ok(), "PublicIp of unassociated or standard {ip}: {result:?}"),
                }
                assert!(!wrote, "disassociating {ip} by PublicIp changed the World");
                // Another account cannot touch it: AuthFailure (D12), or in
                // the moto flavour simply not found.
                if let Some(other) = self.other(account) {
                    let (world, result, _) = self.try_disassociate(&self.scopes[other], &by_ip);
                    let code = result.as_ref().err().map(|e| e.code);
                    let expected =
                        if self.settings.flavor == Flavor::Moto { "InvalidAddress.NotFound" } else { "AuthFailure" };
                    assert_eq!(code, Some(expected), "{ip} of {scope:?} disassociated by another account (D12)");
                    assert_eq!(world.partition(scope).and_then(|p| p.address(ip)), Some(address), "{ip} changed");
                }
            }
        }
    }

    /// Invariant 7: a disassociation of an associated address is refused
    /// (OperationNotPermitted, nothing changed) exactly when the seed's three
    /// conditions hold; otherwise the address is free and its id has ended.
    fn expect_seed_rule(&self, scope: &Scope, address: &Address, (world, result): (World, ApiResult<()>)) {
        let part = self.world.partition(scope).expect("exists");
        let id = &address.association.as_ref().expect("associated").id;
        let ip = address.public_ip;
        let refused = seed_rule_refuses(part, address);
        match result {
            Err(e) => {
                assert!(refused, "{ip} ({id}) was refused though the seed rule allows it: {e}");
                assert_eq!(e.code, "OperationNotPermitted", "{ip} ({id}) refused with the wrong code: {e}");
            }
            Ok(()) => {
                assert!(!refused, "{ip} ({id}) was disassociated though the seed rule refuses it (D3)");
                let after = world.partition(scope).expect("exists");
                let now_address = after.address(ip).expect("still allocated");
                assert_eq!(now_address.association, None, "{ip} ({id}) still associated after disassociation");
                assert!(after.address_by_association(id).is_none(), "{id} still indexed");
                assert_eq!(after.association_ended_at(id), Some(self.now), "{id} not remembered as ended");
                check_world(&world);
            }
        }
    }

    /// DisassociateAddress on a clone of the World: the clone, the answer,
    /// and whether it wrote anything (a record or the pool).
    fn try_disassociate(&self, scope: &Scope, input: &DisassociateAddress) -> (World, ApiResult<()>, bool) {
        let mut world = self.world.clone();
        let mut changes = Changes::default();
        let held = |w: &World| w.pool(REGION).map_or(0, |p| p.held_count());
        let result = {
            let mut tx = world.tx(scope, &self.settings, self.now, &mut changes);
            addresses::disassociate_address(&mut tx, input.clone())
        };
        let wrote = !changes.records.is_empty() || held(&world) != held(&self.world);
        (world, result, wrote)
    }

    /// Loading the records back, all of them or as persisted step by step,
    /// gives the same records, the same pool holders and a World that keeps
    /// every invariant (its indexes are rebuilt from the records alone).
    fn check_replay(&self) {
        let live = snapshot(&self.world);
        let all = load(live.records.iter().map(|((scope, _), record)| (scope.clone(), record.clone())));
        assert_eq!(snapshot(&all), live, "reloading every record gives another World");
        check_world(&all);
        let persisted = load(self.persisted.iter().map(|((scope, key), json)| {
            // As the embedded store reads them back.
            let record = Record::decode(key.kind(), json.as_bytes()).expect("a persisted record parses");
            assert_eq!(&record.key(), key, "a record persisted under another key");
            (scope.clone(), record)
        }));
        let reloaded = snapshot(&persisted);
        for (key, record) in &live.records {
            assert_eq!(reloaded.records.get(key), Some(record), "the persisted record {key:?} is stale or missing");
        }
        assert_eq!(reloaded, live, "the persisted records load into another World");
    }
}

/// A /64 of a VPC's IPv6 block (or of an unrelated block when it has none).
fn subnet_block(vpc: &Vpc, k: usize) -> Ipv6Net {
    let base = vpc.ipv6_cidr.as_ref().map_or_else(|| "2001:db8::/56".parse().expect("valid"), |(_, net)| *net);
    let network = u128::from(base.network()) | ((k as u128 & 0xff) << 64);
    Ipv6Net::new(network.into(), 64).expect("valid prefix")
}

/// Invariant 7 from the records alone: the interface's hostname type is
/// dual-stack and it has the name (DNS hostnames on in its VPC, an IPv6
/// address, a primary public IPv4), the address is on its primary private
/// IP, and it is the interface's only public IPv4.
fn seed_rule_refuses(part: &Partition, address: &Address) -> bool {
    let assoc = address.association.as_ref().expect("associated");
    let eni = part.interface(&assoc.network_interface_id).expect("no dangling association");
    let hostnames = part.vpc(&eni.vpc_id).is_some_and(|v| v.enable_dns_hostnames);
    let expected = expected_public_ipv4s(part, eni);
    let primary_public = expected.first().is_some_and(|(private, _)| *private == eni.primary_private_ip());
    let dual = eni.hostname_type == Some(HostnameType::PublicDualStackDnsName)
        && hostnames
        && !eni.ipv6_addresses.is_empty()
        && primary_public;
    assert_eq!(
        part.dns_name_options(eni, REGION).has_public_dual_stack_name(),
        dual,
        "dns_name_options disagrees with the records about {}'s dual-stack name",
        eni.id
    );
    dual && assoc.private_ip == eni.primary_private_ip() && part.public_ipv4s(eni).len() == 1
}

/// The public IPv4s of an interface from the address records (not the
/// indexes): the Elastic IP on each private IP, else the auto-assigned IP on
/// the primary one.
fn expected_public_ipv4s(part: &Partition, eni: &NetworkInterface) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let elastic: BTreeMap<Ipv4Addr, Ipv4Addr> = part
        .addresses()
        .filter_map(|a| {
            let assoc = a.association.as_ref()?;
            (assoc.network_interface_id == eni.id).then_some((assoc.private_ip, a.public_ip))
        })
        .collect();
    let mut out = Vec::new();
    for (i, private) in eni.private_ips.iter().enumerate() {
        if let Some(public) = elastic.get(private) {
            out.push((*private, *public));
        } else if i == 0
            && let Some(auto) = eni.auto_public_ip
        {
            out.push((*private, auto));
        }
    }
    out
}

/// Invariants 1–5 (and what follows from the same rules) over every partition.
fn check_world(world: &World) {
    // Invariant 4: every public IP has one holder, the account that uses it.
    let mut public: BTreeMap<Ipv4Addr, (Scope, &'static str)> = BTreeMap::new();
    let mut claim = |ip: Ipv4Addr, scope: &Scope, what: &'static str| {
        if let Some(earlier) = public.insert(ip, (scope.clone(), what)) {
            panic!("public IP {ip} is both {earlier:?} and {what} of {scope:?}");
        }
        let pool = world.pool(&scope.region).unwrap_or_else(|| panic!("no pool for {scope:?}"));
        assert_eq!(pool.holder(ip), Some(&scope.account), "pool holder of {what} {ip} of {scope:?}");
    };
    for (scope, part) in world.partitions() {
        for a in part.addresses() {
            claim(a.public_ip, scope, "address");
        }
        for n in part.interfaces() {
            if let Some(ip) = n.auto_public_ip {
                claim(ip, scope, "auto-assigned IP");
            }
        }
        check_partition(scope, part);
    }
    let held: usize = world.pool(REGION).map_or(0, |p| p.held_count());
    assert_eq!(held, public.len(), "the pool holds IPs no address or interface has (leak) or misses some");
}

fn check_partition(scope: &Scope, part: &Partition) {
    // Invariants 1 and 2.
    let mut association_ids = BTreeSet::new();
    let mut targets: BTreeMap<(NetworkInterfaceId, Ipv4Addr), Ipv4Addr> = BTreeMap::new();
    for a in part.addresses() {
        assert_eq!(part.address(a.public_ip), Some(a));
        assert_eq!(&*a.network_border_group, &*scope.region);
        assert_eq!(a.domain == Domain::Vpc, a.allocation_id.is_some(), "{}: allocation id iff vpc", a.public_ip);
        if let Some(id) = &a.allocation_id {
            // The indexes hold the addresses themselves: as they are now, not an older copy.
            assert_eq!(part.address_by_allocation(id), Some(a), "allocation index");
        }
        let Some(assoc) = &a.association else { continue };
        assert_eq!(a.domain, Domain::Vpc, "{}: a standard address is associated", a.public_ip);
        assert!(association_ids.insert(assoc.id.clone()), "association id {} on two addresses", assoc.id);
        assert_eq!(part.address_by_association(&assoc.id), Some(a), "association {} not found by its id", assoc.id);
        assert_eq!(part.association_ended_at(&assoc.id), None, "current association {} remembered as ended", assoc.id);
        let target = (assoc.network_interface_id.clone(), assoc.private_ip);
        if let Some(other) = targets.insert(target.clone(), a.public_ip) {
            panic!("{target:?} carries both {other} and {}", a.public_ip);
        }
        let eni = part
            .interface(&assoc.network_interface_id)
            .unwrap_or_else(|| panic!("{} is associated with the missing {}", a.public_ip, assoc.network_interface_id));
        assert!(
            eni.private_ips.contains(&assoc.private_ip),
            "{} is associated with {} which {} does not have",
            a.public_ip,
            assoc.private_ip,
            eni.id
        );
        assert_eq!(part.address_on(&eni.id, assoc.private_ip).map(|x| x.public_ip), Some(a.public_ip), "target index");
    }

    // Nothing else is indexed: no entry outlives its address, id or tag.
    let with_allocation = part.addresses().filter(|a| a.allocation_id.is_some()).count();
    let associated = part.addresses().filter(|a| a.association.is_some()).count();
    let tags: usize = part.addresses().map(|a| a.tags.len()).sum();
    assert_eq!(part.index_sizes(), (with_allocation, associated, tags), "index entries without an address");

    // The tag index answers exactly the addresses carrying each tag.
    for key in TAG_KEYS {
        for value in TAG_VALUES {
            let indexed: BTreeMap<Ipv4Addr, &Address> =
                part.addresses_tagged(key, value).map(|a| (a.public_ip, a)).collect();
            let scanned: BTreeMap<Ipv4Addr, &Address> = part
                .addresses()
                .filter(|a| a.tags.get(key).map(String::as_str) == Some(value))
                .map(|a| (a.public_ip, a))
                .collect();
            assert_eq!(indexed, scanned, "tag index for {key}={value}");
        }
    }

    // Invariants 3 and 5 on the interfaces.
    let mut private: BTreeMap<(VpcId, Ipv4Addr), NetworkInterfaceId> = BTreeMap::new();
    for eni in part.interfaces() {
        assert!(!eni.private_ips.is_empty(), "{} has no primary private IP", eni.id);
        let subnet = part.subnet(&eni.subnet_id).unwrap_or_else(|| panic!("{} is in a missing subnet", eni.id));
        assert_eq!(subnet.vpc_id, eni.vpc_id);
        assert_eq!(subnet.availability_zone, eni.availability_zone);
        for ip in &eni.private_ips {
            assert!(subnet.cidr_block.contains(ip), "{}'s {ip} is outside its subnet", eni.id);
            if let Some(other) = private.insert((eni.vpc_id.clone(), *ip), eni.id.clone()) {
                panic!("private IP {ip} of {} belongs to both {other} and {}", eni.vpc_id, eni.id);
            }
            assert_eq!(part.interface_with_private_ip(&eni.vpc_id, *ip), Some(&eni.id), "private IP index of {ip}");
        }
        let on_it: BTreeSet<Ipv4Addr> = targets.iter().filter(|((n, _), _)| n == &eni.id).map(|(_, ip)| *ip).collect();
        let indexed: BTreeSet<Ipv4Addr> = part.addresses_on_interface(&eni.id).map(|a| a.public_ip).collect();
        assert_eq!(indexed, on_it, "the target index of {} is stale", eni.id);

        let expected = expected_public_ipv4s(part, eni);
        let got: Vec<(Ipv4Addr, Ipv4Addr)> =
            part.public_ipv4s(eni).iter().map(|p| (p.private_ip, p.public_ip)).collect();
        assert_eq!(got, expected, "public IPv4s of {}", eni.id);
        if let Some(auto) = eni.auto_public_ip {
            // A hidden auto-assigned IP would be held without being used.
            assert!(
                part.address_on(&eni.id, eni.primary_private_ip()).is_none(),
                "{} keeps auto-assigned {auto} under an Elastic IP",
                eni.id
            );
            let running = eni
                .instance_id()
                .and_then(|i| part.instance(i))
                .is_some_and(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending));
            assert!(running, "{} has auto-assigned {auto} without a running instance", eni.id);
        }
        if let Some(att) = &eni.attachment {
            let inst = part
                .instance(&att.instance_id)
                .unwrap_or_else(|| panic!("{} is attached to the missing {}", eni.id, att.instance_id));
            assert_ne!(inst.state, InstanceState::Terminated, "{} is attached to terminated {}", eni.id, inst.id);
            assert_eq!((&inst.vpc_id, &inst.availability_zone), (&eni.vpc_id, &eni.availability_zone));
            assert!(part.interfaces_of(&inst.id).iter().any(|n| n.id == eni.id), "instance index of {}", eni.id);
        }
    }
    // Nothing else is indexed as a private IP: every indexed (vpc, ip) was
    // found above, so a lookup of an unlisted one must miss.
    for ((vpc, ip), eni) in &private {
        assert_eq!(part.interface_with_private_ip(vpc, *ip), Some(eni));
    }

    // Security groups: one default group per VPC; every group's VPC, rule
    // peer and interface group resolves within the VPC; the indexes agree.
    for vpc in part.vpcs() {
        let defaults = part.security_groups().filter(|g| g.vpc_id == vpc.id && g.is_default()).count();
        assert_eq!(defaults, 1, "{} has {defaults} default groups", vpc.id);
    }
    for group in part.security_groups() {
        assert!(part.vpc(&group.vpc_id).is_some(), "{} outlives its VPC", group.id);
        assert_eq!(part.security_group_named(&group.vpc_id, &group.name).map(|g| &g.id), Some(&group.id));
        for rule in &group.rules {
            assert_eq!(part.group_of_rule(&rule.id).map(|g| &g.id), Some(&group.id), "rule index of {}", rule.id);
            if let RulePeer::Group(peer) = &rule.peer {
                let peer = part.security_group(peer).unwrap_or_else(|| panic!("{} names a missing {peer}", group.id));
                assert_eq!(peer.vpc_id, group.vpc_id, "{} names a group of another VPC", group.id);
            }
        }
    }
    // Route tables: one main table per VPC; associations name subnets of
    // the table's VPC, each target at most once; the indexes agree.
    for vpc in part.vpcs() {
        let mains: Vec<&RouteTable> = part.route_tables().filter(|t| t.vpc_id == vpc.id && t.is_main()).collect();
        assert_eq!(mains.len(), 1, "{} has {} main tables", vpc.id, mains.len());
        assert_eq!(part.main_route_table(&vpc.id).map(|t| &t.id), Some(&mains[0].id), "main index of {}", vpc.id);
    }
    let mut targets = BTreeSet::new();
    for table in part.route_tables() {
        assert!(part.vpc(&table.vpc_id).is_some(), "{} outlives its VPC", table.id);
        assert!(table.associations.iter().filter(|a| a.target == AssociatedWith::Main).count() <= 1);
        for assoc in &table.associations {
            assert_eq!(part.route_table_with_association(&assoc.id).map(|t| &t.id), Some(&table.id), "{}", assoc.id);
            if let AssociatedWith::Subnet(subnet) = &assoc.target {
                let s = part.subnet(subnet).unwrap_or_else(|| panic!("{} names a missing {subnet}", table.id));
                assert_eq!(s.vpc_id, table.vpc_id, "{} is associated with a subnet of another VPC", table.id);
                assert!(targets.insert(subnet.clone()), "{subnet} has two associations");
                let indexed = part.route_table_associated_with(&assoc.target).map(|t| &t.id);
                assert_eq!(indexed, Some(&table.id), "association index of {subnet}");
            }
        }
    }
    for subnet in part.subnets() {
        if !targets.contains(&subnet.id) {
            assert!(part.route_table_associated_with(&AssociatedWith::Subnet(subnet.id.clone())).is_none());
        }
    }

    for eni in part.interfaces() {
        assert!((1..=5).contains(&eni.groups.len()), "{} carries {} groups", eni.id, eni.groups.len());
        for group in &eni.groups {
            let g = part.security_group(group).unwrap_or_else(|| panic!("{} carries a missing {group}", eni.id));
            assert_eq!(g.vpc_id, eni.vpc_id, "{} carries a group of another VPC", eni.id);
        }
    }

    for inst in part.instances() {
        let enis = part.interfaces_of(&inst.id);
        for n in &enis {
            assert_eq!(n.instance_id(), Some(&inst.id), "instance index of {} lists {}", inst.id, n.id);
        }
        let attached = part.interfaces().filter(|n| n.instance_id() == Some(&inst.id)).count();
        assert_eq!(enis.len(), attached, "instance index of {}", inst.id);
        if inst.state == InstanceState::Terminated {
            assert!(enis.is_empty(), "terminated {} still has interfaces", inst.id);
        } else {
            let devices: BTreeSet<u32> =
                enis.iter().filter_map(|n| n.attachment.as_ref()).map(|a| a.device_index).collect();
            assert_eq!(devices.len(), enis.len(), "{} has two interfaces at one device index", inst.id);
            assert!(devices.contains(&0), "{} has no primary interface", inst.id);
        }
    }
}

fn run_scenario(scenario: &Scenario, checks: Checks) {
    let mut h = Harness::new(scenario, checks);
    for (account, op) in &scenario.steps {
        h.step(*account, op);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_invariant(scenario in scenario()) {
        run_scenario(&scenario, Checks { invariants: true, ..Checks::NONE });
    }

    #[test]
    fn failed_operations_change_nothing_and_changes_are_marked_dirty(scenario in scenario()) {
        run_scenario(&scenario, Checks { atomicity: true, ..Checks::NONE });
    }

    #[test]
    fn persisted_records_load_back_into_the_same_world(scenario in scenario()) {
        run_scenario(&scenario, Checks { replay: true, ..Checks::NONE });
    }

    /// Fails: see `moto_public_ip_disassociation_obeys_the_seed_rule`.
    #[test]
    fn moto_public_ip_disassociation_keeps_the_seed_rule(
        scenario in scenario().prop_map(|s| Scenario { moto: true, ..s })
    ) {
        run_scenario(&scenario, Checks { invariants: true, moto_public_ip_seed_rule: true, ..Checks::NONE });
    }
}

fn dual_stack_setup() -> Setup {
    Setup {
        default_ipv6: true,
        extra_vpc: false,
        extra_gateway: false,
        extra_dns_hostnames: false,
        extra_ipv6: false,
        extra_map_public_ip: false,
        extra_overlaps: false,
    }
}

/// An interface in the default VPC with an IPv6 address, the dual-stack
/// hostname type and one Elastic IP on its primary private IP.
fn dual_stack_interface_with_one_address(moto: bool) -> Harness {
    let scenario =
        Scenario { small_pool: false, moto, address_limit: None, setups: vec![dual_stack_setup()], steps: Vec::new() };
    let mut h = Harness::new(&scenario, Checks { invariants: true, atomicity: true, replay: true, ..Checks::NONE });
    h.step(0, &Op::CreateInterface { subnet: 0, secondary: 1, ipv6: 1, explicit_ip: None, group: None });
    h.step(0, &Op::ModifyDnsNames { eni: 0, hostname_type: HostnameType::PublicDualStackDnsName });
    h.step(0, &Op::Allocate { standard: false, at: None, tag: None });
    let mine = AddrSel::Mine { idx: 0, by_public_ip: false };
    h.step(
        0,
        &Op::Associate {
            addr: mine,
            target: TargetSel::Interface(0),
            private: PrivSel::Primary,
            allow_reassociation: true,
        },
    );
    assert_eq!(h.known[0].associations.len(), 1, "set-up association");
    h
}

/// The seed rule by AssociationId: refused while the address is the last
/// public IPv4, allowed once a second one is on a secondary private IP.
#[test]
fn seed_rule_refuses_the_last_dual_stack_ipv4_only() {
    let mut h = dual_stack_interface_with_one_address(false);
    let first = h.known[0].associations[0].clone();
    let result = h.run(0, |tx| addresses::disassociate_address(tx, DisassociateAddress::Association(first.clone())));
    assert_eq!(result.map_err(|e| e.code), Err("OperationNotPermitted"));
    h.step(0, &Op::Allocate { standard: false, at: None, tag: None });
    let second = AddrSel::Mine { idx: 1, by_public_ip: false };
    h.step(
        0,
        &Op::Associate {
            addr: second,
            target: TargetSel::Interface(0),
            private: PrivSel::Nth(1),
            allow_reassociation: true,
        },
    );
    let result = h.run(0, |tx| addresses::disassociate_address(tx, DisassociateAddress::Association(first.clone())));
    assert_eq!(result.map_err(|e| e.code), Ok(()));
    h.check();
}

/// D2's retention: ended associations past it are deleted (durably: the
/// replay check) by later endings in their partition, two per ending, so a
/// long-lived server does not keep one record per association ever ended.
#[test]
fn expired_association_ids_are_forgotten_by_later_endings() {
    let scenario = Scenario {
        small_pool: false,
        moto: false,
        address_limit: None,
        setups: vec![dual_stack_setup()],
        steps: Vec::new(),
    };
    let mut h = Harness::new(&scenario, Checks { invariants: true, atomicity: true, replay: true, ..Checks::NONE });
    h.settings.association_retention_secs = 100;
    h.step(0, &Op::CreateInterface { subnet: 0, secondary: 0, ipv6: 0, explicit_ip: None, group: None });
    h.step(0, &Op::Allocate { standard: false, at: None, tag: None });
    let cycle = |h: &mut Harness| {
        let addr = AddrSel::Mine { idx: 0, by_public_ip: false };
        let target = TargetSel::Interface(0);
        h.step(0, &Op::Associate { addr, target, private: PrivSel::Primary, allow_reassociation: true });
        let last = h.known[0].associations.len() - 1;
        h.step(0, &Op::Disassociate(AssocSel::Issued(last)));
    };
    for _ in 0..5 {
        cycle(&mut h);
    }
    let ended =
        |h: &Harness| h.known[0].associations.iter().filter(|id| h.part(0).association_ended_at(id).is_some()).count();
    assert_eq!(ended(&h), 5, "all five within the retention");
    h.step(0, &Op::Wait(101));
    cycle(&mut h);
    assert_eq!(ended(&h), 4, "one new ending forgot two expired ones");
    cycle(&mut h);
    cycle(&mut h);
    assert_eq!(ended(&h), 3, "the three endings since the wait are all that is left");
    let first = h.known[0].associations[0].clone();
    let result = h.run(0, |tx| addresses::disassociate_address(tx, DisassociateAddress::Association(first)));
    assert_eq!(result.map_err(|e| e.code), Err("InvalidAssociationID.NotFound"));
}

/// Minimal reproduction of a domain bug (D1 vs D3): in the moto flavour,
/// DisassociateAddress with PublicIp of a VPC address skips the seed rule
/// that the same request by AssociationId (and ReleaseAddress) obeys, so the
/// interface loses its last public IPv4 under a dual-stack hostname.
#[test]
fn moto_public_ip_disassociation_obeys_the_seed_rule() {
    let mut h = dual_stack_interface_with_one_address(true);
    let id = h.known[0].associations[0].clone();
    let result = h.run(0, |tx| addresses::disassociate_address(tx, DisassociateAddress::Association(id.clone())));
    assert_eq!(result.map_err(|e| e.code), Err("OperationNotPermitted"), "by AssociationId");
    let ip = h.addresses(0)[0];
    let result = h.run(0, |tx| addresses::disassociate_address(tx, DisassociateAddress::PublicIp(ip)));
    assert_eq!(result.map_err(|e| e.code), Err("OperationNotPermitted"), "by PublicIp (moto flavour)");
}
