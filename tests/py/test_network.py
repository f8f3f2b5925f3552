"""The network side the addresses hang on: default VPC, VPCs, subnets, IGWs, ENIs, instances."""
import ipaddress
import re

import boto3

from eipd_helpers import (
    AMI, default_subnets, default_vpc, describe_eni, describe_instance, expect_error, in_pool,
    make_vpc, run_instance,
)


def test_default_vpc_subnets_and_igw(ec2):
    vpc = default_vpc(ec2)
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    assert vpc["IsDefault"] is True
    assert re.match(r"^vpc-[0-9a-f]+$", vpc["VpcId"])
    subnets = default_subnets(ec2)
    for s in subnets:
        assert s["VpcId"] == vpc["VpcId"]
        assert s["MapPublicIpOnLaunch"] is True
        assert s["DefaultForAz"] is True
        assert ipaddress.ip_network(s["CidrBlock"]).subnet_of(ipaddress.ip_network("172.31.0.0/16"))
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1
    assert igws[0]["Attachments"][0]["VpcId"] == vpc["VpcId"]
    assert igws[0]["Attachments"][0]["State"] in ("available", "attached")


def test_default_vpc_is_per_region(new_client):
    acct, east = new_client(region="us-east-1")
    _, west = new_client(acct, region="us-west-2")
    ve, vw = default_vpc(east), default_vpc(west)
    assert ve["VpcId"] != vw["VpcId"]
    zones = {s["AvailabilityZone"] for s in default_subnets(west)}
    assert zones and all(z.startswith("us-west-2") for z in zones)


def test_create_vpc_subnet_igw(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    assert vpc.get("IsDefault") in (False, None)
    vpc_id = vpc["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.3.0/24")["Subnet"]
    assert subnet["VpcId"] == vpc_id and subnet["CidrBlock"] == "10.20.3.0/24"
    assert subnet["MapPublicIpOnLaunch"] is False
    assert re.match(r"^subnet-[0-9a-f]+$", subnet["SubnetId"])
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    assert re.match(r"^igw-[0-9a-f]+$", igw_id)
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [vpc_id]
    subs = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [s["SubnetId"] for s in subs] == [subnet["SubnetId"]]
    igw = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vpc_id]
    # both VPCs are listed
    all_ids = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert {vpc_id, default_vpc(ec2)["VpcId"]} <= all_ids


def test_create_describe_delete_network_interface(ec2, account):
    _, subnet_id = make_vpc(ec2, "10.30.0.0/16", "10.30.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id, Description="e2e")["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    assert re.match(r"^eni-[0-9a-f]+$", eni_id)
    assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network("10.30.1.0/24")
    assert eni["OwnerId"] == account
    got = describe_eni(ec2, eni_id)
    assert got["SubnetId"] == subnet_id
    assert got["Status"] == "available"
    assert "Association" not in got
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    expect_error(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound",
                 NetworkInterfaceIds=[eni_id])


def test_an_interface_names_the_principal_that_made_it(endpoint, account, ec2):
    # requesterId is the creating principal's unique id (STS's UserId), as on
    # AWS; an instance's own interface has none.
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
                       aws_secret_access_key="dummy-secret")
    me = sts.get_caller_identity()["UserId"]
    _, subnet_id = make_vpc(ec2, "10.32.0.0/16", "10.32.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
    assert (eni["RequesterId"], eni["RequesterManaged"]) == (me, False)
    assert describe_eni(ec2, eni["NetworkInterfaceId"])["RequesterId"] == me
    found = ec2.describe_network_interfaces(Filters=[{"Name": "requester-id", "Values": [me]}])
    assert [e["NetworkInterfaceId"] for e in found["NetworkInterfaces"]] == [eni["NetworkInterfaceId"]]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet_id)["Instances"][0]
    own = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert "RequesterId" not in describe_eni(ec2, own)


