//! AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
//! DescribeAddresses and the address attribute (reverse DNS) operations.

use std::net::Ipv4Addr;

use super::{Ctx, Output, malformed_param, max_results, parse_id, rendered, tags_for, tags_of};
use eipd_domain::addresses::{
    self as rules, AddressAttribute, AddressRef, AddressView, AllocateAddress, AssociateAddress, AssociationTarget,
    DescribeAddresses, DisassociateAddress, ReleaseAddress,
};
use eipd_domain::describe::paginate;
use eipd_domain::error::{ApiError, ApiResult, MotoIds};
use eipd_domain::{Address, AllocationId, AssociationId, Domain, Flavor};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter};

// In the moto flavour a malformed id is not found, in moto's words: the ids
// as a Python list, or as a set where moto collects the missing ones (D1).

fn allocation_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<AllocationId> {
    let malformed = malformed_param("AllocationId", "eipalloc-");
    parse_id(ctx, value, AllocationId::parse, malformed, |id| ApiError::moto_allocation_not_found(MotoIds::List(&[id])))
}

/// An `AllocationId.N` of DescribeAddresses.
fn listed_allocation_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<AllocationId> {
    let malformed = malformed_param("AllocationId", "eipalloc-");
    parse_id(ctx, value, AllocationId::parse, malformed, |id| ApiError::moto_allocation_not_found(MotoIds::Set(&[id])))
}

fn association_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<AssociationId> {
    let malformed = malformed_param("AssociationId", "eipassoc-");
    parse_id(ctx, value, AssociationId::parse, malformed, |id| {
        ApiError::moto_association_not_found(MotoIds::List(&[id]))
    })
}

/// The deprecated PublicIp parameter: a dotted quad, or InvalidAddress.Malformed.
fn public_ip(value: &str) -> ApiResult<Ipv4Addr> {
    value.parse().map_err(|_| ApiError::invalid_address_malformed(format!("Invalid Address '{value}'")))
}

/// `AllocationId` or the deprecated `PublicIp`, exactly one of them.
fn address_ref(ctx: &Ctx<'_>, params: &mut Params) -> ApiResult<AddressRef> {
    let allocation = params.take_str("AllocationId").filter(|s| !s.is_empty());
    let ip = params.take_str("PublicIp").filter(|s| !s.is_empty());
    match (allocation, ip) {
        (Some(id), None) => Ok(AddressRef::Allocation(allocation_id(ctx, &id)?)),
        (None, Some(ip)) => Ok(AddressRef::PublicIp(public_ip(&ip)?)),
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter_combination(
            "The parameters AllocationId and PublicIp cannot be used together",
        )),
        (None, None) if ctx.flavor() == Flavor::Moto => {
            Err(ApiError::missing_parameter("Invalid request, expect PublicIp/AllocationId parameter."))
        }
        (None, None) => Err(ApiError::missing("AllocationId")),
    }
}

/// The ARN of the address a request names (`elastic-ip/*` when named by IP).
fn address_arn(ctx: &Ctx<'_>, address: &AddressRef) -> String {
    match address {
        AddressRef::Allocation(id) => ctx.arn("elastic-ip", id.as_str()),
        AddressRef::PublicIp(ip) => {
            let part = ctx.cached();
            let id =
                part.address(*ip).and_then(|a| a.allocation_id.as_ref()).map_or("*".to_owned(), ToString::to_string);
            ctx.arn("elastic-ip", &id)
        }
    }
}

/// The resources a DisassociateAddress touches: the address, its interface
/// and instance, read from the snapshot (an unknown association is `*`).
fn disassociate_arns(ctx: &Ctx<'_>, input: &DisassociateAddress) -> Vec<String> {
    let part = ctx.cached();
    let address = match input {
        DisassociateAddress::Association(id) => part.address_by_association(id),
        DisassociateAddress::PublicIp(ip) => part.address(*ip),
    };
    let Some(address) = address else { return vec![ctx.arn("elastic-ip", "*")] };
    let mut arns = vec![ctx.arn("elastic-ip", address.allocation_id.as_ref().map_or("*", AllocationId::as_str))];
    if let Some(eni) = address.association.as_ref().and_then(|a| part.interface(&a.network_interface_id)) {
        arns.push(ctx.arn("network-interface", eni.id.as_str()));
        if let Some(instance) = eni.instance_id() {
            arns.push(ctx.arn("instance", instance.as_str()));
        }
    }
    arns
}

