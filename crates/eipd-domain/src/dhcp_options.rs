//! DHCP options sets: what a VPC's DHCP server hands its instances (domain
//! name, DNS, NTP and NetBIOS servers). Each account has a default set per
//! region, which new VPCs use; a VPC may use another set or none
//! (`default`).

use std::net::{IpAddr, Ipv4Addr};

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::state::{Partition, Record, RecordKey, Tx};
use crate::vpcs::vpc;

/// The DNS servers EC2 runs in every VPC, as the option sets name them.
pub const AMAZON_PROVIDED_DNS: &str = "AmazonProvidedDNS";
/// At most this many servers of one kind (EC2's documented limit; NTP
/// servers may be this many IPv4 and this many IPv6 ones).
pub const MAX_SERVERS: usize = 4;
/// The DHCPv6 lease time EC2 takes, in seconds.
const LEASE_TIME_SECS: std::ops::RangeInclusive<u64> = 140..=2_147_483_647;
/// The keys EC2 takes, in the order its documentation lists them.
const KEYS: [&str; 6] = [
    "domain-name",
    "domain-name-servers",
    "ntp-servers",
    "netbios-name-servers",
    "netbios-node-type",
    "ipv6-address-preferred-lease-time",
];

/// The id of the account's default set in the scope's region: derived as
/// the default VPC's is, so reads before the first write see the same one.
fn default_id(scope: &Scope) -> DhcpOptionsId {
    DhcpOptionsId::derived(&format!("{}/{}/dopt", scope.account, scope.region))
}

/// The default set AWS gives an account in a region: its domain name
/// (`ec2.internal` in us-east-1, `REGION.compute.internal` elsewhere) and
/// the Amazon-provided DNS.
pub fn default_dhcp_options(scope: &Scope) -> DhcpOptions {
    let domain = match &*scope.region {
        "us-east-1" => "ec2.internal".to_owned(),
        region => format!("{region}.compute.internal"),
    };
    DhcpOptions {
        id: default_id(scope),
        configurations: vec![
            DhcpConfiguration { key: "domain-name".into(), values: vec![domain] },
            DhcpConfiguration { key: "domain-name-servers".into(), values: vec![AMAZON_PROVIDED_DNS.into()] },
        ],
        tags: Tags::new(),
    }
}

/// The set a new VPC uses: the account's default one while it exists
/// (once deleted, new VPCs have none: `default`).
pub fn set_for_new_vpc(part: &Partition, scope: &Scope) -> Option<DhcpOptionsId> {
    let id = default_id(scope);
    part.dhcp_options(&id).is_some().then_some(id)
}

pub fn dhcp_options<'a>(part: &'a Partition, id: &DhcpOptionsId) -> ApiResult<&'a DhcpOptions> {
    part.dhcp_options(id).ok_or_else(|| ApiError::invalid_dhcp_option_id_not_found(id.as_str()))
}

fn invalid_value(value: &str, why: &str) -> ApiError {
    ApiError::invalid_parameter_value(format!("Value ({value}) for parameter value is invalid. {why}"))
}

/// Server lists: a value may hold several, separated by commas (EC2 splits
/// them, as its documentation says for the DNS servers).
fn servers(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

fn single<'a>(key: &str, values: &'a [String]) -> ApiResult<&'a str> {
    match values {
        [one] => Ok(one.trim()),
        _ => Err(ApiError::invalid_parameter_value(format!(
            "Value ({}) for parameter value is invalid. The option {key} takes one value.",
            values.join(",")
        ))),
    }
}

fn at_most(key: &str, what: &str, found: &[String]) -> ApiResult<()> {
    if found.len() > MAX_SERVERS {
        return Err(invalid_value(&found.join(","), &format!("The option {key} takes at most {MAX_SERVERS} {what}.")));
    }
    Ok(())
}

