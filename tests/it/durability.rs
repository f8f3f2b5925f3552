//! The embedded store keeps every acknowledged change across kill -9 and
//! graceful restarts; one data dir serves one process; startup failures
//! say why.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Tag;

use crate::common::*;
use crate::server::{Server, data_file, temp_dir};

/// What DescribeAddresses shows, keyed by allocation id:
/// (public ip, association id, interface, private ip, tags).
type Snapshot = BTreeMap<String, (String, Option<String>, Option<String>, Option<String>, Vec<(String, String)>)>;

async fn snapshot(ec2: &Client) -> Snapshot {
    let out = ec2.describe_addresses().send().await.expect("DescribeAddresses");
    out.addresses()
        .iter()
        .map(|a| {
            let mut tags: Vec<(String, String)> = a
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
                .collect();
            tags.sort();
            (
                a.allocation_id().expect("allocation id").to_owned(),
                (
                    a.public_ip().expect("public ip").to_owned(),
                    a.association_id().map(str::to_owned),
                    a.network_interface_id().map(str::to_owned),
                    a.private_ip_address().map(str::to_owned),
                    tags,
                ),
            )
        })
        .collect()
}

/// State worth keeping: an associated address, a free tagged one, and an
/// association that has ended (D2 remembers it).
struct Seeded {
    account: String,
    eni: String,
    associated: String,
    assoc: String,
    ended_assoc: String,
    before: Snapshot,
}

async fn seed(url: &str) -> Seeded {
    let acct = Account::on(url);
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let (eni, _) = create_eni(ec2, &net.subnet).await;
    let secondary = add_private_ip(ec2, &eni).await;
    let (associated, _) = allocate(ec2).await;
    let (free, _) = allocate(ec2).await;
    let (moved, _) = allocate(ec2).await;
    ec2.create_tags().resources(&free).tags(Tag::builder().key("keep").value("me").build()).send().await.unwrap();
    let assoc = associate_eni(ec2, &associated, &eni, None).await;
    let ended_assoc = associate_eni(ec2, &moved, &eni, Some(&secondary)).await;
    disassociate(ec2, &ended_assoc).await;
    let before = snapshot(ec2).await;
    assert_eq!(before.len(), 3);
    Seeded { account: acct.id, eni, associated, assoc, ended_assoc, before }
}

/// After a restart: the same addresses, ids and associations, and the
/// association rules still know the history.
async fn check_after_restart(url: &str, s: &Seeded) {
    let ec2 = client_for(url, &s.account, REGION);
    assert_eq!(snapshot(&ec2).await, s.before, "DescribeAddresses after the restart");
    let n = interface(&ec2, &s.eni).await;
    assert_eq!(n.association().and_then(|a| a.association_id()), Some(s.assoc.as_str()));
    // The ended association is still remembered as ended (D2), a never-issued one is not.
    disassociate(&ec2, &s.ended_assoc).await;
    let f = failure(ec2.disassociate_address().association_id(unknown_association_id()).send().await);
    assert_failure(&f, 400, "InvalidAssociationID.NotFound");
    // The live association still works, and the pool still knows its IPs are taken.
    disassociate(&ec2, &s.assoc).await;
    assert_eq!(address(&ec2, &s.associated).await.association_id(), None);
    // The pool (a /30: four addresses) still knows which three are taken:
    // one is left, for this account or any other, and then none.
    let taken: Vec<String> = s.before.values().map(|v| v.0.clone()).collect();
    let (_, fresh) = allocate(&client_for(url, &random_account(), REGION)).await;
    assert!(!taken.contains(&fresh), "{fresh} was handed out twice");
    let f = failure(ec2.allocate_address().send().await);
    assert_eq!(f.status, 400, "the pool is exhausted: {f:?}");
}

