//! Instances: launched with their interfaces, stopped, started, terminated.

use std::net::Ipv4Addr;

use crate::addresses::restore_auto_public_ip;
use crate::describe::{DescribeQuery, Described, Page, listing};
use crate::error::{ApiError, ApiResult};
use crate::filter::{Filterable, tag_filter_values};
use crate::ids::*;
use crate::model::*;
use crate::network_interfaces::{
    InterfaceAttributeChange, InterfaceSpec, detach, interface, modify_network_interface_attribute, new_interface,
    remove_interface,
};
use crate::regions::zone_id;
use crate::security_groups::GroupRef;
use crate::state::{Partition, Record, Tx};
use crate::subnets::subnet;
use crate::view::{private_dns_name, public_dns_name, timestamp};

/// The most interfaces one instance may have (a generous EC2 figure).
pub const MAX_INTERFACES_PER_INSTANCE: usize = 15;

pub fn instance<'a>(part: &'a Partition, id: &InstanceId) -> ApiResult<&'a Instance> {
    part.instance(id).ok_or_else(|| ApiError::invalid_instance_id_not_found(id.as_str()))
}

/// One `NetworkInterface.N` of RunInstances.
#[derive(Clone, Debug, Default)]
pub struct LaunchInterface {
    pub device_index: u32,
    pub existing: Option<NetworkInterfaceId>,
    pub subnet_id: Option<SubnetId>,
    pub associate_public_ip_address: Option<bool>,
    pub delete_on_termination: Option<bool>,
    pub spec: InterfaceSpec,
}

#[derive(Clone, Debug, Default)]
pub struct RunInstances {
    pub image_id: String,
    /// The catalogue image `image_id` names, if it is one.
    pub image: Option<LaunchImage>,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub min_count: u32,
    pub max_count: u32,
    pub subnet_id: Option<SubnetId>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    pub secondary_private_ip_count: u32,
    pub ipv6_address_count: u32,
    /// `SecurityGroupId.N` and `SecurityGroup.N`: the primary interface's
    /// groups when no `NetworkInterface.N` is given.
    pub groups: Vec<GroupRef>,
    pub network_interfaces: Vec<LaunchInterface>,
    pub client_token: Option<String>,
    pub instance_tags: Tags,
    pub interface_tags: Tags,
    pub attributes: InstanceAttributes,
}

/// The most instances one RunInstances call launches.
pub const MAX_LAUNCH_COUNT: u32 = 100;

/// What an instance shows of its image: the catalogue image's, or for any
/// other `ami-` id an x86_64 Linux image with its root on /dev/xvda.
impl Instance {
    pub fn architecture(&self) -> &str {
        self.launched_from.as_ref().map_or(ARCHITECTURE, |i| &i.architecture)
    }

    pub fn root_device_name(&self) -> &str {
        self.launched_from.as_ref().map_or(ROOT_DEVICE_NAME, |i| &i.root_device_name)
    }

    fn windows(&self) -> bool {
        self.launched_from.as_ref().is_some_and(|i| i.windows)
    }

    /// `windows`, or none for Linux/UNIX.
    pub fn platform(&self) -> Option<&'static str> {
        self.windows().then_some("windows")
    }

    pub fn platform_details(&self) -> &'static str {
        crate::images::platform_details(self.windows())
    }

    pub fn usage_operation(&self) -> &'static str {
        crate::images::usage_operation(self.windows())
    }
}

pub fn run_instances(tx: &mut Tx, input: RunInstances) -> ApiResult<Vec<Instance>> {
    if let Some(token) = &input.client_token {
        let earlier: Vec<Instance> =
            tx.part().instances().filter(|i| i.client_token.as_ref() == Some(token)).cloned().collect();
        if !earlier.is_empty() {
            return Ok(earlier);
        }
    }
    if input.min_count == 0 || input.min_count > input.max_count {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid MinCount {} / MaxCount {}: 1 <= MinCount <= MaxCount",
            input.min_count, input.max_count
        )));
    }
    if let Some(name) = &input.key_name
        && tx.part().key_pair_named(name).is_none()
    {
        return Err(ApiError::invalid_key_pair_not_found(name));
    }
    let count = input.max_count.min(MAX_LAUNCH_COUNT);
    if input.network_interfaces.len() > 1
        && input.network_interfaces.iter().any(|n| n.associate_public_ip_address == Some(true))
    {
        return Err(ApiError::invalid_parameter_combination(
            "The associatePublicIPAddress parameter cannot be specified when launching with multiple network interfaces.",
        ));
    }
    if count > 1 && (input.private_ip.is_some() || input.network_interfaces.iter().any(|n| n.existing.is_some())) {
        return Err(ApiError::invalid_parameter_combination(
            "A specific private IP address or existing network interface can only be used to launch one instance.",
        ));
    }
    let reservation_id = ReservationId::generate();
    let mut launched = Vec::with_capacity(count as usize);
    for index in 0..count {
        launched.push(launch_one(tx, &input, &reservation_id, index)?);
    }
    Ok(launched)
}

