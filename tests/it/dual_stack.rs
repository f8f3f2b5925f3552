//! The seed's refusal rule (D3): an interface with a public dual-stack DNS
//! name keeps its last, primary public IPv4; and its neighbours, which must
//! succeed. Also what instance and interface life does to associations.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceStateName, PublicIpDnsOption};

use crate::common::*;

/// A dual-stack interface: VPC with DNS hostnames and an Amazon IPv6 /56, a
/// subnet with the first /64 of it, a gateway, an interface with one IPv6
/// address and the dual-stack hostname type.
struct DualStack {
    acct: Account,
    subnet: String,
    eni: String,
    primary: String,
}

async fn dual_stack_vpc(ec2: &Client, hostnames: bool) -> (String, String) {
    let out = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .amazon_provided_ipv6_cidr_block(true)
        .send()
        .await
        .expect("CreateVpc with IPv6");
    let vpc = out.vpc().expect("vpc");
    let vpc_id = vpc.vpc_id().expect("vpc id").to_owned();
    let block = vpc
        .ipv6_cidr_block_association_set()
        .iter()
        .find_map(|b| b.ipv6_cidr_block())
        .unwrap_or_else(|| panic!("CreateVpc shows no IPv6 block: {vpc:?}"))
        .to_owned();
    let (network, len) = block.split_once('/').expect("a CIDR");
    assert_eq!(len, "56", "Amazon-provided VPC blocks are /56: {block}");
    let first64 = format!("{network}/64");
    if hostnames {
        enable_dns_hostnames(ec2, &vpc_id).await;
    }
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.0.1.0/24")
        .ipv6_cidr_block(&first64)
        .send()
        .await
        .expect("CreateSubnet with IPv6");
    let subnet = subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned();
    attach_igw(ec2, &vpc_id).await;
    (vpc_id, subnet)
}

async fn set_hostname_type(ec2: &Client, eni: &str, t: PublicIpDnsOption) {
    ec2.modify_public_ip_dns_name_options()
        .network_interface_id(eni)
        .hostname_type(t)
        .send()
        .await
        .expect("ModifyPublicIpDnsNameOptions");
}

async fn dual_stack_with(hostnames: bool, hostname_type: PublicIpDnsOption) -> DualStack {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let (_, subnet) = dual_stack_vpc(ec2, hostnames).await;
    let out = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .ipv6_address_count(1)
        .send()
        .await
        .expect("CreateNetworkInterface with IPv6");
    let eni = out.network_interface().expect("interface");
    assert_eq!(eni.ipv6_addresses().len(), 1, "{eni:?}");
    let eni_id = eni.network_interface_id().unwrap().to_owned();
    let primary = eni.private_ip_address().unwrap().to_owned();
    set_hostname_type(ec2, &eni_id, hostname_type).await;
    DualStack { acct, subnet, eni: eni_id, primary }
}

