//! RunInstances, DescribeInstances and the instance state operations.

use std::collections::BTreeMap;

use super::network_interfaces::{eni_id, requested_ipv6_addresses, requested_private_ips};
use super::render::Renderer;
use super::security_groups::group_id;
use super::subnets::subnet_id;
use super::{Ctx, Output, describe_query, malformed_code, parse_id, rendered, tags_for, tags_of};
use eipd_domain::describe::{DescribeQuery, Page, describe};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::instances::{
    self as rules, InstanceAttributeChange, InstanceAttributeName, LaunchInterface, RunInstances, StateChange,
};
use eipd_domain::network_interfaces::InterfaceSpec;
use eipd_domain::regions::zone_id;
use eipd_domain::security_groups::GroupRef;
use eipd_domain::{Instance, InstanceAttributes, InstanceId, InstanceState, ShutdownBehavior};
use eipd_protocol::{Params, ReturnTrue, ToXml, XmlWriter, not_taken};

pub(crate) fn instance_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<InstanceId> {
    let malformed = malformed_code(ApiError::invalid_instance_id_malformed_raw, "i-");
    parse_id(ctx, value, InstanceId::parse, malformed, ApiError::invalid_instance_id_not_found)
}

fn required_count(p: &mut Params, name: &str) -> ApiResult<u32> {
    match p.take_int(name)? {
        Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok(n as u32),
        Some(n) => Err(ApiError::invalid_parameter_value(format!("Value ({n}) for parameter {name} is invalid."))),
        None => Err(ApiError::missing(name)),
    }
}

fn optional_count(group: &std::collections::BTreeMap<String, String>, name: &str) -> ApiResult<u32> {
    match group.get(name) {
        None => Ok(0),
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 1000).ok_or_else(|| {
            ApiError::invalid_parameter_value(format!(
                "Value ({v}) for parameter NetworkInterface.N.{name} is invalid."
            ))
        }),
    }
}

fn flag(group: &std::collections::BTreeMap<String, String>, name: &str) -> ApiResult<Option<bool>> {
    match group.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(ApiError::invalid_parameter_value(format!(
            "Value ({v}) for parameter NetworkInterface.N.{name} is invalid."
        ))),
    }
}

