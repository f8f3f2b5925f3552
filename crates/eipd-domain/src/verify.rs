//! The invariants of a whole state, checked after it is loaded from a store
//! (start-up, `eipd check`): a damaged or hand-edited store must stop
//! start-up with the records named, never serve a public IP twice.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;

use crate::ids::NetworkInterfaceId;
use crate::model::*;
use crate::state::World;

/// Every breach of the invariants in `world`, one sentence each naming the
/// records involved; empty when the state is sound.
///
/// - One public IPv4 address has one holder in its region: an Elastic IP or
///   an interface's automatic public IP, of one account.
/// - An association id is on one address; an interface's private IP carries
///   at most one address; an association names an interface of its account
///   that has that private IP.
/// - A private IPv4 address belongs to one interface of its VPC.
/// - References resolve: a subnet's VPC, an interface's subnet, an
///   attachment's instance, an instance's subnet, a security group's VPC,
///   an interface's groups and the groups rules name (of the same VPC), a
///   route table's VPC and the subnets it is associated with (of that VPC);
///   a live NAT gateway's interface, which names it back; a VPC's DHCP
///   options set.
pub fn violations(world: &World) -> Vec<String> {
    let mut found = Vec::new();
    // Runs at every start over every address (a million in 0.1 s or so):
    // public IPs are sorted per region rather than hashed, and nothing is
    // formatted unless something is wrong.
    let mut public: HashMap<&str, Vec<(Ipv4Addr, Holder<'_>)>> = HashMap::new();
    for (scope, part) in world.partitions() {
        let held = public.entry(&*scope.region).or_default();
        let at = |what: String| format!("{what} of account {} in {}", scope.account, scope.region);
        let mut association_ids: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
        let mut targets: BTreeMap<(&str, Ipv4Addr), Ipv4Addr> = BTreeMap::new();
        for a in part.addresses() {
            held.push((a.public_ip, Holder::Address(scope, a)));
            let Some(assoc) = &a.association else { continue };
            let name = Holder::Address(scope, a).to_string();
            if let Some(other) = association_ids.insert(assoc.id.as_str(), a.public_ip) {
                found.push(at(format!("association {} is on both {other} and {}", assoc.id, a.public_ip)));
            }
            let target = (assoc.network_interface_id.as_str(), assoc.private_ip);
            if let Some(other) = targets.insert(target, a.public_ip) {
                found.push(at(format!(
                    "{} {} carries both {other} and {}",
                    assoc.network_interface_id, assoc.private_ip, a.public_ip
                )));
            }
            match part.interface(&assoc.network_interface_id) {
                None => found
                    .push(format!("{name} is associated with {}, which does not exist", assoc.network_interface_id)),
                Some(eni) if !eni.private_ips.contains(&assoc.private_ip) => found.push(format!(
                    "{name} is associated with {} {}, which that interface does not have",
                    eni.id, assoc.private_ip
                )),
                Some(_) => {}
            }
        }
        let mut private: BTreeMap<(&str, Ipv4Addr), &str> = BTreeMap::new();
        for eni in part.interfaces() {
            if let Some(ip) = eni.auto_public_ip {
                held.push((ip, Holder::Interface(scope, &eni.id)));
            }
            for ip in &eni.private_ips {
                if let Some(other) = private.insert((eni.vpc_id.as_str(), *ip), eni.id.as_str()) {
                    found.push(at(format!("private IP {ip} of {} is on both {other} and {}", eni.vpc_id, eni.id)));
                }
            }
            if part.subnet(&eni.subnet_id).is_none() {
                found.push(at(format!("interface {} is in {}, which does not exist", eni.id, eni.subnet_id)));
            }
            for group in &eni.groups {
                if part.security_group(group).is_none_or(|g| g.vpc_id != eni.vpc_id) {
                    found.push(at(format!(
                        "interface {} carries {group}, which is not a group of {}",
                        eni.id, eni.vpc_id
                    )));
                }
            }
            if let Some(attachment) = &eni.attachment
                && part.instance(&attachment.instance_id).is_none()
            {
                found.push(at(format!(
                    "interface {} is attached to {}, which does not exist",
                    eni.id, attachment.instance_id
                )));
            }
            if let Some(nat) = &eni.nat_gateway
                && part
                    .nat_gateway(nat)
                    .is_none_or(|g| g.state.is_over() || g.network_interface_id.as_ref() != Some(&eni.id))
            {
                found.push(at(format!("interface {} belongs to {nat}, which does not hold it", eni.id)));
            }
        }
        for gateway in part.nat_gateways().filter(|g| !g.state.is_over()) {
            let holds = gateway
                .network_interface_id
                .as_ref()
                .and_then(|id| part.interface(id))
                .is_some_and(|eni| eni.nat_gateway.as_ref() == Some(&gateway.id));
            if !holds {
                found.push(at(format!("NAT gateway {} does not hold its interface", gateway.id)));
            }
        }
        for vpc in part.vpcs() {
            if let Some(set) = &vpc.dhcp_options_id
                && part.dhcp_options(set).is_none()
            {
                found.push(at(format!("VPC {} uses the DHCP options set {set}, which does not exist", vpc.id)));
            }
        }
        for subnet in part.subnets() {
            if part.vpc(&subnet.vpc_id).is_none() {
                found.push(at(format!("subnet {} is in {}, which does not exist", subnet.id, subnet.vpc_id)));
            }
        }
        for group in part.security_groups() {
            if part.vpc(&group.vpc_id).is_none() {
                found.push(at(format!("security group {} is in {}, which does not exist", group.id, group.vpc_id)));
            }
            for rule in &group.rules {
                if let RulePeer::Group(peer) = &rule.peer
                    && part.security_group(peer).is_none_or(|g| g.vpc_id != group.vpc_id)
                {
                    found.push(at(format!(
                        "rule {} of {} names {peer}, which is not a group of {}",
                        rule.id, group.id, group.vpc_id
                    )));
                }
            }
        }
        for table in part.route_tables() {
            if part.vpc(&table.vpc_id).is_none() {
                found.push(at(format!("route table {} is in {}, which does not exist", table.id, table.vpc_id)));
            }
            for assoc in &table.associations {
                if let AssociatedWith::Subnet(subnet) = &assoc.target
                    && part.subnet(subnet).is_none_or(|s| s.vpc_id != table.vpc_id)
                {
                    found.push(at(format!(
                        "association {} of {} names {subnet}, which is not a subnet of {}",
                        assoc.id, table.id, table.vpc_id
                    )));
                }
            }
        }
        for instance in part.instances() {
            if part.subnet(&instance.subnet_id).is_none() {
                found.push(at(format!("instance {} is in {}, which does not exist", instance.id, instance.subnet_id)));
            }
        }
    }
    for (region, mut held) in public {
        held.sort_unstable_by_key(|(ip, _)| *ip);
        for pair in held.windows(2) {
            let ((ip, earlier), (_, later)) = (pair[0], pair[1]);
            if ip == pair[1].0 {
                found.push(format!("public IP {ip} in {region} is held twice: by {earlier} and by {later}"));
            }
        }
    }
    found
}

/// What holds a public IP, named only when a message needs it.
#[derive(Clone, Copy)]
enum Holder<'a> {
    Address(&'a Scope, &'a Address),
    /// The automatic public IP of an interface.
    Interface(&'a Scope, &'a NetworkInterfaceId),
}

