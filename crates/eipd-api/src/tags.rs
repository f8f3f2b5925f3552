//! CreateTags, DeleteTags, DescribeTags.

use super::{Ctx, Output, max_results};
use eipd_domain::Tags;
use eipd_domain::describe::paginate;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::tags::{self as rules, ResourceId, TagDescription};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter};

fn resource_ids(p: &mut Params) -> ApiResult<Vec<ResourceId>> {
    let ids = p.take_list("ResourceId")?;
    if ids.is_empty() {
        return Err(ApiError::missing("ResourceId"));
    }
    ids.iter().map(|id| ResourceId::parse(id)).collect()
}

fn resource_arns(ctx: &Ctx<'_>, resources: &[ResourceId]) -> Vec<String> {
    resources.iter().map(|r| ctx.arn(r.resource_type(), r.as_str())).collect()
}

pub async fn create_tags(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let resources = resource_ids(&mut p)?;
    let tags: Tags = p.take_tags()?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect();
    if tags.is_empty() {
        return Err(ApiError::missing("Tag"));
    }
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| resource_arns(ctx, &resources), dry_run)?;
    ctx.write(move |tx| rules::create_tags(tx, &resources, &tags)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn delete_tags(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let resources = resource_ids(&mut p)?;
    let tags = p.take_tags()?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| resource_arns(ctx, &resources), dry_run)?;
    ctx.write(move |tx| rules::delete_tags(tx, &resources, &tags)).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn describe_tags(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let filters = p.take_filters()?;
    let max = max_results(&mut p, 5, 1000)?;
    let token = p.take_str("NextToken");
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let mut rows = rules::describe_tags(&part, &filters)?;
    rows.sort_by(|a, b| (&a.resource_id, &a.key).cmp(&(&b.resource_id, &b.key)));
    let (page, next_token) = paginate(rows, |r| format!("{}\u{1f}{}", r.resource_id, r.key), token.as_deref(), max)?;
    Ok(Box::new(DescribeTagsOutput { page, next_token }))
}

struct DescribeTagsOutput {
    page: Vec<TagDescription>,
    next_token: Option<String>,
}

impl ToXml for DescribeTagsOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("tagSet", &self.page, |w, r| {
            w.text("resourceId", &r.resource_id);
            w.text("resourceType", r.resource_type);
            w.text("key", &r.key);
            w.text("value", &r.value);
        });
        w.opt_text("nextToken", self.next_token.as_deref());
    }
}
