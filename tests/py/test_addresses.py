"""AllocateAddress, AssociateAddress, ReleaseAddress, DescribeAddresses, tags and attributes."""
import ipaddress
import re
import time

import pytest
from botocore.exceptions import ClientError

from eipd_helpers import (
    ALLOC_RE, ASSOC_RE, allocate, default_subnets, describe_address, describe_eni, describe_instance,
    expect_error, in_pool, make_client, make_vpc, random_account, random_hex, random_pool_ip,
    run_instance,
)


# --------------------------------------------------------------------------- AllocateAddress

def test_allocate_vpc_address(ec2):
    r = ec2.allocate_address(Domain="vpc")
    assert ALLOC_RE.match(r["AllocationId"])
    assert r["Domain"] == "vpc"
    assert r["PublicIpv4Pool"] == "amazon"
    assert r["NetworkBorderGroup"] == "us-east-1"
    assert in_pool(r["PublicIp"])
    assert r["ResponseMetadata"]["RequestId"]
    a = describe_address(ec2, r["AllocationId"])
    assert a["PublicIp"] == r["PublicIp"]
    assert a["Domain"] == "vpc"
    assert a["NetworkBorderGroup"] == "us-east-1"
    assert a["PublicIpv4Pool"] == "amazon"
    for key in ("AssociationId", "InstanceId", "NetworkInterfaceId", "PrivateIpAddress"):
        assert not a.get(key), (key, a)


def test_allocate_without_domain_is_vpc(ec2):
    r = ec2.allocate_address()
    assert r["Domain"] == "vpc" and ALLOC_RE.match(r["AllocationId"])


def test_allocate_unknown_domain_is_refused(ec2):
    expect_error(ec2.allocate_address, "InvalidParameterValue", Domain="xyz")
    assert ec2.describe_addresses()["Addresses"] == []


def test_allocate_standard_address(ec2):
    r = ec2.allocate_address(Domain="standard")
    assert r["Domain"] == "standard"
    assert "AllocationId" not in r
    assert in_pool(r["PublicIp"])
    addrs = ec2.describe_addresses(PublicIps=[r["PublicIp"]])["Addresses"]
    assert len(addrs) == 1
    assert addrs[0]["Domain"] == "standard" and "AllocationId" not in addrs[0]


def test_allocated_ips_are_distinct(ec2, new_client):
    _, other = new_client()
    ips = [allocate(ec2)["PublicIp"] for _ in range(5)] + [allocate(other)["PublicIp"] for _ in range(5)]
    assert len(set(ips)) == 10


def test_allocate_with_tag_specifications(ec2):
    r = ec2.allocate_address(Domain="vpc", TagSpecifications=[{
        "ResourceType": "elastic-ip",
        "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "env", "Value": "prod"}],
    }])
    a = describe_address(ec2, r["AllocationId"])
    assert sorted((t["Key"], t["Value"]) for t in a["Tags"]) == [("Name", "web"), ("env", "prod")]


def test_allocate_specific_address(ec2):
    ip = random_pool_ip()
    r = ec2.allocate_address(Domain="vpc", Address=ip)
    assert r["PublicIp"] == ip
    assert describe_address(ec2, r["AllocationId"])["PublicIp"] == ip


def test_recover_released_address(ec2):
    r = allocate(ec2)
    ec2.release_address(AllocationId=r["AllocationId"])
    again = ec2.allocate_address(Domain="vpc", Address=r["PublicIp"])
    assert again["PublicIp"] == r["PublicIp"]
    assert again["AllocationId"] != r["AllocationId"]


