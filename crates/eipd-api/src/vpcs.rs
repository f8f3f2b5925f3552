//! CreateVpc, DescribeVpcs, DeleteVpc, the VPC attributes and its IPv6 block:
//! the network every address, interface and instance lives in.

use ipnet::{Ipv4Net, Ipv6Net};

use super::render::Renderer;
use super::{Created, Ctx, Output, Render, describe, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::vpcs::{self as rules, CreateVpc, VpcAttribute, VpcBlock};
use eipd_domain::{CidrAssociationId, Vpc, VpcId, block_state};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter};

pub(crate) fn vpc_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<VpcId> {
    let malformed = malformed_code(ApiError::invalid_vpc_id_malformed_raw, "vpc-");
    parse_id(ctx, value, VpcId::parse, malformed, ApiError::invalid_vpc_id_not_found)
}

pub(crate) fn cidr(name: &str, value: &str) -> ApiResult<Ipv4Net> {
    value.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. This is not a valid CIDR block."
        ))
    })
}

pub(crate) fn cidr6(name: &str, value: &str) -> ApiResult<Ipv6Net> {
    value.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. This is not a valid IPv6 CIDR block."
        ))
    })
}

/// `Attr.Value=true|false` (ModifyVpcAttribute, ModifySubnetAttribute).
pub(crate) fn attribute_value(p: &mut Params, name: &str) -> ApiResult<Option<bool>> {
    let value = p.take_bool(&format!("{name}.Value"))?;
    if value.is_none() && p.take_str(name).is_some() {
        return Err(ApiError::missing(&format!("{name}.Value")));
    }
    Ok(value)
}

impl Render for Vpc {
    const ELEMENT: &'static str = "vpc";
    const SET: &'static str = "vpcSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        write_vpc(w, self, r.account, r.region);
    }
}

fn write_vpc(w: &mut XmlWriter, v: &Vpc, owner: &str, region: &str) {
    w.display("vpcId", &v.id);
    w.text("ownerId", owner);
    w.text("state", "available");
    w.display("cidrBlock", v.cidr_block);
    w.list("cidrBlockAssociationSet", v.ipv4_associations(), |w, (id, block, live)| {
        w.display("associationId", id);
        w.display("cidrBlock", block);
        w.nested("cidrBlockState", |w| w.text("state", block_state(live)));
    });
    w.list("ipv6CidrBlockAssociationSet", v.ipv6_associations(), |w, (id, net, live)| {
        w.display("associationId", id);
        w.display("ipv6CidrBlock", net);
        w.nested("ipv6CidrBlockState", |w| w.text("state", block_state(live)));
        w.text("networkBorderGroup", region);
        w.text("ipv6Pool", "Amazon");
    });
    w.text("dhcpOptionsId", v.dhcp_options_name());
    w.text("instanceTenancy", &v.instance_tenancy);
    w.display("isDefault", v.is_default);
    w.tag_set("tagSet", &v.tags);
}

pub async fn create_vpc(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let cidr_block = cidr("CidrBlock", &p.require_str("CidrBlock")?)?;
    let amazon_provided_ipv6_cidr_block = p.take_bool("AmazonProvidedIpv6CidrBlock")?.unwrap_or(false);
    let instance_tenancy = p.take_str("InstanceTenancy").unwrap_or_else(|| "default".into());
    if !matches!(instance_tenancy.as_str(), "default" | "dedicated") {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({instance_tenancy}) for parameter InstanceTenancy is invalid."
        )));
    }
    let tags = tags_for(&p.take_tag_specifications()?, &["vpc"])?;
    ctx.finish_and_authorize(p)?;
    let input =
        CreateVpc { cidr_block, amazon_provided_ipv6_cidr_block, instance_tenancy, tags: tags_of(&tags, "vpc") };
    let vpc = ctx.write(move |tx| rules::create_vpc(tx, input.clone())).await?;
    // Its XML needs nothing else of the partition: no read of the store.
    let part = ctx.cached();
    Ok(rendered(&Created { resource: &vpc, r: ctx.renderer(&part) }))
}

pub async fn describe_vpcs(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<Vpc>(ctx, p, "VpcId", vpc_id).await
}

