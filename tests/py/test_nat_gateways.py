"""NAT gateways: the Elastic IP's service-managed home. A public gateway holds its address on a
requester-managed interface until it is deleted; what AWS finds while creating fails the gateway."""
import re

import pytest
from botocore.exceptions import WaiterError

from eipd_helpers import AMI, allocate, default_subnets, describe_address, describe_eni, expect_error, make_vpc

NAT_RE = re.compile(r"^nat-[0-9a-f]{17}$")
DENIED = "You do not have permission to access the specified resource."


def gateway(ec2, nat_id):
    gws = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
    assert len(gws) == 1, gws
    return gws[0]


def public_gateway(ec2, **kw):
    vpc_id, subnet_id = make_vpc(ec2)
    alloc = allocate(ec2)["AllocationId"]
    resp = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc, **kw)
    return vpc_id, subnet_id, alloc, resp


def test_a_public_gateway_holds_its_address_until_deleted(ec2, account):
    vpc_id, subnet_id, alloc, resp = public_gateway(
        ec2, TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "out"}]}])
    created = resp["NatGateway"]
    nat_id = created["NatGatewayId"]
    assert NAT_RE.match(nat_id)
    # The answer shows what AWS's does: a gateway being created.
    assert created["State"] == "pending"
    assert (created["SubnetId"], created["VpcId"], created["ConnectivityType"]) == (subnet_id, vpc_id, "public")
    assert created["NatGatewayAddresses"] == [{"AllocationId": alloc, "IsPrimary": True, "Status": "associating"}]
    assert created["Tags"] == [{"Key": "Name", "Value": "out"}]

    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    g = gateway(ec2, nat_id)
    assert g["State"] == "available" and "FailureCode" not in g and "DeleteTime" not in g
    [a] = g["NatGatewayAddresses"]
    address = describe_address(ec2, alloc)
    assert (a["AllocationId"], a["PublicIp"], a["IsPrimary"], a["Status"]) == (alloc, address["PublicIp"], True, "succeeded")

    # The address shows the gateway's interface, its private IP and owner, and no instance.
    eni_id = a["NetworkInterfaceId"]
    assert (address["NetworkInterfaceId"], address["PrivateIpAddress"], address["AssociationId"]) == (
        eni_id, a["PrivateIp"], a["AssociationId"])
    assert address["NetworkInterfaceOwnerId"] == account and "InstanceId" not in address
    eni = describe_eni(ec2, eni_id)
    assert eni["Description"] == f"Interface for NAT Gateway {nat_id}"
    assert (eni["InterfaceType"], eni["RequesterManaged"], eni["Status"]) == ("nat_gateway", True, "in-use")
    assert eni["RequesterId"] and eni["Groups"] == [] and eni["SourceDestCheck"] is False
    assert eni["SubnetId"] == subnet_id and eni["PrivateIpAddress"] == a["PrivateIp"]
    assert eni["Association"]["PublicIp"] == address["PublicIp"]
    managed = ec2.describe_network_interfaces(Filters=[{"Name": "interface-type", "Values": ["nat_gateway"]}])
    assert [n["NetworkInterfaceId"] for n in managed["NetworkInterfaces"]] == [eni_id]

    # Until the gateway is deleted, the address and the interface are the gateway's.
    for call, kw in [(ec2.disassociate_address, {"AssociationId": a["AssociationId"]}),
                     (ec2.release_address, {"AllocationId": alloc})]:
        assert expect_error(call, "AuthFailure", 400, **kw)["Error"]["Message"] == DENIED
    other_eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    expect_error(ec2.associate_address, "AuthFailure", 400, AllocationId=alloc, NetworkInterfaceId=other_eni)
    spare = allocate(ec2)["AllocationId"]
    expect_error(ec2.associate_address, "AuthFailure", 400, AllocationId=spare, NetworkInterfaceId=eni_id)
    resp = expect_error(ec2.delete_network_interface, "InvalidParameterValue", NetworkInterfaceId=eni_id)
    assert resp["Error"]["Message"] == f"Network interface '{eni_id}' is currently in use."
    expect_error(ec2.assign_private_ip_addresses, "AuthFailure", 400,
                 NetworkInterfaceId=eni_id, SecondaryPrivateIpAddressCount=1)
    expect_error(ec2.run_instances, "InvalidNetworkInterface.InUse", ImageId=AMI, MinCount=1, MaxCount=1,
                 NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": eni_id}])
    resp = expect_error(ec2.detach_network_interface, "OperationNotPermitted",
                        AttachmentId=eni["Attachment"]["AttachmentId"])
    assert resp["Error"]["Message"] == "You are not allowed to manage 'ela-attach' attachments."
    # Its subnet and VPC cannot go while it lives.
    ec2.delete_network_interface(NetworkInterfaceId=other_eni)
    expect_error(ec2.delete_subnet, "DependencyViolation", SubnetId=subnet_id)
    expect_error(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)

    assert ec2.delete_nat_gateway(NatGatewayId=nat_id)["NatGatewayId"] == nat_id
    ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[nat_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    g = gateway(ec2, nat_id)
    assert g["State"] == "deleted" and g["DeleteTime"] >= g["CreateTime"]
    assert g["NatGatewayAddresses"][0]["PublicIp"] == address["PublicIp"]
    # The address is free and still the account's; the interface is gone.
    freed = describe_address(ec2, alloc)
    assert "AssociationId" not in freed and "NetworkInterfaceId" not in freed
    expect_error(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound", NetworkInterfaceIds=[eni_id])
    ec2.disassociate_address(AssociationId=a["AssociationId"])  # an ended association, as any other
    # A repeated delete answers as the first; the subnet can go now.
    assert ec2.delete_nat_gateway(NatGatewayId=nat_id)["NatGatewayId"] == nat_id
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.release_address(AllocationId=alloc)
    assert gateway(ec2, nat_id)["State"] == "deleted"


def test_private_gateways_take_no_elastic_ip(ec2):
    vpc_id, subnet_id = make_vpc(ec2, attach_igw=False)
    resp = ec2.create_nat_gateway(SubnetId=subnet_id, ConnectivityType="private", PrivateIpAddress="10.0.1.50",
                                  SecondaryPrivateIpAddressCount=2)
    nat_id = resp["NatGateway"]["NatGatewayId"]
    g = gateway(ec2, nat_id)
    assert (g["State"], g["ConnectivityType"]) == ("available", "private")
    addresses = g["NatGatewayAddresses"]
    assert [a["IsPrimary"] for a in addresses] == [True, False, False]
    assert addresses[0]["PrivateIp"] == "10.0.1.50"
    assert all("PublicIp" not in a and "AllocationId" not in a for a in addresses)
    eni = describe_eni(ec2, addresses[0]["NetworkInterfaceId"])
    assert sorted(p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"]) == sorted(a["PrivateIp"] for a in addresses)

    alloc = allocate(ec2)["AllocationId"]
    expect_error(ec2.create_nat_gateway, "InvalidParameterCombination",
                 SubnetId=subnet_id, ConnectivityType="private", AllocationId=alloc)
    expect_error(ec2.create_nat_gateway, "MissingParameter", SubnetId=subnet_id)
    expect_error(ec2.create_nat_gateway, "InvalidParameterValue",
                 SubnetId=subnet_id, ConnectivityType="carrier", AllocationId=alloc)
    expect_error(ec2.create_nat_gateway, "InvalidSubnetID.NotFound",
                 SubnetId="subnet-0123456789abcdef0", AllocationId=alloc)
    expect_error(ec2.create_nat_gateway, "InvalidIPAddress.InUse",
                 SubnetId=subnet_id, ConnectivityType="private", PrivateIpAddress="10.0.1.50")


def test_what_aws_finds_while_creating_fails_the_gateway(ec2):
    def failed(subnet_id, alloc):
        nat_id = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc)["NatGateway"]["NatGatewayId"]
        g = gateway(ec2, nat_id)
        assert g["State"] == "failed"
        assert g["NatGatewayAddresses"][0]["Status"] == "failed"
        return nat_id, g["FailureCode"], g["FailureMessage"]

    vpc_id, lone_subnet = make_vpc(ec2, attach_igw=False)
    alloc = allocate(ec2)["AllocationId"]
    nat_id, code, message = failed(lone_subnet, alloc)
    assert (code, message) == ("Gateway.NotAttached", f"Network {vpc_id} has no Internet gateway attached")
    assert "AssociationId" not in describe_address(ec2, alloc)
    # The waiter sees the failure at once.
    with pytest.raises(WaiterError, match="terminal failure state"):
        ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id], WaiterConfig={"Delay": 1, "MaxAttempts": 2})

    subnet_id = default_subnets(ec2)[0]["SubnetId"]
    missing = "eipalloc-0123456789abcdef0"
    assert failed(subnet_id, missing)[1:] == (
        "InvalidAllocationID.NotFound", f"Elastic IP address {missing} could not be associated with this NAT gateway")
    ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc)
    assert failed(subnet_id, alloc)[1:] == ("Resource.AlreadyAssociated", f"Elastic IP address {alloc} is already associated")
    # A failed gateway is listed, filtered, and deleted like the others (it holds nothing).
    states = {g["State"] for g in ec2.describe_nat_gateways(Filters=[{"Name": "state", "Values": ["failed"]}])["NatGateways"]}
    assert states == {"failed"}
    assert ec2.delete_nat_gateway(NatGatewayId=nat_id)["NatGatewayId"] == nat_id


