//! NAT gateways through the Rust SDK: a public gateway's Elastic IP on its
//! requester-managed interface, the refusals while it holds it, the waiter
//! states, and a gateway that fails.

use aws_sdk_ec2::types::{ConnectivityType, NatGateway, NatGatewayState, ResourceType, Tag, TagSpecification};

use crate::common::*;

async fn gateway(acct: &Account, id: &str) -> NatGateway {
    let out = acct.ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.expect("DescribeNatGateways");
    assert_eq!(out.nat_gateways().len(), 1, "{out:?}");
    out.nat_gateways()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_gateway_holds_its_elastic_ip_until_it_is_deleted() {
    let acct = Account::new();
    let n = net(&acct.ec2).await;
    let (alloc, public_ip) = allocate(&acct.ec2).await;
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Natgateway)
        .tags(Tag::builder().key("Name").value("egress").build())
        .build();
    let created = acct
        .ec2
        .create_nat_gateway()
        .subnet_id(&n.subnet)
        .allocation_id(&alloc)
        .tag_specifications(tags)
        .client_token("sdk-token")
        .send()
        .await
        .expect("CreateNatGateway");
    assert_eq!(created.client_token(), Some("sdk-token"));
    let created = created.nat_gateway().expect("a gateway");
    assert_eq!(created.state(), Some(&NatGatewayState::Pending));
    let id = created.nat_gateway_id().expect("an id").to_owned();

    let g = gateway(&acct, &id).await;
    assert_eq!(g.state(), Some(&NatGatewayState::Available));
    assert_eq!(g.connectivity_type(), Some(&ConnectivityType::Public));
    assert_eq!((g.subnet_id(), g.vpc_id()), (Some(n.subnet.as_str()), Some(n.vpc.as_str())));
    assert_eq!(g.tags()[0].value(), Some("egress"));
    let [a] = g.nat_gateway_addresses() else { panic!("one address: {g:?}") };
    assert_eq!(
        (a.allocation_id(), a.public_ip(), a.is_primary()),
        (Some(alloc.as_str()), Some(public_ip.as_str()), Some(true))
    );
    let eni = a.network_interface_id().expect("an interface");
    let held = address(&acct.ec2, &alloc).await;
    assert_eq!(held.network_interface_id(), Some(eni));
    assert_eq!(held.private_ip_address(), a.private_ip());
    assert_eq!(held.network_interface_owner_id(), Some(acct.id.as_str()));
    assert_eq!(held.instance_id(), None);
    let managed = interface(&acct.ec2, eni).await;
    assert_eq!(managed.requester_managed(), Some(true));
    assert_eq!(managed.interface_type().map(|t| t.as_str()), Some("nat_gateway"));

    let association = a.association_id().expect("an association");
    let refused = acct.ec2.disassociate_address().association_id(association).send().await;
    assert_failure(&failure(refused), 400, "AuthFailure");
    let refused = acct.ec2.release_address().allocation_id(&alloc).send().await;
    let f = failure(refused);
    assert_failure(&f, 400, "AuthFailure");
    assert_eq!(f.message, "You do not have permission to access the specified resource.");
    let refused = acct.ec2.delete_network_interface().network_interface_id(eni).send().await;
    assert_failure(&failure(refused), 400, "InvalidParameterValue");

    let deleted = acct.ec2.delete_nat_gateway().nat_gateway_id(&id).send().await.expect("DeleteNatGateway");
    assert_eq!(deleted.nat_gateway_id(), Some(id.as_str()));
    let g = gateway(&acct, &id).await;
    assert_eq!(g.state(), Some(&NatGatewayState::Deleted));
    assert!(g.delete_time().is_some());
    assert_eq!(address(&acct.ec2, &alloc).await.association_id(), None);
    acct.ec2.release_address().allocation_id(&alloc).send().await.expect("ReleaseAddress once the gateway is gone");
    let unknown = acct.ec2.describe_nat_gateways().nat_gateway_ids(format!("nat-{}", random_hex(17))).send().await;
    assert_failure(&failure(unknown), 400, "NatGatewayNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_without_an_internet_gateway_fails_a_public_gateway_but_not_a_private_one() {
    let acct = Account::new();
    let n = create_net(&acct.ec2, "10.0.0.0/16", "10.0.1.0/24", false).await;
    let (alloc, _) = allocate(&acct.ec2).await;
    let out = acct.ec2.create_nat_gateway().subnet_id(&n.subnet).allocation_id(&alloc).send().await.expect("Create");
    let g = gateway(&acct, out.nat_gateway().and_then(|g| g.nat_gateway_id()).expect("id")).await;
    assert_eq!(g.state(), Some(&NatGatewayState::Failed));
    assert_eq!(g.failure_code(), Some("Gateway.NotAttached"));
    assert_eq!(g.failure_message(), Some(format!("Network {} has no Internet gateway attached", n.vpc).as_str()));
    assert_eq!(address(&acct.ec2, &alloc).await.association_id(), None);

    let refused = acct
        .ec2
        .create_nat_gateway()
        .subnet_id(&n.subnet)
        .connectivity_type(ConnectivityType::Private)
        .allocation_id(&alloc)
        .send()
        .await;
    assert_failure(&failure(refused), 400, "InvalidParameterCombination");
    let out = acct
        .ec2
        .create_nat_gateway()
        .subnet_id(&n.subnet)
        .connectivity_type(ConnectivityType::Private)
        .send()
        .await
        .expect("a private gateway");
    let g = gateway(&acct, out.nat_gateway().and_then(|g| g.nat_gateway_id()).expect("id")).await;
    assert_eq!(g.state(), Some(&NatGatewayState::Available));
    assert_eq!(g.nat_gateway_addresses()[0].public_ip(), None);
    let listed = acct
        .ec2
        .describe_nat_gateways()
        .filter(filter("vpc-id", &[&n.vpc]))
        .filter(filter("state", &["available"]))
        .send()
        .await
        .expect("DescribeNatGateways");
    assert_eq!(listed.nat_gateways().len(), 1);
}
