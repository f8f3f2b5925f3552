"""AWS CLI smoke test: the venv's CLI v1 and, where installed, Debian's CLI v2 at /usr/bin/aws."""
import json
import os
import subprocess

import pytest

from eipd_helpers import ALLOC_RE, ASSOC_RE, AMI, aws_cli_env, in_pool, random_account, which_aws_v1

AWS_V2 = "/usr/bin/aws"


def _cli_path(which: str) -> str:
    if which == "v1":
        path = which_aws_v1()
        if not path:
            pytest.fail("the AWS CLI v1 is not installed next to the test interpreter "
                        "(pip install -r tests/py/requirements.txt)")
        return path
    if not os.path.exists(AWS_V2):
        if os.environ.get("EIPD_REQUIRE_AWSCLI_V2") == "1":
            pytest.fail(f"EIPD_REQUIRE_AWSCLI_V2=1 but {AWS_V2} does not exist")
        pytest.skip(f"{AWS_V2} (AWS CLI v2) is not installed; set EIPD_REQUIRE_AWSCLI_V2=1 to require it")
    return AWS_V2


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_cli_smoke(which, endpoint, tmp_path):
    aws = _cli_path(which)
    account = random_account()
    env = aws_cli_env(endpoint, account, "us-east-1", str(tmp_path))

    def run(*args, expect_ok=True):
        cmd = [aws, "--endpoint-url", endpoint, "--output", "json", "ec2", *args]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if expect_ok:
            assert p.returncode == 0, f"{cmd}: rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
        return p

    def run_json(*args):
        out = run(*args).stdout.strip()
        return json.loads(out) if out else {}

    alloc = run_json("allocate-address", "--domain", "vpc")
    assert ALLOC_RE.match(alloc["AllocationId"])
    assert in_pool(alloc["PublicIp"])
    assert alloc["Domain"] == "vpc"

    listed = run_json("describe-addresses")["Addresses"]
    assert [a["AllocationId"] for a in listed] == [alloc["AllocationId"]]

    inst = run_json("run-instances", "--image-id", AMI, "--count", "1")["Instances"][0]
    assoc = run_json("associate-address", "--allocation-id", alloc["AllocationId"],
                     "--instance-id", inst["InstanceId"])
    assert ASSOC_RE.match(assoc["AssociationId"])

    listed = run_json("describe-addresses", "--allocation-ids", alloc["AllocationId"])["Addresses"]
    assert listed[0]["AssociationId"] == assoc["AssociationId"]
    assert listed[0]["InstanceId"] == inst["InstanceId"]
    filtered = run_json("describe-addresses", "--filters",
                        f"Name=instance-id,Values={inst['InstanceId']}")["Addresses"]
    assert [a["AllocationId"] for a in filtered] == [alloc["AllocationId"]]

    run("disassociate-address", "--association-id", assoc["AssociationId"])
    listed = run_json("describe-addresses", "--public-ips", alloc["PublicIp"])["Addresses"]
    assert not listed[0].get("AssociationId")
    # idempotent (D2)
    run("disassociate-address", "--association-id", assoc["AssociationId"])

    # errors surface as a non-zero exit with the EC2 code
    p = run("disassociate-address", "--association-id", "eipassoc-0123456789abcdef0", expect_ok=False)
    assert p.returncode != 0 and "InvalidAssociationID.NotFound" in p.stderr, p.stderr
    p = run("disassociate-address", "--association-id", assoc["AssociationId"], "--dry-run", expect_ok=False)
    assert p.returncode != 0 and "DryRunOperation" in p.stderr, p.stderr

    run("release-address", "--allocation-id", alloc["AllocationId"])
    assert run_json("describe-addresses")["Addresses"] == []
    p = run("release-address", "--allocation-id", alloc["AllocationId"], expect_ok=False)
    assert p.returncode != 0 and "InvalidAllocationID.NotFound" in p.stderr, p.stderr


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"])
def test_endpoint_environment_variables_with_cli_v1(variable, endpoint, tmp_path):
    """Current SDKs read the endpoint from the environment: no --endpoint-url needed."""
    aws = _cli_path("v1")
    account = random_account()
    env = aws_cli_env(endpoint, account, "us-east-1", str(tmp_path))
    env[variable] = endpoint
    p = subprocess.run([aws, "--output", "json", "ec2", "allocate-address"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert ALLOC_RE.match(json.loads(p.stdout)["AllocationId"])


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"])
def test_endpoint_environment_variables_with_boto3(variable, endpoint, tmp_path):
    code = (
        "import boto3, json; ec2 = boto3.client('ec2', region_name='us-east-1');"
        "print(json.dumps(ec2.allocate_address(Domain='vpc')))"
    )
    env = aws_cli_env(endpoint, random_account(), "us-east-1", str(tmp_path))
    env[variable] = endpoint
    import sys
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert ALLOC_RE.match(out["AllocationId"]) and in_pool(out["PublicIp"])