const POOL: [&str; 2] = ["--pool", "198.51.100.0/30"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let dir = temp_dir();
    let mut server = Server::embedded(dir.path(), &POOL);
    let s = seed(&server.url).await;
    server.kill9();
    server.restart();
    check_after_restart(&server.url, &s).await;
    // And once more, after the changes made since.
    let ec2 = client_for(&server.url, &s.account, REGION);
    let after = snapshot(&ec2).await;
    server.kill9();
    server.restart();
    let ec2 = client_for(&server.url, &s.account, REGION);
    assert_eq!(snapshot(&ec2).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_everything() {
    let dir = temp_dir();
    let mut server = Server::embedded(dir.path(), &POOL);
    let s = seed(&server.url).await;
    let status = server.terminate();
    assert!(status.success(), "SIGTERM should end eipd cleanly, got {status}; stderr:\n{}", server.stderr());
    server.restart();
    check_after_restart(&server.url, &s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acknowledged_writes_survive_kill_9() {
    let dir = temp_dir();
    let mut server = Server::embedded(dir.path(), &[]);
    let accounts: Vec<String> = (0..8).map(|_| random_account()).collect();
    let mut tasks = Vec::new();
    for account in &accounts {
        for _ in 0..4 {
            let ec2 = client_for(&server.url, account, REGION);
            let account = account.clone();
            tasks.push(tokio::spawn(async move {
                let out = ec2.allocate_address().send().await.expect("AllocateAddress");
                (account, out.allocation_id().unwrap().to_owned(), out.public_ip().unwrap().to_owned())
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    server.kill9();
    server.restart();
    let mut ips = std::collections::BTreeSet::new();
    for account in &accounts {
        let ec2 = client_for(&server.url, account, REGION);
        let shown = snapshot(&ec2).await;
        let mine: Vec<&(String, String, String)> = acked.iter().filter(|(a, _, _)| a == account).collect();
        assert_eq!(shown.len(), mine.len(), "account {account}: {shown:?}");
        for (_, alloc, ip) in mine {
            assert_eq!(shown.get(alloc).map(|v| &v.0), Some(ip), "{alloc} lost or changed");
            assert!(ips.insert(ip.clone()), "{ip} held twice");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_forgets() {
    let mut server = Server::memory(&[]);
    let acct = Account::on(&server.url);
    allocate(&acct.ec2).await;
    server.kill9();
    server.restart();
    let ec2 = client_for(&server.url, &acct.id, REGION);
    assert!(snapshot(&ec2).await.is_empty());
}

#[test]
fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let dir = temp_dir();
    let first = Server::embedded(dir.path(), &[]);
    let d = dir.path().to_str().unwrap();
    let failed = match Server::try_start(&["--data-dir", d]) {
        Ok(_) => panic!("a second eipd opened {d} while the first one runs"),
        Err(f) => f,
    };
    assert!(!failed.status.success(), "{failed:?}");
    let file = data_file(dir.path());
    let file = file.to_str().unwrap();
    assert!(failed.stderr.contains(file), "stderr should name the data file {file}: {}", failed.stderr);
    assert!(failed.stderr.contains("in use"), "stderr should say the file is in use: {}", failed.stderr);
    drop(first);
    // Once the first one is gone the directory is free again.
    let _again = Server::embedded(dir.path(), &[]);
}

#[test]
fn a_taken_port_is_a_clear_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let failed = match Server::try_start(&["--listen", &addr, "--store", "memory"]) {
        Ok(_) => panic!("eipd started on {addr}, which is taken"),
        Err(f) => f,
    };
    assert!(!failed.status.success(), "{failed:?}");
    assert!(failed.stderr.contains(&addr), "stderr should name {addr}: {}", failed.stderr);
    assert!(failed.stderr.contains("taken") || failed.stderr.contains("in use"), "{}", failed.stderr);
}

#[test]
fn bad_flags_are_startup_errors() {
    for args in [
        &["--store", "memory", "--pool", "10.0.0.0/8,10.1.0.0/16"][..],
        &["--store", "nonsense"][..],
        &["--store", "memory", "--flavor", "azure"][..],
    ] {
        match Server::try_start(args) {
            Ok(_) => panic!("eipd started with {args:?}"),
            Err(f) => {
                assert!(!f.status.success());
                assert!(!f.stderr.trim().is_empty(), "{args:?} failed silently");
            }
        }
    }
}
