//! Security groups through the Rust SDK: the default group every interface
//! and instance carries, a created group's rules, and the refusals around
//! deleting one.

use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroup, UserIdGroupPair};

use crate::common::*;

async fn group(acct: &Account, id: &str) -> SecurityGroup {
    let out = acct.ec2.describe_security_groups().group_ids(id).send().await.expect("DescribeSecurityGroups");
    assert_eq!(out.security_groups().len(), 1, "{out:?}");
    out.security_groups()[0].clone()
}

fn group_ids<'a>(groups: impl IntoIterator<Item = &'a aws_sdk_ec2::types::GroupIdentifier>) -> Vec<&'a str> {
    groups.into_iter().filter_map(|g| g.group_id()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interfaces_and_instances_carry_the_default_group_unless_told_otherwise() {
    let acct = Account::new();
    let n = net(&acct.ec2).await;
    let defaults = acct
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &[&n.vpc]))
        .filters(filter("group-name", &["default"]))
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let [default] = defaults.security_groups() else { panic!("one default group: {defaults:?}") };
    let default_id = default.group_id().expect("group id");
    let ingress = default.ip_permissions();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0].ip_protocol(), Some("-1"));
    assert_eq!(group_ids_of_pairs(ingress[0].user_id_group_pairs()), [default_id]);
    let egress = default.ip_permissions_egress();
    assert_eq!(egress[0].ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect::<Vec<_>>(), ["0.0.0.0/0"]);

    let (eni, _) = create_eni(&acct.ec2, &n.subnet).await;
    let out = acct.ec2.describe_network_interfaces().network_interface_ids(&eni).send().await.expect("Describe");
    assert_eq!(group_ids(out.network_interfaces()[0].groups()), [default_id]);
    let inst = instance(&acct.ec2, &run_instance(&acct.ec2, Some(&n.subnet)).await).await;
    assert_eq!(group_ids(inst.security_groups()), [default_id]);
    assert_eq!(group_ids(inst.network_interfaces()[0].groups()), [default_id]);
    let gone = acct.ec2.delete_security_group().group_id(default_id).send().await;
    assert_failure(&failure(gone), 400, "CannotDelete");
}

fn group_ids_of_pairs(pairs: &[UserIdGroupPair]) -> Vec<&str> {
    pairs.iter().filter_map(|p| p.group_id()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_authorize_describe_and_delete_a_group() {
    let acct = Account::new();
    let n = net(&acct.ec2).await;
    let created = acct
        .ec2
        .create_security_group()
        .group_name("web")
        .description("web servers")
        .vpc_id(&n.vpc)
        .send()
        .await
        .expect("CreateSecurityGroup");
    let id = created.group_id().expect("group id").to_owned();
    assert!(id.starts_with("sg-") && id.len() == "sg-".len() + 17, "{id}");
    let twice = acct.ec2.create_security_group().group_name("web").description("x").vpc_id(&n.vpc).send().await;
    assert_failure(&failure(twice), 400, "InvalidGroup.Duplicate");

    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("anyone").build())
        .build();
    let out = acct
        .ec2
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(https.clone())
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress");
    assert_eq!(out.r#return(), Some(true));
    let [rule] = out.security_group_rules() else { panic!("one rule: {out:?}") };
    assert!(rule.security_group_rule_id().is_some_and(|r| r.starts_with("sgr-")));
    assert_eq!(
        (rule.group_id(), rule.is_egress(), rule.cidr_ipv4()),
        (Some(id.as_str()), Some(false), Some("0.0.0.0/0"))
    );
    let again = acct.ec2.authorize_security_group_ingress().group_id(&id).ip_permissions(https.clone()).send().await;
    assert_failure(&failure(again), 400, "InvalidPermission.Duplicate");

    let g = group(&acct, &id).await;
    assert_eq!((g.group_name(), g.description(), g.vpc_id()), (Some("web"), Some("web servers"), Some(n.vpc.as_str())));
    let [permission] = g.ip_permissions() else { panic!("one permission: {g:?}") };
    assert_eq!(
        (permission.ip_protocol(), permission.from_port(), permission.to_port()),
        (Some("tcp"), Some(443), Some(443))
    );
    assert_eq!(permission.ip_ranges()[0].description(), Some("anyone"));
    let rules = acct
        .ec2
        .describe_security_group_rules()
        .filters(filter("group-id", &[&id]))
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    assert_eq!(rules.security_group_rules().len(), 2, "the new rule and the initial egress one: {rules:?}");

    // In use by an interface: it stays until the interface goes.
    let eni = acct
        .ec2
        .create_network_interface()
        .subnet_id(&n.subnet)
        .groups(&id)
        .send()
        .await
        .expect("CreateNetworkInterface");
    let eni = eni.network_interface().expect("interface");
    assert_eq!(group_ids(eni.groups()), [id.as_str()]);
    let eni = eni.network_interface_id().expect("eni id").to_owned();
    let busy = acct.ec2.delete_security_group().group_id(&id).send().await;
    let f = failure(busy);
    assert_failure(&f, 400, "DependencyViolation");
    assert_eq!(f.message, format!("resource {id} has a dependent object"));
    acct.ec2.delete_network_interface().network_interface_id(&eni).send().await.expect("DeleteNetworkInterface");

    acct.ec2.revoke_security_group_ingress().group_id(&id).ip_permissions(https.clone()).send().await.expect("Revoke");
    assert!(group(&acct, &id).await.ip_permissions().is_empty());
    let missing = acct.ec2.revoke_security_group_ingress().group_id(&id).ip_permissions(https).send().await;
    assert_failure(&failure(missing), 400, "InvalidPermission.NotFound");

    let deleted = acct.ec2.delete_security_group().group_id(&id).send().await.expect("DeleteSecurityGroup");
    assert_eq!(deleted.group_id(), Some(id.as_str()));
    let gone = acct.ec2.describe_security_groups().group_ids(&id).send().await;
    assert_failure(&failure(gone), 400, "InvalidGroup.NotFound");
}
