//! The records eipd keeps: what an Elastic IP binds to, as EC2 models it.
//!
//! Records hold only facts that cannot be derived; everything derivable (an
//! address's instance, an interface's public IPs, DNS names) is computed from
//! them when read, so no two records can disagree.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::ids::*;

/// A resource's tags, by key. A sorted vector rather than a `BTreeMap`: a
/// map's first node takes about 550 bytes however few tags it holds, and
/// most resources carry none or a handful. Stored (JSON) as an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Sets `key` to `value`, replacing any value it had.
    pub fn insert(&mut self, key: String, value: String) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The tags in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl Extend<(String, String)> for Tags {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut tags = Tags::new();
        tags.extend(pairs);
        tags
    }
}

impl<const N: usize> From<[(String, String); N]> for Tags {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for Tags {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, String)>, fn(&'a (String, String)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Tags(map.into_iter().collect()))
    }
}

/// An AWS account id: 12 digits.
pub type AccountId = Arc<str>;
/// A region name such as `us-east-1`.
pub type Region = Arc<str>;

/// Where a record lives: state is partitioned by account and region.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

impl Scope {
    pub fn new(account: &str, region: &str) -> Self {
        Self { account: Arc::from(account), region: Arc::from(region) }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Vpc,
    Standard,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Vpc => "vpc",
            Domain::Standard => "standard",
        }
    }
}

/// An Elastic IP address.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Address {
    pub public_ip: Ipv4Addr,
    /// VPC addresses only; standard (EC2-Classic) addresses have none.
    pub allocation_id: Option<AllocationId>,
    pub domain: Domain,
    pub network_border_group: Region,
    /// Boxed: most addresses have none, and an inline one would make every
    /// address larger by three ids.
    pub association: Option<Box<Association>>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// Allocation order within the partition: DescribeAddresses lists
    /// addresses in the order they were allocated.
    #[serde(default)]
    pub seq: u64,
    /// The reverse-DNS record set with ModifyAddressAttribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptr_record: Option<String>,
}

/// The binding of an address to one private IPv4 of one interface.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Association {
    pub id: AssociationId,
    pub network_interface_id: NetworkInterfaceId,
    pub private_ip: Ipv4Addr,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Vpc {
    pub id: VpcId,
    pub cidr_block: Ipv4Net,
    pub cidr_association_id: CidrAssociationId,
    pub is_default: bool,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub instance_tenancy: String,
    #[serde(default)]
    pub ipv6_cidr: Option<(CidrAssociationId, Ipv6Net)>,
    /// IPv4 blocks added by AssociateVpcCidrBlock, after `cidr_block`.
    #[serde(default)]
    pub secondary_cidrs: Vec<(CidrAssociationId, Ipv4Net)>,
    /// Blocks disassociated lately, still listed as `disassociated` as AWS
    /// lists them for a while (tools wait for that state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended_ipv4: Vec<(CidrAssociationId, Ipv4Net)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended_ipv6: Vec<(CidrAssociationId, Ipv6Net)>,
    /// The DHCP options set the VPC uses; `None` is EC2's `default`: no
    /// DHCP options (AssociateDhcpOptions with `default`). Records written
    /// before eipd kept option sets have none, which is what they showed.
    #[serde(default)]
    pub dhcp_options_id: Option<DhcpOptionsId>,
    #[serde(default)]
    pub tags: Tags,
}

/// How many disassociated blocks a VPC or subnet keeps listing.
pub const MAX_ENDED_BLOCKS: usize = 5;

/// The state of a block's association as the answers show it.
pub fn block_state(live: bool) -> &'static str {
    if live { "associated" } else { "disassociated" }
}

impl Vpc {
    /// The VPC's `dhcpOptionsId`: its set's id, or `default` for none.
    pub fn dhcp_options_name(&self) -> &str {
        self.dhcp_options_id.as_ref().map_or("default", DhcpOptionsId::as_str)
    }

    /// Every IPv4 block of the VPC, the primary one first.
    pub fn ipv4_blocks(&self) -> impl Iterator<Item = (&CidrAssociationId, Ipv4Net)> {
        std::iter::once((&self.cidr_association_id, self.cidr_block))
            .chain(self.secondary_cidrs.iter().map(|(id, net)| (id, *net)))
    }

    /// The IPv4 association set: the blocks, then those disassociated lately
    /// (`false`).
    pub fn ipv4_associations(&self) -> impl Iterator<Item = (&CidrAssociationId, Ipv4Net, bool)> {
        self.ipv4_blocks()
            .map(|(id, net)| (id, net, true))
            .chain(self.ended_ipv4.iter().map(|(id, net)| (id, *net, false)))
    }

