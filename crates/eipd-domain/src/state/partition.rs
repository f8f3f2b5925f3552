//! One account's resources in one region, and the indexes every lookup uses.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::ops::Bound;
use std::sync::Arc;

use imbl::{HashMap, OrdMap, OrdSet};
use ipnet::Ipv4Net;

use super::{Record, RecordKey};
use crate::ids::*;
use crate::model::*;
use crate::route_tables::main_route_table;
use crate::security_groups::default_security_group;

/// One account's resources in one region, with the indexes every lookup of
/// the API uses (no operation scans all addresses unless asked for all).
#[derive(Clone, Default)]
pub struct Partition {
    /// Behind an Arc: copying a map node on write copies pointers, not addresses.
    addresses: OrdMap<Ipv4Addr, Arc<Address>>,
    by_allocation: AddressIndex<AllocationId>,
    by_association: AddressIndex<AssociationId>,
    by_target: OrdMap<(NetworkInterfaceId, Ipv4Addr), Ipv4Addr>,
    by_tag: TagIndex,
    /// The highest allocation sequence number handed out.
    last_address_seq: u64,
    ended_associations: OrdMap<AssociationId, i64>,
    /// The same, oldest first: expired ones are found without a scan (D2).
    ended_by_time: OrdSet<(i64, AssociationId)>,
    vpcs: OrdMap<VpcId, Vpc>,
    subnets: OrdMap<SubnetId, Subnet>,
    internet_gateways: OrdMap<InternetGatewayId, InternetGateway>,
    interfaces: OrdMap<NetworkInterfaceId, NetworkInterface>,
    interfaces_by_instance: OrdSet<(InstanceId, NetworkInterfaceId)>,
    private_ips: OrdMap<(VpcId, Ipv4Addr), NetworkInterfaceId>,
    instances: OrdMap<InstanceId, Instance>,
    security_groups: OrdMap<SecurityGroupId, SecurityGroup>,
    key_pairs: OrdMap<KeyPairId, KeyPair>,
    /// Key pair names are unique per account and region.
    key_pairs_by_name: OrdMap<String, KeyPairId>,
    /// Group names are unique per VPC: lookups by name and the duplicate check.
    groups_by_name: OrdMap<(VpcId, String), SecurityGroupId>,
    /// The group of each rule (DescribeSecurityGroupRules by id).
    rule_groups: OrdMap<SecurityGroupRuleId, SecurityGroupId>,
    /// How many groups are some VPC's default one.
    default_groups: usize,
    route_tables: OrdMap<RouteTableId, RouteTable>,
    /// The table holding each association.
    route_table_associations: OrdMap<RouteTableAssociationId, RouteTableId>,
    /// Each VPC's main table.
    main_route_tables: OrdMap<VpcId, RouteTableId>,
    /// The table a subnet or gateway is explicitly associated with.
    associated_route_tables: OrdMap<AssociatedWith, RouteTableId>,
    nat_gateways: OrdMap<NatGatewayId, NatGateway>,
    dhcp_options: OrdMap<DhcpOptionsId, DhcpOptions>,
}

/// An id that addresses are looked up by: only ever looked up, never ranged
/// over.
trait AddressKey: Hash + Eq {
    fn of(address: &Address) -> Option<&Self>;
}

impl AddressKey for AllocationId {
    fn of(address: &Address) -> Option<&Self> {
        address.allocation_id.as_ref()
    }
}

impl AddressKey for AssociationId {
    fn of(address: &Address) -> Option<&Self> {
        address.association.as_deref().map(|assoc| &assoc.id)
    }
}

/// The addresses that have a `K`, by it. A hash trie (32 ways) rather than
/// an ordered map (16): at a million addresses every level is a cache miss.
/// Each entry is the address itself, hashed and compared as its `K`: one
/// pointer per entry, and a lookup needs no second one in `addresses`.
#[derive(Clone)]
struct AddressIndex<K>(HashMap<Keyed<K>, ()>);

