//! CreateInternetGateway, Attach/Detach, Delete and DescribeInternetGateways:
//! a VPC needs one attached before its addresses can be associated.

use super::render::Renderer;
use super::vpcs::vpc_id;
use super::{Created, Ctx, Output, Render, describe, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::internet_gateways as rules;
use eipd_domain::{InternetGateway, InternetGatewayId, VpcId};
use eipd_protocol::{Params, ReturnTrue, XmlWriter};

pub(crate) fn igw_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<InternetGatewayId> {
    let malformed = malformed_code(ApiError::invalid_internet_gateway_id_malformed_raw, "igw-");
    parse_id(ctx, value, InternetGatewayId::parse, malformed, ApiError::invalid_internet_gateway_id_not_found)
}

impl Render for InternetGateway {
    const ELEMENT: &'static str = "internetGateway";
    const SET: &'static str = "internetGatewaySet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        write_gateway(w, self, r.account);
    }
}

fn write_gateway(w: &mut XmlWriter, g: &InternetGateway, owner: &str) {
    w.display("internetGatewayId", &g.id);
    w.text("ownerId", owner);
    w.list("attachmentSet", &g.attached_vpc, |w, vpc| {
        w.display("vpcId", vpc);
        w.text("state", "available");
    });
    w.tag_set("tagSet", &g.tags);
}

pub async fn create_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let tags = tags_for(&p.take_tag_specifications()?, &["internet-gateway"])?;
    ctx.finish_and_authorize(p)?;
    let tags = tags_of(&tags, "internet-gateway");
    let igw = ctx.write(move |tx| Ok(rules::create_internet_gateway(tx, tags.clone()))).await?;
    // Its XML needs nothing else of the partition: no read of the store.
    let part = ctx.cached();
    Ok(rendered(&Created { resource: &igw, r: ctx.renderer(&part) }))
}

fn gateway_and_vpc(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<(InternetGatewayId, VpcId)> {
    Ok((igw_id(ctx, &p.require_str("InternetGatewayId")?)?, vpc_id(ctx, &p.require_str("VpcId")?)?))
}

pub async fn attach_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let (igw, vpc) = gateway_and_vpc(ctx, &mut p)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::attach_internet_gateway(tx, &igw, &vpc)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn detach_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let (igw, vpc) = gateway_and_vpc(ctx, &mut p)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::detach_internet_gateway(tx, &igw, &vpc)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn delete_internet_gateway(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let igw = igw_id(ctx, &p.require_str("InternetGatewayId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::delete_internet_gateway(tx, &igw)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn describe_internet_gateways(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<InternetGateway>(ctx, p, "InternetGatewayId", igw_id).await
}