// ---- AllocateAddress --------------------------------------------------------------

pub async fn allocate_address(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let domain = match p.take_str("Domain").as_deref() {
        None | Some("vpc") => Domain::Vpc,
        Some("standard") => Domain::Standard,
        // moto takes a missing, empty or unknown Domain as vpc (D1).
        Some(_) if ctx.flavor() == Flavor::Moto => Domain::Vpc,
        Some(other) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({other}) for parameter Domain is invalid. Expected: 'vpc' or 'standard'."
            )));
        }
    };
    let address = p.take_ipv4("Address")?;
    if let Some(pool) = p.take_str("PublicIpv4Pool")
        && pool != "amazon"
    {
        return Err(ApiError::invalid_parameter_value(format!(
            "The public IPv4 pool '{pool}' does not exist (eipd serves the 'amazon' pool)"
        )));
    }
    let network_border_group = p.take_str("NetworkBorderGroup");
    // Validated with the other parameters, before DryRun (D6).
    rules::check_network_border_group(ctx.region(), network_border_group.as_deref())?;
    let tags = tags_for(&p.take_tag_specifications()?, &["elastic-ip"])?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("elastic-ip", "*")], dry_run)?;
    let input = AllocateAddress { domain, address, network_border_group, tags: tags_of(&tags, "elastic-ip") };
    let address = ctx.write(move |tx| rules::allocate_address(tx, input.clone())).await?;
    Ok(Box::new(AllocateAddressOutput(address)))
}

struct AllocateAddressOutput(Address);

impl ToXml for AllocateAddressOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        let a = &self.0;
        w.display("publicIp", a.public_ip);
        w.text("domain", a.domain.as_str());
        w.opt_display("allocationId", a.allocation_id.as_ref());
        w.text("publicIpv4Pool", "amazon");
        w.text("networkBorderGroup", &a.network_border_group);
    }
}

// ---- AssociateAddress -------------------------------------------------------------

pub async fn associate_address(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let instance = p.take_str("InstanceId").filter(|s| !s.is_empty());
    let interface = p.take_str("NetworkInterfaceId").filter(|s| !s.is_empty());
    let target = match (instance, interface) {
        (Some(i), None) => AssociationTarget::Instance(super::instances::instance_id(ctx, &i)?),
        (None, Some(n)) => AssociationTarget::Interface(super::network_interfaces::eni_id(ctx, &n)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_parameter_combination(
                "You can specify either an instance ID or a network interface ID, but not both",
            ));
        }
        (None, None) if ctx.flavor() == Flavor::Moto => {
            return Err(ApiError::missing_parameter("Invalid request, expect InstanceId/NetworkId parameter."));
        }
        (None, None) => {
            return Err(ApiError::missing_parameter(
                "Either an instance ID or a network interface ID must be specified",
            ));
        }
    };
    let address = address_ref(ctx, &mut p)?;
    let private_ip = p.take_ipv4("PrivateIpAddress")?;
    // Reassociation is automatic in AWS; moto's default refuses it (D1, D7).
    let allow_reassociation = p.take_bool("AllowReassociation")?.unwrap_or(ctx.flavor() == Flavor::Aws);
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    let target_arn = || match &target {
        AssociationTarget::Instance(id) => ctx.arn("instance", id.as_str()),
        AssociationTarget::Interface(id) => ctx.arn("network-interface", id.as_str()),
    };
    ctx.authorize_on(|| vec![address_arn(ctx, &address), target_arn()], dry_run)?;
    let input = AssociateAddress { address, target, private_ip, allow_reassociation };
    let id = ctx.write(move |tx| rules::associate_address(tx, input.clone())).await?;
    Ok(Box::new(AssociateAddressOutput(id)))
}

