//! Route tables through the Rust SDK: a table's life from its creation to
//! its deletion (a route to the VPC's gateway, a subnet's association, the
//! main association moved to it), and the refusal of a route that exists.

use aws_sdk_ec2::types::{RouteOrigin, RouteState, RouteTable};

use crate::common::*;

async fn tables_where(acct: &Account, name: &str, value: &str) -> Vec<RouteTable> {
    let out = acct.ec2.describe_route_tables().filters(filter(name, &[value])).send().await.expect("Describe");
    out.route_tables().to_vec()
}

async fn table(acct: &Account, id: &str) -> RouteTable {
    let out = acct.ec2.describe_route_tables().route_table_ids(id).send().await.expect("DescribeRouteTables");
    assert_eq!(out.route_tables().len(), 1, "{out:?}");
    out.route_tables()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_table_from_creation_to_deletion() {
    let acct = Account::new();
    let n = create_net(&acct.ec2, "10.0.0.0/16", "10.0.1.0/24", false).await;
    let igw = attach_igw(&acct.ec2, &n.vpc).await;
    let [main] = &tables_where(&acct, "vpc-id", &n.vpc).await[..] else { panic!("one table: the main one") };
    let main_assoc = &main.associations()[0];
    assert_eq!(main_assoc.main(), Some(true));
    let local = &main.routes()[0];
    assert_eq!(
        (local.destination_cidr_block(), local.gateway_id(), local.origin(), local.state()),
        (Some("10.0.0.0/16"), Some("local"), Some(&RouteOrigin::CreateRouteTable), Some(&RouteState::Active))
    );

    let created = acct.ec2.create_route_table().vpc_id(&n.vpc).send().await.expect("CreateRouteTable");
    let rtb = created.route_table().and_then(|t| t.route_table_id()).expect("table id").to_owned();
    assert!(rtb.starts_with("rtb-") && rtb.len() == "rtb-".len() + 17, "{rtb}");
    acct.ec2
        .create_route()
        .route_table_id(&rtb)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .expect("CreateRoute");
    let assoc = acct
        .ec2
        .associate_route_table()
        .route_table_id(&rtb)
        .subnet_id(&n.subnet)
        .send()
        .await
        .expect("AssociateRouteTable");
    let assoc = assoc.association_id().expect("association id").to_owned();
    let t = table(&acct, &rtb).await;
    let default_route = t.routes().iter().find(|r| r.destination_cidr_block() == Some("0.0.0.0/0")).expect("route");
    assert_eq!((default_route.gateway_id(), default_route.state()), (Some(igw.as_str()), Some(&RouteState::Active)));
    assert_eq!(t.associations()[0].subnet_id(), Some(n.subnet.as_str()));

    // The main association moves to the new table; the old main one can then go.
    let moved = acct
        .ec2
        .replace_route_table_association()
        .association_id(main_assoc.route_table_association_id().expect("id"))
        .route_table_id(&rtb)
        .send()
        .await
        .expect("ReplaceRouteTableAssociation");
    assert!(moved.new_association_id().is_some_and(|id| id.starts_with("rtbassoc-")));
    let mains = tables_where(&acct, "association.main", "true").await;
    assert!(mains.iter().any(|t| t.route_table_id() == Some(rtb.as_str())));
    acct.ec2
        .delete_route_table()
        .route_table_id(main.route_table_id().expect("id"))
        .send()
        .await
        .expect("DeleteRouteTable of the former main table");

    acct.ec2.disassociate_route_table().association_id(&assoc).send().await.expect("DisassociateRouteTable");
    acct.ec2.delete_route().route_table_id(&rtb).destination_cidr_block("0.0.0.0/0").send().await.expect("DeleteRoute");
    assert_eq!(table(&acct, &rtb).await.routes().len(), 1, "the local route is left");
    let main_now = acct.ec2.delete_route_table().route_table_id(&rtb).send().await;
    assert_failure(&failure(main_now), 400, "DependencyViolation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_that_exists_is_refused() {
    let acct = Account::new();
    let n = net(&acct.ec2).await;
    let [main] = &tables_where(&acct, "vpc-id", &n.vpc).await[..] else { panic!("one table: the main one") };
    let rtb = main.route_table_id().expect("id");
    let igw = acct
        .ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &[&n.vpc]))
        .send()
        .await
        .expect("DescribeInternetGateways");
    let igw = igw.internet_gateways()[0].internet_gateway_id().expect("igw id");
    let route = || acct.ec2.create_route().route_table_id(rtb).destination_cidr_block("0.0.0.0/0").gateway_id(igw);
    route().send().await.expect("CreateRoute");
    let f = failure(route().send().await);
    assert_failure(&f, 400, "RouteAlreadyExists");
    assert_eq!(f.message, "The route identified by 0.0.0.0/0 already exists.");
    let local = acct.ec2.create_route().route_table_id(rtb).destination_cidr_block("10.0.0.0/16").gateway_id(igw);
    assert_failure(&failure(local.send().await), 400, "RouteAlreadyExists");
}