fn launch_subnet(part: &Partition, input: &RunInstances, nic: Option<&LaunchInterface>) -> ApiResult<Subnet> {
    if let Some(id) = nic.and_then(|n| n.subnet_id.as_ref()).or(input.subnet_id.as_ref()) {
        return Ok(subnet(part, id)?.clone());
    }
    let default_vpc = part
        .default_vpc()
        .ok_or_else(|| ApiError::vpc_id_not_specified("No default VPC for this user. Specify a subnet."))?;
    let zone = input.availability_zone.clone();
    part.subnets()
        .find(|s| {
            s.vpc_id == default_vpc.id && s.default_for_az && zone.as_ref().is_none_or(|z| &s.availability_zone == z)
        })
        .cloned()
        .ok_or_else(|| ApiError::invalid_parameter_value("No default subnet in the requested availability zone"))
}

fn launch_one(tx: &mut Tx, input: &RunInstances, reservation_id: &ReservationId, index: u32) -> ApiResult<Instance> {
    let mut nics = input.network_interfaces.clone();
    if nics.is_empty() {
        nics.push(LaunchInterface {
            device_index: 0,
            spec: InterfaceSpec {
                private_ips: input.private_ip.into_iter().collect(),
                secondary_private_ip_count: input.secondary_private_ip_count,
                ipv6_address_count: input.ipv6_address_count,
                groups: input.groups.clone(),
                ..InterfaceSpec::default()
            },
            ..LaunchInterface::default()
        });
    }
    nics.sort_by_key(|n| n.device_index);
    if nics[0].device_index != 0 {
        return Err(ApiError::invalid_parameter_value("A network interface at device index 0 is required"));
    }
    if nics.windows(2).any(|w| w[0].device_index == w[1].device_index) {
        return Err(ApiError::invalid_parameter_value("Each network interface needs its own device index"));
    }
    let primary_subnet = match &nics[0].existing {
        Some(id) => subnet(tx.part(), &interface(tx.part(), id)?.subnet_id)?.clone(),
        None => launch_subnet(tx.part(), input, Some(&nics[0]))?,
    };
    let instance = Instance {
        id: InstanceId::generate(),
        reservation_id: reservation_id.clone(),
        image_id: input.image_id.clone(),
        instance_type: input.instance_type.clone(),
        key_name: input.key_name.clone(),
        state: InstanceState::Running,
        subnet_id: primary_subnet.id.clone(),
        vpc_id: primary_subnet.vpc_id.clone(),
        availability_zone: primary_subnet.availability_zone.clone(),
        launch_time: tx.now,
        ami_launch_index: index,
        client_token: input.client_token.clone(),
        tags: input.instance_tags.clone(),
        attributes: input.attributes.clone(),
        launched_from: input.image.clone(),
    };
    tx.put(Record::Instance(instance.clone()));
    let single = nics.len() == 1;
    for nic in &nics {
        let mut eni = match &nic.existing {
            Some(id) => {
                let eni = interface(tx.part(), id)?.clone();
                // A NAT gateway's interface is in use by the gateway.
                if eni.attachment.is_some() || eni.nat_gateway.is_some() {
                    return Err(ApiError::invalid_network_interface_in_use(format!("Interface: [{id}] in use.")));
                }
                eni
            }
            None => {
                let subnet = if nic.device_index == 0 {
                    primary_subnet.clone()
                } else {
                    launch_subnet(tx.part(), input, Some(nic))?
                };
                let mut spec = nic.spec.clone();
                spec.tags.extend(input.interface_tags.clone());
                let eni = new_interface(tx, &subnet, spec)?;
                // Index the new interface's private IPs before the next one is made.
                tx.put(Record::NetworkInterface(eni.clone()));
                eni
            }
        };
        if eni.vpc_id != instance.vpc_id || eni.availability_zone != instance.availability_zone {
            return Err(ApiError::invalid_parameter_value(
                "All network interfaces of an instance must be in the same VPC and availability zone",
            ));
        }
        eni.attachment = Some(Attachment {
            id: AttachmentId::generate(),
            instance_id: instance.id.clone(),
            device_index: nic.device_index,
            attach_time: tx.now,
            delete_on_termination: nic.delete_on_termination.unwrap_or(nic.existing.is_none()),
        });
        if nic.device_index == 0 && single {
            let subnet_default = tx.part().subnet(&eni.subnet_id).is_some_and(|s| s.map_public_ip_on_launch);
            eni.auto_assign_public_ip = nic.associate_public_ip_address.unwrap_or(subnet_default);
        }
        tx.put(Record::NetworkInterface(eni.clone()));
        if eni.auto_assign_public_ip {
            restore_auto_public_ip(tx, eni)?;
        }
    }
    Ok(instance)
}