struct AssociateAddressOutput(AssociationId);

impl ToXml for AssociateAddressOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("associationId", &self.0);
    }
}

// ---- DisassociateAddress ----------------------------------------------------------

pub async fn disassociate_address(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let association = p.take_str("AssociationId").filter(|s| !s.is_empty());
    let ip = p.take_str("PublicIp").filter(|s| !s.is_empty());
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    let input = match (association, ip) {
        (Some(id), None) => DisassociateAddress::Association(association_id(ctx, &id)?),
        (None, Some(ip)) => DisassociateAddress::PublicIp(public_ip(&ip)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_parameter_combination(
                "The parameters AssociationId and PublicIp cannot be used together",
            ));
        }
        (None, None) if ctx.flavor() == Flavor::Moto => {
            return Err(ApiError::missing_parameter("Invalid request, expect PublicIp/AssociationId parameter."));
        }
        (None, None) => return Err(ApiError::missing("AssociationId")),
    };
    ctx.authorize_on(|| disassociate_arns(ctx, &input), dry_run)?;
    ctx.write(move |tx| rules::disassociate_address(tx, input.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

// ---- ReleaseAddress -----------------------------------------------------------------

pub async fn release_address(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let address = address_ref(ctx, &mut p)?;
    let network_border_group = p.take_str("NetworkBorderGroup");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![address_arn(ctx, &address)], dry_run)?;
    let input = ReleaseAddress { address, network_border_group };
    ctx.write(move |tx| rules::release_address(tx, input.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

// ---- DescribeAddresses ------------------------------------------------------------

pub async fn describe_addresses(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let public_ips = p.take_list("PublicIp")?;
    if ctx.flavor() == Flavor::Aws {
        // AWS's own answer here differs from the other actions' (quoted in a
        // public bug report): InvalidParameterValue, not InvalidAddress.Malformed.
        if let Some(bad) = public_ips.iter().find(|ip| ip.parse::<Ipv4Addr>().is_err()) {
            return Err(ApiError::invalid_parameter_value(format!(
                "Invalid value '{bad}' for PublicIp. Not a valid IPv4 address"
            )));
        }
    }
    let allocation_ids =
        p.take_list("AllocationId")?.iter().map(|v| listed_allocation_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = p.take_filters()?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    let input = DescribeAddresses { public_ips, allocation_ids, filters };
    ctx.authorize(dry_run)?;
    let part = ctx.read().await?;
    let addresses = rules::describe_addresses(&part, ctx.account(), ctx.flavor(), &input)?;
    Ok(rendered(&DescribeAddressesOutput { addresses, moto: ctx.flavor() == Flavor::Moto }))
}

struct DescribeAddressesOutput<'a> {
    addresses: Vec<AddressView<'a>>,
    moto: bool,
}

impl ToXml for DescribeAddressesOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("addressesSet", &self.addresses, |w, v| write_address(w, v, self.moto));
    }
}

fn write_address(w: &mut XmlWriter, v: &AddressView, moto: bool) {
    let a = v.address;
    w.display("publicIp", a.public_ip);
    w.opt_display("allocationId", a.allocation_id.as_ref());
    w.text("domain", a.domain.as_str());
    if let Some(assoc) = &a.association {
        w.display("associationId", &assoc.id);
        w.opt_display("instanceId", v.instance_id);
        w.display("networkInterfaceId", &assoc.network_interface_id);
        w.text("networkInterfaceOwnerId", v.owner);
        w.display("privateIpAddress", assoc.private_ip);
        w.opt_display("subnetId", v.subnet_id);
    }
    if moto && a.association.is_none() {
        // moto's suites read these as "" when unassociated (D1).
        w.text("instanceId", "");
        w.text("networkInterfaceId", "");
    }
    w.tag_set("tagSet", &a.tags);
    w.text("publicIpv4Pool", "amazon");
    w.text("networkBorderGroup", &a.network_border_group);
}

// ---- address attributes (reverse DNS) -------------------------------------------

fn check_attribute(value: Option<String>) -> ApiResult<()> {
    match value.as_deref() {
        Some("domain-name") => Ok(()),
        None => Err(ApiError::missing("Attribute")),
        Some(other) => Err(ApiError::invalid_parameter_value(format!(
            "Value ({other}) for parameter Attribute is invalid. Expected: 'domain-name'."
        ))),
    }
}

pub async fn describe_addresses_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = p.take_list("AllocationId")?.iter().map(|v| allocation_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    check_attribute(p.take_str("Attribute"))?;
    let max = max_results(&mut p, 1, 1000)?;
    let token = p.take_str("NextToken");
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let attributes: Vec<AddressAttribute> = if ids.is_empty() {
        part.addresses().filter_map(AddressAttribute::of).collect()
    } else {
        let mut found = Vec::new();
        for id in &ids {
            let a =
                part.address_by_allocation(id).ok_or_else(|| ApiError::invalid_allocation_id_not_found(id.as_str()))?;
            found.extend(AddressAttribute::of(a));
        }
        found.sort_by_key(|a| a.public_ip);
        found.dedup_by_key(|a| a.public_ip);
        found
    };
    let (page, next_token) =
        paginate(attributes, |a| format!("{:08x}", u32::from(a.public_ip)), token.as_deref(), max)?;
    Ok(Box::new(DescribeAddressesAttributeOutput { page, next_token }))
}

struct DescribeAddressesAttributeOutput {
    page: Vec<AddressAttribute>,
    next_token: Option<String>,
}

impl ToXml for DescribeAddressesAttributeOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("addressSet", &self.page, write_attribute);
        w.opt_text("nextToken", self.next_token.as_deref());
    }
}