impl<K> Default for AddressIndex<K> {
    fn default() -> Self {
        Self(HashMap::default())
    }
}

impl<K: AddressKey> AddressIndex<K> {
    fn get(&self, key: &K) -> Option<&Address> {
        self.0.get_key_value(key).map(|(keyed, ())| keyed.0.as_ref())
    }

    fn insert(&mut self, address: &Arc<Address>) {
        if K::of(address).is_some() {
            self.0.insert(Keyed(address.clone(), PhantomData), ());
        }
    }

    fn remove(&mut self, address: &Address) {
        if let Some(key) = K::of(address) {
            self.0.remove(key);
        }
    }
}

/// An address that has a `K` (only those are indexed), as that `K`.
struct Keyed<K>(Arc<Address>, PhantomData<K>);

impl<K> Clone for Keyed<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<K: AddressKey> Borrow<K> for Keyed<K> {
    fn borrow(&self) -> &K {
        K::of(&self.0).expect("only addresses with the key are indexed")
    }
}

impl<K: AddressKey> Hash for Keyed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<K>::borrow(self).hash(state)
    }
}

impl<K: AddressKey> PartialEq for Keyed<K> {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<K>::borrow(self) == Borrow::<K>::borrow(other)
    }
}

impl<K: AddressKey> Eq for Keyed<K> {}

/// The addresses carrying each tag, by a hash of its key and value: a lookup
/// builds no key and the index holds no copy of the strings. The addresses
/// under a hash are checked for the tag itself, so a collision costs a
/// comparison, never a wrong answer.
#[derive(Clone, Default)]
struct TagIndex(HashMap<u64, TagHolders>);

#[derive(Clone)]
enum TagHolders {
    /// Most tag values (names, ids) are on one address: no map for those.
    One(Arc<Address>),
    Many(OrdMap<Ipv4Addr, Arc<Address>>),
}

fn tag_hash(key: &str, value: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (key, value).hash(&mut hasher);
    hasher.finish()
}

impl TagIndex {
    fn insert(&mut self, address: &Arc<Address>) {
        for (key, value) in &address.tags {
            self.insert_under(tag_hash(key, value), address);
        }
    }

    fn insert_under(&mut self, hash: u64, address: &Arc<Address>) {
        let Some(holders) = self.0.get_mut(&hash) else {
            self.0.insert(hash, TagHolders::One(address.clone()));
            return;
        };
        match holders {
            TagHolders::One(other) if other.public_ip == address.public_ip => *other = address.clone(),
            TagHolders::One(other) => {
                let many = OrdMap::from_iter([(other.public_ip, other.clone()), (address.public_ip, address.clone())]);
                *holders = TagHolders::Many(many);
            }
            TagHolders::Many(many) => {
                many.insert(address.public_ip, address.clone());
            }
        }
    }

    fn remove(&mut self, address: &Address) {
        for (key, value) in &address.tags {
            self.remove_under(tag_hash(key, value), address.public_ip);
        }
    }

    fn remove_under(&mut self, hash: u64, ip: Ipv4Addr) {
        let Some(holders) = self.0.get_mut(&hash) else { return };
        match holders {
            TagHolders::One(a) if a.public_ip == ip => {
                self.0.remove(&hash);
            }
            TagHolders::One(_) => {}
            // A Many holds two or more: one left is a One again.
            TagHolders::Many(many) => {
                many.remove(&ip);
                if many.len() == 1 {
                    let last = many.values().next().expect("one left").clone();
                    *holders = TagHolders::One(last);
                }
            }
        }
    }

