//! VPCs, subnets and internet gateways: the network an address needs.

use ipnet::{Ipv4Net, Ipv6Net};

use super::{Ctx, Output, malformed_code, max_results, paginate, parse_id, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::filter::{Filterable, Filters, tag_filter_values};
use eipd_domain::network::{self as rules, CreateSubnet, CreateVpc, SubnetAttribute, VpcAttribute};
use eipd_domain::{InternetGateway, InternetGatewayId, Subnet, SubnetId, Vpc, VpcId};
use eipd_protocol::{Params, ReturnTrue, XmlWriter};

pub fn vpc_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<VpcId> {
    let malformed = malformed_code(ApiError::invalid_vpc_id_malformed_raw, "vpc-");
    parse_id(ctx, value, VpcId::parse, malformed, ApiError::invalid_vpc_id_not_found)
}

pub fn subnet_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<SubnetId> {
    let malformed = malformed_code(ApiError::invalid_subnet_id_malformed_raw, "subnet-");
    parse_id(ctx, value, SubnetId::parse, malformed, ApiError::invalid_subnet_id_not_found)
}

fn igw_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<InternetGatewayId> {
    let malformed = malformed_code(ApiError::invalid_internet_gateway_id_malformed_raw, "igw-");
    parse_id(ctx, value, InternetGatewayId::parse, malformed, ApiError::invalid_internet_gateway_id_not_found)
}

fn cidr(name: &str, value: &str) -> ApiResult<Ipv4Net> {
    value.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. This is not a valid CIDR block."
        ))
    })
}

fn cidr6(name: &str, value: &str) -> ApiResult<Ipv6Net> {
    value.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. This is not a valid IPv6 CIDR block."
        ))
    })
}

/// `Attr.Value=true|false` (ModifyVpcAttribute, ModifySubnetAttribute).
fn attribute_value(p: &mut Params, name: &str) -> ApiResult<Option<bool>> {
    let value = p.take_bool(&format!("{name}.Value"))?;
    if value.is_none() && p.take_str(name).is_some() {
        return Err(ApiError::missing(&format!("{name}.Value")));
    }
    Ok(value)
}

// ---- VPCs ---------------------------------------------------------------------------

/// A filter name of `names`, or one of the tag filters every resource has.
pub fn known_filter(names: &[&str], name: &str) -> bool {
    names.contains(&name) || name.starts_with("tag:") || name == "tag-key" || name == "tag-value"
}

const VPC_FILTERS: &[&str] = &[
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
];

struct VpcView<'a>(&'a Vpc, &'a str);

impl Filterable for VpcView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let v = self.0;
        Some(match name {
            "vpc-id" => vec![v.id.to_string()],
            "cidr" | "cidr-block-association.cidr-block" | "cidrBlock" => vec![v.cidr_block.to_string()],
            "is-default" | "isDefault" => vec![v.is_default.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![self.1.to_owned()],
            "dhcp-options-id" => vec!["default".into()],
            "instance-tenancy" => vec![v.instance_tenancy.clone()],
            "ipv6-cidr-block-association.ipv6-cidr-block" => v.ipv6_cidr.iter().map(|(_, n)| n.to_string()).collect(),
            _ => return tag_filter_values(&v.tags, name),
        })
    }
}

fn write_vpc(w: &mut XmlWriter, v: &Vpc, owner: &str, region: &str) {
    w.display("vpcId", &v.id);
    w.text("ownerId", owner);
    w.text("state", "available");
    w.display("cidrBlock", v.cidr_block);
    w.list("cidrBlockAssociationSet", [()], |w, ()| {
        w.display("associationId", &v.cidr_association_id);
        w.display("cidrBlock", v.cidr_block);
        w.nested("cidrBlockState", |w| w.text("state", "associated"));
    });
    w.list("ipv6CidrBlockAssociationSet", &v.ipv6_cidr, |w, (id, net)| {
        w.display("associationId", id);
        w.display("ipv6CidrBlock", net);
        w.nested("ipv6CidrBlockState", |w| w.text("state", "associated"));
        w.text("networkBorderGroup", region);
        w.text("ipv6Pool", "Amazon");
    });
    w.text("dhcpOptionsId", "default");
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
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let input =
        CreateVpc { cidr_block, amazon_provided_ipv6_cidr_block, instance_tenancy, tags: tags_of(&tags, "vpc") };
    let vpc = ctx.write(move |tx| rules::create_vpc(tx, input)).await?;
    let mut w = XmlWriter::fragment();
    w.nested("vpc", |w| write_vpc(w, &vpc, ctx.account(), ctx.region()));
    Ok(Box::new(w))
}

