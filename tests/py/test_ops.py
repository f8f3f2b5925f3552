"""Operations endpoints (/health, /metrics) and slow or hostile clients."""
import json
import socket
import time
import urllib.request

from eipd_helpers import expect_error


def test_health_reports_status_and_store_size(endpoint, ec2):
    ec2.allocate_address(Domain="vpc")
    with urllib.request.urlopen(endpoint + "/health", timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "ok"
    assert body["addresses"] >= 1


def test_metrics_count_requests_by_action_and_code(endpoint, ec2):
    ec2.allocate_address(Domain="vpc")
    expect_error(ec2.disassociate_address, "InvalidAssociationID.NotFound", AssociationId="eipassoc-0123456789abcdef0")
    with urllib.request.urlopen(endpoint + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert 'eipd_requests_total{action="AllocateAddress",code="OK"}' in text
    assert 'eipd_requests_total{action="DisassociateAddress",code="InvalidAssociationID.NotFound"}' in text
    assert 'eipd_request_duration_seconds_bucket{le="' in text
    assert "eipd_addresses " in text


def test_slow_client_is_cut_off_and_does_not_block_others(endpoint, ec2):
    host, port = endpoint.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)), timeout=30)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Ty")  # and then nothing
    started = time.monotonic()
    # Others are served meanwhile.
    assert ec2.describe_addresses()["Addresses"] == []
    # The server hangs up on the slow client after its header timeout (10 s).
    data = slow.recv(4096)
    waited = time.monotonic() - started
    slow.close()
    assert waited < 25, f"the slow connection stayed open {waited:.1f}s"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