/// One option of CreateDhcpOptions, checked as EC2 checks it; its values
/// as they are kept.
fn configuration(key: &str, values: &[String]) -> ApiResult<Vec<String>> {
    let ip = |v: &String| v.parse::<IpAddr>().map_err(|_| invalid_value(v, "Expected an IP address."));
    match key {
        "domain-name" => {
            let name = single(key, values)?;
            if name.is_empty() || name.len() > 255 {
                return Err(invalid_value(name, "A domain name is 1 to 255 characters."));
            }
            Ok(vec![name.to_owned()])
        }
        "domain-name-servers" => {
            let found = servers(values);
            for v in &found {
                if v != AMAZON_PROVIDED_DNS {
                    ip(v)?;
                }
            }
            at_most(key, "servers", &found)?;
            Ok(found)
        }
        "ntp-servers" => {
            let found = servers(values);
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            for v in &found {
                match ip(v)? {
                    IpAddr::V4(_) => v4.push(v.clone()),
                    IpAddr::V6(_) => v6.push(v.clone()),
                }
            }
            at_most(key, "IPv4 servers", &v4)?;
            at_most(key, "IPv6 servers", &v6)?;
            Ok(found)
        }
        "netbios-name-servers" => {
            let found = servers(values);
            for v in &found {
                v.parse::<Ipv4Addr>().map_err(|_| invalid_value(v, "Expected an IPv4 address."))?;
            }
            at_most(key, "servers", &found)?;
            Ok(found)
        }
        "netbios-node-type" => {
            let node_type = single(key, values)?;
            if !matches!(node_type, "1" | "2" | "4" | "8") {
                return Err(invalid_value(node_type, "The NetBIOS node type is one of 1, 2, 4 or 8."));
            }
            Ok(vec![node_type.to_owned()])
        }
        "ipv6-address-preferred-lease-time" => {
            let secs = single(key, values)?;
            if !secs.parse::<u64>().is_ok_and(|s| LEASE_TIME_SECS.contains(&s)) {
                return Err(invalid_value(
                    secs,
                    &format!("The lease time is {} to {} seconds.", LEASE_TIME_SECS.start(), LEASE_TIME_SECS.end()),
                ));
            }
            Ok(vec![secs.to_owned()])
        }
        _ => Err(ApiError::invalid_parameter_value(format!(
            "Value ({key}) for parameter key is invalid. Expected one of: {}.",
            KEYS.join(", ")
        ))),
    }
}

/// CreateDhcpOptions' `DhcpConfiguration.N` (key, values), checked: known
/// keys, each once, each with a valid value.
pub fn configurations(given: Vec<(String, Vec<String>)>) -> ApiResult<Vec<DhcpConfiguration>> {
    if given.is_empty() {
        return Err(ApiError::missing("DhcpConfiguration"));
    }
    let mut out: Vec<DhcpConfiguration> = Vec::with_capacity(given.len());
    for (key, values) in given {
        if values.is_empty() {
            return Err(ApiError::missing_parameter(format!("The option {key} has no value")));
        }
        let values = configuration(&key, &values)?;
        if out.iter().any(|c| c.key == key) {
            return Err(ApiError::invalid_parameter_value(format!("The option {key} is given more than once.")));
        }
        out.push(DhcpConfiguration { key, values });
    }
    Ok(out)
}

pub fn create_dhcp_options(tx: &mut Tx, configurations: Vec<DhcpConfiguration>, tags: Tags) -> DhcpOptions {
    let set = DhcpOptions { id: DhcpOptionsId::generate(), configurations, tags };
    tx.put(Record::DhcpOptions(set.clone()));
    set
}

/// Has the VPC use the set, or none (`None`: EC2's `default`).
pub fn associate_dhcp_options(tx: &mut Tx, set: Option<&DhcpOptionsId>, vpc_id: &VpcId) -> ApiResult<()> {
    if let Some(set) = set {
        dhcp_options(tx.part(), set)?;
    }
    let mut vpc = vpc(tx.part(), vpc_id)?.clone();
    vpc.dhcp_options_id = set.cloned();
    tx.put(Record::Vpc(vpc));
    Ok(())
}

/// Refused while a VPC uses the set; the default set too may go once no VPC
/// uses it.
pub fn delete_dhcp_options(tx: &mut Tx, id: &DhcpOptionsId) -> ApiResult<()> {
    dhcp_options(tx.part(), id)?;
    if tx.part().vpcs().any(|v| v.dhcp_options_id.as_ref() == Some(id)) {
        return Err(ApiError::dependency_violation(format!(
            "The dhcpOptions '{id}' has dependencies and cannot be deleted."
        )));
    }
    tx.delete(RecordKey::DhcpOptions(id.clone()));
    Ok(())
}

