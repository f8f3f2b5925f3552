"""Every paginated action eipd serves, paged through with boto3's own paginators.

A page token must be opaque printable text that boto3 passes back as it came
(DescribeTags once sent a raw U+001F and boto3 failed on the second page). The
list of cases is checked against botocore's paginators: an action eipd serves
without a case here fails the test, so a new family cannot skip it.
"""
from __future__ import annotations

import string

import botocore.session
import pytest

from eipd_helpers import allocate, default_subnets, default_vpc, raw_post, run_instance

PRINTABLE = set(string.ascii_letters + string.digits + string.punctuation)


def _addresses_with_ptr(ec2):
    ids = [allocate(ec2)["AllocationId"] for _ in range(5)]
    for i, alloc in enumerate(ids):
        ec2.modify_address_attribute(AllocationId=alloc, DomainName=f"host{i}.example.com")
    return {"Attribute": "domain-name"}, "Addresses", "AllocationId", set(ids)


def _tags(ec2):
    ids = [allocate(ec2)["AllocationId"] for _ in range(3)]
    # Keys a token must not carry verbatim: spaces, non-ASCII, tag
    # punctuation.
    keys = ["a b", "é.+-=", "x:y/z@_", "Name"]
    ec2.create_tags(Resources=ids, Tags=[{"Key": k, "Value": "v"} for k in keys])
    return {}, "Tags", None, {(r, k) for r in ids for k in keys}


def _vpcs(ec2):
    ids = {ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(4)}
    return {}, "Vpcs", "VpcId", ids | {default_vpc(ec2)["VpcId"]}


def _subnets(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ids = {ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24")["Subnet"]["SubnetId"] for i in range(4)}
    return {"Filters": [{"Name": "vpc-id", "Values": [vpc]}]}, "Subnets", "SubnetId", ids


def _internet_gateways(ec2):
    ids = {ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"] for _ in range(4)}
    return {}, "InternetGateways", "InternetGatewayId", ids


def _network_interfaces(ec2):
    subnet = default_subnets(ec2)[0]["SubnetId"]
    ids = {ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
           for _ in range(4)}
    return {}, "NetworkInterfaces", "NetworkInterfaceId", ids


def _instances(ec2):
    ids = {run_instance(ec2)["InstanceId"] for _ in range(4)}
    return {}, "Reservations", None, ids


def _instance_status(ec2):
    ids = {run_instance(ec2)["InstanceId"] for _ in range(4)}
    return {}, "InstanceStatuses", "InstanceId", ids


def _security_groups(ec2):
    vpc = default_vpc(ec2)["VpcId"]
    ids = {ec2.create_security_group(GroupName=f"g{i}", Description="d", VpcId=vpc)["GroupId"]
           for i in range(4)}
    default = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    return {}, "SecurityGroups", "GroupId", ids | {default}


def _security_group_rules(ec2):
    vpc = default_vpc(ec2)["VpcId"]
    group = ec2.create_security_group(GroupName="rules", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        for p in (22, 80, 443)])
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    assert len(rules) == 4  # three ingress rules and the default egress rule
    return ({"Filters": [{"Name": "group-id", "Values": [group]}]}, "SecurityGroupRules",
            "SecurityGroupRuleId", {r["SecurityGroupRuleId"] for r in rules})


def _route_tables(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ids = {ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(5)}
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}])
    ids.add(main["RouteTables"][0]["RouteTableId"])
    return {"Filters": [{"Name": "vpc-id", "Values": [vpc]}]}, "RouteTables", "RouteTableId", ids


