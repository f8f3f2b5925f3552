"""Error answers: codes, HTTP statuses, the EC2 error XML, request ids (decisions D10, D13, D14)."""
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from eipd_helpers import (
    DRY_RUN_MESSAGE, allocate, bench_authorization, expect_error, make_vpc, random_hex, raw_post,
)

V = "2016-11-15"


def _child(el, name):
    for c in el:
        if _strip_ns(c.tag) == name:
            return c
    return None


def _error_doc(body: str):
    """(Code, Message, RequestID) of `<Response><Errors><Error><Code>…` (a namespace is tolerated)."""
    root = ET.fromstring(body)
    assert _strip_ns(root.tag) == "Response", body
    errors = _child(root, "Errors")
    assert errors is not None, body
    err = _child(errors, "Error")
    assert err is not None, body
    code = getattr(_child(err, "Code"), "text", None)
    msg = getattr(_child(err, "Message"), "text", None)
    rid = getattr(_child(root, "RequestID"), "text", None)
    assert rid, f"error XML without RequestID: {body}"
    return code, msg, rid


def _strip_ns(tag: str) -> str:
    return tag.split("}", 1)[-1]


def test_unknown_action_signed(endpoint, account):
    status, body, headers = raw_post(endpoint, {"Action": "Nope", "Version": V}, account=account)
    assert status == 400, body
    code, msg, _ = _error_doc(body)
    assert code == "InvalidAction"
    assert msg
    assert "xml" in headers.get("Content-Type", headers.get("content-type", ""))


def test_unknown_action_with_bench_style_header(endpoint):
    status, body, _ = raw_post(endpoint, {"Action": "Nope", "Version": V}, sign=False,
                               authorization=bench_authorization())
    assert status == 400, body
    assert _error_doc(body)[0] == "InvalidAction"


def test_bench_style_header_is_accepted(endpoint):
    status, body, _ = raw_post(endpoint, {"Action": "DescribeAddresses", "Version": V}, sign=False,
                               authorization=bench_authorization("eu-north-1"))
    assert status == 200, body
    root = ET.fromstring(body)
    assert _strip_ns(root.tag) == "DescribeAddressesResponse"
    assert root.tag.startswith("{http://ec2.amazonaws.com/doc/2016-11-15/}")
    rid = root.find("{http://ec2.amazonaws.com/doc/2016-11-15/}requestId")
    assert rid is not None and rid.text
    assert root.find("{http://ec2.amazonaws.com/doc/2016-11-15/}addressesSet") is not None


def test_missing_action(endpoint, account):
    status, body, _ = raw_post(endpoint, {"Version": V}, account=account)
    assert status == 400, body
    assert _error_doc(body)[0] == "MissingAction"


def test_unknown_parameter(endpoint, account):
    status, body, _ = raw_post(endpoint, {"Action": "DescribeAddresses", "Version": V, "Bogus": "1"},
                               account=account)
    assert status == 400, body
    code, msg, _ = _error_doc(body)
    assert code == "UnknownParameter"
    assert msg == "The parameter Bogus is not recognized"


def test_malformed_authorization_header(endpoint):
    status, body, _ = raw_post(endpoint, {"Action": "DescribeAddresses", "Version": V}, sign=False,
                               authorization="AWS4-HMAC-SHA256 garbage")
    assert status == 400, body
    assert _error_doc(body)[0] == "IncompleteSignature"


def test_required_parameter_missing_raw(endpoint, account):
    status, body, _ = raw_post(endpoint, {"Action": "ModifyAddressAttribute", "Version": V,
                                          "DomainName": "a.example.com"}, account=account)
    assert status == 400, body
    assert _error_doc(body)[0] == "MissingParameter"


def test_a_wrong_network_border_group_is_refused_before_dry_run(ec2):
    """D6: parameters are validated before DryRun answers."""
    expect_error(ec2.allocate_address, "InvalidParameterValue", Domain="vpc", NetworkBorderGroup="us-west-2",
                 DryRun=True)
    expect_error(ec2.allocate_address, "DryRunOperation", 412, Domain="vpc", NetworkBorderGroup="us-east-1",
                 DryRun=True)


