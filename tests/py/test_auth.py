"""Security: SigV4 verified for real (botocore signs), strict and open modes,
IAM policies behind DryRun and real calls, accounts isolated (decisions D13)."""
import datetime
import json
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.exceptions
import pytest
from botocore.config import Config

from eipd_helpers import AMI, expect_error

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
# May do everything to addresses except release them; nothing else.
ADDRESSES_ONLY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:*Address*", "ec2:Describe*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:ReleaseAddress", "Resource": "*"},
    ],
})
# May act only on one allocation id (filled in per test).
ONE_ADDRESS = """{{"Statement":[
  {{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:111122223333:elastic-ip/{alloc}"}},
  {{"Effect":"Allow","Action":["ec2:AllocateAddress","ec2:Describe*"],"Resource":"*"}}]}}"""

USERS = {
    "admin": ("AKIAEXAMPLE0000000001", "admin-secret", "111122223333", None),
    "ci": ("AKIAEXAMPLE0000000002", "ci-secret", "111122223333", ADDRESSES_ONLY),
    "explicit": ("AKIAEXAMPLE0000000003", "explicit-secret", "111122223333", ALLOW_ALL),
    "other": ("AKIAEXAMPLE0000000004", "other-secret", "444455556666", None),
}


def credentials_file(tmp_path, extra=None) -> str:
    lines = []
    for name, (akid, secret, account, policy) in {**USERS, **(extra or {})}.items():
        lines += ["[[user]]", f'name = "{name}"', f'access_key_id = "{akid}"',
                  f'secret_access_key = "{secret}"', f'account_id = "{account}"']
        if policy:
            lines.append(f"policy = '''{policy}'''")
        lines.append("")
    path = tmp_path / "credentials.toml"
    path.write_text("\n".join(lines))
    return str(path)


def client(url, akid, secret, region="us-east-1"):
    return boto3.client("ec2", endpoint_url=url, region_name=region, aws_access_key_id=akid,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def user_client(url, name, region="us-east-1"):
    akid, secret, _, _ = USERS[name]
    return client(url, akid, secret, region)


@pytest.fixture
def strict(start_server, tmp_path):
    return start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url


def test_right_key_passes_and_sees_its_account(strict):
    ec2 = user_client(strict, "admin")
    alloc = ec2.allocate_address(Domain="vpc")
    got = ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"]
    assert got[0]["PublicIp"] == alloc["PublicIp"]
    eni = ec2.create_network_interface(SubnetId=ec2.describe_subnets()["Subnets"][0]["SubnetId"])
    assert eni["NetworkInterface"]["OwnerId"] == "111122223333"


def test_wrong_secret_fails(strict):
    akid, _, _, _ = USERS["admin"]
    expect_error(client(strict, akid, "not-the-secret").describe_addresses, "AuthFailure", 401)


def test_unknown_key_fails_in_strict_mode(strict):
    expect_error(client(strict, "AKIAUNKNOWN000000000", "x").describe_addresses, "AuthFailure", 401)


def test_body_tampering_is_detected(strict):
    """The payload hash is part of the signature: a changed body fails."""
    ec2 = user_client(strict, "admin")

    def tamper(request, **_):
        # Same length, so only the signature can tell.
        body = request.body if isinstance(request.body, str) else request.body.decode()
        request.body = body.replace("Domain=vpc", "Domain=VPC")

    ec2.meta.events.register_last("before-send.ec2.AllocateAddress", tamper)
    expect_error(ec2.allocate_address, "AuthFailure", 401, Domain="vpc")


def test_skewed_clock_fails_in_strict_mode(strict, monkeypatch):
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + datetime.timedelta(minutes=20))
    expect_error(user_client(strict, "admin").describe_addresses, "RequestExpired", 400)


def test_missing_signature_fails_in_strict_mode(strict):
    body = b"Action=DescribeAddresses&Version=2016-11-15"
    req = urllib.request.Request(strict + "/", data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=10)
    assert ei.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in ei.value.read()


def test_presigned_url_works(strict):
    ec2 = user_client(strict, "admin")
    alloc = ec2.allocate_address(Domain="vpc")
    params = {"AllocationIds": [alloc["AllocationId"]]}
    # Signed for GET: the parameters travel in the query string.
    url = ec2.generate_presigned_url("describe_addresses", Params=params, ExpiresIn=300, HttpMethod="GET")
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read().decode()
    assert resp.status == 200
    assert alloc["PublicIp"] in body
    # By default botocore signs for the model's method (POST), with an empty body.
    post_url = ec2.generate_presigned_url("describe_addresses", Params=params, ExpiresIn=300)
    with urllib.request.urlopen(urllib.request.Request(post_url, data=b"", method="POST"), timeout=10) as resp:
        assert alloc["PublicIp"] in resp.read().decode()
    # The GET-signed URL does not pass as a POST: the method is signed.
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10)
    assert ei.value.code == 401
    # A changed parameter breaks the signature.
    tampered = url.replace(alloc["AllocationId"], alloc["AllocationId"][:-1] + ("0" if alloc["AllocationId"][-1] != "0" else "1"))
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(tampered, timeout=10)
    assert ei.value.code == 401