/// One instance's state change, as Start/Stop/TerminateInstances answer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: InstanceId,
    pub previous: InstanceState,
    /// The transitional state the answer shows (D16).
    pub current: InstanceState,
}

fn instances_for_change(part: &Partition, ids: &[InstanceId]) -> ApiResult<Vec<Instance>> {
    let missing: Vec<&str> = ids.iter().filter(|id| part.instance(id).is_none()).map(InstanceId::as_str).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid_instance_id_not_found(&missing.join(", ")));
    }
    Ok(ids.iter().filter_map(|id| part.instance(id).cloned()).collect())
}

/// Terminating deletes the interfaces marked delete-on-termination, which
/// ends the associations on them (the addresses stay allocated), and
/// detaches the others, which keep their Elastic IPs, as on AWS. An
/// instance with termination protection refuses the whole call: nothing is
/// terminated.
pub fn terminate_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let instances = instances_for_change(tx.part(), ids)?;
    if let Some(protected) = instances.iter().find(|i| i.attributes.disable_api_termination) {
        return Err(ApiError::operation_not_permitted(format!(
            "The instance '{}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.",
            protected.id
        )));
    }
    let mut changes = Vec::new();
    for mut inst in instances {
        let previous = inst.state;
        if previous != InstanceState::Terminated {
            for eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                let delete = eni.attachment.as_ref().is_some_and(|a| a.delete_on_termination);
                if delete {
                    detach_for_removal(tx, eni)?;
                } else {
                    detach(tx, eni);
                }
            }
            inst.state = InstanceState::Terminated;
            tx.put(Record::Instance(inst.clone()));
        }
        let current = if previous == InstanceState::Terminated { previous } else { InstanceState::ShuttingDown };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}

fn detach_for_removal(tx: &mut Tx, mut eni: NetworkInterface) -> ApiResult<()> {
    eni.attachment = None;
    tx.put(Record::NetworkInterface(eni.clone()));
    remove_interface(tx, eni)
}

/// Stopping releases auto-assigned public IPs; Elastic IPs stay (VPC).
/// An instance with stop protection refuses the whole call.
pub fn stop_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let instances = instances_for_change(tx.part(), ids)?;
    if let Some(protected) = instances.iter().find(|i| i.attributes.disable_api_stop) {
        return Err(ApiError::operation_not_permitted(format!(
            "The instance '{}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.",
            protected.id
        )));
    }
    let mut changes = Vec::new();
    for mut inst in instances {
        let previous = inst.state;
        match previous {
            InstanceState::Terminated | InstanceState::ShuttingDown => {
                return Err(ApiError::incorrect_instance_state(format!(
                    "This instance '{}' is not in a state from which it can be stopped.",
                    inst.id
                )));
            }
            InstanceState::Stopped | InstanceState::Stopping => {}
            _ => {
                for mut eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                    if let Some(ip) = eni.auto_public_ip.take() {
                        tx.release_public_ip(ip);
                        tx.put(Record::NetworkInterface(eni));
                    }
                }
                inst.state = InstanceState::Stopped;
                tx.put(Record::Instance(inst.clone()));
            }
        }
        let current = if previous == InstanceState::Stopped { previous } else { InstanceState::Stopping };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}

/// Starting gives back an auto-assigned public IP where AWS would.
pub fn start_instances(tx: &mut Tx, ids: &[InstanceId]) -> ApiResult<Vec<StateChange>> {
    let mut changes = Vec::new();
    for mut inst in instances_for_change(tx.part(), ids)? {
        let previous = inst.state;
        match previous {
            InstanceState::Terminated | InstanceState::ShuttingDown => {
                return Err(ApiError::incorrect_instance_state(format!(
                    "This instance '{}' is not in a state from which it can be started.",
                    inst.id
                )));
            }
            InstanceState::Running | InstanceState::Pending => {}
            _ => {
                inst.state = InstanceState::Running;
                tx.put(Record::Instance(inst.clone()));
                for eni in tx.part().interfaces_of(&inst.id).into_iter().cloned().collect::<Vec<_>>() {
                    restore_auto_public_ip(tx, eni)?;
                }
            }
        }
        let current = if previous == InstanceState::Running { previous } else { InstanceState::Pending };
        changes.push(StateChange { instance_id: inst.id, previous, current });
    }
    Ok(changes)
}

