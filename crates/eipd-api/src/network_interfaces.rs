//! Network interfaces: several private IPv4s, IPv6, attachment, public DNS
//! name options.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::instances::instance_id;
use super::render::Renderer;
use super::security_groups::group_id;
use super::subnets::subnet_id;
use super::{Created, Ctx, Output, Render, describe, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::network_interfaces::{self as rules, InterfaceAttributeChange, InterfaceSpec};
use eipd_domain::security_groups::GroupRef;
use eipd_domain::{AttachmentId, HostnameType, NetworkInterface, NetworkInterfaceId, SERVICE_ATTACHMENT_PREFIX};
use eipd_protocol::query::parse_ipv4;
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter, not_taken};

pub(crate) fn eni_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<NetworkInterfaceId> {
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
pub(crate) fn requested_private_ips(p: &mut Params, single: &str, list: &str) -> ApiResult<Vec<Ipv4Addr>> {
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

/// `Ipv6Addresses.N.Ipv6Address` (InstanceIpv6Address items): the IPv6
/// addresses asked for by value. `shown` is the list's name in messages.
pub(crate) fn requested_ipv6_addresses(p: &mut Params, action: &str, shown: &str) -> ApiResult<Vec<Ipv6Addr>> {
    let mut out = Vec::new();
    for group in p.take_structs("Ipv6Addresses")? {
        if let Some(other) = group.keys().find(|k| *k != "Ipv6Address") {
            return Err(not_taken(action, &format!("{shown}.N.{other}")));
        }
        let name = format!("{shown}.N.Ipv6Address");
        let v = group.get("Ipv6Address").ok_or_else(|| ApiError::missing(&name))?;
        out.push(ipv6(&name, v)?);
    }
    Ok(out)
}

pub async fn create_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let subnet = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let description = p.take_str("Description").unwrap_or_default();
    let private_ips = requested_private_ips(&mut p, "PrivateIpAddress", "PrivateIpAddresses")?;
    let secondary_private_ip_count = count(&mut p, "SecondaryPrivateIpAddressCount")?;
    let ipv6_address_count = count(&mut p, "Ipv6AddressCount")?;
    let ipv6_addresses = requested_ipv6_addresses(&mut p, "CreateNetworkInterface", "Ipv6Addresses")?;
    let groups = p
        .take_list("SecurityGroupId")?
        .iter()
        .map(|v| group_id(ctx, v).map(GroupRef::Id))
        .collect::<ApiResult<Vec<_>>>()?;
    let tags = tags_for(&p.take_tag_specifications()?, &["network-interface"])?;
    // Idempotency tokens are filled in by the SDKs; eipd accepts them.
    p.discard("ClientToken");
    ctx.finish_and_authorize(p)?;
    let spec = InterfaceSpec {
        description,
        private_ips,
        secondary_private_ip_count,
        ipv6_addresses,
        ipv6_address_count,
        groups,
        tags: tags_of(&tags, "network-interface"),
        requester_id: Some(ctx.principal.user_id()),
    };
    let eni = ctx.write(move |tx| rules::create_network_interface(tx, &subnet, spec.clone())).await?;
    let part = ctx.read().await?;
    Ok(rendered(&Created { resource: &eni, r: ctx.renderer(&part) }))
}

impl Render for NetworkInterface {
    const ELEMENT: &'static str = "networkInterface";
    const SET: &'static str = "networkInterfaceSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        r.interface(w, self);
    }
}

pub async fn describe_network_interfaces(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<NetworkInterface>(ctx, p, "NetworkInterfaceId", eni_id).await
}

pub async fn delete_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    ctx.finish_and_authorize(p)?;
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
    ctx.finish_and_authorize(p)?;
    let attachment = ctx.write(move |tx| rules::attach_network_interface(tx, &id, &instance, device_index)).await?;
    Ok(Box::new(AttachNetworkInterfaceOutput(attachment)))
}

struct AttachNetworkInterfaceOutput(AttachmentId);

impl ToXml for AttachNetworkInterfaceOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("attachmentId", &self.0);
        w.display("networkCardIndex", 0);
    }
}

pub async fn detach_network_interface(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let value = p.require_str("AttachmentId")?;
    if value.starts_with(SERVICE_ATTACHMENT_PREFIX) {
        return Err(ApiError::operation_not_permitted("You are not allowed to manage 'ela-attach' attachments."));
    }
    let malformed = super::malformed_param("AttachmentId", "eni-attach-");
    let id = parse_id(ctx, &value, AttachmentId::parse, malformed, ApiError::attachment_not_found)?;
    p.take_bool("Force")?;
    ctx.finish_and_authorize(p)?;
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
    let allow_reassignment = p.take_bool("AllowReassignment")?.unwrap_or(false);
    ctx.finish(p)?;
    ctx.authorize(false)?;
    let eni = id.clone();
    let assigned =
        ctx.write(move |tx| rules::assign_private_ip_addresses(tx, &eni, ips.clone(), n, allow_reassignment)).await?;
    Ok(Box::new(AssignPrivateIpAddressesOutput { id, assigned }))
}

struct AssignPrivateIpAddressesOutput {
    id: NetworkInterfaceId,
    assigned: Vec<Ipv4Addr>,
}

impl ToXml for AssignPrivateIpAddressesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("networkInterfaceId", &self.id);
        w.list("assignedPrivateIpAddressesSet", &self.assigned, |w, ip| w.display("privateIpAddress", ip));
        w.display("return", true);
    }
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
    ctx.write(move |tx| rules::unassign_private_ip_addresses(tx, &id, ips.clone())).await?;
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
    let addresses = ctx.write(move |tx| rules::assign_ipv6_addresses(tx, &eni, ips.clone(), n)).await?;
    Ok(Box::new(Ipv6AddressesOutput { set: "assignedIpv6Addresses", id, addresses }))
}

/// Assign/UnassignIpv6Addresses: the interface and the addresses changed.
struct Ipv6AddressesOutput {
    set: &'static str,
    id: NetworkInterfaceId,
    addresses: Vec<Ipv6Addr>,
}

impl ToXml for Ipv6AddressesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("networkInterfaceId", &self.id);
        // A list of strings has no member element of its own: <item>ip</item>.
        w.list(self.set, &self.addresses, |w, ip| w.raw_display(ip));
    }
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
    let addresses = ctx.write(move |tx| rules::unassign_ipv6_addresses(tx, &eni, ips.clone())).await?;
    Ok(Box::new(Ipv6AddressesOutput { set: "unassignedIpv6Addresses", id, addresses }))
}

pub async fn modify_public_ip_dns_name_options(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let value = p.require_str("HostnameType")?;
    let hostname_type = HostnameType::parse(&value).ok_or_else(|| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter HostnameType is invalid. Expected one of: public-dual-stack-dns-name, public-ipv4-dns-name, public-ipv6-dns-name."
        ))
    })?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::modify_public_ip_dns_name_options(tx, &id, hostname_type)).await?;
    Ok(Box::new(Successful))
}

/// `<successful>true</successful>`.
struct Successful;

impl ToXml for Successful {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("successful", true);
    }
}

/// The attribute names of DescribeNetworkInterfaceAttribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InterfaceAttributeName {
    Description,
    GroupSet,
    SourceDestCheck,
    Attachment,
    AssociatePublicIpAddress,
}

impl InterfaceAttributeName {
    fn parse(value: &str) -> ApiResult<Self> {
        Ok(match value {
            "description" => Self::Description,
            "groupSet" => Self::GroupSet,
            "sourceDestCheck" => Self::SourceDestCheck,
            "attachment" => Self::Attachment,
            "associatePublicIpAddress" => Self::AssociatePublicIpAddress,
            _ => {
                return Err(ApiError::invalid_parameter_value(format!(
                    "Value ({value}) for parameter attribute is invalid. Expected one of: description, groupSet, \
                     sourceDestCheck, attachment, associatePublicIpAddress."
                )));
            }
        })
    }
}

