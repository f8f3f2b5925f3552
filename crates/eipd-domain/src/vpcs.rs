//! VPCs: the network every address, interface and instance lives in.

use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use rand::Rng;

use crate::describe::Described;
use crate::dhcp_options::set_for_new_vpc;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::route_tables::{delete_vpc_tables, drop_local_routes, main_route_table};
use crate::security_groups::default_security_group;
use crate::state::{Partition, Record, RecordKey, Tx};

pub fn vpc<'a>(part: &'a Partition, id: &VpcId) -> ApiResult<&'a Vpc> {
    part.vpc(id).ok_or_else(|| ApiError::invalid_vpc_id_not_found(id.as_str()))
}

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
        secondary_cidrs: Vec::new(),
        ended_ipv4: Vec::new(),
        ended_ipv6: Vec::new(),
        dhcp_options_id: set_for_new_vpc(tx.part(), &tx.scope),
        tags: input.tags,
    };
    tx.put(Record::Vpc(vpc.clone()));
    tx.put(Record::SecurityGroup(default_security_group(&vpc.id, vpc.ipv6_cidr.is_some())));
    tx.put(Record::RouteTable(main_route_table(&vpc.id)));
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

/// IPv4 blocks a VPC may have, its primary one included (AWS's default quota).
pub const MAX_IPV4_BLOCKS_PER_VPC: usize = 5;

/// A secondary IPv4 block: /16 to /28, overlapping none of the VPC's blocks.
pub fn associate_vpc_ipv4_cidr_block(tx: &mut Tx, id: &VpcId, block: Ipv4Net) -> ApiResult<(Vpc, CidrAssociationId)> {
    let mut vpc = vpc(tx.part(), id)?.clone();
    let block = block.trunc();
    if !(16..=28).contains(&block.prefix_len()) {
        return Err(ApiError::invalid_vpc_range(format!(
            "The CIDR '{block}' is invalid: a VPC block is between /16 and /28."
        )));
    }
    if vpc.ipv4_blocks().any(|(_, net)| net.contains(&block) || block.contains(&net)) {
        return Err(ApiError::invalid_vpc_range(format!(
            "The CIDR '{block}' conflicts with a CIDR block of the VPC {id}."
        )));
    }
    if vpc.ipv4_blocks().count() >= MAX_IPV4_BLOCKS_PER_VPC {
        return Err(ApiError::cidr_limit_exceeded(format!(
            "This network '{id}' has met its maximum number of allowed CIDRs: {MAX_IPV4_BLOCKS_PER_VPC}"
        )));
    }
    let association = CidrAssociationId::generate();
    vpc.secondary_cidrs.push((association.clone(), block));
    tx.put(Record::Vpc(vpc.clone()));
    Ok((vpc, association))
}

/// A block of a VPC, as DisassociateVpcCidrBlock names it back.
#[derive(Clone, Debug)]
pub enum VpcBlock {
    Ipv4(Ipv4Net),
    Ipv6(Ipv6Net),
}

/// Removes a secondary IPv4 block or the IPv6 block (at once: eipd keeps no
/// `disassociated` entries). The primary block stays; a block with subnets
/// in it stays.
pub fn disassociate_vpc_cidr_block(tx: &mut Tx, association: &str) -> ApiResult<(VpcId, CidrAssociationId, VpcBlock)> {
    let not_found = || {
        ApiError::invalid_vpc_cidr_block_association_id_not_found(format!(
            "The vpc CIDR block association ID '{association}' does not exist"
        ))
    };
    let owner = tx.part().vpcs().find(|v| {
        v.ipv4_blocks().any(|(id, _)| id.as_str() == association)
            || v.ipv6_cidr.as_ref().is_some_and(|(id, _)| id.as_str() == association)
    });
    let mut vpc = owner.ok_or_else(not_found)?.clone();
    let in_vpc = |s: &&Subnet| s.vpc_id == vpc.id;
    if vpc.cidr_association_id.as_str() == association {
        return Err(ApiError::operation_not_permitted(format!(
            "The vpc CIDR block with association ID {association} may not be disassociated. It is the primary IPv4 \
             CIDR block of the VPC"
        )));
    }
    if let Some(i) = vpc.secondary_cidrs.iter().position(|(id, _)| id.as_str() == association) {
        let (id, block) = vpc.secondary_cidrs[i].clone();
        if tx.part().subnets().filter(in_vpc).any(|s| block.contains(&s.cidr_block)) {
            return Err(ApiError::dependency_violation(format!(
                "The vpc CIDR block {block} with association ID {association} has subnets in it and cannot be \
                 disassociated"
            )));
        }
        vpc.secondary_cidrs.remove(i);
        remember_ended(&mut vpc.ended_ipv4, (id.clone(), block));
        let vpc_id = vpc.id.clone();
        drop_local_routes(tx, &vpc_id, &RouteDestination::Ipv4(block));
        tx.put(Record::Vpc(vpc));
        return Ok((vpc_id, id, VpcBlock::Ipv4(block)));
    }
    let (id, block) = vpc.ipv6_cidr.clone().ok_or_else(not_found)?;
    if tx.part().subnets().filter(in_vpc).any(|s| s.ipv6_cidr.is_some()) {
        return Err(ApiError::dependency_violation(format!(
            "The vpc IPv6 CIDR block {block} with association ID {association} has subnets with IPv6 blocks in it \
             and cannot be disassociated"
        )));
    }
    vpc.ipv6_cidr = None;
    remember_ended(&mut vpc.ended_ipv6, (id.clone(), block));
    let vpc_id = vpc.id.clone();
    drop_local_routes(tx, &vpc_id, &RouteDestination::Ipv6(block));
    tx.put(Record::Vpc(vpc));
    Ok((vpc_id, id, VpcBlock::Ipv6(block)))
}

