//! Public images (DescribeImages): a fixed catalogue of the families tools
//! look up by name, owner and architecture before they launch, the same in
//! every region but for the ids, which are derived from the region (an AMI
//! id is regional on AWS too). Images are facts of the region, like its
//! zones, not records: nothing creates or removes them.

use crate::describe::{DescribeQuery, known_filter, paginate};
use crate::error::{ApiError, ApiResult};
use crate::filter::{Filterable, Filters};
use crate::ids::{ImageId, SnapshotId};
use crate::model::LaunchImage;

/// The day the catalogue's deprecations are reckoned at. Fixed rather than
/// the clock's: a catalogue that can never change would otherwise deprecate
/// every image it has two years after its newest.
const AS_OF: &str = "2026-12-01T00:00:00.000Z";

/// What AWS sets on every public AMI: deprecated two years after creation.
const YEARS_TO_DEPRECATION: u32 = 2;

/// An architecture of the EC2 model and how a family spells it in names.
#[derive(Clone, Copy)]
struct Arch {
    ec2: &'static str,
    spelled: &'static str,
    boot_mode: Option<&'static str>,
}

const fn arch(ec2: &'static str, spelled: &'static str, boot_mode: Option<&'static str>) -> Arch {
    Arch { ec2, spelled, boot_mode }
}

/// One family of images: every version in every architecture.
struct Family {
    owner_id: &'static str,
    owner_alias: Option<&'static str>,
    /// `{version}` and `{arch}` (as the family spells it) are filled in.
    name: &'static str,
    description: &'static str,
    arches: &'static [Arch],
    /// Each version and when it was made, oldest first.
    versions: &'static [(&'static str, &'static str)],
    windows: bool,
    root_device_name: &'static str,
    volume_size: u32,
    volume_type: &'static str,
    imds_v2: bool,
}

const AMAZON: &str = "137112412989";
const AMAZON_WINDOWS: &str = "801119661308";
const CANONICAL: &str = "099720109477";
const DEBIAN: &str = "136693071363";
/// Fedora's Cloud SIG (the account of CentOS's CPE team), whose images
/// Ansible's amazon.aws integration tests launch.
const FEDORA: &str = "125523088429";

const UEFI: Option<&str> = Some("uefi");
const UEFI_PREFERRED: Option<&str> = Some("uefi-preferred");

