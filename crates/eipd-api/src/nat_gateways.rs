//! Create/Delete/DescribeNatGateways: the Elastic IP's service-managed home.

use super::render::Renderer;
use super::subnets::subnet_id;
use super::{Ctx, Output, Render, describe, malformed_code, malformed_param, parse_id, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::nat_gateways::{self as rules, CreateNatGateway};
use eipd_domain::view::timestamp;
use eipd_domain::{AllocationId, Connectivity, Flavor, NatGateway, NatGatewayId, NatGatewayState, Tags};
use eipd_protocol::query::parse_ipv4;
use eipd_protocol::{Params, ToXml, XmlWriter};

pub(crate) fn nat_gateway_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<NatGatewayId> {
    let malformed = malformed_code(ApiError::nat_gateway_malformed, "nat-");
    parse_id(ctx, value, NatGatewayId::parse, malformed, ApiError::nat_gateway_not_found)
}

fn allocation_id(ctx: &Ctx<'_>, param: &'static str, value: &str) -> ApiResult<AllocationId> {
    parse_id(
        ctx,
        value,
        AllocationId::parse,
        malformed_param(param, "eipalloc-"),
        ApiError::invalid_allocation_id_not_found,
    )
}

/// How much of a gateway an answer shows: all of it, or what AWS's
/// CreateNatGateway answer shows of a gateway it has only begun to create.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Settled,
    Pending,
}

fn write_gateway(w: &mut XmlWriter, g: &NatGateway, view: View) {
    let pending = view == View::Pending;
    w.text("createTime", &timestamp(g.create_time));
    if let Some(t) = g.delete_time {
        w.text("deleteTime", &timestamp(t));
    }
    if !pending && let Some((code, message)) = &g.failure {
        w.text("failureCode", code);
        w.text("failureMessage", message);
    }
    w.list("natGatewayAddressSet", &g.addresses, |w, a| {
        w.opt_display("allocationId", a.allocation_id.as_ref());
        if pending {
            w.display("isPrimary", a.is_primary);
            let status = if g.connectivity == Connectivity::Public { "associating" } else { "assigning" };
            w.text("status", status);
            return;
        }
        w.opt_display("networkInterfaceId", g.network_interface_id.as_ref());
        w.opt_display("privateIp", a.private_ip);
        w.opt_display("publicIp", a.public_ip);
        w.opt_display("associationId", a.association_id.as_ref());
        w.display("isPrimary", a.is_primary);
        w.opt_text("failureMessage", a.failure_message.as_deref());
        w.text("status", if a.failure_message.is_some() { "failed" } else { "succeeded" });
    });
    w.display("natGatewayId", &g.id);
    w.text("state", if pending { NatGatewayState::Pending.as_str() } else { g.state.as_str() });
    w.display("subnetId", &g.subnet_id);
    w.display("vpcId", &g.vpc_id);
    w.tag_set("tagSet", &g.tags);
    w.text("connectivityType", g.connectivity.as_str());
}

impl Render for NatGateway {
    const ELEMENT: &'static str = "natGateway";
    const SET: &'static str = "natGatewaySet";

    fn write(&self, w: &mut XmlWriter, _: &Renderer<'_>) {
        write_gateway(w, self, View::Settled);
    }
}

struct CreateNatGatewayOutput {
    gateway: NatGateway,
    client_token: Option<String>,
    view: View,
}

impl ToXml for CreateNatGatewayOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.opt_text("clientToken", self.client_token.as_deref());
        w.nested("natGateway", |w| write_gateway(w, &self.gateway, self.view));
    }
}

pub async fn create_nat_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    if let Some(mode) = p.take_str("AvailabilityMode").filter(|m| m != "zonal") {
        return Err(ApiError::unsupported_parameter(&format!("AvailabilityMode={mode} (regional NAT gateways)")));
    }
    let subnet = subnet_id(ctx, &p.require_str("SubnetId")?)?;
    let connectivity = match p.take_str("ConnectivityType").as_deref() {
        None | Some("public") => Connectivity::Public,
        Some("private") => Connectivity::Private,
        Some(other) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({other}) for parameter ConnectivityType is invalid. Valid values: public, private"
            )));
        }
    };
    let allocation = p.take_str("AllocationId").map(|v| allocation_id(ctx, "AllocationId", &v)).transpose()?;
    let secondary_allocation_ids = p
        .take_list("SecondaryAllocationId")?
        .iter()
        .map(|v| allocation_id(ctx, "SecondaryAllocationId", v))
        .collect::<ApiResult<Vec<_>>>()?;
    let private_ip = p.take_ipv4("PrivateIpAddress")?;
    let secondary_private_ips = p
        .take_list("SecondaryPrivateIpAddress")?
        .iter()
        .map(|v| parse_ipv4("SecondaryPrivateIpAddress", v))
        .collect::<ApiResult<Vec<_>>>()?;
    let secondary_private_ip_count = match p.take_int("SecondaryPrivateIpAddressCount")? {
        None => 0,
        Some(n @ 1..=31) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({n}) for parameter SecondaryPrivateIpAddressCount is invalid. Expecting a value between 1 and 31."
            )));
        }
    };
    // moto's own tests tag with `nat-gateway`, which AWS refuses (D1).
    let moto = ctx.flavor() == Flavor::Moto;
    let types: &[&str] = if moto { &["natgateway", "nat-gateway"] } else { &["natgateway"] };
    let specs = tags_for(&p.take_tag_specifications()?, types)?;
    let tags: Tags = types.iter().flat_map(|t| tags_of(&specs, t)).collect();
    let client_token = p.take_str("ClientToken").filter(|t| !t.is_empty());
    ctx.finish_and_authorize(p)?;
    let input = CreateNatGateway {
        subnet_id: subnet,
        connectivity,
        allocation_id: allocation,
        secondary_allocation_ids,
        private_ip,
        secondary_private_ips,
        secondary_private_ip_count,
        client_token: client_token.clone(),
        tags,
    };
    let gateway = ctx.write(move |tx| rules::create_nat_gateway(tx, input.clone())).await?;
    let view = if moto { View::Settled } else { View::Pending };
    Ok(Box::new(CreateNatGatewayOutput { gateway, client_token, view }))
}

struct DeleteNatGatewayOutput(NatGatewayId);

impl ToXml for DeleteNatGatewayOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("natGatewayId", &self.0);
    }
}

pub async fn delete_nat_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = nat_gateway_id(ctx, &p.require_str("NatGatewayId")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| vec![ctx.arn("natgateway", id.as_str())], dry_run)?;
    let id = ctx.write(move |tx| rules::delete_nat_gateway(tx, &id)).await?;
    Ok(Box::new(DeleteNatGatewayOutput(id)))
}

pub async fn describe_nat_gateways(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<NatGateway>(ctx, p, "NatGatewayId", nat_gateway_id).await
}