/// The members of one `NetworkInterface.N` that `names` name (a member, or
/// with a final dot the items of a list), moved out of it into parameters of
/// their own.
fn members(group: &mut BTreeMap<String, String>, names: &[&str]) -> ApiResult<Params> {
    let named = |k: &str| names.iter().any(|n| if n.ends_with('.') { k.starts_with(n) } else { k == *n });
    let (taken, kept): (BTreeMap<_, _>, _) = std::mem::take(group).into_iter().partition(|(k, _)| named(k));
    *group = kept;
    Params::from_members(taken.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `NetworkInterface.N.*` of RunInstances.
fn launch_interfaces(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<Vec<LaunchInterface>> {
    const KNOWN: &[&str] = &[
        "DeviceIndex",
        "NetworkInterfaceId",
        "SubnetId",
        "AssociatePublicIpAddress",
        "DeleteOnTermination",
        "Description",
        "SecondaryPrivateIpAddressCount",
        "Ipv6AddressCount",
    ];
    let mut out = Vec::new();
    for mut group in p.take_structs("NetworkInterface")? {
        let mut private = members(&mut group, &["PrivateIpAddress", "PrivateIpAddresses."])?;
        let ipv6_addresses = requested_ipv6_addresses(
            &mut members(&mut group, &["Ipv6Addresses."])?,
            ctx.action.name(),
            "NetworkInterface.N.Ipv6Addresses",
        )?;
        let groups = members(&mut group, &["SecurityGroupId."])?
            .take_list("SecurityGroupId")?
            .iter()
            .map(|v| group_id(ctx, v).map(GroupRef::Id))
            .collect::<ApiResult<Vec<_>>>()?;
        if let Some(bad) = group.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(not_taken(ctx.action.name(), &format!("NetworkInterface.N.{bad}")));
        }
        let private_ips = requested_private_ips(&mut private, "PrivateIpAddress", "PrivateIpAddresses")?;
        let device_index = match group.get("DeviceIndex") {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 31).ok_or_else(|| {
                ApiError::invalid_parameter_value(format!(
                    "Value ({v}) for parameter NetworkInterface.N.DeviceIndex is invalid."
                ))
            })?,
            None => return Err(ApiError::missing("NetworkInterface.N.DeviceIndex")),
        };
        out.push(LaunchInterface {
            device_index,
            existing: group.get("NetworkInterfaceId").map(|v| eni_id(ctx, v)).transpose()?,
            subnet_id: group.get("SubnetId").map(|v| subnet_id(ctx, v)).transpose()?,
            associate_public_ip_address: flag(&group, "AssociatePublicIpAddress")?,
            delete_on_termination: flag(&group, "DeleteOnTermination")?,
            spec: InterfaceSpec {
                description: group.get("Description").cloned().unwrap_or_default(),
                private_ips,
                secondary_private_ip_count: optional_count(&group, "SecondaryPrivateIpAddressCount")?,
                ipv6_address_count: optional_count(&group, "Ipv6AddressCount")?,
                ipv6_addresses,
                groups,
                ..InterfaceSpec::default()
            },
        });
    }
    Ok(out)
}

pub async fn run_instances(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let image_id = p.require_str("ImageId")?;
    let ami_ok =
        image_id.strip_prefix("ami-").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ami_ok {
        return Err(ApiError::invalid_ami_id_malformed(format!("Invalid id: \"{image_id}\" (expecting \"ami-...\")")));
    }
    let min_count = required_count(&mut p, "MinCount")?;
    let max_count = required_count(&mut p, "MaxCount")?;
    let instance_type = p.take_str("InstanceType").unwrap_or_else(|| "m1.small".into());
    let key_name = p.take_str("KeyName");
    let subnet = p.take_str("SubnetId").map(|v| subnet_id(ctx, &v)).transpose()?;
    let availability_zone = p.take_str("Placement.AvailabilityZone");
    p.take_str("Placement.Tenancy");
    let private_ip = p.take_ipv4("PrivateIpAddress")?;
    let ipv6_address_count = match p.take_int("Ipv6AddressCount")? {
        None => 0,
        Some(n) if (0..=1000).contains(&n) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({n}) for parameter Ipv6AddressCount is invalid."
            )));
        }
    };
    let network_interfaces = launch_interfaces(ctx, &mut p)?;
    if !network_interfaces.is_empty() && (subnet.is_some() || private_ip.is_some()) {
        return Err(ApiError::invalid_parameter_combination(
            "Network interfaces and an instance-level subnet ID or private IP address may not be specified on the same request",
        ));
    }
    let tags = tags_for(&p.take_tag_specifications()?, &["instance", "network-interface", "volume"])?;
    let client_token = p.take_str("ClientToken").filter(|t| !t.is_empty());
    // Accepted and not modelled: it changes nothing an address depends on.
    p.take_str("Monitoring.Enabled");
    let attributes = InstanceAttributes {
        user_data: p.take_str("UserData").filter(|d| !d.is_empty()),
        disable_api_termination: p.take_bool("DisableApiTermination")?.unwrap_or(false),
        disable_api_stop: p.take_bool("DisableApiStop")?.unwrap_or(false),
        shutdown_behavior: p
            .take_str("InstanceInitiatedShutdownBehavior")
            .map(|v| shutdown_behavior("InstanceInitiatedShutdownBehavior", &v))
            .transpose()?
            .unwrap_or_default(),
        ebs_optimized: p.take_bool("EbsOptimized")?.unwrap_or(false),
        ena_disabled: false,
    };
    if let Some(data) = &attributes.user_data {
        rules::check_user_data(data)?;
    }
    let mut groups = p
        .take_list("SecurityGroupId")?
        .iter()
        .map(|v| group_id(ctx, v).map(GroupRef::Id))
        .collect::<ApiResult<Vec<_>>>()?;
    let names = p.take_list("SecurityGroup")?;
    if !names.is_empty() && (subnet.is_some() || network_interfaces.iter().any(|n| n.subnet_id.is_some())) {
        return Err(ApiError::invalid_parameter_combination(
            "The parameter groupName cannot be used with the parameter subnet",
        ));
    }
    groups.extend(names.into_iter().map(GroupRef::Name));
    if !groups.is_empty() && !network_interfaces.is_empty() {
        return Err(ApiError::invalid_parameter_combination(
            "Network interfaces and an instance-level security groups may not be specified on the same request",
        ));
    }
    ctx.finish_and_authorize(p)?;
    let image = eipd_domain::images::find(ctx.region(), &image_id).map(|i| i.launch_image());
    let input = RunInstances {
        image_id,
        image,
        instance_type,
        key_name,
        min_count,
        max_count,
        subnet_id: subnet,
        availability_zone,
        private_ip,
        secondary_private_ip_count: 0,
        ipv6_address_count,
        groups,
        network_interfaces,
        client_token,
        instance_tags: tags_of(&tags, "instance"),
        interface_tags: tags_of(&tags, "network-interface"),
        attributes,
    };
    let instances = ctx.write(move |tx| rules::run_instances(tx, input.clone())).await?;
    let part = ctx.read().await?;
    Ok(rendered(&RunInstancesOutput { instances: &instances, r: ctx.renderer(&part) }))
}