const FAMILIES: &[Family] = &[
    Family {
        owner_id: AMAZON,
        owner_alias: Some("amazon"),
        name: "al2023-ami-{version}-kernel-6.1-{arch}",
        description: "Amazon Linux 2023 AMI {version} {arch} HVM kernel-6.1",
        arches: &[arch("x86_64", "x86_64", UEFI_PREFERRED), arch("arm64", "arm64", UEFI)],
        versions: &[
            ("2023.5.20240624.0", "2024-06-21T19:02:07.000Z"),
            ("2023.7.20250527.1", "2025-05-27T18:21:34.000Z"),
            ("2023.9.20261103.0", "2026-11-03T20:44:12.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/xvda",
        volume_size: 8,
        volume_type: "gp3",
        imds_v2: true,
    },
    Family {
        owner_id: AMAZON,
        owner_alias: Some("amazon"),
        name: "amzn2-ami-hvm-{version}-{arch}-gp2",
        description: "Amazon Linux 2 AMI {version} {arch} HVM gp2",
        arches: &[arch("x86_64", "x86_64", None), arch("arm64", "arm64", UEFI)],
        versions: &[
            ("2.0.20240620.0", "2024-06-19T23:11:40.000Z"),
            ("2.0.20250527.0", "2025-05-28T01:07:55.000Z"),
            ("2.0.20261102.0", "2026-11-03T00:15:29.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/xvda",
        volume_size: 8,
        volume_type: "gp2",
        imds_v2: false,
    },
    Family {
        owner_id: CANONICAL,
        owner_alias: None,
        name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-{version}",
        description: "Canonical, Ubuntu, 24.04, {arch} noble image",
        arches: &[arch("x86_64", "amd64", UEFI_PREFERRED), arch("arm64", "arm64", UEFI)],
        versions: &[
            ("20240701", "2024-07-01T08:37:26.000Z"),
            ("20250530", "2025-05-30T09:12:48.000Z"),
            ("20261104", "2026-11-04T07:58:03.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/sda1",
        volume_size: 8,
        volume_type: "gp3",
        imds_v2: false,
    },
    Family {
        owner_id: CANONICAL,
        owner_alias: None,
        name: "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{arch}-server-{version}",
        description: "Canonical, Ubuntu, 22.04 LTS, {arch} jammy image",
        arches: &[arch("x86_64", "amd64", None), arch("arm64", "arm64", UEFI)],
        versions: &[
            ("20240701", "2024-07-01T06:22:10.000Z"),
            ("20250516", "2025-05-16T05:48:31.000Z"),
            ("20261030", "2026-10-30T06:03:57.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/sda1",
        volume_size: 8,
        volume_type: "gp2",
        imds_v2: false,
    },
    Family {
        owner_id: DEBIAN,
        owner_alias: None,
        name: "debian-12-{arch}-{version}",
        description: "Debian 12 ({version})",
        arches: &[arch("x86_64", "amd64", None), arch("arm64", "arm64", UEFI)],
        versions: &[
            ("20240702-1796", "2024-07-02T02:55:41.000Z"),
            ("20250530-2128", "2025-05-30T22:41:09.000Z"),
            ("20261101-2310", "2026-11-01T23:31:52.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/xvda",
        volume_size: 8,
        volume_type: "gp2",
        imds_v2: false,
    },
    Family {
        owner_id: AMAZON_WINDOWS,
        owner_alias: Some("amazon"),
        name: "Windows_Server-2022-English-Full-Base-{version}",
        description: "Microsoft Windows Server 2022 Full Locale English AMI provided by Amazon",
        arches: &[arch("x86_64", "x86_64", None)],
        versions: &[
            ("2024.06.13", "2024-06-13T20:19:05.000Z"),
            ("2025.05.15", "2025-05-15T18:48:26.000Z"),
            ("2026.11.12", "2026-11-12T19:33:47.000Z"),
        ],
        windows: true,
        root_device_name: "/dev/sda1",
        volume_size: 30,
        volume_type: "gp2",
        imds_v2: false,
    },
    Family {
        owner_id: FEDORA,
        owner_alias: None,
        name: "Fedora-Cloud-Base-AmazonEC2.{arch}-{version}",
        description: "Fedora-Cloud-Base-AmazonEC2.{arch}-{version}",
        arches: &[arch("x86_64", "x86_64", None), arch("arm64", "aarch64", UEFI)],
        versions: &[
            ("40-1.14", "2024-04-16T06:36:19.000Z"),
            ("41-1.4", "2024-10-24T05:12:40.000Z"),
            ("42-1.1", "2025-04-09T04:50:11.000Z"),
            ("43-1.6", "2025-10-23T05:27:33.000Z"),
        ],
        windows: false,
        root_device_name: "/dev/sda1",
        volume_size: 5,
        volume_type: "gp3",
        imds_v2: false,
    },
];

/// One public image, as DescribeImages shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: ImageId,
    pub name: String,
    pub description: String,
    pub owner_id: &'static str,
    pub owner_alias: Option<&'static str>,
    pub architecture: &'static str,
    pub creation_date: &'static str,
    pub deprecation_time: String,
    /// `windows`, or none for Linux/UNIX.
    pub platform: Option<&'static str>,
    pub boot_mode: Option<&'static str>,
    pub imds_support: Option<&'static str>,
    pub root_device_name: &'static str,
    pub snapshot_id: SnapshotId,
    pub volume_size: u32,
    pub volume_type: &'static str,
}

pub const IMAGE_TYPE: &str = "machine";
pub const STATE: &str = "available";
pub const ROOT_DEVICE_TYPE: &str = "ebs";
pub const VIRTUALIZATION_TYPE: &str = "hvm";
pub const HYPERVISOR: &str = "xen";
pub const SRIOV_NET_SUPPORT: &str = "simple";

impl Image {
    /// `<owner alias or id>/<name>`, as EC2 writes an EBS-backed image's location.
    pub fn location(&self) -> String {
        format!("{}/{}", self.owner_alias.unwrap_or(self.owner_id), self.name)
    }

    pub fn launch_image(&self) -> LaunchImage {
        LaunchImage {
            architecture: self.architecture.to_owned(),
            root_device_name: self.root_device_name.to_owned(),
            windows: self.platform.is_some(),
        }
    }

    pub fn deprecated(&self) -> bool {
        self.deprecation_time.as_str() <= AS_OF
    }
}

/// EC2's `platformDetails` of an image and of the instances it launches.
pub fn platform_details(windows: bool) -> &'static str {
    if windows { "Windows" } else { "Linux/UNIX" }
}

/// The billing code of the platform (EC2's `usageOperation`).
pub fn usage_operation(windows: bool) -> &'static str {
    if windows { "RunInstances:0002" } else { "RunInstances" }
}

/// `creation` (ISO 8601) some years on.
fn years_later(creation: &str, years: u32) -> String {
    let (year, rest) = creation.split_at(4);
    let year: u32 = year.parse().expect("catalogue dates start with a year");
    format!("{}{rest}", year + years)
}

/// Every image of `region`, in id order (the listing's and pages' order).
pub fn catalogue(region: &str) -> Vec<Image> {
    let mut all = Vec::new();
    for family in FAMILIES {
        for arch in family.arches {
            for (version, creation_date) in family.versions {
                let fill = |template: &str| template.replace("{version}", version).replace("{arch}", arch.spelled);
                let name = fill(family.name);
                let seed = format!("{region}/{}/{name}", family.owner_id);
                all.push(Image {
                    id: ImageId::derived(&seed),
                    snapshot_id: SnapshotId::derived(&seed),
                    description: fill(family.description),
                    name,
                    owner_id: family.owner_id,
                    owner_alias: family.owner_alias,
                    architecture: arch.ec2,
                    creation_date,
                    deprecation_time: years_later(creation_date, YEARS_TO_DEPRECATION),
                    platform: family.windows.then_some("windows"),
                    boot_mode: arch.boot_mode,
                    imds_support: family.imds_v2.then_some("v2.0"),
                    root_device_name: family.root_device_name,
                    volume_size: family.volume_size,
                    volume_type: family.volume_type,
                });
            }
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

/// The catalogue image `id` of `region`, if it is one.
pub fn find(region: &str, id: &str) -> Option<Image> {
    catalogue(region).into_iter().find(|i| i.id.as_str() == id)
}

pub const FILTERS: &[&str] = &[
    "architecture",
    "block-device-mapping.delete-on-termination",
    "block-device-mapping.device-name",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size",
    "block-device-mapping.volume-type",
    "block-device-mapping.encrypted",
    "boot-mode",
    "creation-date",
    "description",
    "ena-support",
    "hypervisor",
    "image-id",
    "image-type",
    "is-public",
    "manifest-location",
    "name",
    "owner-alias",
    "owner-id",
    "platform",
    "root-device-name",
    "root-device-type",
    "sriov-net-support",
    "state",
    "virtualization-type",
];

/// Filters the EC2 model documents on what no catalogue image has: kernels,
/// product codes, scans, watermarks, SSM aliases, copies and state reasons.
pub const ABSENT: &[&str] = &[
    "free-tier-eligible",
    "image-allowed",
    "image-watermark.source-image-creation-time",
    "image-watermark.source-image-id",
    "image-watermark.source-image-region",
    "image-watermark.watermark-creation-time",
    "image-watermark.watermark-key",
    "instance-type-specification.supported-instance-type",
    "instance-type-specification.unsupported-instance-type",
    "kernel-id",
    "product-code",
    "product-code.type",
    "public-ssm-parameter-name",
    "ramdisk-id",
    "scan-result.critical-fix-available-since",
    "scan-result.finding-scan-date",
    "scan-result.high-fix-available-since",
    "scan-result.highest-finding-severity-label",
    "scan-result.informational-fix-available-since",
    "scan-result.low-fix-available-since",
    "scan-result.medium-fix-available-since",
    "source-image-id",
    "source-image-region",
    "source-instance-id",
    "state-reason-code",
    "state-reason-message",
];

impl Filterable for Image {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let one = |v: &str| vec![v.to_owned()];
        Some(match name {
            "architecture" => one(self.architecture),
            "block-device-mapping.delete-on-termination" => one("true"),
            "block-device-mapping.device-name" => one(self.root_device_name),
            "block-device-mapping.snapshot-id" => one(self.snapshot_id.as_str()),
            "block-device-mapping.volume-size" => vec![self.volume_size.to_string()],
            "block-device-mapping.volume-type" => one(self.volume_type),
            "block-device-mapping.encrypted" => one("false"),
            "boot-mode" => self.boot_mode.map(str::to_owned).into_iter().collect(),
            "creation-date" => one(self.creation_date),
            "description" => one(&self.description),
            "ena-support" => one("true"),
            "hypervisor" => one(HYPERVISOR),
            "image-id" => one(self.id.as_str()),
            "image-type" => one(IMAGE_TYPE),
            "is-public" => one("true"),
            "manifest-location" => vec![self.location()],
            "name" => one(&self.name),
            "owner-alias" => self.owner_alias.map(str::to_owned).into_iter().collect(),
            "owner-id" => one(self.owner_id),
            "platform" => self.platform.map(str::to_owned).into_iter().collect(),
            "root-device-name" => one(self.root_device_name),
            "root-device-type" => one(ROOT_DEVICE_TYPE),
            "sriov-net-support" => one(SRIOV_NET_SUPPORT),
            "state" => one(STATE),
            "virtualization-type" => one(VIRTUALIZATION_TYPE),
            // No image has tags, or any attribute of ABSENT.
            _ if known_filter(&[], name) || ABSENT.contains(&name) => Vec::new(),
            _ => return None,
        })
    }
}

/// Who `Owner.N` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The caller: no catalogue image is theirs.
    Caller,
    /// An owner alias: `amazon`, `aws-marketplace`, `aws-backup-vault`.
    Alias(String),
    Account(String),
}

/// Who `ExecutableBy.N` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executor {
    /// `all`: every public image.
    All,
    /// `self` or an account id: only images shared with it explicitly, and
    /// the catalogue's are public, not shared.
    Account,
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn invalid_user(s: &str) -> ApiError {
    ApiError::invalid_user_id_malformed(format!("Invalid user id: \"{s}\""))
}

pub fn owner(s: &str) -> ApiResult<Owner> {
    match s {
        "self" => Ok(Owner::Caller),
        "amazon" | "aws-marketplace" | "aws-backup-vault" => Ok(Owner::Alias(s.to_owned())),
        _ if is_account_id(s) => Ok(Owner::Account(s.to_owned())),
        _ => Err(invalid_user(s)),
    }
}

pub fn executor(s: &str) -> ApiResult<Executor> {
    match s {
        "all" => Ok(Executor::All),
        _ if s == "self" || is_account_id(s) => Ok(Executor::Account),
        _ => Err(invalid_user(s)),
    }
}

/// What DescribeImages asks besides the usual Describe* query.
#[derive(Debug, Clone, Default)]
pub struct ImageQuery {
    pub owners: Vec<Owner>,
    pub executable_by: Vec<Executor>,
    pub include_deprecated: bool,
}

/// The error for ids that are no image of the region, as EC2 writes it: the
/// ids in brackets.
fn not_found(missing: &[&ImageId]) -> ApiError {
    let ids: Vec<&str> = missing.iter().map(|i| i.as_str()).collect();
    ApiError::invalid_ami_id_not_found(format!("The image id '[{}]' does not exist", ids.join(", ")))
}

/// One page of `region`'s images. Ids asked for must all be images;
/// deprecated images show only when asked for by id or with
/// IncludeDeprecated, as on AWS.
pub fn describe_images(
    region: &str,
    query: &DescribeQuery<ImageId>,
    images: &ImageQuery,
) -> ApiResult<(Vec<Image>, Option<String>)> {
    let all = catalogue(region);
    let missing: Vec<&ImageId> = query.ids.iter().filter(|id| !all.iter().any(|i| &i.id == *id)).collect();
    if !missing.is_empty() {
        return Err(not_found(&missing));
    }
    let filters = Filters::new(&query.filters, |n| known_filter(FILTERS, n) || ABSENT.contains(&n))?;
    let owned = |i: &Image| {
        images.owners.is_empty()
            || images.owners.iter().any(|o| match o {
                Owner::Caller => false,
                Owner::Alias(alias) => i.owner_alias == Some(alias.as_str()),
                Owner::Account(id) => i.owner_id == id,
            })
    };
    let executable = images.executable_by.is_empty() || images.executable_by.contains(&Executor::All);
    let found: Vec<Image> = all
        .into_iter()
        .filter(|i| {
            if query.ids.is_empty() { images.include_deprecated || !i.deprecated() } else { query.ids.contains(&i.id) }
        })
        .filter(|i| owned(i) && executable && filters.matches(i))
        .collect();
    paginate(found, |i| i.id.to_string(), query.next_token.as_deref(), query.max_results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Filter, glob_match};
    use std::collections::HashSet;

    fn query(filters: &[(&str, &str)]) -> DescribeQuery<ImageId> {
        DescribeQuery {
            ids: Vec::new(),
            filters: filters
                .iter()
                .map(|(n, v)| Filter { name: (*n).into(), values: vec![(*v).into()], documented: true })
                .collect(),
            max_results: None,
            next_token: None,
        }
    }

    #[test]
    fn ids_are_unique_within_a_region_and_differ_across_regions() {
        let east = catalogue("us-east-1");
        let ids: HashSet<&str> = east.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), east.len());
        let snapshots: HashSet<&str> = east.iter().map(|i| i.snapshot_id.as_str()).collect();
        assert_eq!(snapshots.len(), east.len());
        let west = catalogue("eu-west-1");
        assert!(west.iter().all(|i| !ids.contains(i.id.as_str())));
        assert_eq!(catalogue("us-east-1"), east, "derived, so stable");
        assert!(east.iter().all(|i| i.id.as_str().len() == "ami-".len() + 17));
    }

    /// Each family (by its name template) and the pattern tools search it by.
    const PATTERNS: &[(&str, &str)] = &[
        ("al2023-ami-{version}-kernel-6.1-{arch}", "al2023-ami-2023.*-kernel-6.1-*"),
        ("amzn2-ami-hvm-{version}-{arch}-gp2", "amzn2-ami-hvm-2.0.*-*-gp2"),
        (
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-{version}",
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-*-server-*",
        ),
        (
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{arch}-server-{version}",
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-*-server-*",
        ),
        ("debian-12-{arch}-{version}", "debian-12-*-*"),
        ("Windows_Server-2022-English-Full-Base-{version}", "Windows_Server-2022-English-Full-Base-*"),
        ("Fedora-Cloud-Base-AmazonEC2.{arch}-{version}", "Fedora-Cloud-Base-*.*-4*"),
    ];

    fn pattern(family: &Family) -> &'static str {
        PATTERNS.iter().find(|(name, _)| *name == family.name).expect("every family has its pattern").1
    }

    #[test]
    fn names_follow_their_familys_pattern() {
        for family in FAMILIES {
            for arch in family.arches {
                for (version, _) in family.versions {
                    let name = family.name.replace("{version}", version).replace("{arch}", arch.spelled);
                    assert!(glob_match(pattern(family), &name), "{name} !~ {}", pattern(family));
                }
            }
        }
        // What Ansible's amazon.aws tests search for (setup_ec2_facts).
        let fedora = describe_images(
            "us-east-1",
            &query(&[("name", "Fedora-Cloud-Base-*.x86_64-4*"), ("owner-id", FEDORA), ("architecture", "x86_64")]),
            &ImageQuery::default(),
        )
        .unwrap()
        .0;
        assert!(fedora.len() >= 2, "{fedora:?}");
    }

    #[test]
    fn every_region_has_every_family_in_every_architecture() {
        for region in ["us-east-1", "eu-central-1", "xx-test-1"] {
            let images = catalogue(region);
            for family in FAMILIES {
                for arch in family.arches {
                    let count = images
                        .iter()
                        .filter(|i| i.owner_id == family.owner_id && i.architecture == arch.ec2)
                        .filter(|i| glob_match(pattern(family), &i.name))
                        .count();
                    assert!(count >= family.versions.len(), "{region} {} {}", family.name, arch.ec2);
                }
            }
        }
    }

    #[test]
    fn deprecated_images_show_when_asked_for() {
        let all = catalogue("us-east-1");
        let old = all.iter().find(|i| i.deprecated()).expect("the oldest versions are deprecated");
        let latest = describe_images("us-east-1", &query(&[]), &ImageQuery::default()).unwrap().0;
        assert!(!latest.contains(old) && latest.iter().all(|i| !i.deprecated()));
        let with = ImageQuery { include_deprecated: true, ..ImageQuery::default() };
        assert_eq!(describe_images("us-east-1", &query(&[]), &with).unwrap().0.len(), all.len());
        let by_id = DescribeQuery { ids: vec![old.id.clone()], ..query(&[]) };
        assert_eq!(describe_images("us-east-1", &by_id, &ImageQuery::default()).unwrap().0, vec![old.clone()]);
        assert_eq!(years_later("2024-06-21T19:02:07.000Z", 2), "2026-06-21T19:02:07.000Z");
    }

    #[test]
    fn owners_and_unknown_ids() {
        let amazon = ImageQuery { owners: vec![owner("amazon").unwrap()], ..ImageQuery::default() };
        let found = describe_images("us-east-1", &query(&[]), &amazon).unwrap().0;
        assert!(!found.is_empty() && found.iter().all(|i| i.owner_alias == Some("amazon")));
        let mine = ImageQuery { owners: vec![owner("self").unwrap()], ..ImageQuery::default() };
        assert!(describe_images("us-east-1", &query(&[]), &mine).unwrap().0.is_empty());
        assert_eq!(owner("nobody").unwrap_err().code, "InvalidUserID.Malformed");
        let missing = ImageId::parse("ami-0123456789abcdef0").unwrap();
        let e =
            describe_images("us-east-1", &DescribeQuery { ids: vec![missing], ..query(&[]) }, &ImageQuery::default())
                .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("InvalidAMIID.NotFound", "The image id '[ami-0123456789abcdef0]' does not exist")
        );
    }
}
