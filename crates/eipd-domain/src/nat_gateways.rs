//! NAT gateways: the Elastic IP's service-managed home. A gateway holds a
//! requester-managed interface in its subnet; a public one's Elastic IPs are
//! associated with that interface's private IPs until the gateway is deleted,
//! and the user can neither move nor release them meanwhile.
//!
//! AWS creates and deletes a gateway asynchronously (pending → available,
//! deleting → deleted). eipd settles at once: the record holds the state the
//! gateway ends in (available or failed; deleted), and only the
//! CreateNatGateway answer shows `pending`, as AWS's does. So boto3's
//! `nat_gateway_available` and `nat_gateway_deleted` waiters pass at their
//! first poll. A failed or deleted gateway stays visible for
//! [`OVER_RETENTION_SECS`], as AWS keeps them about an hour.

use std::net::Ipv4Addr;

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::network_interfaces::{InterfaceSpec, new_interface, remove_interface};
use crate::state::{Flavor, Partition, Record, RecordKey, Tx};
use crate::subnets::subnet;

/// How long a failed or deleted gateway is still listed: about an hour in
/// AWS. It goes at the first NAT gateway write after that.
pub const OVER_RETENTION_SECS: i64 = 3600;

pub fn nat_gateway<'a>(part: &'a Partition, id: &NatGatewayId) -> ApiResult<&'a NatGateway> {
    part.nat_gateway(id).ok_or_else(|| ApiError::nat_gateway_not_found(id.as_str()))
}

