//! The objects an address binds to: VPCs, subnets, internet gateways,
//! network interfaces and instances, deep where an address needs them.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use rand::Rng;

use super::addresses::{end_association, restore_auto_public_ip};
use super::ids::*;
use super::model::*;
use super::state::{Partition, Record, RecordKey, Tx, availability_zones};
use crate::error::{ApiError, ApiResult};

/// The most interfaces one instance may have (a generous EC2 figure).
pub const MAX_INTERFACES_PER_INSTANCE: usize = 15;
/// The most private IPv4 addresses one interface may have.
pub const MAX_PRIVATE_IPS_PER_INTERFACE: usize = 50;

// ---- lookups that raise EC2's NotFound codes ----------------------------

pub fn vpc<'a>(part: &'a Partition, id: &VpcId) -> ApiResult<&'a Vpc> {
    part.vpc(id).ok_or_else(|| ApiError::invalid_vpc_id_not_found(id.as_str()))
}

pub fn subnet<'a>(part: &'a Partition, id: &SubnetId) -> ApiResult<&'a Subnet> {
    part.subnet(id).ok_or_else(|| ApiError::invalid_subnet_id_not_found(id.as_str()))
}

pub fn internet_gateway<'a>(part: &'a Partition, id: &InternetGatewayId) -> ApiResult<&'a InternetGateway> {
    part.internet_gateway(id).ok_or_else(|| ApiError::invalid_internet_gateway_id_not_found(id.as_str()))
}

pub fn interface<'a>(part: &'a Partition, id: &NetworkInterfaceId) -> ApiResult<&'a NetworkInterface> {
    part.interface(id).ok_or_else(|| ApiError::invalid_network_interface_id_not_found(id.as_str()))
}

pub fn instance<'a>(part: &'a Partition, id: &InstanceId) -> ApiResult<&'a Instance> {
    part.instance(id).ok_or_else(|| ApiError::invalid_instance_id_not_found(id.as_str()))
}

// ---- VPCs -----------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct CreateVpc {
    pub cidr_block: Ipv4Net,
    pub amazon_provided_ipv6_cidr_block: bool,
    pub instance_tenancy: String,
    pub tags: Tags,
}

pub fn create_vpc(tx: &mut Tx, input: CreateVpc) -> ApiResult<Vpc> {
    if !(16..=28).contains(&input.cidr_block.prefix_len()) {
        return Err(ApiError::invalid_vpc_range(format!(
            "The CIDR '{}' is invalid: a VPC block is between /16 and /28.",
            input.cidr_block
        )));
    }
    let vpc = Vpc {
        id: VpcId::generate(),
        cidr_block: input.cidr_block.trunc(),
        cidr_association_id: CidrAssociationId::generate(),
        is_default: false,
        enable_dns_support: true,
        enable_dns_hostnames: false,
        instance_tenancy: input.instance_tenancy,
        ipv6_cidr: input.amazon_provided_ipv6_cidr_block.then(|| (CidrAssociationId::generate(), amazon_ipv6_block())),
        tags: input.tags,
    };
    tx.put(Record::Vpc(vpc.clone()));
    Ok(vpc)
}

/// An Amazon-provided /56, from the documentation range 2600:1f00::/24's style.
fn amazon_ipv6_block() -> Ipv6Net {
    let mut rng = rand::rng();
    let segments =
        [0x2600, 0x1f00 | rng.random_range(0..0x100u16), rng.random(), rng.random::<u16>() & 0xff00, 0, 0, 0, 0];
    Ipv6Net::new(Ipv6Addr::from(segments), 56).expect("valid prefix")
}

pub fn associate_vpc_ipv6_cidr_block(tx: &mut Tx, id: &VpcId) -> ApiResult<Vpc> {
    let mut vpc = vpc(tx.part(), id)?.clone();
    if vpc.ipv6_cidr.is_some() {
        return Err(ApiError::invalid_parameter_value(format!(
            "The VPC {id} already has an IPv6 CIDR block (eipd supports one per VPC)"
        )));
    }
    vpc.ipv6_cidr = Some((CidrAssociationId::generate(), amazon_ipv6_block()));
    tx.put(Record::Vpc(vpc.clone()));
    Ok(vpc)
}

