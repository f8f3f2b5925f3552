//! Network interfaces: several private IPv4s, IPv6, attachment, public DNS
//! name options.

use std::net::Ipv6Addr;

use super::render::Renderer;
use super::vpcs::{known_filter, subnet_id};
use super::{Ctx, Output, malformed_code, max_results, paginate, parse_id, tags_for, tags_of};
use crate::instances::instance_id;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::filter::{Filterable, Filters, tag_filter_values};
use eipd_domain::network::{self as rules, InterfaceSpec};
use eipd_domain::{AttachmentId, HostnameType, NetworkInterface, NetworkInterfaceId, Partition};
use eipd_protocol::query::parse_ipv4;
use eipd_protocol::{Params, ReturnTrue, XmlWriter, not_taken};

pub fn eni_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<NetworkInterfaceId> {
    let malformed = malformed_code(ApiError::invalid_network_interface_id_malformed_raw, "eni-");
    parse_id(ctx, value, NetworkInterfaceId::parse, malformed, ApiError::invalid_network_interface_id_not_found)
}

fn count(p: &mut Params, name: &str) -> ApiResult<u32> {
    match p.take_int(name)? {
        None => Ok(0),
        Some(n) if (0..=1000).contains(&n) => Ok(n as u32),
        Some(n) => Err(ApiError::invalid_parameter_value(format!("Value ({n}) for parameter {name} is invalid."))),
    }
}

fn ipv6(name: &str, value: &str) -> ApiResult<Ipv6Addr> {
    value.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. Expected an IPv6 address."
        ))
    })
}

/// `PrivateIpAddress` and `PrivateIpAddresses.N.{PrivateIpAddress,Primary}`:
/// the requested private IPv4s, primary first.
pub fn requested_private_ips(p: &mut Params, single: &str, list: &str) -> ApiResult<Vec<std::net::Ipv4Addr>> {
    let mut primary = p.take_ipv4(single)?;
    let mut secondary = Vec::new();
    for group in p.take_structs(list)? {
        let ip =
            group.get("PrivateIpAddress").ok_or_else(|| ApiError::missing(&format!("{list}.N.PrivateIpAddress")))?;
        let ip = parse_ipv4(&format!("{list}.N.PrivateIpAddress"), ip)?;
        let is_primary = group.get("Primary").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if let Some(bad) = group.keys().find(|k| *k != "PrivateIpAddress" && *k != "Primary") {
            return Err(ApiError::unknown_parameter(&format!("{list}.N.{bad}")));
        }
        match (is_primary, primary) {
            (true, Some(existing)) if existing != ip => {
                return Err(ApiError::invalid_parameter_value("Only one primary private IP address can be specified"));
            }
            (true, _) => primary = Some(ip),
            (false, _) => secondary.push(ip),
        }
    }
    let mut out: Vec<_> = primary.into_iter().collect();
    out.extend(secondary.into_iter().filter(|ip| Some(*ip) != primary));
    Ok(out)
}

pub async fn create_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let subnet = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let description = p.take_str("Description").unwrap_or_default();
    let private_ips = requested_private_ips(&mut p, "PrivateIpAddress", "PrivateIpAddresses")?;
    let secondary_private_ip_count = count(&mut p, "SecondaryPrivateIpAddressCount")?;
    let ipv6_address_count = count(&mut p, "Ipv6AddressCount")?;
    let mut ipv6_addresses = Vec::new();
    for group in p.take_structs("Ipv6Addresses")? {
        if let Some(other) = group.keys().find(|k| *k != "Ipv6Address") {
            return Err(not_taken("CreateNetworkInterface", &format!("Ipv6Addresses.N.{other}")));
        }
        let v = group.get("Ipv6Address").ok_or_else(|| ApiError::missing("Ipv6Addresses.N.Ipv6Address"))?;
        ipv6_addresses.push(ipv6("Ipv6Addresses.N.Ipv6Address", v)?);
    }
    let tags = tags_for(&p.take_tag_specifications()?, &["network-interface"])?;
    // Idempotency tokens are filled in by the SDKs; eipd accepts them.
    p.discard("ClientToken");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let spec = InterfaceSpec {
        description,
        private_ips,
        secondary_private_ip_count,
        ipv6_addresses,
        ipv6_address_count,
        tags: tags_of(&tags, "network-interface"),
    };
    let eni = ctx.write(move |tx| rules::create_network_interface(tx, &subnet, spec)).await?;
    let part = ctx.read().await?;
    let mut w = XmlWriter::fragment();
    let r = Renderer { part: &part, account: ctx.account(), region: ctx.region() };
    w.nested("networkInterface", |w| r.interface(w, &eni));
    Ok(Box::new(w))
}