#[derive(Clone, Debug)]
pub struct CreateNatGateway {
    pub subnet_id: SubnetId,
    pub connectivity: Connectivity,
    pub allocation_id: Option<AllocationId>,
    pub secondary_allocation_ids: Vec<AllocationId>,
    pub private_ip: Option<Ipv4Addr>,
    pub secondary_private_ips: Vec<Ipv4Addr>,
    pub secondary_private_ip_count: u32,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// The combinations of parameters AWS refuses before looking anything up.
pub fn validate_create(input: &CreateNatGateway) -> ApiResult<()> {
    match input.connectivity {
        Connectivity::Public => {
            if input.allocation_id.is_none() {
                return Err(ApiError::missing_parameter(
                    "The request must contain the parameter AllocationId for a public NAT gateway",
                ));
            }
            if input.secondary_private_ip_count > 0 {
                return Err(ApiError::invalid_parameter_combination(
                    "SecondaryPrivateIpAddressCount is only valid for a private NAT gateway",
                ));
            }
            if !input.secondary_private_ips.is_empty()
                && input.secondary_private_ips.len() != input.secondary_allocation_ids.len()
            {
                return Err(ApiError::invalid_parameter_combination(
                    "A public NAT gateway needs one SecondaryAllocationId for each SecondaryPrivateIpAddress",
                ));
            }
        }
        Connectivity::Private => {
            if input.allocation_id.is_some() || !input.secondary_allocation_ids.is_empty() {
                return Err(ApiError::invalid_parameter_combination(
                    "You cannot specify an Elastic IP address with a private NAT gateway",
                ));
            }
            if input.secondary_private_ip_count > 0 && !input.secondary_private_ips.is_empty() {
                return Err(ApiError::invalid_parameter_combination(
                    "SecondaryPrivateIpAddresses and SecondaryPrivateIpAddressCount cannot both be specified",
                ));
            }
        }
    }
    Ok(())
}

/// CreateNatGateway. An unknown subnet or a private IP that cannot be had
/// is an error of the call; what AWS finds only while creating (an unknown
/// or associated allocation, a VPC without an internet gateway, a full
/// subnet) is a gateway in state `failed` with AWS's FailureCode and
/// FailureMessage.
pub fn create_nat_gateway(tx: &mut Tx, input: CreateNatGateway) -> ApiResult<NatGateway> {
    if let Some(token) = &input.client_token
        && let Some(earlier) = tx.part().nat_gateways().find(|g| g.client_token.as_ref() == Some(token))
    {
        return Ok(earlier.clone());
    }
    validate_create(&input)?;
    let subnet = subnet(tx.part(), &input.subnet_id)?.clone();
    forget_expired_gateways(tx);
    let id = NatGatewayId::generate();
    let allocations: Vec<AllocationId> =
        input.allocation_id.iter().chain(&input.secondary_allocation_ids).cloned().collect();
    let mut gateway = NatGateway {
        id: id.clone(),
        subnet_id: subnet.id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        connectivity: input.connectivity,
        state: NatGatewayState::Available,
        create_time: tx.now,
        delete_time: None,
        failure: None,
        network_interface_id: None,
        addresses: Vec::new(),
        client_token: input.client_token.clone(),
        tags: input.tags.clone(),
    };
    if let Some((code, message)) = creation_failure(tx, &subnet, &input, &allocations) {
        gateway.state = NatGatewayState::Failed;
        gateway.addresses = allocations
            .iter()
            .enumerate()
            .map(|(i, allocation)| NatGatewayAddress {
                allocation_id: Some(allocation.clone()),
                public_ip: None,
                association_id: None,
                private_ip: None,
                is_primary: i == 0,
                failure_message: Some(message.clone()),
            })
            .collect();
        gateway.failure = Some((code.into(), message));
        tx.put(Record::NatGateway(gateway.clone()));
        return Ok(gateway);
    }

    // The primary private IP, then one per secondary allocation (public) or
    // the secondary ones asked for (private).
    let secondary_count = match input.connectivity {
        Connectivity::Public => input.secondary_allocation_ids.len() - input.secondary_private_ips.len(),
        Connectivity::Private => input.secondary_private_ip_count as usize,
    };
    let spec = InterfaceSpec {
        description: format!("Interface for NAT Gateway {id}"),
        private_ips: match input.private_ip {
            Some(ip) => std::iter::once(ip).chain(input.secondary_private_ips.iter().copied()).collect(),
            None if input.secondary_private_ips.is_empty() => Vec::new(),
            None => {
                return Err(ApiError::missing_parameter(
                    "The request must contain the parameter PrivateIpAddress when SecondaryPrivateIpAddresses are given",
                ));
            }
        },
        secondary_private_ip_count: secondary_count as u32,
        ..InterfaceSpec::default()
    };
    let mut eni = new_interface(tx, &subnet, spec)?;
    eni.groups.clear();
    eni.nat_gateway = Some(id.clone());
    eni.ipv6_addresses.clear();
    eni.source_dest_check = false;
    tx.put(Record::NetworkInterface(eni.clone()));

    for (i, private_ip) in eni.private_ips.iter().enumerate() {
        let elastic = allocations.get(i).map(|allocation| {
            let mut address = tx.part().address_by_allocation(allocation).cloned().expect("checked above");
            let association = Association {
                id: AssociationId::generate(),
                network_interface_id: eni.id.clone(),
                private_ip: *private_ip,
            };
            address.association = Some(Box::new(association.clone()));
            tx.put(Record::Address(address.clone()));
            (allocation.clone(), address.public_ip, association.id)
        });
        gateway.addresses.push(NatGatewayAddress {
            allocation_id: elastic.as_ref().map(|(a, _, _)| a.clone()),
            public_ip: elastic.as_ref().map(|(_, ip, _)| *ip),
            association_id: elastic.map(|(_, _, assoc)| assoc),
            private_ip: Some(*private_ip),
            is_primary: i == 0,
            failure_message: None,
        });
    }
    gateway.network_interface_id = Some(eni.id);
    tx.put(Record::NatGateway(gateway.clone()));
    Ok(gateway)
}

/// What AWS reports on a gateway it could not create, as (FailureCode,
/// FailureMessage), with the messages of the NatGateway shape's
/// documentation. moto checks none of these (D1).
fn creation_failure(
    tx: &Tx,
    subnet: &Subnet,
    input: &CreateNatGateway,
    allocations: &[AllocationId],
) -> Option<(&'static str, String)> {
    let part = tx.part();
    if tx.settings.flavor == Flavor::Moto {
        return allocations.iter().find(|a| part.address_by_allocation(a).is_none()).map(|a| {
            (
                "InvalidAllocationID.NotFound",
                format!("Elastic IP address {a} could not be associated with this NAT gateway"),
            )
        });
    }
    for allocation in allocations {
        match part.address_by_allocation(allocation) {
            None => {
                return Some((
                    "InvalidAllocationID.NotFound",
                    format!("Elastic IP address {allocation} could not be associated with this NAT gateway"),
                ));
            }
            Some(address) if address.association.is_some() => {
                return Some((
                    "Resource.AlreadyAssociated",
                    format!("Elastic IP address {allocation} is already associated"),
                ));
            }
            Some(_) => {}
        }
    }
    if input.connectivity == Connectivity::Public && part.gateway_of(&subnet.vpc_id).is_none() {
        return Some(("Gateway.NotAttached", format!("Network {} has no Internet gateway attached", subnet.vpc_id)));
    }
    let wanted = 1
        + input.secondary_allocation_ids.len().max(input.secondary_private_ips.len())
        + input.secondary_private_ip_count as usize;
    if free_addresses(part, subnet) < wanted {
        return Some((
            "InsufficientFreeAddressesInSubnet",
            "Subnet has insufficient free addresses to create this NAT gateway".into(),
        ));
    }
    None
}

/// The private IPv4s of a subnet no interface holds (AWS reserves the
/// first four and the last).
fn free_addresses(part: &Partition, subnet: &Subnet) -> usize {
    let net = subnet.cidr_block;
    let usable = (1usize << (32 - net.prefix_len())).saturating_sub(5);
    let taken = part.interfaces().filter(|n| n.subnet_id == subnet.id).map(|n| n.private_ips.len()).sum::<usize>();
    usable.saturating_sub(taken)
}

/// DeleteNatGateway: its Elastic IPs are disassociated (they stay
/// allocated), its interface goes, and it shows as `deleted` for
/// [`OVER_RETENTION_SECS`]. Deleting a gateway that is already over
/// succeeds and changes nothing, as AWS answers a repeated delete.
pub fn delete_nat_gateway(tx: &mut Tx, id: &NatGatewayId) -> ApiResult<NatGatewayId> {
    let mut gateway = nat_gateway(tx.part(), id)?.clone();
    if gateway.state.is_over() {
        return Ok(gateway.id);
    }
    forget_expired_gateways(tx);
    if let Some(eni) = gateway.network_interface_id.as_ref().and_then(|eni| tx.part().interface(eni).cloned()) {
        remove_interface(tx, eni)?;
    }
    for address in &mut gateway.addresses {
        address.association_id = None;
    }
    gateway.state = NatGatewayState::Deleted;
    gateway.delete_time = Some(tx.now);
    tx.put(Record::NatGateway(gateway.clone()));
    Ok(gateway.id)
}

/// Deletes, durably, the failed and deleted gateways past their retention.
fn forget_expired_gateways(tx: &mut Tx) {
    let now = tx.now;
    let expired: Vec<NatGatewayId> = tx
        .part()
        .nat_gateways()
        .filter(|g| g.state.is_over() && now - g.delete_time.unwrap_or(g.create_time) > OVER_RETENTION_SECS)
        .map(|g| g.id.clone())
        .collect();
    for id in expired {
        tx.delete(RecordKey::NatGateway(id));
    }
}

impl Described for NatGateway {
    type Id = NatGatewayId;
    const FILTERS: &'static [&'static str] = &["nat-gateway-id", "state", "subnet-id", "vpc-id"];

