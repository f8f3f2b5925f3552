//! CreateSubnet, DescribeSubnets, DeleteSubnet, ModifySubnetAttribute and a
//! subnet's IPv6 block: where interfaces take their private addresses.

use super::render::Renderer;
use super::vpcs::{attribute_value, cidr, cidr6, vpc_id};
use super::{Created, Ctx, Output, Render, describe, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::regions::zone_id;
use eipd_domain::subnets::{self as rules, CreateSubnet, SubnetAttribute};
use eipd_domain::{Partition, Subnet, SubnetCidrAssociationId, SubnetId, block_state};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter};
use ipnet::Ipv6Net;

pub(crate) fn subnet_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<SubnetId> {
    let malformed = malformed_code(ApiError::invalid_subnet_id_malformed_raw, "subnet-");
    parse_id(ctx, value, SubnetId::parse, malformed, ApiError::invalid_subnet_id_not_found)
}

impl Render for Subnet {
    const ELEMENT: &'static str = "subnet";
    const SET: &'static str = "subnetSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        write_subnet(w, self, r.part, r.account, r.region);
    }
}

fn write_subnet(w: &mut XmlWriter, s: &Subnet, part: &Partition, owner: &str, region: &str) {
    w.display("subnetId", &s.id);
    w.text("subnetArn", &rules::subnet_arn(s, region, owner));
    w.text("state", "available");
    w.display("vpcId", &s.vpc_id);
    w.display("cidrBlock", s.cidr_block);
    w.display("availableIpAddressCount", rules::available_ip_address_count(part, s));
    w.text("availabilityZone", &s.availability_zone);
    w.text("availabilityZoneId", &zone_id(&s.availability_zone));
    w.display("defaultForAz", s.default_for_az);
    w.display("mapPublicIpOnLaunch", s.map_public_ip_on_launch);
    w.display("assignIpv6AddressOnCreation", s.assign_ipv6_address_on_creation);
    w.display("mapCustomerOwnedIpOnLaunch", false);
    w.text("ownerId", owner);
    w.list("ipv6CidrBlockAssociationSet", s.ipv6_associations(), |w, (id, net, live)| {
        w.display("associationId", id);
        w.display("ipv6CidrBlock", net);
        w.nested("ipv6CidrBlockState", |w| w.text("state", block_state(live)));
    });
    w.display("ipv6Native", false);
    w.tag_set("tagSet", &s.tags);
}

pub async fn create_subnet(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let vpc_id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let cidr_block = cidr("CidrBlock", &p.require_str("CidrBlock")?)?;
    let availability_zone = p.take_str("AvailabilityZone");
    let ipv6_cidr_block = p.take_str("Ipv6CidrBlock").map(|v| cidr6("Ipv6CidrBlock", &v)).transpose()?;
    let tags = tags_for(&p.take_tag_specifications()?, &["subnet"])?;
    ctx.finish_and_authorize(p)?;
    let input = CreateSubnet { vpc_id, cidr_block, availability_zone, ipv6_cidr_block, tags: tags_of(&tags, "subnet") };
    let subnet = ctx.write(move |tx| rules::create_subnet(tx, input.clone())).await?;
    let part = ctx.read().await?;
    Ok(rendered(&Created { resource: &subnet, r: ctx.renderer(&part) }))
}

pub async fn describe_subnets(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<Subnet>(ctx, p, "SubnetId", subnet_id).await
}

pub async fn delete_subnet(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::delete_subnet(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn modify_subnet_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let map_public = attribute_value(&mut p, "MapPublicIpOnLaunch")?;
    let assign_ipv6 = attribute_value(&mut p, "AssignIpv6AddressOnCreation")?;
    ctx.finish(p)?;
    let attribute = match (map_public, assign_ipv6) {
        (Some(v), None) => SubnetAttribute::MapPublicIpOnLaunch(v),
        (None, Some(v)) => SubnetAttribute::AssignIpv6AddressOnCreation(v),
        _ => {
            return Err(ApiError::invalid_parameter_combination(
                "Exactly one of MapPublicIpOnLaunch or AssignIpv6AddressOnCreation must be specified",
            ));
        }
    };
    ctx.authorize(false)?;
    ctx.write(move |tx| rules::modify_subnet_attribute(tx, &id, attribute)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn associate_subnet_cidr_block(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let block = cidr6("Ipv6CidrBlock", &p.require_str("Ipv6CidrBlock")?)?;
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let subnet = ctx.write(move |tx| rules::associate_subnet_ipv6_cidr_block(tx, &id, block)).await?;
    let (association, block) = subnet.ipv6_cidr.clone().expect("just associated");
    Ok(Box::new(SubnetCidrBlockOutput { subnet_id: subnet.id, association, block, state: "associating" }))
}

pub async fn disassociate_subnet_cidr_block(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let association = p.require_str("AssociationId")?;
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let (subnet, association, block) =
        ctx.write(move |tx| rules::disassociate_subnet_cidr_block(tx, &association)).await?;
    Ok(Box::new(SubnetCidrBlockOutput { subnet_id: subnet.id, association, block, state: "disassociating" }))
}

/// The answer of Associate/DisassociateSubnetCidrBlock.
struct SubnetCidrBlockOutput {
    subnet_id: SubnetId,
    association: SubnetCidrAssociationId,
    block: Ipv6Net,
    state: &'static str,
}

impl ToXml for SubnetCidrBlockOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("subnetId", &self.subnet_id);
        w.nested("ipv6CidrBlockAssociation", |w| {
            w.display("associationId", &self.association);
            w.display("ipv6CidrBlock", self.block);
            w.nested("ipv6CidrBlockState", |w| w.text("state", self.state));
        });
    }
}