const INTERFACE_FILTERS: &[&str] = &[
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
    "source-dest-check",
];

struct InterfaceView<'a> {
    eni: &'a NetworkInterface,
    part: &'a Partition,
    owner: &'a str,
}

impl Filterable for InterfaceView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let n = self.eni;
        let publics = || self.part.public_ipv4s(n);
        Some(match name {
            "network-interface-id" => vec![n.id.to_string()],
            "subnet-id" => vec![n.subnet_id.to_string()],
            "vpc-id" => vec![n.vpc_id.to_string()],
            "availability-zone" => vec![n.availability_zone.clone()],
            "description" => vec![n.description.clone()],
            "status" => vec![if n.attachment.is_some() { "in-use" } else { "available" }.into()],
            "attachment.instance-id" => n.attachment.iter().map(|a| a.instance_id.to_string()).collect(),
            "attachment.attachment-id" => n.attachment.iter().map(|a| a.id.to_string()).collect(),
            "attachment.device-index" => n.attachment.iter().map(|a| a.device_index.to_string()).collect(),
            "private-ip-address" | "addresses.private-ip-address" => {
                n.private_ips.iter().map(ToString::to_string).collect()
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
            "owner-id" => vec![self.owner.to_owned()],
            "mac-address" => vec![n.mac_address.clone()],
            "ipv6-addresses.ipv6-address" => n.ipv6_addresses.iter().map(ToString::to_string).collect(),
            "interface-type" => vec!["interface".into()],
            "requester-managed" => vec!["false".into()],
            "source-dest-check" => vec![n.source_dest_check.to_string()],
            _ => return tag_filter_values(&n.tags, name),
        })
    }
}

pub async fn describe_network_interfaces(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = p.take_list("NetworkInterfaceId")?.iter().map(|v| eni_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = p.take_filters()?;
    let max = max_results(&mut p, 5, 1000)?;
    let token = p.take_str("NextToken");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let part = ctx.read().await?;
    for id in &ids {
        rules::interface(&part, id)?;
    }
    let filters = Filters::new(&filters, |n| known_filter(INTERFACE_FILTERS, n))?;
    let enis: Vec<&NetworkInterface> = part
        .interfaces()
        .filter(|n| ids.is_empty() || ids.contains(&n.id))
        .filter(|n| filters.matches(&InterfaceView { eni: n, part: &part, owner: ctx.account() }))
        .collect();
    let (page, next) = paginate(enis, |n| n.id.to_string(), token.as_deref(), max)?;
    let r = Renderer { part: &part, account: ctx.account(), region: ctx.region() };
    let mut w = XmlWriter::fragment();
    w.list("networkInterfaceSet", page, |w, n| r.interface(w, n));
    w.opt_text("nextToken", next.as_deref());
    Ok(Box::new(w))
}

pub async fn delete_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::delete_network_interface(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn attach_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let instance = instance_id(ctx, &p.require_str("InstanceId")?)?;
    let device_index = match p.take_int("DeviceIndex")? {
        Some(n) if (0..=31).contains(&n) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({n}) for parameter DeviceIndex is invalid."
            )));
        }
        None => return Err(ApiError::missing("DeviceIndex")),
    };
    p.take_int("NetworkCardIndex")?
        .filter(|n| *n != 0)
        .map_or(Ok(()), |_| Err(ApiError::unsupported_parameter("NetworkCardIndex")))?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    let attachment = ctx.write(move |tx| rules::attach_network_interface(tx, &id, &instance, device_index)).await?;
    let mut w = XmlWriter::fragment();
    w.display("attachmentId", &attachment);
    w.display("networkCardIndex", 0);
    Ok(Box::new(w))
}