def test_allocate_taken_address_fails(ec2, new_client):
    holder = allocate(ec2)
    _, other = new_client()
    resp = _expect_client_error(other.allocate_address, Domain="vpc", Address=holder["PublicIp"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert other.describe_addresses()["Addresses"] == []
    assert describe_address(ec2, holder["AllocationId"])["PublicIp"] == holder["PublicIp"]
    # the same account cannot hold it twice either
    _expect_client_error(ec2.allocate_address, Domain="vpc", Address=holder["PublicIp"])
    assert len(ec2.describe_addresses()["Addresses"]) == 1


def test_allocate_auto_assigned_public_ip_fails(ec2, new_client):
    """One IP, one holder (D8): an instance's auto-assigned public IP cannot be allocated."""
    inst = run_instance(ec2)
    _, other = new_client()
    resp = _expect_client_error(other.allocate_address, Domain="vpc", Address=inst["PublicIpAddress"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert other.describe_addresses()["Addresses"] == []


def test_allocate_address_outside_pool_fails(ec2):
    resp = _expect_client_error(ec2.allocate_address, Domain="vpc", Address="8.8.8.8")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ec2.describe_addresses()["Addresses"] == []


def test_address_limit(ec2):
    ids = [allocate(ec2)["AllocationId"] for _ in range(5)]
    resp = expect_error(ec2.allocate_address, "AddressLimitExceeded", Domain="vpc")
    assert "The maximum number of addresses has been reached." in resp["Error"]["Message"]
    assert len(ec2.describe_addresses()["Addresses"]) == 5
    ec2.release_address(AllocationId=ids[0])
    assert ALLOC_RE.match(allocate(ec2)["AllocationId"])


def test_address_limit_is_per_region(new_client):
    acct, east = new_client()
    _, west = new_client(acct, "us-west-2")
    for _ in range(5):
        allocate(east)
    r = allocate(west)
    assert r["NetworkBorderGroup"] == "us-west-2"


def _expect_client_error(fn, **kw):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    assert ei.value.response["Error"]["Code"]
    return ei.value.response


# --------------------------------------------------------------------------- AssociateAddress

def test_associate_with_instance_in_default_vpc(ec2, account):
    inst = run_instance(ec2)
    auto_ip = inst["PublicIpAddress"]
    eni_id = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    eip = allocate(ec2)
    assert eip["PublicIp"] != auto_ip
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
    assoc_id = assoc["AssociationId"]
    assert ASSOC_RE.match(assoc_id)

    a = describe_address(ec2, eip["AllocationId"])
    assert a["AssociationId"] == assoc_id
    assert a["InstanceId"] == inst["InstanceId"]
    assert a["NetworkInterfaceId"] == eni_id
    assert a["NetworkInterfaceOwnerId"] == account
    assert a["PrivateIpAddress"] == inst["PrivateIpAddress"]

    assert describe_instance(ec2, inst["InstanceId"])["PublicIpAddress"] == eip["PublicIp"]
    eni = describe_eni(ec2, eni_id)
    assert eni["Association"]["PublicIp"] == eip["PublicIp"]
    assert eni["Association"]["AllocationId"] == eip["AllocationId"]
    assert eni["Association"]["AssociationId"] == assoc_id

    ec2.disassociate_address(AssociationId=assoc_id)
    after = describe_instance(ec2, inst["InstanceId"])["PublicIpAddress"]
    assert after and after != eip["PublicIp"] and in_pool(after)
    assert describe_eni(ec2, eni_id)["Association"]["PublicIp"] == after
    a = describe_address(ec2, eip["AllocationId"])
    for key in ("AssociationId", "InstanceId", "NetworkInterfaceId", "PrivateIpAddress"):
        assert not a.get(key), (key, a)


def test_associate_with_instance_in_subnet_without_auto_ip(ec2):
    _, subnet_id = make_vpc(ec2, "10.50.0.0/16", "10.50.1.0/24")
    inst = run_instance(ec2, subnet_id)
    assert not inst.get("PublicIpAddress")
    eip = allocate(ec2)
    assoc_id = ec2.associate_address(AllocationId=eip["AllocationId"],
                                     InstanceId=inst["InstanceId"])["AssociationId"]
    assert describe_instance(ec2, inst["InstanceId"])["PublicIpAddress"] == eip["PublicIp"]
    ec2.disassociate_address(AssociationId=assoc_id)
    assert not describe_instance(ec2, inst["InstanceId"]).get("PublicIpAddress")
    eni = describe_eni(ec2, inst["NetworkInterfaces"][0]["NetworkInterfaceId"])
    assert "Association" not in eni


def test_associate_with_network_interface(ec2, account):
    _, subnet_id = make_vpc(ec2, "10.60.0.0/16", "10.60.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
    eip = allocate(ec2)
    assoc_id = ec2.associate_address(AllocationId=eip["AllocationId"],
                                     NetworkInterfaceId=eni["NetworkInterfaceId"],
                                     PrivateIpAddress=eni["PrivateIpAddress"])["AssociationId"]
    assert ASSOC_RE.match(assoc_id)
    a = describe_address(ec2, eip["AllocationId"])
    assert a["NetworkInterfaceId"] == eni["NetworkInterfaceId"]
    assert a["PrivateIpAddress"] == eni["PrivateIpAddress"]
    assert a["NetworkInterfaceOwnerId"] == account
    assert not a.get("InstanceId")
    got = describe_eni(ec2, eni["NetworkInterfaceId"])
    assert got["Association"]["PublicIp"] == eip["PublicIp"]
    assert got["Association"]["IpOwnerId"] == account
    primary = [p for p in got["PrivateIpAddresses"] if p["Primary"]][0]
    assert primary["Association"]["PublicIp"] == eip["PublicIp"]
    ec2.disassociate_address(AssociationId=assoc_id)
    assert "Association" not in describe_eni(ec2, eni["NetworkInterfaceId"])


def test_associate_with_secondary_private_ip(ec2):
    _, subnet_id = make_vpc(ec2, "10.61.0.0/16", "10.61.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.61.1.10", "Primary": True},
        {"PrivateIpAddress": "10.61.1.11", "Primary": False},
    ])["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    e1, e2 = allocate(ec2), allocate(ec2)
    ec2.associate_address(AllocationId=e1["AllocationId"], NetworkInterfaceId=eni_id,
                          PrivateIpAddress="10.61.1.10")
    ec2.associate_address(AllocationId=e2["AllocationId"], NetworkInterfaceId=eni_id,
                          PrivateIpAddress="10.61.1.11")
    assert describe_address(ec2, e1["AllocationId"])["PrivateIpAddress"] == "10.61.1.10"
    assert describe_address(ec2, e2["AllocationId"])["PrivateIpAddress"] == "10.61.1.11"
    got = describe_eni(ec2, eni_id)
    by_ip = {p["PrivateIpAddress"]: p.get("Association", {}).get("PublicIp") for p in got["PrivateIpAddresses"]}
    assert by_ip == {"10.61.1.10": e1["PublicIp"], "10.61.1.11": e2["PublicIp"]}
    assert got["Association"]["PublicIp"] == e1["PublicIp"]


def test_associate_without_attached_igw_fails(ec2):
    vpc_id, subnet_id = make_vpc(ec2, "10.70.0.0/16", "10.70.1.0/24", attach_igw=False)
    eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    eip = allocate(ec2)
    expect_error(ec2.associate_address, "Gateway.NotAttached",
                 AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)
    assert not describe_address(ec2, eip["AllocationId"]).get("AssociationId")
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)
    assert ASSOC_RE.match(assoc["AssociationId"])


def test_reassociation_is_automatic(ec2):
    i1, i2 = run_instance(ec2), run_instance(ec2)
    eip = allocate(ec2)
    old = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=i1["InstanceId"])["AssociationId"]
    new = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=i2["InstanceId"])["AssociationId"]
    assert ASSOC_RE.match(new) and new != old
    a = describe_address(ec2, eip["AllocationId"])
    assert a["AssociationId"] == new and a["InstanceId"] == i2["InstanceId"]
    assert describe_instance(ec2, i2["InstanceId"])["PublicIpAddress"] == eip["PublicIp"]
    assert describe_instance(ec2, i1["InstanceId"])["PublicIpAddress"] != eip["PublicIp"]
    # the old association has ended: filtering by it finds nothing
    assert ec2.describe_addresses(Filters=[{"Name": "association-id", "Values": [old]}])["Addresses"] == []
    # disassociating the ended id succeeds (D2) and leaves the new association alone
    ec2.disassociate_address(AssociationId=old)
    assert describe_address(ec2, eip["AllocationId"])["AssociationId"] == new


def test_allow_reassociation_false(ec2):
    i1, i2 = run_instance(ec2), run_instance(ec2)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=i1["InstanceId"])["AssociationId"]
    expect_error(ec2.associate_address, "Resource.AlreadyAssociated",
                 AllocationId=eip["AllocationId"], InstanceId=i2["InstanceId"], AllowReassociation=False)
    a = describe_address(ec2, eip["AllocationId"])
    assert a["AssociationId"] == assoc and a["InstanceId"] == i1["InstanceId"]
    # an unassociated address may be associated with AllowReassociation=False
    e2 = allocate(ec2)
    r = ec2.associate_address(AllocationId=e2["AllocationId"], InstanceId=i2["InstanceId"],
                              AllowReassociation=False)
    assert ASSOC_RE.match(r["AssociationId"])


