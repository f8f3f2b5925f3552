"""Every filter the EC2 model documents, on every Describe action eipd serves.

The names come from botocore's model (the documentation of each action's
Filters member, as tools/gen_model_params.py reads it), so a new action or a
newer model is covered without editing this file. Each name must be taken:
evaluated against what eipd's answer shows, or, for an attribute eipd does
not model (spot requests, block devices, Outposts), taken and matching
nothing, as on AWS for a resource without that attribute. Then each filter
is checked against the answer itself: whatever a resource shows under a
filter's attribute, filtering on that value finds it.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
from pathlib import Path

import botocore
import pytest

from eipd_helpers import allocate, expect_error, raw_post, run_instance

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_model_params", ROOT / "tools" / "gen_model_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
MODEL = json.load(gzip.open(Path(os.path.dirname(botocore.__file__)) / "data/ec2/2016-11-15/service-2.json.gz"))
DOCUMENTED = {
    action: names
    for action in GEN.served_actions()
    if (names := GEN.documented_filters(MODEL["shapes"], MODEL["operations"][action]))
}


def _method(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def test_the_model_documents_filters_for_the_core_actions():
    for action in ("DescribeAddresses", "DescribeVpcs", "DescribeSubnets", "DescribeInstances",
                   "DescribeNetworkInterfaces", "DescribeSecurityGroups"):
        assert action in DOCUMENTED, action
    assert "cidr" in DOCUMENTED["DescribeVpcs"]


@pytest.mark.parametrize("action", sorted(DOCUMENTED))
def test_every_documented_filter_is_taken(ec2, action):
    refused = {}
    for name in DOCUMENTED[action]:
        try:
            getattr(ec2, _method(action))(Filters=[{"Name": name, "Values": ["no-such-value"]}])
        except ec2.exceptions.ClientError as e:
            refused[name] = e.response["Error"]["Message"]
    assert not refused, f"{action} refuses filters the EC2 model documents: {refused}"


def test_a_name_the_model_does_not_document_is_invalid(ec2):
    resp = expect_error(ec2.describe_vpcs, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["x"]}])
    assert resp["Error"]["Message"] == "The filter 'colour' is invalid"


def test_vpcs_by_cidr_block_the_name_ansible_uses(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
    for name in ("cidr-block", "cidr", "cidr-block-association.cidr-block"):
        found = ec2.describe_vpcs(Filters=[{"Name": name, "Values": ["10.42.0.0/16"]}])["Vpcs"]
        assert [v["VpcId"] for v in found] == [vpc["VpcId"]], name
    assoc = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    found = ec2.describe_vpcs(Filters=[{"Name": "cidr-block-association.association-id", "Values": [assoc]},
                                       {"Name": "cidr-block-association.state", "Values": ["associated"]}])
    assert [v["VpcId"] for v in found["Vpcs"]] == [vpc["VpcId"]]


def _flatten(value, prefix=""):
    """(dotted lower-case path, text) pairs of a resource as boto3 parsed it."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item, prefix)
    elif isinstance(value, bool):
        yield prefix.lower(), str(value).lower()
    elif not hasattr(value, "isoformat"):
        yield prefix.lower(), str(value)


def _norm(s: str) -> str:
    """A filter name or a member path, compared without dashes, dots, case
    and the `Set` of EC2's list names."""
    return s.lower().replace("-", "").replace(".", "").replace("set", "")


def _self_checks(action, resources, id_member):
    """For each documented filter whose name matches a member of the answer,
    filtering on that member's value of a resource finds the resource."""
    checked = set()
    for r in resources:
        pairs = list(_flatten(r))
        for name in DOCUMENTED[action]:
            members = [(path, value) for path, value in pairs if _norm(path) == _norm(name)]
            if not members or any(not v for _, v in members):
                continue
            checked.add(name)
            yield name, members[0][1], r[id_member]
    assert checked, f"{action}: no filter checked against the answer"


