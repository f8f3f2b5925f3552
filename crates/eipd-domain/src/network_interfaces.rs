//! Network interfaces: their private IPv4 and IPv6 addresses, attachments and
//! public DNS name options, the things an Elastic IP is associated with.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use rand::Rng;

use crate::addresses::{end_association, restore_auto_public_ip};
use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::instances::{MAX_INTERFACES_PER_INSTANCE, instance};
use crate::model::*;
use crate::regions::zone_id;
use crate::security_groups::{GroupRef, interface_groups};
use crate::state::{Partition, Record, RecordKey, Tx};
use crate::subnets::subnet;
use crate::view::{ip_owner, private_dns_name, public_dns_name, timestamp};

/// The most private IPv4 addresses one interface may have.
pub const MAX_PRIVATE_IPS_PER_INTERFACE: usize = 50;

pub fn interface<'a>(part: &'a Partition, id: &NetworkInterfaceId) -> ApiResult<&'a NetworkInterface> {
    part.interface(id).ok_or_else(|| ApiError::invalid_network_interface_id_not_found(id.as_str()))
}

#[derive(Clone, Debug, Default)]
pub struct InterfaceSpec {
    pub description: String,
    /// Requested private IPv4s; the first is the primary.
    pub private_ips: Vec<Ipv4Addr>,
    pub secondary_private_ip_count: u32,
    pub ipv6_addresses: Vec<Ipv6Addr>,
    pub ipv6_address_count: u32,
    /// `SecurityGroupId.N`: the VPC's default group when empty.
    pub groups: Vec<GroupRef>,
    pub tags: Tags,
    /// See `NetworkInterface::requester_id`.
    pub requester_id: Option<String>,
}

pub fn create_network_interface(tx: &mut Tx, subnet_id: &SubnetId, spec: InterfaceSpec) -> ApiResult<NetworkInterface> {
    let subnet = subnet(tx.part(), subnet_id)?.clone();
    let eni = new_interface(tx, &subnet, spec)?;
    tx.put(Record::NetworkInterface(eni.clone()));
    Ok(eni)
}

/// A new interface in a subnet, its addresses taken, not yet stored.
pub(crate) fn new_interface(tx: &mut Tx, subnet: &Subnet, spec: InterfaceSpec) -> ApiResult<NetworkInterface> {
    let total = spec.private_ips.len().max(1) + spec.secondary_private_ip_count as usize;
    if total > MAX_PRIVATE_IPS_PER_INTERFACE {
        return Err(ApiError::private_ip_address_limit_exceeded(format!(
            "Number of private addresses will exceed limit of {MAX_PRIVATE_IPS_PER_INTERFACE}."
        )));
    }
    let groups = interface_groups(tx.part(), subnet, &spec.groups)?;
    let mut private_ips = Vec::with_capacity(total);
    for ip in &spec.private_ips {
        check_private_ip_free(tx.part(), subnet, *ip, &private_ips)?;
        private_ips.push(*ip);
    }
    let wanted = total - private_ips.len();
    private_ips.extend(free_private_ips(tx.part(), subnet, wanted, &private_ips)?);
    let mut ipv6_addresses = spec.ipv6_addresses.clone();
    let ipv6_count = spec.ipv6_address_count as usize
        + usize::from(
            spec.ipv6_addresses.is_empty() && spec.ipv6_address_count == 0 && subnet.assign_ipv6_address_on_creation,
        );
    if !ipv6_addresses.is_empty() || ipv6_count > 0 {
        let Some((_, block)) = subnet.ipv6_cidr else {
            return Err(ApiError::invalid_parameter_value(format!("The subnet {} has no IPv6 CIDR block", subnet.id)));
        };
        for ip in &ipv6_addresses {
            if !block.contains(ip) {
                return Err(ApiError::invalid_parameter_value(format!(
                    "The IPv6 address {ip} is not in the subnet's block {block}"
                )));
            }
        }
        ipv6_addresses.extend(random_ipv6s(block, ipv6_count));
    }
    Ok(NetworkInterface {
        id: NetworkInterfaceId::generate(),
        subnet_id: subnet.id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        availability_zone: subnet.availability_zone.clone(),
        description: spec.description,
        private_ips,
        ipv6_addresses,
        mac_address: random_mac(),
        attachment: None,
        auto_public_ip: None,
        auto_assign_public_ip: false,
        hostname_type: None,
        source_dest_check: true,
        groups,
        tags: spec.tags,
        nat_gateway: None,
        requester_id: spec.requester_id,
    })
}