/// The reservation RunInstances made.
struct RunInstancesOutput<'a> {
    instances: &'a [Instance],
    r: Renderer<'a>,
}

impl ToXml for RunInstancesOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        let reservation = self.instances.first().map(|i| i.reservation_id.to_string()).unwrap_or_default();
        w.text("reservationId", &reservation);
        w.text("ownerId", self.r.account);
        w.list("groupSet", std::iter::empty::<()>(), |_, ()| {});
        // The launch answer shows instances pending; every later read running (D16).
        w.list("instancesSet", self.instances, |w, i| self.r.instance(w, i, InstanceState::Pending));
    }
}

/// The query of DescribeInstances and DescribeInstanceStatus: instance ids
/// and MaxResults do not go together.
fn instance_query(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<DescribeQuery<InstanceId>> {
    let query = describe_query(ctx, p, "InstanceId", instance_id)?;
    if query.max_results.is_some() && !query.ids.is_empty() {
        return Err(ApiError::invalid_parameter_combination(
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    Ok(query)
}

pub async fn describe_instances(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let query = instance_query(ctx, &mut p)?;
    p.take_bool("IncludeManagedResources")?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let page = describe::<Instance>(&part, ctx.scope(), &query)?;
    Ok(rendered(&DescribeInstancesOutput { page, r: ctx.renderer(&part) }))
}

/// Instances come in reservations, one `reservationSet` item each.
struct DescribeInstancesOutput<'a> {
    page: Page<'a, Instance>,
    r: Renderer<'a>,
}

impl ToXml for DescribeInstancesOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        let reservations = self.page.items.chunk_by(|a, b| a.reservation_id == b.reservation_id);
        w.list("reservationSet", reservations, |w, group| {
            w.display("reservationId", &group[0].reservation_id);
            w.text("ownerId", self.r.account);
            w.list("groupSet", std::iter::empty::<()>(), |_, ()| {});
            w.list("instancesSet", group, |w, i| self.r.instance(w, i, i.state));
        });
        w.opt_text("nextToken", self.page.next_token.as_deref());
    }
}

pub async fn describe_instance_status(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let query = instance_query(ctx, &mut p)?;
    let include_all = p.take_bool("IncludeAllInstances")?.unwrap_or(false);
    p.take_bool("IncludeManagedResources")?;
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    let page = rules::describe_instance_status(&part, &query, include_all)?;
    Ok(rendered(&DescribeInstanceStatusOutput(page)))
}

struct DescribeInstanceStatusOutput<'a>(Page<'a, Instance>);