    /// The IPv6 association set in the order the blocks were associated, as
    /// AWS lists it: a VPC has one IPv6 block at a time, so the ended ones
    /// (oldest first) came before the live one.
    pub fn ipv6_associations(&self) -> impl Iterator<Item = (&CidrAssociationId, Ipv6Net, bool)> {
        let ended = self.ended_ipv6.iter().map(|(id, net)| (id, *net, false));
        ended.chain(self.ipv6_cidr.iter().map(|(id, net)| (id, *net, true)))
    }
}

/// Keeps `ended` at the last `MAX_ENDED_BLOCKS` entries after adding one.
pub fn remember_ended<T>(ended: &mut Vec<T>, entry: T) {
    ended.push(entry);
    if ended.len() > MAX_ENDED_BLOCKS {
        ended.remove(0);
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Subnet {
    pub id: SubnetId,
    pub vpc_id: VpcId,
    pub cidr_block: Ipv4Net,
    pub availability_zone: String,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    #[serde(default)]
    pub assign_ipv6_address_on_creation: bool,
    #[serde(default)]
    pub ipv6_cidr: Option<(SubnetCidrAssociationId, Ipv6Net)>,
    /// IPv6 blocks disassociated lately, listed as `disassociated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended_ipv6: Vec<(SubnetCidrAssociationId, Ipv6Net)>,
    #[serde(default)]
    pub tags: Tags,
}

impl Subnet {
    /// The IPv6 association set in the order the blocks were associated
    /// (one at a time: those disassociated lately, `false`, then the block).
    pub fn ipv6_associations(&self) -> impl Iterator<Item = (&SubnetCidrAssociationId, Ipv6Net, bool)> {
        let ended = self.ended_ipv6.iter().map(|(id, net)| (id, *net, false));
        ended.chain(self.ipv6_cidr.iter().map(|(id, net)| (id, *net, true)))
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct InternetGateway {
    pub id: InternetGatewayId,
    pub attached_vpc: Option<VpcId>,
    #[serde(default)]
    pub tags: Tags,
}

/// The public hostname type of an interface (ModifyPublicIpDnsNameOptions).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum HostnameType {
    #[serde(rename = "public-dual-stack-dns-name")]
    PublicDualStackDnsName,
    #[serde(rename = "public-ipv4-dns-name")]
    PublicIpv4DnsName,
    #[serde(rename = "public-ipv6-dns-name")]
    PublicIpv6DnsName,
}

impl HostnameType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public-dual-stack-dns-name" => Some(Self::PublicDualStackDnsName),
            "public-ipv4-dns-name" => Some(Self::PublicIpv4DnsName),
            "public-ipv6-dns-name" => Some(Self::PublicIpv6DnsName),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublicDualStackDnsName => "public-dual-stack-dns-name",
            Self::PublicIpv4DnsName => "public-ipv4-dns-name",
            Self::PublicIpv6DnsName => "public-ipv6-dns-name",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub id: NetworkInterfaceId,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
    pub description: String,
    /// Private IPv4 addresses; the first is the primary.
    pub private_ips: Vec<Ipv4Addr>,
    #[serde(default)]
    pub ipv6_addresses: Vec<Ipv6Addr>,
    pub mac_address: String,
    pub attachment: Option<Attachment>,
    /// The auto-assigned (non-Elastic) public IPv4 on the primary private IP.
    #[serde(default)]
    pub auto_public_ip: Option<Ipv4Addr>,
    /// Whether this interface gets an auto-assigned public IPv4 when it has
    /// none (launch-time AssociatePublicIpAddress or the subnet's
    /// MapPublicIpOnLaunch).
    #[serde(default)]
    pub auto_assign_public_ip: bool,
    #[serde(default)]
    pub hostname_type: Option<HostnameType>,
    pub source_dest_check: bool,
    /// The security groups of the interface, all of its VPC; never empty
    /// (the VPC's default group when none was asked for) except on a NAT
    /// gateway's interface, which has none, as in AWS.
    #[serde(default)]
    pub groups: Vec<SecurityGroupId>,
    #[serde(default)]
    pub tags: Tags,
    /// The NAT gateway that created this interface for itself: a
    /// requester-managed interface the user cannot delete, detach or modify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<NatGatewayId>,
    /// The unique id of the principal that made the interface with
    /// CreateNetworkInterface (none for an instance's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<String>,
}

impl NetworkInterface {
    /// Who made the interface, as `requesterId` names it: the principal that
    /// asked, or the NAT gateway service for a gateway's interface.
    pub fn requester_id(&self) -> Option<&str> {
        self.requester_id.as_deref().or(self.nat_gateway.as_ref().map(|_| NAT_GATEWAY_REQUESTER_ID))
    }

    pub fn primary_private_ip(&self) -> Ipv4Addr {
        self.private_ips[0]
    }

    pub fn instance_id(&self) -> Option<&InstanceId> {
        self.attachment.as_ref().map(|a| &a.instance_id)
    }

    /// EC2's `interfaceType`.
    pub fn interface_type(&self) -> &'static str {
        if self.nat_gateway.is_some() { "nat_gateway" } else { "interface" }
    }

    /// EC2's `status`: a NAT gateway's interface is in use by it.
    pub fn status(&self) -> &'static str {
        if self.attachment.is_some() || self.nat_gateway.is_some() { "in-use" } else { "available" }
    }

    /// The attachment id AWS shows on a service's interface (`ela-attach-…`),
    /// derived from the interface's id; no user can detach it.
    pub fn service_attachment_id(&self) -> Option<String> {
        let hex = self.id.as_str().trim_start_matches(NetworkInterfaceId::PREFIX);
        self.nat_gateway.as_ref().map(|_| format!("{SERVICE_ATTACHMENT_PREFIX}{}", &hex[..8]))
    }
}

