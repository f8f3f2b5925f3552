//! Create/Delete/DescribeRouteTables, Create/Replace/DeleteRoute,
//! Associate/DisassociateRouteTable and ReplaceRouteTableAssociation.

use super::instances::instance_id;
use super::internet_gateways::igw_id;
use super::nat_gateways::nat_gateway_id;
use super::network_interfaces::eni_id;
use super::render::Renderer;
use super::subnets::subnet_id;
use super::vpcs::{cidr, cidr6, vpc_id};
use super::{Ctx, DescribeOutput, Output, Render, describe_query, malformed_code, malformed_param, max_results};
use super::{parse_id, rendered, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::route_tables::{self as rules, CreateRouteTable, RouteSpec, TargetRef};
use eipd_domain::{
    AssociatedWith, Flavor, RouteDestination, RouteTable, RouteTableAssociationId, RouteTableId, RouteTarget,
};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter, not_taken};

pub(crate) fn route_table_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<RouteTableId> {
    let malformed = malformed_code(ApiError::invalid_route_table_id_malformed_raw, "rtb-");
    parse_id(ctx, value, RouteTableId::parse, malformed, ApiError::invalid_route_table_id_not_found)
}

fn association_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<RouteTableAssociationId> {
    let malformed = malformed_param("associationId", "rtbassoc-");
    parse_id(ctx, value, RouteTableAssociationId::parse, malformed, ApiError::invalid_association_id_not_found)
}

/// `GatewayId`: an internet gateway, the one kind of gateway eipd has.
fn gateway_id(value: &str) -> ApiResult<eipd_domain::InternetGatewayId> {
    eipd_domain::InternetGatewayId::parse(value).ok_or_else(|| ApiError::invalid_gateway_id_not_found(value))
}

