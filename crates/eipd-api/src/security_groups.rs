//! Create/Delete/DescribeSecurityGroups, Authorize/RevokeSecurityGroupIngress
//! and Egress, UpdateSecurityGroupRuleDescriptionsIngress and Egress,
//! Describe/ModifySecurityGroupRules.

use std::collections::BTreeMap;

use ipnet::{Ipv4Net, Ipv6Net};

use super::render::Renderer;
use super::{Ctx, DescribeOutput, Output, Render, describe, describe_query, malformed_code, parse_id, rendered};
use super::{tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::security_groups::{
    self as rules, CreateSecurityGroup, DescriptionUpdate, GroupRef, PeerRef, Revoke, Revoked, RuleSpec, RuleUpdate,
};
use eipd_domain::{Permission, RulePeer, SecurityGroup, SecurityGroupId, SecurityGroupRule, SecurityGroupRuleId};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter, not_taken};

pub(crate) fn group_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<SecurityGroupId> {
    let malformed = malformed_code(ApiError::invalid_group_id_malformed_raw, "sg-");
    parse_id(ctx, value, SecurityGroupId::parse, malformed, ApiError::invalid_group_not_found)
}

fn rule_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<SecurityGroupRuleId> {
    let malformed = malformed_code(ApiError::invalid_security_group_rule_id_malformed, "sgr-");
    let not_found = |id: &str| {
        ApiError::invalid_security_group_rule_id_not_found(format!("The security group rule ID '{id}' does not exist"))
    };
    parse_id(ctx, value, SecurityGroupRuleId::parse, malformed, not_found)
}

/// `GroupId` or `GroupName` (a name in the default VPC): exactly one.
fn group_ref(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<GroupRef> {
    match (p.take_str("GroupId").filter(|v| !v.is_empty()), p.take_str("GroupName").filter(|v| !v.is_empty())) {
        (Some(id), None) => Ok(GroupRef::Id(group_id(ctx, &id)?)),
        (None, Some(name)) => Ok(GroupRef::Name(name)),
        (None, None) => Err(ApiError::missing_parameter("The request must contain the parameter groupName or groupId")),
        (Some(_), Some(_)) => {
            Err(ApiError::invalid_parameter_combination("Specify either GroupId or GroupName, not both"))
        }
    }
}

/// The ARN IAM sees for a group named in a request: by name, as this node
/// last saw it (none when it does not exist: the operation says NotFound).
fn group_arns(ctx: &Ctx<'_>, group: &GroupRef) -> Vec<String> {
    let id = match group {
        GroupRef::Id(id) => Some(id.clone()),
        GroupRef::Name(_) => rules::resolve(&ctx.cached(), group, None).ok().map(|g| g.id.clone()),
    };
    id.map(|id| ctx.arn("security-group", id.as_str())).into_iter().collect()
}

fn cidr4(value: &str) -> ApiResult<Ipv4Net> {
    value.parse().map_err(|_| ApiError::invalid_parameter_value(format!("CIDR block {value} is malformed")))
}

fn cidr6(value: &str) -> ApiResult<Ipv6Net> {
    value.parse().map_err(|_| ApiError::invalid_parameter_value(format!("CIDR block {value} is malformed")))
}

fn int(param: &str, value: Option<&String>) -> ApiResult<Option<i64>> {
    value
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::invalid_parameter_value(format!(
                    "Value ({v}) for parameter {param} is invalid. Expected an integer."
                ))
            })
        })
        .transpose()
}

fn description(param: &str, value: Option<&String>) -> ApiResult<Option<String>> {
    match value {
        Some(v) => rules::check_description(param, v).map(|()| Some(v.clone())),
        None => Ok(None),
    }
}

/// Whether `key` is a member of `IpPermissions.N` that eipd takes.
fn permission_member(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    let index = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        ["IpProtocol" | "FromPort" | "ToPort"] => true,
        ["IpRanges", n, "CidrIp" | "Description"] => index(n),
        ["Ipv6Ranges", n, "CidrIpv6" | "Description"] => index(n),
        ["Groups", n, "GroupId" | "GroupName" | "UserId" | "Description"] => index(n),
        _ => false,
    }
}