def test_associate_same_target_again(ec2):
    inst = run_instance(ec2)
    eip = allocate(ec2)
    first = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    second = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    assert ASSOC_RE.match(second) and second != first
    assert describe_address(ec2, eip["AllocationId"])["AssociationId"] == second
    ec2.disassociate_address(AssociationId=first)
    assert describe_address(ec2, eip["AllocationId"])["AssociationId"] == second


def test_second_address_on_same_private_ip_moves_first_off(ec2):
    inst = run_instance(ec2)
    e1, e2 = allocate(ec2), allocate(ec2)
    ec2.associate_address(AllocationId=e1["AllocationId"], InstanceId=inst["InstanceId"])
    a2 = ec2.associate_address(AllocationId=e2["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    first = describe_address(ec2, e1["AllocationId"])
    assert not first.get("AssociationId") and not first.get("InstanceId")
    second = describe_address(ec2, e2["AllocationId"])
    assert second["AssociationId"] == a2 and second["InstanceId"] == inst["InstanceId"]
    assert describe_instance(ec2, inst["InstanceId"])["PublicIpAddress"] == e2["PublicIp"]


def test_terminate_instance_ends_association(ec2):
    inst = run_instance(ec2)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    a = describe_address(ec2, eip["AllocationId"])
    assert not a.get("AssociationId") and not a.get("InstanceId") and not a.get("NetworkInterfaceId")
    ec2.disassociate_address(AssociationId=assoc)  # ended association: succeeds (D2)
    assert describe_address(ec2, eip["AllocationId"])["PublicIp"] == eip["PublicIp"]


def test_delete_network_interface_ends_association(ec2):
    _, subnet_id = make_vpc(ec2, "10.62.0.0/16", "10.62.1.0/24")
    eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)["AssociationId"]
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    a = describe_address(ec2, eip["AllocationId"])
    assert not a.get("AssociationId") and not a.get("NetworkInterfaceId")
    ec2.disassociate_address(AssociationId=assoc)


def test_associate_errors(ec2):
    inst = run_instance(ec2)
    eip = allocate(ec2)
    expect_error(ec2.associate_address, "InvalidAllocationID.NotFound",
                 AllocationId="eipalloc-" + random_hex(17), InstanceId=inst["InstanceId"])
    expect_error(ec2.associate_address, "InvalidInstanceID.NotFound",
                 AllocationId=eip["AllocationId"], InstanceId="i-" + random_hex(17))
    expect_error(ec2.associate_address, "InvalidInstanceID.Malformed",
                 AllocationId=eip["AllocationId"], InstanceId="instance-1")
    expect_error(ec2.associate_address, "InvalidNetworkInterfaceID.NotFound",
                 AllocationId=eip["AllocationId"], NetworkInterfaceId="eni-" + random_hex(17))
    expect_error(ec2.associate_address, "InvalidNetworkInterfaceId.Malformed",
                 AllocationId=eip["AllocationId"], NetworkInterfaceId="nic-1")
    expect_error(ec2.associate_address, "InvalidParameterCombination",
                 AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"],
                 NetworkInterfaceId=inst["NetworkInterfaces"][0]["NetworkInterfaceId"])
    resp = expect_error(ec2.associate_address, "InvalidParameterCombination",
                        PublicIp=eip["PublicIp"], InstanceId=inst["InstanceId"])
    assert "allocation id" in resp["Error"]["Message"].lower()
    assert not describe_address(ec2, eip["AllocationId"]).get("AssociationId")


def test_associate_dry_run(ec2):
    inst = run_instance(ec2)
    eip = allocate(ec2)
    resp = expect_error(ec2.associate_address, "DryRunOperation", 412,
                        AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"], DryRun=True)
    assert resp["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."
    assert not describe_address(ec2, eip["AllocationId"]).get("AssociationId")


# --------------------------------------------------------------------------- ReleaseAddress

def test_release_by_allocation_id(ec2):
    eip = allocate(ec2)
    r = ec2.release_address(AllocationId=eip["AllocationId"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ec2.describe_addresses()["Addresses"] == []
    expect_error(ec2.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[eip["AllocationId"]])
    expect_error(ec2.release_address, "InvalidAllocationID.NotFound", AllocationId=eip["AllocationId"])


def test_release_standard_by_public_ip(ec2):
    ip = ec2.allocate_address(Domain="standard")["PublicIp"]
    ec2.release_address(PublicIp=ip)
    assert ec2.describe_addresses()["Addresses"] == []
    expect_error(ec2.describe_addresses, "InvalidAddress.NotFound", PublicIps=[ip])


def test_release_associated_in_non_default_vpc_fails(ec2):
    _, subnet_id = make_vpc(ec2, "10.80.0.0/16", "10.80.1.0/24")
    inst = run_instance(ec2, subnet_id)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    expect_error(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=eip["AllocationId"])
    assert describe_address(ec2, eip["AllocationId"])["AssociationId"] == assoc
    ec2.disassociate_address(AssociationId=assoc)
    ec2.release_address(AllocationId=eip["AllocationId"])
    assert ec2.describe_addresses()["Addresses"] == []


def test_release_associated_in_default_vpc_disassociates(ec2):
    inst = run_instance(ec2)
    eip = allocate(ec2)
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
    ec2.release_address(AllocationId=eip["AllocationId"])
    assert ec2.describe_addresses()["Addresses"] == []
    pub = describe_instance(ec2, inst["InstanceId"]).get("PublicIpAddress")
    assert pub != eip["PublicIp"]


def test_release_errors(ec2):
    eip = allocate(ec2)
    expect_error(ec2.release_address, "InvalidAllocationID.NotFound", AllocationId="eipalloc-" + random_hex(17))
    expect_error(ec2.release_address, "MissingParameter")
    resp = expect_error(ec2.release_address, "InvalidParameterValue", PublicIp=eip["PublicIp"])
    assert re.search(r"allocation ?id", resp["Error"]["Message"], re.I), resp["Error"]
    expect_error(ec2.release_address, "InvalidAddress.NotFound",
                 AllocationId=eip["AllocationId"], NetworkBorderGroup="us-west-2")
    resp = expect_error(ec2.release_address, "DryRunOperation", 412, AllocationId=eip["AllocationId"], DryRun=True)
    assert resp["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."
    assert describe_address(ec2, eip["AllocationId"])["PublicIp"] == eip["PublicIp"]
    ec2.release_address(AllocationId=eip["AllocationId"], NetworkBorderGroup="us-east-1")


# --------------------------------------------------------------------------- DescribeAddresses

def test_describe_by_ids_and_ips(ec2):
    a, b, c = allocate(ec2), allocate(ec2), allocate(ec2)
    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"], c["AllocationId"]])["Addresses"]
    assert {x["AllocationId"] for x in got} == {a["AllocationId"], c["AllocationId"]}
    got = ec2.describe_addresses(PublicIps=[b["PublicIp"]])["Addresses"]
    assert [x["AllocationId"] for x in got] == [b["AllocationId"]]
    assert len(ec2.describe_addresses()["Addresses"]) == 3
    missing = "eipalloc-" + random_hex(17)
    resp = expect_error(ec2.describe_addresses, "InvalidAllocationID.NotFound",
                        AllocationIds=[a["AllocationId"], missing])
    assert missing in resp["Error"]["Message"]
    free_ip = random_pool_ip()
    resp = expect_error(ec2.describe_addresses, "InvalidAddress.NotFound", PublicIps=[b["PublicIp"], free_ip])
    assert free_ip in resp["Error"]["Message"]


def _filtered(ec2, *filters):
    fl = [{"Name": n, "Values": list(v)} for n, v in filters]
    return {x.get("AllocationId") or x["PublicIp"] for x in ec2.describe_addresses(Filters=fl)["Addresses"]}


@pytest.fixture
def filter_world(ec2, account):
    """Three vpc addresses (one on an instance, one on a bare ENI) and one standard address."""
    inst = run_instance(ec2)
    _, subnet_id = make_vpc(ec2, "10.90.0.0/16", "10.90.1.0/24")
    eni = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddress="10.90.1.20")["NetworkInterface"]
    on_inst = ec2.allocate_address(Domain="vpc", TagSpecifications=[{
        "ResourceType": "elastic-ip", "Tags": [{"Key": "role", "Value": "web"}, {"Key": "team", "Value": "blue"}]}])
    on_eni = ec2.allocate_address(Domain="vpc", TagSpecifications=[{
        "ResourceType": "elastic-ip", "Tags": [{"Key": "role", "Value": "db"}]}])
    free = ec2.allocate_address(Domain="vpc", TagSpecifications=[{
        "ResourceType": "elastic-ip", "Tags": [{"Key": "owner", "Value": "web"}]}])
    std = ec2.allocate_address(Domain="standard")
    a1 = ec2.associate_address(AllocationId=on_inst["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    a2 = ec2.associate_address(AllocationId=on_eni["AllocationId"],
                               NetworkInterfaceId=eni["NetworkInterfaceId"])["AssociationId"]
    return dict(inst=inst, eni=eni, on_inst=on_inst, on_eni=on_eni, free=free, std=std,
                a1=a1, a2=a2, account=account, ec2=ec2)


def test_describe_filters(filter_world):
    w = filter_world
    ec2 = w["ec2"]
    I, E, F = w["on_inst"]["AllocationId"], w["on_eni"]["AllocationId"], w["free"]["AllocationId"]
    S = w["std"]["PublicIp"]
    inst_eni = w["inst"]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert _filtered(ec2) == {I, E, F, S}
    assert _filtered(ec2, ("allocation-id", [I])) == {I}
    assert _filtered(ec2, ("allocation-id", [I, F])) == {I, F}
    assert _filtered(ec2, ("association-id", [w["a2"]])) == {E}
    assert _filtered(ec2, ("association-id", [w["a1"], w["a2"]])) == {I, E}
    assert _filtered(ec2, ("domain", ["vpc"])) == {I, E, F}
    assert _filtered(ec2, ("domain", ["standard"])) == {S}
    assert _filtered(ec2, ("domain", ["vpc", "standard"])) == {I, E, F, S}
    assert _filtered(ec2, ("instance-id", [w["inst"]["InstanceId"]])) == {I}
    assert {I, E, F} <= _filtered(ec2, ("network-border-group", ["us-east-1"])) <= {I, E, F, S}
    assert _filtered(ec2, ("network-border-group", ["us-west-2"])) == set()
    assert _filtered(ec2, ("network-interface-id", [w["eni"]["NetworkInterfaceId"]])) == {E}
    assert _filtered(ec2, ("network-interface-id", [w["eni"]["NetworkInterfaceId"], inst_eni])) == {I, E}
    assert _filtered(ec2, ("network-interface-owner-id", [w["account"]])) == {I, E}
    assert _filtered(ec2, ("network-interface-owner-id", ["123456789012"])) == set()
    assert _filtered(ec2, ("private-ip-address", ["10.90.1.20"])) == {E}
    assert _filtered(ec2, ("private-ip-address", [w["inst"]["PrivateIpAddress"]])) == {I}
    assert _filtered(ec2, ("public-ip", [w["free"]["PublicIp"], S])) == {F, S}
    assert _filtered(ec2, ("tag:role", ["web"])) == {I}
    assert _filtered(ec2, ("tag:role", ["web", "db"])) == {I, E}
    assert _filtered(ec2, ("tag:role", ["nope"])) == set()
    assert _filtered(ec2, ("tag-key", ["team"])) == {I}
    assert _filtered(ec2, ("tag-key", ["role", "owner"])) == {I, E, F}
    assert _filtered(ec2, ("tag-value", ["web"])) == {I, F}
    assert _filtered(ec2, ("tag-value", ["db", "blue"])) == {I, E}


def test_describe_filters_and_across_names_and_wildcards(filter_world):
    w = filter_world
    ec2 = w["ec2"]
    I, E, F = w["on_inst"]["AllocationId"], w["on_eni"]["AllocationId"], w["free"]["AllocationId"]
    S = w["std"]["PublicIp"]
    # AND across filters
    assert _filtered(ec2, ("tag-value", ["web"]), ("domain", ["vpc"])) == {I, F}
    assert _filtered(ec2, ("tag-value", ["web"]), ("tag-key", ["owner"])) == {F}
    assert _filtered(ec2, ("tag:role", ["web"]), ("instance-id", ["i-" + random_hex(17)])) == set()
    # AND with the id list too
    got = ec2.describe_addresses(AllocationIds=[I, E], Filters=[{"Name": "tag:role", "Values": ["db"]}])
    assert [x["AllocationId"] for x in got["Addresses"]] == [E]
    # wildcards
    assert _filtered(ec2, ("tag:role", ["w*"])) == {I}
    assert _filtered(ec2, ("tag:role", ["?b"])) == {E}
    assert _filtered(ec2, ("tag:role", ["*"])) == {I, E}
    assert _filtered(ec2, ("tag-value", ["*e*"])) == {I, F}
    assert _filtered(ec2, ("private-ip-address", ["10.90.1.2?"])) == {E}
    assert _filtered(ec2, ("private-ip-address", ["10.90.*"])) == {E}
    assert _filtered(ec2, ("public-ip", ["198.1*"])) == {I, E, F, S}
    assert _filtered(ec2, ("allocation-id", ["eipalloc-*"])) == {I, E, F}
    assert _filtered(ec2, ("association-id", ["eipassoc-*"])) == {I, E}
    one_char_off = w["free"]["PublicIp"][:-1] + "?"
    assert F in _filtered(ec2, ("public-ip", [one_char_off]))


def test_describe_unknown_filter(ec2):
    allocate(ec2)
    resp = expect_error(ec2.describe_addresses, "InvalidParameterValue",
                        Filters=[{"Name": "flavour", "Values": ["vanilla"]}])
    assert "flavour" in resp["Error"]["Message"]
    assert "is invalid" in resp["Error"]["Message"]


def test_describe_dry_run(ec2):
    allocate(ec2)
    resp = expect_error(ec2.describe_addresses, "DryRunOperation", 412, DryRun=True)
    assert resp["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."


# --------------------------------------------------------------------------- tags

def test_create_delete_describe_tags(ec2):
    eip = allocate(ec2)
    alloc = eip["AllocationId"]
    ec2.create_tags(Resources=[alloc], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    assert {t["Key"]: t["Value"] for t in describe_address(ec2, alloc)["Tags"]} == {"a": "1", "b": "2"}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [alloc]}])["Tags"]
    assert sorted((t["Key"], t["Value"], t["ResourceId"], t["ResourceType"]) for t in tags) == [
        ("a", "1", alloc, "elastic-ip"), ("b", "2", alloc, "elastic-ip")]
    # overwrite a value
    ec2.create_tags(Resources=[alloc], Tags=[{"Key": "a", "Value": "9"}])
    assert {t["Key"]: t["Value"] for t in describe_address(ec2, alloc)["Tags"]} == {"a": "9", "b": "2"}
    ec2.delete_tags(Resources=[alloc], Tags=[{"Key": "a"}])
    assert {t["Key"]: t["Value"] for t in describe_address(ec2, alloc)["Tags"]} == {"b": "2"}
    # value given and not matching → not deleted
    ec2.delete_tags(Resources=[alloc], Tags=[{"Key": "b", "Value": "other"}])
    assert {t["Key"] for t in describe_address(ec2, alloc)["Tags"]} == {"b"}
    ec2.delete_tags(Resources=[alloc], Tags=[{"Key": "b", "Value": "2"}])
    assert not describe_address(ec2, alloc).get("Tags")
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [alloc]}])["Tags"] == []


def test_tags_on_another_accounts_address(ec2, new_client):
    alloc = allocate(ec2)["AllocationId"]
    _, other = new_client()
    expect_error(other.create_tags, "InvalidAllocationID.NotFound", Resources=[alloc],
                 Tags=[{"Key": "x", "Value": "y"}])
    assert not describe_address(ec2, alloc).get("Tags")


# --------------------------------------------------------------------------- attributes

def test_describe_addresses_attribute_paginates(ec2):
    ids = {allocate(ec2)["AllocationId"] for _ in range(5)}
    page = ec2.describe_addresses_attribute(Attribute="domain-name", MaxResults=2)
    assert len(page["Addresses"]) == 2 and page.get("NextToken")
    seen = []
    pages = 0
    for p in ec2.get_paginator("describe_addresses_attribute").paginate(
            Attribute="domain-name", PaginationConfig={"PageSize": 2}):
        pages += 1
        assert len(p["Addresses"]) <= 2
        seen += [a["AllocationId"] for a in p["Addresses"]]
        for a in p["Addresses"]:
            assert a["PublicIp"]
    assert pages == 3
    assert len(seen) == 5 and set(seen) == ids
    one = sorted(ids)[0]
    got = ec2.describe_addresses_attribute(AllocationIds=[one], Attribute="domain-name")["Addresses"]
    assert [a["AllocationId"] for a in got] == [one]


def test_modify_and_reset_address_attribute(ec2):
    eip = allocate(ec2)
    alloc = eip["AllocationId"]
    r = ec2.modify_address_attribute(AllocationId=alloc, DomainName="mail.example.com")
    addr = r["Address"]
    assert addr["AllocationId"] == alloc and addr["PublicIp"] == eip["PublicIp"]
    assert addr["PtrRecordUpdate"]["Status"] == "PENDING"
    assert addr["PtrRecordUpdate"]["Value"].rstrip(".") == "mail.example.com"
    got = ec2.describe_addresses_attribute(AllocationIds=[alloc], Attribute="domain-name")["Addresses"]
    assert len(got) == 1 and got[0]["PtrRecord"].rstrip(".") == "mail.example.com"
    r = ec2.reset_address_attribute(AllocationId=alloc, Attribute="domain-name")
    assert r["Address"]["AllocationId"] == alloc
    got = ec2.describe_addresses_attribute(AllocationIds=[alloc], Attribute="domain-name")["Addresses"]
    assert (got[0].get("PtrRecord") or "").rstrip(".") != "mail.example.com"
    expect_error(ec2.modify_address_attribute, "InvalidAllocationID.NotFound",
                 AllocationId="eipalloc-" + random_hex(17), DomainName="x.example.com")


# --------------------------------------------------------------------------- accounts and regions

def test_accounts_are_isolated(ec2, new_client):
    eip = allocate(ec2)
    alloc = eip["AllocationId"]
    _, other = new_client()
    assert other.describe_addresses()["Addresses"] == []
    expect_error(other.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[alloc])
    expect_error(other.release_address, "InvalidAllocationID.NotFound", AllocationId=alloc)
    inst = run_instance(other)
    expect_error(other.associate_address, "InvalidAllocationID.NotFound",
                 AllocationId=alloc, InstanceId=inst["InstanceId"])
    expect_error(other.describe_addresses, "InvalidAddress.NotFound", PublicIps=[eip["PublicIp"]])
    assert describe_address(ec2, alloc)["PublicIp"] == eip["PublicIp"]


def test_regions_are_isolated(new_client):
    acct, east = new_client(region="us-east-1")
    _, west = new_client(acct, region="us-west-2")
    eip = allocate(east)
    assert west.describe_addresses()["Addresses"] == []
    expect_error(west.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[eip["AllocationId"]])
    expect_error(west.release_address, "InvalidAllocationID.NotFound", AllocationId=eip["AllocationId"])
    w = allocate(west)
    assert w["NetworkBorderGroup"] == "us-west-2"
    assert describe_address(west, w["AllocationId"])["NetworkBorderGroup"] == "us-west-2"
    assert [a["AllocationId"] for a in east.describe_addresses()["Addresses"]] == [eip["AllocationId"]]


def test_default_account_for_non_numeric_key(endpoint):
    a = make_client(endpoint, "AKIAIOSFODNN7EXAMPLE", "eu-west-3")
    b = make_client(endpoint, "000000000000", "eu-west-3")
    eip = a.allocate_address(Domain="vpc")
    try:
        assert describe_address(b, eip["AllocationId"])["PublicIp"] == eip["PublicIp"]
    finally:
        a.release_address(AllocationId=eip["AllocationId"])


# --------------------------------------------------------------------------- server flags

def test_address_limit_flag(start_server):
    srv = start_server("--store", "memory", "--address-limit", "2")
    ec2 = make_client(srv.url, random_account())
    allocate(ec2)
    allocate(ec2)
    expect_error(ec2.allocate_address, "AddressLimitExceeded", Domain="vpc")


def test_pool_flag(start_server):
    srv = start_server("--store", "memory", "--pool", "203.0.113.0/28,192.0.2.64/30")
    pools = [ipaddress.ip_network("203.0.113.0/28"), ipaddress.ip_network("192.0.2.64/30")]
    ec2 = make_client(srv.url, random_account())
    taken = set()
    for _ in range(3):
        ip = ipaddress.ip_address(allocate(ec2)["PublicIp"])
        assert any(ip in p for p in pools), ip
        taken.add(ip)
    # A specific free address of the second CIDR (the random ones may have taken some).
    free = next(str(ip) for ip in pools[1] if ip not in taken)
    r = ec2.allocate_address(Domain="vpc", Address=free)
    assert r["PublicIp"] == free
    _expect_client_error(ec2.allocate_address, Domain="vpc", Address="198.18.0.10")
    inst = run_instance(ec2)
    assert any(ipaddress.ip_address(inst["PublicIpAddress"]) in p for p in pools)


def test_state_survives_restart_with_data_dir(start_server, tmp_path):
    acct = random_account()
    srv = start_server("--data-dir", str(tmp_path / "data"))
    ec2 = make_client(srv.url, acct)
    inst = run_instance(ec2)
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{
        "ResourceType": "elastic-ip", "Tags": [{"Key": "k", "Value": "v"}]}])
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    srv.stop()
    srv2 = start_server("--data-dir", str(tmp_path / "data"))
    ec2 = make_client(srv2.url, acct)
    a = describe_address(ec2, eip["AllocationId"])
    assert a["PublicIp"] == eip["PublicIp"]
    assert a["AssociationId"] == assoc and a["InstanceId"] == inst["InstanceId"]
    assert {t["Key"]: t["Value"] for t in a["Tags"]} == {"k": "v"}
    assert describe_instance(ec2, inst["InstanceId"])["PublicIpAddress"] == eip["PublicIp"]
    ec2.disassociate_address(AssociationId=assoc)
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_acknowledged_changes_survive_kill(start_server, tmp_path):
    """Every acknowledged change is durable before its answer: SIGKILL loses nothing."""
    acct = random_account()
    srv = start_server("--data-dir", str(tmp_path / "data"))
    ec2 = make_client(srv.url, acct)
    kept = [allocate(ec2)["AllocationId"] for _ in range(3)]
    gone = allocate(ec2)["AllocationId"]
    ec2.release_address(AllocationId=gone)
    srv.proc.kill()
    srv.proc.wait(10)
    srv2 = start_server("--data-dir", str(tmp_path / "data"))
    ec2 = make_client(srv2.url, acct)
    assert sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]) == sorted(kept)


