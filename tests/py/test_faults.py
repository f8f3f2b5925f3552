"""Fault injection through boto3: throttling, InternalError, latency, the admin
endpoint, and the eventual-consistency delay on Describe* (off by default)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from eipd_helpers import allocate, expect_error, make_client, random_account


def admin(server, method: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + "/eipd-api/faults", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text}


def client(server):
    return make_client(server.url, random_account())  # retries: 1 attempt


def test_off_by_default(server, ec2):
    status, doc = admin(server, "GET")
    assert status == 200
    assert doc["enabled"] is False and doc["faults"] == [] and doc["consistency_delay_ms"] == 0
    for _ in range(20):
        ec2.describe_addresses()


def test_throttle_rate_one_answers_request_limit_exceeded(start_server):
    srv = start_server("--store", "memory", "--fault", "AllocateAddress:throttle=1")
    ec2 = client(srv)
    resp = expect_error(ec2.allocate_address, "RequestLimitExceeded", 503, Domain="vpc")
    assert resp["Error"]["Message"] == "Request limit exceeded."
    # only the named action is throttled, and nothing was allocated
    assert ec2.describe_addresses()["Addresses"] == []
    # the answer is EC2's error document
    with pytest.raises(ClientError) as ei:
        ec2.allocate_address(Domain="vpc")
    assert ei.value.response["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("text/xml")


def test_throttle_rate_half_throttles_about_half(start_server):
    srv = start_server("--store", "memory", "--fault", "DescribeAddresses:throttle=0.5")
    ec2 = client(srv)
    throttled = 0
    for _ in range(200):
        try:
            ec2.describe_addresses()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "RequestLimitExceeded"
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            throttled += 1
    # binomial(200, 0.5): the standard deviation is about 7; this band is > 8 sigma wide
    assert 60 <= throttled <= 140, throttled


def test_internal_error_from_the_environment(start_server, monkeypatch):
    monkeypatch.setenv("EIPD_FAULTS", "ReleaseAddress:error=1;DescribeVpcs:internal_error=100%")
    srv = start_server("--store", "memory")
    monkeypatch.delenv("EIPD_FAULTS")
    ec2 = client(srv)
    a = allocate(ec2)
    resp = expect_error(ec2.release_address, "InternalError", 500, AllocationId=a["AllocationId"])
    assert "internal error" in resp["Error"]["Message"].lower()
    expect_error(ec2.describe_vpcs, "InternalError", 500)
    # the injected error happens before the action runs: the address is still there
    assert [x["AllocationId"] for x in ec2.describe_addresses()["Addresses"]] == [a["AllocationId"]]


def test_latency_is_added(start_server):
    srv = start_server("--store", "memory", "--fault", "*:latency=300ms", "--fault", "DescribeVpcs:latency=0ms")
    ec2 = client(srv)
    ec2.describe_vpcs()  # warm the connection
    started = time.monotonic()
    ec2.describe_addresses()
    slow = time.monotonic() - started
    started = time.monotonic()
    ec2.describe_vpcs()
    fast = time.monotonic() - started
    assert slow >= 0.29, slow
    assert fast < 0.25, fast


def test_latency_range(start_server):
    srv = start_server("--store", "memory", "--fault", "DescribeAddresses:latency=100ms-200ms")
    ec2 = client(srv)
    ec2.describe_vpcs()
    for _ in range(5):
        started = time.monotonic()
        ec2.describe_addresses()
        took = time.monotonic() - started
        assert 0.095 <= took < 1.0, took


def test_config_file(start_server, tmp_path):
    conf = tmp_path / "eipd.toml"
    conf.write_text('faults = ["CreateVpc:throttle=1"]\nconsistency_delay = 0\n')
    srv = start_server("--store", "memory", "--config", str(conf))
    ec2 = client(srv)
    expect_error(ec2.create_vpc, "RequestLimitExceeded", 503, CidrBlock="10.0.0.0/16")
    status, doc = admin(srv, "GET")
    assert status == 200 and doc["faults"] == ["CreateVpc:throttle=1"] and doc["enabled"] is True


def test_bad_fault_flags_stop_the_server():
    import subprocess

    from eipd_helpers import ensure_built

    for bad in ["AllocateAdress:throttle=1", "AllocateAddress:throttle=2", "AllocateAddress:slow=1"]:
        r = subprocess.run([str(ensure_built()), "serve", "--store", "memory", "--listen", "127.0.0.1:0",
                            "--fault", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, bad
        assert "--fault" in r.stderr, r.stderr


def test_admin_endpoint_changes_take_effect_and_delete_clears(start_server):
    srv = start_server("--store", "memory")
    ec2 = client(srv)
    ec2.describe_addresses()

    status, doc = admin(srv, "PUT", {"faults": ["DescribeAddresses:throttle=1"]})
    assert status == 200, doc
    assert doc["faults"] == ["DescribeAddresses:throttle=1"]
    expect_error(ec2.describe_addresses, "RequestLimitExceeded", 503)

    # the structured form, as GET shows it, replaces the whole setting
    status, doc = admin(srv, "PUT", {"rules": {"DescribeAddresses": {"internal_error": 1.0}}})
    assert status == 200, doc
    assert admin(srv, "GET")[1]["rules"] == {"DescribeAddresses": {"internal_error": 1.0}}
    expect_error(ec2.describe_addresses, "InternalError", 500)

    # a GET document can be PUT back as it is
    status, shown = admin(srv, "GET")
    assert admin(srv, "PUT", shown)[0] == 200
    expect_error(ec2.describe_addresses, "InternalError", 500)

    # bad documents are refused and change nothing
    for bad in [{"faults": ["Nope:throttle=1"]}, {"rules": {"*": {"throttle": 3}}}, {"typo": 1}]:
        status, doc = admin(srv, "PUT", bad)
        assert status == 400 and "error" in doc, (bad, doc)
    expect_error(ec2.describe_addresses, "InternalError", 500)

    status, doc = admin(srv, "DELETE")
    assert status == 200 and doc["enabled"] is False
    ec2.describe_addresses()
    assert admin(srv, "GET")[1]["rules"] == {}


def test_metrics_count_injected_faults(start_server):
    srv = start_server("--store", "memory", "--fault", "DescribeTags:throttle=1")
    ec2 = client(srv)
    expect_error(ec2.describe_tags, "RequestLimitExceeded", 503)
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'action="DescribeTags"' in text and 'code="RequestLimitExceeded"' in text


def test_consistency_delay(start_server):
    srv = start_server("--store", "memory", "--consistency-delay", "1500ms")
    ec2 = client(srv)
    a = allocate(ec2)
    # at once: the allocation is not visible yet, as EC2 documents for Describe* after a mutation
    assert ec2.describe_addresses()["Addresses"] == []
    expect_error(ec2.describe_addresses, "InvalidAllocationID.NotFound", 400, AllocationIds=[a["AllocationId"]])
    # mutations see the latest state: tagging the new address works at once
    ec2.create_tags(Resources=[a["AllocationId"]], Tags=[{"Key": "k", "Value": "v"}])
    # another account is not affected
    other = client(srv)
    other_address = allocate(other)
    time.sleep(1.7)
    addrs = ec2.describe_addresses()["Addresses"]
    assert [x["AllocationId"] for x in addrs] == [a["AllocationId"]]
    assert addrs[0]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert [x["AllocationId"] for x in other.describe_addresses()["Addresses"]] == [other_address["AllocationId"]]

    # a release is also seen late
    ec2.release_address(AllocationId=a["AllocationId"])
    assert [x["AllocationId"] for x in ec2.describe_addresses()["Addresses"]] == [a["AllocationId"]]
    time.sleep(1.7)
    assert ec2.describe_addresses()["Addresses"] == []


def test_consistency_delay_through_the_admin_endpoint(start_server):
    srv = start_server("--store", "memory")
    ec2 = client(srv)
    a = allocate(ec2)
    assert len(ec2.describe_addresses()["Addresses"]) == 1
    assert admin(srv, "PUT", {"consistency_delay": "1s"})[0] == 200
    ec2.release_address(AllocationId=a["AllocationId"])
    assert len(ec2.describe_addresses()["Addresses"]) == 1
    time.sleep(1.2)
    assert ec2.describe_addresses()["Addresses"] == []
    # turned off: reads are current again at once
    assert admin(srv, "DELETE")[0] == 200
    allocate(ec2)
    assert len(ec2.describe_addresses()["Addresses"]) == 1


def test_refused_under_strict_auth(start_server, tmp_path):
    creds = tmp_path / "credentials.toml"
    creds.write_text('[[user]]\nname = "ci"\naccess_key_id = "AKIAEIPDTEST00000001"\n'
                     'secret_access_key = "s3cret"\naccount_id = "111122223333"\n')
    srv = start_server("--store", "memory", "--auth", "strict", "--credentials", str(creds))
    for method, body in [("GET", None), ("PUT", {"faults": ["*:throttle=1"]}), ("DELETE", None)]:
        status, doc = admin(srv, method, body)
        assert status == 403, (method, doc)
        assert "AccessDenied" in doc.get("raw", ""), doc
