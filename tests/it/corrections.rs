//! What tools written against AWS met on the way (issue 17), through
//! aws-sdk-ec2: pages of tags with awkward keys, the filters Ansible uses,
//! a private IP that moves with its Elastic IP, a secondary VPC block.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::common::*;

#[tokio::test]
async fn tag_pages_carry_printable_tokens_the_sdk_passes_back() {
    let a = Account::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(allocate(&a.ec2).await.0);
    }
    let keys = ["a b", "é.+-=", "x:y/z@_", "Name"];
    let mut req = a.ec2.create_tags();
    for id in &ids {
        req = req.resources(id);
    }
    for k in keys {
        req = req.tags(Tag::builder().key(k).value("v").build());
    }
    req.send().await.expect("CreateTags");
    let mut pages = a.ec2.describe_tags().max_results(5).into_paginator().send();
    let (mut seen, mut n) = (Vec::new(), 0);
    while let Some(page) = pages.next().await {
        let page = page.expect("a page");
        if let Some(token) = page.next_token() {
            assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
        }
        seen.extend(page.tags().iter().map(|t| (t.resource_id().unwrap().to_owned(), t.key().unwrap().to_owned())));
        n += 1;
    }
    assert!(n >= 3, "{n} pages");
    let expected: std::collections::BTreeSet<(String, String)> =
        ids.iter().flat_map(|id| keys.iter().map(move |k| (id.clone(), k.to_string()))).collect();
    assert_eq!(seen.len(), expected.len(), "an item on two pages");
    assert_eq!(seen.into_iter().collect::<std::collections::BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn vpcs_are_found_by_cidr_block_and_a_secondary_block_takes_subnets() {
    let a = Account::new();
    let net = create_net(&a.ec2, "10.51.0.0/16", "10.51.1.0/24", false).await;
    let found = a.ec2.describe_vpcs().filters(filter("cidr-block", &["10.51.0.0/16"])).send().await.unwrap();
    assert_eq!(found.vpcs().iter().filter_map(|v| v.vpc_id()).collect::<Vec<_>>(), vec![net.vpc.as_str()]);

    let out = a.ec2.associate_vpc_cidr_block().vpc_id(&net.vpc).cidr_block("10.52.0.0/16").send().await.unwrap();
    assert_eq!(out.cidr_block_association().and_then(|c| c.cidr_block()), Some("10.52.0.0/16"));
    let subnet = a
        .ec2
        .create_subnet()
        .vpc_id(&net.vpc)
        .cidr_block("10.52.7.0/24")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Subnet)
                .tags(Tag::builder().key("Name").value("second").build())
                .build(),
        )
        .send()
        .await
        .expect("a subnet in the secondary block");
    assert_eq!(subnet.subnet().and_then(|s| s.cidr_block()), Some("10.52.7.0/24"));
    let overlap = a.ec2.associate_vpc_cidr_block().vpc_id(&net.vpc).cidr_block("10.52.0.0/20").send().await;
    assert_failure(&failure(overlap), 400, "InvalidVpc.Range");
}

#[tokio::test]
async fn a_secondary_private_ip_moves_with_its_elastic_ip_only_when_allowed() {
    let a = Account::new();
    let net = net(&a.ec2).await;
    let (from, _) = create_eni(&a.ec2, &net.subnet).await;
    let (to, _) = create_eni(&a.ec2, &net.subnet).await;
    let ip = add_private_ip(&a.ec2, &from).await;
    let (allocation, _) = allocate(&a.ec2).await;
    let association = associate_eni(&a.ec2, &allocation, &from, Some(&ip)).await;

    let refused = a.ec2.assign_private_ip_addresses().network_interface_id(&to).private_ip_addresses(&ip).send().await;
    let f = failure(refused);
    assert_failure(&f, 400, "InvalidIPAddress.InUse");
    assert!(f.message.contains("move is not allowed"), "{}", f.message);

    a.ec2
        .assign_private_ip_addresses()
        .network_interface_id(&to)
        .private_ip_addresses(&ip)
        .allow_reassignment(true)
        .send()
        .await
        .expect("AssignPrivateIpAddresses with AllowReassignment");
    let moved = address(&a.ec2, &allocation).await;
    assert_eq!(moved.network_interface_id(), Some(to.as_str()));
    assert_eq!(moved.private_ip_address(), Some(ip.as_str()));
    assert_eq!(moved.association_id(), Some(association.as_str()));
    assert_eq!(moved.subnet_id(), Some(net.subnet.as_str()));
    let left = interface(&a.ec2, &from).await;
    assert!(left.private_ip_addresses().iter().all(|p| p.private_ip_address() != Some(ip.as_str())));
}
