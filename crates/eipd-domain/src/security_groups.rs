//! Security groups: each VPC's `default` group and the groups users create,
//! their ingress and egress rules, and the groups interfaces carry.

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::state::{Partition, Record, RecordKey, Tx};
use crate::vpcs::vpc;

/// The most rules of one direction a group may have (EC2's default quota).
pub const MAX_RULES_PER_DIRECTION: usize = 60;
/// The most groups one interface may carry (EC2's default quota; what
/// DescribeAccountAttributes calls `vpc-max-security-groups-per-interface`).
pub const MAX_GROUPS_PER_INTERFACE: usize = 5;

pub fn security_group<'a>(part: &'a Partition, id: &SecurityGroupId) -> ApiResult<&'a SecurityGroup> {
    part.security_group(id).ok_or_else(|| ApiError::invalid_group_not_found(id.as_str()))
}

/// A group as a request names it: by id, or by name (in the default VPC,
/// or in the VPC the request is about).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRef {
    Id(SecurityGroupId),
    Name(String),
}

/// The group `group` names: a name is looked up in `vpc`, or in the
/// default VPC when `vpc` is `None`.
pub fn resolve<'a>(part: &'a Partition, group: &GroupRef, vpc: Option<&VpcId>) -> ApiResult<&'a SecurityGroup> {
    match group {
        GroupRef::Id(id) => security_group(part, id),
        GroupRef::Name(name) => {
            let (vpc, which) = match vpc {
                Some(v) => (Some(v), "VPC"),
                None => (part.default_vpc().map(|v| &v.id), "default VPC"),
            };
            let Some(vpc) = vpc else {
                return Err(ApiError::vpc_id_not_specified("No default VPC for this user"));
            };
            part.security_group_named(vpc, name).ok_or_else(|| {
                ApiError::invalid_group_not_found_raw(format!(
                    "The security group '{name}' does not exist in {which} '{vpc}'"
                ))
            })
        }
    }
}

/// The egress rules a new group starts with: all traffic to 0.0.0.0/0, and
/// to ::/0 in a VPC with an IPv6 block.
fn initial_egress(ipv6: bool, rule_id: impl Fn(&str) -> SecurityGroupRuleId) -> Vec<SecurityGroupRule> {
    let mut peers = vec![RulePeer::Ipv4("0.0.0.0/0".parse().expect("valid"))];
    if ipv6 {
        peers.push(RulePeer::Ipv6("::/0".parse().expect("valid")));
    }
    peers
        .into_iter()
        .enumerate()
        .map(|(i, peer)| SecurityGroupRule {
            id: rule_id(&format!("egress/{i}")),
            egress: true,
            permission: Permission::all(),
            peer,
            description: None,
        })
        .collect()
}

/// A VPC's `default` group, as AWS makes it with the VPC: all traffic in
/// from the group itself, all traffic out. Its ids are derived from the
/// VPC's, so the default VPC's group is the same on every read and node
/// before the partition is first written.
pub fn default_security_group(vpc_id: &VpcId, ipv6: bool) -> SecurityGroup {
    let seed = format!("{vpc_id}/default-sg");
    let id = SecurityGroupId::derived(&seed);
    let rule_id = |what: &str| SecurityGroupRuleId::derived(&format!("{seed}/{what}"));
    let mut rules = vec![SecurityGroupRule {
        id: rule_id("ingress/0"),
        egress: false,
        permission: Permission::all(),
        peer: RulePeer::Group(id.clone()),
        description: None,
    }];
    rules.extend(initial_egress(ipv6, rule_id));
    SecurityGroup {
        id,
        vpc_id: vpc_id.clone(),
        name: SecurityGroup::DEFAULT_NAME.into(),
        description: "default VPC security group".into(),
        rules,
        tags: Tags::new(),
    }
}

/// Gives every VPC that lacks it its default group: the VPCs of a store
/// written before eipd had security groups (at the first write of their
/// partition).
pub(crate) fn add_missing_default_groups(part: &Partition) -> Vec<SecurityGroup> {
    part.vpcs()
        .filter(|v| part.default_security_group(&v.id).is_none())
        .map(|v| default_security_group(&v.id, v.ipv6_cidr.is_some()))
        .collect()
}

/// What AWS allows in a VPC group's name and description.
fn valid_text(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
}

fn check_text(param: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::missing(param));
    }
    check_description(param, value)
}