// What every instance shows of what eipd does not model (one place for the
// answers and the filters).
/// What an instance of an image eipd does not know runs as.
pub const ARCHITECTURE: &str = "x86_64";
pub const HYPERVISOR: &str = "xen";
pub const MONITORING_STATE: &str = "disabled";
pub const ROOT_DEVICE_NAME: &str = "/dev/xvda";
pub const ROOT_DEVICE_TYPE: &str = "ebs";
pub const TENANCY: &str = "default";
pub const VIRTUALIZATION_TYPE: &str = "hvm";
/// The attribute names of Describe/Modify/ResetInstanceAttribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceAttributeName {
    InstanceType,
    Kernel,
    Ramdisk,
    UserData,
    DisableApiTermination,
    InstanceInitiatedShutdownBehavior,
    RootDeviceName,
    BlockDeviceMapping,
    ProductCodes,
    SourceDestCheck,
    GroupSet,
    EbsOptimized,
    SriovNetSupport,
    EnaSupport,
    EnclaveOptions,
    DisableApiStop,
}

impl InstanceAttributeName {
    pub const ALL: &'static [Self] = &[
        Self::InstanceType,
        Self::Kernel,
        Self::Ramdisk,
        Self::UserData,
        Self::DisableApiTermination,
        Self::InstanceInitiatedShutdownBehavior,
        Self::RootDeviceName,
        Self::BlockDeviceMapping,
        Self::ProductCodes,
        Self::SourceDestCheck,
        Self::GroupSet,
        Self::EbsOptimized,
        Self::SriovNetSupport,
        Self::EnaSupport,
        Self::EnclaveOptions,
        Self::DisableApiStop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceType => "instanceType",
            Self::Kernel => "kernel",
            Self::Ramdisk => "ramdisk",
            Self::UserData => "userData",
            Self::DisableApiTermination => "disableApiTermination",
            Self::InstanceInitiatedShutdownBehavior => "instanceInitiatedShutdownBehavior",
            Self::RootDeviceName => "rootDeviceName",
            Self::BlockDeviceMapping => "blockDeviceMapping",
            Self::ProductCodes => "productCodes",
            Self::SourceDestCheck => "sourceDestCheck",
            Self::GroupSet => "groupSet",
            Self::EbsOptimized => "ebsOptimized",
            Self::SriovNetSupport => "sriovNetSupport",
            Self::EnaSupport => "enaSupport",
            Self::EnclaveOptions => "enclaveOptions",
            Self::DisableApiStop => "disableApiStop",
        }
    }

    /// The name as the model spells it, or InvalidParameterValue listing them.
    pub fn parse(value: &str) -> ApiResult<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == value).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
            ApiError::invalid_parameter_value(format!(
                "Value ({value}) for parameter attribute is invalid. Expected one of: {}.",
                names.join(", ")
            ))
        })
    }
}

/// One change of ModifyInstanceAttribute: EC2 takes one attribute per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceAttributeChange {
    InstanceType(String),
    /// Base64 user data; an empty string removes it.
    UserData(String),
    DisableApiTermination(bool),
    DisableApiStop(bool),
    ShutdownBehavior(ShutdownBehavior),
    SourceDestCheck(bool),
    Groups(Vec<GroupRef>),
    EbsOptimized(bool),
    EnaSupport(bool),
}

/// The interface that instance-level network attributes (sourceDestCheck,
/// groupSet) change: the instance's only one. With several, EC2 wants the
/// interface named instead.
pub fn sole_interface<'a>(part: &'a Partition, inst: &Instance) -> ApiResult<&'a NetworkInterface> {
    match part.interfaces_of(&inst.id).as_slice() {
        [only] => Ok(only),
        [] => Err(ApiError::incorrect_instance_state(format!(
            "The instance '{}' is not in a valid state for this operation.",
            inst.id
        ))),
        _ => Err(ApiError::invalid_instance_id(format!(
            "There are multiple interfaces attached to instance '{}'. Please specify an interface ID for the operation instead.",
            inst.id
        ))),
    }
}

/// Checks user data as EC2 does: base64 (the SDKs encode it), at most 16 KB
/// once decoded.
pub fn check_user_data(data: &str) -> ApiResult<()> {
    const MAX_DECODED: usize = 16 * 1024;
    let invalid = || ApiError::invalid_parameter_value("Invalid BASE64 encoding of user data.");
    let body = data.trim_end_matches('=');
    let padding = data.len() - body.len();
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    if !data.len().is_multiple_of(4) || padding > 2 || !body.bytes().all(alphabet) {
        return Err(invalid());
    }
    if data.len() / 4 * 3 - padding > MAX_DECODED {
        return Err(ApiError::invalid_parameter_value(format!("User data is limited to {MAX_DECODED} bytes.")));
    }
    Ok(())
}

