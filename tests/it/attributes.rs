//! Instance and interface attributes through the Rust SDK (termination
//! protection, the stopped-only attributes, user data as a blob, the
//! interface that outlives its instance with its Elastic IP), and key pairs.

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, BlobAttributeValue, InstanceAttributeName, InstanceStateName,
    NetworkInterfaceAttachmentChanges, NetworkInterfaceAttribute,
};

use crate::common::*;

fn flag(value: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(value).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_protection_refuses_terminate_instances() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let id = run_instance(ec2, None).await;
    ec2.modify_instance_attribute()
        .instance_id(&id)
        .disable_api_termination(flag(true))
        .send()
        .await
        .expect("ModifyInstanceAttribute");
    let out = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .expect("DescribeInstanceAttribute");
    assert_eq!(out.instance_id(), Some(id.as_str()));
    assert_eq!(out.disable_api_termination().and_then(|v| v.value()), Some(true));
    assert_eq!(out.instance_type(), None, "only the attribute asked for");
    let f = failure(ec2.terminate_instances().instance_ids(&id).send().await);
    assert_failure(&f, 400, "OperationNotPermitted");
    assert_eq!(
        f.message,
        format!(
            "The instance '{id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again."
        )
    );
    assert_eq!(instance(ec2, &id).await.state().and_then(|s| s.name()), Some(&InstanceStateName::Running));
    ec2.modify_instance_attribute().instance_id(&id).disable_api_termination(flag(false)).send().await.expect("off");
    ec2.terminate_instances().instance_ids(&id).send().await.expect("TerminateInstances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_type_and_user_data_change_while_stopped() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let id = run_instance(ec2, None).await;
    let bigger = || AttributeValue::builder().value("m5.xlarge").build();
    let f = failure(ec2.modify_instance_attribute().instance_id(&id).instance_type(bigger()).send().await);
    assert_failure(&f, 400, "IncorrectInstanceState");
    ec2.stop_instances().instance_ids(&id).send().await.expect("StopInstances");
    ec2.modify_instance_attribute().instance_id(&id).instance_type(bigger()).send().await.expect("instanceType");
    let data = BlobAttributeValue::builder().value(Blob::new(b"#!/bin/sh\n".to_vec())).build();
    ec2.modify_instance_attribute().instance_id(&id).user_data(data).send().await.expect("userData");
    assert_eq!(instance(ec2, &id).await.instance_type().map(|t| t.as_str()), Some("m5.xlarge"));
    let out = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .expect("DescribeInstanceAttribute");
    // The SDK sent the blob as base64; EC2 answers that base64.
    assert_eq!(out.user_data().and_then(|v| v.value()), Some("IyEvYmluL3NoCg=="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interface_kept_at_termination_keeps_its_elastic_ip() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let n = net(ec2).await;
    let id = run_instance(ec2, Some(&n.subnet)).await;
    let (spare, _) = create_eni(ec2, &n.subnet).await;
    let attachment = ec2
        .attach_network_interface()
        .network_interface_id(&spare)
        .instance_id(&id)
        .device_index(1)
        .send()
        .await
        .expect("AttachNetworkInterface")
        .attachment_id()
        .expect("attachment id")
        .to_owned();
    let att = ec2
        .describe_network_interface_attribute()
        .network_interface_id(&spare)
        .attribute(NetworkInterfaceAttribute::Attachment)
        .send()
        .await
        .expect("DescribeNetworkInterfaceAttribute");
    let att = att.attachment().expect("attached");
    assert_eq!((att.attachment_id(), att.delete_on_termination()), (Some(attachment.as_str()), Some(false)));
    let (alloc, ip) = allocate(ec2).await;
    let assoc = associate_eni(ec2, &alloc, &spare, None).await;

    // The primary interface is made to survive too, then both outlive the instance.
    let primary = instance(ec2, &id).await.network_interfaces()[0].clone();
    let primary_attachment = primary.attachment().and_then(|a| a.attachment_id()).expect("attachment").to_owned();
    assert_eq!(primary.attachment().and_then(|a| a.delete_on_termination()), Some(true));
    ec2.modify_network_interface_attribute()
        .network_interface_id(primary.network_interface_id().expect("id"))
        .attachment(
            NetworkInterfaceAttachmentChanges::builder()
                .attachment_id(primary_attachment)
                .delete_on_termination(false)
                .build(),
        )
        .send()
        .await
        .expect("ModifyNetworkInterfaceAttribute");
    ec2.terminate_instances().instance_ids(&id).send().await.expect("TerminateInstances");

    let a = address(ec2, &alloc).await;
    assert_eq!((a.association_id(), a.network_interface_id()), (Some(assoc.as_str()), Some(spare.as_str())));
    assert_eq!(a.instance_id().filter(|i| !i.is_empty()), None);
    let eni = interface(ec2, &spare).await;
    assert!(eni.attachment().is_none(), "{eni:?}");
    assert_eq!(eni.association().and_then(|x| x.public_ip()), Some(ip.as_str()));
    let kept = interface(ec2, primary.network_interface_id().expect("id")).await;
    assert_eq!(kept.status().map(|s| s.as_str()), Some("available"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pairs_are_created_imported_and_launched_with() {
    use aws_sdk_ec2::types::KeyType;
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let created =
        ec2.create_key_pair().key_name("made").key_type(KeyType::Ed25519).send().await.expect("CreateKeyPair");
    assert!(created.key_material().is_some_and(|m| m.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")));
    let described =
        ec2.describe_key_pairs().key_names("made").include_public_key(true).send().await.expect("DescribeKeyPairs");
    let info = &described.key_pairs()[0];
    assert_eq!(info.key_fingerprint(), created.key_fingerprint());
    let public = info.public_key().expect("public key").to_owned();
    // The SDK sends the blob base64-encoded.
    let imported = ec2
        .import_key_pair()
        .key_name("again")
        .public_key_material(Blob::new(public.into_bytes()))
        .send()
        .await
        .expect("ImportKeyPair");
    assert_eq!(imported.key_fingerprint(), created.key_fingerprint(), "one ED25519 rule for both");
    let f = failure(ec2.run_instances().image_id(AMI).min_count(1).max_count(1).key_name("none").send().await);
    assert_failure(&f, 400, "InvalidKeyPair.NotFound");
    let out = ec2.run_instances().image_id(AMI).min_count(1).max_count(1).key_name("made").send().await;
    assert_eq!(out.expect("RunInstances").instances()[0].key_name(), Some("made"));
    ec2.delete_key_pair().key_name("again").send().await.expect("DeleteKeyPair");
    ec2.delete_key_pair().key_name("again").send().await.expect("DeleteKeyPair is idempotent");
}