pub fn delete_vpc(tx: &mut Tx, id: &VpcId) -> ApiResult<()> {
    vpc(tx.part(), id)?;
    let has_subnets = tx.part().subnets().any(|s| &s.vpc_id == id);
    let has_gateway = tx.part().gateway_of(id).is_some();
    if has_subnets || has_gateway {
        return Err(ApiError::dependency_violation(format!("The vpc '{id}' has dependencies and cannot be deleted.")));
    }
    tx.delete(RecordKey::Vpc(id.clone()));
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
}

pub fn modify_vpc_attribute(tx: &mut Tx, id: &VpcId, attribute: VpcAttribute, value: bool) -> ApiResult<()> {
    let mut vpc = vpc(tx.part(), id)?.clone();
    match attribute {
        VpcAttribute::EnableDnsSupport => vpc.enable_dns_support = value,
        VpcAttribute::EnableDnsHostnames => {
            if value && !vpc.enable_dns_support {
                return Err(ApiError::invalid_parameter_value(
                    "enableDnsHostnames can only be true when enableDnsSupport is true",
                ));
            }
            vpc.enable_dns_hostnames = value;
        }
    }
    tx.put(Record::Vpc(vpc));
    Ok(())
}

// ---- subnets ----------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct CreateSubnet {
    pub vpc_id: VpcId,
    pub cidr_block: Ipv4Net,
    pub availability_zone: Option<String>,
    pub ipv6_cidr_block: Option<Ipv6Net>,
    pub tags: Tags,
}

pub fn create_subnet(tx: &mut Tx, input: CreateSubnet) -> ApiResult<Subnet> {
    let vpc = vpc(tx.part(), &input.vpc_id)?.clone();
    let cidr = input.cidr_block.trunc();
    if !vpc.cidr_block.contains(&cidr) || !(16..=28).contains(&cidr.prefix_len()) {
        return Err(ApiError::invalid_subnet_range(format!("The CIDR '{cidr}' is invalid.")));
    }
    if tx.part().subnets().any(|s| s.vpc_id == vpc.id && (s.cidr_block.contains(&cidr) || cidr.contains(&s.cidr_block)))
    {
        return Err(ApiError::invalid_subnet_conflict(format!("The CIDR '{cidr}' conflicts with another subnet")));
    }
    let zones = availability_zones(&tx.scope.region);
    let availability_zone = match input.availability_zone {
        Some(az) if zones.contains(&az) => az,
        Some(az) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                zones.join(", ")
            )));
        }
        None => zones[0].clone(),
    };
    let ipv6_cidr = match input.ipv6_cidr_block {
        Some(block) => Some(check_subnet_ipv6(&vpc, block)?),
        None => None,
    };
    let subnet = Subnet {
        id: SubnetId::generate(),
        vpc_id: vpc.id,
        cidr_block: cidr,
        availability_zone,
        default_for_az: false,
        map_public_ip_on_launch: false,
        assign_ipv6_address_on_creation: false,
        ipv6_cidr,
        tags: input.tags,
    };
    tx.put(Record::Subnet(subnet.clone()));
    Ok(subnet)
}

fn check_subnet_ipv6(vpc: &Vpc, block: Ipv6Net) -> ApiResult<(SubnetCidrAssociationId, Ipv6Net)> {
    let within = vpc.ipv6_cidr.as_ref().is_some_and(|(_, net)| net.contains(&block));
    if block.prefix_len() != 64 || !within {
        return Err(ApiError::invalid_subnet_range(format!(
            "The IPv6 CIDR '{block}' is invalid: a subnet takes a /64 of its VPC's IPv6 block."
        )));
    }
    Ok((SubnetCidrAssociationId::generate(), block.trunc()))
}

pub fn associate_subnet_ipv6_cidr_block(tx: &mut Tx, id: &SubnetId, block: Ipv6Net) -> ApiResult<Subnet> {
    let mut subnet = subnet(tx.part(), id)?.clone();
    let vpc = vpc(tx.part(), &subnet.vpc_id)?;
    subnet.ipv6_cidr = Some(check_subnet_ipv6(vpc, block)?);
    tx.put(Record::Subnet(subnet.clone()));
    Ok(subnet)
}

