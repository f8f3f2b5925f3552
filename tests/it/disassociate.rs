//! The DisassociateAddress contract (the seed, D2, D4, D6, D12): idempotent,
//! precise about ids it never issued, and about the deprecated PublicIp.

use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::DomainType;

use crate::common::*;

/// An account with a VPC (and gateway), an interface, and an address on it.
struct Associated {
    acct: Account,
    net: Net,
    eni: String,
    alloc: String,
    ip: String,
    assoc: String,
}

async fn associated() -> Associated {
    let acct = Account::new();
    let net = net(&acct.ec2).await;
    let (eni, _) = create_eni(&acct.ec2, &net.subnet).await;
    let (alloc, ip) = allocate(&acct.ec2).await;
    let assoc = associate_eni(&acct.ec2, &alloc, &eni, None).await;
    Associated { acct, net, eni, alloc, ip, assoc }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_succeeds() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let first = ec2.disassociate_address().association_id(&s.assoc).send().await.expect("first disassociation");
    assert!(first.request_id().is_some_and(|r| !r.is_empty()), "no request id on {first:?}");
    assert_eq!(address(ec2, &s.alloc).await.association_id(), None);
    ec2.disassociate_address().association_id(&s.assoc).send().await.expect("second disassociation is a no-op");
    ec2.disassociate_address().association_id(&s.assoc).send().await.expect("and a third");
    let a = address(ec2, &s.alloc).await;
    assert_eq!((a.association_id(), a.network_interface_id()), (None, None));
    assert!(interface(ec2, &s.eni).await.association().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_reassociation_the_old_id_succeeds_and_leaves_the_new_one() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let (eni2, _) = create_eni(ec2, &s.net.subnet).await;
    let new_assoc = associate_eni(ec2, &s.alloc, &eni2, None).await;
    disassociate(ec2, &s.assoc).await;
    // The ended id must not touch the current association.
    let a = address(ec2, &s.alloc).await;
    assert_eq!(a.association_id(), Some(new_assoc.as_str()));
    assert_eq!(a.network_interface_id(), Some(eni2.as_str()));
    assert_eq!(interface(ec2, &eni2).await.association().and_then(|x| x.public_ip()), Some(s.ip.as_str()));
    disassociate(ec2, &new_assoc).await;
    disassociate(ec2, &new_assoc).await;
    assert_eq!(address(ec2, &s.alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_address_moved_off_a_private_ip_the_old_id_succeeds() {
    // D7: an address already on the target private IP is moved off it.
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let (other, _) = allocate(ec2).await;
    let other_assoc = associate_eni(ec2, &other, &s.eni, None).await;
    assert_eq!(address(ec2, &s.alloc).await.association_id(), None, "the first address was moved off");
    disassociate(ec2, &s.assoc).await;
    assert_eq!(address(ec2, &other).await.association_id(), Some(other_assoc.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_termination_succeeds() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let id = run_instance(ec2, Some(&net.subnet)).await;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_instance(ec2, &alloc, &id).await;
    ec2.terminate_instances().instance_ids(&id).send().await.expect("TerminateInstances");
    disassociate(ec2, &assoc).await;
    disassociate(ec2, &assoc).await;
    let a = address(ec2, &alloc).await;
    assert_eq!((a.association_id(), a.instance_id()), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_interface_deletion_succeeds() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    ec2.delete_network_interface().network_interface_id(&s.eni).send().await.expect("DeleteNetworkInterface");
    disassociate(ec2, &s.assoc).await;
    disassociate(ec2, &s.assoc).await;
    assert_eq!(address(ec2, &s.alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_issued_id_is_not_found() {
    let acct = Account::new();
    let id = unknown_association_id();
    let f = failure(acct.ec2.disassociate_address().association_id(&id).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
    assert_eq!(f.message, format!("The association ID '{id}' does not exist"));
    // Also for an account that has associations of its own.
    let s = associated().await;
    let f = failure(s.acct.ec2.disassociate_address().association_id(&id).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
    assert_eq!(address(&s.acct.ec2, &s.alloc).await.association_id(), Some(s.assoc.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_id_is_invalid_parameter_value() {
    let acct = Account::new();
    for bad in ["assoc-123", "eipassoc-", "eipassoc-xyz", "eipalloc-0123456789abcdef0", "EIPASSOC-12345678"] {
        let f = failure(acct.ec2.disassociate_address().association_id(bad).send().await);
        assert_failure(&f, 400, "InvalidParameterValue");
        assert!(f.message.contains("AssociationId"), "the message should name the parameter: {f:?}");
        assert!(f.message.contains("eipassoc-"), "the message should name the expected form: {f:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_parameter_is_missing_parameter() {
    let acct = Account::new();
    let f = failure(acct.ec2.disassociate_address().send().await);
    assert_failure(&f, 400, "MissingParameter");
    assert!(f.message.contains("AssociationId"), "{f:?}");
    // DryRun does not skip validation (D6).
    let f = failure(acct.ec2.disassociate_address().dry_run(true).send().await);
    assert_failure(&f, 400, "MissingParameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_ip_of_a_vpc_address_is_refused() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let f = failure(ec2.disassociate_address().public_ip(&s.ip).send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
    assert_eq!(f.message, "You must specify an association id when unmapping an address from a VPC instance");
    assert_eq!(address(ec2, &s.alloc).await.association_id(), Some(s.assoc.as_str()), "nothing changed");
    // Also when the VPC address is not associated.
    let (_, free_ip) = allocate(ec2).await;
    let f = failure(ec2.disassociate_address().public_ip(&free_ip).send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_ip_of_a_standard_address_succeeds() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let out = ec2.allocate_address().domain(DomainType::Standard).send().await.expect("AllocateAddress standard");
    assert_eq!(out.domain(), Some(&DomainType::Standard));
    assert_eq!(out.allocation_id(), None, "standard addresses have no allocation id (D4)");
    let ip = out.public_ip().expect("public ip").to_owned();
    ec2.disassociate_address().public_ip(&ip).send().await.expect("disassociate a standard address");
    ec2.disassociate_address().public_ip(&ip).send().await.expect("twice");
    let shown = ec2.describe_addresses().public_ips(&ip).send().await.unwrap();
    assert_eq!(shown.addresses()[0].domain(), Some(&DomainType::Standard));
    ec2.release_address().public_ip(&ip).send().await.expect("release a standard address by PublicIp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_answers_412_and_changes_nothing() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let f = failure(ec2.disassociate_address().association_id(&s.assoc).dry_run(true).send().await);
    assert_failure(&f, 412, "DryRunOperation");
    assert_eq!(f.message, "Request would have succeeded, but DryRun flag is set.");
    let a = address(ec2, &s.alloc).await;
    assert_eq!(a.association_id(), Some(s.assoc.as_str()));
    assert_eq!(interface(ec2, &s.eni).await.association().and_then(|x| x.public_ip()), Some(s.ip.as_str()));
    // DryRun answers before resource lookups (D6), after validation.
    let f = failure(ec2.disassociate_address().association_id(unknown_association_id()).dry_run(true).send().await);
    assert_failure(&f, 412, "DryRunOperation");
    let f = failure(ec2.disassociate_address().association_id("eipassoc-zz").dry_run(true).send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
    // DryRun=false is an ordinary call.
    ec2.disassociate_address().association_id(&s.assoc).dry_run(false).send().await.expect("DryRun=false");
    assert_eq!(address(ec2, &s.alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_association_is_not_found() {
    let s = associated().await;
    let other = Account::new();
    let f = failure(other.ec2.disassociate_address().association_id(&s.assoc).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
    assert_eq!(f.message, format!("The association ID '{}' does not exist", s.assoc));
    assert_eq!(address(&s.acct.ec2, &s.alloc).await.association_id(), Some(s.assoc.as_str()), "untouched");
    // An association the owner ended is still never-issued for the other account.
    disassociate(&s.acct.ec2, &s.assoc).await;
    let f = failure(other.ec2.disassociate_address().association_id(&s.assoc).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
    // The same account in another region is another partition.
    let elsewhere = client_for(crate::server::shared_url(), &s.acct.id, "eu-west-1");
    let f = failure(elsewhere.disassociate_address().association_id(&s.assoc).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_public_ip_is_auth_failure() {
    let s = associated().await;
    let other = Account::new();
    let f = failure(other.ec2.disassociate_address().public_ip(&s.ip).send().await);
    assert_failure(&f, 401, "AuthFailure");
    assert_eq!(f.message, format!("The address '{}' does not belong to you.", s.ip));
    assert_eq!(address(&s.acct.ec2, &s.alloc).await.association_id(), Some(s.assoc.as_str()), "untouched");
    // The same through AssociateAddress and ReleaseAddress (D12).
    let f = failure(other.ec2.release_address().public_ip(&s.ip).send().await);
    assert_failure(&f, 401, "AuthFailure");
    let id = run_instance(&other.ec2, None).await;
    let f = failure(other.ec2.associate_address().public_ip(&s.ip).instance_id(&id).send().await);
    assert_failure(&f, 401, "AuthFailure");
    assert_eq!(address(&s.acct.ec2, &s.alloc).await.association_id(), Some(s.assoc.as_str()), "untouched");
    // Its ids are invisible: NotFound, as for ids never issued.
    assert!(other.ec2.describe_addresses().send().await.unwrap().addresses().is_empty());
    let f = failure(other.ec2.describe_addresses().allocation_ids(&s.alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    let f = failure(other.ec2.release_address().allocation_id(&s.alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    let f = failure(other.ec2.associate_address().allocation_id(&s.alloc).instance_id(&id).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    // A public IP nobody holds is simply not found.
    let f = failure(other.ec2.disassociate_address().public_ip("192.0.2.77").send().await);
    assert_failure(&f, 400, "InvalidAddress.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let mut ids = Vec::new();
    let out = ec2.describe_addresses().send().await.unwrap();
    ids.push(out.request_id().map(str::to_owned));
    let out = ec2.disassociate_address().association_id(&s.assoc).send().await.unwrap();
    ids.push(out.request_id().map(str::to_owned));
    let out = ec2.disassociate_address().association_id(&s.assoc).send().await.unwrap();
    ids.push(out.request_id().map(str::to_owned));
    let out = ec2.associate_address().allocation_id(&s.alloc).network_interface_id(&s.eni).send().await.unwrap();
    ids.push(out.request_id().map(str::to_owned));
    let out = ec2.allocate_address().send().await.unwrap();
    ids.push(out.request_id().map(str::to_owned));
    for f in [
        failure(ec2.disassociate_address().association_id(unknown_association_id()).send().await),
        failure(ec2.disassociate_address().association_id("nope").send().await),
        failure(ec2.disassociate_address().send().await),
        failure(ec2.disassociate_address().association_id(&s.assoc).dry_run(true).send().await),
    ] {
        ids.push(f.request_id.clone());
    }
    let ids: Vec<String> =
        ids.into_iter().map(|id| id.filter(|s| !s.is_empty()).expect("every answer has a request id")).collect();
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "request ids are unique: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_disassociations_all_succeed() {
    let s = associated().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let ec2 = s.acct.ec2.clone();
        let assoc = s.assoc.clone();
        tasks.push(tokio::spawn(async move { ec2.disassociate_address().association_id(assoc).send().await }));
    }
    for t in tasks {
        t.await.unwrap().expect("every concurrent disassociation succeeds");
    }
    assert_eq!(address(&s.acct.ec2, &s.alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_associations_to_one_private_ip_leave_one_address_there() {
    let s = associated().await;
    let ec2 = &s.acct.ec2;
    let mut allocs = vec![s.alloc.clone()];
    for _ in 0..5 {
        allocs.push(allocate(ec2).await.0);
    }
    let mut tasks = Vec::new();
    for alloc in &allocs {
        let ec2 = ec2.clone();
        let (alloc, eni) = (alloc.clone(), s.eni.clone());
        tasks.push(tokio::spawn(async move {
            let out = ec2.associate_address().allocation_id(&alloc).network_interface_id(eni).send().await;
            out.expect("AssociateAddress").association_id().unwrap().to_owned()
        }));
    }
    let mut issued = vec![s.assoc.clone()];
    for t in tasks {
        issued.push(t.await.unwrap());
    }
    let out = ec2.describe_addresses().filters(filter("network-interface-id", &[&s.eni])).send().await.unwrap();
    assert_eq!(out.addresses().len(), 1, "one private IP, one address: {out:?}");
    let winner = out.addresses()[0].association_id().unwrap().to_owned();
    let n = interface(ec2, &s.eni).await;
    assert_eq!(n.association().and_then(|a| a.association_id()), Some(winner.as_str()));
    // Every id issued along the way can be disassociated; afterwards nothing is left.
    for id in &issued {
        disassociate(ec2, id).await;
    }
    let out = ec2.describe_addresses().filters(filter("association-id", &["*"])).send().await.unwrap();
    assert!(out.addresses().is_empty(), "{out:?}");
}