pub async fn detach_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let value = p.require_str("AttachmentId")?;
    let malformed = super::malformed_param("AttachmentId", "eni-attach-");
    let id = parse_id(ctx, &value, AttachmentId::parse, malformed, ApiError::attachment_not_found)?;
    p.take_bool("Force")?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::detach_network_interface(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn assign_private_ip_addresses(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let ips = p
        .take_list("PrivateIpAddress")?
        .iter()
        .map(|v| parse_ipv4("PrivateIpAddress.N", v))
        .collect::<ApiResult<Vec<_>>>()?;
    let n = count(&mut p, "SecondaryPrivateIpAddressCount")?;
    p.take_bool("AllowReassignment")?;
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let eni = id.clone();
    let assigned = ctx.write(move |tx| rules::assign_private_ip_addresses(tx, &eni, ips, n)).await?;
    let mut w = XmlWriter::fragment();
    w.display("networkInterfaceId", &id);
    w.list("assignedPrivateIpAddressesSet", assigned, |w, ip| w.display("privateIpAddress", ip));
    w.display("return", true);
    Ok(Box::new(w))
}

pub async fn unassign_private_ip_addresses(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let ips = p
        .take_list("PrivateIpAddress")?
        .iter()
        .map(|v| parse_ipv4("PrivateIpAddress.N", v))
        .collect::<ApiResult<Vec<_>>>()?;
    if ips.is_empty() {
        return Err(ApiError::missing("PrivateIpAddress.1"));
    }
    ctx.finish(p)?;
    ctx.authorize(false)?;
    ctx.write(move |tx| rules::unassign_private_ip_addresses(tx, &id, ips)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn assign_ipv6_addresses(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let ips =
        p.take_list("Ipv6Addresses")?.iter().map(|v| ipv6("Ipv6Addresses.N", v)).collect::<ApiResult<Vec<_>>>()?;
    let n = count(&mut p, "Ipv6AddressCount")?;
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let eni = id.clone();
    let assigned = ctx.write(move |tx| rules::assign_ipv6_addresses(tx, &eni, ips, n)).await?;
    let mut w = XmlWriter::fragment();
    w.display("networkInterfaceId", &id);
    w.list("assignedIpv6Addresses", assigned, |w, ip| {
        // The list of strings has no member element of its own: <item>ip</item>.
        w.raw_display(ip);
    });
    Ok(Box::new(w))
}

pub async fn unassign_ipv6_addresses(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let ips =
        p.take_list("Ipv6Addresses")?.iter().map(|v| ipv6("Ipv6Addresses.N", v)).collect::<ApiResult<Vec<_>>>()?;
    if ips.is_empty() {
        return Err(ApiError::missing("Ipv6Addresses.1"));
    }
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let eni = id.clone();
    let removed = ctx.write(move |tx| rules::unassign_ipv6_addresses(tx, &eni, ips)).await?;
    let mut w = XmlWriter::fragment();
    w.display("networkInterfaceId", &id);
    w.list("unassignedIpv6Addresses", removed, |w, ip| w.raw_display(ip));
    Ok(Box::new(w))
}

pub async fn modify_public_ip_dns_name_options(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let value = p.require_str("HostnameType")?;
    let hostname_type = HostnameType::parse(&value).ok_or_else(|| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter HostnameType is invalid. Expected one of: public-dual-stack-dns-name, public-ipv4-dns-name, public-ipv6-dns-name."
        ))
    })?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::modify_public_ip_dns_name_options(tx, &id, hostname_type)).await?;
    let mut w = XmlWriter::fragment();
    w.display("successful", true);
    Ok(Box::new(w))
}
