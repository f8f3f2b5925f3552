//! Typed resource identifiers: `eipalloc-…`, `eipassoc-…`, `i-…`, `eni-…`, …
//!
//! An id is valid when it is its prefix followed by hex digits (AWS issues 8
//! or 17; both are accepted). New ids get 17 lowercase hex digits.

use std::fmt;
use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};

macro_rules! resource_id {
    ($(#[$doc:meta] $name:ident => $prefix:literal),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Parses an id of this kind; `None` when it is not `PREFIX` + hex.
            pub fn parse(s: &str) -> Option<Self> {
                is_hex_id(s, $prefix).then(|| Self(Arc::from(s)))
            }

            /// A new random id.
            pub fn generate() -> Self {
                Self(Arc::from(random_id($prefix)))
            }

            /// A stable id derived from a seed (the default VPC of an account).
            pub fn derived(seed: &str) -> Self {
                Self(Arc::from(derived_id($prefix, seed)))
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
}

fn is_hex_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn random_id(prefix: &str) -> String {
    let n: u128 = rand::rng().random::<u128>() & ((1u128 << 68) - 1);
    format!("{prefix}{n:017x}")
}

fn derived_id(prefix: &str, seed: &str) -> String {
    // FNV-1a over the seed, twice with different offsets for 68 bits: stable
    // across runs and machines, which a random id would not be.
    let hash = |offset: u64| seed.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let n = (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 4) ^ u128::from(hash(0x84222325cbf29ce4) & 0xf);
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
    fn derived_ids_are_stable() {
        assert_eq!(VpcId::derived("a"), VpcId::derived("a"));
        assert_ne!(VpcId::derived("a"), VpcId::derived("b"));
        assert!(VpcId::parse(VpcId::derived("x").as_str()).is_some());
    }
}