/// ModifyInstanceAttribute. The instance type, user data and ENA support
/// change only while the instance is stopped, as on AWS.
pub fn modify_instance_attribute(tx: &mut Tx, id: &InstanceId, change: InstanceAttributeChange) -> ApiResult<()> {
    let mut inst = instance(tx.part(), id)?.clone();
    if matches!(inst.state, InstanceState::Terminated | InstanceState::ShuttingDown) {
        return Err(ApiError::incorrect_instance_state(format!(
            "The instance '{id}' is not in a valid state for this operation."
        )));
    }
    let needs_stopped = matches!(
        change,
        InstanceAttributeChange::InstanceType(_)
            | InstanceAttributeChange::UserData(_)
            | InstanceAttributeChange::EnaSupport(_)
    );
    if needs_stopped && inst.state != InstanceState::Stopped {
        return Err(ApiError::incorrect_instance_state(format!("The instance '{id}' is not in the 'stopped' state.")));
    }
    let attrs = &mut inst.attributes;
    match change {
        InstanceAttributeChange::InstanceType(t) => inst.instance_type = t,
        InstanceAttributeChange::UserData(data) => {
            check_user_data(&data)?;
            attrs.user_data = Some(data).filter(|d| !d.is_empty());
        }
        InstanceAttributeChange::DisableApiTermination(v) => attrs.disable_api_termination = v,
        InstanceAttributeChange::DisableApiStop(v) => attrs.disable_api_stop = v,
        InstanceAttributeChange::ShutdownBehavior(b) => attrs.shutdown_behavior = b,
        InstanceAttributeChange::EbsOptimized(v) => attrs.ebs_optimized = v,
        InstanceAttributeChange::EnaSupport(v) => attrs.ena_disabled = !v,
        InstanceAttributeChange::SourceDestCheck(v) => {
            let eni = sole_interface(tx.part(), &inst)?.id.clone();
            return modify_network_interface_attribute(tx, &eni, InterfaceAttributeChange::SourceDestCheck(v));
        }
        InstanceAttributeChange::Groups(groups) => {
            let eni = sole_interface(tx.part(), &inst)?.id.clone();
            return modify_network_interface_attribute(tx, &eni, InterfaceAttributeChange::Groups(groups));
        }
    }
    tx.put(Record::Instance(inst));
    Ok(())
}

/// ResetInstanceAttribute: EC2 resets only `kernel`, `ramdisk` (which an
/// HVM instance does not have: nothing to do) and `sourceDestCheck`.
pub fn reset_instance_attribute(tx: &mut Tx, id: &InstanceId, name: InstanceAttributeName) -> ApiResult<()> {
    instance(tx.part(), id)?;
    match name {
        InstanceAttributeName::Kernel | InstanceAttributeName::Ramdisk => Ok(()),
        InstanceAttributeName::SourceDestCheck => {
            modify_instance_attribute(tx, id, InstanceAttributeChange::SourceDestCheck(true))
        }
        other => Err(ApiError::invalid_parameter_value(format!(
            "Value ({}) for parameter attribute is invalid. Only kernel, ramdisk and sourceDestCheck can be reset.",
            other.as_str()
        ))),
    }
}

