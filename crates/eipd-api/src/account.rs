//! DescribeAccountAttributes: the account's facts in the caller's region.

use super::{Ctx, Output};
use eipd_domain::account::{self as rules, AccountAttribute};
use eipd_domain::error::ApiResult;
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
