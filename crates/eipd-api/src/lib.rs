//! One file per resource family: each operation decodes a typed input from
//! the query, runs the domain rule inside one store transaction, and encodes
//! a typed output. The dispatch table maps Action names to handlers.

pub mod account;
pub mod addresses;
pub mod dhcp_options;
pub mod images;
pub mod instances;
pub mod internet_gateways;
pub mod key_pairs;
pub mod nat_gateways;
pub mod network_interfaces;
pub mod policy;
mod render;
pub mod route_tables;
pub mod security_groups;
pub mod subnets;
pub mod tags;
pub mod vpcs;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::policy::{Decision, Principal};
use eipd_domain::describe::{DescribeQuery, Described, Page};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::{Flavor, Partition, Scope, Tags, Tx};
use eipd_protocol::{Params, TagSpecification, ToXml, XmlWriter};
use eipd_store::{Store, StoreError};
use render::Renderer;

/// Everything a handler may use for one request.
pub struct Ctx<'a> {
    /// The action being served: named once, in the action table.
    pub action: Action,
    pub store: &'a Store,
    pub principal: Principal,
    /// An older state of the caller's partition that reads show instead of
    /// the latest (fault injection's consistency delay; `None` normally).
    pub stale: Option<Arc<Partition>>,
}

pub type Output = Box<dyn ToXml + Send>;
type HandlerFuture<'a> = Pin<Box<dyn Future<Output = ApiResult<Output>> + Send + 'a>>;

impl Ctx<'_> {
    pub fn scope(&self) -> &Scope {
        &self.principal.scope
    }

    /// Refuses the parameters the action's decoding left: UnknownParameter,
    /// or one the EC2 model defines that eipd does not take (D14).
    pub fn finish(&self, params: Params) -> ApiResult<()> {
        params.finish(self.action.name())
    }

    /// The end of decoding for an action that takes `DryRun` and names no
    /// resource to IAM: `DryRun` read, the leftovers refused (D14), then
    /// authorization and DryRun (D6).
    pub fn finish_and_authorize(&self, mut params: Params) -> ApiResult<()> {
        let dry_run = params.take_dry_run()?;
        self.finish(params)?;
        self.authorize(dry_run)
    }

    /// Authorization, then DryRun (D6), for an action without resource-level
    /// permissions (IAM's resource `*`).
    pub fn authorize(&self, dry_run: bool) -> ApiResult<()> {
        self.authorize_on(Vec::new, dry_run)
    }

    /// Authorization, then DryRun (D6): reached after the input decoded and
    /// validated, before any NotFound. A principal without a policy may do
    /// everything in its account; with one, IAM's evaluation decides.
    /// `resources` names the ARNs the action touches; it runs only when a
    /// policy is there to read them (naming them may take lookups).
    pub fn authorize_on(&self, resources: impl FnOnce() -> Vec<String>, dry_run: bool) -> ApiResult<()> {
        if let Some(policy) = self.principal.user.as_ref().and_then(|u| u.policy.as_ref()) {
            let name = format!("ec2:{}", self.action.name());
            let resources = resources();
            let decision = policy.evaluate(&name, &resources);
            if decision != Decision::Allow {
                let because = if decision == Decision::ExplicitDeny {
                    "with an explicit deny in an identity-based policy"
                } else {
                    "because no identity-based policy allows the action"
                };
                return Err(ApiError::unauthorized_operation(format!(
                    "You are not authorized to perform this operation. User: {} is not authorized to perform: {name} on resource: {} {because}",
                    self.principal.arn(),
                    resources.first().map_or("*", String::as_str),
                )));
            }
        }
        if dry_run {
            return Err(ApiError::dry_run_operation());
        }
        Ok(())
    }

    /// The ARN of one of the caller's resources: `arn:aws:ec2:REGION:ACCOUNT:KIND/ID`.
    pub fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.region(), self.account())
    }

    /// Runs a domain operation as one transaction on the caller's partition.
    /// It may run more than once (a fleet node runs it again when another
    /// node changed the state first): only the last run counts.
    pub async fn write<R, F>(&self, op: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: Fn(&mut Tx) -> ApiResult<R> + Send + 'static,
    {
        self.store.write(self.scope().clone(), op).await.map_err(store_error)?
    }

    /// The caller's partition as last committed, by any node of a fleet (a
    /// new account's defaults when it has none yet).
    /// Shared, not copied: a copy of a partition touches the reference count
    /// of every index root, cache lines the other cores use as well.
    pub async fn read(&self) -> ApiResult<Arc<Partition>> {
        if let Some(stale) = &self.stale {
            return Ok(stale.clone());
        }
        let world = self.store.read(self.scope()).await.map_err(store_error)?;
        Ok(world.shared_partition(self.scope()).unwrap_or_else(|| Arc::new(Partition::with_defaults(self.scope()))))
    }

    /// The caller's partition as this node last saw it, without asking the
    /// store: for naming resources in authorization, where a moment's lag
    /// cannot matter (the operation itself reads the latest state).
    pub fn cached(&self) -> Partition {
        let world = self.store.snapshot();
        world.partition(self.scope()).cloned().unwrap_or_else(|| Partition::with_defaults(self.scope()))
    }

    pub fn flavor(&self) -> Flavor {
        self.store.settings().flavor
    }

    pub fn account(&self) -> &str {
        &self.scope().account
    }

    pub fn region(&self) -> &str {
        &self.scope().region
    }

    /// What answers need to write resources of `part` for this caller.
    pub(crate) fn renderer<'p>(&'p self, part: &'p Partition) -> Renderer<'p> {
        Renderer { part, account: self.account(), region: self.region() }
    }
}