impl Described for Instance {
    type Id = InstanceId;
    const FILTERS: &'static [&'static str] = &[
        "instance-id",
        "instance-state-name",
        "instance-state-code",
        "instance-type",
        "image-id",
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "ip-address",
        "private-ip-address",
        "network-interface.network-interface-id",
        "reservation-id",
        "key-name",
        "dns-name",
        "owner-id",
        "instance.group-id",
        "instance.group-name",
        "network-interface.group-id",
        "network-interface.group-name",
        "architecture",
        "availability-zone-id",
        "client-token",
        "ebs-optimized",
        "ena-support",
        "hypervisor",
        "ipv6-address",
        "launch-index",
        "launch-time",
        "monitoring-state",
        "network-interface.addresses.association.allocation-id",
        "network-interface.addresses.association.association-id",
        "network-interface.addresses.association.ip-owner-id",
        "network-interface.addresses.association.public-dns-name",
        "network-interface.addresses.association.public-ip",
        "network-interface.addresses.primary",
        "network-interface.addresses.private-dns-name",
        "network-interface.addresses.private-ip-address",
        "network-interface.association.allocation-id",
        "network-interface.association.association-id",
        "network-interface.association.ip-owner-id",
        "network-interface.association.public-dns-name",
        "network-interface.association.public-ip",
        "network-interface.attachment.attach-time",
        "network-interface.attachment.attachment-id",
        "network-interface.attachment.delete-on-termination",
        "network-interface.attachment.device-index",
        "network-interface.attachment.instance-id",
        "network-interface.attachment.instance-owner-id",
        "network-interface.attachment.network-card-index",
        "network-interface.attachment.status",
        "network-interface.availability-zone",
        "network-interface.description",
        "network-interface.ipv6-address",
        "network-interface.ipv6-addresses.ipv6-address",
        "network-interface.ipv6-addresses.is-primary-ipv6",
        "network-interface.mac-address",
        "network-interface.owner-id",
        "network-interface.private-dns-name",
        "network-interface.private-ip-address",
        "network-interface.public-dns-name",
        "network-interface.requester-managed",
        "network-interface.source-dest-check",
        "network-interface.status",
        "network-interface.subnet-id",
        "network-interface.tag-key",
        "network-interface.tag-value",
        "network-interface.vpc-id",
        "private-dns-name",
        "reason",
        "root-device-name",
        "root-device-type",
        "source-dest-check",
        "tenancy",
        "virtualization-type",
        "platform",
        "platform-details",
        "usage-operation",
    ];
    const ABSENT: &'static [&'static str] = &[
        "affinity",
        "block-device-mapping.attach-time",
        "block-device-mapping.delete-on-termination",
        "block-device-mapping.device-name",
        "block-device-mapping.status",
        "block-device-mapping.volume-id",
        "boot-mode",
        "capacity-reservation-id",
        "capacity-reservation-specification.capacity-reservation-preference",
        "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id",
        "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn",
        "current-instance-boot-mode",
        "enclave-options.enabled",
        "hibernation-options.configured",
        "host-id",
        "iam-instance-profile.arn",
        "iam-instance-profile.id",
        "instance-lifecycle",
        "kernel-id",
        "maintenance-options.auto-recovery",
        "metadata-options.http-endpoint",
        "metadata-options.http-protocol-ipv4",
        "metadata-options.http-protocol-ipv6",
        "metadata-options.http-put-response-hop-limit",
        "metadata-options.http-tokens",
        "metadata-options.instance-metadata-tags",
        "metadata-options.state",
        "network-interface.addresses.association.carrier-ip",
        "network-interface.addresses.association.customer-owned-ip",
        "network-interface.association.carrier-ip",
        "network-interface.association.customer-owned-ip",
        "network-interface.deny-all-igw-traffic",
        "network-interface.ipv4-prefixes.ipv4-prefix",
        "network-interface.ipv6-native",
        "network-interface.ipv6-prefixes.ipv6-prefix",
        "network-interface.operator.managed",
        "network-interface.operator.principal",
        "network-interface.outpost-arn",
        "network-interface.requester-id",
        "network-performance-options.bandwidth-weighting",
        "operator.managed",
        "operator.principal",
        "outpost-arn",
        "placement-group-name",
        "placement-partition-number",
        "private-dns-name-options.enable-resource-name-dns-a-record",
        "private-dns-name-options.enable-resource-name-dns-aaaa-record",
        "private-dns-name-options.hostname-type",
        "product-code",
        "product-code.type",
        "ramdisk-id",
        "requester-id",
        "spot-instance-request-id",
        "state-reason-code",
        "state-reason-message",
        "tpm-support",
        "usage-operation-update-time",
    ];

    /// By reservation, then launch index: a reservation's instances stay together.
    fn all(part: &Partition) -> Vec<&Self> {
        let mut all: Vec<&Instance> = part.instances().collect();
        all.sort_by(|a, b| (&a.reservation_id, a.ami_launch_index).cmp(&(&b.reservation_id, b.ami_launch_index)));
        all
    }

    fn get<'p>(part: &'p Partition, id: &InstanceId) -> Option<&'p Self> {
        part.instance(id)
    }

    fn id(&self) -> &InstanceId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    /// Every missing id at once, as EC2 names them.
    fn not_found(missing: &[&InstanceId]) -> ApiError {
        let ids: Vec<&str> = missing.iter().map(|id| id.as_str()).collect();
        ApiError::invalid_instance_id_not_found(&ids.join(", "))
    }

    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        let primary = part.primary_interface(self);
        let public = primary.and_then(|eni| part.primary_public_ipv4(eni)).map(|p| p.public_ip);
        match name {
            "instance-id" => vec![self.id.to_string()],
            "instance-state-name" => vec![self.state.name().into()],
            "instance-state-code" => vec![self.state.code().to_string()],
            "instance-type" => vec![self.instance_type.clone()],
            "image-id" => vec![self.image_id.clone()],
            "subnet-id" => vec![self.subnet_id.to_string()],
            "vpc-id" => vec![self.vpc_id.to_string()],
            "availability-zone" => vec![self.availability_zone.clone()],
            "ip-address" => public.iter().map(ToString::to_string).collect(),
            "private-ip-address" => primary.iter().map(|e| e.primary_private_ip().to_string()).collect(),
            "network-interface.network-interface-id" => {
                part.interfaces_of(&self.id).iter().map(|e| e.id.to_string()).collect()
            }
            "reservation-id" => vec![self.reservation_id.to_string()],
            "key-name" => self.key_name.iter().cloned().collect(),
            "dns-name" => public.map(|ip| public_dns_name(ip, &scope.region)).into_iter().collect(),
            "owner-id" => vec![scope.account.to_string()],
            "instance.group-id" => primary.iter().flat_map(|e| &e.groups).map(ToString::to_string).collect(),
            "instance.group-name" => primary.map(|e| part.group_names(&e.groups)).unwrap_or_default(),
            "network-interface.group-id" => {
                part.interfaces_of(&self.id).iter().flat_map(|e| &e.groups).map(ToString::to_string).collect()
            }
            "network-interface.group-name" => {
                part.interfaces_of(&self.id).iter().flat_map(|e| part.group_names(&e.groups)).collect()
            }
            "architecture" => vec![self.architecture().into()],
            "platform" => self.platform().map(str::to_owned).into_iter().collect(),
            "platform-details" => vec![self.platform_details().into()],
            "usage-operation" => vec![self.usage_operation().into()],
            "availability-zone-id" => vec![zone_id(&self.availability_zone)],
            "client-token" => self.client_token.iter().cloned().collect(),
            "ebs-optimized" => vec![self.attributes.ebs_optimized.to_string()],
            "ena-support" => vec![(!self.attributes.ena_disabled).to_string()],
            "hypervisor" => vec![HYPERVISOR.into()],
            "ipv6-address" => {
                part.interfaces_of(&self.id).iter().flat_map(|e| &e.ipv6_addresses).map(ToString::to_string).collect()
            }
            "launch-index" => vec![self.ami_launch_index.to_string()],
            "launch-time" => vec![timestamp(self.launch_time)],
            "monitoring-state" => vec![MONITORING_STATE.into()],
            "private-dns-name" => {
                primary.iter().map(|e| private_dns_name(e.primary_private_ip(), &scope.region)).collect()
            }
            "reason" => vec![String::new()],
            "root-device-name" => vec![self.root_device_name().into()],
            "root-device-type" => vec![ROOT_DEVICE_TYPE.into()],
            "source-dest-check" => vec![primary.is_none_or(|e| e.source_dest_check).to_string()],
            "tenancy" => vec![TENANCY.into()],
            "virtualization-type" => vec![VIRTUALIZATION_TYPE.into()],
            _ => match name.strip_prefix("network-interface.") {
                // What the instance's interfaces offer the same filter of
                // DescribeNetworkInterfaces (a few names differ).
                Some(rest) => part
                    .interfaces_of(&self.id)
                    .iter()
                    .flat_map(|eni| match rest {
                        "tag-key" | "tag-value" => tag_filter_values(&eni.tags, rest).unwrap_or_default(),
                        "addresses.association.ip-owner-id" => {
                            eni.filter_values(part, scope, "addresses.association.owner-id")
                        }
                        "ipv6-address" => eni.filter_values(part, scope, "ipv6-addresses.ipv6-address"),
                        "public-dns-name" => eni.filter_values(part, scope, "association.public-dns-name"),
                        _ => eni.filter_values(part, scope, rest),
                    })
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    fn page_key(&self) -> String {
        format!("{}/{:05}", self.reservation_id, self.ami_launch_index)
    }
}

/// What DescribeInstanceStatus says of an instance's status checks: nothing
/// in eipd can fail them, so a running instance passes both at once (the
/// JavaScript SDK's `waitUntilInstanceStatusOk` returns right after
/// RunInstances); the checks of an instance that is not running do not
/// apply.
pub fn status_checks(instance: &Instance) -> &'static str {
    if instance.state == InstanceState::Running { "ok" } else { "not-applicable" }
}