def test_concurrent_allocations_never_share_an_ip(endpoint):
    from concurrent.futures import ThreadPoolExecutor

    def work(_):
        c = make_client(endpoint, random_account())
        return [c.allocate_address(Domain="vpc")["PublicIp"] for _ in range(5)]

    with ThreadPoolExecutor(16) as pool:
        ips = [ip for batch in pool.map(work, range(32)) for ip in batch]
    assert len(ips) == 160
    assert len(set(ips)) == 160


def test_concurrent_associations_leave_one(ec2):
    from concurrent.futures import ThreadPoolExecutor

    insts = [run_instance(ec2) for _ in range(4)]
    eip = allocate(ec2)
    results = []

    def work(inst):
        try:
            return ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"],
                                         AllowReassociation=False)["AssociationId"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, insts))
    won = [r for r in results if r.startswith("eipassoc-")]
    assert len(won) == 1, results
    assert sorted(r for r in results if not r.startswith("eipassoc-")) == ["Resource.AlreadyAssociated"] * 3
    a = describe_address(ec2, eip["AllocationId"])
    assert a["AssociationId"] == won[0]
    holders = [i["InstanceId"] for i in insts
               if describe_instance(ec2, i["InstanceId"]).get("PublicIpAddress") == eip["PublicIp"]]
    assert holders == [a["InstanceId"]]


