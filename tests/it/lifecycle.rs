//! The life of an Elastic IP through the Rust SDK: allocate, associate (by
//! instance, by interface and private IP), what instances and interfaces
//! show, disassociate, release; DescribeAddresses filters; tags; reverse DNS.

use std::net::Ipv4Addr;

use aws_sdk_ec2::types::{AddressAttributeName, DomainType, ResourceType, Tag, TagSpecification};

use crate::common::*;

fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|h| h.len() == 17 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocate_answers_as_aws_does() {
    let acct = Account::new();
    let out = acct
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::ElasticIp)
                .tags(tag("Name", "web-1"))
                .tags(tag("Env", "test"))
                .build(),
        )
        .send()
        .await
        .expect("AllocateAddress");
    let id = out.allocation_id().expect("allocation id");
    assert!(is_id(id, "eipalloc-"), "allocation id {id} is not eipalloc- + 17 hex");
    assert_eq!(out.public_ipv4_pool(), Some("amazon"));
    assert_eq!(out.network_border_group(), Some(REGION));
    assert_eq!(out.domain(), Some(&DomainType::Vpc));
    let ip: Ipv4Addr = out.public_ip().expect("public ip").parse().expect("dotted quad");
    // The default pool is 198.18.0.0/15 (D8).
    assert_eq!(u32::from(ip) >> 17, u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17, "{ip} outside the pool");

    let a = address(&acct.ec2, id).await;
    assert_eq!(a.public_ip(), out.public_ip());
    assert_eq!(a.domain(), Some(&DomainType::Vpc));
    assert_eq!(a.public_ipv4_pool(), Some("amazon"));
    assert_eq!(a.network_border_group(), Some(REGION));
    assert_eq!(a.association_id(), None);
    assert_eq!(a.instance_id(), None);
    assert_eq!(a.network_interface_id(), None);
    let mut tags: Vec<(&str, &str)> =
        a.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())).collect();
    tags.sort();
    assert_eq!(tags, vec![("Env", "test"), ("Name", "web-1")]);

    // Two allocations never share an IP.
    let (_, other_ip) = allocate(&acct.ec2).await;
    assert_ne!(other_ip, out.public_ip().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn associate_by_instance_shows_everywhere_and_clears_after() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let instance_id = run_instance(ec2, Some(&net.subnet)).await;
    let before = instance(ec2, &instance_id).await;
    assert_eq!(before.public_ip_address(), None, "a non-default subnet gives no public IP at launch");
    let eni_id = before.network_interfaces()[0].network_interface_id().expect("eni").to_owned();
    let private_ip = before.private_ip_address().expect("private ip").to_owned();

    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_instance(ec2, &alloc, &instance_id).await;
    assert!(is_id(&assoc, "eipassoc-"), "association id {assoc} is not eipassoc- + 17 hex");

    let a = address(ec2, &alloc).await;
    assert_eq!(a.association_id(), Some(assoc.as_str()));
    assert_eq!(a.instance_id(), Some(instance_id.as_str()));
    assert_eq!(a.network_interface_id(), Some(eni_id.as_str()));
    assert_eq!(a.network_interface_owner_id(), Some(acct.id.as_str()));
    assert_eq!(a.private_ip_address(), Some(private_ip.as_str()));

    let i = instance(ec2, &instance_id).await;
    assert_eq!(i.public_ip_address(), Some(ip.as_str()));
    let n = interface(ec2, &eni_id).await;
    let assoc_view = n.association().expect("interface association");
    assert_eq!(assoc_view.public_ip(), Some(ip.as_str()));
    assert_eq!(assoc_view.allocation_id(), Some(alloc.as_str()));
    assert_eq!(assoc_view.association_id(), Some(assoc.as_str()));
    assert_eq!(assoc_view.ip_owner_id(), Some(acct.id.as_str()));

    disassociate(ec2, &assoc).await;
    let i = instance(ec2, &instance_id).await;
    assert_eq!(i.public_ip_address(), None);
    let n = interface(ec2, &eni_id).await;
    assert!(n.association().is_none(), "{n:?}");
    let a = address(ec2, &alloc).await;
    assert_eq!((a.association_id(), a.instance_id(), a.network_interface_id()), (None, None, None));

    ec2.release_address().allocation_id(&alloc).send().await.expect("ReleaseAddress");
    let f = failure(ec2.describe_addresses().allocation_ids(&alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    let f = failure(ec2.release_address().allocation_id(&alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn associate_by_interface_and_private_ip() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let (eni, primary) = create_eni(ec2, &net.subnet).await;
    let secondary = add_private_ip(ec2, &eni).await;
    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &eni, Some(&secondary)).await;

    let a = address(ec2, &alloc).await;
    assert_eq!(a.association_id(), Some(assoc.as_str()));
    assert_eq!(a.network_interface_id(), Some(eni.as_str()));
    assert_eq!(a.private_ip_address(), Some(secondary.as_str()));
    assert_eq!(a.instance_id(), None, "an unattached interface has no instance");

    let n = interface(ec2, &eni).await;
    let on = |n: &aws_sdk_ec2::types::NetworkInterface, private: &str| {
        n.private_ip_addresses()
            .iter()
            .find(|p| p.private_ip_address() == Some(private))
            .unwrap_or_else(|| panic!("{private} missing from {n:?}"))
            .association()
            .and_then(|x| x.public_ip())
            .map(str::to_owned)
    };
    assert_eq!(on(&n, &secondary).as_deref(), Some(ip.as_str()));
    assert_eq!(on(&n, &primary), None);

    // A private IP the interface does not have is refused.
    let f = failure(
        ec2.associate_address()
            .allocation_id(&alloc)
            .network_interface_id(&eni)
            .private_ip_address("10.0.1.250")
            .send()
            .await,
    );
    assert_failure(&f, 400, "InvalidParameterValue");

    disassociate(ec2, &assoc).await;
    let n = interface(ec2, &eni).await;
    assert_eq!(on(&n, &secondary), None);
    assert_eq!(address(ec2, &alloc).await.association_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_subnet_instance_gets_a_public_ip_back_after_disassociation() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let id = run_instance(ec2, None).await;
    let auto = instance(ec2, &id).await.public_ip_address().map(str::to_owned);
    assert!(auto.is_some(), "default subnets map a public IP on launch");
    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_instance(ec2, &alloc, &id).await;
    assert_eq!(instance(ec2, &id).await.public_ip_address(), Some(ip.as_str()));
    disassociate(ec2, &assoc).await;
    let after = instance(ec2, &id).await.public_ip_address().map(str::to_owned);
    assert!(after.is_some() && after.as_deref() != Some(ip.as_str()), "after disassociation: {after:?}");
    // The interface shows the same auto-assigned address, owned by amazon.
    let eni = instance(ec2, &id).await.network_interfaces()[0].network_interface_id().unwrap().to_owned();
    let n = interface(ec2, &eni).await;
    let shown = n.association().expect("an auto-assigned public IP");
    assert_eq!(shown.public_ip(), after.as_deref());
    assert_eq!(shown.ip_owner_id(), Some("amazon"));
    assert_eq!(shown.allocation_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassociation_moves_the_address_and_mints_a_new_id() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let (eni1, _) = create_eni(ec2, &net.subnet).await;
    let (eni2, _) = create_eni(ec2, &net.subnet).await;
    let (alloc, _) = allocate(ec2).await;
    let first = associate_eni(ec2, &alloc, &eni1, None).await;
    let second = associate_eni(ec2, &alloc, &eni2, None).await;
    assert_ne!(first, second);
    let a = address(ec2, &alloc).await;
    assert_eq!((a.association_id(), a.network_interface_id()), (Some(second.as_str()), Some(eni2.as_str())));
    // AllowReassociation=false refuses to move an associated address (D7).
    let f = failure(
        ec2.associate_address()
            .allocation_id(&alloc)
            .network_interface_id(&eni1)
            .allow_reassociation(false)
            .send()
            .await,
    );
    assert_failure(&f, 400, "Resource.AlreadyAssociated");
    // Associating to the same target again mints a new id.
    let third = associate_eni(ec2, &alloc, &eni2, None).await;
    assert_ne!(third, second);
    assert_eq!(address(ec2, &alloc).await.association_id(), Some(third.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_of_an_associated_address() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    // Outside the default VPC: InvalidIPAddress.InUse (D5).
    let net = net(ec2).await;
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let (alloc, _) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &eni, None).await;
    let f = failure(ec2.release_address().allocation_id(&alloc).send().await);
    assert_failure(&f, 400, "InvalidIPAddress.InUse");
    assert_eq!(address(ec2, &alloc).await.association_id(), Some(assoc.as_str()));
    // PublicIp names only standard addresses (D4); the message names AllocationId.
    let ip = address(ec2, &alloc).await.public_ip().unwrap().to_owned();
    let f = failure(ec2.release_address().public_ip(&ip).send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
    assert!(f.message.contains("allocation id") || f.message.contains("AllocationId"), "{f:?}");
    // A wrong network border group is InvalidAddress.NotFound.
    disassociate(ec2, &assoc).await;
    let f = failure(ec2.release_address().allocation_id(&alloc).network_border_group("us-west-2").send().await);
    assert_failure(&f, 400, "InvalidAddress.NotFound");
    ec2.release_address().allocation_id(&alloc).network_border_group(REGION).send().await.expect("release");
    // In the default VPC the address is disassociated first.
    let id = run_instance(ec2, None).await;
    let (alloc2, ip2) = allocate(ec2).await;
    let assoc2 = associate_instance(ec2, &alloc2, &id).await;
    ec2.release_address().allocation_id(&alloc2).send().await.expect("release in the default VPC");
    // The association the release ended is an ended one (D2): disassociating it succeeds.
    disassociate(ec2, &assoc2).await;
    let shown = instance(ec2, &id).await.public_ip_address().map(str::to_owned);
    assert_ne!(shown.as_deref(), Some(ip2.as_str()));
    let f = failure(ec2.describe_addresses().public_ips(&ip2).send().await);
    assert_failure(&f, 400, "InvalidAddress.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_addresses_by_ids_and_filters() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let instance_id = run_instance(ec2, Some(&net.subnet)).await;
    let inst = instance(ec2, &instance_id).await;
    let instance_eni = inst.network_interfaces()[0].network_interface_id().unwrap().to_owned();
    let instance_private = inst.private_ip_address().unwrap().to_owned();
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let secondary = add_private_ip(ec2, &eni).await;

    // a: on the instance, b: on the interface's secondary IP, c: unassociated and tagged.
    let (a, ip_a) = allocate(ec2).await;
    let (b, ip_b) = allocate(ec2).await;
    let (c, ip_c) = allocate(ec2).await;
    let assoc_a = associate_instance(ec2, &a, &instance_id).await;
    let assoc_b = associate_eni(ec2, &b, &eni, Some(&secondary)).await;
    ec2.create_tags().resources(&c).tags(tag("Name", "web-c")).tags(tag("Env", "prod")).send().await.unwrap();
    ec2.create_tags().resources(&b).tags(tag("Name", "db-b")).send().await.unwrap();

    // By ids.
    let out = ec2.describe_addresses().allocation_ids(&a).allocation_ids(&c).send().await.unwrap();
    let ids: std::collections::BTreeSet<String> =
        out.addresses().iter().map(|x| x.allocation_id().unwrap().to_owned()).collect();
    assert_eq!(ids, set([&a, &c]));
    let out = ec2.describe_addresses().public_ips(&ip_b).send().await.unwrap();
    assert_eq!(out.addresses().len(), 1);
    assert_eq!(out.addresses()[0].allocation_id(), Some(b.as_str()));
    let out = ec2.describe_addresses().send().await.unwrap();
    assert_eq!(out.addresses().len(), 3);

    let all = set([&a, &b, &c]);
    let cases: Vec<(&str, Vec<&str>, std::collections::BTreeSet<String>)> = vec![
        ("allocation-id", vec![&b], set([&b])),
        ("allocation-id", vec!["eipalloc-*"], all.clone()),
        ("association-id", vec![&assoc_a], set([&a])),
        ("association-id", vec![&assoc_a, &assoc_b], set([&a, &b])),
        ("association-id", vec!["eipassoc-*"], set([&a, &b])),
        ("instance-id", vec![&instance_id], set([&a])),
        ("network-interface-id", vec![&eni], set([&b])),
        ("network-interface-id", vec![&instance_eni], set([&a])),
        ("private-ip-address", vec![&secondary], set([&b])),
        ("private-ip-address", vec![&instance_private], set([&a])),
        ("public-ip", vec![&ip_c], set([&c])),
        ("public-ip", vec![&ip_a, &ip_c], set([&a, &c])),
        ("public-ip", vec!["198.1?.*"], all.clone()),
        ("tag:Name", vec!["web-c"], set([&c])),
        ("tag:Name", vec!["*-?"], set([&b, &c])),
        ("tag:Name", vec!["web-*"], set([&c])),
        ("tag-key", vec!["Env"], set([&c])),
        ("tag-key", vec!["Name"], set([&b, &c])),
        ("tag-value", vec!["prod"], set([&c])),
        ("domain", vec!["vpc"], all.clone()),
        ("domain", vec!["standard"], set([])),
        ("network-border-group", vec![REGION], all.clone()),
        ("network-border-group", vec!["us-west-2"], set([])),
        ("network-interface-owner-id", vec![&acct.id], set([&a, &b])),
        ("network-interface-owner-id", vec!["123456789012"], set([])),
        ("instance-id", vec!["i-*"], set([&a])),
    ];
    for (name, values, expected) in cases {
        let got = allocation_ids_where(ec2, vec![filter(name, &values)]).await;
        assert_eq!(got, expected, "filter {name}={values:?}");
    }
    // Filters combine with AND; values within one filter with OR.
    let got = allocation_ids_where(ec2, vec![filter("tag-key", &["Name"]), filter("association-id", &["*"])]).await;
    assert_eq!(got, set([&b]));
    // Filters narrow named addresses too.
    let out = ec2
        .describe_addresses()
        .allocation_ids(&a)
        .allocation_ids(&c)
        .filters(filter("tag-key", &["Env"]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.addresses().len(), 1);
    assert_eq!(out.addresses()[0].allocation_id(), Some(c.as_str()));

    // An unknown filter name is refused (D14).
    let f = failure(ec2.describe_addresses().filters(filter("colour", &["red"])).send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
    assert!(f.message.contains("colour"), "{f:?}");
    // An unknown id is NotFound; a malformed one is InvalidParameterValue (D15).
    let f = failure(ec2.describe_addresses().allocation_ids(format!("eipalloc-{}", random_hex(17))).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    let f = failure(ec2.describe_addresses().allocation_ids("alloc-123").send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_addresses() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let (alloc, _) = allocate(ec2).await;
    ec2.create_tags().resources(&alloc).tags(tag("Team", "net")).tags(tag("Tier", "edge")).send().await.unwrap();

    let out = ec2.describe_tags().filters(filter("resource-id", &[&alloc])).send().await.unwrap();
    let mut rows: Vec<(String, String, String)> = out
        .tags()
        .iter()
        .map(|t| {
            assert_eq!(t.resource_id(), Some(alloc.as_str()));
            (
                t.resource_type().map(|r| r.as_str().to_owned()).unwrap_or_default(),
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![("elastic-ip".into(), "Team".into(), "net".into()), ("elastic-ip".into(), "Tier".into(), "edge".into())]
    );
    assert_eq!(allocation_ids_where(ec2, vec![filter("tag:Team", &["net"])]).await, set([&alloc]));

    // Overwrite one value, delete the other tag.
    ec2.create_tags().resources(&alloc).tags(tag("Team", "ops")).send().await.unwrap();
    ec2.delete_tags().resources(&alloc).tags(Tag::builder().key("Tier").build()).send().await.unwrap();
    let a = address(ec2, &alloc).await;
    let tags: Vec<(&str, &str)> = a.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap_or_default())).collect();
    assert_eq!(tags, vec![("Team", "ops")]);
    // DeleteTags with a value deletes only when the value matches.
    ec2.delete_tags().resources(&alloc).tags(tag("Team", "wrong")).send().await.unwrap();
    assert_eq!(address(ec2, &alloc).await.tags().len(), 1);
    ec2.delete_tags().resources(&alloc).tags(tag("Team", "ops")).send().await.unwrap();
    assert!(address(ec2, &alloc).await.tags().is_empty());
    let out = ec2.describe_tags().filters(filter("resource-id", &[&alloc])).send().await.unwrap();
    assert!(out.tags().is_empty(), "{out:?}");

    let f =
        failure(ec2.create_tags().resources(format!("eipalloc-{}", random_hex(17))).tags(tag("a", "b")).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_dns_attribute() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let mut allocs = Vec::new();
    for _ in 0..3 {
        allocs.push(allocate(ec2).await.0);
    }

    // All pages through the SDK paginator, one address per page.
    let mut stream = ec2
        .describe_addresses_attribute()
        .attribute(AddressAttributeName::DomainName)
        .into_paginator()
        .page_size(1)
        .items()
        .send();
    let mut seen = Vec::new();
    while let Some(item) = stream.next().await {
        let item = item.expect("DescribeAddressesAttribute page");
        assert_eq!(item.ptr_record(), None);
        seen.push(item.allocation_id().expect("allocation id").to_owned());
    }
    let mut expected = allocs.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every address exactly once over the pages");

    // One page by hand: a token when more remain.
    let page = ec2
        .describe_addresses_attribute()
        .attribute(AddressAttributeName::DomainName)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.addresses().len(), 2);
    let token = page.next_token().expect("a next token").to_owned();
    let rest = ec2
        .describe_addresses_attribute()
        .attribute(AddressAttributeName::DomainName)
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.addresses().len(), 1);
    assert_eq!(rest.next_token(), None);

    let target = &allocs[1];
    let out =
        ec2.modify_address_attribute().allocation_id(target).domain_name("mail.example.com").send().await.unwrap();
    let attr = out.address().expect("address attribute");
    assert_eq!(attr.allocation_id(), Some(target.as_str()));
    let update = attr.ptr_record_update().expect("ptr record update");
    assert_eq!(update.status(), Some("PENDING"));
    assert!(update.value().is_some_and(|v| v.trim_end_matches('.') == "mail.example.com"), "{update:?}");

    let out = ec2
        .describe_addresses_attribute()
        .attribute(AddressAttributeName::DomainName)
        .allocation_ids(target)
        .send()
        .await
        .unwrap();
    assert_eq!(out.addresses().len(), 1);
    assert_eq!(out.addresses()[0].ptr_record(), Some("mail.example.com."));

    let out =
        ec2.reset_address_attribute().allocation_id(target).attribute(AddressAttributeName::DomainName).send().await;
    let attr = out.unwrap();
    assert_eq!(attr.address().and_then(|a| a.ptr_record_update()).and_then(|u| u.status()), Some("PENDING"));
    let out = ec2
        .describe_addresses_attribute()
        .attribute(AddressAttributeName::DomainName)
        .allocation_ids(target)
        .send()
        .await
        .unwrap();
    assert_eq!(out.addresses()[0].ptr_record(), None);

    let f = failure(ec2.modify_address_attribute().allocation_id(target).domain_name("not a domain!").send().await);
    assert_failure(&f, 400, "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_starts_with_a_default_vpc() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let vpcs = ec2.describe_vpcs().filters(filter("is-default", &["true"])).send().await.expect("DescribeVpcs");
    assert_eq!(vpcs.vpcs().len(), 1, "{vpcs:?}");
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("172.31.0.0/16"));
    let vpc_id = vpc.vpc_id().unwrap();
    let subnets = ec2.describe_subnets().filters(filter("vpc-id", &[vpc_id])).send().await.expect("DescribeSubnets");
    assert!(!subnets.subnets().is_empty());
    for s in subnets.subnets() {
        assert_eq!(s.map_public_ip_on_launch(), Some(true), "{s:?}");
        assert_eq!(s.default_for_az(), Some(true), "{s:?}");
    }
    let igws = ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &[vpc_id]))
        .send()
        .await
        .expect("DescribeInternetGateways");
    assert_eq!(igws.internet_gateways().len(), 1, "{igws:?}");
    // Another account has its own default VPC.
    let other = Account::new();
    let theirs = other.ec2.describe_vpcs().filters(filter("is-default", &["true"])).send().await.unwrap();
    assert_eq!(theirs.vpcs().len(), 1);
    assert_ne!(theirs.vpcs()[0].vpc_id(), Some(vpc_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_limit_is_per_account_and_region() {
    let server = crate::server::Server::memory(&["--address-limit", "2"]);
    let acct = Account::on(&server.url);
    let ec2 = &acct.ec2;
    let (first, _) = allocate(ec2).await;
    allocate(ec2).await;
    let f = failure(ec2.allocate_address().send().await);
    assert_failure(&f, 400, "AddressLimitExceeded");
    assert!(f.message.starts_with("The maximum number of addresses has been reached."), "{f:?}");
    assert!(f.message.contains("--address-limit"), "the message says how to raise the limit: {f:?}");
    // Another account, and the same account in another region, have their own quota.
    allocate(&Account::on(&server.url).ec2).await;
    allocate(&client_for(&server.url, &acct.id, "eu-west-1")).await;
    // Releasing one makes room again.
    ec2.release_address().allocation_id(&first).send().await.unwrap();
    allocate(ec2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_is_five() {
    let server = crate::server::Server::memory(&[]);
    let acct = Account::on(&server.url);
    for _ in 0..5 {
        allocate(&acct.ec2).await;
    }
    let f = failure(acct.ec2.allocate_address().send().await);
    assert_failure(&f, 400, "AddressLimitExceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_shared_by_the_accounts_of_a_region() {
    let server = crate::server::Server::memory(&["--pool", "198.51.100.0/30"]);
    let mut ips = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let acct = Account::on(&server.url);
        for _ in 0..2 {
            let (_, ip) = allocate(&acct.ec2).await;
            assert!(ip.starts_with("198.51.100."), "{ip} is outside --pool");
            assert!(ips.insert(ip.clone()), "{ip} handed out twice");
        }
    }
    assert_eq!(ips.len(), 4);
    let f = failure(Account::on(&server.url).ec2.allocate_address().send().await);
    assert_eq!(f.status, 400, "an exhausted pool is a client error: {f:?}");
}
