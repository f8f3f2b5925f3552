//! Tags on any resource eipd keeps (CreateTags, DeleteTags, DescribeTags).

use super::filter::{Filterable, Filters};
use super::ids::*;
use super::model::*;
use super::state::{Partition, Record, Tx};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;

/// The most tags one resource may carry, as in EC2.
pub const MAX_TAGS: usize = 50;

/// A resource named by its id, of any taggable kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceId {
    ElasticIp(AllocationId),
    Instance(InstanceId),
    NetworkInterface(NetworkInterfaceId),
    Vpc(VpcId),
    Subnet(SubnetId),
    InternetGateway(InternetGatewayId),
    SecurityGroup(SecurityGroupId),
    RouteTable(RouteTableId),
    NatGateway(NatGatewayId),
    KeyPair(KeyPairId),
    DhcpOptions(DhcpOptionsId),
}

impl ResourceId {
    pub fn parse(s: &str) -> ApiResult<Self> {
        let parsed = AllocationId::parse(s)
            .map(Self::ElasticIp)
            .or_else(|| InstanceId::parse(s).map(Self::Instance))
            .or_else(|| NetworkInterfaceId::parse(s).map(Self::NetworkInterface))
            .or_else(|| VpcId::parse(s).map(Self::Vpc))
            .or_else(|| SubnetId::parse(s).map(Self::Subnet))
            .or_else(|| InternetGatewayId::parse(s).map(Self::InternetGateway))
            .or_else(|| SecurityGroupId::parse(s).map(Self::SecurityGroup))
            .or_else(|| RouteTableId::parse(s).map(Self::RouteTable))
            .or_else(|| NatGatewayId::parse(s).map(Self::NatGateway))
            .or_else(|| KeyPairId::parse(s).map(Self::KeyPair))
            .or_else(|| DhcpOptionsId::parse(s).map(Self::DhcpOptions));
        parsed.ok_or_else(|| ApiError::invalid_id(format!("The ID '{s}' is not valid")))
    }

    /// EC2's resource-type name (DescribeTags, TagSpecification).
    pub fn resource_type(&self) -> &'static str {
        match self {
            Self::ElasticIp(_) => "elastic-ip",
            Self::Instance(_) => "instance",
            Self::NetworkInterface(_) => "network-interface",
            Self::Vpc(_) => "vpc",
            Self::Subnet(_) => "subnet",
            Self::InternetGateway(_) => "internet-gateway",
            Self::SecurityGroup(_) => "security-group",
            Self::RouteTable(_) => "route-table",
            Self::NatGateway(_) => "natgateway",
            Self::KeyPair(_) => "key-pair",
            Self::DhcpOptions(_) => "dhcp-options",
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::ElasticIp(id) => id.as_str(),
            Self::Instance(id) => id.as_str(),
            Self::NetworkInterface(id) => id.as_str(),
            Self::Vpc(id) => id.as_str(),
            Self::Subnet(id) => id.as_str(),
            Self::InternetGateway(id) => id.as_str(),
            Self::SecurityGroup(id) => id.as_str(),
            Self::RouteTable(id) => id.as_str(),
            Self::NatGateway(id) => id.as_str(),
            Self::KeyPair(id) => id.as_str(),
            Self::DhcpOptions(id) => id.as_str(),
        }
    }
}

/// The stored record of a resource and its tags, or the resource's NotFound.
fn tagged_record(part: &Partition, id: &ResourceId) -> ApiResult<Record> {
    let found = match id {
        ResourceId::ElasticIp(a) => part.address_by_allocation(a).cloned().map(Record::Address),
        ResourceId::Instance(i) => part.instance(i).cloned().map(Record::Instance),
        ResourceId::NetworkInterface(n) => part.interface(n).cloned().map(Record::NetworkInterface),
        ResourceId::Vpc(v) => part.vpc(v).cloned().map(Record::Vpc),
        ResourceId::Subnet(s) => part.subnet(s).cloned().map(Record::Subnet),
        ResourceId::InternetGateway(g) => part.internet_gateway(g).cloned().map(Record::InternetGateway),
        ResourceId::SecurityGroup(g) => part.security_group(g).cloned().map(Record::SecurityGroup),
        ResourceId::RouteTable(t) => part.route_table(t).cloned().map(Record::RouteTable),
        ResourceId::NatGateway(g) => part.nat_gateway(g).cloned().map(Record::NatGateway),
        ResourceId::KeyPair(k) => part.key_pair(k).cloned().map(Record::KeyPair),
        ResourceId::DhcpOptions(d) => part.dhcp_options(d).cloned().map(Record::DhcpOptions),
    };
    found.ok_or_else(|| match id {
        ResourceId::ElasticIp(a) => ApiError::invalid_allocation_id_not_found(a.as_str()),
        ResourceId::Instance(i) => ApiError::invalid_instance_id_not_found(i.as_str()),
        ResourceId::NetworkInterface(n) => ApiError::invalid_network_interface_id_not_found(n.as_str()),
        ResourceId::Vpc(v) => ApiError::invalid_vpc_id_not_found(v.as_str()),
        ResourceId::Subnet(s) => ApiError::invalid_subnet_id_not_found(s.as_str()),
        ResourceId::InternetGateway(g) => ApiError::invalid_internet_gateway_id_not_found(g.as_str()),
        ResourceId::SecurityGroup(g) => ApiError::invalid_group_not_found(g.as_str()),
        ResourceId::RouteTable(t) => ApiError::invalid_route_table_id_not_found(t.as_str()),
        ResourceId::NatGateway(g) => ApiError::nat_gateway_not_found(g.as_str()),
        ResourceId::KeyPair(k) => ApiError::invalid_key_pair_id_not_found(k.as_str()),
        ResourceId::DhcpOptions(d) => ApiError::invalid_dhcp_option_id_not_found(d.as_str()),
    })
}