pub async fn describe_vpcs(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = p.take_list("VpcId")?.iter().map(|v| vpc_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = p.take_filters()?;
    let max = max_results(&mut p, 5, 1000)?;
    let token = p.take_str("NextToken");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let part = ctx.read().await?;
    for id in &ids {
        rules::vpc(&part, id)?;
    }
    let filters = Filters::new(&filters, |n| known_filter(VPC_FILTERS, n))?;
    let vpcs: Vec<&Vpc> = part
        .vpcs()
        .filter(|v| ids.is_empty() || ids.contains(&v.id))
        .filter(|v| filters.matches(&VpcView(v, ctx.account())))
        .collect();
    let (page, next) = paginate(vpcs, |v| v.id.to_string(), token.as_deref(), max)?;
    let mut w = XmlWriter::fragment();
    w.list("vpcSet", page, |w, v| write_vpc(w, v, ctx.account(), ctx.region()));
    w.opt_text("nextToken", next.as_deref());
    Ok(Box::new(w))
}

pub async fn delete_vpc(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
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
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
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
    let mut w = XmlWriter::fragment();
    w.display("vpcId", &vpc.id);
    w.nested(&attribute, |w| w.display("value", value));
    Ok(Box::new(w))
}

pub async fn associate_vpc_cidr_block(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let amazon = p.take_bool("AmazonProvidedIpv6CidrBlock")?.unwrap_or(false);
    ctx.finish(p)?;
    if !amazon {
        return Err(ApiError::missing_parameter(
            "eipd associates Amazon-provided IPv6 blocks only: set AmazonProvidedIpv6CidrBlock=true",
        ));
    }
    ctx.authorize(false)?;
    let vpc = ctx.write(move |tx| rules::associate_vpc_ipv6_cidr_block(tx, &id)).await?;
    let mut w = XmlWriter::fragment();
    w.display("vpcId", &vpc.id);
    if let Some((assoc, net)) = &vpc.ipv6_cidr {
        w.nested("ipv6CidrBlockAssociation", |w| {
            w.display("associationId", assoc);
            w.display("ipv6CidrBlock", net);
            w.nested("ipv6CidrBlockState", |w| w.text("state", "associating"));
            w.text("networkBorderGroup", ctx.region());
            w.text("ipv6Pool", "Amazon");
        });
    }
    Ok(Box::new(w))
}

// ---- subnets ------------------------------------------------------------------------

const SUBNET_FILTERS: &[&str] = &[
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
];

struct SubnetView<'a>(&'a Subnet, &'a str);

impl Filterable for SubnetView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let s = self.0;
        Some(match name {
            "subnet-id" | "subnetId" => vec![s.id.to_string()],
            "vpc-id" | "vpcId" => vec![s.vpc_id.to_string()],
            "cidr-block" | "cidr" | "cidrBlock" => vec![s.cidr_block.to_string()],
            "availability-zone" | "availabilityZone" => vec![s.availability_zone.clone()],
            "default-for-az" | "defaultForAz" => vec![s.default_for_az.to_string()],
            "map-public-ip-on-launch" => vec![s.map_public_ip_on_launch.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![self.1.to_owned()],
            "ipv6-cidr-block-association.ipv6-cidr-block" => s.ipv6_cidr.iter().map(|(_, n)| n.to_string()).collect(),
            _ => return tag_filter_values(&s.tags, name),
        })
    }
}