impl ToXml for DescribeInstanceStatusOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("instanceStatusSet", &self.0.items, |w, i| {
            let checks = rules::status_checks(i);
            w.display("instanceId", &i.id);
            w.text("availabilityZone", &i.availability_zone);
            w.text("availabilityZoneId", &zone_id(&i.availability_zone));
            w.list("eventsSet", std::iter::empty::<()>(), |_, ()| {});
            w.nested("instanceState", |w| {
                w.display("code", i.state.code());
                w.text("name", i.state.name());
            });
            for summary in ["systemStatus", "instanceStatus"] {
                w.nested(summary, |w| {
                    w.text("status", checks);
                    if checks == "ok" {
                        w.list("details", [()], |w, ()| {
                            w.text("name", "reachability");
                            w.text("status", "passed");
                        });
                    }
                });
            }
        });
        w.opt_text("nextToken", self.0.next_token.as_deref());
    }
}

fn state_change_ids(ctx: &Ctx<'_>, p: &mut Params) -> ApiResult<Vec<InstanceId>> {
    let ids = p.take_list("InstanceId")?.iter().map(|v| instance_id(ctx, v)).collect::<ApiResult<Vec<_>>>()?;
    if ids.is_empty() {
        return Err(ApiError::missing("InstanceId"));
    }
    Ok(ids)
}

fn instance_arns(ctx: &Ctx<'_>, ids: &[InstanceId]) -> Vec<String> {
    ids.iter().map(|id| ctx.arn("instance", id.as_str())).collect()
}

/// Terminate/Stop/StartInstances: each instance's state before and after.
struct StateChangesOutput(Vec<StateChange>);

impl ToXml for StateChangesOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list("instancesSet", &self.0, |w, c| {
            w.display("instanceId", &c.instance_id);
            w.nested("currentState", |w| {
                w.display("code", c.current.code());
                w.text("name", c.current.name());
            });
            w.nested("previousState", |w| {
                w.display("code", c.previous.code());
                w.text("name", c.previous.name());
            });
        });
    }
}

pub async fn terminate_instances(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = state_change_ids(ctx, &mut p)?;
    p.take_bool("Force")?;
    p.take_bool("SkipOsShutdown")?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| instance_arns(ctx, &ids), dry_run)?;
    let changes = ctx.write(move |tx| rules::terminate_instances(tx, &ids)).await?;
    Ok(Box::new(StateChangesOutput(changes)))
}

pub async fn stop_instances(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = state_change_ids(ctx, &mut p)?;
    p.take_bool("Force")?;
    p.take_bool("Hibernate")?;
    p.take_bool("SkipOsShutdown")?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| instance_arns(ctx, &ids), dry_run)?;
    let changes = ctx.write(move |tx| rules::stop_instances(tx, &ids)).await?;
    Ok(Box::new(StateChangesOutput(changes)))
}

pub async fn start_instances(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let ids = state_change_ids(ctx, &mut p)?;
    p.take_str("AdditionalInfo");
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| instance_arns(ctx, &ids), dry_run)?;
    let changes = ctx.write(move |tx| rules::start_instances(tx, &ids)).await?;
    Ok(Box::new(StateChangesOutput(changes)))
}

fn shutdown_behavior(param: &str, value: &str) -> ApiResult<ShutdownBehavior> {
    ShutdownBehavior::parse(value).ok_or_else(|| {
        ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Expected one of: stop, terminate."
        ))
    })
}

fn attribute_bool(param: &str, value: &str) -> ApiResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Expected: 'true' or 'false'."
        ))),
    }
}