pub fn delete_subnet(tx: &mut Tx, id: &SubnetId) -> ApiResult<()> {
    subnet(tx.part(), id)?;
    if tx.part().interfaces().any(|n| &n.subnet_id == id) {
        return Err(ApiError::dependency_violation(format!(
            "The subnet '{id}' has dependencies and cannot be deleted."
        )));
    }
    tx.delete(RecordKey::Subnet(id.clone()));
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubnetAttribute {
    MapPublicIpOnLaunch(bool),
    AssignIpv6AddressOnCreation(bool),
}

pub fn modify_subnet_attribute(tx: &mut Tx, id: &SubnetId, attribute: SubnetAttribute) -> ApiResult<()> {
    let mut subnet = subnet(tx.part(), id)?.clone();
    match attribute {
        SubnetAttribute::MapPublicIpOnLaunch(v) => subnet.map_public_ip_on_launch = v,
        SubnetAttribute::AssignIpv6AddressOnCreation(v) => subnet.assign_ipv6_address_on_creation = v,
    }
    tx.put(Record::Subnet(subnet));
    Ok(())
}

// ---- internet gateways ----------------------------------------------------

pub fn create_internet_gateway(tx: &mut Tx, tags: Tags) -> InternetGateway {
    let igw = InternetGateway { id: InternetGatewayId::generate(), attached_vpc: None, tags };
    tx.put(Record::InternetGateway(igw.clone()));
    igw
}

pub fn attach_internet_gateway(tx: &mut Tx, id: &InternetGatewayId, vpc_id: &VpcId) -> ApiResult<()> {
    let mut igw = internet_gateway(tx.part(), id)?.clone();
    vpc(tx.part(), vpc_id)?;
    if let Some(attached) = &igw.attached_vpc {
        return Err(ApiError::resource_already_associated_raw(format!(
            "resource {id} is already attached to network {attached}"
        )));
    }
    if let Some(other) = tx.part().gateway_of(vpc_id) {
        return Err(ApiError::resource_already_associated_raw(format!(
            "Network {vpc_id} already has an internet gateway attached ({})",
            other.id
        )));
    }
    igw.attached_vpc = Some(vpc_id.clone());
    tx.put(Record::InternetGateway(igw));
    Ok(())
}

/// Detaching is refused while the VPC has mapped public addresses, as in AWS.
pub fn detach_internet_gateway(tx: &mut Tx, id: &InternetGatewayId, vpc_id: &VpcId) -> ApiResult<()> {
    let mut igw = internet_gateway(tx.part(), id)?.clone();
    vpc(tx.part(), vpc_id)?;
    if igw.attached_vpc.as_ref() != Some(vpc_id) {
        return Err(ApiError::gateway_not_attached_raw(format!("resource {id} is not attached to network {vpc_id}")));
    }
    let part = tx.part();
    let mapped = part.interfaces().any(|eni| &eni.vpc_id == vpc_id && !part.public_ipv4s(eni).is_empty());
    if mapped {
        return Err(ApiError::dependency_violation(format!(
            "Network {vpc_id} has some mapped public address(es). Please unmap those public \
             address(es) before detaching the gateway."
        )));
    }
    igw.attached_vpc = None;
    tx.put(Record::InternetGateway(igw));
    Ok(())
}

pub fn delete_internet_gateway(tx: &mut Tx, id: &InternetGatewayId) -> ApiResult<()> {
    let igw = internet_gateway(tx.part(), id)?;
    if igw.attached_vpc.is_some() {
        return Err(ApiError::dependency_violation(format!(
            "The internetGateway '{id}' has dependencies and cannot be deleted."
        )));
    }
    tx.delete(RecordKey::InternetGateway(id.clone()));
    Ok(())
}

// ---- network interfaces -----------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct InterfaceSpec {
    pub description: String,
    /// Requested private IPv4s; the first is the primary.
    pub private_ips: Vec<Ipv4Addr>,
    pub secondary_private_ip_count: u32,
    pub ipv6_addresses: Vec<Ipv6Addr>,
    pub ipv6_address_count: u32,
    pub tags: Tags,
}

pub fn create_network_interface(tx: &mut Tx, subnet_id: &SubnetId, spec: InterfaceSpec) -> ApiResult<NetworkInterface> {
    let subnet = subnet(tx.part(), subnet_id)?.clone();
    let eni = new_interface(tx, &subnet, spec)?;
    tx.put(Record::NetworkInterface(eni.clone()));
    Ok(eni)
}