pub async fn describe_network_interface_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let name = InterfaceAttributeName::parse(&p.require_str("Attribute")?)?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let eni = rules::interface(&part, &id)?;
    Ok(rendered(&InterfaceAttributeOutput { eni, name, r: ctx.renderer(&part) }))
}

/// DescribeNetworkInterfaceAttribute: the interface and the one attribute asked for.
struct InterfaceAttributeOutput<'a> {
    eni: &'a NetworkInterface,
    name: InterfaceAttributeName,
    r: Renderer<'a>,
}

impl ToXml for InterfaceAttributeOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        let eni = self.eni;
        w.display("networkInterfaceId", &eni.id);
        match self.name {
            InterfaceAttributeName::Description => w.nested("description", |w| w.text("value", &eni.description)),
            InterfaceAttributeName::SourceDestCheck => {
                w.nested("sourceDestCheck", |w| w.display("value", eni.source_dest_check))
            }
            InterfaceAttributeName::GroupSet => self.r.group_set(w, &eni.groups),
            InterfaceAttributeName::Attachment => {
                if let Some(att) = &eni.attachment {
                    self.r.interface_attachment(w, att);
                }
            }
            InterfaceAttributeName::AssociatePublicIpAddress => {
                w.display("associatePublicIpAddress", eni.auto_assign_public_ip)
            }
        }
    }
}

pub async fn modify_network_interface_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    let mut changes: Vec<(&str, InterfaceAttributeChange)> = Vec::new();
    if let Some(v) = p.take_str("Description.Value") {
        changes.push(("description", InterfaceAttributeChange::Description(v)));
    }
    if let Some(v) = p.take_bool("SourceDestCheck.Value")? {
        changes.push(("sourceDestCheck", InterfaceAttributeChange::SourceDestCheck(v)));
    }
    let groups = p.take_list("SecurityGroupId")?;
    if !groups.is_empty() {
        let groups = groups.iter().map(|v| group_id(ctx, v).map(GroupRef::Id)).collect::<ApiResult<Vec<_>>>()?;
        changes.push(("groupSet", InterfaceAttributeChange::Groups(groups)));
    }
    let attachment = p.take_str("Attachment.AttachmentId");
    let delete = p.take_bool("Attachment.DeleteOnTermination")?;
    match (attachment, delete) {
        (None, None) => {}
        (Some(v), Some(delete)) => {
            let malformed = super::malformed_param("Attachment.AttachmentId", "eni-attach-");
            let attachment_id = parse_id(ctx, &v, AttachmentId::parse, malformed, ApiError::attachment_not_found)?;
            changes.push(("attachment", InterfaceAttributeChange::DeleteOnTermination { attachment_id, delete }));
        }
        (None, Some(_)) => return Err(ApiError::missing("Attachment.AttachmentId")),
        (Some(_), None) => return Err(ApiError::missing("Attachment.DeleteOnTermination")),
    }
    if let Some(v) = p.take_bool("AssociatePublicIpAddress")? {
        changes.push(("associatePublicIpAddress", InterfaceAttributeChange::AssociatePublicIpAddress(v)));
    }
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    let change = match changes.len() {
        0 => return Err(ApiError::missing_parameter("The request must name one attribute to modify")),
        1 => changes.remove(0).1,
        _ => {
            let names: Vec<&str> = changes.iter().map(|(n, _)| *n).collect();
            return Err(ApiError::invalid_parameter_combination(format!(
                "Fields for multiple attribute types specified: {}",
                names.join(", ")
            )));
        }
    };
    ctx.authorize(dry_run)?;
    ctx.write(move |tx| rules::modify_network_interface_attribute(tx, &id, change.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn reset_network_interface_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = eni_id(ctx, &p.require_str("NetworkInterfaceId")?)?;
    // The model's one attribute, a string whose value EC2 does not read:
    // naming it resets the check to true.
    if p.take_str("SourceDestCheck").is_none() {
        return Err(ApiError::missing("SourceDestCheck"));
    }
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::reset_network_interface_attribute(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}