/// The prefix of the attachments of service-managed interfaces.
pub const SERVICE_ATTACHMENT_PREFIX: &str = "ela-attach-";

/// The account AWS names as the requester of a NAT gateway's interface.
pub const NAT_GATEWAY_REQUESTER_ID: &str = "036872051663";

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub instance_id: InstanceId,
    pub device_index: u32,
    pub attach_time: i64,
    pub delete_on_termination: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    pub fn code(self) -> u16 {
        match self {
            Self::Pending => 0,
            Self::Running => 16,
            Self::ShuttingDown => 32,
            Self::Terminated => 48,
            Self::Stopping => 64,
            Self::Stopped => 80,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub reservation_id: ReservationId,
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    /// The settled state every read shows (D16).
    pub state: InstanceState,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
    pub launch_time: i64,
    pub ami_launch_index: u32,
    #[serde(default)]
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    /// What RunInstances and ModifyInstanceAttribute set (DescribeInstanceAttribute).
    #[serde(default)]
    pub attributes: InstanceAttributes,
    /// What the instance took from its image when that is one of the
    /// region's catalogue; none for any other `ami-` id.
    #[serde(default)]
    pub launched_from: Option<LaunchImage>,
}

/// What an instance takes from a catalogue image (crate::images).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LaunchImage {
    pub architecture: String,
    pub root_device_name: String,
    pub windows: bool,
}

/// An instance's settings that DescribeInstanceAttribute shows and nothing
/// else derives.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct InstanceAttributes {
    /// Base64, as the request carried it and as EC2 gives it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Termination protection: TerminateInstances refuses the instance.
    #[serde(default)]
    pub disable_api_termination: bool,
    /// Stop protection: StopInstances refuses the instance.
    #[serde(default)]
    pub disable_api_stop: bool,
    #[serde(default)]
    pub shutdown_behavior: ShutdownBehavior,
    #[serde(default)]
    pub ebs_optimized: bool,
    /// ENA is on for every current-generation image, so it is on unless turned off.
    #[serde(default)]
    pub ena_disabled: bool,
}

/// What an instance does when it shuts itself down (InstanceInitiatedShutdownBehavior).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownBehavior {
    #[default]
    Stop,
    Terminate,
}

impl ShutdownBehavior {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stop" => Some(Self::Stop),
            "terminate" => Some(Self::Terminate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Terminate => "terminate",
        }
    }
}

/// A DHCP options set: what a VPC's DHCP server hands its instances.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DhcpOptions {
    pub id: DhcpOptionsId,
    /// The options, each key once, in the order they were given.
    pub configurations: Vec<DhcpConfiguration>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DhcpConfiguration {
    pub key: String,
    pub values: Vec<String>,
}