def test_filters_pages_tags_dry_run_and_idempotency(ec2):
    vpc_id, subnet_id = make_vpc(ec2)
    _, other_subnet = make_vpc(ec2, "10.1.0.0/16", "10.1.1.0/24")
    ids = []
    for i, subnet in enumerate([subnet_id, subnet_id, other_subnet]):
        alloc = allocate(ec2)["AllocationId"]
        tags = [{"ResourceType": "natgateway", "Tags": [{"Key": "n", "Value": str(i)}]}]
        ids.append(ec2.create_nat_gateway(SubnetId=subnet, AllocationId=alloc, TagSpecifications=tags)
                   ["NatGateway"]["NatGatewayId"])

    def found(*filters):
        return sorted(g["NatGatewayId"] for g in ec2.describe_nat_gateways(Filters=list(filters))["NatGateways"])

    assert found({"Name": "vpc-id", "Values": [vpc_id]}) == sorted(ids[:2])
    assert found({"Name": "subnet-id", "Values": [other_subnet]}) == [ids[2]]
    assert found({"Name": "nat-gateway-id", "Values": [ids[1]]}, {"Name": "state", "Values": ["available"]}) == [ids[1]]
    assert found({"Name": "tag:n", "Values": ["0", "2"]}) == sorted([ids[0], ids[2]])
    assert found({"Name": "tag-key", "Values": ["n"]}) == sorted(ids)
    assert found({"Name": "state", "Values": ["pending"]}) == []
    expect_error(ec2.describe_nat_gateways, "InvalidParameterValue", Filters=[{"Name": "owner-id", "Values": ["x"]}])
    expect_error(ec2.describe_nat_gateways, "NatGatewayNotFound", NatGatewayIds=["nat-0123456789abcdef0"])
    expect_error(ec2.describe_nat_gateways, "NatGatewayMalformed", NatGatewayIds=["nat-xyz"])
    expect_error(ec2.delete_nat_gateway, "NatGatewayNotFound", NatGatewayId="nat-0123456789abcdef0")

    seen = []
    for page in ec2.get_paginator("describe_nat_gateways").paginate(PaginationConfig={"PageSize": 5}):
        seen += [g["NatGatewayId"] for g in page["NatGateways"]]
    assert sorted(seen) == sorted(ids)
    first = ec2.describe_nat_gateways(MaxResults=5)
    assert len(first["NatGateways"]) == 3 and "NextToken" not in first

    # CreateTags, DescribeTags on the resource type natgateway.
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "team", "Value": "net"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[0]]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tags} == {("n", "natgateway"), ("team", "natgateway")}
    expect_error(ec2.create_nat_gateway, "InvalidParameterValue", SubnetId=subnet_id, AllocationId=allocate(ec2)["AllocationId"],
                 TagSpecifications=[{"ResourceType": "nat-gateway", "Tags": [{"Key": "k", "Value": "v"}]}])

    alloc = allocate(ec2)["AllocationId"]
    expect_error(ec2.create_nat_gateway, "DryRunOperation", 412, SubnetId=subnet_id, AllocationId=alloc, DryRun=True)
    expect_error(ec2.delete_nat_gateway, "DryRunOperation", 412, NatGatewayId=ids[0], DryRun=True)
    expect_error(ec2.describe_nat_gateways, "DryRunOperation", 412, DryRun=True)
    assert gateway(ec2, ids[0])["State"] == "available"

    # ClientToken: a retried create answers the first gateway.
    once = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc, ClientToken="retry-me")
    again = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc, ClientToken="retry-me")
    assert once["ClientToken"] == "retry-me"
    assert once["NatGateway"]["NatGatewayId"] == again["NatGateway"]["NatGatewayId"]
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == 4


