"""DisassociateAddress, exactly as AWS documents it (the EC2 API reference) and per docs/compatibility.md D2/D4/D6/D12."""
import json
import re
import time

import pytest

from eipd_helpers import (
    DRY_RUN_MESSAGE, allocate, describe_address, describe_eni, describe_instance, eipd, expect_error,
    make_client, make_vpc, random_account, random_hex, random_pool_ip, raw_post, run_instance,
)


@pytest.fixture
def associated(ec2):
    """An instance in a non-default VPC (no auto public IP) with an Elastic IP on it."""
    _, subnet_id = make_vpc(ec2, "10.100.0.0/16", "10.100.1.0/24")
    inst = run_instance(ec2, subnet_id)
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
    return dict(inst=inst, eip=eip, assoc=assoc, eni=inst["NetworkInterfaces"][0]["NetworkInterfaceId"])


def _assert_still_associated(ec2, w):
    a = describe_address(ec2, w["eip"]["AllocationId"])
    assert a["AssociationId"] == w["assoc"]
    assert a["InstanceId"] == w["inst"]["InstanceId"]
    assert describe_instance(ec2, w["inst"]["InstanceId"])["PublicIpAddress"] == w["eip"]["PublicIp"]


def test_disassociate_by_association_id(ec2, associated):
    w = associated
    r = ec2.disassociate_address(AssociationId=w["assoc"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ResponseMetadata"]["RequestId"]
    a = describe_address(ec2, w["eip"]["AllocationId"])
    assert a["PublicIp"] == w["eip"]["PublicIp"]  # still allocated
    for key in ("AssociationId", "InstanceId", "NetworkInterfaceId", "NetworkInterfaceOwnerId", "PrivateIpAddress"):
        assert not a.get(key), (key, a)
    assert not describe_instance(ec2, w["inst"]["InstanceId"]).get("PublicIpAddress")
    assert "Association" not in describe_eni(ec2, w["eni"])
    assert ec2.describe_addresses(Filters=[{"Name": "association-id", "Values": [w["assoc"]]}])["Addresses"] == []


def test_disassociate_twice_is_idempotent(ec2, associated):
    w = associated
    ec2.disassociate_address(AssociationId=w["assoc"])
    r = ec2.disassociate_address(AssociationId=w["assoc"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not describe_address(ec2, w["eip"]["AllocationId"]).get("AssociationId")
    # and a third time, after a new association of the same address exists
    new = ec2.associate_address(AllocationId=w["eip"]["AllocationId"], InstanceId=w["inst"]["InstanceId"])["AssociationId"]
    ec2.disassociate_address(AssociationId=w["assoc"])
    assert describe_address(ec2, w["eip"]["AllocationId"])["AssociationId"] == new


def test_disassociate_response_carries_return_true(endpoint, ec2, account, associated):
    status, body, _ = raw_post(endpoint, {
        "Action": "DisassociateAddress", "Version": "2016-11-15", "AssociationId": associated["assoc"],
    }, account=account)
    assert status == 200, body
    assert "<DisassociateAddressResponse" in body
    assert re.search(r"<requestId>[^<]+</requestId>", body)
    assert "<return>true</return>" in body


@pytest.mark.parametrize("how", ["disassociate", "reassociate", "terminate", "delete-interface"])
def test_ended_association_disassociates_successfully(ec2, how):
    _, subnet_id = make_vpc(ec2, "10.101.0.0/16", "10.101.1.0/24")
    eip = allocate(ec2)
    if how == "delete-interface":
        eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
        assoc = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)["AssociationId"]
        ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    else:
        inst = run_instance(ec2, subnet_id)
        assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
        if how == "disassociate":
            ec2.disassociate_address(AssociationId=assoc)
        elif how == "reassociate":
            other = run_instance(ec2, subnet_id)
            ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=other["InstanceId"])
        else:
            ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    before = describe_address(ec2, eip["AllocationId"])
    r = ec2.disassociate_address(AssociationId=assoc)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert describe_address(ec2, eip["AllocationId"]) == before


def test_never_issued_association_id(ec2, associated):
    missing = "eipassoc-" + random_hex(17)
    resp = expect_error(ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId=missing)
    assert resp["Error"]["Message"] == f"The association ID '{missing}' does not exist"
    _assert_still_associated(ec2, associated)


def test_seed_example_association_id_is_not_found(ec2):
    # the seed's example id was never issued to this fresh account
    resp = expect_error(ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId="eipassoc-2bebb745")
    assert "eipassoc-2bebb745" in resp["Error"]["Message"]


def test_another_accounts_association_is_not_found(ec2, associated, new_client):
    _, other = new_client()
    expect_error(other.disassociate_address, "InvalidAssociationID.NotFound", AssociationId=associated["assoc"])
    _assert_still_associated(ec2, associated)


def test_same_account_other_region_is_not_found(ec2, account, associated, new_client):
    _, west = new_client(account, "us-west-2")
    expect_error(west.disassociate_address, "InvalidAssociationID.NotFound", AssociationId=associated["assoc"])
    _assert_still_associated(ec2, associated)


@pytest.mark.parametrize("bad", ["foo", "eipassoc-", "eipassoc-xyz123", "eipalloc-0123456789abcdef0",
                                 "eipassoc_0123456789abcdef0", "i-0123456789abcdef0"])
def test_malformed_association_id(ec2, associated, bad):
    resp = expect_error(ec2.disassociate_address, "InvalidParameterValue", AssociationId=bad)
    msg = resp["Error"]["Message"]
    assert "AssociationId" in msg, msg
    assert "eipassoc-" in msg, msg
    _assert_still_associated(ec2, associated)


def test_missing_parameter(ec2, associated):
    expect_error(ec2.disassociate_address, "MissingParameter")
    _assert_still_associated(ec2, associated)


def test_public_ip_of_vpc_address_is_refused(ec2, associated):
    resp = expect_error(ec2.disassociate_address, "InvalidParameterValue", PublicIp=associated["eip"]["PublicIp"])
    assert resp["Error"]["Message"] == "You must specify an association id when unmapping an address from a VPC instance"
    _assert_still_associated(ec2, associated)


def test_public_ip_of_unassociated_vpc_address_is_refused(ec2):
    eip = allocate(ec2)
    expect_error(ec2.disassociate_address, "InvalidParameterValue", PublicIp=eip["PublicIp"])


def test_public_ip_of_standard_address_succeeds(ec2):
    std = ec2.allocate_address(Domain="standard")
    r = ec2.disassociate_address(PublicIp=std["PublicIp"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # a no-op: the address stays allocated
    addrs = ec2.describe_addresses(PublicIps=[std["PublicIp"]])["Addresses"]
    assert len(addrs) == 1 and addrs[0]["Domain"] == "standard"
    ec2.disassociate_address(PublicIp=std["PublicIp"])


def test_public_ip_nobody_holds(ec2):
    expect_error(ec2.disassociate_address, "InvalidAddress.NotFound", PublicIp=random_pool_ip())


def test_public_ip_of_another_account(ec2, new_client):
    std = ec2.allocate_address(Domain="standard")
    _, other = new_client()
    resp = expect_error(other.disassociate_address, "AuthFailure", 401, PublicIp=std["PublicIp"])
    assert resp["Error"]["Message"] == f"The address '{std['PublicIp']}' does not belong to you."


def test_dry_run(ec2, associated):
    resp = expect_error(ec2.disassociate_address, "DryRunOperation", 412,
                        AssociationId=associated["assoc"], DryRun=True)
    assert resp["Error"]["Message"] == DRY_RUN_MESSAGE
    _assert_still_associated(ec2, associated)
    # DryRun=False really disassociates
    ec2.disassociate_address(AssociationId=associated["assoc"], DryRun=False)
    assert not describe_address(ec2, associated["eip"]["AllocationId"]).get("AssociationId")


def test_dry_run_order_of_checks(ec2, associated):
    # D6: parameters are validated before DryRun answers; DryRun answers before lookups
    expect_error(ec2.disassociate_address, "MissingParameter", DryRun=True)
    expect_error(ec2.disassociate_address, "InvalidParameterValue", AssociationId="bogus", DryRun=True)
    resp = expect_error(ec2.disassociate_address, "DryRunOperation", 412,
                        AssociationId="eipassoc-" + random_hex(17), DryRun=True)
    assert resp["Error"]["Message"] == DRY_RUN_MESSAGE
    _assert_still_associated(ec2, associated)


def test_dry_run_standard_public_ip(ec2):
    std = ec2.allocate_address(Domain="standard")
    expect_error(ec2.disassociate_address, "DryRunOperation", 412, PublicIp=std["PublicIp"], DryRun=True)


def test_disassociate_bare_interface(ec2, account):
    _, subnet_id = make_vpc(ec2, "10.102.0.0/16", "10.102.1.0/24")
    eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    eip = allocate(ec2)
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni_id)["AssociationId"]
    assert describe_eni(ec2, eni_id)["Association"]["PublicIp"] == eip["PublicIp"]
    ec2.disassociate_address(AssociationId=assoc)
    assert "Association" not in describe_eni(ec2, eni_id)
    assert not describe_address(ec2, eip["AllocationId"]).get("NetworkInterfaceId")


def test_release_response_carries_return_true(endpoint, ec2, account):
    eip = allocate(ec2)
    status, body, _ = raw_post(endpoint, {
        "Action": "ReleaseAddress", "Version": "2016-11-15", "AllocationId": eip["AllocationId"],
    }, account=account)
    assert status == 200, body
    assert "<ReleaseAddressResponse" in body and "<return>true</return>" in body


def test_expired_association_ids_are_forgotten_and_deleted(start_server, tmp_path):
    """D2: past the retention an ended id is answered as never issued, and its
    record is deleted from the store by later endings (two per ending)."""
    data = tmp_path / "data"
    srv = start_server("--data-dir", str(data), "--association-retention", "1")
    ec2 = make_client(srv.url, random_account())
    _, subnet_id = make_vpc(ec2, "10.101.0.0/16", "10.101.1.0/24")
    inst = run_instance(ec2, subnet_id)
    eip = allocate(ec2)

    def cycle():
        assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])["AssociationId"]
        ec2.disassociate_address(AssociationId=assoc)
        return assoc

    old = [cycle(), cycle(), cycle()]
    ec2.disassociate_address(AssociationId=old[0])  # within the retention: ended, so success
    time.sleep(2.2)
    expect_error(ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId=old[0])
    new = [cycle(), cycle()]
    ec2.disassociate_address(AssociationId=new[0])
    srv.stop()

    dump = tmp_path / "state.jsonl"
    out = eipd("export", "--data-dir", str(data), "--output", str(dump))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line)["record"] for line in dump.read_text().splitlines()[1:]]
    ended = sorted(r["id"] for r in records if r["kind"] == "ended_association")
    assert ended == sorted(new), f"stored ended associations {ended}, expected only the recent {new}"
