//! What is derived from the records when read: an interface's public IPv4
//! addresses, an instance's public IP, DNS names.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::model::*;
use super::state::Partition;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A public IPv4 on one private IPv4 of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicIpv4<'a> {
    pub public_ip: Ipv4Addr,
    pub private_ip: Ipv4Addr,
    /// The Elastic IP, or `None` for an auto-assigned public IP.
    pub elastic: Option<&'a Address>,
}

impl Partition {
    /// The interface's public IPv4 addresses, in the order of its private IPs:
    /// the Elastic IPs on its private IPs, and the auto-assigned one on the
    /// primary private IP when no Elastic IP is there (D3).
    pub fn public_ipv4s<'a>(&'a self, eni: &NetworkInterface) -> Vec<PublicIpv4<'a>> {
        let mut out = Vec::new();
        for (i, private_ip) in eni.private_ips.iter().enumerate() {
            if let Some(address) = self.address_on(&eni.id, *private_ip) {
                out.push(PublicIpv4 { public_ip: address.public_ip, private_ip: *private_ip, elastic: Some(address) });
            } else if i == 0
                && let Some(ip) = eni.auto_public_ip
            {
                out.push(PublicIpv4 { public_ip: ip, private_ip: *private_ip, elastic: None });
            }
        }
        out
    }

    /// The public IPv4 on the interface's primary private IPv4 (D3).
    pub fn primary_public_ipv4<'a>(&'a self, eni: &NetworkInterface) -> Option<PublicIpv4<'a>> {
        self.public_ipv4s(eni).into_iter().find(|p| p.private_ip == eni.primary_private_ip())
    }

    /// The public IPv4 on one private IP of an interface.
    pub fn public_ipv4_on<'a>(&'a self, eni: &NetworkInterface, private_ip: Ipv4Addr) -> Option<PublicIpv4<'a>> {
        self.public_ipv4s(eni).into_iter().find(|p| p.private_ip == private_ip)
    }

    /// An instance's primary interface (device index 0).
    pub fn primary_interface(&self, instance: &Instance) -> Option<&NetworkInterface> {
        self.interfaces_of(&instance.id)
            .into_iter()
            .find(|n| n.attachment.as_ref().is_some_and(|a| a.device_index == 0))
    }

    /// Whether public DNS hostnames are given in the interface's VPC.
    pub fn dns_hostnames_enabled(&self, eni: &NetworkInterface) -> bool {
        self.vpc(&eni.vpc_id).is_some_and(|v| v.enable_dns_hostnames)
    }

    /// The interface's public hostname options (ModifyPublicIpDnsNameOptions).
    pub fn dns_name_options(&self, eni: &NetworkInterface, region: &str) -> PublicDnsNames {
        let public_ip = self.primary_public_ipv4(eni).map(|p| p.public_ip);
        let ipv6 = eni.ipv6_addresses.first().copied();
        let enabled = self.dns_hostnames_enabled(eni);
        let ipv4_name = public_ip.filter(|_| enabled).map(|ip| public_dns_name(ip, region));
        let ipv6_name = ipv6.filter(|_| enabled).map(|ip| public_ipv6_dns_name(ip, region));
        let dual_stack_name = match (public_ip, ipv6) {
            (Some(v4), Some(_)) if enabled => Some(public_dual_stack_dns_name(v4, region)),
            _ => None,
        };
        PublicDnsNames { hostname_type: eni.hostname_type, ipv4_name, ipv6_name, dual_stack_name }
    }
}

/// An interface's public DNS names and the chosen hostname type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicDnsNames {
    pub hostname_type: Option<HostnameType>,
    pub ipv4_name: Option<String>,
    pub ipv6_name: Option<String>,
    pub dual_stack_name: Option<String>,
}

impl PublicDnsNames {
    /// Whether the interface "has a publicDualStackDnsName" in the sense of
    /// the DisassociateAddress contract: its hostname type is dual-stack and
    /// the name exists.
    pub fn has_public_dual_stack_name(&self) -> bool {
        self.hostname_type == Some(HostnameType::PublicDualStackDnsName) && self.dual_stack_name.is_some()
    }
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

/// `ec2-198-18-0-1.compute-1.amazonaws.com` in us-east-1,
/// `ec2-198-18-0-1.REGION.compute.amazonaws.com` elsewhere.
pub fn public_dns_name(ip: Ipv4Addr, region: &str) -> String {
    if region == "us-east-1" {
        format!("ec2-{}.compute-1.amazonaws.com", dashed(ip))
    } else {
        format!("ec2-{}.{region}.compute.amazonaws.com", dashed(ip))
    }
}

/// Who owns a public IPv4 as EC2 shows it (`ipOwnerId`): the account for an
/// Elastic IP, `amazon` for an auto-assigned one.
pub fn ip_owner<'a>(p: &PublicIpv4, account: &'a str) -> &'a str {
    if p.elastic.is_some() { account } else { "amazon" }
}

/// EC2's timestamp form: `2026-11-25T13:41:43.000Z` (answers and filters
/// on times show the same text).
pub fn timestamp(secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let s = t.format(&Rfc3339).unwrap_or_default();
    // Rfc3339 gives `…:43Z`; EC2 writes milliseconds.
    s.trim_end_matches('Z').to_owned() + ".000Z"
}

/// `ip-10-0-0-5.ec2.internal` in us-east-1, `ip-10-0-0-5.REGION.compute.internal` elsewhere.
pub fn private_dns_name(ip: Ipv4Addr, region: &str) -> String {
    if region == "us-east-1" {
        format!("ip-{}.ec2.internal", dashed(ip))
    } else {
        format!("ip-{}.{region}.compute.internal", dashed(ip))
    }
}

/// The dual-stack public hostname (see docs/compatibility.md for the form).
pub fn public_dual_stack_dns_name(ip: Ipv4Addr, region: &str) -> String {
    format!("ec2-{}.{region}.api.aws", dashed(ip))
}

/// The IPv6 public hostname (see docs/compatibility.md for the form).
pub fn public_ipv6_dns_name(ip: Ipv6Addr, region: &str) -> String {
    let segments: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
    format!("ec2-{}.{region}.ip6.api.aws", segments.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_follow_the_region() {
        let ip: Ipv4Addr = "198.18.0.1".parse().unwrap();
        assert_eq!(public_dns_name(ip, "us-east-1"), "ec2-198-18-0-1.compute-1.amazonaws.com");
        assert_eq!(public_dns_name(ip, "eu-west-1"), "ec2-198-18-0-1.eu-west-1.compute.amazonaws.com");
        assert_eq!(private_dns_name("10.0.0.5".parse().unwrap(), "us-east-1"), "ip-10-0-0-5.ec2.internal");
        assert_eq!(
            private_dns_name("10.0.0.5".parse().unwrap(), "us-west-2"),
            "ip-10-0-0-5.us-west-2.compute.internal"
        );
    }
}
