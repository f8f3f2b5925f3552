//! The Elastic IP rules, as the EC2 documentation states them (and, where it
//! is silent, as the decisions in docs/compatibility.md say).

use std::net::Ipv4Addr;

use super::filter::{Filterable, Filters, has_wildcard, tag_filter_values};
use super::ids::*;
use super::model::*;
use super::state::{Flavor, Partition, Record, RecordKey, Tx};
use crate::error::{ApiError, ApiResult, MotoIds};
use crate::filter::Filter;

/// How a request names an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressRef {
    Allocation(AllocationId),
    /// The deprecated PublicIp parameter.
    PublicIp(Ipv4Addr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssociationTarget {
    Instance(InstanceId),
    Interface(NetworkInterfaceId),
}

#[derive(Clone, Debug)]
pub struct AllocateAddress {
    pub domain: Domain,
    pub address: Option<Ipv4Addr>,
    pub network_border_group: Option<String>,
    pub tags: Tags,
}

/// An address's network border group is its region (eipd has no Local Zones).
pub fn check_network_border_group(region: &str, group: Option<&str>) -> ApiResult<()> {
    match group {
        Some(group) if group != region => Err(ApiError::invalid_parameter_value(format!(
            "The network border group '{group}' is not valid in region {region}"
        ))),
        _ => Ok(()),
    }
}

#[derive(Clone, Debug)]
pub struct AssociateAddress {
    pub address: AddressRef,
    pub target: AssociationTarget,
    pub private_ip: Option<Ipv4Addr>,
    pub allow_reassociation: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisassociateAddress {
    Association(AssociationId),
    PublicIp(Ipv4Addr),
}

#[derive(Clone, Debug)]
pub struct ReleaseAddress {
    pub address: AddressRef,
    pub network_border_group: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct DescribeAddresses {
    /// As given: the AWS flavour refuses malformed ones while decoding; to
    /// moto they are simply not found.
    pub public_ips: Vec<String>,
    pub allocation_ids: Vec<AllocationId>,
    pub filters: Vec<Filter>,
}

/// AllocateAddress: a new address from the region's pool (or the one named
/// by `Address=`), within the account's quota (D8, D9).
pub fn allocate_address(tx: &mut Tx, input: AllocateAddress) -> ApiResult<Address> {
    let region = tx.scope.region.clone();
    check_network_border_group(&region, input.network_border_group.as_deref())?;
    if let Some(limit) = tx.settings.address_limit
        && tx.part().address_count() >= limit as usize
    {
        return Err(ApiError::address_limit_exceeded(limit));
    }
    let public_ip = match input.address {
        Some(ip) => {
            let moto = tx.settings.flavor == Flavor::Moto;
            let claimed = tx.claim_public_ip(ip) || (moto && tx.claim_any_free_ip(ip));
            if !claimed {
                return Err(ApiError::invalid_address_not_found(&ip.to_string()));
            }
            ip
        }
        None => tx.take_public_ip().ok_or_else(|| {
            ApiError::insufficient_address_capacity(
                "The public IPv4 pool of this region has no free address (eipd: widen it with --pool)",
            )
        })?,
    };
    let address = Address {
        public_ip,
        allocation_id: (input.domain == Domain::Vpc).then(AllocationId::generate),
        domain: input.domain,
        network_border_group: region,
        association: None,
        tags: input.tags,
        seq: tx.part().next_address_seq(),
        ptr_record: None,
    };
    tx.put(Record::Address(address.clone()));
    Ok(address)
}

/// The account's address named by a request, or the error EC2 gives: unknown
/// ids are NotFound; a public IP held by another account is AuthFailure (D12).
fn find_address(tx: &mut Tx, by: &AddressRef) -> ApiResult<Address> {
    let moto = tx.settings.flavor == Flavor::Moto;
    match by {
        AddressRef::Allocation(id) => tx.part().address_by_allocation(id).cloned().ok_or_else(|| {
            if moto {
                ApiError::moto_allocation_not_found(MotoIds::List(&[id.as_str()]))
            } else {
                ApiError::invalid_allocation_id_not_found(id.as_str())
            }
        }),
        AddressRef::PublicIp(ip) => match tx.part().address(*ip).cloned() {
            Some(a) => Ok(a),
            None if moto => Err(ApiError::moto_address_not_found(MotoIds::List(&[&ip.to_string()]))),
            None if tx.holder(*ip).is_some_and(|holder| holder != tx.scope.account) => {
                Err(ApiError::address_not_yours(ip))
            }
            None => Err(ApiError::invalid_address_not_found(&ip.to_string())),
        },
    }
}

/// AssociateAddress: binds a VPC address to one private IPv4 of an interface.
/// Reassociation is automatic unless AllowReassociation=false; associating to
/// the same target again mints a new association id (D7).
pub fn associate_address(tx: &mut Tx, input: AssociateAddress) -> ApiResult<AssociationId> {
    let moto = tx.settings.flavor == Flavor::Moto;
    let address = find_address(tx, &input.address)?;
    let by_ip = matches!(input.address, AddressRef::PublicIp(_));
    if address.domain == Domain::Standard || (by_ip && !moto) {
        // Every instance and interface lives in a VPC (D4).
        return Err(ApiError::invalid_parameter_combination(
            "You must specify an allocation id when mapping an address to a VPC instance",
        ));
    }
    check_not_service_managed(tx.part(), &address)?;
    let eni = resolve_target(tx.part(), &input.target, moto)?;
    if eni.nat_gateway.is_some() {
        return Err(ApiError::service_managed());
    }
    let private_ip = match input.private_ip {
        Some(ip) if !eni.private_ips.contains(&ip) => {
            return Err(ApiError::invalid_parameter_value(format!("{ip} is not mapped to the interface {}", eni.id)));
        }
        Some(ip) => ip,
        None => eni.primary_private_ip(),
    };
    if !moto && tx.part().gateway_of(&eni.vpc_id).is_none() {
        return Err(ApiError::gateway_not_attached(eni.id.as_str(), eni.vpc_id.as_str()));
    }
    if let Some(current) = &address.association {
        let same_target = current.network_interface_id == eni.id && current.private_ip == private_ip;
        if !same_target && !input.allow_reassociation {
            if moto {
                return Err(ApiError::resource_already_associated_raw(format!(
                    "Resource {} is already associated.",
                    address.public_ip
                )));
            }
            let allocation = address.allocation_id.as_ref().map_or("", AllocationId::as_str);
            return Err(ApiError::resource_already_associated(allocation, current.id.as_str()));
        }
        end_association(tx, address.public_ip)?;
    }
    // An address already on the target private IP is moved off it; it stays allocated.
    if let Some(other) = tx.part().address_on(&eni.id, private_ip).map(|a| a.public_ip) {
        end_association(tx, other)?;
    }
    // An Elastic IP on the primary private IP replaces the auto-assigned public IP.
    let mut eni = tx.part().interface(&eni.id).cloned().expect("resolved above");
    if private_ip == eni.primary_private_ip()
        && let Some(auto) = eni.auto_public_ip.take()
    {
        tx.release_public_ip(auto);
        tx.put(Record::NetworkInterface(eni.clone()));
    }
    let association = Association { id: AssociationId::generate(), network_interface_id: eni.id.clone(), private_ip };
    let mut address = tx.part().address(address.public_ip).cloned().expect("found above");
    address.association = Some(Box::new(association.clone()));
    tx.put(Record::Address(address));
    Ok(association.id)
}

/// The interface an association lands on: the named one, or an instance's
/// only interface.
fn resolve_target(part: &Partition, target: &AssociationTarget, moto: bool) -> ApiResult<NetworkInterface> {
    match target {
        AssociationTarget::Interface(id) => {
            part.interface(id).cloned().ok_or_else(|| ApiError::invalid_network_interface_id_not_found(id.as_str()))
        }
        AssociationTarget::Instance(id) => {
            let instance = part.instance(id).ok_or_else(|| ApiError::invalid_instance_id_not_found(id.as_str()))?;
            let usable =
                matches!(instance.state, InstanceState::Running | InstanceState::Stopped | InstanceState::Pending);
            if !usable && !moto {
                return Err(ApiError::incorrect_instance_state(format!(
                    "The instance '{id}' is not in a valid state for this operation."
                )));
            }
            let interfaces = part.interfaces_of(id);
            match interfaces.as_slice() {
                [only] => Ok((*only).clone()),
                // moto takes the instance's first interface.
                [first, ..] if moto => Ok((*first).clone()),
                [] => Err(ApiError::incorrect_instance_state(format!("The instance '{id}' has no network interface."))),
                _ => Err(ApiError::invalid_instance_id(format!(
                    "There are multiple interfaces attached to instance '{id}'. Please specify an \
                     interface ID for the operation instead."
                ))),
            }
        }
    }
}

/// DisassociateAddress, per the seed contract: idempotent (an ended
/// association of this account succeeds, D2), PublicIp only for standard
/// addresses (D4), and refused when the interface has a public dual-stack
/// DNS name, the address is its primary public IPv4, and it is the last
/// public IPv4 the interface has (D3).
pub fn disassociate_address(tx: &mut Tx, input: DisassociateAddress) -> ApiResult<()> {
    match input {
        DisassociateAddress::PublicIp(ip) => {
            let address = find_address(tx, &AddressRef::PublicIp(ip))?;
            if address.domain == Domain::Vpc {
                if tx.settings.flavor == Flavor::Moto {
                    check_not_service_managed(tx.part(), &address)?;
                    check_not_last_dual_stack_ipv4(tx.part(), &address, &tx.scope.region)?;
                    return end_association(tx, address.public_ip);
                }
                return Err(ApiError::invalid_parameter_value(
                    "You must specify an association id when unmapping an address from a VPC instance",
                ));
            }
            // A standard address has no association target: nothing to undo.
            Ok(())
        }
        DisassociateAddress::Association(id) => {
            let Some(address) = tx.part().address_by_association(&id).cloned() else {
                return match tx.part().association_ended_at(&id) {
                    Some(ended) if tx.now - ended <= tx.settings.association_retention_secs => Ok(()),
                    _ if tx.settings.flavor == Flavor::Moto => {
                        Err(ApiError::moto_association_not_found(MotoIds::List(&[id.as_str()])))
                    }
                    _ => Err(ApiError::invalid_association_id_not_found(id.as_str())),
                };
            };
            check_not_service_managed(tx.part(), &address)?;
            check_not_last_dual_stack_ipv4(tx.part(), &address, &tx.scope.region)?;
            end_association(tx, address.public_ip)
        }
    }
}

/// An address a NAT gateway holds is the gateway's until it is deleted:
/// AWS answers AuthFailure (HTTP 400) to moving, disassociating or
/// releasing it.
fn check_not_service_managed(part: &Partition, address: &Address) -> ApiResult<()> {
    match &address.association {
        Some(association) if part.nat_gateway_of_interface(&association.network_interface_id).is_some() => {
            Err(ApiError::service_managed())
        }
        _ => Ok(()),
    }
}

/// The seed's refusal rule (D3).
fn check_not_last_dual_stack_ipv4(part: &Partition, address: &Address, region: &str) -> ApiResult<()> {
    let Some(association) = &address.association else { return Ok(()) };
    let Some(eni) = part.interface(&association.network_interface_id) else { return Ok(()) };
    let names = part.dns_name_options(eni, region);
    let public_ipv4s = part.public_ipv4s(eni);
    let is_primary = association.private_ip == eni.primary_private_ip();
    if names.has_public_dual_stack_name() && is_primary && public_ipv4s.len() == 1 {
        return Err(ApiError::operation_not_permitted(format!(
            "The address {ip} cannot be disassociated from {eni}: the interface has a public \
             dual-stack DNS name ({name}), {ip} is its primary public IPv4 address, and it is the \
             only public IPv4 address the interface has left. Change the interface's hostname \
             type with ModifyPublicIpDnsNameOptions (public-ipv4-dns-name or \
             public-ipv6-dns-name), or associate another public IPv4 address with it first.",
            ip = address.public_ip,
            eni = eni.id,
            name = names.dual_stack_name.as_deref().unwrap_or_default(),
        )));
    }
    Ok(())
}

/// Ends the association of an address: the address stays allocated, the
/// association id is remembered as ended (D2), and an interface that had an
/// auto-assigned public IP under it gets a fresh one where AWS gives one.
pub(crate) fn end_association(tx: &mut Tx, public_ip: Ipv4Addr) -> ApiResult<()> {
    let Some(mut address) = tx.part().address(public_ip).cloned() else { return Ok(()) };
    let Some(association) = address.association.take() else { return Ok(()) };
    tx.put(Record::Address(address));
    tx.put(Record::EndedAssociation { id: association.id.clone(), ended_at: tx.now });
    forget_expired_associations(tx);
    if let Some(eni) = tx.part().interface(&association.network_interface_id).cloned()
        && association.private_ip == eni.primary_private_ip()
    {
        restore_auto_public_ip(tx, eni)?;
    }
    Ok(())
}

/// Ended associations a new ending deletes once they are past the retention
/// (D2). More than one, so a backlog (after the retention was shortened)
/// drains; every ending pays for at most this many, and the partition keeps
/// no more records than the endings of one retention period, plus two.
const FORGOTTEN_PER_ENDING: usize = 2;

/// Deletes, durably, up to [`FORGOTTEN_PER_ENDING`] ended associations older
/// than the retention: they are answered as never issued from then on
/// anyway, and without this a long-lived server kept one record per
/// association ever ended.
fn forget_expired_associations(tx: &mut Tx) {
    let cutoff = tx.now.saturating_sub(tx.settings.association_retention_secs);
    let expired: Vec<AssociationId> =
        tx.part().associations_ended_before(cutoff).take(FORGOTTEN_PER_ENDING).cloned().collect();
    for id in expired {
        tx.delete(RecordKey::EndedAssociation(id));
    }
}

/// Gives an interface an auto-assigned public IPv4 where AWS would: it asked
/// for one at launch, its instance runs, it is the instance's only interface,
/// and no Elastic IP sits on its primary private IP.
pub(crate) fn restore_auto_public_ip(tx: &mut Tx, mut eni: NetworkInterface) -> ApiResult<()> {
    if !eni.auto_assign_public_ip || eni.auto_public_ip.is_some() {
        return Ok(());
    }
    if tx.part().address_on(&eni.id, eni.primary_private_ip()).is_some() {
        return Ok(());
    }
    let Some(instance_id) = eni.instance_id().cloned() else { return Ok(()) };
    let running = tx
        .part()
        .instance(&instance_id)
        .is_some_and(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending));
    if !running || tx.part().interfaces_of(&instance_id).len() != 1 {
        return Ok(());
    }
    if let Some(ip) = tx.take_public_ip() {
        eni.auto_public_ip = Some(ip);
        tx.put(Record::NetworkInterface(eni));
    }
    Ok(())
}

/// ReleaseAddress: AllocationId for VPC addresses, PublicIp for standard
/// ones (D4); an associated address is refused, except in the default VPC,
/// where it is disassociated first (D5).
pub fn release_address(tx: &mut Tx, input: ReleaseAddress) -> ApiResult<()> {
    let address = find_address(tx, &input.address)?;
    let moto = tx.settings.flavor == Flavor::Moto;
    if matches!(input.address, AddressRef::PublicIp(_)) && address.domain == Domain::Vpc && !moto {
        return Err(ApiError::invalid_parameter_value(
            "You must specify an allocation id when releasing a VPC elastic IP address",
        ));
    }
    if let Some(group) = &input.network_border_group
        && **group != *address.network_border_group
    {
        return Err(ApiError::invalid_address_not_found(&address.public_ip.to_string()));
    }
    check_not_service_managed(tx.part(), &address)?;
    if let Some(association) = &address.association {
        let in_default_vpc = tx
            .part()
            .interface(&association.network_interface_id)
            .and_then(|eni| tx.part().vpc(&eni.vpc_id))
            .is_some_and(|vpc| vpc.is_default);
        if !in_default_vpc && !moto {
            return Err(ApiError::invalid_ip_address_in_use(address.public_ip));
        }
        check_not_last_dual_stack_ipv4(tx.part(), &address, &tx.scope.region)?;
        end_association(tx, address.public_ip)?;
    }
    tx.delete(RecordKey::Address(address.public_ip));
    tx.release_public_ip(address.public_ip);
    Ok(())
}

/// The reverse-DNS attribute of an address, with the update just requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressAttribute {
    pub public_ip: Ipv4Addr,
    pub allocation_id: AllocationId,
    pub ptr_record: Option<String>,
    pub ptr_record_update: Option<PtrRecordUpdate>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtrRecordUpdate {
    pub value: String,
    pub status: &'static str,
}

impl AddressAttribute {
    pub fn of(address: &Address) -> Option<Self> {
        Some(Self {
            public_ip: address.public_ip,
            allocation_id: address.allocation_id.clone()?,
            ptr_record: address.ptr_record.clone(),
            ptr_record_update: None,
        })
    }
}

/// ModifyAddressAttribute (domain-name): answered as PENDING, applied at once (D17).
pub fn modify_address_attribute(tx: &mut Tx, id: &AllocationId, domain_name: String) -> ApiResult<AddressAttribute> {
    let mut address = tx
        .part()
        .address_by_allocation(id)
        .cloned()
        .ok_or_else(|| ApiError::invalid_allocation_id_not_found(id.as_str()))?;
    let previous = AddressAttribute::of(&address).expect("vpc address");
    address.ptr_record = Some(domain_name.clone());
    tx.put(Record::Address(address));
    Ok(AddressAttribute {
        ptr_record_update: Some(PtrRecordUpdate { value: domain_name, status: "PENDING" }),
        ..previous
    })
}

/// ResetAddressAttribute (domain-name): removes the PTR record (D17).
pub fn reset_address_attribute(tx: &mut Tx, id: &AllocationId) -> ApiResult<AddressAttribute> {
    let mut address = tx
        .part()
        .address_by_allocation(id)
        .cloned()
        .ok_or_else(|| ApiError::invalid_allocation_id_not_found(id.as_str()))?;
    let previous = AddressAttribute::of(&address).expect("vpc address");
    address.ptr_record = None;
    tx.put(Record::Address(address));
    Ok(AddressAttribute {
        ptr_record_update: Some(PtrRecordUpdate { value: String::new(), status: "PENDING" }),
        ..previous
    })
}

/// DescribeAddresses filter names (D14: the documented ones, domain and tag-value).
pub fn is_address_filter(name: &str) -> bool {
    matches!(
        name,
        "allocation-id"
            | "association-id"
            | "domain"
            | "instance-id"
            | "network-border-group"
            | "network-interface-id"
            | "network-interface-owner-id"
            | "private-ip-address"
            | "public-ip"
            | "tag-key"
            | "tag-value"
    ) || name.starts_with("tag:")
}

/// An address as filters see it: with what is derived from its association.
pub struct AddressView<'a> {
    pub address: &'a Address,
    pub instance_id: Option<&'a InstanceId>,
    /// The subnet of the interface the address is associated with.
    pub subnet_id: Option<&'a SubnetId>,
    pub owner: &'a str,
}

impl<'a> AddressView<'a> {
    pub fn new(part: &'a Partition, owner: &'a str, address: &'a Address) -> Self {
        let eni = address.association.as_ref().and_then(|a| part.interface(&a.network_interface_id));
        let instance_id = eni.and_then(|eni| eni.instance_id());
        Self { address, instance_id, subnet_id: eni.map(|eni| &eni.subnet_id), owner }
    }
}

impl Filterable for AddressView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let a = self.address;
        let assoc = a.association.as_ref();
        let one = |v: Option<String>| Some(v.into_iter().collect());
        match name {
            "allocation-id" => one(a.allocation_id.as_ref().map(ToString::to_string)),
            "association-id" => one(assoc.map(|x| x.id.to_string())),
            "domain" => one(Some(a.domain.as_str().to_owned())),
            "instance-id" => one(self.instance_id.map(ToString::to_string)),
            "network-border-group" => one(Some(a.network_border_group.to_string())),
            "network-interface-id" => one(assoc.map(|x| x.network_interface_id.to_string())),
            "network-interface-owner-id" => one(assoc.map(|_| self.owner.to_owned())),
            "private-ip-address" => one(assoc.map(|x| x.private_ip.to_string())),
            "public-ip" => one(Some(a.public_ip.to_string())),
            _ => tag_filter_values(&a.tags, name),
        }
    }
}