    /// The addresses whose tag `key` is exactly `value`, in no order.
    fn tagged<'a>(&'a self, key: &str, value: &str) -> impl Iterator<Item = &'a Address> {
        self.tagged_under(tag_hash(key, value), key, value)
    }

    fn tagged_under<'a>(&'a self, hash: u64, key: &str, value: &str) -> impl Iterator<Item = &'a Address> {
        let (one, many) = match self.0.get(&hash) {
            None => (None, None),
            Some(TagHolders::One(a)) => (Some(a), None),
            Some(TagHolders::Many(many)) => (None, Some(many.values())),
        };
        one.into_iter()
            .chain(many.into_iter().flatten())
            .map(Arc::as_ref)
            .filter(move |a| a.tags.get(key).is_some_and(|v| v == value))
    }

    /// (tag, address) pairs held, for the invariant checks.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0
            .values()
            .map(|holders| match holders {
                TagHolders::One(_) => 1,
                TagHolders::Many(many) => many.len(),
            })
            .sum()
    }
}

/// The availability zones of a region, as the default VPC has one subnet in each.
pub fn availability_zones(region: &str) -> [String; 3] {
    [format!("{region}a"), format!("{region}b"), format!("{region}c")]
}

impl Partition {
    /// A partition as AWS gives a new account: a default VPC (172.31.0.0/16)
    /// with a default subnet per zone and an attached internet gateway. Ids
    /// are derived from the scope, so reads before the first write see the
    /// same ids the first write stores.
    pub fn with_defaults(scope: &Scope) -> Self {
        let seed = format!("{}/{}", scope.account, scope.region);
        let vpc_id = VpcId::derived(&format!("{seed}/vpc"));
        let mut part = Partition::default();
        let dhcp_options = crate::dhcp_options::default_dhcp_options(scope);
        part.put(Record::Vpc(Vpc {
            id: vpc_id.clone(),
            cidr_block: "172.31.0.0/16".parse().expect("valid"),
            cidr_association_id: CidrAssociationId::derived(&format!("{seed}/vpc-cidr")),
            is_default: true,
            enable_dns_support: true,
            enable_dns_hostnames: true,
            instance_tenancy: "default".into(),
            ipv6_cidr: None,
            secondary_cidrs: Vec::new(),
            ended_ipv4: Vec::new(),
            ended_ipv6: Vec::new(),
            dhcp_options_id: Some(dhcp_options.id.clone()),
            tags: Tags::new(),
        }));
        part.put(Record::DhcpOptions(dhcp_options));
        for (i, az) in availability_zones(&scope.region).into_iter().enumerate() {
            part.put(Record::Subnet(Subnet {
                id: SubnetId::derived(&format!("{seed}/subnet/{i}")),
                vpc_id: vpc_id.clone(),
                cidr_block: Ipv4Net::new(Ipv4Addr::new(172, 31, (i * 16) as u8, 0), 20).expect("valid"),
                availability_zone: az,
                default_for_az: true,
                map_public_ip_on_launch: true,
                assign_ipv6_address_on_creation: false,
                ipv6_cidr: None,
                ended_ipv6: Vec::new(),
                tags: Tags::new(),
            }));
        }
        part.put(Record::InternetGateway(InternetGateway {
            id: InternetGatewayId::derived(&format!("{seed}/igw")),
            attached_vpc: Some(vpc_id.clone()),
            tags: Tags::new(),
        }));
        part.put(Record::SecurityGroup(default_security_group(&vpc_id, false)));
        part.put(Record::RouteTable(main_route_table(&vpc_id)));
        part
    }

    // ---- reads -------------------------------------------------------------

    pub fn address(&self, ip: Ipv4Addr) -> Option<&Address> {
        self.addresses.get(&ip).map(Arc::as_ref)
    }

    pub fn address_by_allocation(&self, id: &AllocationId) -> Option<&Address> {
        self.by_allocation.get(id)
    }

    pub fn address_by_association(&self, id: &AssociationId) -> Option<&Address> {
        self.by_association.get(id)
    }

    /// Entries in the allocation, association and tag indexes, for the
    /// invariant checks: an entry left behind would answer for an address
    /// that no longer has that id or tag.
    #[cfg(test)]
    pub fn index_sizes(&self) -> (usize, usize, usize) {
        (self.by_allocation.0.len(), self.by_association.0.len(), self.by_tag.len())
    }