    fn all(part: &Partition) -> Vec<&Self> {
        part.nat_gateways().collect()
    }

    fn get<'p>(part: &'p Partition, id: &NatGatewayId) -> Option<&'p Self> {
        part.nat_gateway(id)
    }

    fn id(&self) -> &NatGatewayId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&NatGatewayId]) -> ApiError {
        ApiError::nat_gateway_not_found(missing[0].as_str())
    }

    fn filter_values(&self, _: &Partition, _: &Scope, name: &str) -> Vec<String> {
        match name {
            "nat-gateway-id" => vec![self.id.to_string()],
            "state" => vec![self.state.as_str().into()],
            "subnet-id" => vec![self.subnet_id.to_string()],
            "vpc-id" => vec![self.vpc_id.to_string()],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addresses::{AllocateAddress, allocate_address};
    use crate::state::{Settings, World};
    use crate::vpcs::{CreateVpc, create_vpc};

    struct Fixture {
        world: World,
        scope: Scope,
        settings: Settings,
        now: i64,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                world: World::default(),
                scope: Scope::new("111111111111", "us-east-1"),
                settings: Settings::default(),
                now: 1_000,
            }
        }

        fn run<R>(&mut self, op: impl FnOnce(&mut Tx) -> ApiResult<R>) -> ApiResult<R> {
            let mut changes = crate::state::Changes::default();
            let mut tx = self.world.tx(&self.scope, &self.settings, self.now, &mut changes);
            op(&mut tx)
        }

        fn part(&self) -> &Partition {
            self.world.partition(&self.scope).expect("written")
        }

        fn default_subnet(&mut self) -> SubnetId {
            self.run(|tx| Ok(tx.part().subnets().next().expect("default subnets").id.clone())).unwrap()
        }

        fn allocate(&mut self) -> AllocationId {
            let input =
                AllocateAddress { domain: Domain::Vpc, address: None, network_border_group: None, tags: Tags::new() };
            self.run(|tx| allocate_address(tx, input)).unwrap().allocation_id.unwrap()
        }
    }

    fn public(subnet: &SubnetId, allocation: &AllocationId) -> CreateNatGateway {
        CreateNatGateway {
            subnet_id: subnet.clone(),
            connectivity: Connectivity::Public,
            allocation_id: Some(allocation.clone()),
            secondary_allocation_ids: Vec::new(),
            private_ip: None,
            secondary_private_ips: Vec::new(),
            secondary_private_ip_count: 0,
            client_token: None,
            tags: Tags::new(),
        }
    }

    #[test]
    fn a_public_gateway_holds_its_address_on_a_requester_managed_interface_until_deleted() {
        let mut f = Fixture::new();
        let subnet = f.default_subnet();
        let allocation = f.allocate();
        let gateway = f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        assert_eq!(gateway.state, NatGatewayState::Available);
        let eni_id = gateway.network_interface_id.clone().expect("an interface");
        let eni = f.part().interface(&eni_id).unwrap().clone();
        assert_eq!(eni.nat_gateway.as_ref(), Some(&gateway.id));
        assert!(eni.groups.is_empty(), "a NAT gateway's interface has no security group");
        let address = f.part().address_by_allocation(&allocation).unwrap().clone();
        let association = address.association.expect("associated");
        assert_eq!(
            (association.network_interface_id, association.private_ip),
            (eni_id.clone(), eni.primary_private_ip())
        );
        assert_eq!(gateway.addresses[0].public_ip, Some(address.public_ip));

        f.now += 10;
        f.run(|tx| delete_nat_gateway(tx, &gateway.id)).unwrap();
        let deleted = f.part().nat_gateway(&gateway.id).unwrap().clone();
        assert_eq!((deleted.state, deleted.delete_time), (NatGatewayState::Deleted, Some(f.now)));
        assert!(f.part().interface(&eni_id).is_none(), "the interface goes with the gateway");
        assert!(f.part().address_by_allocation(&allocation).unwrap().association.is_none(), "the address stays, free");
        assert_eq!(
            f.run(|tx| delete_nat_gateway(tx, &gateway.id)),
            Ok(gateway.id.clone()),
            "a repeated delete succeeds"
        );
    }

    #[test]
    fn what_aws_finds_while_creating_fails_the_gateway() {
        let mut f = Fixture::new();
        let subnet = f.default_subnet();
        let missing = AllocationId::parse("eipalloc-0123456789abcdef0").unwrap();
        let failed = f.run(|tx| create_nat_gateway(tx, public(&subnet, &missing))).unwrap();
        assert_eq!(failed.state, NatGatewayState::Failed);
        let (code, message) = failed.failure.clone().unwrap();
        assert_eq!(code, "InvalidAllocationID.NotFound");
        assert_eq!(message, format!("Elastic IP address {missing} could not be associated with this NAT gateway"));
        assert!(failed.network_interface_id.is_none(), "a failed gateway never had an interface");

        let allocation = f.allocate();
        f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        let again = f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        assert_eq!(again.failure.unwrap().0, "Resource.AlreadyAssociated");

        let vpc = f
            .run(|tx| {
                create_vpc(
                    tx,
                    CreateVpc {
                        cidr_block: "10.0.0.0/16".parse().unwrap(),
                        amazon_provided_ipv6_cidr_block: false,
                        instance_tenancy: "default".into(),
                        tags: Tags::new(),
                    },
                )
            })
            .unwrap();
        let lone = f
            .run(|tx| {
                crate::subnets::create_subnet(
                    tx,
                    crate::subnets::CreateSubnet {
                        vpc_id: vpc.id.clone(),
                        cidr_block: "10.0.1.0/24".parse().unwrap(),
                        availability_zone: None,
                        ipv6_cidr_block: None,
                        tags: Tags::new(),
                    },
                )
            })
            .unwrap();
        let other = f.allocate();
        let no_igw = f.run(|tx| create_nat_gateway(tx, public(&lone.id, &other))).unwrap();
        assert_eq!(
            no_igw.failure.unwrap(),
            ("Gateway.NotAttached".into(), format!("Network {} has no Internet gateway attached", vpc.id))
        );
        assert!(
            f.part().address_by_allocation(&other).unwrap().association.is_none(),
            "a failed gateway holds nothing"
        );
        let private =
            CreateNatGateway { connectivity: Connectivity::Private, allocation_id: None, ..public(&lone.id, &other) };
        assert_eq!(
            f.run(|tx| create_nat_gateway(tx, private)).unwrap().state,
            NatGatewayState::Available,
            "a private one needs no gateway"
        );
    }

    #[test]
    fn parameters_follow_the_connectivity_type() {
        let subnet = SubnetId::parse("subnet-0123abcd").unwrap();
        let allocation = AllocationId::parse("eipalloc-0123abcd").unwrap();
        let private_with_eip = CreateNatGateway { connectivity: Connectivity::Private, ..public(&subnet, &allocation) };
        assert_eq!(validate_create(&private_with_eip).unwrap_err().code, "InvalidParameterCombination");
        let public_without = CreateNatGateway { allocation_id: None, ..public(&subnet, &allocation) };
        assert_eq!(validate_create(&public_without).unwrap_err().code, "MissingParameter");
        let public_count = CreateNatGateway { secondary_private_ip_count: 2, ..public(&subnet, &allocation) };
        assert_eq!(validate_create(&public_count).unwrap_err().code, "InvalidParameterCombination");
    }

    #[test]
    fn a_client_token_answers_the_first_gateway_again() {
        let mut f = Fixture::new();
        let subnet = f.default_subnet();
        let allocation = f.allocate();
        let input = CreateNatGateway { client_token: Some("t1".into()), ..public(&subnet, &allocation) };
        let first = f.run(|tx| create_nat_gateway(tx, input.clone())).unwrap();
        let second = f.run(|tx| create_nat_gateway(tx, input)).unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(f.part().nat_gateways().count(), 1);
    }

    #[test]
    fn a_gateway_and_its_interface_name_each_other() {
        let mut f = Fixture::new();
        let subnet = f.default_subnet();
        let allocation = f.allocate();
        let gateway = f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        assert_eq!(crate::verify::violations(&f.world), Vec::<String>::new());
        let mut lost = gateway.clone();
        lost.network_interface_id = None;
        f.world.load(&f.scope, Record::NatGateway(lost));
        let found = crate::verify::violations(&f.world);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|v| v.contains("does not hold its interface")), "{found:?}");
        f.world.load(&f.scope, Record::NatGateway(gateway.clone()));
        f.run(|tx| delete_nat_gateway(tx, &gateway.id)).unwrap();
        assert_eq!(crate::verify::violations(&f.world), Vec::<String>::new());
    }

    #[test]
    fn over_gateways_are_forgotten_after_the_retention() {
        let mut f = Fixture::new();
        let subnet = f.default_subnet();
        let allocation = f.allocate();
        let gateway = f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        f.run(|tx| delete_nat_gateway(tx, &gateway.id)).unwrap();
        f.now += OVER_RETENTION_SECS;
        let next = f.run(|tx| create_nat_gateway(tx, public(&subnet, &allocation))).unwrap();
        assert!(f.part().nat_gateway(&gateway.id).is_some(), "kept for the whole retention");
        f.now += 1;
        f.run(|tx| delete_nat_gateway(tx, &next.id)).unwrap();
        assert!(f.part().nat_gateway(&gateway.id).is_none(), "then forgotten");
    }
}