fn tags_mut(record: &mut Record) -> &mut Tags {
    match record {
        Record::Address(a) => &mut a.tags,
        Record::Instance(i) => &mut i.tags,
        Record::NetworkInterface(n) => &mut n.tags,
        Record::Vpc(v) => &mut v.tags,
        Record::Subnet(s) => &mut s.tags,
        Record::InternetGateway(g) => &mut g.tags,
        Record::SecurityGroup(g) => &mut g.tags,
        Record::RouteTable(t) => &mut t.tags,
        Record::NatGateway(g) => &mut g.tags,
        Record::KeyPair(k) => &mut k.tags,
        Record::DhcpOptions(d) => &mut d.tags,
        Record::EndedAssociation { .. } => unreachable!("not taggable"),
    }
}

/// Checks a tag set: keys 1–127 chars, values ≤ 255, no `aws:` prefix.
pub fn validate_tags<'a>(tags: impl IntoIterator<Item = (&'a String, Option<&'a String>)>) -> ApiResult<()> {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 127 {
            return Err(ApiError::invalid_parameter_value(format!(
                "Tag key '{key}' is invalid: it must be 1 to 127 characters"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter_value(
                "Tag keys starting with 'aws:' are reserved for internal use",
            ));
        }
        if value.is_some_and(|v| v.chars().count() > 255) {
            return Err(ApiError::invalid_parameter_value(format!(
                "Tag value for key '{key}' is invalid: at most 255 characters"
            )));
        }
    }
    Ok(())
}

pub fn create_tags(tx: &mut Tx, resources: &[ResourceId], tags: &Tags) -> ApiResult<()> {
    validate_tags(tags.iter().map(|(k, v)| (k, Some(v))))?;
    for id in resources {
        let mut record = tagged_record(tx.part(), id)?;
        let current = tags_mut(&mut record);
        current.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if current.len() > MAX_TAGS {
            return Err(ApiError::tag_limit_exceeded(format!(
                "The maximum number of tags ({MAX_TAGS}) for resource {} has been reached.",
                id.as_str()
            )));
        }
        tx.put(record);
    }
    Ok(())
}

/// Removes the named tags (only where the value matches, when one is given),
/// or every tag when none is named.
pub fn delete_tags(tx: &mut Tx, resources: &[ResourceId], tags: &[(String, Option<String>)]) -> ApiResult<()> {
    for id in resources {
        let mut record = tagged_record(tx.part(), id)?;
        let current = tags_mut(&mut record);
        if tags.is_empty() {
            current.clear();
        }
        for (key, value) in tags {
            if value.is_none() || current.get(key) == value.as_ref() {
                current.remove(key);
            }
        }
        tx.put(record);
    }
    Ok(())
}

/// One row of DescribeTags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagDescription {
    pub resource_id: String,
    pub resource_type: &'static str,
    pub key: String,
    pub value: String,
}

impl Filterable for TagDescription {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let v = match name {
            "resource-id" => self.resource_id.clone(),
            "resource-type" => self.resource_type.to_owned(),
            "key" => self.key.clone(),
            "value" => self.value.clone(),
            _ => return None,
        };
        Some(vec![v])
    }
}

pub fn describe_tags(part: &Partition, filters: &[Filter]) -> ApiResult<Vec<TagDescription>> {
    let filters = Filters::new(filters, |n| matches!(n, "resource-id" | "resource-type" | "key" | "value"))?;
    let mut out = Vec::new();
    let mut push = |id: &str, kind: &'static str, tags: &Tags| {
        for (k, v) in tags {
            let row =
                TagDescription { resource_id: id.to_owned(), resource_type: kind, key: k.clone(), value: v.clone() };
            if filters.matches(&row) {
                out.push(row);
            }
        }
    };
    for a in part.addresses() {
        if let Some(id) = &a.allocation_id {
            push(id.as_str(), "elastic-ip", &a.tags);
        }
    }
    for i in part.instances() {
        push(i.id.as_str(), "instance", &i.tags);
    }
    for n in part.interfaces() {
        push(n.id.as_str(), "network-interface", &n.tags);
    }
    for v in part.vpcs() {
        push(v.id.as_str(), "vpc", &v.tags);
    }
    for s in part.subnets() {
        push(s.id.as_str(), "subnet", &s.tags);
    }
    for g in part.internet_gateways() {
        push(g.id.as_str(), "internet-gateway", &g.tags);
    }
    for g in part.security_groups() {
        push(g.id.as_str(), "security-group", &g.tags);
    }
    for t in part.route_tables() {
        push(t.id.as_str(), "route-table", &t.tags);
    }

    for g in part.nat_gateways() {
        push(g.id.as_str(), "natgateway", &g.tags);
    }

    for k in part.key_pairs() {
        push(k.id.as_str(), "key-pair", &k.tags);
    }
    for d in part.all_dhcp_options() {
        push(d.id.as_str(), "dhcp-options", &d.tags);
    }
    Ok(out)
}