def test_dry_run_where_the_model_has_none_is_an_unknown_parameter(endpoint, ec2, account):
    """D14: ModifyVpcAttribute has no DryRun member in the model."""
    vpc = ec2.create_vpc(CidrBlock="10.102.0.0/16")["Vpc"]["VpcId"]
    status, body, _ = raw_post(endpoint, {"Action": "ModifyVpcAttribute", "Version": V, "VpcId": vpc,
                                          "EnableDnsHostnames.Value": "true", "DryRun": "true"}, account=account)
    assert status == 400, body
    assert _error_doc(body)[0] == "UnknownParameter"


def test_nested_members_the_model_defines_are_unsupported_not_unknown(endpoint, ec2, account):
    """D14 for members inside a structure: the model's are "not supported yet", others unknown."""
    _, subnet = make_vpc(ec2, "10.103.0.0/16", "10.103.1.0/24")
    base = {"Action": "RunInstances", "Version": V, "ImageId": "ami-12345678", "MinCount": "1", "MaxCount": "1",
            "NetworkInterface.1.DeviceIndex": "0", "NetworkInterface.1.SubnetId": subnet}
    status, body, _ = raw_post(endpoint, {**base, "NetworkInterface.1.EnaSrdSpecification.EnaSrdEnabled": "true"},
                               account=account)
    assert status == 400, body
    code, msg, _ = _error_doc(body)
    assert (code, msg) == ("InvalidParameterValue",
                           "The parameter NetworkInterface.N.EnaSrdSpecification.EnaSrdEnabled is not supported by eipd yet")
    status, body, _ = raw_post(endpoint, {**base, "NetworkInterface.1.Colour": "blue"}, account=account)
    assert status == 400, body
    assert _error_doc(body)[:2] == ("UnknownParameter", "The parameter NetworkInterface.N.Colour is not recognized")


def test_members_of_ipv6_address_groups_are_checked(endpoint, ec2, account):
    """D14 inside CreateNetworkInterface's Ipv6Addresses.N: the model's IsPrimaryIpv6 is "not
    supported yet", a member the model lacks is unknown; neither is dropped silently."""
    _, subnet = make_vpc(ec2, "10.104.0.0/16", "10.104.1.0/24")
    base = {"Action": "CreateNetworkInterface", "Version": V, "SubnetId": subnet,
            "Ipv6Addresses.1.Ipv6Address": "2600:1f18::5"}
    status, body, _ = raw_post(endpoint, {**base, "Ipv6Addresses.1.IsPrimaryIpv6": "true"}, account=account)
    assert status == 400, body
    assert _error_doc(body)[:2] == ("InvalidParameterValue",
                                    "The parameter Ipv6Addresses.N.IsPrimaryIpv6 is not supported by eipd yet")
    status, body, _ = raw_post(endpoint, {**base, "Ipv6Addresses.1.Colour": "blue"}, account=account)
    assert status == 400, body
    assert _error_doc(body)[:2] == ("UnknownParameter", "The parameter Ipv6Addresses.N.Colour is not recognized")


@pytest.mark.parametrize("index", ["01", "+1"])
def test_a_list_index_in_another_spelling_is_refused(endpoint, account, index):
    """InstanceId.1 and InstanceId.01 would name one list slot twice: refused, not one dropped."""
    status, body, _ = raw_post(endpoint, {"Action": "DescribeInstances", "Version": V,
                                          "InstanceId.1": "i-0123456789abcdef0",
                                          f"InstanceId.{index}": "i-0123456789abcdef1"}, account=account)
    assert status == 400, body
    code, msg, _ = _error_doc(body)
    assert code == "InvalidParameterValue"
    assert f"'{index}'" in msg