def test_disassociate_after_release_in_default_vpc(ec2):
    """Release in the default VPC disassociates first (D5); that association has ended (D2)."""
    inst = run_instance(ec2)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    ec2.release_address(AllocationId=eip["AllocationId"])
    r = ec2.disassociate_address(AssociationId=assoc)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_modify_address_attribute_dry_run(ec2):
    alloc = allocate(ec2)["AllocationId"]
    expect_error(ec2.modify_address_attribute, "DryRunOperation", 412,
                 AllocationId=alloc, DomainName="dry.example.com", DryRun=True)
    got = ec2.describe_addresses_attribute(AllocationIds=[alloc], Attribute="domain-name")["Addresses"]
    assert (got[0].get("PtrRecord") or "").rstrip(".") != "dry.example.com"


def test_filter_names_are_case_sensitive(ec2):
    allocate(ec2)
    expect_error(ec2.describe_addresses, "InvalidParameterValue", Filters=[{"Name": "Domain", "Values": ["vpc"]}])


# --------------------------------------------------------------------------- --flavor moto (D1)

@pytest.fixture(scope="module")
def moto_url():
    from eipd_helpers import Server
    srv = Server("--store", "memory", "--flavor", "moto")
    yield srv.url
    srv.cleanup()


@pytest.fixture
def moto_ec2(moto_url):
    return make_client(moto_url, random_account())