def test_policy_allows_and_denies_dry_run_and_real_calls(strict):
    ci = user_client(strict, "ci")
    # Allowed by ec2:*Address*: DryRun says it would succeed.
    expect_error(ci.allocate_address, "DryRunOperation", 412, DryRun=True)
    alloc = ci.allocate_address(Domain="vpc")
    # Explicitly denied: DryRun and the real call are UnauthorizedOperation, and nothing changes.
    expect_error(ci.release_address, "UnauthorizedOperation", 403, AllocationId=alloc["AllocationId"], DryRun=True)
    resp = expect_error(ci.release_address, "UnauthorizedOperation", 403, AllocationId=alloc["AllocationId"])
    assert "ec2:ReleaseAddress" in resp["Error"]["Message"]
    assert ci.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"]
    # Not allowed at all (implicit deny): RunInstances.
    expect_error(ci.run_instances, "UnauthorizedOperation", 403, ImageId=AMI, MinCount=1, MaxCount=1, DryRun=True)
    expect_error(ci.run_instances, "UnauthorizedOperation", 403, ImageId=AMI, MinCount=1, MaxCount=1)
    # The account's admin (no policy) may release it.
    user_client(strict, "admin").release_address(AllocationId=alloc["AllocationId"])


def test_resource_level_policy(start_server, tmp_path):
    # Learn two allocation ids as the admin, then restart with a user limited to one of them
    # (the embedded store keeps the ids across the restart).
    data = tmp_path / "data"
    extra = {"scoped": ("AKIAEXAMPLE0000000009", "scoped-secret", "111122223333", None)}
    srv = start_server("--data-dir", str(data), "--auth", "strict", "--credentials", credentials_file(tmp_path, extra))
    admin = user_client(srv.url, "admin")
    mine = admin.allocate_address(Domain="vpc")["AllocationId"]
    theirs = admin.allocate_address(Domain="vpc")["AllocationId"]
    srv.cleanup()
    extra = {"scoped": ("AKIAEXAMPLE0000000009", "scoped-secret", "111122223333", ONE_ADDRESS.format(alloc=mine))}
    srv = start_server("--data-dir", str(data), "--auth", "strict", "--credentials", credentials_file(tmp_path, extra))
    scoped = client(srv.url, "AKIAEXAMPLE0000000009", "scoped-secret")
    expect_error(scoped.modify_address_attribute, "DryRunOperation", 412, AllocationId=mine, DomainName="a.example.com", DryRun=True)
    expect_error(scoped.modify_address_attribute, "UnauthorizedOperation", 403, AllocationId=theirs, DomainName="a.example.com", DryRun=True)
    scoped.modify_address_attribute(AllocationId=mine, DomainName="a.example.com")
    expect_error(scoped.release_address, "UnauthorizedOperation", 403, AllocationId=theirs)
    scoped.release_address(AllocationId=mine)


def test_accounts_are_isolated(strict):
    admin = user_client(strict, "admin")
    other = user_client(strict, "other")
    alloc = admin.allocate_address(Domain="vpc")
    expect_error(other.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[alloc["AllocationId"]])
    expect_error(other.release_address, "InvalidAllocationID.NotFound", AllocationId=alloc["AllocationId"])
    assert other.describe_addresses()["Addresses"] == []
    # D12: another account's public IP named through the deprecated PublicIp.
    expect_error(other.disassociate_address, "AuthFailure", 401, PublicIp=alloc["PublicIp"])


def test_reset_endpoint_is_refused_in_strict_mode(strict):
    req = urllib.request.Request(strict + "/moto-api/reset", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=10)
    assert ei.value.code == 403


def test_open_mode_still_verifies_configured_keys(start_server, tmp_path):
    url = start_server("--store", "memory", "--credentials", credentials_file(tmp_path)).url
    akid, secret, _, _ = USERS["admin"]
    expect_error(client(url, akid, "wrong").describe_addresses, "AuthFailure", 401)
    assert client(url, akid, secret).describe_addresses()["Addresses"] == []
    # Unknown keys are accepted, without a clock check, as in moto.
    assert client(url, "AKIANOTCONFIGURED000", "anything").describe_addresses()["Addresses"] == []


def test_strict_mode_without_credentials_refuses_to_start(tmp_path):
    import subprocess
    from eipd_helpers import eipd_bin
    p = subprocess.run([str(eipd_bin()), "serve", "--store", "memory", "--auth", "strict", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "--credentials" in p.stderr


def sts_client(url, akid, secret, region="us-east-1"):
    return boto3.client("sts", endpoint_url=url, region_name=region, aws_access_key_id=akid,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_caller_identity_of_configured_users(strict):
    """STS GetCallerIdentity on the EC2 endpoint: the user's ARN and account;
    a policy that allows only EC2 actions does not refuse it (nor does AWS)."""
    for name in ("admin", "ci", "other"):
        akid, secret, account, _ = USERS[name]
        who = sts_client(strict, akid, secret).get_caller_identity()
        assert who["Account"] == account
        assert who["Arn"] == f"arn:aws:iam::{account}:user/{name}"
        assert who["UserId"].startswith("AIDA") and len(who["UserId"]) == 21
    ids = {sts_client(strict, *USERS[n][:2]).get_caller_identity()["UserId"] for n in ("admin", "ci")}
    assert len(ids) == 2
    # A wrong secret is refused as for EC2.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts_client(strict, USERS["admin"][0], "wrong").get_caller_identity()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_caller_identity_in_open_mode_and_sts_errors(start_server):
    url = start_server("--store", "memory").url
    who = sts_client(url, "123456789012", "x", "eu-west-1").get_caller_identity()
    assert who["Account"] == "123456789012"
    assert who["Arn"] == "arn:aws:iam::123456789012:user/eipd-default"
    # Another STS action: STS's own error document, which boto3 parses.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts_client(url, "123456789012", "x").assume_role(RoleArn="arn:aws:iam::123456789012:role/r",
                                                           RoleSessionName="session")
    err = e.value.response
    assert (err["Error"]["Code"], err["Error"]["Type"]) == ("InvalidAction", "Sender")
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400 and err["ResponseMetadata"]["RequestId"]
    # The same credentials still reach EC2 on the same endpoint.
    ec2 = client(url, "123456789012", "x", "eu-west-1")
    assert ec2.describe_regions(RegionNames=["eu-west-1"])["Regions"]