/// A rule's (or group's) description: at most 255 of the characters AWS allows.
pub fn check_description(param: &str, value: &str) -> ApiResult<()> {
    if value.chars().count() > 255 {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid value '{value}' for {param}. Length exceeds maximum of 255."
        )));
    }
    if !valid_text(value) {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid value '{value}' for {param}. Valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{{}}!$*"
        )));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct CreateSecurityGroup {
    pub name: String,
    pub description: String,
    /// The default VPC when `None`.
    pub vpc_id: Option<VpcId>,
    pub tags: Tags,
}

/// Checks a new group's name and description (before authorization, D6).
pub fn validate_create(input: &CreateSecurityGroup) -> ApiResult<()> {
    check_text("GroupName", &input.name)?;
    check_text("GroupDescription", &input.description)?;
    if input.name.starts_with("sg-") {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid value '{}' for groupName. Group names may not be in the format sg-*.",
            input.name
        )));
    }
    if input.name.eq_ignore_ascii_case(SecurityGroup::DEFAULT_NAME) {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid value '{}' for groupName. Cannot use reserved security group name: default",
            input.name
        )));
    }
    Ok(())
}

pub fn create_security_group(tx: &mut Tx, input: CreateSecurityGroup) -> ApiResult<SecurityGroup> {
    validate_create(&input)?;
    let vpc = match &input.vpc_id {
        Some(id) => vpc(tx.part(), id)?,
        None => {
            tx.part().default_vpc().ok_or_else(|| ApiError::vpc_id_not_specified("No default VPC for this user"))?
        }
    };
    if tx.part().security_group_named(&vpc.id, &input.name).is_some() {
        return Err(ApiError::invalid_group_duplicate(format!(
            "The security group '{}' already exists for VPC '{}'",
            input.name, vpc.id
        )));
    }
    let group = SecurityGroup {
        id: SecurityGroupId::generate(),
        vpc_id: vpc.id.clone(),
        name: input.name,
        description: input.description,
        rules: initial_egress(vpc.ipv6_cidr.is_some(), |_| SecurityGroupRuleId::generate()),
        tags: input.tags,
    };
    tx.put(Record::SecurityGroup(group.clone()));
    Ok(group)
}

/// Refused for a VPC's default group, and while an interface carries the
/// group or another group's rule names it.
pub fn delete_security_group(tx: &mut Tx, group: &GroupRef) -> ApiResult<SecurityGroupId> {
    let part = tx.part();
    let group = resolve(part, group, None)?;
    if group.is_default() {
        return Err(ApiError::cannot_delete(format!(
            "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
            group.id
        )));
    }
    let id = group.id.clone();
    let carried = part.interfaces().any(|n| n.groups.contains(&id));
    let referenced = part
        .security_groups()
        .filter(|g| g.id != id)
        .any(|g| g.rules.iter().any(|r| r.peer == RulePeer::Group(id.clone())));
    if carried || referenced {
        return Err(ApiError::dependency_violation(format!("resource {id} has a dependent object")));
    }
    tx.delete(RecordKey::SecurityGroup(id.clone()));
    Ok(id)
}

/// The groups a new interface in `vpc` carries: those asked for (all of
/// `vpc`, at most five, each once), or the VPC's default group.
pub fn interface_groups(part: &Partition, subnet: &Subnet, asked: &[GroupRef]) -> ApiResult<Vec<SecurityGroupId>> {
    if asked.is_empty() {
        return Ok(part.default_security_group(&subnet.vpc_id).map(|g| g.id.clone()).into_iter().collect());
    }
    let mut groups: Vec<SecurityGroupId> = Vec::with_capacity(asked.len());
    for group in asked {
        let g = resolve(part, group, Some(&subnet.vpc_id))?;
        if g.vpc_id != subnet.vpc_id {
            return Err(ApiError::invalid_parameter(format!(
                "Security group {} and subnet {} belong to different networks.",
                g.id, subnet.id
            )));
        }
        if !groups.contains(&g.id) {
            groups.push(g.id.clone());
        }
    }
    if groups.len() > MAX_GROUPS_PER_INTERFACE {
        return Err(ApiError::security_groups_per_interface_limit_exceeded(format!(
            "The maximum number of security groups per interface has been reached ({MAX_GROUPS_PER_INTERFACE})."
        )));
    }
    Ok(groups)
}

// ---- rules ----------------------------------------------------------------------

/// A rule's peer as a request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerRef {
    Ipv4(ipnet::Ipv4Net),
    Ipv6(ipnet::Ipv6Net),
    Group(GroupRef),
}

/// One rule as Authorize/Revoke name it: one `IpPermissions.N` and one of
/// its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub permission: Permission,
    pub peer: PeerRef,
    pub description: Option<String>,
}