def test_moto_flavor_reassociation_defaults_to_false(moto_ec2):
    ec2 = moto_ec2
    i1, i2 = run_instance(ec2), run_instance(ec2)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=i1["InstanceId"])["AssociationId"]
    expect_error(ec2.associate_address, "Resource.AlreadyAssociated",
                 AllocationId=eip["AllocationId"], InstanceId=i2["InstanceId"])
    assert describe_address(ec2, eip["AllocationId"])["AssociationId"] == assoc
    r = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=i2["InstanceId"], AllowReassociation=True)
    assert ASSOC_RE.match(r["AssociationId"])


def test_moto_flavor_public_ip_of_vpc_address(moto_ec2):
    ec2 = moto_ec2
    inst = run_instance(ec2)
    eip = allocate(ec2)
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
    ec2.disassociate_address(PublicIp=eip["PublicIp"])
    assert not describe_address(ec2, eip["AllocationId"]).get("AssociationId")
    ec2.release_address(PublicIp=eip["PublicIp"])
    assert ec2.describe_addresses()["Addresses"] == []


def test_moto_flavor_release_of_associated_address(moto_ec2):
    ec2 = moto_ec2
    _, subnet_id = make_vpc(ec2, "10.110.0.0/16", "10.110.1.0/24")
    inst = run_instance(ec2, subnet_id)
    eip = allocate(ec2)
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
    ec2.release_address(AllocationId=eip["AllocationId"])
    assert ec2.describe_addresses()["Addresses"] == []
    assert describe_instance(ec2, inst["InstanceId"]).get("PublicIpAddress") != eip["PublicIp"]