/// An instance as DescribeInstanceStatus's filters see it.
struct StatusView<'a>(&'a Instance);

impl Filterable for StatusView<'_> {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let i = self.0;
        Some(match name {
            "availability-zone" => vec![i.availability_zone.clone()],
            "availability-zone-id" => vec![zone_id(&i.availability_zone)],
            "instance-state-name" => vec![i.state.name().into()],
            "instance-state-code" => vec![i.state.code().to_string()],
            "instance-status.status" | "system-status.status" => vec![status_checks(i).into()],
            "instance-status.reachability" | "system-status.reachability" => {
                vec![if status_checks(i) == "ok" { "passed" } else { "not-applicable" }.into()]
            }
            _ => return None,
        })
    }
}

/// DescribeInstanceStatus: the running instances (every instance with
/// `include_all`) among those asked for, filtered, one page.
pub fn describe_instance_status<'a>(
    part: &'a Partition,
    query: &DescribeQuery<InstanceId>,
    include_all: bool,
) -> ApiResult<Page<'a, Instance>> {
    const FILTERS: &[&str] = &[
        "availability-zone",
        "instance-state-name",
        "instance-state-code",
        "instance-status.status",
        "system-status.status",
        "instance-status.reachability",
        "system-status.reachability",
        "availability-zone-id",
    ];
    // Scheduled events, operators and EBS/application checks eipd has none of.
    const ABSENT: &[&str] = &[
        "application-status.status",
        "attached-ebs-status.status",
        "event.code",
        "event.description",
        "event.instance-event-id",
        "event.not-after",
        "event.not-before",
        "event.not-before-deadline",
        "operator.managed",
        "operator.principal",
    ];
    listing(
        part,
        query,
        |name| FILTERS.contains(&name) || ABSENT.contains(&name),
        |i: &Instance, filters| (include_all || i.state == InstanceState::Running) && filters.matches(&StatusView(i)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addresses::{AddressRef, AllocateAddress, AssociateAddress, AssociationTarget};
    use crate::state::{World, world_tx};

    fn launch(tx: &mut Tx) -> Instance {
        let input = RunInstances {
            image_id: "ami-12345678".into(),
            instance_type: "t3.micro".into(),
            min_count: 1,
            max_count: 1,
            ..RunInstances::default()
        };
        run_instances(tx, input).unwrap().remove(0)
    }

    #[test]
    fn user_data_must_be_base64() {
        assert!(check_user_data("").is_ok());
        assert!(check_user_data("aGVsbG8=").is_ok());
        assert!(check_user_data("aGVsbG8").is_err(), "not a multiple of four");
        assert!(check_user_data("aGV*bG8=").is_err(), "outside the alphabet");
        assert!(check_user_data("a===").is_err(), "three padding characters");
        assert!(check_user_data(&"A".repeat(24 * 1024)).is_err(), "more than 16 KB decoded");
    }

    #[test]
    fn termination_protection_refuses_the_whole_call() {
        let mut world = World::default();
        world_tx(&mut world, |tx| {
            let free = launch(tx);
            let protected = launch(tx);
            let change = InstanceAttributeChange::DisableApiTermination(true);
            modify_instance_attribute(tx, &protected.id, change).unwrap();
            let e = terminate_instances(tx, &[free.id.clone(), protected.id.clone()]).unwrap_err();
            assert_eq!(e.code, "OperationNotPermitted");
            assert!(e.message.contains(protected.id.as_str()), "{}", e.message);
            assert_eq!(tx.part().instance(&free.id).unwrap().state, InstanceState::Running, "nothing terminated");
            modify_instance_attribute(tx, &protected.id, InstanceAttributeChange::DisableApiTermination(false))
                .unwrap();
            terminate_instances(tx, std::slice::from_ref(&protected.id)).unwrap();
            assert_eq!(tx.part().instance(&protected.id).unwrap().state, InstanceState::Terminated);
        });
    }

    #[test]
    fn instance_type_and_user_data_change_only_when_stopped() {
        let mut world = World::default();
        world_tx(&mut world, |tx| {
            let inst = launch(tx);
            let e = modify_instance_attribute(tx, &inst.id, InstanceAttributeChange::InstanceType("m5.large".into()))
                .unwrap_err();
            assert_eq!(e.code, "IncorrectInstanceState");
            let e =
                modify_instance_attribute(tx, &inst.id, InstanceAttributeChange::UserData("aGk=".into())).unwrap_err();
            assert_eq!(e.code, "IncorrectInstanceState");
            stop_instances(tx, std::slice::from_ref(&inst.id)).unwrap();
            modify_instance_attribute(tx, &inst.id, InstanceAttributeChange::InstanceType("m5.large".into())).unwrap();
            modify_instance_attribute(tx, &inst.id, InstanceAttributeChange::UserData("aGk=".into())).unwrap();
            let after = tx.part().instance(&inst.id).unwrap();
            assert_eq!(after.instance_type, "m5.large");
            assert_eq!(after.attributes.user_data.as_deref(), Some("aGk="));
        });
    }

    /// An interface attached with DeleteOnTermination false outlives its
    /// instance, detached, with its Elastic IP still associated.
    #[test]
    fn a_surviving_interface_keeps_its_association() {
        let mut world = World::default();
        world_tx(&mut world, |tx| {
            let inst = launch(tx);
            let subnet = subnet(tx.part(), &inst.subnet_id).unwrap().clone();
            let spare =
                crate::network_interfaces::create_network_interface(tx, &subnet.id, InterfaceSpec::default()).unwrap();
            crate::network_interfaces::attach_network_interface(tx, &spare.id, &inst.id, 1).unwrap();
            let allocate =
                AllocateAddress { domain: Domain::Vpc, address: None, network_border_group: None, tags: Tags::new() };
            let address = crate::addresses::allocate_address(tx, allocate).unwrap();
            let associate = AssociateAddress {
                address: AddressRef::Allocation(address.allocation_id.clone().unwrap()),
                target: AssociationTarget::Interface(spare.id.clone()),
                private_ip: None,
                allow_reassociation: false,
            };
            let association = crate::addresses::associate_address(tx, associate).unwrap();
            let primary = tx.part().primary_interface(&inst).unwrap().id.clone();
            terminate_instances(tx, std::slice::from_ref(&inst.id)).unwrap();
            assert!(tx.part().interface(&primary).is_none(), "the launch interface is deleted");
            let survivor = tx.part().interface(&spare.id).expect("the attached interface survives");
            assert_eq!(survivor.attachment, None);
            let kept = tx.part().address(address.public_ip).unwrap().association.as_ref().map(|a| a.id.clone());
            assert_eq!(kept, Some(association));
        });
    }
}