@pytest.mark.parametrize("action, result, id_member", [
    ("DescribeVpcs", "Vpcs", "VpcId"),
    ("DescribeSubnets", "Subnets", "SubnetId"),
    ("DescribeNetworkInterfaces", "NetworkInterfaces", "NetworkInterfaceId"),
    ("DescribeInternetGateways", "InternetGateways", "InternetGatewayId"),
    ("DescribeSecurityGroups", "SecurityGroups", "GroupId"),
    ("DescribeImages", "Images", "ImageId"),
])
def test_what_an_answer_shows_its_filters_find(ec2, action, result, id_member):
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eni = ec2.create_network_interface(SubnetId=subnet, Description="filters", SecondaryPrivateIpAddressCount=1)
    eni_id = eni["NetworkInterface"]["NetworkInterfaceId"]
    alloc = allocate(ec2)["AllocationId"]
    ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni_id)
    resources = getattr(ec2, _method(action))()[result]
    checked = 0
    for name, value, rid in _self_checks(action, resources, id_member):
        found = getattr(ec2, _method(action))(Filters=[{"Name": name, "Values": [value]}])[result]
        assert rid in [f[id_member] for f in found], f"{action}: filter {name}={value!r} misses {rid}"
        checked += 1
    assert checked >= 3


def test_instance_filters_read_the_instance_and_its_interfaces(ec2):
    inst = run_instance(ec2)
    iid = inst["InstanceId"]
    eni = inst["NetworkInterfaces"][0]
    alloc = allocate(ec2)
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
    ec2.create_tags(Resources=[eni["NetworkInterfaceId"]], Tags=[{"Key": "role", "Value": "web"}])
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    cases = {
        "architecture": inst["Architecture"],
        "availability-zone-id": None,  # checked below against the subnet's
        "hypervisor": inst["Hypervisor"],
        "root-device-type": inst["RootDeviceType"],
        "root-device-name": inst["RootDeviceName"],
        "virtualization-type": inst["VirtualizationType"],
        "tenancy": inst["Placement"]["Tenancy"],
        "monitoring-state": inst["Monitoring"]["State"],
        "launch-index": str(inst["AmiLaunchIndex"]),
        "private-dns-name": inst["PrivateDnsName"],
        "ena-support": "true",
        "ebs-optimized": "false",
        "source-dest-check": "true",
        "network-interface.addresses.association.public-ip": alloc["PublicIp"],
        "network-interface.association.allocation-id": alloc["AllocationId"],
        "network-interface.association.ip-owner-id": inst["NetworkInterfaces"][0]["Association"]["IpOwnerId"],
        "network-interface.attachment.delete-on-termination": "true",
        "network-interface.attachment.device-index": "0",
        "network-interface.mac-address": eni["MacAddress"],
        "network-interface.private-ip-address": eni["PrivateIpAddress"],
        "network-interface.tag-key": "role",
        "network-interface.tag-value": "web",
        "network-interface.subnet-id": inst["SubnetId"],
    }
    subnet = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"][0]
    cases["availability-zone-id"] = subnet["AvailabilityZoneId"]
    for name, value in cases.items():
        hits = [i["InstanceId"] for r in ec2.describe_instances(
            Filters=[{"Name": name, "Values": [value]}])["Reservations"] for i in r["Instances"]]
        assert hits == [iid], f"{name}={value!r}: {hits}"
        misses = ec2.describe_instances(Filters=[{"Name": name, "Values": [value + "-not"]}])["Reservations"]
        assert misses == [], f"{name}: a wrong value matched"
    # An attribute eipd does not model matches nothing, as for an instance
    # without it on AWS (an on-demand instance has no spot request).
    for name in ("spot-instance-request-id", "block-device-mapping.volume-id", "host-id"):
        assert ec2.describe_instances(Filters=[{"Name": name, "Values": ["*"]}])["Reservations"] == []


def test_a_filter_a_model_documents_for_another_action_is_still_invalid(endpoint, account):
    # `vpc-id` is a filter of many actions, but not of DescribeRegions.
    status, body, _ = raw_post(endpoint, {"Action": "DescribeRegions", "Version": "2016-11-15",
                                          "Filter.1.Name": "vpc-id", "Filter.1.Value.1": "x"}, account=account)
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body
    assert "vpc-id" in body and "is invalid" in body
