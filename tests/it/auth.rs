//! Security through the Rust SDK's real SigV4 signing: strict mode, wrong
//! secrets, skewed clocks, policies behind DryRun, isolated accounts (D13).

use std::time::{Duration, SystemTime};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_smithy_async::time::StaticTimeSource;

use crate::common::{AMI, REGION, assert_failure, failure};
use crate::server::{Server, temp_dir};

const CREDENTIALS: &str = r#"
[[user]]
name = "admin"
access_key_id = "AKIAEXAMPLE0000000001"
secret_access_key = "admin-secret"
account_id = "111122223333"

[[user]]
name = "ci"
access_key_id = "AKIAEXAMPLE0000000002"
secret_access_key = "ci-secret"
account_id = "111122223333"
policy = '''{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["ec2:*Address*","ec2:Describe*"],"Resource":"*"},
  {"Effect":"Deny","Action":"ec2:ReleaseAddress","Resource":"*"}]}'''

[[user]]
name = "other"
access_key_id = "AKIAEXAMPLE0000000003"
secret_access_key = "other-secret"
account_id = "444455556666"
"#;

fn strict_server() -> (Server, tempfile::TempDir) {
    let dir = temp_dir();
    let file = dir.path().join("credentials.toml");
    std::fs::write(&file, CREDENTIALS).unwrap();
    let server = Server::memory(&["--auth", "strict", "--credentials", file.to_str().unwrap()]);
    (server, dir)
}

fn signed_client(url: &str, akid: &str, secret: &str, skew: Option<Duration>) -> Client {
    let mut config = aws_sdk_ec2::Config::builder()
        .behavior_version_latest()
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(RetryConfig::disabled());
    if let Some(skew) = skew {
        config = config.time_source(StaticTimeSource::new(SystemTime::now() + skew));
    }
    Client::from_conf(config.build())
}

#[tokio::test]
async fn right_key_passes_wrong_secret_and_unknown_key_fail() {
    let (server, _dir) = strict_server();
    let admin = signed_client(&server.url, "AKIAEXAMPLE0000000001", "admin-secret", None);
    let out = admin.allocate_address().send().await.expect("a configured key with its secret passes");
    assert!(out.allocation_id().is_some());
    let wrong = signed_client(&server.url, "AKIAEXAMPLE0000000001", "not-the-secret", None);
    assert_failure(&failure(wrong.describe_addresses().send().await), 401, "AuthFailure");
    let unknown = signed_client(&server.url, "AKIAUNKNOWN000000000", "x", None);
    assert_failure(&failure(unknown.describe_addresses().send().await), 401, "AuthFailure");
}

#[tokio::test]
async fn skewed_clock_fails_in_strict_mode() {
    let (server, _dir) = strict_server();
    let skewed =
        signed_client(&server.url, "AKIAEXAMPLE0000000001", "admin-secret", Some(Duration::from_secs(20 * 60)));
    assert_failure(&failure(skewed.describe_addresses().send().await), 400, "RequestExpired");
    let slight = signed_client(&server.url, "AKIAEXAMPLE0000000001", "admin-secret", Some(Duration::from_secs(5 * 60)));
    slight.describe_addresses().send().await.expect("five minutes of skew is within AWS's fifteen");
}

#[tokio::test]
async fn policy_allows_and_denies_dry_run_and_real_calls() {
    let (server, _dir) = strict_server();
    let ci = signed_client(&server.url, "AKIAEXAMPLE0000000002", "ci-secret", None);
    assert_failure(&failure(ci.allocate_address().dry_run(true).send().await), 412, "DryRunOperation");
    let alloc = ci.allocate_address().send().await.unwrap().allocation_id().unwrap().to_owned();
    let denied = failure(ci.release_address().allocation_id(&alloc).dry_run(true).send().await);
    assert_failure(&denied, 403, "UnauthorizedOperation");
    let denied = failure(ci.release_address().allocation_id(&alloc).send().await);
    assert_failure(&denied, 403, "UnauthorizedOperation");
    assert!(denied.message.contains("ec2:ReleaseAddress"), "{}", denied.message);
    let still = ci.describe_addresses().allocation_ids(&alloc).send().await.unwrap();
    assert_eq!(still.addresses().len(), 1, "a denied call changes nothing");
    let run = ci.run_instances().image_id(AMI).min_count(1).max_count(1).dry_run(true).send().await;
    assert_failure(&failure(run), 403, "UnauthorizedOperation");
    let admin = signed_client(&server.url, "AKIAEXAMPLE0000000001", "admin-secret", None);
    admin.release_address().allocation_id(&alloc).send().await.expect("a user without a policy may act");
}

#[tokio::test]
async fn accounts_are_isolated() {
    let (server, _dir) = strict_server();
    let admin = signed_client(&server.url, "AKIAEXAMPLE0000000001", "admin-secret", None);
    let other = signed_client(&server.url, "AKIAEXAMPLE0000000003", "other-secret", None);
    let out = admin.allocate_address().send().await.unwrap();
    let alloc = out.allocation_id().unwrap();
    let f = failure(other.describe_addresses().allocation_ids(alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    let f = failure(other.release_address().allocation_id(alloc).send().await);
    assert_failure(&f, 400, "InvalidAllocationID.NotFound");
    assert!(other.describe_addresses().send().await.unwrap().addresses().is_empty());
    let f = failure(other.disassociate_address().public_ip(out.public_ip().unwrap()).send().await);
    assert_failure(&f, 401, "AuthFailure");
}