def test_moto_flavor_malformed_ids_are_not_found(moto_ec2):
    expect_error(moto_ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId="foo")
    eip = allocate(moto_ec2)
    expect_error(moto_ec2.associate_address, "InvalidInstanceID.NotFound",
                 AllocationId=eip["AllocationId"], InstanceId="foo")
    expect_error(moto_ec2.associate_address, "InvalidNetworkInterfaceID.NotFound",
                 AllocationId=eip["AllocationId"], NetworkInterfaceId="foo")
    expect_error(moto_ec2.describe_instances, "InvalidInstanceID.NotFound", InstanceIds=["foo"])
    expect_error(moto_ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=["foo"])
    expect_error(moto_ec2.describe_subnets, "InvalidSubnetID.NotFound", SubnetIds=["foo"])
    expect_error(moto_ec2.describe_internet_gateways, "InvalidInternetGatewayID.NotFound", InternetGatewayIds=["foo"])
    expect_error(moto_ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound",
                 NetworkInterfaceIds=["foo"])
    expect_error(moto_ec2.detach_network_interface, "InvalidAttachmentID.NotFound", AttachmentId="foo")


def test_moto_flavor_malformed_address_ids_get_motos_text(moto_ec2):
    """D1: moto looks a malformed id up like any other and names the ids it did not find as
    a Python list, or as a set in DescribeAddresses."""
    resp = expect_error(moto_ec2.release_address, "InvalidAllocationID.NotFound", AllocationId="foo")
    assert resp["Error"]["Message"] == "Allocation ID '['foo']' not found."
    resp = expect_error(moto_ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId="foo")
    assert resp["Error"]["Message"] == "Association ID '['foo']' not found."
    resp = expect_error(moto_ec2.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=["foo"])
    assert resp["Error"]["Message"] == "Allocation ID '{'foo'}' not found."