/// `DestinationCidrBlock` or `DestinationIpv6CidrBlock`: exactly one, kept
/// as its network (moto keeps it as written, host bits and all).
fn destination(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<RouteDestination> {
    let v4 = p.take_str("DestinationCidrBlock");
    let v6 = p.take_str("DestinationIpv6CidrBlock");
    let as_written = ctx.flavor() == Flavor::Moto;
    match (v4, v6) {
        (Some(v4), None) => {
            let net = cidr("destinationCidrBlock", &v4)?;
            Ok(RouteDestination::Ipv4(if as_written { net } else { net.trunc() }))
        }
        (None, Some(v6)) => {
            let net = cidr6("destinationIpv6CidrBlock", &v6)?;
            Ok(RouteDestination::Ipv6(if as_written { net } else { net.trunc() }))
        }
        (None, None) => Err(ApiError::missing_parameter(
            "The request must contain the parameter destinationCidrBlock or destinationIpv6CidrBlock",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter_combination(
            "Specify either destinationCidrBlock or destinationIpv6CidrBlock, not both",
        )),
    }
}

/// The targets eipd has.
const TARGETS: &[&str] = &["GatewayId", "NetworkInterfaceId", "InstanceId", "NatGatewayId"];

/// The targets of the EC2 model that eipd does not have yet: named, they
/// are refused as such rather than as a missing target (D14).
const OTHER_TARGETS: &[&str] = &[
    "TransitGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "EgressOnlyInternetGatewayId",
    "VpcPeeringConnectionId",
    "VpcEndpointId",
    "CoreNetworkArn",
    "OdbNetworkArn",
];

/// `GatewayId`, `NetworkInterfaceId` or `InstanceId`: exactly one.
fn target(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<TargetRef> {
    let gateway = p.take_str("GatewayId").map(|v| gateway_id(&v)).transpose()?;
    let eni = p.take_str("NetworkInterfaceId").map(|v| eni_id(ctx, &v)).transpose()?;
    let instance = p.take_str("InstanceId").map(|v| instance_id(ctx, &v)).transpose()?;
    let nat = p.take_str("NatGatewayId").map(|v| nat_gateway_id(ctx, &v)).transpose()?;
    let mut given: Vec<TargetRef> = Vec::new();
    given.extend(gateway.map(TargetRef::Gateway));
    given.extend(eni.map(TargetRef::NetworkInterface));
    given.extend(instance.map(TargetRef::Instance));
    given.extend(nat.map(TargetRef::NatGateway));
    if let Some(other) = OTHER_TARGETS.iter().find(|name| p.get(name).is_some()) {
        return Err(not_taken(ctx.action.name(), other));
    }
    match given.len() {
        1 => Ok(given.remove(0)),
        0 => Err(ApiError::missing_parameter(
            "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId or instanceId",
        )),
        _ => Err(ApiError::invalid_parameter_combination(
            "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId or instanceId",
        )),
    }
}

/// `DryRun`, the leftovers refused (D14), then authorization on the table
/// and DryRun (D6).
fn finish_on_table(ctx: &Ctx<'_>, mut p: Params, table: &RouteTableId) -> ApiResult<()> {
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("route-table", table.as_str())], dry_run)
}

// ---- tables -------------------------------------------------------------------------

impl Render for RouteTable {
    const ELEMENT: &'static str = "routeTable";
    const SET: &'static str = "routeTableSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        w.display("routeTableId", &self.id);
        w.display("vpcId", &self.vpc_id);
        w.text("ownerId", r.account);
        w.list("routeSet", rules::routes(r.part, self), |w, route| {
            match route.destination {
                RouteDestination::Ipv4(net) => w.display("destinationCidrBlock", net),
                RouteDestination::Ipv6(net) => w.display("destinationIpv6CidrBlock", net),
            }
            match route.target {
                None => w.text("gatewayId", "local"),
                Some(RouteTarget::InternetGateway(id)) => w.display("gatewayId", id),
                Some(RouteTarget::NatGateway(id)) => w.display("natGatewayId", id),
                Some(
                    target @ (RouteTarget::NetworkInterface(eni)
                    | RouteTarget::Instance { network_interface_id: eni, .. }),
                ) => {
                    if let Some(instance) = rules::route_instance(r.part, target) {
                        w.display("instanceId", instance);
                        w.text("instanceOwnerId", r.account);
                    }
                    w.display("networkInterfaceId", eni);
                }
            }
            w.text("origin", route.origin());
            w.text("state", route.state.as_str());
        });
        w.list("associationSet", &self.associations, |w, assoc| {
            w.display("main", assoc.target == AssociatedWith::Main);
            w.display("routeTableAssociationId", &assoc.id);
            w.display("routeTableId", &self.id);
            match &assoc.target {
                AssociatedWith::Main => {}
                AssociatedWith::Subnet(id) => w.display("subnetId", id),
                AssociatedWith::Gateway(id) => w.display("gatewayId", id),
            }
            w.nested("associationState", |w| w.text("state", "associated"));
        });
        w.list("propagatingVgwSet", std::iter::empty::<()>(), |_, ()| {});
        w.tag_set("tagSet", &self.tags);
    }
}

struct CreateRouteTableOutput<'a> {
    table: &'a RouteTable,
    r: Renderer<'a>,
}

impl ToXml for CreateRouteTableOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.nested(RouteTable::ELEMENT, |w| self.table.write(w, &self.r));
        w.opt_text("clientToken", self.table.client_token.as_deref());
    }
}

pub async fn create_route_table(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let vpc_id = vpc_id(ctx, &p.require_str("VpcId")?)?;
    let client_token = p.take_str("ClientToken");
    let tags = tags_for(&p.take_tag_specifications()?, &["route-table"])?;
    ctx.finish_and_authorize(p)?;
    let input = CreateRouteTable { vpc_id, client_token, tags: tags_of(&tags, "route-table") };
    let table = ctx.write(move |tx| rules::create_route_table(tx, input.clone())).await?;
    let part = ctx.read().await?;
    Ok(rendered(&CreateRouteTableOutput { table: &table, r: ctx.renderer(&part) }))
}