def _nat_gateways(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    ids = {ec2.create_nat_gateway(SubnetId=subnet, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
           for _ in range(6)}
    return {}, "NatGateways", "NatGatewayId", ids


def _images(ec2):
    # The catalogue is fixed: what one unpaged call lists, the pages list.
    ids = {i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]}
    assert len(ids) > 5
    return {"Owners": ["amazon"]}, "Images", "ImageId", ids


def _dhcp_options(ec2):
    ids = {ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": [f"d{i}.example"]}])
           ["DhcpOptions"]["DhcpOptionsId"] for i in range(5)}
    return {}, "DhcpOptions", "DhcpOptionsId", ids | {default_vpc(ec2)["DhcpOptionsId"]}


# operation → set-up returning (extra arguments, result key, id member or None, expected ids)
CASES = {
    "DescribeAddressesAttribute": _addresses_with_ptr,
    "DescribeTags": _tags,
    "DescribeVpcs": _vpcs,
    "DescribeSubnets": _subnets,
    "DescribeInternetGateways": _internet_gateways,
    "DescribeNetworkInterfaces": _network_interfaces,
    "DescribeInstances": _instances,
    "DescribeInstanceStatus": _instance_status,
    "DescribeSecurityGroups": _security_groups,
    "DescribeSecurityGroupRules": _security_group_rules,
    "DescribeRouteTables": _route_tables,
    "DescribeNatGateways": _nat_gateways,
    "DescribeImages": _images,
    "DescribeDhcpOptions": _dhcp_options,
}


def _paginated_operations() -> list[str]:
    model = botocore.session.get_session().get_paginator_model("ec2")
    return sorted(model._paginator_config)


def _served(endpoint, account, operation) -> bool:
    status, body, _ = raw_post(endpoint, {"Action": operation, "Version": "2016-11-15"}, account=account)
    return "<Code>InvalidAction</Code>" not in body


def test_every_paginated_action_served_has_a_case(endpoint, account):
    served = [op for op in _paginated_operations() if _served(endpoint, account, op)]
    assert "DescribeTags" in served and "DescribeVpcs" in served
    missing = [op for op in served if op not in CASES]
    assert not missing, f"paginated actions eipd serves without a case in {__name__}: {missing}"
    stale = [op for op in CASES if op not in served]
    assert not stale, f"cases for actions eipd does not serve (or botocore does not paginate): {stale}"


def _key(item, id_member):
    if id_member is not None:
        return item[id_member]
    if "ResourceId" in item:
        return item["ResourceId"], item["Key"]
    return next(i["InstanceId"] for i in item["Instances"])


@pytest.mark.parametrize("operation", sorted(CASES))
def test_pages_through_every_item_once(ec2, operation):
    extra, result_key, id_member, expected = CASES[operation](ec2)
    name = botocore.session.get_session().get_service_model("ec2").operation_model(operation).name
    method = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    paginator = ec2.get_paginator(method)
    seen, tokens, pages = [], [], 0
    # 5 is the smallest MaxResults every one of them takes: several pages each.
    for page in paginator.paginate(PaginationConfig={"PageSize": 5}, **extra):
        pages += 1
        seen += [_key(item, id_member) for item in page[result_key]]
        if page.get("NextToken"):
            tokens.append(page["NextToken"])
    assert pages >= 1
    for token in tokens:
        assert set(token) <= PRINTABLE, f"{operation}: token {token!r} is not opaque printable text"
    assert len(seen) == len(set(seen)), f"{operation}: an item on two pages: {seen}"
    if operation in ("DescribeAddressesAttribute", "DescribeTags") or extra:
        assert set(seen) == expected
    else:
        assert expected <= set(seen), f"{operation}: missing {expected - set(seen)}"


def test_tags_page_by_page_with_the_smallest_page(ec2):
    """Page by page by hand: tokens after keys with spaces, non-ASCII and tag
    punctuation are printable, and each is taken back."""
    _, _, _, expected = _tags(ec2)
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5} | ({"NextToken": token} if token else {})
        page = ec2.describe_tags(**kw)
        seen += [(t["ResourceId"], t["Key"]) for t in page["Tags"]]
        token = page.get("NextToken")
        if not token:
            break
        assert set(token) <= PRINTABLE
    assert len(seen) == len(expected) == len(set(seen)) and set(seen) == expected


def test_a_token_eipd_did_not_write_is_invalid(ec2):
    for token in ["garbage", "zz", "\u00e9"]:
        with pytest.raises(ec2.exceptions.ClientError) as e:
            ec2.describe_tags(MaxResults=5, NextToken=token)
        assert e.value.response["Error"]["Code"] == "InvalidNextToken"