/// One `IpPermissions.N`: its protocol and ports, and one rule per peer.
fn ip_permission(ctx: &Ctx<'_>, group: &BTreeMap<String, String>) -> ApiResult<Vec<RuleSpec>> {
    if let Some(bad) = group.keys().find(|k| !permission_member(k)) {
        return Err(not_taken(ctx.action.name(), &format!("IpPermissions.N.{bad}")));
    }
    let mut m = Params::from_members(group.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let protocol = m.take_str("IpProtocol").ok_or_else(|| ApiError::missing("IpPermissions.N.IpProtocol"))?;
    let permission = rules::permission(&protocol, m.take_int("FromPort")?, m.take_int("ToPort")?)?;
    let mut peers: Vec<(PeerRef, Option<String>)> = Vec::new();
    for r in m.take_structs("IpRanges")? {
        let cidr = r.get("CidrIp").ok_or_else(|| ApiError::missing("IpPermissions.N.IpRanges.N.CidrIp"))?;
        peers.push((PeerRef::Ipv4(cidr4(cidr)?), description("Description", r.get("Description"))?));
    }
    for r in m.take_structs("Ipv6Ranges")? {
        let cidr = r.get("CidrIpv6").ok_or_else(|| ApiError::missing("IpPermissions.N.Ipv6Ranges.N.CidrIpv6"))?;
        peers.push((PeerRef::Ipv6(cidr6(cidr)?), description("Description", r.get("Description"))?));
    }
    for r in m.take_structs("Groups")? {
        if r.get("UserId").is_some_and(|u| u != ctx.account()) {
            // Another account's groups are invisible (D12).
            return Err(ApiError::unsupported_parameter("IpPermissions.N.Groups.N.UserId of another account"));
        }
        let group = match (r.get("GroupId"), r.get("GroupName")) {
            (Some(id), _) => GroupRef::Id(group_id(ctx, id)?),
            (None, Some(name)) => GroupRef::Name(name.clone()),
            (None, None) => return Err(ApiError::missing("IpPermissions.N.Groups.N.GroupId")),
        };
        peers.push((PeerRef::Group(group), description("Description", r.get("Description"))?));
    }
    if peers.is_empty() {
        return Err(ApiError::missing_parameter(
            "Each IpPermissions.N needs a peer: IpRanges, Ipv6Ranges or Groups (UserIdGroupPairs)",
        ));
    }
    Ok(peers
        .into_iter()
        .map(|(peer, description)| RuleSpec { permission: permission.clone(), peer, description })
        .collect())
}

/// The rules of Authorize/Revoke: `IpPermissions.N`, or the one rule the
/// top-level `IpProtocol`, `FromPort`, `ToPort` and `CidrIp` name.
fn rule_specs(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<Vec<RuleSpec>> {
    let listed = p.take_structs("IpPermissions")?;
    let protocol = p.take_str("IpProtocol");
    let (from, to) = (p.take_int("FromPort")?, p.take_int("ToPort")?);
    let cidr = p.take_str("CidrIp");
    let simple = protocol.is_some() || cidr.is_some() || from.is_some() || to.is_some();
    if simple && !listed.is_empty() {
        return Err(ApiError::invalid_parameter_combination(
            "The parameter ipPermissions cannot be used with the parameters IpProtocol, FromPort, ToPort or CidrIp",
        ));
    }
    if simple {
        let protocol = protocol.ok_or_else(|| ApiError::missing("IpProtocol"))?;
        let cidr = cidr.ok_or_else(|| ApiError::missing("CidrIp"))?;
        let permission = rules::permission(&protocol, from, to)?;
        return Ok(vec![RuleSpec { permission, peer: PeerRef::Ipv4(cidr4(&cidr)?), description: None }]);
    }
    let mut specs = Vec::new();
    for group in &listed {
        specs.extend(ip_permission(ctx, group)?);
    }
    if specs.is_empty() {
        return Err(ApiError::missing("IpPermissions"));
    }
    Ok(specs)
}

// ---- groups -----------------------------------------------------------------------

impl Render for SecurityGroup {
    const ELEMENT: &'static str = "securityGroup";
    const SET: &'static str = "securityGroupInfo";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        w.text("ownerId", r.account);
        w.display("groupId", &self.id);
        w.text("groupName", &self.name);
        w.text("groupDescription", &self.description);
        w.display("vpcId", &self.vpc_id);
        for (set, egress) in [("ipPermissions", false), ("ipPermissionsEgress", true)] {
            let rules = self.rules.iter().filter(|rule| rule.egress == egress);
            write_ip_permissions(w, set, rules.map(|rule| (&rule.permission, &rule.peer, &rule.description)), r);
        }
        w.tag_set("tagSet", &self.tags);
        w.text("securityGroupArn", &arn(r, "security-group", self.id.as_str()));
    }
}

fn arn(r: &Renderer<'_>, kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{}:{}:{kind}/{id}", r.region, r.account)
}

/// A rule's peer and description, under its permission.
type Peer<'a> = (&'a RulePeer, &'a Option<String>);

/// Rules as `IpPermission` items: one per protocol and port range, with its
/// peers, in the order each permission first appears.
fn write_ip_permissions<'a>(
    w: &mut XmlWriter,
    set: &str,
    rules: impl Iterator<Item = (&'a Permission, &'a RulePeer, &'a Option<String>)>,
    r: &Renderer<'_>,
) {
    let mut permissions: Vec<(&Permission, Vec<Peer<'_>>)> = Vec::new();
    for (permission, peer, description) in rules {
        match permissions.iter_mut().find(|(p, _)| *p == permission) {
            Some((_, peers)) => peers.push((peer, description)),
            None => permissions.push((permission, vec![(peer, description)])),
        }
    }
    w.list(set, permissions, |w, (permission, peers)| {
        w.text("ipProtocol", &permission.protocol);
        // Only protocols with ports show them: not all (-1), nor GRE (47) and
        // the other numbers (Ansible's ec2_security_group compares on it).
        if matches!(permission.protocol.as_str(), "tcp" | "udp" | "icmp" | "icmpv6") {
            w.display("fromPort", permission.from_port);
            w.display("toPort", permission.to_port);
        }
        let groups = peers.iter().filter_map(|(peer, d)| match peer {
            RulePeer::Group(id) => Some((id, d)),
            _ => None,
        });
        w.list("groups", groups, |w, (id, d)| {
            w.opt_text("description", d.as_deref());
            w.text("userId", r.account);
            w.display("groupId", id);
        });
        let v4 = peers.iter().filter_map(|(peer, d)| match peer {
            RulePeer::Ipv4(net) => Some((net, d)),
            _ => None,
        });
        w.list("ipRanges", v4, |w, (net, d)| {
            w.display("cidrIp", net);
            w.opt_text("description", d.as_deref());
        });
        let v6 = peers.iter().filter_map(|(peer, d)| match peer {
            RulePeer::Ipv6(net) => Some((net, d)),
            _ => None,
        });
        w.list("ipv6Ranges", v6, |w, (net, d)| {
            w.display("cidrIpv6", net);
            w.opt_text("description", d.as_deref());
        });
        w.list("prefixListIds", std::iter::empty::<()>(), |_, ()| {});
    });
}

pub async fn create_security_group(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let name = p.take_str("GroupName").unwrap_or_default();
    let description = p.take_str("GroupDescription").unwrap_or_default();
    let vpc_id = p.take_str("VpcId").map(|v| super::vpcs::vpc_id(ctx, &v)).transpose()?;
    let tags = tags_for(&p.take_tag_specifications()?, &["security-group"])?;
    let input = CreateSecurityGroup { name, description, vpc_id, tags: tags_of(&tags, "security-group") };
    rules::validate_create(&input)?;
    ctx.finish_and_authorize(p)?;
    let group = ctx.write(move |tx| rules::create_security_group(tx, input.clone())).await?;
    Ok(Box::new(CreateSecurityGroupOutput { arn: ctx.arn("security-group", group.id.as_str()), group }))
}

struct CreateSecurityGroupOutput {
    group: SecurityGroup,
    arn: String,
}

impl ToXml for CreateSecurityGroupOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("groupId", &self.group.id);
        if !self.group.tags.is_empty() {
            w.tag_set("tagSet", &self.group.tags);
        }
        w.text("securityGroupArn", &self.arn);
    }
}