/// Normalizes a protocol and its ports as EC2 stores them.
pub fn permission(protocol: &str, from: Option<i64>, to: Option<i64>) -> ApiResult<Permission> {
    let name = match protocol.to_ascii_lowercase().as_str() {
        "-1" | "all" => "-1".to_owned(),
        "tcp" | "6" => "tcp".into(),
        "udp" | "17" => "udp".into(),
        "icmp" | "1" => "icmp".into(),
        "icmpv6" | "58" => "icmpv6".into(),
        other => match other.parse::<u8>() {
            Ok(n) => n.to_string(),
            Err(_) => {
                return Err(ApiError::invalid_parameter_value(format!(
                    "Invalid value '{protocol}' for IP protocol. Unknown protocol."
                )));
            }
        },
    };
    let port = |p: Option<i64>, lo: i64, hi: i64, what: &str| -> ApiResult<i32> {
        match p {
            Some(n) if (lo..=hi).contains(&n) => Ok(n as i32),
            Some(n) => Err(ApiError::invalid_parameter_value(format!("Invalid value '{n}' for {what}."))),
            None => Ok(-1),
        }
    };
    match name.as_str() {
        "tcp" | "udp" => {
            let (Some(_), Some(_)) = (from, to) else {
                return Err(ApiError::invalid_parameter_value(
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
                ));
            };
            let (from, to) = (port(from, 0, 65535, "fromPort")?, port(to, 0, 65535, "toPort")?);
            if from > to {
                return Err(ApiError::invalid_parameter_value(format!(
                    "Invalid TCP/UDP port range {from}-{to}: the start port must not exceed the end port."
                )));
            }
            Ok(Permission { protocol: name, from_port: from, to_port: to })
        }
        "icmp" | "icmpv6" => Ok(Permission {
            protocol: name,
            from_port: port(from, -1, 255, "ICMP type")?,
            to_port: port(to, -1, 255, "ICMP code")?,
        }),
        // Every other protocol has no ports: the rule allows all of them.
        _ => Ok(Permission { protocol: name, from_port: -1, to_port: -1 }),
    }
}

/// A rule as EC2's Duplicate message writes it:
/// `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`.
fn describe_rule(permission: &Permission, peer: &RulePeer) -> String {
    let peer = match peer {
        RulePeer::Ipv4(net) => net.to_string(),
        RulePeer::Ipv6(net) => net.to_string(),
        RulePeer::Group(id) => id.to_string(),
    };
    match permission.protocol.as_str() {
        "-1" => format!("peer: {peer}, ALL, ALLOW"),
        p @ ("tcp" | "udp" | "icmp" | "icmpv6") => format!(
            "peer: {peer}, {}, from port: {}, to port: {}, ALLOW",
            p.to_ascii_uppercase(),
            permission.from_port,
            permission.to_port
        ),
        p => format!("peer: {peer}, {p}, ALLOW"),
    }
}

/// The stored peer a requested one names; a group must be of the same VPC.
fn resolve_peer(part: &Partition, group: &SecurityGroup, peer: &PeerRef) -> ApiResult<RulePeer> {
    Ok(match peer {
        PeerRef::Ipv4(net) => RulePeer::Ipv4(*net),
        PeerRef::Ipv6(net) => RulePeer::Ipv6(*net),
        PeerRef::Group(r) => {
            let other = resolve(part, r, Some(&group.vpc_id))?;
            if other.vpc_id != group.vpc_id {
                return Err(ApiError::invalid_group_not_found_raw(
                    "You have specified two resources that belong to different networks.",
                ));
            }
            RulePeer::Group(other.id.clone())
        }
    })
}

/// AuthorizeSecurityGroupIngress/Egress: every rule is new (in the group
/// and in the request) or nothing is added.
pub fn authorize(tx: &mut Tx, group: &GroupRef, egress: bool, specs: &[RuleSpec]) -> ApiResult<Vec<SecurityGroupRule>> {
    let mut group = resolve(tx.part(), group, None)?.clone();
    let mut added = Vec::with_capacity(specs.len());
    for spec in specs {
        let peer = resolve_peer(tx.part(), &group, &spec.peer)?;
        let exists =
            group.rules.iter().any(|r| r.egress == egress && r.permission == spec.permission && r.peer == peer);
        if exists {
            return Err(ApiError::invalid_permission_duplicate(format!(
                "the specified rule \"{}\" already exists",
                describe_rule(&spec.permission, &peer)
            )));
        }
        let rule = SecurityGroupRule {
            id: SecurityGroupRuleId::generate(),
            egress,
            permission: spec.permission.clone(),
            peer,
            description: spec.description.clone(),
        };
        group.rules.push(rule.clone());
        added.push(rule);
    }
    if group.rules.iter().filter(|r| r.egress == egress).count() > MAX_RULES_PER_DIRECTION {
        return Err(ApiError::rules_per_security_group_limit_exceeded(
            "The maximum number of rules per security group has been reached.",
        ));
    }
    tx.put(Record::SecurityGroup(group));
    Ok(added)
}

