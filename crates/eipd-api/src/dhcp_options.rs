//! DHCP options sets: CreateDhcpOptions, DescribeDhcpOptions,
//! AssociateDhcpOptions and DeleteDhcpOptions.

use super::render::Renderer;
use super::vpcs::vpc_id;
use super::{Created, Ctx, Output, Render, describe, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::dhcp_options as rules;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::{DhcpOptions, DhcpOptionsId};
use eipd_protocol::{Params, ReturnTrue, XmlWriter};

/// AssociateDhcpOptions' word for "no DHCP options".
const NO_OPTIONS: &str = "default";

pub(crate) fn dhcp_options_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<DhcpOptionsId> {
    let malformed = malformed_code(ApiError::invalid_dhcp_options_id_malformed_raw, "dopt-");
    parse_id(ctx, value, DhcpOptionsId::parse, malformed, ApiError::invalid_dhcp_option_id_not_found)
}

impl Render for DhcpOptions {
    const ELEMENT: &'static str = "dhcpOptions";
    const SET: &'static str = "dhcpOptionsSet";

    fn write(&self, w: &mut XmlWriter, r: &Renderer<'_>) {
        w.display("dhcpOptionsId", &self.id);
        w.text("ownerId", r.account);
        w.list("dhcpConfigurationSet", &self.configurations, |w, c| {
            w.text("key", &c.key);
            w.list("valueSet", &c.values, |w, v| w.text("value", v));
        });
        w.tag_set("tagSet", &self.tags);
    }
}

/// `DhcpConfiguration.N.Key` and `DhcpConfiguration.N.Value.M`, values in
/// M's order.
fn take_configurations(p: &mut Params) -> ApiResult<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for group in p.take_structs("DhcpConfiguration")? {
        let mut key = None;
        let mut values: Vec<(u64, String)> = Vec::new();
        for (member, value) in group {
            if member == "Key" {
                key = Some(value);
                continue;
            }
            let index = member.strip_prefix("Value.").and_then(|m| m.parse::<u64>().ok());
            match index {
                Some(m) => values.push((m, value)),
                None => return Err(ApiError::unknown_parameter(&format!("DhcpConfiguration.N.{member}"))),
            }
        }
        let key = key.ok_or_else(|| ApiError::missing("DhcpConfiguration.N.Key"))?;
        values.sort_unstable_by_key(|(m, _)| *m);
        out.push((key, values.into_iter().map(|(_, v)| v).collect()));
    }
    Ok(out)
}

pub async fn create_dhcp_options(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let configurations = rules::configurations(take_configurations(&mut p)?)?;
    let tags = tags_for(&p.take_tag_specifications()?, &["dhcp-options"])?;
    ctx.finish_and_authorize(p)?;
    let tags = tags_of(&tags, "dhcp-options");
    let set = ctx.write(move |tx| Ok(rules::create_dhcp_options(tx, configurations.clone(), tags.clone()))).await?;
    // Its XML needs nothing else of the partition: no read of the store.
    let part = ctx.cached();
    Ok(rendered(&Created { resource: &set, r: ctx.renderer(&part) }))
}

pub async fn describe_dhcp_options(ctx: &Ctx<'_>, p: Params) -> ApiResult<Output> {
    describe::<DhcpOptions>(ctx, p, "DhcpOptionsId", dhcp_options_id).await
}

pub async fn associate_dhcp_options(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let set = match p.require_str("DhcpOptionsId")?.as_str() {
        NO_OPTIONS => None,
        id => Some(dhcp_options_id(ctx, id)?),
    };
    let vpc = vpc_id(ctx, &p.require_str("VpcId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::associate_dhcp_options(tx, set.as_ref(), &vpc)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn delete_dhcp_options(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = dhcp_options_id(ctx, &p.require_str("DhcpOptionsId")?)?;
    ctx.finish_and_authorize(p)?;
    ctx.write(move |tx| rules::delete_dhcp_options(tx, &id)).await?;
    Ok(Box::new(ReturnTrue))
}
