//! Clients, accounts, error inspection and the network set-ups the tests share.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{Address, AttributeBooleanValue, Filter, Instance, NetworkInterface};

use crate::server::shared_url;

pub(crate) const REGION: &str = "us-east-1";
/// Any well-formed AMI id is accepted.
pub(crate) const AMI: &str = "ami-12c6146b";

/// A fresh random 12-digit account id (D11): tests sharing one server never
/// see each other's state.
pub(crate) fn random_account() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.write_u32(std::process::id());
    let n = h.finish() % 900_000_000_000 + 100_000_000_000;
    format!("{n:012}")
}

/// An SDK client for `account` (its access key id) against `url`.
pub(crate) fn client_for(url: &str, account: &str, region: &str) -> Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version_latest()
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(account, "secret", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(20)).build())
        .build();
    Client::from_conf(config)
}

/// A client of a new account on the shared server.
pub(crate) struct Account {
    pub id: String,
    pub ec2: Client,
}

impl Account {
    pub(crate) fn new() -> Account {
        Self::on(shared_url())
    }

    pub(crate) fn on(url: &str) -> Account {
        let id = random_account();
        let ec2 = client_for(url, &id, REGION);
        Account { id, ec2 }
    }
}

/// A service error as a test sees it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// The service error of a call that must fail; panics on success or on a
/// failure that is not an answer from the server.
pub(crate) fn failure<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Failure
where
    T: Debug,
    E: ProvideErrorMetadata + RequestId + Debug,
{
    let err = match result {
        Ok(v) => panic!("expected an error answer, got success: {v:?}"),
        Err(e) => e,
    };
    let status = match err.raw_response() {
        Some(raw) => raw.status().as_u16(),
        None => panic!("expected an error answer from the server, got {err:?}"),
    };
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            Failure {
                status,
                code: e.code().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
                request_id: e.request_id().map(str::to_owned),
            }
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// Asserts a failure's HTTP status and EC2 code.
#[track_caller]
pub(crate) fn assert_failure(f: &Failure, status: u16, code: &str) {
    assert_eq!((f.status, f.code.as_str()), (status, code), "unexpected answer: {f:?}");
    assert!(f.request_id.as_deref().is_some_and(|r| !r.is_empty()), "error without a request id: {f:?}");
}

pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    let mut b = Filter::builder().name(name);
    for v in values {
        b = b.values(*v);
    }
    b.build()
}

pub(crate) fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        let h = RandomState::new().build_hasher().finish();
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(n);
    out
}

/// A well-formed association id that was never issued.
pub(crate) fn unknown_association_id() -> String {
    format!("eipassoc-{}", random_hex(17))
}

// ---- set-ups --------------------------------------------------------------------

/// A VPC with one subnet; with an attached internet gateway when `igw`.
#[derive(Clone, Debug)]
pub(crate) struct Net {
    pub vpc: String,
    pub subnet: String,
}

pub(crate) async fn create_net(ec2: &Client, cidr: &str, subnet_cidr: &str, igw: bool) -> Net {
    let vpc = ec2.create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_owned();
    let subnet = ec2.create_subnet().vpc_id(&vpc).cidr_block(subnet_cidr).send().await.expect("CreateSubnet");
    let subnet = subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned();
    if igw {
        attach_igw(ec2, &vpc).await;
    }
    Net { vpc, subnet }
}

/// A 10.0.0.0/16 VPC with 10.0.1.0/24 and an attached internet gateway.
pub(crate) async fn net(ec2: &Client) -> Net {
    create_net(ec2, "10.0.0.0/16", "10.0.1.0/24", true).await
}

pub(crate) async fn attach_igw(ec2: &Client, vpc: &str) -> String {
    let igw = ec2.create_internet_gateway().send().await.expect("CreateInternetGateway");
    let igw = igw.internet_gateway().and_then(|g| g.internet_gateway_id()).expect("igw id").to_owned();
    ec2.attach_internet_gateway().internet_gateway_id(&igw).vpc_id(vpc).send().await.expect("AttachInternetGateway");
    igw
}