/// What RevokeSecurityGroupIngress/Egress names.
#[derive(Clone, Debug)]
pub enum Revoke {
    Rules(Vec<RuleSpec>),
    Ids(Vec<SecurityGroupRuleId>),
}

/// What a revocation did: the rules it removed, and the requested ones the
/// group did not have (answered only in the default VPC).
#[derive(Clone, Debug, Default)]
pub struct Revoked {
    pub revoked: Vec<SecurityGroupRule>,
    pub unknown: Vec<RuleSpec>,
}

/// RevokeSecurityGroupIngress/Egress. A rule the group does not have is
/// `InvalidPermission.NotFound` and nothing is revoked, except in the
/// default VPC, where the others are revoked and it is answered as unknown
/// (as AWS documents).
pub fn revoke(tx: &mut Tx, group: &GroupRef, egress: bool, what: &Revoke) -> ApiResult<Revoked> {
    let mut group = resolve(tx.part(), group, None)?.clone();
    let mut out = Revoked::default();
    match what {
        Revoke::Ids(ids) => {
            for id in ids {
                let Some(i) = group.rules.iter().position(|r| &r.id == id && r.egress == egress) else {
                    return Err(ApiError::invalid_security_group_rule_id_not_found(format!(
                        "The security group rule ID '{id}' does not exist"
                    )));
                };
                out.revoked.push(group.rules.remove(i));
            }
        }
        Revoke::Rules(specs) => {
            let in_default_vpc = tx.part().vpc(&group.vpc_id).is_some_and(|v| v.is_default);
            for spec in specs {
                let peer = resolve_peer(tx.part(), &group, &spec.peer)?;
                let found = group
                    .rules
                    .iter()
                    .position(|r| r.egress == egress && r.permission == spec.permission && r.peer == peer);
                match found {
                    Some(i) => out.revoked.push(group.rules.remove(i)),
                    None if in_default_vpc => out.unknown.push(spec.clone()),
                    None => {
                        return Err(ApiError::invalid_permission_not_found(
                            "The specified rule does not exist in this security group.",
                        ));
                    }
                }
            }
        }
    }
    tx.put(Record::SecurityGroup(group));
    Ok(out)
}

/// One `SecurityGroupRule.N` of ModifySecurityGroupRules: the rule's new
/// protocol, ports, peer and description.
#[derive(Clone, Debug)]
pub struct RuleUpdate {
    pub id: SecurityGroupRuleId,
    pub spec: RuleSpec,
}

/// ModifySecurityGroupRules: replaces rules of one group in place (ids and
/// directions stay); a change that would duplicate another rule is refused.
pub fn modify_security_group_rules(tx: &mut Tx, group_id: &SecurityGroupId, updates: &[RuleUpdate]) -> ApiResult<()> {
    let mut group = security_group(tx.part(), group_id)?.clone();
    for update in updates {
        let peer = resolve_peer(tx.part(), &group, &update.spec.peer)?;
        let Some(i) = group.rules.iter().position(|r| r.id == update.id) else {
            return Err(ApiError::invalid_security_group_rule_id_not_found(format!(
                "The security group rule ID '{}' does not exist",
                update.id
            )));
        };
        let egress = group.rules[i].egress;
        let clash = group
            .rules
            .iter()
            .enumerate()
            .any(|(j, r)| j != i && r.egress == egress && r.permission == update.spec.permission && r.peer == peer);
        if clash {
            return Err(ApiError::invalid_permission_duplicate(format!(
                "the specified rule \"{}\" already exists",
                describe_rule(&update.spec.permission, &peer)
            )));
        }
        let rule = &mut group.rules[i];
        rule.permission = update.spec.permission.clone();
        rule.peer = peer;
        rule.description = update.spec.description.clone();
    }
    tx.put(Record::SecurityGroup(group));
    Ok(())
}

/// What UpdateSecurityGroupRuleDescriptionsIngress/Egress names: rules by
/// value, each with its new description, or by id.
#[derive(Clone, Debug)]
pub enum DescriptionUpdate {
    Rules(Vec<RuleSpec>),
    Ids(Vec<(SecurityGroupRuleId, Option<String>)>),
}

