//! DescribeAccountAttributes through the Rust SDK: the facts tools read
//! before they start (Ansible, SDK waiters, functional suites).

use aws_sdk_ec2::types::AccountAttributeName;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_attributes_name_the_default_vpc_and_the_address_limit() {
    let acct = Account::new();
    let out = acct.ec2.describe_account_attributes().send().await.expect("DescribeAccountAttributes");
    let attributes: Vec<(&str, Vec<&str>)> = out
        .account_attributes()
        .iter()
        .map(|a| {
            let values = a.attribute_values().iter().filter_map(|v| v.attribute_value()).collect();
            (a.attribute_name().unwrap_or_default(), values)
        })
        .collect();
    let vpcs = acct.ec2.describe_vpcs().send().await.expect("DescribeVpcs");
    let default_vpc = vpcs.vpcs().iter().find(|v| v.is_default() == Some(true)).and_then(|v| v.vpc_id());
    assert_eq!(
        attributes,
        [
            ("supported-platforms", vec!["VPC"]),
            ("vpc-max-security-groups-per-interface", vec!["5"]),
            // The shared test server runs with --address-limit 1000.
            ("max-elastic-ips", vec!["1000"]),
            ("max-instances", vec!["20"]),
            ("vpc-max-elastic-ips", vec!["1000"]),
            ("default-vpc", vec![default_vpc.expect("a default VPC")]),
        ]
    );

    let one = acct
        .ec2
        .describe_account_attributes()
        .attribute_names(AccountAttributeName::DefaultVpc)
        .send()
        .await
        .expect("DescribeAccountAttributes default-vpc");
    let names: Vec<_> = one.account_attributes().iter().filter_map(|a| a.attribute_name()).collect();
    assert_eq!(names, ["default-vpc"]);

    let dry = acct.ec2.describe_account_attributes().dry_run(true).send().await;
    assert_failure(&failure(dry), 412, "DryRunOperation");
    let unknown =
        acct.ec2.describe_account_attributes().attribute_names(AccountAttributeName::from("max-vpcs")).send().await;
    assert_failure(&failure(unknown), 400, "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_zones_are_the_default_subnets_zones() {
    let acct = Account::new();
    let zones = acct.ec2.describe_availability_zones().send().await.expect("DescribeAvailabilityZones");
    let zones: Vec<(&str, &str)> = zones
        .availability_zones()
        .iter()
        .map(|z| (z.zone_name().unwrap_or_default(), z.zone_id().unwrap_or_default()))
        .collect();
    assert_eq!(zones, [("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az3")]);
    let regions = acct.ec2.describe_regions().send().await.expect("DescribeRegions");
    let east = regions.regions().iter().find(|r| r.region_name() == Some(REGION)).expect("the caller's region");
    assert_eq!(east.endpoint(), Some("ec2.us-east-1.amazonaws.com"));
}
