//! Regions and availability zones (DescribeRegions,
//! DescribeAvailabilityZones): what tools ask before they create anything.
//! eipd serves any region a request is signed for; every region has three
//! zones, `<region>a` to `c`, where the default subnets are.

use crate::error::{ApiError, ApiResult};
use crate::filter::{Filter, Filterable, Filters};
use crate::state::availability_zones;

/// The regions DescribeRegions lists: AWS's regions that need no opt-in.
/// The caller's own region is listed too, whatever its name.
pub const REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    pub name: String,
    pub endpoint: String,
}

impl Filterable for RegionInfo {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "region-name" => vec![self.name.clone()],
            "endpoint" => vec![self.endpoint.clone()],
            "opt-in-status" => vec!["opt-in-not-required".into()],
            _ => return None,
        })
    }
}

/// The regions `names` asks for (all of them when empty), in name order.
pub fn describe_regions(caller: &str, names: &[String], filters: &[Filter]) -> ApiResult<Vec<RegionInfo>> {
    let filters = Filters::new(filters, |n| matches!(n, "region-name" | "endpoint" | "opt-in-status"))?;
    let mut all: Vec<&str> = REGIONS.to_vec();
    if !all.contains(&caller) {
        all.push(caller);
        all.sort_unstable();
    }
    if let Some(unknown) = names.iter().find(|n| !all.contains(&n.as_str())) {
        return Err(ApiError::invalid_parameter_value(format!("Invalid region: {unknown}")));
    }
    Ok(all
        .into_iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n == r))
        .map(|r| RegionInfo { name: r.to_owned(), endpoint: format!("ec2.{r}.amazonaws.com") })
        .filter(|r| filters.matches(r))
        .collect())
}

/// A zone's id as AWS writes it: the region's short form and the zone's
/// number (`us-east-1b` -> `use1-az2`, `eu-west-1a` -> `euw1-az1`,
/// `ap-northeast-2c` -> `apne2-az3`).
pub fn zone_id(zone: &str) -> String {
    let (region, letter) = zone.split_at(zone.len().saturating_sub(1));
    let number = letter.bytes().next().map_or(1, |b| b.saturating_sub(b'a') + 1);
    format!("{}-az{number}", region_short_name(region))
}

/// `us-east-1` -> `use1`, `ap-southeast-2` -> `apse2`, `us-gov-west-1` -> `usgw1`.
fn region_short_name(region: &str) -> String {
    let mut parts: Vec<&str> = region.split('-').collect();
    let number = parts.pop().unwrap_or_default();
    let mut short = parts.first().copied().unwrap_or_default().to_owned();
    for part in parts.iter().skip(1) {
        short.push_str(match *part {
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            // east, west, north, south, central, gov: their initial.
            other => other.get(..1).unwrap_or_default(),
        });
    }
    short + number
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    pub name: String,
    pub id: String,
    pub region: String,
}

impl Filterable for ZoneInfo {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "zone-name" => vec![self.name.clone()],
            "zone-id" => vec![self.id.clone()],
            "region-name" | "group-name" | "network-border-group" => vec![self.region.clone()],
            "state" => vec!["available".into()],
            "zone-type" => vec!["availability-zone".into()],
            "opt-in-status" => vec!["opt-in-not-required".into()],
            _ => return None,
        })
    }
}

const ZONE_FILTERS: &[&str] = &[
    "zone-name",
    "zone-id",
    "region-name",
    "group-name",
    "network-border-group",
    "state",
    "zone-type",
    "opt-in-status",
];

/// The caller's region's zones that `names` and `ids` ask for (all when
/// both are empty); a zone the region does not have is InvalidParameterValue.
pub fn describe_availability_zones(
    region: &str,
    names: &[String],
    ids: &[String],
    filters: &[Filter],
) -> ApiResult<Vec<ZoneInfo>> {
    // Zone messages and the parents of Local Zones: no zone here has any.
    const ABSENT: &[&str] = &["group-long-name", "message", "parent-zone-id", "parent-zone-name"];
    let filters = Filters::new(filters, |n| ZONE_FILTERS.contains(&n) || ABSENT.contains(&n))?;
    let zones: Vec<ZoneInfo> = availability_zones(region)
        .into_iter()
        .map(|name| ZoneInfo { id: zone_id(&name), name, region: region.to_owned() })
        .collect();
    let unknown = names
        .iter()
        .find(|n| !zones.iter().any(|z| &z.name == *n))
        .or_else(|| ids.iter().find(|i| !zones.iter().any(|z| &z.id == *i)));
    if let Some(unknown) = unknown {
        return Err(ApiError::invalid_parameter_value(format!("Invalid availability zone: [{unknown}]")));
    }
    Ok(zones
        .into_iter()
        .filter(|z| names.is_empty() && ids.is_empty() || names.contains(&z.name) || ids.contains(&z.id))
        .filter(|z| filters.matches(z))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_aws() {
        assert_eq!(zone_id("us-east-1a"), "use1-az1");
        assert_eq!(zone_id("us-east-1c"), "use1-az3");
        assert_eq!(zone_id("eu-west-1b"), "euw1-az2");
        assert_eq!(zone_id("ap-northeast-2a"), "apne2-az1");
        assert_eq!(zone_id("ap-southeast-2c"), "apse2-az3");
        assert_eq!(zone_id("ca-central-1a"), "cac1-az1");
        assert_eq!(zone_id("us-gov-west-1a"), "usgw1-az1");
    }

    #[test]
    fn zones_by_name_id_and_filter() {
        let all = describe_availability_zones("eu-west-1", &[], &[], &[]).unwrap();
        assert_eq!(all.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
        let by_id = describe_availability_zones("eu-west-1", &[], &["euw1-az2".into()], &[]).unwrap();
        assert_eq!(by_id[0].name, "eu-west-1b");
        let filter = Filter { name: "zone-name".into(), values: vec!["*c".into()], documented: true };
        assert_eq!(describe_availability_zones("eu-west-1", &[], &[], &[filter]).unwrap()[0].id, "euw1-az3");
        let e = describe_availability_zones("eu-west-1", &["us-east-1a".into()], &[], &[]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
    }

    #[test]
    fn regions_include_the_callers() {
        let all = describe_regions("xx-test-1", &[], &[]).unwrap();
        assert!(all.iter().any(|r| r.name == "us-east-1" && r.endpoint == "ec2.us-east-1.amazonaws.com"));
        assert!(all.iter().any(|r| r.name == "xx-test-1"));
        let one = describe_regions("us-east-1", &["eu-west-1".into()], &[]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            describe_regions("us-east-1", &["nowhere-1".into()], &[]).unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