pub async fn delete_security_group(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let group = group_ref(ctx, &mut p)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| group_arns(ctx, &group), dry_run)?;
    let id = ctx.write(move |tx| rules::delete_security_group(tx, &group)).await?;
    Ok(Box::new(DeleteSecurityGroupOutput(id)))
}

struct DeleteSecurityGroupOutput(SecurityGroupId);

impl ToXml for DeleteSecurityGroupOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("return", true);
        w.display("groupId", &self.0);
    }
}

/// The generic Describe of a family, plus `GroupName.N`: names of groups
/// of the default VPC, which must all exist.
pub async fn describe_security_groups(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let mut query = describe_query(ctx, &mut p, "GroupId", group_id)?;
    let names = p.take_list("GroupName")?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    for name in names {
        let group = rules::resolve(&part, &GroupRef::Name(name), None)?;
        query.ids.push(group.id.clone());
    }
    let page = eipd_domain::describe::describe::<SecurityGroup>(&part, ctx.scope(), &query)?;
    Ok(rendered(&DescribeOutput { page, r: ctx.renderer(&part) }))
}

// ---- rules ------------------------------------------------------------------------

impl Render for SecurityGroupRule {
    const ELEMENT: &'static str = "securityGroupRule";
    const SET: &'static str = "securityGroupRuleSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        let group = r.part.group_of_rule(&self.id).map(|g| g.id.clone());
        write_rule(w, self, group.as_ref(), r);
    }
}