/// An SSH key pair: its public half, which EC2 keeps (the private half of a
/// created pair is given once, in the CreateKeyPair answer, and not kept).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KeyPair {
    pub id: KeyPairId,
    pub name: String,
    pub key_type: KeyType,
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… name`).
    pub public_key: String,
    pub create_time: i64,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(Self::Rsa),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }
}

/// A security group: the stateful firewall of the interfaces that carry it,
/// in one VPC.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub vpc_id: VpcId,
    pub name: String,
    pub description: String,
    /// Ingress and egress rules, in the order they were authorized.
    pub rules: Vec<SecurityGroupRule>,
    #[serde(default)]
    pub tags: Tags,
}

impl SecurityGroup {
    /// The name of every VPC's own group, which no user may create or delete.
    pub const DEFAULT_NAME: &'static str = "default";

    pub fn is_default(&self) -> bool {
        self.name == Self::DEFAULT_NAME
    }

    pub fn rule(&self, id: &SecurityGroupRuleId) -> Option<&SecurityGroupRule> {
        self.rules.iter().find(|r| &r.id == id)
    }
}

/// One rule: one protocol and port range, one peer, one direction.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: SecurityGroupRuleId,
    pub egress: bool,
    pub permission: Permission,
    pub peer: RulePeer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A rule's protocol and ports, normalized as EC2 shows them: `-1` (every
/// protocol; ports -1), `tcp`, `udp` (ports 0–65535), `icmp`, `icmpv6`
/// (type and code, -1 for any), or another protocol number (ports -1).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Permission {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
}

impl Permission {
    /// Every protocol, every port.
    pub fn all() -> Self {
        Self { protocol: "-1".into(), from_port: -1, to_port: -1 }
    }
}

/// What a rule lets traffic come from (ingress) or go to (egress).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePeer {
    Ipv4(Ipv4Net),
    Ipv6(Ipv6Net),
    /// The interfaces carrying a group of the same account and VPC.
    Group(SecurityGroupId),
}

/// A route table of one VPC: where the traffic of its subnets goes. The
/// `local` routes of the VPC's blocks are not stored: they are the VPC's
/// blocks, so a block the VPC gains is in every table at once.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RouteTable {
    pub id: RouteTableId,
    pub vpc_id: VpcId,
    /// The routes added with CreateRoute, in the order they were added.
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
    /// CreateRouteTable's idempotency token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// A NAT gateway: a requester-managed interface in one subnet that
/// translates the VPC's outbound traffic, through its Elastic IPs (public)
/// or its private IPs (private).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NatGateway {
    pub id: NatGatewayId,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub connectivity: Connectivity,
    /// The settled state every read shows (see nat_gateways.rs).
    pub state: NatGatewayState,
    pub create_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_time: Option<i64>,
    /// Why a `failed` gateway failed: (FailureCode, FailureMessage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<(String, String)>,
    /// The interface it holds while it lives, still named once it is
    /// deleted, as AWS does (none when it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_id: Option<NetworkInterfaceId>,
    /// Its addresses, the primary first. Kept after deletion: AWS still
    /// shows a deleted gateway's addresses.
    pub addresses: Vec<NatGatewayAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

impl RouteTable {
    /// Whether this is its VPC's main table.
    pub fn is_main(&self) -> bool {
        self.associations.iter().any(|a| a.target == AssociatedWith::Main)
    }

    pub fn route(&self, destination: &RouteDestination) -> Option<&Route> {
        self.routes.iter().find(|r| &r.destination == destination)
    }
}

/// A route added with CreateRoute: a destination and where it goes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Route {
    pub destination: RouteDestination,
    pub target: RouteTarget,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteDestination {
    Ipv4(Ipv4Net),
    Ipv6(Ipv6Net),
}

impl fmt::Display for RouteDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(net) => net.fmt(f),
            Self::Ipv6(net) => net.fmt(f),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    Public,
    Private,
}

impl Connectivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

/// Where a route sends its traffic. Whether the target still takes it
/// (the route's `active` or `blackhole` state) is read from the target
/// itself when the route is shown.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    InternetGateway(InternetGatewayId),
    NetworkInterface(NetworkInterfaceId),
    /// Named by `InstanceId`: the instance and the interface it resolved to.
    Instance {
        instance_id: InstanceId,
        network_interface_id: NetworkInterfaceId,
    },
    NatGateway(NatGatewayId),
}

/// One association of a route table: it routes the traffic of a subnet, of
/// a gateway (an edge association), or of every subnet of its VPC without an
/// explicit association (the main one).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RouteTableAssociation {
    pub id: RouteTableAssociationId,
    pub target: AssociatedWith,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssociatedWith {
    Main,
    Subnet(SubnetId),
    Gateway(InternetGatewayId),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatGatewayState {
    Pending,
    Failed,
    Available,
    Deleting,
    Deleted,
}

impl NatGatewayState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Available => "available",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }

    /// Whether the gateway is over: it holds no interface and no address,
    /// and stays visible only for a while.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Failed | Self::Deleted)
    }
}

/// One address of a NAT gateway: a private IPv4 of its interface and, on a
/// public gateway, the Elastic IP associated with it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NatGatewayAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_id: Option<AllocationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_id: Option<AssociationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<Ipv4Addr>,
    pub is_primary: bool,
    /// Why this address failed (the gateway failed with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

#[cfg(test)]
mod tag_tests {
    use super::Tags;

    #[test]
    fn tags_keep_key_order_and_store_as_an_object() {
        let mut tags: Tags = [("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())].into();
        tags.insert("b".into(), "two".into());
        assert_eq!(tags.len(), 2);
        assert_eq!(tags.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(tags.get("b").map(String::as_str), Some("two"));
        let json = serde_json::to_string(&tags).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"two"}"#);
        assert_eq!(serde_json::from_str::<Tags>(&json).unwrap(), tags);
        assert_eq!(tags.remove("a").as_deref(), Some("1"));
        assert_eq!(tags.remove("a"), None);
        assert!(!tags.is_empty());
    }
}
