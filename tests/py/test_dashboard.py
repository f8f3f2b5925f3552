"""The dashboard: its JSON API, and the page itself rendered by headless
Chromium (Debian's chromium package) against a populated server."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from eipd_helpers import REPO_ROOT, allocate, default_subnets, make_client, random_account, run_instance

CHROMIUM = "/usr/bin/chromium"


def get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def get_json(url: str) -> dict:
    status, body, headers = get(url)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def populate(endpoint: str) -> dict:
    """Two accounts: A with an address on an instance, one on a second private IP
    of a standalone interface, and a free one, all tagged; B with one address."""
    a_id, b_id = random_account(), random_account()
    a, b = make_client(endpoint, a_id), make_client(endpoint, b_id, "eu-west-1")
    subnet = default_subnets(a)[0]["SubnetId"]

    inst = run_instance(a, subnet)
    a.create_tags(Resources=[inst["InstanceId"]], Tags=[{"Key": "Name", "Value": "web-1"}])
    on_instance = allocate(a, TagSpecifications=[{"ResourceType": "elastic-ip",
                                                  "Tags": [{"Key": "team", "Value": "blue"}]}])
    assoc_instance = a.associate_address(AllocationId=on_instance["AllocationId"],
                                         InstanceId=inst["InstanceId"])["AssociationId"]

    eni = a.create_network_interface(SubnetId=subnet, SecondaryPrivateIpAddressCount=1,
                                     Description="dashboard test eni")["NetworkInterface"]
    secondary = [p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"] if not p["Primary"]][0]
    on_eni = allocate(a, TagSpecifications=[{"ResourceType": "elastic-ip",
                                             "Tags": [{"Key": "purpose", "Value": "nat-gw"}]}])
    assoc_eni = a.associate_address(AllocationId=on_eni["AllocationId"],
                                    NetworkInterfaceId=eni["NetworkInterfaceId"],
                                    PrivateIpAddress=secondary)["AssociationId"]
    free = allocate(a)
    a.create_tags(Resources=[free["AllocationId"]], Tags=[{"Key": "env", "Value": "spare"}])

    b_addr = allocate(b, TagSpecifications=[{"ResourceType": "elastic-ip",
                                             "Tags": [{"Key": "owner", "Value": "account-b"}]}])

    # C: what a test just did — a release, an association ended, a refusal.
    c_id = random_account()
    c = make_client(endpoint, c_id)
    released = allocate(c)
    c.release_address(AllocationId=released["AllocationId"])
    c_eni = c.create_network_interface(SubnetId=default_subnets(c)[0]["SubnetId"])["NetworkInterface"]
    kept = allocate(c, TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "edge-ip"}]}])
    c_assoc = c.associate_address(AllocationId=kept["AllocationId"],
                                  NetworkInterfaceId=c_eni["NetworkInterfaceId"])["AssociationId"]
    c.disassociate_address(AssociationId=c_assoc)
    with pytest.raises(ClientError) as refused:
        c.release_address(AllocationId="eipalloc-0123456789abcdef0")
    return {
        "c": c_id, "released": released, "kept": kept, "c_assoc": c_assoc,
        "refused": refused.value.response,
        "a": a_id, "b": b_id, "instance": inst["InstanceId"], "eni": eni["NetworkInterfaceId"],
        "secondary": secondary, "on_instance": on_instance, "assoc_instance": assoc_instance,
        "on_eni": on_eni, "assoc_eni": assoc_eni, "free": free, "b_addr": b_addr,
    }


@pytest.fixture(scope="module")
def populated():
    from eipd_helpers import Server

    srv = Server("--store", "memory")
    try:
        yield srv, populate(srv.url)
    finally:
        srv.cleanup()


# --------------------------------------------------------------------------- JSON API

def test_scopes_list_every_account_and_region(populated):
    srv, w = populated
    doc = get_json(srv.url + "/dashboard/api/scopes")
    scopes = {(s["account"], s["region"]): s for s in doc["scopes"]}
    assert scopes[(w["a"], "us-east-1")]["addresses"] == 3
    assert scopes[(w["a"], "us-east-1")]["associated"] == 2
    assert scopes[(w["a"], "us-east-1")]["instances"] == 1
    assert scopes[(w["b"], "eu-west-1")]["addresses"] == 1
    assert doc["addresses"] >= 4


def test_state_shows_addresses_associations_interfaces_instances(populated):
    srv, w = populated
    s = get_json(f"{srv.url}/dashboard/api/state?account={w['a']}&region=us-east-1")
    assert s["exists"] is True
    assert s["counts"]["addresses"] == 3 and s["counts"]["associations"] == 2 and s["counts"]["instances"] == 1
    by_alloc = {a["allocation_id"]: a for a in s["addresses"]}
    x = by_alloc[w["on_instance"]["AllocationId"]]
    assert x["public_ip"] == w["on_instance"]["PublicIp"]
    assert x["association_id"] == w["assoc_instance"]
    assert x["instance_id"] == w["instance"]
    assert x["tags"] == {"team": "blue"}
    y = by_alloc[w["on_eni"]["AllocationId"]]
    assert (y["network_interface_id"], y["private_ip"], y["instance_id"]) == (w["eni"], w["secondary"], None)
    z = by_alloc[w["free"]["AllocationId"]]
    assert z["association_id"] is None and z["tags"] == {"env": "spare"}

    assocs = {a["association_id"]: a for a in s["associations"]}
    assert set(assocs) == {w["assoc_instance"], w["assoc_eni"]}
    assert assocs[w["assoc_eni"]]["primary_private_ip"] is False

    enis = {n["id"]: n for n in s["interfaces"]}
    eni = enis[w["eni"]]
    assert eni["status"] == "available" and eni["description"] == "dashboard test eni"
    ips = {p["private_ip"]: p for p in eni["private_ips"]}
    assert ips[w["secondary"]]["public_ip"] == w["on_eni"]["PublicIp"]
    assert ips[w["secondary"]]["elastic"] is True

    inst = s["instances"][0]
    assert inst["id"] == w["instance"] and inst["state"] == "running"
    assert inst["public_ip"] == w["on_instance"]["PublicIp"] and inst["public_ip_elastic"] is True
    assert inst["tags"] == {"Name": "web-1"}
    assert enis[inst["interfaces"][0]["id"]]["attachment"]["instance_id"] == w["instance"]

    assert s["counts"]["vpcs"] == 1 and s["counts"]["subnets"] == 3 and s["counts"]["internet_gateways"] == 1
    assert s["vpcs"][0]["is_default"] is True


def test_state_of_other_account_and_of_an_unknown_one(populated):
    srv, w = populated
    s = get_json(f"{srv.url}/dashboard/api/state?account={w['b']}&region=eu-west-1")
    assert [a["allocation_id"] for a in s["addresses"]] == [w["b_addr"]["AllocationId"]]
    assert s["addresses"][0]["tags"] == {"owner": "account-b"}
    s = get_json(f"{srv.url}/dashboard/api/state?account=999999999999&region=ap-south-1")
    assert s["exists"] is False and s["addresses"] == [] and s["counts"]["vpcs"] == 1
    status, body, _ = get(srv.url + "/dashboard/api/state")
    assert status == 400 and "account" in json.loads(body)["error"]


def test_page_is_self_contained(populated):
    srv, _ = populated
    status, body, headers = get(srv.url + "/dashboard")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<script>" in body and "<style>" in body
    assert "http://" not in body and "https://" not in body


def test_recent_requests_api_names_outcome_and_subjects(populated):
    srv, w = populated
    refused = w["refused"]
    errors = get_json(f"{srv.url}/dashboard/api/requests?account={w['c']}&errors=1")["requests"]
    assert len(errors) == 1, errors
    e = errors[0]
    assert (e["action"], e["status"], e["code"]) == ("ReleaseAddress", 400, "InvalidAllocationID.NotFound")
    assert e["message"] == refused["Error"]["Message"]
    assert e["request_id"] == refused["ResponseMetadata"]["RequestId"]
    assert ["AllocationId", "eipalloc-0123456789abcdef0"] in e["subjects"]
    assert (e["account"], e["region"]) == (w["c"], "us-east-1") and e["latency_us"] > 0

    everything = get_json(f"{srv.url}/dashboard/api/requests?account={w['c']}&limit=1000")["requests"]
    assert [r["action"] for r in everything][:3] == ["ReleaseAddress", "DisassociateAddress", "AssociateAddress"]
    assert all(r["account"] == w["c"] for r in everything)
    assert [r["seq"] for r in everything] == sorted((r["seq"] for r in everything), reverse=True)
    releases = get_json(f"{srv.url}/dashboard/api/requests?action=ReleaseAddress&limit=1000")["requests"]
    assert {r["account"] for r in releases} == {w["c"]}
    server = get_json(f"{srv.url}/dashboard/api/scopes")["server"]
    assert (server["flavor"], server["auth"], server["faults"]) == ("aws", "open", [])
    every = get_json(f"{srv.url}/dashboard/api/addresses")
    assert every["total"] == len(every["addresses"]) == 5
    assert {a["account"] for a in every["addresses"]} == {w["a"], w["b"], w["c"]}


def test_refused_under_strict_auth(start_server, tmp_path):
    creds = tmp_path / "credentials.toml"
    creds.write_text('[[user]]\nname = "ci"\naccess_key_id = "AKIAEIPDTEST00000001"\n'
                     'secret_access_key = "s3cret"\naccount_id = "111122223333"\n')
    srv = start_server("--store", "memory", "--auth", "strict", "--credentials", str(creds))
    for path in ["/dashboard", "/dashboard/api/scopes", "/dashboard/api/state?account=111122223333&region=us-east-1",
                 "/dashboard/api/requests", "/dashboard/api/addresses"]:
        status, body, _ = get(srv.url + path)
        assert status == 403, path
        assert "AccessDenied" in body


# --------------------------------------------------------------------------- headless Chromium

def chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("EIPD_REQUIRE_CHROMIUM") == "1":
        pytest.fail(reason + " and EIPD_REQUIRE_CHROMIUM=1", pytrace=False)
    pytest.skip(reason)


def run_chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="eipd-chromium-")
    try:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str) -> str:
    r = run_chromium("--dump-dom", url)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "<html" in r.stdout, r.stderr[-3000:]
    return r.stdout


def test_chromium_shows_the_default_scope(populated):
    srv, w = populated
    dom = dump_dom(srv.url + "/dashboard")
    # the default scope is the first with addresses; both accounts are selectable
    assert f"{w['a']} / us-east-1" in dom or f"{w['b']} / eu-west-1" in dom
    assert w["a"] in dom and w["b"] in dom


def test_chromium_shows_addresses_associations_instance_and_tags(populated):
    srv, w = populated
    dom = dump_dom(f"{srv.url}/dashboard?account={w['a']}&region=us-east-1")
    for needle in [
        w["on_instance"]["PublicIp"], w["on_instance"]["AllocationId"], w["assoc_instance"],
        w["on_eni"]["PublicIp"], w["on_eni"]["AllocationId"], w["assoc_eni"], w["eni"], w["secondary"],
        w["free"]["AllocationId"], w["instance"], "team=blue", "purpose=nat-gw", "env=spare", "Name=web-1",
        "dashboard test eni", "running",
    ]:
        assert needle in dom, f"{needle} not shown"
    # account B's address is not in account A's view
    assert w["b_addr"]["AllocationId"] not in dom
    assert 'id="sec-addresses" data-rows="3"' in dom
    assert 'id="sec-associations" data-rows="2"' in dom


def test_chromium_search_filters_rows(populated):
    srv, w = populated
    dom = dump_dom(f"{srv.url}/dashboard?account={w['a']}&region=us-east-1&q=nat-gw")
    assert 'id="sec-addresses" data-rows="1"' in dom
    assert w["on_eni"]["AllocationId"] in dom
    assert w["free"]["AllocationId"] not in dom
    dom = dump_dom(f"{srv.url}/dashboard?account={w['a']}&region=us-east-1&q={w['instance']}")
    assert 'id="sec-addresses" data-rows="1"' in dom and 'id="sec-instances" data-rows="1"' in dom
    assert w["assoc_instance"] in dom and w["assoc_eni"] not in dom


def test_chromium_other_account(populated):
    srv, w = populated
    dom = dump_dom(f"{srv.url}/dashboard?account={w['b']}&region=eu-west-1")
    assert w["b_addr"]["AllocationId"] in dom and "owner=account-b" in dom
    assert w["on_instance"]["AllocationId"] not in dom


def test_chromium_shows_what_just_happened(populated):
    """Recent requests with the refusal's code, message and request id; the
    history of the release and the ended association; flavour, faults and
    the reset button; Name tags as labels."""
    srv, w = populated
    url = f"{srv.url}/dashboard?account={w['c']}&region=us-east-1"
    dom = dump_dom(url)
    refused = w["refused"]
    for needle in ["InvalidAllocationID.NotFound", refused["ResponseMetadata"]["RequestId"], "aws flavour", "open auth",
                   "no faults", w["released"]["AllocationId"], w["c_assoc"], "released", "disassociated",
                   '<span class="label">edge-ip</span>']:
        assert needle in dom, f"{needle} not shown"
    assert 'id="sec-history" data-rows="2"' in dom
    assert '<button id="reset"' in dom and '<button id="reset" title' in dom and " hidden" not in dom.split('id="reset"')[1][:120]
    errors = dump_dom(url + "&errors=1")
    assert 'id="sec-requests" data-rows="1"' in errors
    assert "InvalidAllocationID.NotFound" in errors
    releases = dump_dom(url + "&action=ReleaseAddress")
    assert 'id="sec-requests" data-rows="2"' in releases


def test_chromium_all_accounts_view(populated):
    srv, w = populated
    dom = dump_dom(f"{srv.url}/dashboard?account=*&region=*")
    assert 'id="sec-all-addresses" data-rows="5"' in dom
    for needle in [w["on_instance"]["AllocationId"], w["b_addr"]["AllocationId"], w["kept"]["AllocationId"], w["a"], w["b"]]:
        assert needle in dom, f"{needle} not shown"
    # every account's requests in this view
    assert 'id="sec-requests" data-rows="0"' not in dom


def test_chromium_shows_active_faults():
    from eipd_helpers import Server

    srv = Server("--store", "memory", "--fault", "ReleaseAddress:latency=1ms", "--consistency-delay", "250ms")
    try:
        make_client(srv.url, random_account()).allocate_address(Domain="vpc")
        dom = dump_dom(srv.url + "/dashboard")
        assert "faults: " in dom and "ReleaseAddress" in dom and "consistency delay 250 ms" in dom
    finally:
        srv.cleanup()


@pytest.mark.parametrize("width", [1280, 1920])
def test_chromium_no_overflow_and_screenshot(populated, tmp_path, width):
    srv, w = populated
    url = f"{srv.url}/dashboard?account={w['a']}&region=us-east-1"
    r = run_chromium("--dump-dom", f"--window-size={width},900", url)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'data-overflow="false"' in r.stdout, f"the page is wider than {width} px"

    shot = tmp_path / "dashboard.png"
    r = run_chromium(f"--screenshot={shot}", f"--window-size={width},1100", "--hide-scrollbars", url)
    assert r.returncode == 0, r.stderr[-3000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    keep = os.environ.get("EIPD_DASHBOARD_SCREENSHOTS")  # e.g. docs, to refresh the docs' screenshots
    if keep:
        Path(REPO_ROOT / keep / f"dashboard-{width}.png").write_bytes(data)