def test_moto_flavor_no_igw_check(moto_ec2):
    ec2 = moto_ec2
    _, subnet_id = make_vpc(ec2, "10.111.0.0/16", "10.111.1.0/24", attach_igw=False)
    eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    eip = allocate(ec2)
    r = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)
    assert ASSOC_RE.match(r["AssociationId"])


def test_moto_flavor_address_outside_pool_accepted(moto_ec2):
    assert moto_ec2.allocate_address(Domain="vpc", Address="8.8.4.4")["PublicIp"] == "8.8.4.4"


def test_moto_flavor_unknown_domain_is_vpc(moto_ec2):
    assert moto_ec2.allocate_address(Domain="xyz")["Domain"] == "vpc"
    assert ALLOC_RE.match(moto_ec2.allocate_address(Domain="")["AllocationId"])


def test_moto_flavor_has_no_address_limit(moto_ec2):
    for _ in range(7):
        allocate(moto_ec2)
    assert len(moto_ec2.describe_addresses()["Addresses"]) == 7


@pytest.mark.parametrize("flavor", ["aws", "moto"])
def test_moto_api_reset_wipes_state(start_server, flavor):
    """D1: POST /moto-api/reset exists in every flavour while auth is open and wipes all state."""
    import urllib.request
    srv = start_server("--store", "memory", "--flavor", flavor)
    ec2 = make_client(srv.url, random_account())
    allocate(ec2)
    req = urllib.request.Request(srv.url + "/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert ec2.describe_addresses()["Addresses"] == []


def test_an_associated_address_shows_its_subnet(ec2):
    inst = run_instance(ec2)
    alloc = allocate(ec2)["AllocationId"]
    assert "SubnetId" not in describe_address(ec2, alloc)
    ec2.associate_address(AllocationId=alloc, InstanceId=inst["InstanceId"])
    addr = describe_address(ec2, alloc)
    assert addr["SubnetId"] == inst["SubnetId"]
    # No address of eipd is managed by a service (ALB, NLB, RDS): AWS omits it.
    assert "ServiceManaged" not in addr
    ec2.disassociate_address(AssociationId=addr["AssociationId"])
    assert "SubnetId" not in describe_address(ec2, alloc)