pub(crate) async fn enable_dns_hostnames(ec2: &Client, vpc: &str) {
    ec2.modify_vpc_attribute()
        .vpc_id(vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVpcAttribute EnableDnsHostnames");
}

/// A new interface; returns its id and primary private IP.
pub(crate) async fn create_eni(ec2: &Client, subnet: &str) -> (String, String) {
    let out = ec2.create_network_interface().subnet_id(subnet).send().await.expect("CreateNetworkInterface");
    let eni = out.network_interface().expect("interface");
    (eni.network_interface_id().expect("eni id").to_owned(), eni.private_ip_address().expect("private ip").to_owned())
}

/// One more private IPv4 on an interface.
pub(crate) async fn add_private_ip(ec2: &Client, eni: &str) -> String {
    let out = ec2
        .assign_private_ip_addresses()
        .network_interface_id(eni)
        .secondary_private_ip_address_count(1)
        .send()
        .await
        .expect("AssignPrivateIpAddresses");
    let assigned = out.assigned_private_ip_addresses();
    assert_eq!(assigned.len(), 1, "{out:?}");
    assigned[0].private_ip_address().expect("ip").to_owned()
}

/// One instance; in the default subnet when `subnet` is None.
pub(crate) async fn run_instance(ec2: &Client, subnet: Option<&str>) -> String {
    let mut req = ec2.run_instances().image_id(AMI).min_count(1).max_count(1);
    if let Some(s) = subnet {
        req = req.subnet_id(s);
    }
    let out = req.send().await.expect("RunInstances");
    assert_eq!(out.instances().len(), 1);
    out.instances()[0].instance_id().expect("instance id").to_owned()
}

pub(crate) async fn instance(ec2: &Client, id: &str) -> Instance {
    let out = ec2.describe_instances().instance_ids(id).send().await.expect("DescribeInstances");
    let found: Vec<&Instance> = out.reservations().iter().flat_map(|r| r.instances()).collect();
    assert_eq!(found.len(), 1, "{out:?}");
    found[0].clone()
}

pub(crate) async fn interface(ec2: &Client, id: &str) -> NetworkInterface {
    let out =
        ec2.describe_network_interfaces().network_interface_ids(id).send().await.expect("DescribeNetworkInterfaces");
    assert_eq!(out.network_interfaces().len(), 1, "{out:?}");
    out.network_interfaces()[0].clone()
}

/// A new VPC address: (allocation id, public IP).
pub(crate) async fn allocate(ec2: &Client) -> (String, String) {
    let out = ec2.allocate_address().send().await.expect("AllocateAddress");
    (out.allocation_id().expect("allocation id").to_owned(), out.public_ip().expect("public ip").to_owned())
}

pub(crate) async fn associate_eni(ec2: &Client, allocation: &str, eni: &str, private_ip: Option<&str>) -> String {
    let mut req = ec2.associate_address().allocation_id(allocation).network_interface_id(eni);
    if let Some(ip) = private_ip {
        req = req.private_ip_address(ip);
    }
    let out = req.send().await.expect("AssociateAddress (interface)");
    out.association_id().expect("association id").to_owned()
}

pub(crate) async fn associate_instance(ec2: &Client, allocation: &str, instance: &str) -> String {
    let out = ec2
        .associate_address()
        .allocation_id(allocation)
        .instance_id(instance)
        .send()
        .await
        .expect("AssociateAddress (instance)");
    out.association_id().expect("association id").to_owned()
}

pub(crate) async fn disassociate(ec2: &Client, association: &str) {
    ec2.disassociate_address().association_id(association).send().await.expect("DisassociateAddress");
}

/// The address with this allocation id, as DescribeAddresses shows it.
pub(crate) async fn address(ec2: &Client, allocation: &str) -> Address {
    let out = ec2.describe_addresses().allocation_ids(allocation).send().await.expect("DescribeAddresses");
    assert_eq!(out.addresses().len(), 1, "{out:?}");
    out.addresses()[0].clone()
}

/// Allocation ids of DescribeAddresses with these filters.
pub(crate) async fn allocation_ids_where(ec2: &Client, filters: Vec<Filter>) -> BTreeSet<String> {
    let out = ec2.describe_addresses().set_filters(Some(filters)).send().await.expect("DescribeAddresses");
    out.addresses().iter().map(|a| a.allocation_id().expect("allocation id").to_owned()).collect()
}

pub(crate) fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
