//! Subnets: where interfaces take their private addresses.

use ipnet::{Ipv4Net, Ipv6Net};

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::regions::zone_id;
use crate::state::{Partition, Record, RecordKey, Tx, availability_zones};
use crate::vpcs::vpc;

pub fn subnet<'a>(part: &'a Partition, id: &SubnetId) -> ApiResult<&'a Subnet> {
    part.subnet(id).ok_or_else(|| ApiError::invalid_subnet_id_not_found(id.as_str()))
}

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
    if !vpc.ipv4_blocks().any(|(_, net)| net.contains(&cidr)) || !(16..=28).contains(&cidr.prefix_len()) {
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
        Some(block) => Some(check_subnet_ipv6(tx.part(), &vpc, block)?),
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
        ended_ipv6: Vec::new(),
        tags: input.tags,
    };
    tx.put(Record::Subnet(subnet.clone()));
    Ok(subnet)
}

/// A /64 of the VPC's IPv6 block that no other subnet of the VPC has.
fn check_subnet_ipv6(part: &Partition, vpc: &Vpc, block: Ipv6Net) -> ApiResult<(SubnetCidrAssociationId, Ipv6Net)> {
    let within = vpc.ipv6_cidr.as_ref().is_some_and(|(_, net)| net.contains(&block));
    if block.prefix_len() != 64 || !within {
        return Err(ApiError::invalid_subnet_range(format!(
            "The IPv6 CIDR '{block}' is invalid: a subnet takes a /64 of its VPC's IPv6 block."
        )));
    }
    let block = block.trunc();
    if part.subnets().any(|s| s.vpc_id == vpc.id && s.ipv6_cidr.as_ref().is_some_and(|(_, net)| *net == block)) {
        return Err(ApiError::invalid_subnet_conflict(format!(
            "The IPv6 CIDR '{block}' conflicts with another subnet"
        )));
    }
    Ok((SubnetCidrAssociationId::generate(), block))
}

/// Removes a subnet's IPv6 block; refused while an interface of the subnet
/// has IPv6 addresses from it.
pub fn disassociate_subnet_cidr_block(
    tx: &mut Tx,
    association: &str,
) -> ApiResult<(Subnet, SubnetCidrAssociationId, Ipv6Net)> {
    let owner = tx.part().subnets().find(|s| s.ipv6_cidr.as_ref().is_some_and(|(id, _)| id.as_str() == association));
    let mut subnet = owner
        .ok_or_else(|| {
            ApiError::invalid_subnet_cidr_block_association_id_not_found(format!(
                "The subnet CIDR block with association ID '{association}' does not exist"
            ))
        })?
        .clone();
    if tx.part().interfaces().any(|n| n.subnet_id == subnet.id && !n.ipv6_addresses.is_empty()) {
        return Err(ApiError::dependency_violation(format!(
            "The subnet {} has network interfaces with IPv6 addresses from the block with association ID \
             {association}; unassign them first",
            subnet.id
        )));
    }
    let (id, block) = subnet.ipv6_cidr.take().expect("found by its IPv6 association");
    remember_ended(&mut subnet.ended_ipv6, (id.clone(), block));
    subnet.assign_ipv6_address_on_creation = false;
    tx.put(Record::Subnet(subnet.clone()));
    Ok((subnet, id, block))
}

pub fn associate_subnet_ipv6_cidr_block(tx: &mut Tx, id: &SubnetId, block: Ipv6Net) -> ApiResult<Subnet> {
    let mut subnet = subnet(tx.part(), id)?.clone();
    let vpc = vpc(tx.part(), &subnet.vpc_id)?;
    subnet.ipv6_cidr = Some(check_subnet_ipv6(tx.part(), vpc, block)?);
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
    crate::route_tables::forget_subnet(tx, id);
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

/// The subnet's free IPv4 addresses: its size less AWS's five reserved ones
/// and the private IPs of its interfaces.
pub fn available_ip_address_count(part: &Partition, s: &Subnet) -> u64 {
    let used = part.interfaces().filter(|n| n.subnet_id == s.id).map(|n| n.private_ips.len()).sum::<usize>();
    let size = (1u64 << (32 - s.cidr_block.prefix_len())).saturating_sub(5);
    size.saturating_sub(used as u64)
}

pub fn subnet_arn(s: &Subnet, region: &str, account: &str) -> String {
    format!("arn:aws:ec2:{region}:{account}:subnet/{}", s.id)
}

impl Described for Subnet {
    type Id = SubnetId;
    const FILTERS: &'static [&'static str] = &[
        "subnet-id",
        "subnetId",
        "vpc-id",
        "vpcId",
        "cidr-block",
        "cidr",
        "cidrBlock",
        "availability-zone",
        "availabilityZone",
        "default-for-az",
        "defaultForAz",
        "map-public-ip-on-launch",
        "state",
        "owner-id",
        "ipv6-cidr-block-association.ipv6-cidr-block",
        "ipv6-cidr-block-association.association-id",
        "ipv6-cidr-block-association.state",
        "availability-zone-id",
        "available-ip-address-count",
        "enable-dns64",
        "ipv6-native",
        "map-customer-owned-ip-on-launch",
        "subnet-arn",
    ];
    // Outposts, customer-owned pools, LNI and resource-name DNS options.
    const ABSENT: &'static [&'static str] = &[
        "customer-owned-ipv4-pool",
        "enable-lni-at-device-index",
        "outpost-arn",
        "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
        "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
        "private-dns-name-options-on-launch.hostname-type",
    ];

    fn all(part: &Partition) -> Vec<&Self> {
        part.subnets().collect()
    }

    fn get<'p>(part: &'p Partition, id: &SubnetId) -> Option<&'p Self> {
        part.subnet(id)
    }

    fn id(&self) -> &SubnetId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&SubnetId]) -> ApiError {
        ApiError::invalid_subnet_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        match name {
            "subnet-id" | "subnetId" => vec![self.id.to_string()],
            "vpc-id" | "vpcId" => vec![self.vpc_id.to_string()],
            "cidr-block" | "cidr" | "cidrBlock" => vec![self.cidr_block.to_string()],
            "availability-zone" | "availabilityZone" => vec![self.availability_zone.clone()],
            "default-for-az" | "defaultForAz" => vec![self.default_for_az.to_string()],
            "map-public-ip-on-launch" => vec![self.map_public_ip_on_launch.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![scope.account.to_string()],
            "ipv6-cidr-block-association.ipv6-cidr-block" => {
                self.ipv6_associations().map(|(_, n, _)| n.to_string()).collect()
            }
            "ipv6-cidr-block-association.association-id" => {
                self.ipv6_associations().map(|(id, _, _)| id.to_string()).collect()
            }
            "ipv6-cidr-block-association.state" => {
                self.ipv6_associations().map(|(_, _, live)| block_state(live).into()).collect()
            }
            "availability-zone-id" => vec![zone_id(&self.availability_zone)],
            "available-ip-address-count" => vec![available_ip_address_count(part, self).to_string()],
            "enable-dns64" | "ipv6-native" | "map-customer-owned-ip-on-launch" => vec!["false".into()],
            "subnet-arn" => vec![subnet_arn(self, &scope.region, &scope.account)],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}