/// A new interface in a subnet, its addresses taken, not yet stored.
fn new_interface(tx: &mut Tx, subnet: &Subnet, spec: InterfaceSpec) -> ApiResult<NetworkInterface> {
    let total = spec.private_ips.len().max(1) + spec.secondary_private_ip_count as usize;
    if total > MAX_PRIVATE_IPS_PER_INTERFACE {
        return Err(ApiError::private_ip_address_limit_exceeded(format!(
            "Number of private addresses will exceed limit of {MAX_PRIVATE_IPS_PER_INTERFACE}."
        )));
    }
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
        tags: spec.tags,
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

fn free_private_ips(part: &Partition, subnet: &Subnet, n: usize, taking: &[Ipv4Addr]) -> ApiResult<Vec<Ipv4Addr>> {
    let net = subnet.cidr_block;
    let first = u32::from(net.network()) + 4;
    let last = u32::from(net.broadcast());
    let mut out = Vec::with_capacity(n);
    let mut candidate = first;
    while out.len() < n && candidate < last {
        let ip = Ipv4Addr::from(candidate);
        if !taking.contains(&ip) && part.interface_with_private_ip(&subnet.vpc_id, ip).is_none() {
            out.push(ip);
        }
        candidate += 1;
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
    if let Some(att) = &eni.attachment {
        return Err(ApiError::invalid_network_interface_in_use(format!(
            "Interface: [{id}] in use (attached to {}).",
            att.instance_id
        )));
    }
    remove_interface(tx, eni)
}

fn remove_interface(tx: &mut Tx, eni: NetworkInterface) -> ApiResult<()> {
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

fn detach(tx: &mut Tx, mut eni: NetworkInterface) {
    eni.attachment = None;
    if let Some(ip) = eni.auto_public_ip.take() {
        tx.release_public_ip(ip);
    }
    eni.auto_assign_public_ip = false;
    tx.put(Record::NetworkInterface(eni));
}

pub fn assign_private_ip_addresses(
    tx: &mut Tx,
    id: &NetworkInterfaceId,
    ips: Vec<Ipv4Addr>,
    count: u32,
) -> ApiResult<Vec<Ipv4Addr>> {
    let mut eni = interface(tx.part(), id)?.clone();
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
    for ip in ips {
        check_private_ip_free(tx.part(), &subnet, ip, &assigned)?;
        assigned.push(ip);
    }
    let more = free_private_ips(tx.part(), &subnet, count as usize, &assigned)?;
    assigned.extend(more);
    eni.private_ips.extend(assigned.iter().copied());
    tx.put(Record::NetworkInterface(eni));
    Ok(assigned)
}

/// Refused for the primary private IP and while an Elastic IP is on the address.
pub fn unassign_private_ip_addresses(tx: &mut Tx, id: &NetworkInterfaceId, ips: Vec<Ipv4Addr>) -> ApiResult<()> {
    let mut eni = interface(tx.part(), id)?.clone();
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

// ---- instances ----------------------------------------------------------------

/// One `NetworkInterface.N` of RunInstances.
#[derive(Clone, Debug, Default)]
pub struct LaunchInterface {
    pub device_index: u32,
    pub existing: Option<NetworkInterfaceId>,
    pub subnet_id: Option<SubnetId>,
    pub associate_public_ip_address: Option<bool>,
    pub delete_on_termination: Option<bool>,
    pub spec: InterfaceSpec,
}

#[derive(Clone, Debug, Default)]
pub struct RunInstances {
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub min_count: u32,
    pub max_count: u32,
    pub subnet_id: Option<SubnetId>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    pub secondary_private_ip_count: u32,
    pub ipv6_address_count: u32,
    pub network_interfaces: Vec<LaunchInterface>,
    pub client_token: Option<String>,
    pub instance_tags: Tags,
    pub interface_tags: Tags,
}

/// The most instances one RunInstances call launches.
pub const MAX_LAUNCH_COUNT: u32 = 100;

pub fn run_instances(tx: &mut Tx, input: RunInstances) -> ApiResult<Vec<Instance>> {
    if let Some(token) = &input.client_token {
        let earlier: Vec<Instance> =
            tx.part().instances().filter(|i| i.client_token.as_ref() == Some(token)).cloned().collect();
        if !earlier.is_empty() {
            return Ok(earlier);
        }
    }
    if input.min_count == 0 || input.min_count > input.max_count {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid MinCount {} / MaxCount {}: 1 <= MinCount <= MaxCount",
            input.min_count, input.max_count
        )));
    }
    let count = input.max_count.min(MAX_LAUNCH_COUNT);
    if input.network_interfaces.len() > 1
        && input.network_interfaces.iter().any(|n| n.associate_public_ip_address == Some(true))
    {
        return Err(ApiError::invalid_parameter_combination(
            "The associatePublicIPAddress parameter cannot be specified when launching with multiple network interfaces.",
        ));
    }
    if count > 1 && (input.private_ip.is_some() || input.network_interfaces.iter().any(|n| n.existing.is_some())) {
        return Err(ApiError::invalid_parameter_combination(
            "A specific private IP address or existing network interface can only be used to launch one instance.",
        ));
    }
    let reservation_id = ReservationId::generate();
    let mut launched = Vec::with_capacity(count as usize);
    for index in 0..count {
        launched.push(launch_one(tx, &input, &reservation_id, index)?);
    }
    Ok(launched)
}

fn launch_subnet(part: &Partition, input: &RunInstances, nic: Option<&LaunchInterface>) -> ApiResult<Subnet> {
    if let Some(id) = nic.and_then(|n| n.subnet_id.as_ref()).or(input.subnet_id.as_ref()) {
        return Ok(subnet(part, id)?.clone());
    }
    let default_vpc = part
        .default_vpc()
        .ok_or_else(|| ApiError::vpc_id_not_specified("No default VPC for this user. Specify a subnet."))?;
    let zone = input.availability_zone.clone();
    part.subnets()
        .find(|s| {
            s.vpc_id == default_vpc.id && s.default_for_az && zone.as_ref().is_none_or(|z| &s.availability_zone == z)
        })
        .cloned()
        .ok_or_else(|| ApiError::invalid_parameter_value("No default subnet in the requested availability zone"))
}

fn launch_one(tx: &mut Tx, input: &RunInstances, reservation_id: &ReservationId, index: u32) -> ApiResult<Instance> {
    let mut nics = input.network_interfaces.clone();
    if nics.is_empty() {
        nics.push(LaunchInterface {
            device_index: 0,
            spec: InterfaceSpec {
                private_ips: input.private_ip.into_iter().collect(),
                secondary_private_ip_count: input.secondary_private_ip_count,
                ipv6_address_count: input.ipv6_address_count,
                ..InterfaceSpec::default()
            },
            ..LaunchInterface::default()
        });
    }
    nics.sort_by_key(|n| n.device_index);
    if nics[0].device_index != 0 {
        return Err(ApiError::invalid_parameter_value("A network interface at device index 0 is required"));
    }
    if nics.windows(2).any(|w| w[0].device_index == w[1].device_index) {
        return Err(ApiError::invalid_parameter_value("Each network interface needs its own device index"));
    }
    let primary_subnet = match &nics[0].existing {
        Some(id) => subnet(tx.part(), &interface(tx.part(), id)?.subnet_id)?.clone(),
        None => launch_subnet(tx.part(), input, Some(&nics[0]))?,
    };
    let instance = Instance {
        id: InstanceId::generate(),
        reservation_id: reservation_id.clone(),
        image_id: input.image_id.clone(),
        instance_type: input.instance_type.clone(),
        key_name: input.key_name.clone(),
        state: InstanceState::Running,
        subnet_id: primary_subnet.id.clone(),
        vpc_id: primary_subnet.vpc_id.clone(),
        availability_zone: primary_subnet.availability_zone.clone(),
        launch_time: tx.now,
        ami_launch_index: index,
        client_token: input.client_token.clone(),
        tags: input.instance_tags.clone(),
    };
    tx.put(Record::Instance(instance.clone()));
    let single = nics.len() == 1;
    for nic in &nics {
        let mut eni = match &nic.existing {
            Some(id) => {
                let eni = interface(tx.part(), id)?.clone();
                if eni.attachment.is_some() {
                    return Err(ApiError::invalid_network_interface_in_use(format!("Interface: [{id}] in use.")));
                }
                eni
            }
            None => {
                let subnet = if nic.device_index == 0 {
                    primary_subnet.clone()
                } else {
                    launch_subnet(tx.part(), input, Some(nic))?
                };
                let mut spec = nic.spec.clone();
                spec.tags.extend(input.interface_tags.clone());
                let eni = new_interface(tx, &subnet, spec)?;
                // Index the new interface's private IPs before the next one is made.
                tx.put(Record::NetworkInterface(eni.clone()));
                eni
            }
        };
        if eni.vpc_id != instance.vpc_id || eni.availability_zone != instance.availability_zone {
            return Err(ApiError::invalid_parameter_value(
                "All network interfaces of an instance must be in the same VPC and availability zone",
            ));
        }
        eni.attachment = Some(Attachment {
            id: AttachmentId::generate(),
            instance_id: instance.id.clone(),
            device_index: nic.device_index,
            attach_time: tx.now,
            delete_on_termination: nic.delete_on_termination.unwrap_or(nic.existing.is_none()),
        });
        if nic.device_index == 0 && single {
            let subnet_default = tx.part().subnet(&eni.subnet_id).is_some_and(|s| s.map_public_ip_on_launch);
            eni.auto_assign_public_ip = nic.associate_public_ip_address.unwrap_or(subnet_default);
        }
        tx.put(Record::NetworkInterface(eni.clone()));
        if eni.auto_assign_public_ip {
            restore_auto_public_ip(tx, eni)?;
        }
    }
    Ok(instance)
}

/// One instance's state change, as Start/Stop/TerminateInstances answer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: InstanceId,
    pub previous: InstanceState,
    /// The transitional state the answer shows (D16).
    pub current: InstanceState,
}