/// A rule as a SecurityGroupRule item; `group` is the group holding it.
fn write_rule(w: &mut XmlWriter, rule: &SecurityGroupRule, group: Option<&SecurityGroupId>, r: &Renderer<'_>) {
    w.display("securityGroupRuleId", &rule.id);
    w.opt_display("groupId", group);
    w.text("groupOwnerId", r.account);
    w.display("isEgress", rule.egress);
    w.text("ipProtocol", &rule.permission.protocol);
    w.display("fromPort", rule.permission.from_port);
    w.display("toPort", rule.permission.to_port);
    match &rule.peer {
        RulePeer::Ipv4(net) => w.display("cidrIpv4", net),
        RulePeer::Ipv6(net) => w.display("cidrIpv6", net),
        RulePeer::Group(id) => w.nested("referencedGroupInfo", |w| {
            w.display("groupId", id);
            w.text("userId", r.account);
        }),
    }
    w.opt_text("description", rule.description.as_deref());
    w.list("tagSet", std::iter::empty::<()>(), |_, ()| {});
    w.text("securityGroupRuleArn", &arn(r, "security-group-rule", rule.id.as_str()));
}

pub async fn describe_security_group_rules(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<SecurityGroupRule>(ctx, p, "SecurityGroupRuleId", rule_id).await
}

async fn authorize(ctx: &Ctx<'_>, mut p: Params, egress: bool) -> ApiResult<Output> {
    let group = if egress { GroupRef::Id(group_id(ctx, &p.require_str("GroupId")?)?) } else { group_ref(ctx, &mut p)? };
    let specs = rule_specs(ctx, &mut p)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| group_arns(ctx, &group), dry_run)?;
    let (group_id, added) = ctx
        .write(move |tx| {
            let added = rules::authorize(tx, &group, egress, &specs)?;
            let id = rules::resolve(tx.part(), &group, None)?.id.clone();
            Ok((id, added))
        })
        .await?;
    let part = ctx.cached();
    Ok(rendered(&AuthorizeOutput { group_id, added, r: ctx.renderer(&part) }))
}

struct AuthorizeOutput<'a> {
    group_id: SecurityGroupId,
    added: Vec<SecurityGroupRule>,
    r: Renderer<'a>,
}

impl ToXml for AuthorizeOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("return", true);
        w.list("securityGroupRuleSet", &self.added, |w, rule| write_rule(w, rule, Some(&self.group_id), &self.r));
    }
}

pub async fn authorize_security_group_ingress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    authorize(ctx, p, false).await
}

pub async fn authorize_security_group_egress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    authorize(ctx, p, true).await
}