pub async fn delete_route_table(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
    finish_on_table(ctx, p, &id)?;
    ctx.write(move |tx| rules::delete_route_table(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

/// The shared Describe* pipeline, but `MaxResults` is 5 to 100 here (the
/// EC2 model's bounds for this action), not 5 to 1000.
pub async fn describe_route_tables(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let max = max_results(&mut p, 5, 100)?;
    let mut query = describe_query(ctx, &mut p, "RouteTableId", route_table_id)?;
    query.max_results = max;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let page = eipd_domain::describe::describe::<RouteTable>(&part, ctx.scope(), &query)?;
    Ok(rendered(&DescribeOutput { page, r: ctx.renderer(&part) }))
}

// ---- routes -------------------------------------------------------------------------

fn route_spec(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<(RouteTableId, RouteSpec)> {
    let table = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
    let destination = destination(ctx, p)?;
    let target = target(ctx, p)?;
    Ok((table, RouteSpec { destination, target }))
}

pub async fn create_route(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let (table, spec) = route_spec(ctx, &mut p)?;
    finish_on_table(ctx, p, &table)?;
    ctx.write(move |tx| rules::create_route(tx, &table, spec.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

/// A new target, or with `LocalTarget=true` a `local` route's own back.
pub async fn replace_route(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    if p.take_bool("LocalTarget")? == Some(true) {
        let table = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
        let destination = destination(ctx, &mut p)?;
        if let Some(other) = TARGETS.iter().chain(OTHER_TARGETS).find(|name| p.get(name).is_some()) {
            return Err(ApiError::invalid_parameter_combination(format!(
                "The parameter LocalTarget cannot be used with the parameter {other}"
            )));
        }
        finish_on_table(ctx, p, &table)?;
        ctx.write(move |tx| rules::restore_local_route(tx, &table, &destination)).await?;
        return Ok(Box::new(ReturnTrue));
    }
    let (table, spec) = route_spec(ctx, &mut p)?;
    finish_on_table(ctx, p, &table)?;
    ctx.write(move |tx| rules::replace_route(tx, &table, spec.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn delete_route(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let table = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
    let destination = destination(ctx, &mut p)?;
    finish_on_table(ctx, p, &table)?;
    ctx.write(move |tx| rules::delete_route(tx, &table, &destination)).await?;
    Ok(Box::new(ReturnTrue))
}

// ---- associations -------------------------------------------------------------------

/// `associationId` (or `newAssociationId`) and its state.
struct AssociationOutput {
    element: &'static str,
    id: RouteTableAssociationId,
}

impl ToXml for AssociationOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display(self.element, &self.id);
        w.nested("associationState", |w| w.text("state", "associated"));
    }
}

pub async fn associate_route_table(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let table = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
    let subnet = p.take_str("SubnetId").map(|v| subnet_id(ctx, &v)).transpose()?;
    let gateway = p.take_str("GatewayId").map(|v| igw_id(ctx, &v)).transpose()?;
    let target = match (subnet, gateway) {
        (Some(s), None) => AssociatedWith::Subnet(s),
        (None, Some(g)) => AssociatedWith::Gateway(g),
        (None, None) => {
            return Err(ApiError::missing_parameter("The request must contain the parameter subnetId or gatewayId"));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_parameter_combination("Specify either subnetId or gatewayId, not both"));
        }
    };
    finish_on_table(ctx, p, &table)?;
    let id = ctx.write(move |tx| rules::associate_route_table(tx, &table, target.clone())).await?;
    Ok(Box::new(AssociationOutput { element: "associationId", id }))
}

pub async fn disassociate_route_table(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = association_id(ctx, &p.require_str("AssociationId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::disassociate_route_table(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn replace_route_table_association(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = association_id(ctx, &p.require_str("AssociationId")?)?;
    let table = route_table_id(ctx, &p.require_str("RouteTableId")?)?;
    finish_on_table(ctx, p, &table)?;
    let id = ctx.write(move |tx| rules::replace_route_table_association(tx, &id, &table)).await?;
    Ok(Box::new(AssociationOutput { element: "newAssociationId", id }))
}
