//! DescribeAccountAttributes, DescribeRegions, DescribeAvailabilityZones:
//! the facts of the account and its regions that tools read first.

use super::{Ctx, Output};
use eipd_domain::account::{self as rules, AccountAttribute};
use eipd_domain::error::ApiResult;
use eipd_domain::regions::{self, RegionInfo, ZoneInfo};
use eipd_protocol::{Params, ToXml, XmlWriter};

pub async fn describe_account_attributes(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let names = p.take_list("AttributeName")?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let attributes = rules::describe_account_attributes(&part, ctx.store.settings(), &names)?;
    Ok(Box::new(DescribeAccountAttributesOutput(attributes)))
}

struct DescribeAccountAttributesOutput(Vec<AccountAttribute>);

impl ToXml for DescribeAccountAttributesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("accountAttributeSet", &self.0, |w, a| {
            w.text("attributeName", a.name);
            w.list("attributeValueSet", &a.values, |w, v| w.text("attributeValue", v));
        });
    }
}

pub async fn describe_regions(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let names = p.take_list("RegionName")?;
    let filters = p.take_filters()?;
    // Every region eipd lists needs no opt-in: all of them are "all".
    p.take_bool("AllRegions")?;
    ctx.finish_and_authorize(p)?;
    let regions = regions::describe_regions(ctx.region(), &names, &filters)?;
    Ok(Box::new(DescribeRegionsOutput(regions)))
}

struct DescribeRegionsOutput(Vec<RegionInfo>);

impl ToXml for DescribeRegionsOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("regionInfo", &self.0, |w, r| {
            w.text("regionName", &r.name);
            w.text("regionEndpoint", &r.endpoint);
            w.text("optInStatus", "opt-in-not-required");
        });
    }
}

pub async fn describe_availability_zones(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let names = p.take_list("ZoneName")?;
    let ids = p.take_list("ZoneId")?;
    let filters = p.take_filters()?;
    // eipd has no Local or Wavelength Zones: every zone is listed anyway.
    p.take_bool("AllAvailabilityZones")?;
    ctx.finish_and_authorize(p)?;
    let zones = regions::describe_availability_zones(ctx.region(), &names, &ids, &filters)?;
    Ok(Box::new(DescribeAvailabilityZonesOutput(zones)))
}

struct DescribeAvailabilityZonesOutput(Vec<ZoneInfo>);

impl ToXml for DescribeAvailabilityZonesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("availabilityZoneInfo", &self.0, |w, z| {
            w.text("optInStatus", "opt-in-not-required");
            w.list("messageSet", std::iter::empty::<()>(), |_, ()| {});
            w.text("regionName", &z.region);
            w.text("zoneName", &z.name);
            w.text("zoneId", &z.id);
            w.text("groupName", &z.region);
            w.text("networkBorderGroup", &z.region);
            w.text("zoneType", "availability-zone");
            w.text("zoneState", "available");
        });
    }
}
