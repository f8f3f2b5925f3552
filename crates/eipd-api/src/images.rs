//! DescribeImages over the region's fixed catalogue of public images.

use super::{Ctx, Output, describe_query, malformed_code, parse_id};
use eipd_domain::ImageId;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::images::{self as rules, Image, ImageQuery};
use eipd_protocol::{Params, ToXml, XmlWriter};

pub(crate) fn image_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<ImageId> {
    let not_found = |id: &str| ApiError::invalid_ami_id_not_found(format!("The image id '[{id}]' does not exist"));
    parse_id(ctx, value, ImageId::parse, malformed_code(ApiError::invalid_ami_id_malformed, "ami-"), not_found)
}

pub async fn describe_images(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let query = describe_query(ctx, &mut p, "ImageId", image_id)?;
    let images = ImageQuery {
        owners: p.take_list("Owner")?.iter().map(|o| rules::owner(o)).collect::<ApiResult<_>>()?,
        executable_by: p.take_list("ExecutableBy")?.iter().map(|e| rules::executor(e)).collect::<ApiResult<_>>()?,
        include_deprecated: p.take_bool("IncludeDeprecated")?.unwrap_or(false),
    };
    // No catalogue image is disabled: asking for them adds none.
    p.take_bool("IncludeDisabled")?;
    ctx.finish_and_authorize(p)?;
    let (images, next_token) = rules::describe_images(ctx.region(), &query, &images)?;
    Ok(Box::new(DescribeImagesOutput { images, next_token }))
}

struct DescribeImagesOutput {
    images: Vec<Image>,
    next_token: Option<String>,
}

impl ToXml for DescribeImagesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("imagesSet", &self.images, write_image);
        w.opt_text("nextToken", self.next_token.as_deref());
    }
}

fn write_image(w: &mut XmlWriter, i: &Image) {
    w.display("imageId", &i.id);
    w.text("imageLocation", &i.location());
    w.text("imageState", rules::STATE);
    w.text("imageOwnerId", i.owner_id);
    w.text("creationDate", i.creation_date);
    w.display("isPublic", true);
    w.text("architecture", i.architecture);
    w.text("imageType", rules::IMAGE_TYPE);
    w.opt_text("platform", i.platform);
    w.text("platformDetails", rules::platform_details(i.platform.is_some()));
    w.text("usageOperation", rules::usage_operation(i.platform.is_some()));
    w.opt_text("imageOwnerAlias", i.owner_alias);
    w.text("name", &i.name);
    w.text("description", &i.description);
    w.text("rootDeviceType", rules::ROOT_DEVICE_TYPE);
    w.text("rootDeviceName", i.root_device_name);
    w.list("blockDeviceMapping", [i], |w, i| {
        w.text("deviceName", i.root_device_name);
        w.nested("ebs", |w| {
            w.display("snapshotId", &i.snapshot_id);
            w.display("volumeSize", i.volume_size);
            w.display("deleteOnTermination", true);
            w.text("volumeType", i.volume_type);
            w.display("encrypted", false);
        });
    });
    w.text("virtualizationType", rules::VIRTUALIZATION_TYPE);
    w.text("hypervisor", rules::HYPERVISOR);
    w.display("enaSupport", true);
    w.text("sriovNetSupport", rules::SRIOV_NET_SUPPORT);
    w.opt_text("bootMode", i.boot_mode);
    w.opt_text("imdsSupport", i.imds_support);
    w.text("deprecationTime", &i.deprecation_time);
}