fn write_attribute(w: &mut XmlWriter, a: &AddressAttribute) {
    w.display("publicIp", a.public_ip);
    w.display("allocationId", &a.allocation_id);
    w.opt_text("ptrRecord", a.ptr_record.as_deref());
    if let Some(update) = &a.ptr_record_update {
        w.nested("ptrRecordUpdate", |w| {
            w.text("value", &update.value);
            w.text("status", update.status);
        });
    }
}

struct AddressAttributeOutput(AddressAttribute);

impl ToXml for AddressAttributeOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.nested("address", |w| write_attribute(w, &self.0));
    }
}

/// A reverse-DNS name: dot-separated labels of letters, digits and hyphens.
fn domain_name(value: &str) -> ApiResult<String> {
    let name = value.strip_suffix('.').unwrap_or(value);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter DomainName is invalid. Expected a domain name."
        )));
    }
    Ok(format!("{name}."))
}

pub async fn modify_address_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = allocation_id(ctx, &p.require_str("AllocationId")?)?;
    let name = domain_name(&p.require_str("DomainName")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("elastic-ip", id.as_str())], dry_run)?;
    let attribute = ctx.write(move |tx| rules::modify_address_attribute(tx, &id, name.clone())).await?;
    Ok(Box::new(AddressAttributeOutput(attribute)))
}

pub async fn reset_address_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = allocation_id(ctx, &p.require_str("AllocationId")?)?;
    check_attribute(p.take_str("Attribute"))?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("elastic-ip", id.as_str())], dry_run)?;
    let attribute = ctx.write(move |tx| rules::reset_address_attribute(tx, &id)).await?;
    Ok(Box::new(AddressAttributeOutput(attribute)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_get_a_trailing_dot() {
        assert_eq!(domain_name("example.com").unwrap(), "example.com.");
        assert_eq!(domain_name("example.com.").unwrap(), "example.com.");
        assert!(domain_name("bad_name.com").is_err());
        assert!(domain_name("").is_err());
        assert!(domain_name("-a.com").is_err());
    }
}
