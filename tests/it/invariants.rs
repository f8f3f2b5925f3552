//! Random sequences of Allocate / Associate / Disassociate / Release against
//! a model: every answer is the one the rules give (D2, D5, D7), and after
//! every step one public IP has one holder, an address has at most one
//! association and a private IP at most one address.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::*;

#[derive(Clone, Debug)]
enum Op {
    Allocate,
    /// Address slot, target slot, AllowReassociation.
    Associate(usize, usize, bool),
    /// Index into every association id issued so far (current or ended),
    /// or a never-issued one when out of range.
    Disassociate(usize),
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Allocate),
        4 => (0..4usize, 0..4usize, prop::bool::weighted(0.8)).prop_map(|(a, t, r)| Op::Associate(a, t, r)),
        3 => (0..12usize).prop_map(Op::Disassociate),
        1 => (0..4usize).prop_map(Op::Release),
    ]
}

/// A target: (interface, private IP).
type Target = (String, String);

#[derive(Default, Debug)]
struct Model {
    /// Allocation id → (public ip, current association).
    addresses: BTreeMap<String, (String, Option<(String, Target)>)>,
    /// Allocation ids in allocation order (slots refer to them).
    order: Vec<String>,
    issued: Vec<String>,
}

impl Model {
    fn slot(&self, i: usize) -> Option<String> {
        if self.order.is_empty() { None } else { Some(self.order[i % self.order.len()].clone()) }
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let net = net(ec2).await;
    let mut targets: Vec<Target> = Vec::new();
    for _ in 0..2 {
        let (eni, primary) = create_eni(ec2, &net.subnet).await;
        let secondary = add_private_ip(ec2, &eni).await;
        targets.push((eni.clone(), primary));
        targets.push((eni, secondary));
    }
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Allocate => {
                let (alloc, ip) = allocate(ec2).await;
                prop_assert!(!m.addresses.values().any(|(held, _)| *held == ip), "{ip} handed out twice");
                m.addresses.insert(alloc.clone(), (ip, None));
                m.order.push(alloc);
            }
            Op::Associate(a, t, allow) => {
                let Some(alloc) = m.slot(a) else { continue };
                let target = targets[t].clone();
                let result = ec2
                    .associate_address()
                    .allocation_id(&alloc)
                    .network_interface_id(&target.0)
                    .private_ip_address(&target.1)
                    .allow_reassociation(allow)
                    .send()
                    .await;
                let current = m.addresses[&alloc].1.clone();
                let elsewhere = current.as_ref().is_some_and(|(_, on)| *on != target);
                if elsewhere && !allow {
                    let f = failure(result);
                    prop_assert_eq!(f.code.as_str(), "Resource.AlreadyAssociated");
                } else {
                    let assoc = result.expect("AssociateAddress").association_id().unwrap().to_owned();
                    prop_assert!(!m.issued.contains(&assoc), "association id {} reused", assoc);
                    // Whatever sat on the target private IP is moved off it.
                    for (_, (_, on)) in m.addresses.iter_mut() {
                        if on.as_ref().is_some_and(|(_, t)| *t == target) {
                            *on = None;
                        }
                    }
                    m.addresses.get_mut(&alloc).unwrap().1 = Some((assoc.clone(), target));
                    m.issued.push(assoc);
                }
            }
            Op::Disassociate(i) => {
                let id = m.issued.get(i).cloned().unwrap_or_else(unknown_association_id);
                let result = ec2.disassociate_address().association_id(&id).send().await;
                if m.issued.contains(&id) {
                    result.map_err(|e| TestCaseError::fail(format!("disassociating issued {id}: {e:?}")))?;
                    for (_, (_, on)) in m.addresses.iter_mut() {
                        if on.as_ref().is_some_and(|(x, _)| *x == id) {
                            *on = None;
                        }
                    }
                } else {
                    let f = failure(result);
                    prop_assert_eq!(f.code.as_str(), "InvalidAssociationID.NotFound");
                }
            }
            Op::Release(a) => {
                let Some(alloc) = m.slot(a) else { continue };
                let result = ec2.release_address().allocation_id(&alloc).send().await;
                if m.addresses[&alloc].1.is_some() {
                    let f = failure(result);
                    prop_assert_eq!(f.code.as_str(), "InvalidIPAddress.InUse");
                } else {
                    result.map_err(|e| TestCaseError::fail(format!("releasing {alloc}: {e:?}")))?;
                    m.addresses.remove(&alloc);
                    m.order.retain(|x| *x != alloc);
                }
            }
        }
        check(ec2, &m).await?;
    }
    Ok(())
}

/// DescribeAddresses agrees with the model, and the invariants hold.
async fn check(ec2: &aws_sdk_ec2::Client, m: &Model) -> Result<(), TestCaseError> {
    let out = ec2.describe_addresses().send().await.expect("DescribeAddresses");
    let mut seen_ips = std::collections::BTreeSet::new();
    let mut seen_targets = std::collections::BTreeSet::new();
    let mut shown = BTreeMap::new();
    for a in out.addresses() {
        let alloc = a.allocation_id().unwrap().to_owned();
        prop_assert!(seen_ips.insert(a.public_ip().unwrap().to_owned()), "public IP shown twice");
        let on = match (a.association_id(), a.network_interface_id(), a.private_ip_address()) {
            (Some(x), Some(eni), Some(ip)) => {
                prop_assert!(seen_targets.insert((eni.to_owned(), ip.to_owned())), "two addresses on {eni}/{ip}");
                Some((x.to_owned(), (eni.to_owned(), ip.to_owned())))
            }
            (None, None, None) => None,
            other => return Err(TestCaseError::fail(format!("half an association: {other:?}"))),
        };
        shown.insert(alloc, (a.public_ip().unwrap().to_owned(), on));
    }
    prop_assert_eq!(&shown, &m.addresses);
    Ok(())
}

#[test]
fn association_rules_hold_under_random_sequences() {
    let config = Config { cases: 24, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| rt.block_on(run(ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}
