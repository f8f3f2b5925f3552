//! XML of the shapes several operations share: interfaces, instances, their
//! public IP associations.

use std::net::Ipv4Addr;

use eipd_domain::instances;
use eipd_domain::view::{PublicIpv4, ip_owner, private_dns_name, public_dns_name, timestamp};
use eipd_domain::{Attachment, Instance, InstanceState, NetworkInterface, Partition, SecurityGroupId};
use eipd_protocol::XmlWriter;

pub(crate) struct Renderer<'a> {
    pub part: &'a Partition,
    pub account: &'a str,
    pub region: &'a str,
}

impl Renderer<'_> {
    fn public_dns(&self, eni: &NetworkInterface, ip: Ipv4Addr) -> Option<String> {
        self.part.dns_hostnames_enabled(eni).then(|| public_dns_name(ip, self.region))
    }

    /// `association` of an interface or one of its private IPs. `full` adds
    /// the allocation and association ids (NetworkInterfaceAssociation).
    fn association(&self, w: &mut XmlWriter, eni: &NetworkInterface, p: &PublicIpv4, full: bool) {
        w.nested("association", |w| {
            w.display("publicIp", p.public_ip);
            w.text("publicDnsName", &self.public_dns(eni, p.public_ip).unwrap_or_default());
            w.text("ipOwnerId", ip_owner(p, self.account));
            if full && let Some(a) = p.elastic {
                w.opt_display("allocationId", a.allocation_id.as_ref());
                w.opt_display("associationId", a.association.as_ref().map(|x| &x.id));
            }
        });
    }

    fn private_ips(&self, w: &mut XmlWriter, eni: &NetworkInterface, full: bool) {
        let publics = self.part.public_ipv4s(eni);
        w.list("privateIpAddressesSet", eni.private_ips.iter().enumerate(), |w, (i, ip)| {
            w.display("privateIpAddress", ip);
            w.text("privateDnsName", &private_dns_name(*ip, self.region));
            w.display("primary", i == 0);
            if let Some(p) = publics.iter().find(|p| p.private_ip == *ip) {
                self.association(w, eni, p, full);
            }
        });
    }

    fn ipv6(&self, w: &mut XmlWriter, eni: &NetworkInterface) {
        w.list("ipv6AddressesSet", &eni.ipv6_addresses, |w, ip| {
            w.display("ipv6Address", ip);
            w.display("isPrimaryIpv6", false);
        });
    }

    /// `groupSet`: GroupIdentifier items, each group's id and name.
    pub(crate) fn group_set(&self, w: &mut XmlWriter, groups: &[SecurityGroupId]) {
        w.list("groupSet", groups, |w, id| {
            w.display("groupId", id);
            w.opt_text("groupName", self.part.security_group(id).map(|g| g.name.as_str()));
        });
    }

    /// The NetworkInterface shape (Create/DescribeNetworkInterfaces).
    pub(crate) fn interface(&self, w: &mut XmlWriter, eni: &NetworkInterface) {
        w.display("networkInterfaceId", &eni.id);
        w.display("subnetId", &eni.subnet_id);
        w.display("vpcId", &eni.vpc_id);
        w.text("availabilityZone", &eni.availability_zone);
        w.text("description", &eni.description);
        w.text("ownerId", self.account);
        w.opt_text("requesterId", eni.requester_id());
        w.display("requesterManaged", eni.nat_gateway.is_some());
        w.text("status", eni.status());
        w.text("macAddress", &eni.mac_address);
        w.display("privateIpAddress", eni.primary_private_ip());
        w.text("privateDnsName", &private_dns_name(eni.primary_private_ip(), self.region));
        w.display("sourceDestCheck", eni.source_dest_check);
        w.text("interfaceType", eni.interface_type());
        self.group_set(w, &eni.groups);
        if let Some(att) = &eni.attachment {
            self.interface_attachment(w, att);
        }
        if let Some(id) = eni.service_attachment_id() {
            // As AWS shows a NAT gateway's interface: attached to no instance.
            w.nested("attachment", |w| {
                w.text("attachmentId", &id);
                w.text("instanceOwnerId", "amazon-aws");
                w.display("deviceIndex", 1);
                w.text("status", "attached");
                w.display("deleteOnTermination", false);
            });
        }
        if let Some(p) = self.part.primary_public_ipv4(eni) {
            self.association(w, eni, &p, true);
        }
        self.private_ips(w, eni, true);
        self.ipv6(w, eni);
        if let Some(ip) = eni.ipv6_addresses.first() {
            w.display("ipv6Address", ip);
        }
        let names = self.part.dns_name_options(eni, self.region);
        if let Some(name) = self.part.primary_public_ipv4(eni).and_then(|p| self.public_dns(eni, p.public_ip)) {
            w.text("publicDnsName", &name);
        }
        w.nested("publicIpDnsNameOptions", |w| {
            w.opt_text("dnsHostnameType", names.hostname_type.map(|t| t.as_str()));
            w.opt_text("publicIpv4DnsName", names.ipv4_name.as_deref());
            w.opt_text("publicIpv6DnsName", names.ipv6_name.as_deref());
            w.opt_text("publicDualStackDnsName", names.dual_stack_name.as_deref());
        });
        w.tag_set("tagSet", &eni.tags);
    }

    /// `attachment`, the NetworkInterfaceAttachment shape.
    pub(crate) fn interface_attachment(&self, w: &mut XmlWriter, att: &Attachment) {
        w.nested("attachment", |w| {
            w.display("attachmentId", &att.id);
            w.display("instanceId", &att.instance_id);
            w.text("instanceOwnerId", self.account);
            w.display("deviceIndex", att.device_index);
            w.display("networkCardIndex", 0);
            w.text("status", "attached");
            w.text("attachTime", &timestamp(att.attach_time));
            w.display("deleteOnTermination", att.delete_on_termination);
        });
    }

    /// The InstanceNetworkInterface shape (inside an Instance).
    fn instance_interface(&self, w: &mut XmlWriter, eni: &NetworkInterface) {
        w.display("networkInterfaceId", &eni.id);
        w.display("subnetId", &eni.subnet_id);
        w.display("vpcId", &eni.vpc_id);
        w.text("description", &eni.description);
        w.text("ownerId", self.account);
        w.text("status", eni.status());
        w.text("macAddress", &eni.mac_address);
        w.display("privateIpAddress", eni.primary_private_ip());
        w.text("privateDnsName", &private_dns_name(eni.primary_private_ip(), self.region));
        w.display("sourceDestCheck", eni.source_dest_check);
        w.text("interfaceType", "interface");
        self.group_set(w, &eni.groups);
        if let Some(att) = &eni.attachment {
            w.nested("attachment", |w| {
                w.display("attachmentId", &att.id);
                w.display("deviceIndex", att.device_index);
                w.display("networkCardIndex", 0);
                w.text("status", "attached");
                w.text("attachTime", &timestamp(att.attach_time));
                w.display("deleteOnTermination", att.delete_on_termination);
            });
        }
        if let Some(p) = self.part.primary_public_ipv4(eni) {
            self.association(w, eni, &p, false);
        }
        self.private_ips(w, eni, false);
        self.ipv6(w, eni);
    }

    /// The Instance shape; `state` is what this answer shows (D16).
    pub(crate) fn instance(&self, w: &mut XmlWriter, inst: &Instance, state: InstanceState) {
        let interfaces = self.part.interfaces_of(&inst.id);
        let primary = self.part.primary_interface(inst);
        let public = primary.and_then(|eni| self.part.primary_public_ipv4(eni).map(|p| (eni, p.public_ip)));
        w.display("instanceId", &inst.id);
        w.text("imageId", &inst.image_id);
        w.nested("instanceState", |w| {
            w.display("code", state.code());
            w.text("name", state.name());
        });
        match primary {
            Some(eni) => w.text("privateDnsName", &private_dns_name(eni.primary_private_ip(), self.region)),
            None => w.text("privateDnsName", ""),
        }
        w.text("dnsName", &public.and_then(|(eni, ip)| self.public_dns(eni, ip)).unwrap_or_default());
        w.text("reason", "");
        w.opt_text("keyName", inst.key_name.as_deref());
        w.display("amiLaunchIndex", inst.ami_launch_index);
        w.list("productCodes", std::iter::empty::<()>(), |_, ()| {});
        w.text("instanceType", &inst.instance_type);
        w.text("launchTime", &timestamp(inst.launch_time));
        w.nested("placement", |w| {
            w.text("availabilityZone", &inst.availability_zone);
            w.text("groupName", "");
            w.text("tenancy", instances::TENANCY);
        });
        w.nested("monitoring", |w| w.text("state", instances::MONITORING_STATE));
        w.display("subnetId", &inst.subnet_id);
        w.display("vpcId", &inst.vpc_id);
        w.opt_display("privateIpAddress", primary.map(|eni| eni.primary_private_ip()));
        w.opt_display("ipAddress", public.map(|(_, ip)| ip));
        w.display("sourceDestCheck", primary.is_none_or(|eni| eni.source_dest_check));
        // An instance's groups are its primary interface's.
        self.group_set(w, primary.map_or(&[][..], |eni| &eni.groups));
        w.text("architecture", inst.architecture());
        w.opt_text("platform", inst.platform());
        w.text("platformDetails", inst.platform_details());
        w.text("usageOperation", inst.usage_operation());
        w.text("rootDeviceType", instances::ROOT_DEVICE_TYPE);
        w.text("rootDeviceName", inst.root_device_name());
        w.list("blockDeviceMapping", std::iter::empty::<()>(), |_, ()| {});
        w.text("virtualizationType", instances::VIRTUALIZATION_TYPE);
        w.opt_text("clientToken", inst.client_token.as_deref());
        w.tag_set("tagSet", &inst.tags);
        w.text("hypervisor", instances::HYPERVISOR);
        w.list("networkInterfaceSet", interfaces, |w, eni| self.instance_interface(w, eni));
        w.display("ebsOptimized", inst.attributes.ebs_optimized);
        w.display("enaSupport", !inst.attributes.ena_disabled);
    }
}