/// DescribeAddresses: the named addresses (all must exist), narrowed by the
/// filters. Candidates come from an index when a filter allows it.
pub fn describe_addresses<'a>(
    part: &'a Partition,
    owner: &'a str,
    flavor: Flavor,
    input: &DescribeAddresses,
) -> ApiResult<Vec<AddressView<'a>>> {
    let filters = Filters::new(&input.filters, is_address_filter)?;
    let missing: Vec<&str> = input
        .allocation_ids
        .iter()
        .filter(|id| part.address_by_allocation(id).is_none())
        .map(AllocationId::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(match flavor {
            Flavor::Moto => ApiError::moto_allocation_not_found(MotoIds::Set(&missing)),
            Flavor::Aws => ApiError::invalid_allocation_id_not_found(&missing.join(", ")),
        });
    }
    let by_ip = |ip: &String| ip.parse().ok().and_then(|ip| part.address(ip));
    let missing: Vec<&str> = input.public_ips.iter().filter(|ip| by_ip(ip).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(match flavor {
            Flavor::Moto => ApiError::moto_address_not_found(MotoIds::Set(&missing)),
            Flavor::Aws => ApiError::invalid_address_not_found(&missing.join(", ")),
        });
    }
    let mut named: Vec<&Address> =
        input.allocation_ids.iter().filter_map(|id| part.address_by_allocation(id)).collect();
    named.extend(input.public_ips.iter().filter_map(by_ip));
    let candidates: Box<dyn Iterator<Item = &Address>> = if !named.is_empty() {
        Box::new(named.into_iter())
    } else if let Some(found) = indexed_candidates(part, &filters) {
        Box::new(found.into_iter())
    } else {
        Box::new(part.addresses())
    };
    let mut found: Vec<AddressView> =
        candidates.map(|a| AddressView::new(part, owner, a)).filter(|v| filters.matches(v)).collect();
    // In the order they were allocated, each once.
    found.sort_by_key(|v| (v.address.seq, v.address.public_ip));
    found.dedup_by_key(|v| v.address.public_ip);
    Ok(found)
}

