"""The code under test: what a team's own tooling does with Elastic IPs."""
from __future__ import annotations

import boto3


def release_idle_addresses(ec2=None) -> list[str]:
    """Releases every Elastic IP that is not associated with anything; returns their allocation ids.
    Without a client it makes one from the environment, as scripts in CI do."""
    ec2 = ec2 or boto3.client("ec2")
    released = []
    for address in ec2.describe_addresses()["Addresses"]:
        if "AssociationId" not in address:
            ec2.release_address(AllocationId=address["AllocationId"])
            released.append(address["AllocationId"])
    return released