/// Refused while the VPC has subnets, a gateway, security groups other
/// than its default one or route tables other than its main one; those two
/// go with it (as AWS documents).
pub fn delete_vpc(tx: &mut Tx, id: &VpcId) -> ApiResult<()> {
    vpc(tx.part(), id)?;
    let part = tx.part();
    let has_subnets = part.subnets().any(|s| &s.vpc_id == id);
    let has_gateway = part.gateway_of(id).is_some();
    let has_groups = part.security_groups().any(|g| &g.vpc_id == id && !g.is_default());
    if has_subnets || has_gateway || has_groups {
        return Err(ApiError::dependency_violation(format!("The vpc '{id}' has dependencies and cannot be deleted.")));
    }
    let default_group = part.default_security_group(id).map(|g| g.id.clone());
    delete_vpc_tables(tx, id)?;
    if let Some(group) = default_group {
        tx.delete(RecordKey::SecurityGroup(group));
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

impl Described for Vpc {
    type Id = VpcId;
    const FILTERS: &'static [&'static str] = &[
        "vpc-id",
        "cidr",
        "cidr-block-association.cidr-block",
        "cidrBlock",
        "is-default",
        "isDefault",
        "state",
        "owner-id",
        "dhcp-options-id",
        "instance-tenancy",
        "ipv6-cidr-block-association.ipv6-cidr-block",
        "ipv6-cidr-block-association.association-id",
        "ipv6-cidr-block-association.ipv6-pool",
        "ipv6-cidr-block-association.state",
        "cidr-block-association.association-id",
        "cidr-block-association.state",
        // Not in the model's documentation, but EC2 takes it (and Ansible's
        // ec2_vpc_net finds its VPC with it).
        "cidr-block",
    ];

    fn all(part: &Partition) -> Vec<&Self> {
        part.vpcs().collect()
    }

    fn get<'p>(part: &'p Partition, id: &VpcId) -> Option<&'p Self> {
        part.vpc(id)
    }

    fn id(&self) -> &VpcId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&VpcId]) -> ApiError {
        ApiError::invalid_vpc_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, _: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        match name {
            "vpc-id" => vec![self.id.to_string()],
            "cidr" | "cidr-block" | "cidrBlock" => vec![self.cidr_block.to_string()],
            "cidr-block-association.cidr-block" => {
                self.ipv4_associations().map(|(_, net, _)| net.to_string()).collect()
            }
            "cidr-block-association.association-id" => {
                self.ipv4_associations().map(|(id, _, _)| id.to_string()).collect()
            }
            "cidr-block-association.state" => {
                self.ipv4_associations().map(|(_, _, live)| block_state(live).into()).collect()
            }
            "ipv6-cidr-block-association.association-id" => {
                self.ipv6_associations().map(|(id, _, _)| id.to_string()).collect()
            }
            "ipv6-cidr-block-association.ipv6-pool" => self.ipv6_associations().map(|_| "Amazon".into()).collect(),
            "ipv6-cidr-block-association.state" => {
                self.ipv6_associations().map(|(_, _, live)| block_state(live).into()).collect()
            }
            "is-default" | "isDefault" => vec![self.is_default.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![scope.account.to_string()],
            "dhcp-options-id" => vec![self.dhcp_options_name().to_owned()],
            "instance-tenancy" => vec![self.instance_tenancy.clone()],
            "ipv6-cidr-block-association.ipv6-cidr-block" => {
                self.ipv6_associations().map(|(_, n, _)| n.to_string()).collect()
            }
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}