pub async fn describe_instance_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = instance_id(ctx, &p.require_str("InstanceId")?)?;
    let name = InstanceAttributeName::parse(&p.require_str("Attribute")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| instance_arns(ctx, std::slice::from_ref(&id)), dry_run)?;
    let part = ctx.read().await?;
    let inst = rules::instance(&part, &id)?;
    Ok(rendered(&InstanceAttributeOutput { inst, name, r: ctx.renderer(&part) }))
}

/// DescribeInstanceAttribute: the instance and the one attribute asked for.
struct InstanceAttributeOutput<'a> {
    inst: &'a Instance,
    name: InstanceAttributeName,
    r: Renderer<'a>,
}

impl ToXml for InstanceAttributeOutput<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        use InstanceAttributeName as A;
        let inst = self.inst;
        let attrs = &inst.attributes;
        let value = |w: &mut XmlWriter, name: &str, v: &dyn std::fmt::Display| {
            w.nested(name, |w| w.display("value", v));
        };
        let primary = self.r.part.primary_interface(inst);
        w.display("instanceId", &inst.id);
        match self.name {
            A::InstanceType => value(w, "instanceType", &inst.instance_type),
            // An HVM instance has no kernel, ramdisk or SR-IOV setting: EC2 writes them empty.
            A::Kernel => w.nested("kernel", |_| {}),
            A::Ramdisk => w.nested("ramdisk", |_| {}),
            A::SriovNetSupport => w.nested("sriovNetSupport", |_| {}),
            A::UserData => w.nested("userData", |w| w.opt_text("value", attrs.user_data.as_deref())),
            A::DisableApiTermination => value(w, "disableApiTermination", &attrs.disable_api_termination),
            A::DisableApiStop => value(w, "disableApiStop", &attrs.disable_api_stop),
            A::InstanceInitiatedShutdownBehavior => {
                value(w, "instanceInitiatedShutdownBehavior", &attrs.shutdown_behavior.as_str())
            }
            A::RootDeviceName => value(w, "rootDeviceName", &inst.root_device_name()),
            A::BlockDeviceMapping => w.list("blockDeviceMapping", std::iter::empty::<()>(), |_, ()| {}),
            A::ProductCodes => w.list("productCodes", std::iter::empty::<()>(), |_, ()| {}),
            A::SourceDestCheck => value(w, "sourceDestCheck", &primary.is_none_or(|eni| eni.source_dest_check)),
            A::GroupSet => self.r.group_set(w, primary.map_or(&[][..], |eni| &eni.groups)),
            A::EbsOptimized => value(w, "ebsOptimized", &attrs.ebs_optimized),
            A::EnaSupport => value(w, "enaSupport", &!attrs.ena_disabled),
            A::EnclaveOptions => w.nested("enclaveOptions", |w| w.display("enabled", false)),
        }
    }
}