fn instances_for_change(part: &Partition, ids: &[InstanceId]) -> ApiResult<Vec<Instance>> {
    let missing: Vec<&str> = ids.iter().filter(|id| part.instance(id).is_none()).map(InstanceId::as_str).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid_instance_id_not_found(&missing.join(", ")));
    }
    Ok(ids.iter().filter_map(|id| part.instance(id).cloned()).collect())
}

/// Terminating ends the associations on the instance's interfaces (the
/// addresses stay allocated), deletes the interfaces marked
/// delete-on-termination and detaches the others.
pub fn terminate_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let mut changes = Vec::new();
    for mut inst in instances_for_change(tx.part(), ids)? {
        let previous = inst.state;
        if previous != InstanceState::Terminated {
            for eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                let delete = eni.attachment.as_ref().is_some_and(|a| a.delete_on_termination);
                if delete {
                    detach_for_removal(tx, eni)?;
                } else {
                    let on_it: Vec<Ipv4Addr> = tx.part().addresses_on_interface(&eni.id).map(|a| a.public_ip).collect();
                    for ip in on_it {
                        end_association(tx, ip)?;
                    }
                    let eni = tx.part().interface(&eni.id).cloned().expect("exists");
                    detach(tx, eni);
                }
            }
            inst.state = InstanceState::Terminated;
            tx.put(Record::Instance(inst.clone()));
        }
        let current = if previous == InstanceState::Terminated { previous } else { InstanceState::ShuttingDown };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}

