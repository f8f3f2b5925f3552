//! DHCP options sets through the Rust SDK: the default set of a new VPC, a
//! set made, found by its filters, associated, refused deletion while used,
//! and `default` (no options).

use aws_sdk_ec2::types::{NewDhcpConfiguration, ResourceType, Tag, TagSpecification};

use crate::common::*;

async fn vpc_set(acct: &Account, vpc: &str) -> String {
    let out = acct.ec2.describe_vpcs().vpc_ids(vpc).send().await.expect("DescribeVpcs");
    out.vpcs()[0].dhcp_options_id().expect("a dhcpOptionsId").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_is_made_associated_and_deleted_once_unused() {
    let acct = Account::new();
    let vpc = acct.ec2.create_vpc().cidr_block("10.5.0.0/16").send().await.expect("CreateVpc");
    let vpc = vpc.vpc().expect("a VPC");
    let default = vpc.dhcp_options_id().expect("the default set").to_owned();
    assert!(default.starts_with("dopt-") && default.len() == "dopt-".len() + 17, "{default}");
    let vpc = vpc.vpc_id().expect("an id").to_owned();

    let config = |key: &str, values: &[&str]| {
        values.iter().fold(NewDhcpConfiguration::builder().key(key), |b, v| b.values(*v)).build()
    };
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::DhcpOptions)
        .tags(Tag::builder().key("Name").value("corp").build())
        .build();
    let created = acct
        .ec2
        .create_dhcp_options()
        .dhcp_configurations(config("domain-name", &["corp.example"]))
        .dhcp_configurations(config("domain-name-servers", &["10.5.0.2", "10.5.0.3"]))
        .tag_specifications(tags)
        .send()
        .await
        .expect("CreateDhcpOptions");
    let set = created.dhcp_options().expect("a set");
    assert_eq!(set.owner_id(), Some(acct.id.as_str()));
    assert_eq!(set.tags()[0].value(), Some("corp"));
    let servers: Vec<_> = set.dhcp_configurations()[1].values().iter().filter_map(|v| v.value()).collect();
    assert_eq!(servers, ["10.5.0.2", "10.5.0.3"]);
    let id = set.dhcp_options_id().expect("an id").to_owned();

    let found = acct
        .ec2
        .describe_dhcp_options()
        .filters(filter("key", &["domain-name-servers"]))
        .filters(filter("value", &["10.5.0.3"]))
        .send()
        .await
        .expect("DescribeDhcpOptions");
    let ids: Vec<_> = found.dhcp_options().iter().filter_map(|d| d.dhcp_options_id()).collect();
    assert_eq!(ids, [id.as_str()]);

    acct.ec2.associate_dhcp_options().dhcp_options_id(&id).vpc_id(&vpc).send().await.expect("AssociateDhcpOptions");
    assert_eq!(vpc_set(&acct, &vpc).await, id);
    let refused = acct.ec2.delete_dhcp_options().dhcp_options_id(&id).send().await;
    let f = failure(refused);
    assert_failure(&f, 400, "DependencyViolation");
    assert_eq!(f.message, format!("The dhcpOptions '{id}' has dependencies and cannot be deleted."));

    acct.ec2.associate_dhcp_options().dhcp_options_id("default").vpc_id(&vpc).send().await.expect("to none");
    assert_eq!(vpc_set(&acct, &vpc).await, "default");
    acct.ec2.delete_dhcp_options().dhcp_options_id(&id).send().await.expect("DeleteDhcpOptions");
    let gone = acct.ec2.describe_dhcp_options().dhcp_options_ids(&id).send().await;
    assert_failure(&failure(gone), 400, "InvalidDhcpOptionID.NotFound");
    let left = acct.ec2.describe_dhcp_options().send().await.expect("DescribeDhcpOptions");
    let left: Vec<_> = left.dhcp_options().iter().filter_map(|d| d.dhcp_options_id()).collect();
    assert_eq!(left, [default.as_str()], "the default set stays");
}