fn random_mac() -> String {
    let b: [u8; 5] = rand::rng().random();
    format!("0e:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4])
}

fn random_ipv6s(block: Ipv6Net, n: usize) -> Vec<Ipv6Addr> {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| {
            let host: u64 = rng.random();
            Ipv6Addr::from(u128::from(block.network()) | u128::from(host))
        })
        .collect()
}

/// AWS reserves the first four addresses of a subnet and its last one.
/// Every usable IP of the subnet once, in the order eipd hands them out:
/// spread as AWS's picks are, the upper half of the subnet first (tests
/// written against AWS pin low addresses such as `.5`–`.10` after eipd
/// picked some: those must still be free), and the same for the same
/// subnet id, so that a run repeats.
fn allocation_order(subnet: &Subnet) -> impl Iterator<Item = Ipv4Addr> {
    let net = subnet.cidr_block;
    let network = u64::from(u32::from(net.network()));
    let first = network + 4;
    // Smaller than a /29, a subnet has no usable address: `first` is past its broadcast.
    let end = u64::from(u32::from(net.broadcast())).max(first);
    let middle = (network + (end + 1 - network) / 2).clamp(first, end);
    let hash = fnv1a(FNV_OFFSET, subnet.id.as_str().bytes());
    walk(middle, end, hash).chain(walk(first, middle, hash))
}