async fn dual_stack() -> DualStack {
    dual_stack_with(true, PublicIpDnsOption::PublicDualStackDnsName).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_primary_ipv4_of_a_dual_stack_interface_is_kept() {
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &d.eni, Some(&d.primary)).await;

    let n = interface(ec2, &d.eni).await;
    let names = n.public_ip_dns_name_options().expect("PublicIpDnsNameOptions");
    assert_eq!(names.dns_hostname_type(), Some("public-dual-stack-dns-name"));
    let dual = names.public_dual_stack_dns_name().unwrap_or_default();
    assert!(!dual.is_empty(), "a dual-stack interface with a public IPv4 has a dual-stack name: {names:?}");

    let f = failure(ec2.disassociate_address().association_id(&assoc).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    assert!(f.message.contains(&ip), "the message names the address: {}", f.message);
    assert!(f.message.contains(&d.eni), "the message names the interface: {}", f.message);
    assert!(f.message.contains("ModifyPublicIpDnsNameOptions"), "the message gives the way out: {}", f.message);

    // Nothing changed, and asking again gives the same answer.
    let a = address(ec2, &alloc).await;
    assert_eq!(a.association_id(), Some(assoc.as_str()));
    assert_eq!(interface(ec2, &d.eni).await.association().and_then(|x| x.public_ip()), Some(ip.as_str()));
    let f = failure(ec2.disassociate_address().association_id(&assoc).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    // DryRun answers before the state rule (D6).
    let f = failure(ec2.disassociate_address().association_id(&assoc).dry_run(true).send().await);
    assert_failure(&f, 412, "DryRunOperation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_public_ipv4_on_a_secondary_private_ip_lets_the_primary_go() {
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let secondary = add_private_ip(ec2, &d.eni).await;
    let (primary_alloc, _) = allocate(ec2).await;
    let (secondary_alloc, secondary_ip) = allocate(ec2).await;
    let primary_assoc = associate_eni(ec2, &primary_alloc, &d.eni, Some(&d.primary)).await;
    let secondary_assoc = associate_eni(ec2, &secondary_alloc, &d.eni, Some(&secondary)).await;
    disassociate(ec2, &primary_assoc).await;
    assert_eq!(address(ec2, &primary_alloc).await.association_id(), None);
    assert_eq!(address(ec2, &secondary_alloc).await.association_id(), Some(secondary_assoc.as_str()));
    // The secondary address is not the primary public IPv4: it may go too.
    disassociate(ec2, &secondary_assoc).await;
    let n = interface(ec2, &d.eni).await;
    let left: Vec<_> = n.private_ip_addresses().iter().filter_map(|p| p.association()).collect();
    assert!(left.is_empty(), "no public IPv4 left, {secondary_ip} included: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secondary_address_may_go_while_the_primary_stays() {
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let secondary = add_private_ip(ec2, &d.eni).await;
    let (primary_alloc, _) = allocate(ec2).await;
    let (secondary_alloc, _) = allocate(ec2).await;
    let primary_assoc = associate_eni(ec2, &primary_alloc, &d.eni, Some(&d.primary)).await;
    let secondary_assoc = associate_eni(ec2, &secondary_alloc, &d.eni, Some(&secondary)).await;
    disassociate(ec2, &secondary_assoc).await;
    assert_eq!(address(ec2, &secondary_alloc).await.association_id(), None);
    // Now the primary is the last public IPv4 again: refused.
    let f = failure(ec2.disassociate_address().association_id(&primary_assoc).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    assert_eq!(address(ec2, &primary_alloc).await.association_id(), Some(primary_assoc.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ipv6_or_a_dual_stack_name_disassociation_succeeds() {
    // An IPv4-only interface with the IPv4 hostname type.
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    enable_dns_hostnames(ec2, &net.vpc).await;
    let (eni, primary) = create_eni(ec2, &net.subnet).await;
    set_hostname_type(ec2, &eni, PublicIpDnsOption::PublicIpv4DnsName).await;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &eni, Some(&primary)).await;
    let names = interface(ec2, &eni).await.public_ip_dns_name_options().cloned();
    assert!(names.as_ref().and_then(|n| n.public_dual_stack_dns_name()).is_none(), "{names:?}");
    disassociate(ec2, &assoc).await;
    assert_eq!(address(ec2, &alloc).await.association_id(), None);

    // An interface with IPv6 but the IPv4 hostname type.
    let d = dual_stack_with(true, PublicIpDnsOption::PublicIpv4DnsName).await;
    let (alloc, _) = allocate(&d.acct.ec2).await;
    let assoc = associate_eni(&d.acct.ec2, &alloc, &d.eni, Some(&d.primary)).await;
    let n = interface(&d.acct.ec2, &d.eni).await;
    assert_eq!(n.public_ip_dns_name_options().and_then(|o| o.dns_hostname_type()), Some("public-ipv4-dns-name"));
    disassociate(&d.acct.ec2, &assoc).await;
    assert_eq!(address(&d.acct.ec2, &alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dns_hostnames_there_is_no_dual_stack_name_to_keep() {
    let d = dual_stack_with(false, PublicIpDnsOption::PublicDualStackDnsName).await;
    let ec2 = &d.acct.ec2;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &d.eni, Some(&d.primary)).await;
    let n = interface(ec2, &d.eni).await;
    let dual = n.public_ip_dns_name_options().and_then(|o| o.public_dual_stack_dns_name());
    assert!(dual.is_none_or(str::is_empty), "no DNS hostnames, no dual-stack name: {n:?}");
    disassociate(ec2, &assoc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_ipv6_address_removes_the_dual_stack_name() {
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &d.eni, Some(&d.primary)).await;
    let ipv6 = interface(ec2, &d.eni).await.ipv6_addresses()[0].ipv6_address().unwrap().to_owned();
    ec2.unassign_ipv6_addresses()
        .network_interface_id(&d.eni)
        .ipv6_addresses(&ipv6)
        .send()
        .await
        .expect("UnassignIpv6Addresses");
    let n = interface(ec2, &d.eni).await;
    let dual = n.public_ip_dns_name_options().and_then(|o| o.public_dual_stack_dns_name());
    assert!(dual.is_none_or(str::is_empty), "no IPv6, no dual-stack name: {n:?}");
    disassociate(ec2, &assoc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_hostname_type_lifts_the_refusal() {
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &d.eni, Some(&d.primary)).await;
    let f = failure(ec2.disassociate_address().association_id(&assoc).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    set_hostname_type(ec2, &d.eni, PublicIpDnsOption::PublicIpv4DnsName).await;
    disassociate(ec2, &assoc).await;
    assert_eq!(address(ec2, &alloc).await.association_id(), None);
    // And the IPv6 hostname type does not keep it either.
    let assoc = associate_eni(ec2, &alloc, &d.eni, Some(&d.primary)).await;
    set_hostname_type(ec2, &d.eni, PublicIpDnsOption::PublicIpv6DnsName).await;
    disassociate(ec2, &assoc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refusal_holds_for_an_instance_interface_too() {
    // The same rule through an instance's interface and its id.
    let d = dual_stack().await;
    let ec2 = &d.acct.ec2;
    let out = ec2
        .run_instances()
        .image_id(AMI)
        .min_count(1)
        .max_count(1)
        .subnet_id(&d.subnet)
        .ipv6_address_count(1)
        .send()
        .await
        .expect("RunInstances with IPv6");
    let inst = &out.instances()[0];
    let id = inst.instance_id().unwrap().to_owned();
    let eni = inst.network_interfaces()[0].network_interface_id().unwrap().to_owned();
    set_hostname_type(ec2, &eni, PublicIpDnsOption::PublicDualStackDnsName).await;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_instance(ec2, &alloc, &id).await;
    let f = failure(ec2.disassociate_address().association_id(&assoc).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    assert!(f.message.contains(&eni), "{f:?}");
}

// ---- neighbouring rules ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn association_needs_an_attached_internet_gateway() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = create_net(ec2, "10.0.0.0/16", "10.0.1.0/24", false).await;
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let (alloc, _) = allocate(ec2).await;
    let f = failure(ec2.associate_address().allocation_id(&alloc).network_interface_id(&eni).send().await);
    assert_failure(&f, 400, "Gateway.NotAttached");
    assert_eq!(address(ec2, &alloc).await.association_id(), None);
    // Through an instance in that VPC too.
    let id = run_instance(ec2, Some(&net.subnet)).await;
    let f = failure(ec2.associate_address().allocation_id(&alloc).instance_id(&id).send().await);
    assert_failure(&f, 400, "Gateway.NotAttached");
    // Once a gateway is attached it works.
    attach_igw(ec2, &net.vpc).await;
    associate_eni(ec2, &alloc, &eni, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_keep_a_vpc_address() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let id = run_instance(ec2, Some(&net.subnet)).await;
    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_instance(ec2, &alloc, &id).await;

    let out = ec2.stop_instances().instance_ids(&id).send().await.expect("StopInstances");
    let change = &out.stopping_instances()[0];
    assert_eq!(change.previous_state().and_then(|s| s.name()), Some(&InstanceStateName::Running));
    assert_eq!(change.current_state().and_then(|s| s.name()), Some(&InstanceStateName::Stopping));
    let i = instance(ec2, &id).await;
    assert_eq!(i.state().and_then(|s| s.name()), Some(&InstanceStateName::Stopped));
    let a = address(ec2, &alloc).await;
    assert_eq!(a.association_id(), Some(assoc.as_str()));
    assert_eq!(a.instance_id(), Some(id.as_str()));
    assert_eq!(i.public_ip_address(), Some(ip.as_str()), "a stopped instance keeps its Elastic IP");

    let out = ec2.start_instances().instance_ids(&id).send().await.expect("StartInstances");
    let change = &out.starting_instances()[0];
    assert_eq!(change.previous_state().and_then(|s| s.name()), Some(&InstanceStateName::Stopped));
    assert_eq!(change.current_state().and_then(|s| s.name()), Some(&InstanceStateName::Pending));
    let i = instance(ec2, &id).await;
    assert_eq!(i.state().and_then(|s| s.name()), Some(&InstanceStateName::Running));
    assert_eq!(address(ec2, &alloc).await.association_id(), Some(assoc.as_str()));
    assert_eq!(i.public_ip_address(), Some(ip.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_ends_the_association_and_keeps_the_address() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let id = run_instance(ec2, Some(&net.subnet)).await;
    let (alloc, ip) = allocate(ec2).await;
    associate_instance(ec2, &alloc, &id).await;
    ec2.terminate_instances().instance_ids(&id).send().await.expect("TerminateInstances");
    let a = address(ec2, &alloc).await;
    assert_eq!(a.public_ip(), Some(ip.as_str()), "still allocated");
    assert_eq!((a.association_id(), a.instance_id(), a.network_interface_id()), (None, None, None));
    assert_eq!(instance(ec2, &id).await.state().and_then(|s| s.name()), Some(&InstanceStateName::Terminated));
    let f = failure(ec2.associate_address().allocation_id(&alloc).instance_id(&id).send().await);
    assert_failure(&f, 400, "IncorrectInstanceState");
    ec2.release_address().allocation_id(&alloc).send().await.expect("release after termination");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_interface_ends_the_association() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let (alloc, _) = allocate(ec2).await;
    associate_eni(ec2, &alloc, &eni, None).await;
    ec2.delete_network_interface().network_interface_id(&eni).send().await.expect("DeleteNetworkInterface");
    let a = address(ec2, &alloc).await;
    assert_eq!((a.association_id(), a.network_interface_id(), a.private_ip_address()), (None, None, None));
    let f = failure(ec2.associate_address().allocation_id(&alloc).network_interface_id(&eni).send().await);
    assert_failure(&f, 400, "InvalidNetworkInterfaceID.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ip_carrying_an_address_cannot_be_unassigned() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let secondary = add_private_ip(ec2, &eni).await;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &eni, Some(&secondary)).await;
    let result =
        ec2.unassign_private_ip_addresses().network_interface_id(&eni).private_ip_addresses(&secondary).send().await;
    let f = failure(result);
    assert_eq!(f.status, 400, "{f:?}");
    let n = interface(ec2, &eni).await;
    assert!(
        n.private_ip_addresses().iter().any(|p| p.private_ip_address() == Some(secondary.as_str())),
        "the private IP is still there: {n:?}"
    );
    assert_eq!(address(ec2, &alloc).await.association_id(), Some(assoc.as_str()));
    // Once the address is gone the private IP can go.
    disassociate(ec2, &assoc).await;
    ec2.unassign_private_ip_addresses()
        .network_interface_id(&eni)
        .private_ip_addresses(&secondary)
        .send()
        .await
        .expect("UnassignPrivateIpAddresses");
}