/// UpdateSecurityGroupRuleDescriptionsIngress/Egress: sets (or, when none is
/// given, removes) the descriptions of rules the group has in that
/// direction; one it does not have changes nothing.
pub fn update_rule_descriptions(
    tx: &mut Tx,
    group: &GroupRef,
    egress: bool,
    what: &DescriptionUpdate,
) -> ApiResult<()> {
    let mut group = resolve(tx.part(), group, None)?.clone();
    match what {
        DescriptionUpdate::Ids(ids) => {
            for (id, description) in ids {
                let Some(rule) = group.rules.iter_mut().find(|r| &r.id == id && r.egress == egress) else {
                    return Err(ApiError::invalid_security_group_rule_id_not_found(format!(
                        "The security group rule ID '{id}' does not exist"
                    )));
                };
                rule.description = description.clone();
            }
        }
        DescriptionUpdate::Rules(specs) => {
            for spec in specs {
                let peer = resolve_peer(tx.part(), &group, &spec.peer)?;
                let found = group
                    .rules
                    .iter_mut()
                    .find(|r| r.egress == egress && r.permission == spec.permission && r.peer == peer);
                let Some(rule) = found else {
                    return Err(ApiError::invalid_permission_not_found(
                        "The specified rule does not exist in this security group.",
                    ));
                };
                rule.description = spec.description.clone();
            }
        }
    }
    tx.put(Record::SecurityGroup(group));
    Ok(())
}

// ---- Describe -------------------------------------------------------------------

/// The values of the `ip-permission.*` (ingress) or `egress.ip-permission.*`
/// filters: `field` is what follows the prefix.
fn rule_filter_values(part: &Partition, scope: &Scope, g: &SecurityGroup, egress: bool, field: &str) -> Vec<String> {
    let rules = g.rules.iter().filter(|r| r.egress == egress);
    match field {
        "cidr" => rules.filter(|r| matches!(r.peer, RulePeer::Ipv4(_))).map(|r| peer_text(&r.peer)).collect(),
        "ipv6-cidr" => rules.filter(|r| matches!(r.peer, RulePeer::Ipv6(_))).map(|r| peer_text(&r.peer)).collect(),
        "group-id" => rules.filter(|r| matches!(r.peer, RulePeer::Group(_))).map(|r| peer_text(&r.peer)).collect(),
        "group-name" => rules
            .filter_map(|r| match &r.peer {
                RulePeer::Group(id) => part.security_group(id).map(|g| g.name.clone()),
                _ => None,
            })
            .collect(),
        "user-id" => {
            rules.filter(|r| matches!(r.peer, RulePeer::Group(_))).map(|_| scope.account.to_string()).collect()
        }
        "protocol" => rules.map(|r| r.permission.protocol.clone()).collect(),
        "from-port" => rules.map(|r| r.permission.from_port.to_string()).collect(),
        "to-port" => rules.map(|r| r.permission.to_port.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn peer_text(peer: &RulePeer) -> String {
    match peer {
        RulePeer::Ipv4(net) => net.to_string(),
        RulePeer::Ipv6(net) => net.to_string(),
        RulePeer::Group(id) => id.to_string(),
    }
}

impl Described for SecurityGroup {
    type Id = SecurityGroupId;
    const FILTERS: &'static [&'static str] = &[
        "description",
        "egress.ip-permission.cidr",
        "egress.ip-permission.from-port",
        "egress.ip-permission.group-id",
        "egress.ip-permission.group-name",
        "egress.ip-permission.ipv6-cidr",
        "egress.ip-permission.prefix-list-id",
        "egress.ip-permission.protocol",
        "egress.ip-permission.to-port",
        "egress.ip-permission.user-id",
        "group-id",
        "group-name",
        "ip-permission.cidr",
        "ip-permission.from-port",
        "ip-permission.group-id",
        "ip-permission.group-name",
        "ip-permission.ipv6-cidr",
        "ip-permission.prefix-list-id",
        "ip-permission.protocol",
        "ip-permission.to-port",
        "ip-permission.user-id",
        "owner-id",
        "vpc-id",
    ];

    fn all(part: &Partition) -> Vec<&Self> {
        part.security_groups().collect()
    }

    fn get<'p>(part: &'p Partition, id: &SecurityGroupId) -> Option<&'p Self> {
        part.security_group(id)
    }

    fn id(&self) -> &SecurityGroupId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&SecurityGroupId]) -> ApiError {
        ApiError::invalid_group_not_found(missing[0].as_str())
    }

    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        if let Some(field) = name.strip_prefix("egress.ip-permission.") {
            return rule_filter_values(part, scope, self, true, field);
        }
        if let Some(field) = name.strip_prefix("ip-permission.") {
            return rule_filter_values(part, scope, self, false, field);
        }
        match name {
            "description" => vec![self.description.clone()],
            "group-id" => vec![self.id.to_string()],
            "group-name" => vec![self.name.clone()],
            "owner-id" => vec![scope.account.to_string()],
            "vpc-id" => vec![self.vpc_id.to_string()],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}