async fn revoke(ctx: &Ctx<'_>, mut p: Params, egress: bool) -> ApiResult<Output> {
    let group = if egress { GroupRef::Id(group_id(ctx, &p.require_str("GroupId")?)?) } else { group_ref(ctx, &mut p)? };
    let ids = p.take_list("SecurityGroupRuleId")?.iter().map(|v| rule_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let what = if ids.is_empty() {
        Revoke::Rules(rule_specs(ctx, &mut p)?)
    } else {
        if !p.take_structs("IpPermissions")?.is_empty() {
            return Err(ApiError::invalid_parameter_combination(
                "The parameter SecurityGroupRuleId cannot be used with the parameter IpPermissions",
            ));
        }
        Revoke::Ids(ids)
    };
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| group_arns(ctx, &group), dry_run)?;
    let (group_id, revoked) = ctx
        .write(move |tx| {
            let id = rules::resolve(tx.part(), &group, None)?.id.clone();
            Ok((id, rules::revoke(tx, &group, egress, &what)?))
        })
        .await?;
    let part = ctx.cached();
    Ok(rendered(&RevokeOutput { group_id, revoked, r: ctx.renderer(&part) }))
}

struct RevokeOutput<'a> {
    group_id: SecurityGroupId,
    revoked: Revoked,
    r: Renderer<'a>,
}

impl ToXml for RevokeOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("return", true);
        if !self.revoked.unknown.is_empty() {
            // Unknown rules as the request named them (a group by name too).
            let peers: Vec<(RulePeer, &RuleSpec)> = self
                .revoked
                .unknown
                .iter()
                .filter_map(|spec| {
                    let peer = match &spec.peer {
                        PeerRef::Ipv4(net) => RulePeer::Ipv4(*net),
                        PeerRef::Ipv6(net) => RulePeer::Ipv6(*net),
                        PeerRef::Group(GroupRef::Id(id)) => RulePeer::Group(id.clone()),
                        PeerRef::Group(GroupRef::Name(name)) => {
                            rules::resolve(self.r.part, &GroupRef::Name(name.clone()), None)
                                .ok()
                                .map(|g| RulePeer::Group(g.id.clone()))?
                        }
                    };
                    Some((peer, spec))
                })
                .collect();
            let rules = peers.iter().map(|(peer, spec)| (&spec.permission, peer, &spec.description));
            write_ip_permissions(w, "unknownIpPermissionSet", rules, &self.r);
        }
        w.list("revokedSecurityGroupRuleSet", &self.revoked.revoked, |w, rule| {
            w.display("securityGroupRuleId", &rule.id);
            w.display("groupId", &self.group_id);
            w.display("isEgress", rule.egress);
            w.text("ipProtocol", &rule.permission.protocol);
            w.display("fromPort", rule.permission.from_port);
            w.display("toPort", rule.permission.to_port);
            match &rule.peer {
                RulePeer::Ipv4(net) => w.display("cidrIpv4", net),
                RulePeer::Ipv6(net) => w.display("cidrIpv6", net),
                RulePeer::Group(id) => w.display("referencedGroupId", id),
            }
            w.opt_text("description", rule.description.as_deref());
        });
    }
}

pub async fn revoke_security_group_ingress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    revoke(ctx, p, false).await
}

pub async fn revoke_security_group_egress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    revoke(ctx, p, true).await
}