def test_network_interface_with_explicit_private_ip(ec2):
    _, subnet_id = make_vpc(ec2, "10.31.0.0/16", "10.31.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddress="10.31.1.77")
    assert eni["NetworkInterface"]["PrivateIpAddress"] == "10.31.1.77"


def test_run_instances_default_vpc(ec2):
    r = ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2)
    assert len(r["Instances"]) == 2
    assert all(i["State"]["Name"] == "pending" for i in r["Instances"])
    subnet_ids = {s["SubnetId"] for s in default_subnets(ec2)}
    vpc_id = default_vpc(ec2)["VpcId"]
    for i in r["Instances"]:
        inst = describe_instance(ec2, i["InstanceId"])
        assert re.match(r"^i-[0-9a-f]+$", inst["InstanceId"])
        assert inst["State"]["Name"] == "running"
        assert inst["ImageId"] == AMI
        assert inst["VpcId"] == vpc_id and inst["SubnetId"] in subnet_ids
        # default subnets auto-assign a public IP from the pool (D8)
        assert in_pool(inst["PublicIpAddress"])
        assert ipaddress.ip_address(inst["PrivateIpAddress"]) in ipaddress.ip_network("172.31.0.0/16")
        enis = inst["NetworkInterfaces"]
        assert len(enis) == 1
        eni = describe_eni(ec2, enis[0]["NetworkInterfaceId"])
        assert eni["Attachment"]["InstanceId"] == inst["InstanceId"]
        assert eni["PrivateIpAddress"] == inst["PrivateIpAddress"]
        assert eni["Association"]["PublicIp"] == inst["PublicIpAddress"]
    ips = {describe_instance(ec2, i["InstanceId"])["PublicIpAddress"] for i in r["Instances"]}
    assert len(ips) == 2


def test_run_instance_in_custom_subnet_has_no_public_ip(ec2):
    vpc_id, subnet_id = make_vpc(ec2, "10.40.0.0/16", "10.40.1.0/24")
    inst = run_instance(ec2, subnet_id)
    assert inst["SubnetId"] == subnet_id and inst["VpcId"] == vpc_id
    assert ipaddress.ip_address(inst["PrivateIpAddress"]) in ipaddress.ip_network("10.40.1.0/24")
    assert not inst.get("PublicIpAddress")


def test_terminate_instances(ec2):
    inst = run_instance(ec2)
    eni_id = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    r = ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    assert r["TerminatingInstances"][0]["InstanceId"] == inst["InstanceId"]
    assert describe_instance(ec2, inst["InstanceId"])["State"]["Name"] == "terminated"
    # the primary interface is deleted with the instance
    left = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": [eni_id]}])["NetworkInterfaces"]
    assert left == []


def test_describe_instances_filters_by_instance_id(ec2):
    a = run_instance(ec2)
    b = run_instance(ec2)
    res = ec2.describe_instances(
        Filters=[{"Name": "instance-id", "Values": [a["InstanceId"]]}])["Reservations"]
    assert [i["InstanceId"] for r in res for i in r["Instances"]] == [a["InstanceId"]]
    res = ec2.describe_instances()["Reservations"]
    assert {a["InstanceId"], b["InstanceId"]} <= {i["InstanceId"] for r in res for i in r["Instances"]}


def test_network_not_found_and_malformed(ec2):
    expect_error(ec2.describe_instances, "InvalidInstanceID.NotFound", InstanceIds=["i-0123456789abcdef0"])
    expect_error(ec2.describe_instances, "InvalidInstanceID.Malformed", InstanceIds=["nope"])
    expect_error(ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=["vpc-0123456789abcdef0"])
    expect_error(ec2.create_subnet, "InvalidVpcID.NotFound",
                 VpcId="vpc-0123456789abcdef0", CidrBlock="10.0.0.0/24")
    expect_error(ec2.run_instances, "InvalidSubnetID.NotFound",
                 ImageId=AMI, MinCount=1, MaxCount=1, SubnetId="subnet-0123456789abcdef0")


def test_account_attributes(new_client):
    """What tools ask first: the default VPC of the region, the address limit."""
    _, east = new_client(region="us-east-1")
    attributes = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
                  for a in east.describe_account_attributes()["AccountAttributes"]}
    assert attributes["supported-platforms"] == ["VPC"]
    assert attributes["default-vpc"] == [default_vpc(east)["VpcId"]]
    assert attributes["max-elastic-ips"] == attributes["vpc-max-elastic-ips"]
    assert int(attributes["max-elastic-ips"][0]) > 0
    only = east.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert [a["AttributeName"] for a in only] == ["default-vpc"]
    expect_error(east.describe_account_attributes, "DryRunOperation", 412, DryRun=True)
    expect_error(east.describe_account_attributes, "InvalidParameterValue", AttributeNames=["max-vpcs"])