/// Every address of `from..to` once: a walk with a start and a stride
/// (coprime with the range's size) derived from `hash`.
fn walk(from: u64, to: u64, hash: u64) -> impl Iterator<Item = Ipv4Addr> {
    let size = to.saturating_sub(from);
    let start = if size == 0 { 0 } else { hash % size };
    let mut stride = if size == 0 { 1 } else { ((hash >> 32) % size) | 1 };
    while size > 1 && gcd(stride, size) != 1 {
        stride += 1;
    }
    (0..size).map(move |k| Ipv4Addr::from((from + (start + k * stride) % size) as u32))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn usable(subnet: &Subnet, ip: Ipv4Addr) -> bool {
    let net = subnet.cidr_block;
    let offset = u32::from(ip).wrapping_sub(u32::from(net.network()));
    net.contains(&ip) && offset >= 4 && ip != net.broadcast()
}

fn check_private_ip_free(part: &Partition, subnet: &Subnet, ip: Ipv4Addr, taking: &[Ipv4Addr]) -> ApiResult<()> {
    if !usable(subnet, ip) {
        return Err(ApiError::invalid_parameter_value(format!(
            "Address {ip} does not fall within the subnet's address range"
        )));
    }
    if taking.contains(&ip) || part.interface_with_private_ip(&subnet.vpc_id, ip).is_some() {
        return Err(ApiError::invalid_ip_address_in_use_raw(format!("The specified address {ip} is already in use.")));
    }
    Ok(())
}

/// `n` free private IPs of the subnet, in the subnet's own order (see
/// `allocation_order`).
fn free_private_ips(part: &Partition, subnet: &Subnet, n: usize, taking: &[Ipv4Addr]) -> ApiResult<Vec<Ipv4Addr>> {
    let mut out = Vec::with_capacity(n);
    for ip in allocation_order(subnet) {
        if out.len() == n {
            break;
        }
        if !taking.contains(&ip) && part.interface_with_private_ip(&subnet.vpc_id, ip).is_none() {
            out.push(ip);
        }
    }
    if out.len() < n {
        return Err(ApiError::insufficient_free_addresses_in_subnet(format!(
            "The specified subnet {} does not have enough free addresses to satisfy the request.",
            subnet.id
        )));
    }
    Ok(out)
}

/// Deleting an interface ends the associations on it; the addresses stay allocated.
pub fn delete_network_interface(tx: &mut Tx, id: &NetworkInterfaceId) -> ApiResult<()> {
    let eni = interface(tx.part(), id)?.clone();
    if eni.attachment.is_some() || eni.nat_gateway.is_some() {
        // EC2's answer here (seen in public reports) is a plain
        // InvalidParameterValue, unlike AttachNetworkInterface's
        // InvalidNetworkInterface.InUse.
        return Err(ApiError::invalid_parameter_value(format!("Network interface '{id}' is currently in use.")));
    }
    remove_interface(tx, eni)
}

/// A requester-managed interface (a NAT gateway's) is its service's to
/// change: AWS answers AuthFailure (HTTP 400).
fn check_user_managed(eni: &NetworkInterface) -> ApiResult<()> {
    if eni.nat_gateway.is_some() {
        return Err(ApiError::service_managed());
    }
    Ok(())
}

pub(crate) fn remove_interface(tx: &mut Tx, eni: NetworkInterface) -> ApiResult<()> {
    let on_it: Vec<Ipv4Addr> = tx.part().addresses_on_interface(&eni.id).map(|a| a.public_ip).collect();
    for ip in on_it {
        end_association(tx, ip)?;
    }
    let eni = tx.part().interface(&eni.id).cloned().unwrap_or(eni);
    if let Some(ip) = eni.auto_public_ip {
        tx.release_public_ip(ip);
    }
    tx.delete(RecordKey::NetworkInterface(eni.id));
    Ok(())
}

pub fn attach_network_interface(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    instance_id: &InstanceId,
    device_index: u32,
) -> ApiResult<AttachmentId> {
    let mut eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    let inst = instance(tx.part(), instance_id)?.clone();
    if matches!(inst.state, InstanceState::Terminated | InstanceState::ShuttingDown) {
        return Err(ApiError::incorrect_instance_state(format!(
            "The instance '{instance_id}' is not in a valid state for this operation."
        )));
    }
    if let Some(att) = &eni.attachment {
        return Err(ApiError::invalid_network_interface_in_use(format!(
            "Interface: [{id}] in use (attached to {}).",
            att.instance_id
        )));
    }
    if eni.availability_zone != inst.availability_zone || eni.vpc_id != inst.vpc_id {
        return Err(ApiError::invalid_parameter_value(format!(
            "The network interface {id} and the instance {instance_id} are not in the same VPC and availability zone"
        )));
    }
    let existing = tx.part().interfaces_of(instance_id);
    if existing.len() >= MAX_INTERFACES_PER_INSTANCE {
        return Err(ApiError::attachment_limit_exceeded(format!(
            "Interface count {} exceeds the limit for this instance",
            existing.len() + 1
        )));
    }
    if existing.iter().any(|n| n.attachment.as_ref().is_some_and(|a| a.device_index == device_index)) {
        return Err(ApiError::invalid_parameter_value(format!(
            "Instance '{instance_id}' already has an interface attached at device index '{device_index}'."
        )));
    }
    let attachment = Attachment {
        id: AttachmentId::generate(),
        instance_id: instance_id.clone(),
        device_index,
        attach_time: tx.now,
        delete_on_termination: false,
    };
    eni.attachment = Some(attachment.clone());
    tx.put(Record::NetworkInterface(eni));
    // An instance with a second interface no longer gets an auto-assigned public IP
    // back, but keeps the one it has, as in AWS.
    Ok(attachment.id)
}

pub fn detach_network_interface(tx: &mut Tx, attachment_id: &AttachmentId) -> ApiResult<()> {
    let eni = tx
        .part()
        .interfaces()
        .find(|n| n.attachment.as_ref().is_some_and(|a| &a.id == attachment_id))
        .cloned()
        .ok_or_else(|| ApiError::attachment_not_found(attachment_id.as_str()))?;
    let att = eni.attachment.clone().expect("found by attachment");
    if att.device_index == 0 {
        return Err(ApiError::operation_not_permitted(format!(
            "The network interface at device index 0 cannot be detached ({}).",
            eni.id
        )));
    }
    detach(tx, eni);
    Ok(())
}

pub(crate) fn detach(tx: &mut Tx, mut eni: NetworkInterface) {
    eni.attachment = None;
    if let Some(ip) = eni.auto_public_ip.take() {
        tx.release_public_ip(ip);
    }
    eni.auto_assign_public_ip = false;
    tx.put(Record::NetworkInterface(eni));
}

/// With `allow_reassignment`, an IP that is a secondary IP of another
/// interface of the subnet moves here, and an Elastic IP on it moves with it
/// (AWS: "any Elastic IP address that is associated with the IP address is
/// also moved"); without it, such an IP is refused.
pub fn assign_private_ip_addresses(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    ips: Vec<Ipv4Addr>,
    count: u32,
    allow_reassignment: bool,
) -> ApiResult<Vec<Ipv4Addr>> {
    let eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    let subnet = subnet(tx.part(), &eni.subnet_id)?.clone();
    if ips.is_empty() && count == 0 {
        return Err(ApiError::missing_parameter(
            "Either PrivateIpAddress.N or SecondaryPrivateIpAddressCount must be specified",
        ));
    }
    if eni.private_ips.len() + ips.len() + count as usize > MAX_PRIVATE_IPS_PER_INTERFACE {
        return Err(ApiError::private_ip_address_limit_exceeded(format!(
            "Number of private addresses will exceed limit of {MAX_PRIVATE_IPS_PER_INTERFACE}."
        )));
    }
    let mut assigned = Vec::new();
    let mut moved = Vec::new();
    for ip in ips {
        let held_elsewhere = tx.part().interface_with_private_ip(&subnet.vpc_id, ip).filter(|h| **h != eni.id);
        match held_elsewhere {
            Some(holder) if usable(&subnet, ip) && !assigned.contains(&ip) => {
                let holder = interface(tx.part(), holder)?;
                if !allow_reassignment {
                    return Err(ApiError::invalid_ip_address_in_use_raw(format!(
                        "Address {ip} is assigned to interface {}, and move is not allowed",
                        holder.id
                    )));
                }
                if holder.primary_private_ip() == ip {
                    return Err(ApiError::invalid_parameter_value(format!(
                        "Address {ip} is the primary private IP address of interface {} and cannot be moved",
                        holder.id
                    )));
                }
                moved.push((holder.id.clone(), ip));
            }
            _ => check_private_ip_free(tx.part(), &subnet, ip, &assigned)?,
        }
        assigned.push(ip);
    }
    for (holder, ip) in &moved {
        move_private_ip(tx, holder, &eni.id, *ip)?;
    }
    let more = free_private_ips(tx.part(), &subnet, count as usize, &assigned)?;
    assigned.extend(more);
    let mut eni = interface(tx.part(), id)?.clone();
    eni.private_ips.extend(assigned.iter().copied());
    tx.put(Record::NetworkInterface(eni));
    Ok(assigned)
}

/// Takes a secondary private IP off `from`; an Elastic IP associated with it
/// follows to `to`, keeping its association id.
fn move_private_ip(tx: &mut Tx, from: &NetworkInterfaceId, to: &NetworkInterfaceId, ip: Ipv4Addr) -> ApiResult<()> {
    let mut holder = interface(tx.part(), from)?.clone();
    holder.private_ips.retain(|p| *p != ip);
    tx.put(Record::NetworkInterface(holder));
    if let Some(mut address) = tx.part().address_on(from, ip).cloned() {
        if let Some(association) = address.association.as_mut() {
            association.network_interface_id = to.clone();
        }
        tx.put(Record::Address(address));
    }
    Ok(())
}

/// Refused for the primary private IP and while an Elastic IP is on the address.
pub fn unassign_private_ip_addresses(tx: &mut Tx, id: &NetworkInterfaceId, ips: Vec<Ipv4Addr>) -> ApiResult<()> {
    let mut eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    for ip in &ips {
        if !eni.private_ips.contains(ip) {
            return Err(ApiError::invalid_parameter_value(format!(
                "Some of the specified addresses are not assigned to interface {id}"
            )));
        }
        if *ip == eni.primary_private_ip() {
            return Err(ApiError::invalid_parameter_value(format!(
                "The primary private IP address {ip} of interface {id} cannot be unassigned"
            )));
        }
        if let Some(address) = tx.part().address_on(id, *ip) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The private IP address {ip} of interface {id} is associated with the Elastic IP \
                 address {}; disassociate it first",
                address.public_ip
            )));
        }
    }
    eni.private_ips.retain(|ip| !ips.contains(ip));
    tx.put(Record::NetworkInterface(eni));
    Ok(())
}