pub async fn delete_vpc(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::delete_vpc(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn modify_vpc_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let support = attribute_value(&mut p, "EnableDnsSupport")?;
    let hostnames = attribute_value(&mut p, "EnableDnsHostnames")?;
    ctx.finish(p)?;
    let (attribute, value) = match (support, hostnames) {
        (Some(v), None) => (VpcAttribute::EnableDnsSupport, v),
        (None, Some(v)) => (VpcAttribute::EnableDnsHostnames, v),
        _ => {
            return Err(ApiError::invalid_parameter_combination(
                "Exactly one of EnableDnsSupport or EnableDnsHostnames must be specified",
            ));
        }
    };
    ctx.authorize(false)?;
    ctx.write(move |tx| rules::modify_vpc_attribute(tx, &id, attribute, value)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn describe_vpc_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let attribute = p.require_str("Attribute")?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let vpc = rules::vpc(&part, &id)?;
    let value = match attribute.as_str() {
        "enableDnsSupport" => vpc.enable_dns_support,
        "enableDnsHostnames" => vpc.enable_dns_hostnames,
        other => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({other}) for parameter attribute is invalid. Expected: 'enableDnsSupport' or 'enableDnsHostnames'."
            )));
        }
    };
    Ok(Box::new(DescribeVpcAttributeOutput { vpc_id: vpc.id.clone(), attribute, value }))
}

struct DescribeVpcAttributeOutput {
    vpc_id: VpcId,
    attribute: String,
    value: bool,
}

impl ToXml for DescribeVpcAttributeOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("vpcId", &self.vpc_id);
        w.nested(&self.attribute, |w| w.display("value", self.value));
    }
}

pub async fn associate_vpc_cidr_block(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let block = p.take_str("CidrBlock").map(|v| cidr("CidrBlock", &v)).transpose()?;
    let amazon = p.take_bool("AmazonProvidedIpv6CidrBlock")?.unwrap_or(false);
    ctx.finish(p)?;
    let wanted = match (block, amazon) {
        (Some(block), false) => Wanted::Ipv4(block),
        (None, true) => Wanted::AmazonIpv6,
        (Some(_), true) => {
            return Err(ApiError::invalid_parameter_combination(
                "The parameters CidrBlock and AmazonProvidedIpv6CidrBlock cannot be used together",
            ));
        }
        (None, false) => {
            return Err(ApiError::missing_parameter(
                "Either CidrBlock or AmazonProvidedIpv6CidrBlock must be specified (eipd provides IPv6 \
                 blocks from Amazon's pool only)",
            ));
        }
    };
    ctx.authorize(false)?;
    let region = ctx.region().to_owned();
    let association = ctx
        .write(move |tx| match wanted {
            Wanted::Ipv4(block) => rules::associate_vpc_ipv4_cidr_block(tx, &id, block)
                .map(|(vpc, id)| NewBlock::Ipv4 { vpc_id: vpc.id, association: id, block }),
            Wanted::AmazonIpv6 => rules::associate_vpc_ipv6_cidr_block(tx, &id).map(|vpc| NewBlock::Ipv6 {
                association: vpc.ipv6_cidr.clone().expect("just associated"),
                vpc_id: vpc.id,
            }),
        })
        .await?;
    Ok(Box::new(VpcCidrBlockOutput { association, region, state: "associating" }))
}

pub async fn disassociate_vpc_cidr_block(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let association = p.require_str("AssociationId")?;
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let region = ctx.region().to_owned();
    let (vpc_id, id, block) = ctx.write(move |tx| rules::disassociate_vpc_cidr_block(tx, &association)).await?;
    let association = match block {
        VpcBlock::Ipv4(block) => NewBlock::Ipv4 { vpc_id, association: id, block },
        VpcBlock::Ipv6(block) => NewBlock::Ipv6 { vpc_id, association: (id, block) },
    };
    Ok(Box::new(VpcCidrBlockOutput { association, region, state: "disassociating" }))
}

enum Wanted {
    Ipv4(Ipv4Net),
    AmazonIpv6,
}

enum NewBlock {
    Ipv4 { vpc_id: VpcId, association: CidrAssociationId, block: Ipv4Net },
    Ipv6 { vpc_id: VpcId, association: (CidrAssociationId, Ipv6Net) },
}

/// The answer of Associate/DisassociateVpcCidrBlock: the block and where it
/// is going.
struct VpcCidrBlockOutput {
    association: NewBlock,
    region: String,
    state: &'static str,
}

impl ToXml for VpcCidrBlockOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        match &self.association {
            NewBlock::Ipv4 { vpc_id, association, block } => {
                w.display("vpcId", vpc_id);
                w.nested("cidrBlockAssociation", |w| {
                    w.display("associationId", association);
                    w.display("cidrBlock", block);
                    w.nested("cidrBlockState", |w| w.text("state", self.state));
                });
            }
            NewBlock::Ipv6 { vpc_id, association: (association, block) } => {
                w.display("vpcId", vpc_id);
                w.nested("ipv6CidrBlockAssociation", |w| {
                    w.display("associationId", association);
                    w.display("ipv6CidrBlock", block);
                    w.nested("ipv6CidrBlockState", |w| w.text("state", self.state));
                    w.text("networkBorderGroup", &self.region);
                    w.text("ipv6Pool", "Amazon");
                });
            }
        }
    }
}