fn write_subnet(w: &mut XmlWriter, s: &Subnet, part: &eipd_domain::Partition, owner: &str, region: &str) {
    let used = part.interfaces().filter(|n| n.subnet_id == s.id).map(|n| n.private_ips.len()).sum::<usize>();
    let size = (1u64 << (32 - s.cidr_block.prefix_len())).saturating_sub(5);
    w.display("subnetId", &s.id);
    w.text("subnetArn", &format!("arn:aws:ec2:{region}:{owner}:subnet/{}", s.id));
    w.text("state", "available");
    w.display("vpcId", &s.vpc_id);
    w.display("cidrBlock", s.cidr_block);
    w.display("availableIpAddressCount", size.saturating_sub(used as u64));
    w.text("availabilityZone", &s.availability_zone);
    w.text("availabilityZoneId", &format!("use1-az{}", s.availability_zone.bytes().last().map_or(1, |b| b - b'a' + 1)));
    w.display("defaultForAz", s.default_for_az);
    w.display("mapPublicIpOnLaunch", s.map_public_ip_on_launch);
    w.display("assignIpv6AddressOnCreation", s.assign_ipv6_address_on_creation);
    w.display("mapCustomerOwnedIpOnLaunch", false);
    w.text("ownerId", owner);
    w.list("ipv6CidrBlockAssociationSet", &s.ipv6_cidr, |w, (id, net)| {
        w.display("associationId", id);
        w.display("ipv6CidrBlock", net);
        w.nested("ipv6CidrBlockState", |w| w.text("state", "associated"));
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
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let input = CreateSubnet { vpc_id, cidr_block, availability_zone, ipv6_cidr_block, tags: tags_of(&tags, "subnet") };
    let subnet = ctx.write(move |tx| rules::create_subnet(tx, input)).await?;
    let part = ctx.read().await?;
    let mut w = XmlWriter::fragment();
    w.nested("subnet", |w| write_subnet(w, &subnet, &part, ctx.account(), ctx.region()));
    Ok(Box::new(w))
}

pub async fn describe_subnets(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = p.take_list("SubnetId")?.iter().map(|v| subnet_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = p.take_filters()?;
    let max = max_results(&mut p, 5, 1000)?;
    let token = p.take_str("NextToken");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let part = ctx.read().await?;
    for id in &ids {
        rules::subnet(&part, id)?;
    }
    let filters = Filters::new(&filters, |n| known_filter(SUBNET_FILTERS, n))?;
    let subnets: Vec<&Subnet> = part
        .subnets()
        .filter(|s| ids.is_empty() || ids.contains(&s.id))
        .filter(|s| filters.matches(&SubnetView(s, ctx.account())))
        .collect();
    let (page, next) = paginate(subnets, |s| s.id.to_string(), token.as_deref(), max)?;
    let mut w = XmlWriter::fragment();
    w.list("subnetSet", page, |w, s| write_subnet(w, s, &part, ctx.account(), ctx.region()));
    w.opt_text("nextToken", next.as_deref());
    Ok(Box::new(w))
}

pub async fn delete_subnet(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
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
    let mut w = XmlWriter::fragment();
    w.display("subnetId", &subnet.id);
    if let Some((assoc, net)) = &subnet.ipv6_cidr {
        w.nested("ipv6CidrBlockAssociation", |w| {
            w.display("associationId", assoc);
            w.display("ipv6CidrBlock", net);
            w.nested("ipv6CidrBlockState", |w| w.text("state", "associating"));
        });
    }
    Ok(Box::new(w))
}

// ---- internet gateways --------------------------------------------------------------

const GATEWAY_FILTERS: &[&str] = &["internet-gateway-id", "attachment.vpc-id", "attachment.state", "owner-id"];

struct GatewayView<'a>(&'a InternetGateway, &'a str);

impl Filterable for GatewayView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let g = self.0;
        Some(match name {
            "internet-gateway-id" => vec![g.id.to_string()],
            "attachment.vpc-id" => g.attached_vpc.iter().map(ToString::to_string).collect(),
            "attachment.state" => g.attached_vpc.iter().map(|_| "available".to_owned()).collect(),
            "owner-id" => vec![self.1.to_owned()],
            _ => return tag_filter_values(&g.tags, name),
        })
    }
}

fn write_gateway(w: &mut XmlWriter, g: &InternetGateway, owner: &str) {
    w.display("internetGatewayId", &g.id);
    w.text("ownerId", owner);
    w.list("attachmentSet", &g.attached_vpc, |w, vpc| {
        w.display("vpcId", vpc);
        w.text("state", "available");
    });
    w.tag_set("tagSet", &g.tags);
}

pub async fn create_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let tags = tags_for(&p.take_tag_specifications()?, &["internet-gateway"])?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let tags = tags_of(&tags, "internet-gateway");
    let igw = ctx.write(move |tx| Ok(rules::create_internet_gateway(tx, tags))).await?;
    let mut w = XmlWriter::fragment();
    w.nested("internetGateway", |w| write_gateway(w, &igw, ctx.account()));
    Ok(Box::new(w))
}

fn gateway_and_vpc(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<(InternetGatewayId, VpcId)> {
    Ok((igw_id(ctx, &p.require_str("InternetGatewayId")?)?, vpc_id(ctx, &p.require_str("VpcId")?)?))
}

pub async fn attach_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let (igw, vpc) = gateway_and_vpc(ctx, &mut p)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::attach_internet_gateway(tx, &igw, &vpc)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn detach_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let (igw, vpc) = gateway_and_vpc(ctx, &mut p)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::detach_internet_gateway(tx, &igw, &vpc)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn delete_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let igw = igw_id(ctx, &p.require_str("InternetGatewayId")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::delete_internet_gateway(tx, &igw)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn describe_internet_gateways(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = p.take_list("InternetGatewayId")?.iter().map(|v| igw_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = p.take_filters()?;
    let max = max_results(&mut p, 5, 1000)?;
    let token = p.take_str("NextToken");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let part = ctx.read().await?;
    for id in &ids {
        rules::internet_gateway(&part, id)?;
    }
    let filters = Filters::new(&filters, |n| known_filter(GATEWAY_FILTERS, n))?;
    let gateways: Vec<&InternetGateway> = part
        .internet_gateways()
        .filter(|g| ids.is_empty() || ids.contains(&g.id))
        .filter(|g| filters.matches(&GatewayView(g, ctx.account())))
        .collect();
    let (page, next) = paginate(gateways, |g| g.id.to_string(), token.as_deref(), max)?;
    let mut w = XmlWriter::fragment();
    w.list("internetGatewaySet", page, |w, g| write_gateway(w, g, ctx.account()));
    w.opt_text("nextToken", next.as_deref());
    Ok(Box::new(w))
}