macro_rules! actions {
    ($($name:ident => $module:ident :: $handler:ident),* $(,)?) => {
        /// Every action eipd serves.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action { $($name),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$name),*];

            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Action::$name),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$name => stringify!($name),)*
                }
            }

            /// A Describe* action: it reads and changes nothing (the
            /// consistency delay of fault injection applies to these).
            pub fn is_read(self) -> bool {
                self.name().starts_with("Describe")
            }

            fn handle<'a>(self, ctx: &'a Ctx<'_>, params: Params) -> HandlerFuture<'a> {
                match self {
                    $(Action::$name => Box::pin($module::$handler(ctx, params)),)*
                }
            }
        }
    };
}

actions! {
    AllocateAddress => addresses::allocate_address,
    AssociateAddress => addresses::associate_address,
    DisassociateAddress => addresses::disassociate_address,
    ReleaseAddress => addresses::release_address,
    DescribeAddresses => addresses::describe_addresses,
    DescribeAddressesAttribute => addresses::describe_addresses_attribute,
    ModifyAddressAttribute => addresses::modify_address_attribute,
    ResetAddressAttribute => addresses::reset_address_attribute,
    CreateTags => tags::create_tags,
    DeleteTags => tags::delete_tags,
    DescribeTags => tags::describe_tags,
    CreateVpc => vpcs::create_vpc,
    DescribeVpcs => vpcs::describe_vpcs,
    DeleteVpc => vpcs::delete_vpc,
    ModifyVpcAttribute => vpcs::modify_vpc_attribute,
    DescribeVpcAttribute => vpcs::describe_vpc_attribute,
    AssociateVpcCidrBlock => vpcs::associate_vpc_cidr_block,
    DisassociateVpcCidrBlock => vpcs::disassociate_vpc_cidr_block,
    CreateDhcpOptions => dhcp_options::create_dhcp_options,
    DescribeDhcpOptions => dhcp_options::describe_dhcp_options,
    AssociateDhcpOptions => dhcp_options::associate_dhcp_options,
    DeleteDhcpOptions => dhcp_options::delete_dhcp_options,
    CreateSubnet => subnets::create_subnet,
    DescribeSubnets => subnets::describe_subnets,
    DeleteSubnet => subnets::delete_subnet,
    ModifySubnetAttribute => subnets::modify_subnet_attribute,
    AssociateSubnetCidrBlock => subnets::associate_subnet_cidr_block,
    DisassociateSubnetCidrBlock => subnets::disassociate_subnet_cidr_block,
    CreateInternetGateway => internet_gateways::create_internet_gateway,
    AttachInternetGateway => internet_gateways::attach_internet_gateway,
    DetachInternetGateway => internet_gateways::detach_internet_gateway,
    DescribeInternetGateways => internet_gateways::describe_internet_gateways,
    DeleteInternetGateway => internet_gateways::delete_internet_gateway,
    CreateNetworkInterface => network_interfaces::create_network_interface,
    DescribeNetworkInterfaces => network_interfaces::describe_network_interfaces,
    DeleteNetworkInterface => network_interfaces::delete_network_interface,
    AttachNetworkInterface => network_interfaces::attach_network_interface,
    DetachNetworkInterface => network_interfaces::detach_network_interface,
    AssignPrivateIpAddresses => network_interfaces::assign_private_ip_addresses,
    UnassignPrivateIpAddresses => network_interfaces::unassign_private_ip_addresses,
    AssignIpv6Addresses => network_interfaces::assign_ipv6_addresses,
    UnassignIpv6Addresses => network_interfaces::unassign_ipv6_addresses,
    ModifyPublicIpDnsNameOptions => network_interfaces::modify_public_ip_dns_name_options,
    DescribeNetworkInterfaceAttribute => network_interfaces::describe_network_interface_attribute,
    ModifyNetworkInterfaceAttribute => network_interfaces::modify_network_interface_attribute,
    ResetNetworkInterfaceAttribute => network_interfaces::reset_network_interface_attribute,
    RunInstances => instances::run_instances,
    DescribeInstances => instances::describe_instances,
    DescribeInstanceStatus => instances::describe_instance_status,
    TerminateInstances => instances::terminate_instances,
    StopInstances => instances::stop_instances,
    StartInstances => instances::start_instances,
    DescribeInstanceAttribute => instances::describe_instance_attribute,
    ModifyInstanceAttribute => instances::modify_instance_attribute,
    ResetInstanceAttribute => instances::reset_instance_attribute,
    CreateSecurityGroup => security_groups::create_security_group,
    DeleteSecurityGroup => security_groups::delete_security_group,
    DescribeSecurityGroups => security_groups::describe_security_groups,
    AuthorizeSecurityGroupIngress => security_groups::authorize_security_group_ingress,
    AuthorizeSecurityGroupEgress => security_groups::authorize_security_group_egress,
    RevokeSecurityGroupIngress => security_groups::revoke_security_group_ingress,
    RevokeSecurityGroupEgress => security_groups::revoke_security_group_egress,
    DescribeSecurityGroupRules => security_groups::describe_security_group_rules,
    ModifySecurityGroupRules => security_groups::modify_security_group_rules,
    UpdateSecurityGroupRuleDescriptionsIngress => security_groups::update_security_group_rule_descriptions_ingress,
    UpdateSecurityGroupRuleDescriptionsEgress => security_groups::update_security_group_rule_descriptions_egress,
    CreateRouteTable => route_tables::create_route_table,
    DeleteRouteTable => route_tables::delete_route_table,
    DescribeRouteTables => route_tables::describe_route_tables,
    CreateRoute => route_tables::create_route,
    ReplaceRoute => route_tables::replace_route,
    DeleteRoute => route_tables::delete_route,
    AssociateRouteTable => route_tables::associate_route_table,
    DisassociateRouteTable => route_tables::disassociate_route_table,
    ReplaceRouteTableAssociation => route_tables::replace_route_table_association,
    CreateNatGateway => nat_gateways::create_nat_gateway,
    DeleteNatGateway => nat_gateways::delete_nat_gateway,
    DescribeNatGateways => nat_gateways::describe_nat_gateways,
    CreateKeyPair => key_pairs::create_key_pair,
    ImportKeyPair => key_pairs::import_key_pair,
    DescribeKeyPairs => key_pairs::describe_key_pairs,
    DeleteKeyPair => key_pairs::delete_key_pair,
    DescribeImages => images::describe_images,
    DescribeAccountAttributes => account::describe_account_attributes,
    DescribeRegions => account::describe_regions,
    DescribeAvailabilityZones => account::describe_availability_zones,
}