impl Described for DhcpOptions {
    type Id = DhcpOptionsId;
    const FILTERS: &'static [&'static str] = &["dhcp-options-id", "key", "value", "owner-id"];

    fn all(part: &Partition) -> Vec<&Self> {
        part.all_dhcp_options().collect()
    }

    fn get<'p>(part: &'p Partition, id: &DhcpOptionsId) -> Option<&'p Self> {
        part.dhcp_options(id)
    }

    fn id(&self) -> &DhcpOptionsId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&DhcpOptionsId]) -> ApiError {
        ApiError::invalid_dhcp_option_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, _: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        match name {
            "dhcp-options-id" => vec![self.id.to_string()],
            "key" => self.configurations.iter().map(|c| c.key.clone()).collect(),
            "value" => self.configurations.iter().flat_map(|c| c.values.iter().cloned()).collect(),
            "owner-id" => vec![scope.account.to_string()],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{World, world_tx};

    fn given(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs.iter().map(|(k, vs)| ((*k).to_owned(), vs.iter().map(|v| (*v).to_owned()).collect())).collect()
    }

    #[test]
    fn the_default_set_names_the_regions_domain() {
        let east = default_dhcp_options(&Scope::new("123456789012", "us-east-1"));
        assert_eq!(east.configurations[0].values, vec!["ec2.internal"]);
        assert_eq!(east.configurations[1].values, vec![AMAZON_PROVIDED_DNS]);
        let west = default_dhcp_options(&Scope::new("123456789012", "eu-west-1"));
        assert_eq!(west.configurations[0].values, vec!["eu-west-1.compute.internal"]);
        assert_ne!(east.id, west.id, "one default set per region");
        assert!(DhcpOptionsId::parse(east.id.as_str()).is_some());
        assert_eq!(east.id.as_str().len(), "dopt-".len() + 17);
    }

    #[test]
    fn options_are_checked_as_ec2_checks_them() {
        let ok = configurations(given(&[
            ("domain-name", &["example.com"]),
            ("domain-name-servers", &["10.0.0.2,AmazonProvidedDNS"]),
            ("ntp-servers", &["10.0.0.3", "fd00::3"]),
            ("netbios-name-servers", &["10.0.0.4"]),
            ("netbios-node-type", &["2"]),
            ("ipv6-address-preferred-lease-time", &["140"]),
        ]))
        .unwrap();
        assert_eq!(ok[1].values, vec!["10.0.0.2", AMAZON_PROVIDED_DNS], "commas separate servers");
        let refused = |pairs: &[(&str, &[&str])]| configurations(given(pairs)).unwrap_err();
        assert_eq!(refused(&[("router", &["10.0.0.1"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("netbios-node-type", &["3"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("domain-name-servers", &["a", "b"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("netbios-name-servers", &["fd00::1"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("ipv6-address-preferred-lease-time", &["139"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("domain-name", &["a.com", "b.com"])]).code, "InvalidParameterValue");
        let five = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
        assert_eq!(refused(&[("domain-name-servers", &five)]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("ntp-servers", &five)]).code, "InvalidParameterValue");
        assert!(
            configurations(given(&[("ntp-servers", &["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "fd00::1"])]))
                .is_ok()
        );
        assert_eq!(refused(&[("domain-name", &["a"]), ("domain-name", &["b"])]).code, "InvalidParameterValue");
        assert_eq!(refused(&[("domain-name", &[])]).code, "MissingParameter");
        assert_eq!(refused(&[]).code, "MissingParameter");
    }

    #[test]
    fn new_vpcs_use_the_default_set_until_it_is_deleted() {
        let mut world = World::default();
        let scope = Scope::new("123456789012", "us-east-1");
        let default = default_id(&scope);
        world_tx(&mut world, |tx| {
            let vpc = tx.part().default_vpc().unwrap().clone();
            assert_eq!(vpc.dhcp_options_id.as_ref(), Some(&default));
            assert_eq!(set_for_new_vpc(tx.part(), &scope), Some(default.clone()));
            let err = delete_dhcp_options(tx, &default).unwrap_err();
            assert_eq!(err.code, "DependencyViolation");
            let vpc_id = vpc.id;
            associate_dhcp_options(tx, None, &vpc_id).unwrap();
            assert_eq!(tx.part().vpc(&vpc_id).unwrap().dhcp_options_id, None);
            delete_dhcp_options(tx, &default).unwrap();
            assert_eq!(set_for_new_vpc(tx.part(), &scope), None);
            let missing = delete_dhcp_options(tx, &default).unwrap_err();
            assert_eq!(missing.code, "InvalidDhcpOptionID.NotFound");
            assert_eq!(associate_dhcp_options(tx, Some(&default), &vpc_id).unwrap_err().code, missing.code);
        });
    }

    #[test]
    fn a_vpc_record_without_a_set_loads_as_default() {
        let scope = Scope::new("123456789012", "us-east-1");
        let part = Partition::with_defaults(&scope);
        let Some(Record::Vpc(vpc)) = part.record(&RecordKey::Vpc(part.default_vpc().unwrap().id.clone())) else {
            panic!("the default VPC is there")
        };
        let mut json = serde_json::to_value(&vpc).unwrap();
        json.as_object_mut().unwrap().remove("dhcp_options_id");
        let Record::Vpc(old) = Record::decode("vpc", json.to_string().as_bytes()).unwrap() else { unreachable!() };
        assert_eq!(old.dhcp_options_id, None);
    }
}