    /// The Elastic IP on one private IP of an interface.
    pub fn address_on(&self, eni: &NetworkInterfaceId, private_ip: Ipv4Addr) -> Option<&Address> {
        self.by_target.get(&(eni.clone(), private_ip)).and_then(|ip| self.address(*ip))
    }

    /// The Elastic IPs on an interface, by private IP.
    pub fn addresses_on_interface<'a>(&'a self, eni: &NetworkInterfaceId) -> impl Iterator<Item = &'a Address> + 'a {
        let lo = (eni.clone(), Ipv4Addr::UNSPECIFIED);
        let hi = (eni.clone(), Ipv4Addr::BROADCAST);
        self.by_target.range((Bound::Included(lo), Bound::Included(hi))).filter_map(|(_, ip)| self.address(*ip))
    }

    /// Addresses whose tag `key` has exactly `value`, in no order.
    pub fn addresses_tagged<'a>(&'a self, key: &str, value: &str) -> impl Iterator<Item = &'a Address> {
        self.by_tag.tagged(key, value)
    }

    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.addresses.values().map(Arc::as_ref)
    }

    /// Addresses after `after` in IP order (pagination).
    pub fn addresses_after(&self, after: Option<Ipv4Addr>) -> impl Iterator<Item = &Address> {
        let lower = match after {
            Some(ip) => Bound::Excluded(ip),
            None => Bound::Unbounded,
        };
        self.addresses.range((lower, Bound::Unbounded)).map(|(_, a)| a.as_ref())
    }

    pub fn address_count(&self) -> usize {
        self.addresses.len()
    }

    /// The sequence number the next allocated address gets.
    pub fn next_address_seq(&self) -> u64 {
        self.last_address_seq + 1
    }

    pub fn association_ended_at(&self, id: &AssociationId) -> Option<i64> {
        self.ended_associations.get(id).copied()
    }

    /// Ended associations that ended before `cutoff`, oldest first.
    pub fn associations_ended_before(&self, cutoff: i64) -> impl Iterator<Item = &AssociationId> {
        self.ended_by_time.iter().take_while(move |(ended, _)| *ended < cutoff).map(|(_, id)| id)
    }

    pub fn vpc(&self, id: &VpcId) -> Option<&Vpc> {
        self.vpcs.get(id)
    }

    pub fn vpcs(&self) -> impl Iterator<Item = &Vpc> {
        self.vpcs.values()
    }

    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.vpcs.values().find(|v| v.is_default)
    }

    pub fn subnet(&self, id: &SubnetId) -> Option<&Subnet> {
        self.subnets.get(id)
    }

    pub fn subnets(&self) -> impl Iterator<Item = &Subnet> {
        self.subnets.values()
    }

    pub fn internet_gateway(&self, id: &InternetGatewayId) -> Option<&InternetGateway> {
        self.internet_gateways.get(id)
    }

    pub fn internet_gateways(&self) -> impl Iterator<Item = &InternetGateway> {
        self.internet_gateways.values()
    }

    /// The internet gateway attached to a VPC, if any.
    pub fn gateway_of(&self, vpc: &VpcId) -> Option<&InternetGateway> {
        self.internet_gateways.values().find(|g| g.attached_vpc.as_ref() == Some(vpc))
    }

    pub fn interface(&self, id: &NetworkInterfaceId) -> Option<&NetworkInterface> {
        self.interfaces.get(id)
    }

    pub fn interfaces(&self) -> impl Iterator<Item = &NetworkInterface> {
        self.interfaces.values()
    }

    /// An instance's interfaces, by device index.
    pub fn interfaces_of(&self, instance: &InstanceId) -> Vec<&NetworkInterface> {
        let lo = (instance.clone(), NetworkInterfaceId::parse("eni-00000000").expect("valid"));
        let mut out: Vec<&NetworkInterface> = self
            .interfaces_by_instance
            .range((Bound::Included(lo), Bound::Unbounded))
            .take_while(|(i, _)| i == instance)
            .filter_map(|(_, eni)| self.interfaces.get(eni))
            .collect();
        out.sort_by_key(|n| n.attachment.as_ref().map_or(u32::MAX, |a| a.device_index));
        out
    }

    /// The interface holding a private IPv4 in a VPC.
    pub fn interface_with_private_ip(&self, vpc: &VpcId, ip: Ipv4Addr) -> Option<&NetworkInterfaceId> {
        self.private_ips.get(&(vpc.clone(), ip))
    }

    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn security_group(&self, id: &SecurityGroupId) -> Option<&SecurityGroup> {
        self.security_groups.get(id)
    }

    pub fn security_groups(&self) -> impl Iterator<Item = &SecurityGroup> {
        self.security_groups.values()
    }

    pub fn key_pair(&self, id: &KeyPairId) -> Option<&KeyPair> {
        self.key_pairs.get(id)
    }

    pub fn key_pair_named(&self, name: &str) -> Option<&KeyPair> {
        self.key_pairs_by_name.get(name).and_then(|id| self.key_pairs.get(id))
    }

    pub fn key_pairs(&self) -> impl Iterator<Item = &KeyPair> {
        self.key_pairs.values()
    }

    /// The group named `name` in a VPC.
    pub fn security_group_named(&self, vpc: &VpcId, name: &str) -> Option<&SecurityGroup> {
        self.groups_by_name.get(&(vpc.clone(), name.to_owned())).and_then(|id| self.security_groups.get(id))
    }

    /// A VPC's `default` group.
    pub fn default_security_group(&self, vpc: &VpcId) -> Option<&SecurityGroup> {
        self.security_group_named(vpc, SecurityGroup::DEFAULT_NAME)
    }

    /// Whether some VPC has no default group: a store written before eipd
    /// had security groups. One comparison, as every write asks.
    pub(crate) fn lacks_default_groups(&self) -> bool {
        self.default_groups < self.vpcs.len()
    }

    /// The names of groups, in order (a missing one is left out).
    pub fn group_names(&self, ids: &[SecurityGroupId]) -> Vec<String> {
        ids.iter().filter_map(|id| self.security_groups.get(id)).map(|g| g.name.clone()).collect()
    }

    /// The group holding a rule.
    pub fn group_of_rule(&self, rule: &SecurityGroupRuleId) -> Option<&SecurityGroup> {
        self.rule_groups.get(rule).and_then(|id| self.security_groups.get(id))
    }

    pub fn route_table(&self, id: &RouteTableId) -> Option<&RouteTable> {
        self.route_tables.get(id)
    }

    pub fn route_tables(&self) -> impl Iterator<Item = &RouteTable> {
        self.route_tables.values()
    }

    /// A VPC's main route table.
    pub fn main_route_table(&self, vpc: &VpcId) -> Option<&RouteTable> {
        self.main_route_tables.get(vpc).and_then(|id| self.route_tables.get(id))
    }

    /// The table holding an association.
    pub fn route_table_with_association(&self, id: &RouteTableAssociationId) -> Option<&RouteTable> {
        self.route_table_associations.get(id).and_then(|t| self.route_tables.get(t))
    }

    /// The table a subnet or gateway is explicitly associated with.
    pub fn route_table_associated_with(&self, target: &AssociatedWith) -> Option<&RouteTable> {
        self.associated_route_tables.get(target).and_then(|t| self.route_tables.get(t))
    }

    /// Whether some VPC has no main route table: a store written before
    /// eipd had route tables. One comparison, as every write asks.
    pub(crate) fn lacks_main_route_tables(&self) -> bool {
        self.main_route_tables.len() < self.vpcs.len()
    }

    pub fn nat_gateway(&self, id: &NatGatewayId) -> Option<&NatGateway> {
        self.nat_gateways.get(id)
    }

    pub fn nat_gateways(&self) -> impl Iterator<Item = &NatGateway> {
        self.nat_gateways.values()
    }

    /// The NAT gateway whose interface `eni` is (a requester-managed one).
    pub fn nat_gateway_of_interface(&self, eni: &NetworkInterfaceId) -> Option<&NatGateway> {
        self.interfaces.get(eni).and_then(|n| n.nat_gateway.as_ref()).and_then(|id| self.nat_gateways.get(id))
    }

    pub fn dhcp_options(&self, id: &DhcpOptionsId) -> Option<&DhcpOptions> {
        self.dhcp_options.get(id)
    }

    pub fn all_dhcp_options(&self) -> impl Iterator<Item = &DhcpOptions> {
        self.dhcp_options.values()
    }

    /// Every record key, for persisting a new partition or exporting.
    pub fn record_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        self.addresses
            .keys()
            .map(|ip| RecordKey::Address(*ip))
            .chain(self.dhcp_options.keys().map(|k| RecordKey::DhcpOptions(k.clone())))
            .chain(self.vpcs.keys().map(|k| RecordKey::Vpc(k.clone())))
            .chain(self.subnets.keys().map(|k| RecordKey::Subnet(k.clone())))
            .chain(self.internet_gateways.keys().map(|k| RecordKey::InternetGateway(k.clone())))
            .chain(self.interfaces.keys().map(|k| RecordKey::NetworkInterface(k.clone())))
            .chain(self.instances.keys().map(|k| RecordKey::Instance(k.clone())))
            .chain(self.security_groups.keys().map(|k| RecordKey::SecurityGroup(k.clone())))
            .chain(self.route_tables.keys().map(|k| RecordKey::RouteTable(k.clone())))
            .chain(self.nat_gateways.keys().map(|k| RecordKey::NatGateway(k.clone())))
            .chain(self.key_pairs.keys().map(|k| RecordKey::KeyPair(k.clone())))
            .chain(self.ended_associations.keys().map(|k| RecordKey::EndedAssociation(k.clone())))
    }

    /// The record under a key, as it is now (None once deleted).
    pub fn record(&self, key: &RecordKey) -> Option<Record> {
        Some(match key {
            RecordKey::Address(ip) => Record::Address(Address::clone(self.addresses.get(ip)?)),
            RecordKey::Vpc(id) => Record::Vpc(self.vpcs.get(id)?.clone()),
            RecordKey::Subnet(id) => Record::Subnet(self.subnets.get(id)?.clone()),
            RecordKey::InternetGateway(id) => Record::InternetGateway(self.internet_gateways.get(id)?.clone()),
            RecordKey::NetworkInterface(id) => Record::NetworkInterface(self.interfaces.get(id)?.clone()),
            RecordKey::Instance(id) => Record::Instance(self.instances.get(id)?.clone()),
            RecordKey::SecurityGroup(id) => Record::SecurityGroup(self.security_groups.get(id)?.clone()),
            RecordKey::RouteTable(id) => Record::RouteTable(self.route_tables.get(id)?.clone()),
            RecordKey::NatGateway(id) => Record::NatGateway(self.nat_gateways.get(id)?.clone()),
            RecordKey::KeyPair(id) => Record::KeyPair(self.key_pairs.get(id)?.clone()),
            RecordKey::DhcpOptions(id) => Record::DhcpOptions(self.dhcp_options.get(id)?.clone()),
            RecordKey::EndedAssociation(id) => {
                Record::EndedAssociation { id: id.clone(), ended_at: *self.ended_associations.get(id)? }
            }
        })
    }

    // ---- writes (indexes kept in step) -------------------------------------

    pub(super) fn put(&mut self, record: Record) {
        self.delete(&record.key());
        match record {
            Record::Address(a) => {
                let a = Arc::new(a);
                self.by_allocation.insert(&a);
                self.by_association.insert(&a);
                if let Some(assoc) = &a.association {
                    self.by_target.insert((assoc.network_interface_id.clone(), assoc.private_ip), a.public_ip);
                }
                self.by_tag.insert(&a);
                self.last_address_seq = self.last_address_seq.max(a.seq);
                self.addresses.insert(a.public_ip, a);
            }
            Record::Vpc(v) => {
                self.vpcs.insert(v.id.clone(), v);
            }
            Record::Subnet(s) => {
                self.subnets.insert(s.id.clone(), s);
            }
            Record::InternetGateway(g) => {
                self.internet_gateways.insert(g.id.clone(), g);
            }
            Record::NetworkInterface(n) => {
                if let Some(att) = &n.attachment {
                    self.interfaces_by_instance.insert((att.instance_id.clone(), n.id.clone()));
                }
                for ip in &n.private_ips {
                    self.private_ips.insert((n.vpc_id.clone(), *ip), n.id.clone());
                }
                self.interfaces.insert(n.id.clone(), n);
            }
            Record::Instance(i) => {
                self.instances.insert(i.id.clone(), i);
            }
            Record::SecurityGroup(g) => {
                self.default_groups += usize::from(g.is_default());
                self.groups_by_name.insert((g.vpc_id.clone(), g.name.clone()), g.id.clone());
                for rule in &g.rules {
                    self.rule_groups.insert(rule.id.clone(), g.id.clone());
                }
                self.security_groups.insert(g.id.clone(), g);
            }
            Record::RouteTable(t) => {
                for assoc in &t.associations {
                    self.route_table_associations.insert(assoc.id.clone(), t.id.clone());
                    match &assoc.target {
                        AssociatedWith::Main => self.main_route_tables.insert(t.vpc_id.clone(), t.id.clone()),
                        target => self.associated_route_tables.insert(target.clone(), t.id.clone()),
                    };
                }
                self.route_tables.insert(t.id.clone(), t);
            }

            Record::NatGateway(g) => {
                self.nat_gateways.insert(g.id.clone(), g);
            }

            Record::KeyPair(k) => {
                self.key_pairs_by_name.insert(k.name.clone(), k.id.clone());
                self.key_pairs.insert(k.id.clone(), k);
            }
            Record::DhcpOptions(d) => {
                self.dhcp_options.insert(d.id.clone(), d);
            }
            Record::EndedAssociation { id, ended_at } => {
                self.ended_by_time.insert((ended_at, id.clone()));
                self.ended_associations.insert(id, ended_at);
            }
        }
    }

    pub(super) fn delete(&mut self, key: &RecordKey) {
        match key {
            RecordKey::Address(ip) => {
                if let Some(a) = self.addresses.remove(ip) {
                    self.by_allocation.remove(&a);
                    self.by_association.remove(&a);
                    if let Some(assoc) = &a.association {
                        // Only this address's entry: records of one change may be
                        // applied in any order (a catch-up), and the target may
                        // already belong to the address that replaced this one.
                        let target = (assoc.network_interface_id.clone(), assoc.private_ip);
                        if self.by_target.get(&target) == Some(ip) {
                            self.by_target.remove(&target);
                        }
                    }
                    self.by_tag.remove(&a);
                }
            }
            RecordKey::Vpc(id) => {
                self.vpcs.remove(id);
            }
            RecordKey::Subnet(id) => {
                self.subnets.remove(id);
            }
            RecordKey::InternetGateway(id) => {
                self.internet_gateways.remove(id);
            }
            RecordKey::NetworkInterface(id) => {
                if let Some(n) = self.interfaces.remove(id) {
                    if let Some(att) = &n.attachment {
                        self.interfaces_by_instance.remove(&(att.instance_id.clone(), n.id.clone()));
                    }
                    for ip in &n.private_ips {
                        let key = (n.vpc_id.clone(), *ip);
                        if self.private_ips.get(&key) == Some(&n.id) {
                            self.private_ips.remove(&key);
                        }
                    }
                }
            }
            RecordKey::Instance(id) => {
                self.instances.remove(id);
            }
            RecordKey::KeyPair(id) => {
                if let Some(k) = self.key_pairs.remove(id)
                    && self.key_pairs_by_name.get(&k.name) == Some(id)
                {
                    self.key_pairs_by_name.remove(&k.name);
                }
            }
            RecordKey::SecurityGroup(id) => {
                if let Some(g) = self.security_groups.remove(id) {
                    self.default_groups -= usize::from(g.is_default());
                    let name = (g.vpc_id.clone(), g.name.clone());
                    if self.groups_by_name.get(&name) == Some(id) {
                        self.groups_by_name.remove(&name);
                    }
                    for rule in &g.rules {
                        if self.rule_groups.get(&rule.id) == Some(id) {
                            self.rule_groups.remove(&rule.id);
                        }
                    }
                }
            }
            RecordKey::RouteTable(id) => {
                if let Some(t) = self.route_tables.remove(id) {
                    // Only this table's entries: the records of one change
                    // (a main association moving) may be applied in any order.
                    for assoc in &t.associations {
                        if self.route_table_associations.get(&assoc.id) == Some(id) {
                            self.route_table_associations.remove(&assoc.id);
                        }
                        let index = match &assoc.target {
                            AssociatedWith::Main => self.main_route_tables.get(&t.vpc_id),
                            target => self.associated_route_tables.get(target),
                        };
                        if index == Some(id) {
                            match &assoc.target {
                                AssociatedWith::Main => self.main_route_tables.remove(&t.vpc_id),
                                target => self.associated_route_tables.remove(target),
                            };
                        }
                    }
                }
            }

            RecordKey::NatGateway(id) => {
                self.nat_gateways.remove(id);
            }
            RecordKey::DhcpOptions(id) => {
                self.dhcp_options.remove(id);
            }
            RecordKey::EndedAssociation(id) => {
                if let Some(ended_at) = self.ended_associations.remove(id) {
                    self.ended_by_time.remove(&(ended_at, id.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged_address(last: u8, tags: &[(&str, &str)]) -> Arc<Address> {
        let mut t = Tags::new();
        for (k, v) in tags {
            t.insert((*k).into(), (*v).into());
        }
        Arc::new(Address {
            public_ip: Ipv4Addr::new(198, 51, 100, last),
            allocation_id: None,
            domain: Domain::Vpc,
            network_border_group: "r".into(),
            association: None,
            tags: t,
            seq: u64::from(last),
            ptr_record: None,
        })
    }

    #[test]
    fn tag_index_answers_exactly_even_when_hashes_collide() {
        let a = tagged_address(1, &[("k", "x")]);
        let b = tagged_address(2, &[("k", "y")]);
        let c = tagged_address(3, &[("k", "x")]);
        let mut index = TagIndex::default();
        // Everything under one hash, as if all three tags collided.
        let hash = tag_hash("k", "x");
        for address in [&a, &b, &c] {
            index.insert_under(hash, address);
        }
        let ips = |index: &TagIndex, value: &str| {
            let mut ips: Vec<u8> = index.tagged_under(hash, "k", value).map(|a| a.public_ip.octets()[3]).collect();
            ips.sort();
            ips
        };
        assert_eq!(ips(&index, "x"), vec![1, 3]);
        assert_eq!(ips(&index, "y"), vec![2]);
        assert_eq!(index.len(), 3);
        index.remove_under(hash, a.public_ip);
        assert_eq!(ips(&index, "x"), vec![3]);
        index.remove_under(hash, c.public_ip);
        assert!(matches!(index.0.get(&hash), Some(TagHolders::One(_))), "the last holder is kept without a map");
        assert_eq!(ips(&index, "y"), vec![2]);
        index.remove_under(hash, b.public_ip);
        assert!(index.0.is_empty());
        // Through the real hashes: replacing an address replaces its entry.
        index.insert(&a);
        index.insert(&tagged_address(1, &[("k", "x"), ("j", "z")]));
        assert_eq!(index.len(), 2);
        assert_eq!(index.tagged("j", "z").count(), 1);
    }
}