def test_policy_is_checked(start_server, tmp_path):
    from test_auth import credentials_file, user_client
    url = start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url
    ci, admin = user_client(url, "ci"), user_client(url, "admin")
    subnet_id = default_subnets(admin)[0]["SubnetId"]
    alloc = allocate(admin)["AllocationId"]
    expect_error(ci.create_nat_gateway, "UnauthorizedOperation", 403, SubnetId=subnet_id, AllocationId=alloc, DryRun=True)
    nat_id = admin.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc)["NatGateway"]["NatGatewayId"]
    resp = expect_error(ci.delete_nat_gateway, "UnauthorizedOperation", 403, NatGatewayId=nat_id)
    assert f"natgateway/{nat_id}" in resp["Error"]["Message"]
    admin.delete_nat_gateway(NatGatewayId=nat_id)


def test_gateways_survive_a_restart(start_server, tmp_path):
    from eipd_helpers import make_client, random_account
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    vpc_id, subnet_id, alloc, resp = public_gateway(ec2)
    live = resp["NatGateway"]["NatGatewayId"]
    gone = ec2.create_nat_gateway(SubnetId=subnet_id, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    ec2.delete_nat_gateway(NatGatewayId=gone)
    before = ec2.describe_nat_gateways()["NatGateways"]
    address = describe_address(ec2, alloc)
    eni = describe_eni(ec2, address["NetworkInterfaceId"])
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert ec2.describe_nat_gateways()["NatGateways"] == before
    assert describe_address(ec2, alloc) == address
    assert describe_eni(ec2, address["NetworkInterfaceId"]) == eni
    expect_error(ec2.release_address, "AuthFailure", 400, AllocationId=alloc)
    ec2.delete_nat_gateway(NatGatewayId=live)
    ec2.release_address(AllocationId=alloc)


def test_a_route_to_a_gateway_is_active_until_the_gateway_goes(ec2):
    vpc_id, _, _, resp = public_gateway(ec2)
    nat_id = resp["NatGateway"]["NatGatewayId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)

    def route():
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        return next(r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0")

    assert (route()["NatGatewayId"], route()["State"]) == (nat_id, "active")
    found = ec2.describe_route_tables(Filters=[{"Name": "route.nat-gateway-id", "Values": [nat_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [table]
    # A gateway of another VPC is another network; an unknown one does not exist.
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    other_table = ec2.create_route_table(VpcId=other_vpc)["RouteTable"]["RouteTableId"]
    expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=other_table,
                 DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    expect_error(ec2.create_route, "NatGatewayNotFound", RouteTableId=table,
                 DestinationCidrBlock="10.1.0.0/16", NatGatewayId="nat-0123456789abcdef0")
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    assert route()["State"] == "blackhole"