/// What a client is told when the store could not serve its request. The
/// one place a store failure becomes an EC2 error.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Busy => ApiError::server_busy(),
        // A temporary failure that SDKs retry (every 503 is one to them);
        // /health says what it is.
        StoreError::Unavailable(_) => ApiError::service_unavailable(
            "The store cannot take requests now (see /health); nothing was changed. Try again.",
        ),
        StoreError::OutcomeUnknown(_) => ApiError::service_unavailable(
            "The store's connection broke while it committed: the request may or may not have been applied. \
             Check before retrying a request that is not idempotent.",
        ),
        StoreError::Panicked(_) => {
            ApiError::internal_error("An internal error has occurred; nothing of the request was applied.")
        }
        StoreError::Stopped => ApiError::internal_error("the store writer stopped"),
    }
}

/// Runs one request's action (`ctx.action`).
pub async fn dispatch(ctx: &Ctx<'_>, params: Params) -> ApiResult<Output> {
    ctx.action.handle(ctx, params).await
}

// ---- decoding helpers shared by the handlers ----------------------------------

/// Parses an id with its kind's parser. A malformed one gets the EC2 error
/// for its form (D15), or in the moto flavour its kind's NotFound: moto never
/// checks an id's form, it looks the id up and finds nothing (D1).
pub fn parse_id<T>(
    ctx: &Ctx<'_>,
    value: &str,
    parse: fn(&str) -> Option<T>,
    malformed: impl FnOnce(String) -> ApiError,
    not_found: fn(&str) -> ApiError,
) -> ApiResult<T> {
    parse(value).ok_or_else(|| match ctx.flavor() {
        Flavor::Moto => not_found(value),
        Flavor::Aws => malformed(value.to_owned()),
    })
}