impl fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Address(scope, a) => match &a.allocation_id {
                Some(id) => write!(f, "address {id}"),
                None => write!(f, "address {}", a.public_ip),
            }
            .and_then(|()| write!(f, " of account {} in {}", scope.account, scope.region)),
            Holder::Interface(scope, id) => {
                write!(f, "the automatic public IP of {id} of account {} in {}", scope.account, scope.region)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addresses::{AllocateAddress, allocate_address};
    use crate::ids::AssociationId;
    use crate::state::{Record, Settings};

    fn allocated(world: &mut World, account: &str) -> Address {
        let settings = Settings::default();
        let mut changes = crate::state::Changes::default();
        let mut tx = world.tx(&Scope::new(account, "us-east-1"), &settings, 0, &mut changes);
        let input =
            AllocateAddress { domain: Domain::Vpc, address: None, network_border_group: None, tags: Tags::new() };
        allocate_address(&mut tx, input).unwrap()
    }

    #[test]
    fn a_sound_state_has_no_violations() {
        let mut world = World::default();
        allocated(&mut world, "111111111111");
        allocated(&mut world, "222222222222");
        assert_eq!(violations(&world), Vec::<String>::new());
    }

    #[test]
    fn one_ip_held_by_two_accounts_is_named() {
        let mut world = World::default();
        let first = allocated(&mut world, "111111111111");
        let mut copy = allocated(&mut world, "222222222222");
        // As a flipped bit could leave it: another account's address on the same IP.
        copy.public_ip = first.public_ip;
        world.load(&Scope::new("222222222222", "us-east-1"), Record::Address(copy.clone()));
        let found = violations(&world);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains(&first.public_ip.to_string()) && found[0].contains("held twice"), "{found:?}");
        assert!(found[0].contains(copy.allocation_id.unwrap().as_str()), "names the record: {found:?}");
    }

    #[test]
    fn an_interface_carrying_a_group_of_another_vpc_is_named() {
        let scope = Scope::new("111111111111", "us-east-1");
        let mut world = World::default();
        let part = crate::state::Partition::with_defaults(&scope);
        let subnet = part.subnets().next().unwrap().clone();
        let mut changes = crate::state::Changes::default();
        let settings = Settings::default();
        let mut tx = world.tx(&scope, &settings, 0, &mut changes);
        let other = crate::vpcs::create_vpc(
            &mut tx,
            crate::vpcs::CreateVpc {
                cidr_block: "10.0.0.0/16".parse().unwrap(),
                amazon_provided_ipv6_cidr_block: false,
                instance_tenancy: "default".into(),
                tags: Tags::new(),
            },
        )
        .unwrap();
        let mut eni =
            crate::network_interfaces::create_network_interface(&mut tx, &subnet.id, Default::default()).unwrap();
        assert_eq!(eni.groups.len(), 1, "the default group of its VPC");
        assert_eq!(violations(&world), Vec::<String>::new());
        eni.groups = vec![world.partition(&scope).unwrap().default_security_group(&other.id).unwrap().id.clone()];
        world.load(&scope, Record::NetworkInterface(eni));
        let found = violations(&world);
        assert!(found.len() == 1 && found[0].contains("which is not a group of"), "{found:?}");
    }

    #[test]
    fn an_association_with_a_missing_interface_is_named() {
        let mut world = World::default();
        let mut address = allocated(&mut world, "111111111111");
        address.association = Some(Box::new(Association {
            id: AssociationId::generate(),
            network_interface_id: NetworkInterfaceId::generate(),
            private_ip: "172.31.0.10".parse().unwrap(),
        }));
        world.load(&Scope::new("111111111111", "us-east-1"), Record::Address(address));
        let found = violations(&world);
        assert!(found.iter().any(|v| v.contains("which does not exist")), "{found:?}");
    }

    #[test]
    fn a_vpc_using_a_missing_set_is_named() {
        let scope = Scope::new("111111111111", "us-east-1");
        let mut world = World::default();
        let part = crate::state::Partition::with_defaults(&scope);
        let mut vpc = part.default_vpc().unwrap().clone();
        vpc.dhcp_options_id = Some(crate::ids::DhcpOptionsId::generate());
        for key in part.record_keys() {
            world.load(&scope, part.record(&key).unwrap());
        }
        assert!(violations(&world).is_empty());
        world.load(&scope, Record::Vpc(vpc));
        let found = violations(&world);
        assert!(found.iter().any(|v| v.contains("uses the DHCP options set")), "{found:?}");
    }
}
