"""Uses only the fixtures of the eipd wheel's pytest plugin: no conftest, no server to start."""
import boto3
import pytest
from botocore.exceptions import ClientError

from infra.addresses import release_idle_addresses


def test_allocate_associate_describe_release(eipd_ec2):
    address = eipd_ec2.allocate_address(Domain="vpc")
    instance = eipd_ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    association = eipd_ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance["InstanceId"])

    found = eipd_ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [instance["InstanceId"]]}])["Addresses"]
    assert [(a["PublicIp"], a["AssociationId"]) for a in found] == [(address["PublicIp"], association["AssociationId"])]

    eipd_ec2.disassociate_address(AssociationId=association["AssociationId"])
    assert "AssociationId" not in eipd_ec2.describe_addresses(AllocationIds=[address["AllocationId"]])["Addresses"][0]
    eipd_ec2.release_address(AllocationId=address["AllocationId"])
    with pytest.raises(ClientError) as gone:
        eipd_ec2.describe_addresses(AllocationIds=[address["AllocationId"]])
    assert gone.value.response["Error"]["Code"] == "InvalidAllocationID.NotFound"


def test_every_test_has_an_account_of_its_own(eipd_server, eipd_ec2, eipd_account):
    # A fresh account: nothing from other tests, and the AWS quota of 5 is all ours.
    assert eipd_ec2.describe_addresses()["Addresses"] == []
    for _ in range(5):
        eipd_ec2.allocate_address(Domain="vpc")
    with pytest.raises(ClientError) as limit:
        eipd_ec2.allocate_address(Domain="vpc")
    assert limit.value.response["Error"]["Code"] == "AddressLimitExceeded"

    neighbour = eipd_server.client(account="111122223333")
    assert neighbour.describe_addresses()["Addresses"] == []
    assert eipd_account != "111122223333"


def test_code_under_test_finds_eipd_through_the_environment(eipd_aws_env, eipd_ec2):
    idle = eipd_ec2.allocate_address(Domain="vpc")["AllocationId"]
    busy = eipd_ec2.allocate_address(Domain="vpc")["AllocationId"]
    instance = eipd_ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    eipd_ec2.associate_address(AllocationId=busy, InstanceId=instance["InstanceId"])

    # release_idle_addresses() makes its own boto3 client from the environment eipd_aws_env set.
    assert release_idle_addresses() == [idle]
    assert boto3.client("ec2").meta.endpoint_url == eipd_aws_env["AWS_ENDPOINT_URL_EC2"]
    left = [a["AllocationId"] for a in eipd_ec2.describe_addresses()["Addresses"]]
    assert left == [busy]