/// InvalidParameterValue naming the parameter and the form it expects (D2, D15).
pub fn malformed_param(param: &'static str, prefix: &'static str) -> impl FnOnce(String) -> ApiError {
    move |value| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Expected: '{prefix}...'."
        ))
    }
}

pub fn malformed_code(code: fn(String) -> ApiError, prefix: &'static str) -> impl FnOnce(String) -> ApiError {
    move |value| code(format!("Invalid id: \"{value}\" (expecting \"{prefix}...\")"))
}

/// The tags that TagSpecifications give one resource type; a specification
/// for a type the operation does not create is refused.
pub fn tags_for(specs: &[TagSpecification], allowed: &[&str]) -> ApiResult<Vec<(String, Tags)>> {
    let mut out: Vec<(String, Tags)> = Vec::new();
    for spec in specs {
        if !allowed.contains(&spec.resource_type.as_str()) {
            return Err(ApiError::invalid_parameter_value(format!(
                "'{}' is not a valid taggable resource type for this operation.",
                spec.resource_type
            )));
        }
        let tags: Tags = spec.tags.iter().cloned().collect();
        eipd_domain::tags::validate_tags(tags.iter().map(|(k, v)| (k, Some(v))))?;
        match out.iter_mut().find(|(t, _)| *t == spec.resource_type) {
            Some((_, existing)) => existing.extend(tags),
            None => out.push((spec.resource_type.clone(), tags)),
        }
    }
    Ok(out)
}

/// The tags for `resource_type` among already-checked specifications.
pub fn tags_of(tags: &[(String, Tags)], resource_type: &str) -> Tags {
    tags.iter().find(|(t, _)| t == resource_type).map(|(_, t)| t.clone()).unwrap_or_default()
}