/// Candidates from an index for the first exact-valued filter that has one.
fn indexed_candidates<'a>(part: &'a Partition, filters: &Filters) -> Option<Vec<&'a Address>> {
    let exact = |name: &str| filters.get(name).filter(|f| !f.values.iter().any(|v| has_wildcard(v))).map(|f| &f.values);
    let mut out: Vec<&Address> = if let Some(values) = exact("allocation-id") {
        values.iter().filter_map(|v| AllocationId::parse(v)).filter_map(|id| part.address_by_allocation(&id)).collect()
    } else if let Some(values) = exact("public-ip") {
        values.iter().filter_map(|v| v.parse().ok()).filter_map(|ip| part.address(ip)).collect()
    } else if let Some(values) = exact("association-id") {
        values
            .iter()
            .filter_map(|v| AssociationId::parse(v))
            .filter_map(|id| part.address_by_association(&id))
            .collect()
    } else if let Some(values) = exact("network-interface-id") {
        values
            .iter()
            .filter_map(|v| NetworkInterfaceId::parse(v))
            .flat_map(|id| part.addresses_on_interface(&id).collect::<Vec<_>>())
            .collect()
    } else if let Some(values) = exact("instance-id") {
        values
            .iter()
            .filter_map(|v| InstanceId::parse(v))
            .flat_map(|id| part.interfaces_of(&id).into_iter().map(|eni| eni.id.clone()).collect::<Vec<_>>())
            .flat_map(|eni| part.addresses_on_interface(&eni).collect::<Vec<_>>())
            .collect()
    } else {
        let (key, values) = filters.iter().find_map(|f| {
            let key = f.name.strip_prefix("tag:")?;
            (!f.values.iter().any(|v| has_wildcard(v))).then_some((key, &f.values))
        })?;
        values.iter().flat_map(|v| part.addresses_tagged(key, v)).collect()
    };
    out.sort_by_key(|a| a.public_ip);
    out.dedup_by_key(|a| a.public_ip);
    Some(out)
}