/// UpdateSecurityGroupRuleDescriptionsIngress/Egress: `IpPermissions.N`
/// (rules by value, each peer with its new description) or
/// `SecurityGroupRuleDescription.N` (rules by id), not both.
async fn update_descriptions(ctx: &Ctx<'_>, mut p: Params, egress: bool) -> ApiResult<Output> {
    let group = group_ref(ctx, &mut p)?;
    let by_id = p.take_structs("SecurityGroupRuleDescription")?;
    let listed = p.take_structs("IpPermissions")?;
    let what = match (listed.is_empty(), by_id.is_empty()) {
        (false, false) => {
            return Err(ApiError::invalid_parameter_combination(
                "The parameter 'ipPermissions' may not be used in combination with 'securityGroupRuleDescriptions'.",
            ));
        }
        (true, true) => {
            return Err(ApiError::missing_parameter(
                "The request must contain the parameter ipPermissions or securityGroupRuleDescriptions",
            ));
        }
        (false, true) => {
            let mut specs = Vec::new();
            for permission in &listed {
                specs.extend(ip_permission(ctx, permission)?);
            }
            DescriptionUpdate::Rules(specs)
        }
        (true, false) => DescriptionUpdate::Ids(
            by_id
                .iter()
                .map(|m| {
                    if let Some(bad) = m.keys().find(|k| !matches!(k.as_str(), "SecurityGroupRuleId" | "Description")) {
                        return Err(not_taken(ctx.action.name(), &format!("SecurityGroupRuleDescription.N.{bad}")));
                    }
                    let id = m
                        .get("SecurityGroupRuleId")
                        .ok_or_else(|| ApiError::missing("SecurityGroupRuleDescription.N.SecurityGroupRuleId"))?;
                    Ok((rule_id(ctx, id)?, description("Description", m.get("Description"))?))
                })
                .collect::<ApiResult<_>>()?,
        ),
    };
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| group_arns(ctx, &group), dry_run)?;
    ctx.write(move |tx| rules::update_rule_descriptions(tx, &group, egress, &what)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn update_security_group_rule_descriptions_ingress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    update_descriptions(ctx, p, false).await
}

pub async fn update_security_group_rule_descriptions_egress(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    update_descriptions(ctx, p, true).await
}

/// One `SecurityGroupRule.N` of ModifySecurityGroupRules.
fn rule_update(ctx: &Ctx<'_>, group: &BTreeMap<String, String>) -> ApiResult<RuleUpdate> {
    const PREFIX: &str = "SecurityGroupRule.";
    const MEMBERS: &[&str] =
        &["IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "ReferencedGroupId", "Description"];
    let mut rule: BTreeMap<&str, &String> = BTreeMap::new();
    let mut id = None;
    for (key, value) in group {
        match key.strip_prefix(PREFIX) {
            None if key == "SecurityGroupRuleId" => id = Some(rule_id(ctx, value)?),
            Some(member) if MEMBERS.contains(&member) => {
                rule.insert(member, value);
            }
            _ => return Err(not_taken(ctx.action.name(), &format!("SecurityGroupRule.N.{key}"))),
        }
    }
    let id = id.ok_or_else(|| ApiError::missing("SecurityGroupRule.N.SecurityGroupRuleId"))?;
    let protocol =
        rule.get("IpProtocol").ok_or_else(|| ApiError::missing("SecurityGroupRule.N.SecurityGroupRule.IpProtocol"))?;
    let from = int("FromPort", rule.get("FromPort").copied())?;
    let to = int("ToPort", rule.get("ToPort").copied())?;
    let permission = rules::permission(protocol, from, to)?;
    let peers: Vec<PeerRef> = [
        rule.get("CidrIpv4").map(|v| cidr4(v).map(PeerRef::Ipv4)),
        rule.get("CidrIpv6").map(|v| cidr6(v).map(PeerRef::Ipv6)),
        rule.get("ReferencedGroupId").map(|v| group_id(ctx, v).map(|g| PeerRef::Group(GroupRef::Id(g)))),
    ]
    .into_iter()
    .flatten()
    .collect::<ApiResult<_>>()?;
    let [peer] = <[PeerRef; 1]>::try_from(peers).map_err(|_| {
        ApiError::invalid_parameter_combination(
            "Each security group rule needs exactly one of CidrIpv4, CidrIpv6 or ReferencedGroupId",
        )
    })?;
    let description = description("Description", rule.get("Description").copied())?;
    Ok(RuleUpdate { id, spec: RuleSpec { permission, peer, description } })
}

pub async fn modify_security_group_rules(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let group = group_id(ctx, &p.require_str("GroupId")?)?;
    let updates =
        p.take_structs("SecurityGroupRule")?.iter().map(|g| rule_update(ctx, g)).collect::<ApiResult<Vec<_>>>()?;
    if updates.is_empty() {
        return Err(ApiError::missing("SecurityGroupRule"));
    }
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("security-group", group.as_str())], dry_run)?;
    ctx.write(move |tx| rules::modify_security_group_rules(tx, &group, &updates)).await?;
    Ok(Box::new(ReturnTrue))
}