def test_regions_and_availability_zones_match_the_default_subnets(new_client):
    """Ansible's first call is DescribeAvailabilityZones: the zones are the
    ones the default subnets are in, with AWS's zone ids."""
    _, west = new_client(region="eu-west-1")
    zones = west.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert [z["ZoneId"] for z in zones] == ["euw1-az1", "euw1-az2", "euw1-az3"]
    assert all(z["State"] == "available" and z["RegionName"] == "eu-west-1" for z in zones)
    by_zone = {s["AvailabilityZone"]: s["AvailabilityZoneId"] for s in default_subnets(west)}
    assert by_zone == {z["ZoneName"]: z["ZoneId"] for z in zones}
    b = west.describe_availability_zones(Filters=[{"Name": "zone-id", "Values": ["euw1-az2"]}])
    assert [z["ZoneName"] for z in b["AvailabilityZones"]] == ["eu-west-1b"]
    expect_error(west.describe_availability_zones, "InvalidParameterValue", ZoneNames=["us-east-1a"])

    regions = {r["RegionName"]: r for r in west.describe_regions()["Regions"]}
    assert regions["eu-west-1"]["Endpoint"] == "ec2.eu-west-1.amazonaws.com"
    assert regions["us-east-1"]["OptInStatus"] == "opt-in-not-required"
    only = west.describe_regions(RegionNames=["us-east-1"])["Regions"]
    assert [r["RegionName"] for r in only] == ["us-east-1"]
    expect_error(west.describe_regions, "DryRunOperation", 412, DryRun=True)


def test_instance_status_ok_waiter_returns_after_launch(ec2):
    """The usual call after RunInstances is a status waiter (boto3's
    instance_status_ok, the JavaScript SDK's waitUntilInstanceStatusOk)."""
    instance_id = run_instance(ec2)["InstanceId"]
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    status = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"][0]
    assert status["InstanceState"] == {"Code": 16, "Name": "running"}
    assert status["SystemStatus"]["Status"] == status["InstanceStatus"]["Status"] == "ok"
    assert status["InstanceStatus"]["Details"] == [{"Name": "reachability", "Status": "passed"}]
    assert status["AvailabilityZone"].startswith("us-east-1")

    ec2.stop_instances(InstanceIds=[instance_id])
    # Only running instances by default; all of them with IncludeAllInstances.
    assert ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"] == []
    stopped = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)["InstanceStatuses"]
    assert stopped[0]["InstanceState"]["Name"] == "stopped"
    assert stopped[0]["InstanceStatus"]["Status"] == "not-applicable"
    filtered = ec2.describe_instance_status(
        IncludeAllInstances=True, Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])
    assert [s["InstanceId"] for s in filtered["InstanceStatuses"]] == [instance_id]
    expect_error(ec2.describe_instance_status, "InvalidInstanceID.NotFound", InstanceIds=["i-0123456789abcdef0"])


def test_private_ips_are_spread_and_low_addresses_stay_free(ec2):
    """Tests written against AWS pin low addresses such as .5–.10, some after
    letting AWS pick others (Ansible's ec2_eni target: offsets 4–10 of a
    /26); eipd's own picks are spread over the upper half of the subnet
    first, so those stay free."""
    _, subnet_id = make_vpc(ec2, "10.32.0.0/16", "10.32.1.128/26")
    picked = [ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["PrivateIpAddress"]
              for _ in range(8)]
    eni = ec2.create_network_interface(SubnetId=subnet_id, SecondaryPrivateIpAddressCount=4)["NetworkInterface"]
    picked += [p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"]]
    offsets = [int(ip.rsplit(".", 1)[1]) - 128 for ip in picked]
    assert len(set(offsets)) == 13, picked
    assert all(32 <= o <= 62 for o in offsets), offsets
    assert sorted(offsets) != list(range(min(offsets), min(offsets) + 13)), "spread, not in a row"
    for offset in range(4, 11):
        ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddress=f"10.32.1.{128 + offset}")