pub fn assign_ipv6_addresses(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    ips: Vec<Ipv6Addr>,
    count: u32,
) -> ApiResult<Vec<Ipv6Addr>> {
    let mut eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    let subnet = subnet(tx.part(), &eni.subnet_id)?.clone();
    let Some((_, block)) = subnet.ipv6_cidr else {
        return Err(ApiError::invalid_parameter_value(format!("The subnet {} has no IPv6 CIDR block", subnet.id)));
    };
    if ips.is_empty() && count == 0 {
        return Err(ApiError::missing_parameter("Either Ipv6Addresses.N or Ipv6AddressCount must be specified"));
    }
    for ip in &ips {
        if !block.contains(ip) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The IPv6 address {ip} is not in the subnet's block {block}"
            )));
        }
        if eni.ipv6_addresses.contains(ip) {
            return Err(ApiError::invalid_ipv6_address_in_use(format!("The IPv6 address {ip} is already assigned")));
        }
    }
    let mut assigned = ips;
    assigned.extend(random_ipv6s(block, count as usize));
    eni.ipv6_addresses.extend(assigned.iter().copied());
    tx.put(Record::NetworkInterface(eni));
    Ok(assigned)
}

pub fn unassign_ipv6_addresses(tx: &mut Tx, id: &NetworkInterfaceId, ips: Vec<Ipv6Addr>) -> ApiResult<Vec<Ipv6Addr>> {
    let mut eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    for ip in &ips {
        if !eni.ipv6_addresses.contains(ip) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The IPv6 address {ip} is not assigned to interface {id}"
            )));
        }
    }
    eni.ipv6_addresses.retain(|ip| !ips.contains(ip));
    tx.put(Record::NetworkInterface(eni));
    Ok(ips)
}