fn detach_for_removal(tx: &mut Tx, mut eni: NetworkInterface) -> ApiResult<()> {
    eni.attachment = None;
    tx.put(Record::NetworkInterface(eni.clone()));
    remove_interface(tx, eni)
}

/// Stopping releases auto-assigned public IPs; Elastic IPs stay (VPC).
pub fn stop_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let mut changes = Vec::new();
    for mut inst in instances_for_change(tx.part(), ids)? {
        let previous = inst.state;
        match previous {
            InstanceState::Terminated | InstanceState::ShuttingDown => {
                return Err(ApiError::incorrect_instance_state(format!(
                    "This instance '{}' is not in a state from which it can be stopped.",
                    inst.id
                )));
            }
            InstanceState::Stopped | InstanceState::Stopping => {}
            _ => {
                for mut eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                    if let Some(ip) = eni.auto_public_ip.take() {
                        tx.release_public_ip(ip);
                        tx.put(Record::NetworkInterface(eni));
                    }
                }
                inst.state = InstanceState::Stopped;
                tx.put(Record::Instance(inst.clone()));
            }
        }
        let current = if previous == InstanceState::Stopped { previous } else { InstanceState::Stopping };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}

/// Starting gives back an auto-assigned public IP where AWS would.
pub fn start_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let mut changes = Vec::new();
    for mut inst in instances_for_change(tx.part(), ids)? {
        let previous = inst.state;
        match previous {
            InstanceState::Terminated | InstanceState::ShuttingDown => {
                return Err(ApiError::incorrect_instance_state(format!(
                    "This instance '{}' is not in a state from which it can be started.",
                    inst.id
                )));
            }
            InstanceState::Running | InstanceState::Pending => {}
            _ => {
                inst.state = InstanceState::Running;
                tx.put(Record::Instance(inst.clone()));
                for eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                    restore_auto_public_ip(tx, eni)?;
                }
            }
        }
        let current = if previous == InstanceState::Running { previous } else { InstanceState::Pending };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}