def test_assign_private_ip_moves_with_allow_reassignment_and_its_eip_follows(ec2):
    _, subnet_id = make_vpc(ec2, "10.33.0.0/16", "10.33.1.0/24")
    a = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.33.1.10", "Primary": True},
        {"PrivateIpAddress": "10.33.1.11", "Primary": False}])["NetworkInterface"]["NetworkInterfaceId"]
    b = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddress="10.33.1.20")["NetworkInterface"]
    b = b["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")
    assoc = ec2.associate_address(AllocationId=alloc["AllocationId"], NetworkInterfaceId=a,
                                  PrivateIpAddress="10.33.1.11")["AssociationId"]
    # Without AllowReassignment the move is refused and nothing changes.
    resp = expect_error(ec2.assign_private_ip_addresses, "InvalidIPAddress.InUse",
                        NetworkInterfaceId=b, PrivateIpAddresses=["10.33.1.11"])
    assert "move is not allowed" in resp["Error"]["Message"]
    assert "10.33.1.11" in [p["PrivateIpAddress"] for p in describe_eni(ec2, a)["PrivateIpAddresses"]]
    # A primary private IP never moves.
    expect_error(ec2.assign_private_ip_addresses, "InvalidParameterValue",
                 NetworkInterfaceId=b, PrivateIpAddresses=["10.33.1.10"], AllowReassignment=True)
    # With it, the secondary IP moves, and the Elastic IP on it follows.
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.33.1.11"],
                                    AllowReassignment=True)
    assert [p["PrivateIpAddress"] for p in describe_eni(ec2, a)["PrivateIpAddresses"]] == ["10.33.1.10"]
    assert [p["PrivateIpAddress"] for p in describe_eni(ec2, b)["PrivateIpAddresses"]] == \
        ["10.33.1.20", "10.33.1.11"]
    addr = ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"][0]
    assert (addr["NetworkInterfaceId"], addr["PrivateIpAddress"], addr["AssociationId"]) == \
        (b, "10.33.1.11", assoc)
    moved = [p for p in describe_eni(ec2, b)["PrivateIpAddresses"] if p["PrivateIpAddress"] == "10.33.1.11"]
    assert moved[0]["Association"]["PublicIp"] == alloc["PublicIp"]
    # The association ends where it now is.
    ec2.disassociate_address(AssociationId=assoc)
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"][0]


def test_deleting_an_attached_interface_is_refused_as_ec2_does(ec2):
    inst = run_instance(ec2)
    eni_id = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    resp = expect_error(ec2.delete_network_interface, "InvalidParameterValue", NetworkInterfaceId=eni_id)
    assert resp["Error"]["Message"] == f"Network interface '{eni_id}' is currently in use."


def test_an_ipv6_block_already_used_in_the_vpc_is_a_conflict(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.34.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vpc6 = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    block = str(next(ipaddress.ip_network(vpc6).subnets(new_prefix=64)))
    ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.34.1.0/24", Ipv6CidrBlock=block)
    resp = expect_error(ec2.create_subnet, "InvalidSubnet.Conflict",
                        VpcId=vpc["VpcId"], CidrBlock="10.34.2.0/24", Ipv6CidrBlock=block)
    assert block in resp["Error"]["Message"]
    other = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.34.3.0/24")["Subnet"]["SubnetId"]
    expect_error(ec2.associate_subnet_cidr_block, "InvalidSubnet.Conflict", SubnetId=other, Ipv6CidrBlock=block)


def test_a_secondary_ipv4_block_takes_subnets(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.35.0.0/16")["Vpc"]["VpcId"]
    r = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.36.0.0/16")
    assoc = r["CidrBlockAssociation"]
    assert (assoc["CidrBlock"], assoc["CidrBlockState"]["State"]) == ("10.36.0.0/16", "associating")
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.35.0.0/16"
    assert [(a["CidrBlock"], a["CidrBlockState"]["State"]) for a in vpc["CidrBlockAssociationSet"]] == \
        [("10.35.0.0/16", "associated"), ("10.36.0.0/16", "associated")]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.36.1.0/24")["Subnet"]
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]
    assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network("10.36.1.0/24")
    # Filters see every block; `cidr` is the primary one only.
    by_assoc = ec2.describe_vpcs(Filters=[{"Name": "cidr-block-association.cidr-block", "Values": ["10.36.0.0/16"]}])
    assert [v["VpcId"] for v in by_assoc["Vpcs"]] == [vpc_id]
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.36.0.0/16"]}])["Vpcs"] == []
    # Overlaps and the quota are refused.
    expect_error(ec2.associate_vpc_cidr_block, "InvalidVpc.Range", VpcId=vpc_id, CidrBlock="10.36.128.0/17")
    for i in range(37, 40):
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=f"10.{i}.0.0/16")
    resp = expect_error(ec2.associate_vpc_cidr_block, "CidrLimitExceeded", VpcId=vpc_id, CidrBlock="10.40.0.0/16")
    assert vpc_id in resp["Error"]["Message"]
    expect_error(ec2.associate_vpc_cidr_block, "InvalidParameterCombination", VpcId=vpc_id,
                 CidrBlock="10.41.0.0/16", AmazonProvidedIpv6CidrBlock=True)