/// Rules carry no tags in eipd.
static NO_TAGS: Tags = Tags::new();

impl Described for SecurityGroupRule {
    type Id = SecurityGroupRuleId;
    const FILTERS: &'static [&'static str] = &["group-id", "security-group-rule-id"];

    /// By rule id, across groups.
    fn all(part: &Partition) -> Vec<&Self> {
        let mut all: Vec<&SecurityGroupRule> = part.security_groups().flat_map(|g| g.rules.iter()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn get<'p>(part: &'p Partition, id: &SecurityGroupRuleId) -> Option<&'p Self> {
        part.group_of_rule(id).and_then(|g| g.rule(id))
    }

    fn id(&self) -> &SecurityGroupRuleId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &NO_TAGS
    }

    fn not_found(missing: &[&SecurityGroupRuleId]) -> ApiError {
        ApiError::invalid_security_group_rule_id_not_found(format!(
            "The security group rule ID '{}' does not exist",
            missing[0]
        ))
    }

    fn filter_values(&self, part: &Partition, _: &Scope, name: &str) -> Vec<String> {
        match name {
            "group-id" => part.group_of_rule(&self.id).map(|g| g.id.to_string()).into_iter().collect(),
            "security-group-rule-id" => vec![self.id.to_string()],
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

    fn tcp(port: i64) -> Permission {
        permission("tcp", Some(port), Some(port)).unwrap()
    }

    fn cidr(s: &str) -> PeerRef {
        PeerRef::Ipv4(s.parse().unwrap())
    }

    #[test]
    fn a_vpcs_default_group_lets_itself_in_and_everything_out() {
        let vpc = VpcId::derived("x");
        let g = default_security_group(&vpc, true);
        assert!(g.is_default());
        assert_eq!(g, default_security_group(&vpc, true), "derived, so every node agrees");
        let ingress: Vec<_> = g.rules.iter().filter(|r| !r.egress).collect();
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0].peer, RulePeer::Group(g.id.clone()));
        assert_eq!(ingress[0].permission, Permission::all());
        let egress: Vec<String> = g.rules.iter().filter(|r| r.egress).map(|r| peer_text(&r.peer)).collect();
        assert_eq!(egress, ["0.0.0.0/0", "::/0"]);
        assert_eq!(default_security_group(&vpc, false).rules.len(), 2);
    }

    #[test]
    fn protocols_and_ports_are_normalized() {
        assert_eq!(permission("6", Some(22), Some(22)).unwrap(), tcp(22));
        assert_eq!(permission("-1", Some(22), Some(80)).unwrap(), Permission::all());
        assert_eq!(permission("ALL", None, None).unwrap(), Permission::all());
        assert_eq!(permission("47", Some(1), Some(2)).unwrap().from_port, -1, "no ports but tcp/udp/icmp");
        let icmp = permission("icmp", Some(8), None).unwrap();
        assert_eq!((icmp.from_port, icmp.to_port), (8, -1));
        assert!(permission("tcp", Some(22), None).unwrap_err().message.contains("portRange"));
        assert!(permission("tcp", Some(80), Some(22)).is_err());
        assert!(permission("tcp", Some(0), Some(65536)).is_err());
        assert_eq!(permission("gre", None, None).unwrap_err().code, "InvalidParameterValue");
    }

    #[test]
    fn names_are_checked_before_anything_else() {
        let input = |name: &str, description: &str| CreateSecurityGroup {
            name: name.into(),
            description: description.into(),
            vpc_id: None,
            tags: Tags::new(),
        };
        assert!(validate_create(&input("web", "web servers")).is_ok());
        assert!(validate_create(&input("sg-web", "d")).unwrap_err().message.contains("sg-*"));
        assert!(validate_create(&input("Default", "d")).unwrap_err().message.contains("reserved"));
        assert_eq!(validate_create(&input("web", "")).unwrap_err().code, "MissingParameter");
        assert!(validate_create(&input("wéb", "d")).is_err());
        assert!(validate_create(&input(&"x".repeat(256), "d")).is_err());
    }

    #[test]
    fn rules_are_unique_and_revoked_by_value_or_id() {
        let mut world = World::default();
        let group = world_tx(&mut world, |tx| {
            let input =
                CreateSecurityGroup { name: "web".into(), description: "w".into(), vpc_id: None, tags: Tags::new() };
            create_security_group(tx, input).unwrap()
        });
        assert_eq!(group.rules.len(), 1, "one egress rule to 0.0.0.0/0");
        let by = GroupRef::Id(group.id.clone());
        let ssh = RuleSpec { permission: tcp(22), peer: cidr("0.0.0.0/0"), description: None };
        let added = world_tx(&mut world, |tx| authorize(tx, &by, false, std::slice::from_ref(&ssh))).unwrap();
        let err = world_tx(&mut world, |tx| authorize(tx, &by, false, std::slice::from_ref(&ssh))).unwrap_err();
        assert_eq!(err.code, "InvalidPermission.Duplicate");
        assert!(err.message.contains("peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"), "{}", err.message);
        // The same rule in the other direction is another rule.
        world_tx(&mut world, |tx| authorize(tx, &by, true, std::slice::from_ref(&ssh))).unwrap();
        // Revoked by value in the default VPC: an unknown rule is answered, not refused.
        let http = RuleSpec { permission: tcp(80), ..ssh.clone() };
        let revoked =
            world_tx(&mut world, |tx| revoke(tx, &by, false, &Revoke::Rules(vec![ssh.clone(), http]))).unwrap();
        assert_eq!(revoked.revoked.iter().map(|r| &r.id).collect::<Vec<_>>(), [&added[0].id]);
        assert_eq!(revoked.unknown.len(), 1);
        let egress_ssh = world
            .partition(&Scope::new("123456789012", "us-east-1"))
            .unwrap()
            .security_group(&group.id)
            .unwrap()
            .rules
            .iter()
            .find(|r| r.egress && r.permission == tcp(22))
            .unwrap()
            .id
            .clone();
        let err =
            world_tx(&mut world, |tx| revoke(tx, &by, false, &Revoke::Ids(vec![egress_ssh.clone()]))).unwrap_err();
        assert_eq!(err.code, "InvalidSecurityGroupRuleId.NotFound", "an egress rule is not an ingress one");
        world_tx(&mut world, |tx| revoke(tx, &by, true, &Revoke::Ids(vec![egress_ssh]))).unwrap();
    }

    #[test]
    fn descriptions_change_in_place_and_only_on_rules_the_group_has() {
        let mut world = World::default();
        let group = world_tx(&mut world, |tx| {
            let input =
                CreateSecurityGroup { name: "web".into(), description: "w".into(), vpc_id: None, tags: Tags::new() };
            create_security_group(tx, input).unwrap()
        });
        let by = GroupRef::Id(group.id.clone());
        let ssh = RuleSpec { permission: tcp(22), peer: cidr("0.0.0.0/0"), description: None };
        let added = world_tx(&mut world, |tx| authorize(tx, &by, false, std::slice::from_ref(&ssh))).unwrap();
        let rules = |world: &World| {
            let part = world.partition(&Scope::new("123456789012", "us-east-1")).unwrap();
            part.security_group(&group.id).unwrap().rules.clone()
        };
        let described = RuleSpec { description: Some("ssh".into()), ..ssh.clone() };
        world_tx(&mut world, |tx| update_rule_descriptions(tx, &by, false, &DescriptionUpdate::Rules(vec![described])))
            .unwrap();
        let ingress = rules(&world).into_iter().find(|r| !r.egress).unwrap();
        assert_eq!((ingress.id.clone(), ingress.description.as_deref()), (added[0].id.clone(), Some("ssh")));
        // By id; no description removes it.
        let by_id = DescriptionUpdate::Ids(vec![(added[0].id.clone(), None)]);
        world_tx(&mut world, |tx| update_rule_descriptions(tx, &by, false, &by_id)).unwrap();
        assert_eq!(rules(&world).into_iter().find(|r| !r.egress).unwrap().description, None);
        // The other direction, another rule, or an unknown id: refused, nothing changed.
        let err = world_tx(&mut world, |tx| update_rule_descriptions(tx, &by, true, &by_id)).unwrap_err();
        assert_eq!(err.code, "InvalidSecurityGroupRuleId.NotFound");
        let http = RuleSpec { permission: tcp(80), peer: cidr("0.0.0.0/0"), description: Some("web".into()) };
        let both = DescriptionUpdate::Rules(vec![RuleSpec { description: Some("x".into()), ..ssh }, http]);
        let err = world_tx(&mut world, |tx| update_rule_descriptions(tx, &by, false, &both)).unwrap_err();
        assert_eq!(err.code, "InvalidPermission.NotFound");
        assert_eq!(rules(&world).into_iter().find(|r| !r.egress).unwrap().description, None);
    }

    #[test]
    fn an_interface_carries_groups_of_its_own_vpc_only() {
        let mut world = World::default();
        let (subnet, default_id, web, elsewhere) = world_tx(&mut world, |tx| {
            let subnet = tx.part().subnets().next().unwrap().clone();
            let default_id = tx.part().default_security_group(&subnet.vpc_id).unwrap().id.clone();
            let mk = |name: &str, vpc_id| CreateSecurityGroup {
                name: name.into(),
                description: "d".into(),
                vpc_id,
                tags: Tags::new(),
            };
            let web = create_security_group(tx, mk("web", None)).unwrap().id;
            let vpc = crate::vpcs::create_vpc(
                tx,
                crate::vpcs::CreateVpc {
                    cidr_block: "10.0.0.0/16".parse().unwrap(),
                    amazon_provided_ipv6_cidr_block: false,
                    instance_tenancy: "default".into(),
                    tags: Tags::new(),
                },
            )
            .unwrap();
            let elsewhere = create_security_group(tx, mk("web", Some(vpc.id))).unwrap().id;
            (subnet, default_id, web, elsewhere)
        });
        let part = world.partition(&Scope::new("123456789012", "us-east-1")).unwrap();
        assert_eq!(interface_groups(part, &subnet, &[]).unwrap(), std::slice::from_ref(&default_id));
        let named = [GroupRef::Name("web".into()), GroupRef::Id(web.clone()), GroupRef::Name("default".into())];
        assert_eq!(interface_groups(part, &subnet, &named).unwrap(), [web.clone(), default_id], "in order, once each");
        let err = interface_groups(part, &subnet, &[GroupRef::Id(elsewhere)]).unwrap_err();
        assert_eq!(err.code, "InvalidParameter");
        assert!(err.message.ends_with("belong to different networks."), "{}", err.message);
        assert_eq!(
            interface_groups(part, &subnet, &[GroupRef::Name("db".into())]).unwrap_err().code,
            "InvalidGroup.NotFound"
        );
        let mut world = world.clone();
        let six: Vec<GroupRef> = world_tx(&mut world, |tx| {
            (0..6)
                .map(|i| {
                    let input = CreateSecurityGroup {
                        name: format!("g{i}"),
                        description: "d".into(),
                        vpc_id: None,
                        tags: Tags::new(),
                    };
                    GroupRef::Id(create_security_group(tx, input).unwrap().id)
                })
                .collect()
        });
        let part = world.partition(&Scope::new("123456789012", "us-east-1")).unwrap();
        assert_eq!(interface_groups(part, &subnet, &six[..5]).unwrap().len(), 5);
        assert_eq!(interface_groups(part, &subnet, &six).unwrap_err().code, "SecurityGroupsPerInterfaceLimitExceeded");
    }

    #[test]
    fn default_groups_cannot_be_deleted_and_used_groups_wait() {
        let mut world = World::default();
        let scope = Scope::new("123456789012", "us-east-1");
        let default_id = {
            let part = Partition::with_defaults(&scope);
            part.default_security_group(&part.default_vpc().unwrap().id).unwrap().id.clone()
        };
        let err = world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Id(default_id.clone()))).unwrap_err();
        assert_eq!(err.code, "CannotDelete");
        let err = world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Name("default".into()))).unwrap_err();
        assert_eq!(err.code, "CannotDelete");
        let (a, b) = world_tx(&mut world, |tx| {
            let mk = |name: &str| CreateSecurityGroup {
                name: name.into(),
                description: "d".into(),
                vpc_id: None,
                tags: Tags::new(),
            };
            (create_security_group(tx, mk("a")).unwrap(), create_security_group(tx, mk("b")).unwrap())
        });
        let from_a =
            RuleSpec { permission: tcp(5432), peer: PeerRef::Group(GroupRef::Id(a.id.clone())), description: None };
        world_tx(&mut world, |tx| authorize(tx, &GroupRef::Id(b.id.clone()), false, &[from_a])).unwrap();
        let err = world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Id(a.id.clone()))).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            ("DependencyViolation", &*format!("resource {} has a dependent object", a.id))
        );
        world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Name("b".into()))).unwrap();
        world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Id(a.id.clone()))).unwrap();
        let err = world_tx(&mut world, |tx| delete_security_group(tx, &GroupRef::Id(a.id.clone()))).unwrap_err();
        assert_eq!(err.code, "InvalidGroup.NotFound");
    }
}