/// ModifyPublicIpDnsNameOptions. The IPv6 and dual-stack names need an IPv6
/// address on the interface.
pub fn modify_public_ip_dns_name_options(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    hostname_type: HostnameType,
) -> ApiResult<()> {
    let mut eni = interface(tx.part(), id)?.clone();
    check_user_managed(&eni)?;
    if hostname_type != HostnameType::PublicIpv4DnsName && eni.ipv6_addresses.is_empty() {
        return Err(ApiError::invalid_parameter_value(format!(
            "The hostname type {} needs an IPv6 address on interface {id}",
            hostname_type.as_str()
        )));
    }
    eni.hostname_type = Some(hostname_type);
    tx.put(Record::NetworkInterface(eni));
    Ok(())
}

/// One change of ModifyNetworkInterfaceAttribute: EC2 takes one attribute per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceAttributeChange {
    Description(String),
    SourceDestCheck(bool),
    /// The groups that replace the interface's (at least one).
    Groups(Vec<GroupRef>),
    /// `Attachment.AttachmentId` (the interface's own) and `Attachment.DeleteOnTermination`.
    DeleteOnTermination {
        attachment_id: AttachmentId,
        delete: bool,
    },
    /// Gives the interface an auto-assigned public IPv4, or takes it away.
    AssociatePublicIpAddress(bool),
}

pub fn modify_network_interface_attribute(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    change: InterfaceAttributeChange,
) -> ApiResult<()> {
    let mut eni = interface(tx.part(), id)?.clone();
    match change {
        InterfaceAttributeChange::Description(d) => eni.description = d,
        InterfaceAttributeChange::SourceDestCheck(v) => eni.source_dest_check = v,
        InterfaceAttributeChange::Groups(groups) => {
            if groups.is_empty() {
                return Err(ApiError::missing("SecurityGroupId.1"));
            }
            let subnet = subnet(tx.part(), &eni.subnet_id)?.clone();
            eni.groups = interface_groups(tx.part(), &subnet, &groups)?;
        }
        InterfaceAttributeChange::DeleteOnTermination { attachment_id, delete } => match eni.attachment.as_mut() {
            Some(att) if att.id == attachment_id => att.delete_on_termination = delete,
            _ => return Err(ApiError::attachment_not_found(attachment_id.as_str())),
        },
        InterfaceAttributeChange::AssociatePublicIpAddress(v) => {
            eni.auto_assign_public_ip = v;
            if !v && let Some(ip) = eni.auto_public_ip.take() {
                tx.release_public_ip(ip);
            }
            tx.put(Record::NetworkInterface(eni.clone()));
            return if v { restore_auto_public_ip(tx, eni) } else { Ok(()) };
        }
    }
    tx.put(Record::NetworkInterface(eni));
    Ok(())
}