def test_cidr_blocks_are_disassociated_when_nothing_uses_them(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.44.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vpc_id = vpc["VpcId"]
    primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    second = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.45.0.0/16")["CidrBlockAssociation"]
    v6 = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    # The primary block never goes; a block with subnets stays until they go.
    expect_error(ec2.disassociate_vpc_cidr_block, "OperationNotPermitted", AssociationId=primary)
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.45.1.0/24",
                               Ipv6CidrBlock=str(next(ipaddress.ip_network(v6["Ipv6CidrBlock"]).subnets(new_prefix=64))))
    subnet = subnet["Subnet"]
    expect_error(ec2.disassociate_vpc_cidr_block, "DependencyViolation", AssociationId=second["AssociationId"])
    expect_error(ec2.disassociate_vpc_cidr_block, "DependencyViolation", AssociationId=v6["AssociationId"])
    # The subnet's IPv6 block goes first, then the VPC's.
    sub6 = subnet["Ipv6CidrBlockAssociationSet"][0]["AssociationId"]
    r = ec2.disassociate_subnet_cidr_block(AssociationId=sub6)
    assert (r["SubnetId"], r["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"]) == \
        (subnet["SubnetId"], "disassociating")
    # Listed a while as `disassociated`, as AWS does: Ansible's ec2_vpc_subnet
    # waits for a subnet with that state.
    listed = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["Ipv6CidrBlockAssociationSet"]
    assert [(a["AssociationId"], a["Ipv6CidrBlockState"]["State"]) for a in listed] == [(sub6, "disassociated")]
    waited = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]], Filters=[
        {"Name": "ipv6-cidr-block-association.state", "Values": ["disassociated"]}])["Subnets"]
    assert [s["SubnetId"] for s in waited] == [subnet["SubnetId"]]
    expect_error(ec2.disassociate_subnet_cidr_block, "InvalidSubnetCidrBlockAssociationID.NotFound",
                 AssociationId=sub6)
    r = ec2.disassociate_vpc_cidr_block(AssociationId=v6["AssociationId"])
    assert r["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    r = ec2.disassociate_vpc_cidr_block(AssociationId=second["AssociationId"])
    assert (r["VpcId"], r["CidrBlockAssociation"]["CidrBlock"]) == (vpc_id, "10.45.0.0/16")
    after = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert [(a["CidrBlock"], a["CidrBlockState"]["State"]) for a in after["CidrBlockAssociationSet"]] == \
        [("10.44.0.0/16", "associated"), ("10.45.0.0/16", "disassociated")]
    assert [a["Ipv6CidrBlockState"]["State"] for a in after["Ipv6CidrBlockAssociationSet"]] == ["disassociated"]
    # The block is free again: it may come back under a new association.
    again = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.45.0.0/16")["CidrBlockAssociation"]
    assert again["AssociationId"] != second["AssociationId"]
    expect_error(ec2.disassociate_vpc_cidr_block, "InvalidVpcCidrBlockAssociationID.NotFound",
                 AssociationId=second["AssociationId"])
    # A new IPv6 block is listed after the one it replaced: in the order they
    # were associated, as AWS lists them (Ansible's ec2_vpc_net asserts it).
    new6 = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
    listed = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]
    assert [(a["AssociationId"], a["Ipv6CidrBlockState"]["State"]) for a in listed] == \
        [(v6["AssociationId"], "disassociated"), (new6["AssociationId"], "associated")]


def test_run_instances_with_ipv6_addresses_by_value(ec2):
    # NetworkInterface.N.Ipv6Addresses.N.Ipv6Address, as Ansible's ec2_instance sends it.
    vpc = ec2.create_vpc(CidrBlock="10.46.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    block = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    sub_block = next(ipaddress.ip_network(block).subnets(new_prefix=64))
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.46.1.0/24", Ipv6CidrBlock=str(sub_block))["Subnet"]["SubnetId"]
    address = str(sub_block[0x125])
    inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[{
        "DeviceIndex": 0, "SubnetId": subnet, "Ipv6Addresses": [{"Ipv6Address": address}]}])["Instances"][0]
    [eni] = inst["NetworkInterfaces"]
    assert [a["Ipv6Address"] for a in eni["Ipv6Addresses"]] == [address]
    expect_error(ec2.run_instances, "InvalidParameterValue", ImageId=AMI, MinCount=1, MaxCount=1,
                 NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet,
                                     "Ipv6Addresses": [{"Ipv6Address": "not-an-address"}]}])