/// The changes a ModifyInstanceAttribute request names, in either form:
/// `<Name>.Value` (`GroupId.N` for groups), or `Attribute` with `Value`.
fn instance_attribute_changes(
    ctx: &Ctx<'_>,
    p: &mut Params,
) -> ApiResult<Vec<(&'static str, InstanceAttributeChange)>> {
    use InstanceAttributeChange as C;
    let mut changes = Vec::new();
    if let Some(v) = p.take_str("InstanceType.Value") {
        changes.push(("instanceType", C::InstanceType(v)));
    }
    if let Some(v) = p.take_str("UserData.Value") {
        changes.push(("userData", C::UserData(v)));
    }
    /// A boolean attribute: its parameter, its name, its change.
    type Flag = (&'static str, &'static str, fn(bool) -> InstanceAttributeChange);
    let flags: [Flag; 5] = [
        ("SourceDestCheck.Value", "sourceDestCheck", C::SourceDestCheck),
        ("DisableApiTermination.Value", "disableApiTermination", C::DisableApiTermination),
        ("DisableApiStop.Value", "disableApiStop", C::DisableApiStop),
        ("EbsOptimized.Value", "ebsOptimized", C::EbsOptimized),
        ("EnaSupport.Value", "enaSupport", C::EnaSupport),
    ];
    for (param, name, change) in flags {
        if let Some(v) = p.take_str(param) {
            changes.push((name, change(attribute_bool(param, &v)?)));
        }
    }
    if let Some(v) = p.take_str("InstanceInitiatedShutdownBehavior.Value") {
        let b = shutdown_behavior("InstanceInitiatedShutdownBehavior.Value", &v)?;
        changes.push(("instanceInitiatedShutdownBehavior", C::ShutdownBehavior(b)));
    }
    let groups = p.take_list("GroupId")?;
    if !groups.is_empty() {
        let groups = groups.iter().map(|v| group_id(ctx, v).map(GroupRef::Id)).collect::<ApiResult<Vec<_>>>()?;
        changes.push(("groupSet", C::Groups(groups)));
    }
    match (p.take_str("Attribute"), p.take_str("Value")) {
        (None, None) => {}
        (Some(name), Some(v)) => {
            let name = InstanceAttributeName::parse(&name)?;
            use InstanceAttributeName as A;
            let change = match name {
                A::InstanceType => C::InstanceType(v),
                A::UserData => C::UserData(v),
                A::SourceDestCheck => C::SourceDestCheck(attribute_bool("Value", &v)?),
                A::DisableApiTermination => C::DisableApiTermination(attribute_bool("Value", &v)?),
                A::DisableApiStop => C::DisableApiStop(attribute_bool("Value", &v)?),
                A::EbsOptimized => C::EbsOptimized(attribute_bool("Value", &v)?),
                A::EnaSupport => C::EnaSupport(attribute_bool("Value", &v)?),
                A::InstanceInitiatedShutdownBehavior => C::ShutdownBehavior(shutdown_behavior("Value", &v)?),
                A::GroupSet => {
                    return Err(ApiError::invalid_parameter_combination(
                        "The attribute groupSet takes GroupId.N, not Value",
                    ));
                }
                other => return Err(ApiError::unsupported_parameter(&format!("Attribute={}", other.as_str()))),
            };
            changes.push((name.as_str(), change));
        }
        (Some(_), None) => return Err(ApiError::missing("Value")),
        (None, Some(_)) => return Err(ApiError::missing("Attribute")),
    }
    Ok(changes)
}

pub async fn modify_instance_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = instance_id(ctx, &p.require_str("InstanceId")?)?;
    let mut changes = instance_attribute_changes(ctx, &mut p)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    let change = match changes.len() {
        0 => return Err(ApiError::missing_parameter("The request must name one attribute to modify")),
        1 => changes.remove(0).1,
        _ => {
            let names: Vec<&str> = changes.iter().map(|(n, _)| *n).collect();
            return Err(ApiError::invalid_parameter_combination(format!(
                "Fields for multiple attribute types specified: {}",
                names.join(", ")
            )));
        }
    };
    ctx.authorize_on(|| instance_arns(ctx, std::slice::from_ref(&id)), dry_run)?;
    ctx.write(move |tx| rules::modify_instance_attribute(tx, &id, change.clone())).await?;
    Ok(Box::new(ReturnTrue))
}

pub async fn reset_instance_attribute(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let id = instance_id(ctx, &p.require_str("InstanceId")?)?;
    let name = InstanceAttributeName::parse(&p.require_str("Attribute")?)?;
    let dry_run = p.take_dry_run()?;
    ctx.finish(p)?;
    ctx.authorize_on(|| instance_arns(ctx, std::slice::from_ref(&id)), dry_run)?;
    ctx.write(move |tx| rules::reset_instance_attribute(tx, &id, name)).await?;
    Ok(Box::new(ReturnTrue))
}