/// ResetNetworkInterfaceAttribute: `sourceDestCheck`, the one attribute it resets, back to true.
pub fn reset_network_interface_attribute(tx: &mut Tx, id: &NetworkInterfaceId) -> ApiResult<()> {
    modify_network_interface_attribute(tx, id, InterfaceAttributeChange::SourceDestCheck(true))
}

impl Described for NetworkInterface {
    type Id = NetworkInterfaceId;
    const FILTERS: &'static [&'static str] = &[
        "network-interface-id",
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "description",
        "status",
        "attachment.instance-id",
        "attachment.attachment-id",
        "attachment.device-index",
        "private-ip-address",
        "addresses.private-ip-address",
        "association.public-ip",
        "association.allocation-id",
        "association.association-id",
        "owner-id",
        "mac-address",
        "ipv6-addresses.ipv6-address",
        "interface-type",
        "requester-managed",
        "requester-id",
        "addresses.primary",
        "addresses.association.public-ip",
        "addresses.association.owner-id",
        "association.ip-owner-id",
        "association.public-dns-name",
        "attachment.attach-time",
        "attachment.delete-on-termination",
        "attachment.instance-owner-id",
        "attachment.status",
        "availability-zone-id",
        "private-dns-name",
        "source-dest-check",
        "group-id",
        "group-name",
    ];
    // Operator-managed interfaces: eipd has none.
    const ABSENT: &'static [&'static str] = &["operator.managed", "operator.principal"];

    fn all(part: &Partition) -> Vec<&Self> {
        part.interfaces().collect()
    }

    fn get<'p>(part: &'p Partition, id: &NetworkInterfaceId) -> Option<&'p Self> {
        part.interface(id)
    }

    fn id(&self) -> &NetworkInterfaceId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&NetworkInterfaceId]) -> ApiError {
        ApiError::invalid_network_interface_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        let publics = || part.public_ipv4s(self);
        match name {
            "network-interface-id" => vec![self.id.to_string()],
            "subnet-id" => vec![self.subnet_id.to_string()],
            "vpc-id" => vec![self.vpc_id.to_string()],
            "availability-zone" => vec![self.availability_zone.clone()],
            "description" => vec![self.description.clone()],
            "status" => vec![self.status().into()],
            "attachment.instance-id" => self.attachment.iter().map(|a| a.instance_id.to_string()).collect(),
            "attachment.attachment-id" => self.attachment.iter().map(|a| a.id.to_string()).collect(),
            "attachment.device-index" => self.attachment.iter().map(|a| a.device_index.to_string()).collect(),
            "private-ip-address" | "addresses.private-ip-address" => {
                self.private_ips.iter().map(ToString::to_string).collect()
            }
            "association.public-ip" => publics().iter().map(|p| p.public_ip.to_string()).collect(),
            "association.allocation-id" => publics()
                .iter()
                .filter_map(|p| p.elastic.and_then(|a| a.allocation_id.as_ref()).map(ToString::to_string))
                .collect(),
            "association.association-id" => publics()
                .iter()
                .filter_map(|p| p.elastic.and_then(|a| a.association.as_ref()).map(|x| x.id.to_string()))
                .collect(),
            "owner-id" => vec![scope.account.to_string()],
            "mac-address" => vec![self.mac_address.clone()],
            "ipv6-addresses.ipv6-address" => self.ipv6_addresses.iter().map(ToString::to_string).collect(),
            "interface-type" => vec![self.interface_type().into()],
            "requester-managed" => vec![self.nat_gateway.is_some().to_string()],
            "requester-id" => self.requester_id().into_iter().map(str::to_owned).collect(),
            "source-dest-check" => vec![self.source_dest_check.to_string()],
            "group-id" => self.groups.iter().map(ToString::to_string).collect(),
            "group-name" => part.group_names(&self.groups),
            // The primary private IP's, as `addresses.primary` shows it.
            "addresses.primary" => (0..self.private_ips.len()).map(|i| (i == 0).to_string()).collect(),
            "addresses.association.public-ip" => publics().iter().map(|p| p.public_ip.to_string()).collect(),
            "addresses.association.owner-id" | "association.ip-owner-id" => {
                publics().iter().map(|p| ip_owner(p, &scope.account).to_string()).collect()
            }
            "association.public-dns-name" => publics()
                .iter()
                .filter(|_| part.dns_hostnames_enabled(self))
                .map(|p| public_dns_name(p.public_ip, &scope.region))
                .collect(),
            "addresses.association.allocation-id" => self.filter_values(part, scope, "association.allocation-id"),
            "addresses.association.association-id" => self.filter_values(part, scope, "association.association-id"),
            "addresses.association.public-dns-name" => self.filter_values(part, scope, "association.public-dns-name"),
            "addresses.private-dns-name" => {
                self.private_ips.iter().map(|ip| private_dns_name(*ip, &scope.region)).collect()
            }
            "private-dns-name" => vec![private_dns_name(self.primary_private_ip(), &scope.region)],
            "attachment.attach-time" => self.attachment.iter().map(|a| timestamp(a.attach_time)).collect(),
            "attachment.delete-on-termination" => {
                self.attachment.iter().map(|a| a.delete_on_termination.to_string()).collect()
            }
            "attachment.instance-owner-id" => self.attachment.iter().map(|_| scope.account.to_string()).collect(),
            "attachment.status" => self.attachment.iter().map(|_| "attached".to_string()).collect(),
            "attachment.network-card-index" => self.attachment.iter().map(|_| "0".to_string()).collect(),
            "availability-zone-id" => vec![zone_id(&self.availability_zone)],
            "ipv6-addresses.is-primary-ipv6" => self.ipv6_addresses.iter().map(|_| "false".to_string()).collect(),
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn subnet(id: &str, cidr: &str) -> Subnet {
        Subnet {
            id: SubnetId::parse(id).expect("a subnet id"),
            vpc_id: VpcId::parse("vpc-0123456789abcdef0").expect("a vpc id"),
            cidr_block: cidr.parse().expect("a CIDR"),
            availability_zone: "us-east-1a".into(),
            default_for_az: false,
            map_public_ip_on_launch: false,
            assign_ipv6_address_on_creation: false,
            ipv6_cidr: None,
            ended_ipv6: Vec::new(),
            tags: Tags::default(),
        }
    }

    #[test]
    fn private_ips_are_handed_out_spread_and_repeatably() {
        for cidr in ["10.0.1.0/24", "10.0.0.0/28", "172.31.0.0/20", "10.0.0.0/29", "10.0.0.0/30", "10.0.0.0/32"] {
            let s = subnet("subnet-0123456789abcdef0", cidr);
            let order: Vec<Ipv4Addr> = allocation_order(&s).collect();
            // Every usable address once: not the first four, not the broadcast.
            let net = s.cidr_block;
            let expected: BTreeSet<Ipv4Addr> = net.hosts().filter(|ip| usable(&s, *ip)).collect();
            assert_eq!(order.iter().copied().collect::<BTreeSet<_>>(), expected, "{cidr}");
            assert_eq!(order.len(), expected.len(), "{cidr}: an address twice");
            assert_eq!(order, allocation_order(&s).collect::<Vec<_>>(), "{cidr}: the same subnet, the same order");
        }
        // Spread: the first picks of a /24 are not the low addresses in a row.
        let s = subnet("subnet-0123456789abcdef0", "10.0.1.0/24");
        let first: Vec<u8> = allocation_order(&s).take(3).map(|ip| ip.octets()[3]).collect();
        assert!(first.windows(2).any(|w| w[1] != w[0] + 1), "{first:?}");
        // The upper half first, whatever the subnet id: of a /26, offsets
        // 32-62, then 4-31.
        for id in ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210", "subnet-00000000000000001"] {
            let offsets: Vec<u8> =
                allocation_order(&subnet(id, "10.0.1.128/26")).map(|ip| ip.octets()[3] - 128).collect();
            assert!(offsets[..31].iter().all(|o| (32..=62).contains(o)), "{id}: {offsets:?}");
            assert!(offsets[31..].iter().all(|o| (4..32).contains(o)), "{id}: {offsets:?}");
        }
        // Another subnet, another order.
        let other = subnet("subnet-0fedcba9876543210", "10.0.1.0/24");
        assert_ne!(allocation_order(&s).next(), allocation_order(&other).next());
    }
}
