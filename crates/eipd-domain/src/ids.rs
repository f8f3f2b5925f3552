//! Typed resource identifiers: `eipalloc-…`, `eipassoc-…`, `i-…`, `eni-…`, …
//!
//! An id is valid when it is its prefix followed by hex digits (AWS issues 8
//! or 17; both are accepted). New ids get 17 lowercase hex digits.

use std::fmt;

use arrayvec::ArrayString;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The longest id: the longest prefix (`subnet-cidr-assoc-`) and 17 digits.
const MAX_ID_LEN: usize = 35;

/// Ids are stored inline rather than behind a pointer: the in-memory maps
/// compare and copy millions of them, and an inline id costs no allocation,
/// no pointer chase in a comparison and no reference count when a map node
/// is copied on write.
type IdString = ArrayString<MAX_ID_LEN>;

fn id_string(s: &str) -> IdString {
    IdString::from(s).expect("ids are validated to fit")
}

macro_rules! resource_id {
    ($(#[$doc:meta] $name:ident => $prefix:literal),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(IdString);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Parses an id of this kind; `None` when it is not `PREFIX` + hex.
            pub fn parse(s: &str) -> Option<Self> {
                is_hex_id(s, $prefix).then(|| Self(id_string(s)))
            }

            /// A new random id.
            pub fn generate() -> Self {
                Self(id_string(&random_id($prefix)))
            }

            /// A stable id derived from a seed (the default VPC of an account).
            pub fn derived(seed: &str) -> Self {
                Self(id_string(&derived_id($prefix, seed)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

resource_id! {
    /// An Elastic IP allocation.
    AllocationId => "eipalloc-",
    /// One association of an Elastic IP with a private IPv4 of an interface.
    AssociationId => "eipassoc-",
    /// An EC2 instance.
    InstanceId => "i-",
    /// A network interface.
    NetworkInterfaceId => "eni-",
    /// The attachment of an interface to an instance.
    AttachmentId => "eni-attach-",
    /// A VPC.
    VpcId => "vpc-",
    /// A subnet.
    SubnetId => "subnet-",
    /// An internet gateway.
    InternetGatewayId => "igw-",
    /// A reservation (one RunInstances call).
    ReservationId => "r-",
    /// A VPC or subnet CIDR block association.
    CidrAssociationId => "vpc-cidr-assoc-",
    /// A subnet CIDR block association.
    SubnetCidrAssociationId => "subnet-cidr-assoc-",
    /// A security group.
    SecurityGroupId => "sg-",
    /// One rule of a security group.
    SecurityGroupRuleId => "sgr-",
    /// A route table.
    RouteTableId => "rtb-",
    /// The association of a route table with a subnet, a gateway, or its VPC (main).
    RouteTableAssociationId => "rtbassoc-",
    /// A NAT gateway.
    NatGatewayId => "nat-",
    /// A key pair.
    KeyPairId => "key-",
    /// An image (AMI).
    ImageId => "ami-",
    /// An EBS snapshot (an image's root volume).
    SnapshotId => "snap-",
    /// A DHCP options set.
    DhcpOptionsId => "dopt-",
}

fn is_hex_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn random_id(prefix: &str) -> String {
    let n: u128 = rand::rng().random::<u128>() & ((1u128 << 68) - 1);
    format!("{prefix}{n:017x}")
}

/// FNV-1a's offset basis: where `fnv1a` starts.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `state` (`FNV_OFFSET` to start):
/// a hash that is the same across runs, machines and builds, which std's
/// hasher is not, for what eipd derives instead of drawing at random.
pub fn fnv1a(state: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(state, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn derived_id(prefix: &str, seed: &str) -> String {
    // FNV-1a over the seed, twice with different offsets for 68 bits: stable
    // across runs and machines, which a random id would not be.
    let hash = |offset: u64| fnv1a(offset, seed.bytes());
    let n = (u128::from(hash(FNV_OFFSET)) << 4) ^ u128::from(hash(0x84222325cbf29ce4) & 0xf);
    format!("{prefix}{:017x}", n & ((1u128 << 68) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_17_hex_digits() {
        let id = AllocationId::generate();
        assert!(id.as_str().starts_with("eipalloc-"));
        assert_eq!(id.as_str().len(), "eipalloc-".len() + 17);
        assert!(AllocationId::parse(id.as_str()).is_some());
    }

    #[test]
    fn parse_checks_prefix_and_hex() {
        assert!(AssociationId::parse("eipassoc-2bebb745").is_some());
        assert!(AssociationId::parse("eipassoc-xyz").is_none());
        assert!(AssociationId::parse("eipalloc-2bebb745").is_none());
        assert!(AssociationId::parse("eipassoc-").is_none());
        assert!(AssociationId::parse("eipassoc-0123456789abcdef01").is_none());
        assert!(NetworkInterfaceId::parse("eni-attach-0123abcd").is_none());
        assert!(AttachmentId::parse("eni-attach-0123abcd").is_some());
    }

    #[test]
    fn the_longest_id_fits() {
        let id = SubnetCidrAssociationId::generate();
        assert_eq!(id.as_str().len(), MAX_ID_LEN);
        assert!(SubnetCidrAssociationId::parse(id.as_str()).is_some());
    }

    #[test]
    fn ids_order_as_their_text() {
        let mut ids: Vec<_> = ["eipalloc-0123abcd", "eipalloc-0123abcd0", "eipalloc-0123abcc7", "eipalloc-ffffffff"]
            .into_iter()
            .map(|s| AllocationId::parse(s).expect("valid"))
            .collect();
        ids.sort();
        let text: Vec<&str> = ids.iter().map(AllocationId::as_str).collect();
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(text, sorted);
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(VpcId::derived("a"), VpcId::derived("a"));
        assert_ne!(VpcId::derived("a"), VpcId::derived("b"));
        assert!(VpcId::parse(VpcId::derived("x").as_str()).is_some());
    }
}