/// `MaxResults` within `lo..=hi`, if given.
pub fn max_results(params: &mut Params, lo: i64, hi: i64) -> ApiResult<Option<usize>> {
    match params.take_int("MaxResults")? {
        None => Ok(None),
        Some(n) if (lo..=hi).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(ApiError::invalid_parameter_value(format!(
            "Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {lo} and {hi}."
        ))),
    }
}

/// The parameters every Describe* of a resource family takes: `IdParam.N`
/// (each parsed by `parse`), `Filter.N`, `MaxResults` (5 to 1000) and
/// `NextToken`.
pub(crate) fn describe_query<Id>(
    ctx: &Ctx<'_>,
    params: &mut Params,
    id_param: &str,
    parse: fn(&Ctx<'_>, &str) -> ApiResult<Id>,
) -> ApiResult<DescribeQuery<Id>> {
    let ids = params.take_list(id_param)?.iter().map(|v| parse(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    let filters = params.take_filters()?;
    let max_results = max_results(params, 5, 1000)?;
    let next_token = params.take_str("NextToken");
    Ok(DescribeQuery { ids, filters, max_results, next_token })
}

/// The Describe* of a resource family, whole: its query, DryRun, one read,
/// the domain's listing, one page of the family's XML.
pub(crate) async fn describe<R: Described + Render>(
    ctx: &Ctx<'_>,
    mut params: Params,
    id_param: &str,
    parse: fn(&Ctx<'_>, &str) -> ApiResult<R::Id>,
) -> ApiResult<Output> {
    let query = describe_query(ctx, &mut params, id_param, parse)?;
    ctx.finish_and_authorize(params)?;
    let part = ctx.read().await?;
    let page = eipd_domain::describe::describe::<R>(&part, ctx.scope(), &query)?;
    Ok(rendered(&DescribeOutput { page, r: ctx.renderer(&part) }))
}

/// How a resource family is written in answers: its element in a Create*
/// answer, its set in a Describe* answer, and its members.
pub(crate) trait Render {
    const ELEMENT: &'static str;
    const SET: &'static str;
    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>);
}

/// A Describe* answer: one page of a family in its set, and the token of
/// the next page.
pub(crate) struct DescribeOutput<'a, R> {
    pub(crate) page: Page<'a, R>,
    pub(crate) r: Renderer<'a>,
}

impl<R: Render> ToXml for DescribeOutput<'_, R> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list(R::SET, &self.page.items, |w, item| item.write(w, &self.r));
        w.opt_text("nextToken", self.page.next_token.as_deref());
    }
}

/// A Create* answer: the new resource in its family's element.
pub(crate) struct Created<'a, R> {
    pub(crate) resource: &'a R,
    pub(crate) r: Renderer<'a>,
}

impl<R: Render> ToXml for Created<'_, R> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.nested(R::ELEMENT, |w| self.resource.write(w, &self.r));
    }
}

/// An output that borrows the snapshot it was read from, written out while
/// the snapshot is at hand (no copy of what it shows).
pub(crate) fn rendered(output: &impl ToXml) -> Output {
    let mut w = XmlWriter::fragment();
    output.write_xml(&mut w);
    Box::new(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated table of the EC2 model's parameters (D14) covers
    /// exactly the served actions: an action added to the table without
    /// regenerating it would refuse all of its parameters as unknown.
    #[test]
    fn the_parameter_table_is_generated_for_exactly_the_served_actions() {
        let mut served: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        served.sort_unstable();
        assert_eq!(
            served,
            eipd_protocol::model_params::ACTIONS,
            "run tools/gen_model_params.py after changing the action table"
        );
    }

    #[test]
    fn every_action_parses_back_from_its_name() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(*action));
        }
        assert_eq!(Action::parse("DescribeAddress"), None);
    }
}