def test_error_xml_for_not_found(endpoint, account):
    missing = "eipassoc-" + random_hex(17)
    status, body, _ = raw_post(endpoint, {"Action": "DisassociateAddress", "Version": V,
                                          "AssociationId": missing}, account=account)
    assert status == 400
    code, msg, _ = _error_doc(body)
    assert code == "InvalidAssociationID.NotFound"
    assert msg == f"The association ID '{missing}' does not exist"


def test_dry_run_raw_status(endpoint, account):
    status, body, _ = raw_post(endpoint, {"Action": "AllocateAddress", "Version": V, "DryRun": "true"},
                               account=account)
    assert status == 412, body
    code, msg, _ = _error_doc(body)
    assert (code, msg) == ("DryRunOperation", DRY_RUN_MESSAGE)


def test_request_ids_on_success_and_error(ec2):
    ids = set()
    for _ in range(3):
        rid = ec2.describe_addresses()["ResponseMetadata"]["RequestId"]
        assert rid
        ids.add(rid)
    with pytest.raises(ClientError) as ei:
        ec2.release_address(AllocationId="eipalloc-" + random_hex(17))
    rid = ei.value.response["ResponseMetadata"]["RequestId"]
    assert rid
    ids.add(rid)
    assert len(ids) == 4, "request ids are not unique"


def test_statuses_through_boto3(ec2, new_client):
    eip = allocate(ec2)
    expect_error(ec2.describe_addresses, "InvalidAllocationID.NotFound", 400,
                 AllocationIds=["eipalloc-" + random_hex(17)])
    expect_error(ec2.allocate_address, "DryRunOperation", 412, Domain="vpc", DryRun=True)
    expect_error(ec2.describe_addresses, "InvalidParameterValue", 400,
                 Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    expect_error(ec2.disassociate_address, "MissingParameter", 400)
    std = ec2.allocate_address(Domain="standard")
    _, other = new_client()
    expect_error(other.release_address, "AuthFailure", 401, PublicIp=std["PublicIp"])
    # nothing changed for the owner
    assert {a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]} == {eip["PublicIp"], std["PublicIp"]}


def test_dry_run_allocate_allocates_nothing(ec2):
    resp = expect_error(ec2.allocate_address, "DryRunOperation", 412, Domain="vpc", DryRun=True)
    assert resp["Error"]["Message"] == DRY_RUN_MESSAGE
    assert ec2.describe_addresses()["Addresses"] == []


def test_unknown_filter_message(ec2):
    resp = expect_error(ec2.describe_addresses, "InvalidParameterValue",
                        Filters=[{"Name": "colour", "Values": ["x"]}])
    assert resp["Error"]["Message"].startswith("The filter 'colour' is invalid")


def test_text_xml_cannot_carry_is_refused_and_cr_survives(ec2):
    alloc = allocate(ec2)["AllocationId"]
    # A carriage return comes back as sent (written as &#xD;: a parser turns
    # a literal CR into LF).
    ec2.create_tags(Resources=[alloc], Tags=[{"Key": "note", "Value": "line1\r\nline2\rend"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [alloc]}])["Tags"]
    assert [t["Value"] for t in tags] == ["line1\r\nline2\rend"]
    # What XML 1.0 cannot carry is refused at the door, before anything changes.
    for bad in ["a\x01b", "\x1f", "x\ufffe"]:
        resp = expect_error(ec2.create_tags, "InvalidParameterValue",
                            Resources=[alloc], Tags=[{"Key": "k", "Value": bad}])
        assert "XML 1.0" in resp["Error"]["Message"]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [alloc]}])["Tags"]
    assert [t["Key"] for t in tags] == ["note"]


def test_describe_addresses_malformed_public_ip(ec2):
    resp = expect_error(ec2.describe_addresses, "InvalidParameterValue", PublicIps=["256.256.256.256"])
    assert resp["Error"]["Message"] == "Invalid value '256.256.256.256' for PublicIp. Not a valid IPv4 address"
