//! DescribeImages' catalogue through the Rust SDK, and an instance launched
//! from one of its images.

use aws_sdk_ec2::types::{ArchitectureValues, DeviceType, Filter, ImageState, VolumeType};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_catalogue_image_launches_an_instance_like_it() {
    let acct = Account::new();
    let ec2 = &acct.ec2;
    let name = Filter::builder().name("name").values("al2023-ami-2023.*-kernel-6.1-arm64").build();
    let out = ec2.describe_images().owners("amazon").filters(name).send().await.expect("DescribeImages");
    assert!(out.images().len() >= 2, "several versions: {:?}", out.images());
    let image = out.images().iter().max_by_key(|i| i.creation_date().unwrap_or_default()).expect("an image");
    assert_eq!(image.architecture(), Some(&ArchitectureValues::Arm64));
    assert_eq!(image.state(), Some(&ImageState::Available));
    assert_eq!(image.owner_id(), Some("137112412989"));
    assert_eq!(image.root_device_type(), Some(&DeviceType::Ebs));
    assert_eq!(image.public(), Some(true));
    let root = &image.block_device_mappings()[0];
    assert_eq!(root.device_name(), image.root_device_name());
    let ebs = root.ebs().expect("an EBS root");
    assert_eq!((ebs.volume_size(), ebs.volume_type()), (Some(8), Some(&VolumeType::Gp3)));
    assert!(ebs.snapshot_id().is_some_and(|s| s.starts_with("snap-")));

    let id = image.image_id().expect("id");
    let run = ec2.run_instances().image_id(id).min_count(1).max_count(1).send().await.expect("RunInstances");
    let inst = &run.instances()[0];
    assert_eq!(inst.architecture(), Some(&ArchitectureValues::Arm64));
    assert_eq!(inst.root_device_name(), image.root_device_name());
    assert_eq!(inst.platform_details(), Some("Linux/UNIX"));

    let f = failure(ec2.describe_images().image_ids("ami-0123456789abcdef0").send().await);
    assert_failure(&f, 400, "InvalidAMIID.NotFound");
    let f = failure(ec2.describe_images().image_ids("ami-nothex").send().await);
    assert_failure(&f, 400, "InvalidAMIID.Malformed");
}
