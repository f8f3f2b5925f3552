"""Operations endpoints (/health, /metrics) and slow or hostile clients."""
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from eipd_helpers import REPO_ROOT, Server, eipd, expect_error, health, make_client, random_account


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


def test_a_half_closed_request_is_answered(endpoint):
    """A client that sends its whole request and then shuts down its side of
    the socket (Connection: close, shutdown(SHUT_WR)) still gets the answer."""
    host, port = endpoint.removeprefix("http://").split(":")
    body = b"Action=DescribeAddresses&Version=2016-11-15"
    request = (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    for _ in range(50):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"<DescribeAddressesResponse" in answer


def test_sigterm_answers_the_requests_in_flight(tmp_path):
    """On SIGTERM eipd stops accepting but answers every request it already
    took (each is slowed to 600 ms here), then exits 0; what it answered is
    there after a restart."""
    data, account = tmp_path / "data", random_account()
    srv = Server("--data-dir", str(data), "--address-limit", "100", "--fault", "AllocateAddress:latency=600ms")
    clients = [make_client(srv.url, account) for _ in range(8)]
    results = []

    def allocate_one(ec2):
        try:
            results.append(ec2.allocate_address(Domain="vpc")["AllocationId"])
        except Exception as e:  # noqa: BLE001 - the test reports what the client saw
            results.append(e)

    threads = [threading.Thread(target=allocate_one, args=(c,)) for c in clients]
    try:
        for t in threads:
            t.start()
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert srv.proc.wait(15) == 0, srv.stderr_tail()
    finally:
        srv.cleanup()
    allocated = [r for r in results if isinstance(r, str)]
    assert len(allocated) == 8, f"requests in flight at SIGTERM got no answer: {results}"
    srv = Server("--data-dir", str(data), "--address-limit", "100")
    try:
        got = {a["AllocationId"] for a in make_client(srv.url, account).describe_addresses()["Addresses"]}
        assert got == set(allocated)
    finally:
        srv.cleanup()


def test_a_second_signal_exits_at_once(tmp_path):
    srv = Server("--store", "memory", "--fault", "AllocateAddress:latency=20s")
    ec2 = make_client(srv.url, random_account())
    waiting = threading.Thread(target=lambda: expect_any_error(ec2.allocate_address), daemon=True)
    try:
        waiting.start()
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert srv.proc.poll() is None, "the first signal must wait for the request in flight"
        srv.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert srv.proc.wait(10) == 130
        assert time.monotonic() - started < 5
    finally:
        srv.cleanup()


def expect_any_error(call):
    try:
        call(Domain="vpc")
    except Exception:  # noqa: BLE001 - the server is gone: any failure is expected
        return


# ---------------------------------------------------------------- health of the store

def pg_ctl(data_dir: str, *args: str):
    """pg_ctl of Debian's newest PostgreSQL, as the postgres user when root."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    command = [str(bins[-1] / "pg_ctl"), "-D", data_dir, *args]
    if os.getuid() == 0:
        command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(shlex.quote(c) for c in command)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def throwaway_postgres() -> tuple[int, str, str]:
    """A PostgreSQL cluster of the test's own (scripts/pg-throwaway): its
    port, URL and data directory; the test stops it."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin")):
        if os.environ.get("EIPD_REQUIRE_POSTGRES") == "1":
            pytest.fail("EIPD_REQUIRE_POSTGRES=1 but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = subprocess.run([str(REPO_ROOT / "scripts" / "pg-throwaway"), str(port)],
                             check=True, capture_output=True, text=True, timeout=120)
    url, data_dir = started.stdout.split()
    return port, url, data_dir


def test_health_is_degraded_while_postgresql_is_down():
    port, url, data_dir = throwaway_postgres()
    srv = Server("--store", url)
    try:
        status, body = health(srv.url)
        assert (status, body["status"]) == (200, "ok"), body
        pg_ctl(data_dir, "-m", "fast", "stop")
        status, body = health(srv.url)
        assert (status, body["status"]) == (503, "degraded"), body
        assert "PostgreSQL" in body["reason"], body
        with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
            assert "eipd_store_writable 0" in r.read().decode()
        # A temporary failure that SDKs retry; the test's client does not.
        expect_error(make_client(srv.url, random_account()).allocate_address, "ServiceUnavailable", 503, Domain="vpc")
        pg_ctl(data_dir, "-w", "-l", f"{data_dir}/server.log",
               "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1", "start")
        deadline = time.monotonic() + 20
        while health(srv.url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert health(srv.url)[1]["status"] == "ok", "eipd did not recover when PostgreSQL came back"
        make_client(srv.url, random_account()).allocate_address(Domain="vpc")
    finally:
        srv.cleanup()
        subprocess.run([str(REPO_ROOT / "scripts" / "pg-throwaway"), "stop", data_dir], capture_output=True)


def postgres_processes(data_dir: str) -> list[int]:
    """The postmaster of a cluster and every process it started."""
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid …: comm may hold spaces, so split after it.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if parent == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_a_frozen_postgresql_is_answered_not_waited_for():
    """A PostgreSQL that stops answering without closing its connections
    (frozen, or cut off by the network) costs a request a bounded wait and a
    503, never a hang; once it answers again, so does eipd, with every
    acknowledged change."""
    _, url, data_dir = throwaway_postgres()
    srv = Server("--store", url)
    frozen: list[int] = []
    try:
        ec2 = make_client(srv.url, random_account())
        kept = ec2.allocate_address(Domain="vpc")["AllocationId"]
        frozen = postgres_processes(data_dir)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        # A write waits at most the writer's 10 s deadline per round trip; a
        # read at most the 5 s of its version check. Neither hangs.
        for call, limit in [(ec2.allocate_address, 25), (ec2.describe_addresses, 15)]:
            sent = time.monotonic()
            kwargs = {"Domain": "vpc"} if call == ec2.allocate_address else {}
            resp = expect_error(call, "ServiceUnavailable", 503, **kwargs)
            waited = time.monotonic() - sent
            assert waited < limit, f"{call.__name__} answered after {waited:.1f} s: {resp['Error']}"
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen = []
        deadline = time.monotonic() + 30
        while True:
            try:
                later = ec2.allocate_address(Domain="vpc")["AllocationId"]
                break
            except Exception as e:  # noqa: BLE001 - the writer reconnects meanwhile
                assert getattr(e, "response", {}).get("Error", {}).get("Code") == "ServiceUnavailable", e
                assert time.monotonic() < deadline, "writes did not resume once PostgreSQL answered again"
                time.sleep(0.5)
        ids = {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
        assert {kept, later} <= ids
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        srv.cleanup()
        subprocess.run([str(REPO_ROOT / "scripts" / "pg-throwaway"), "stop", data_dir], capture_output=True)


def test_connections_over_the_cap_get_a_clear_answer():
    """Idle connections cannot use up eipd: past --max-connections a new one
    is answered 503 ServiceUnavailable at once, and served again once a slot
    is free."""
    srv = Server("--store", "memory", "--max-connections", "4")
    host, port = srv.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.3)  # the server has taken all four
        ec2 = make_client(srv.url, random_account())
        started = time.monotonic()
        resp = expect_error(ec2.describe_addresses, "ServiceUnavailable", 503)
        assert time.monotonic() - started < 5
        assert "--max-connections" in resp["Error"]["Message"]
        idle.pop().close()
        time.sleep(0.3)
        assert ec2.describe_addresses()["Addresses"] == []
    finally:
        for s in idle:
            s.close()
        srv.cleanup()


def test_start_up_names_its_urls_and_files_and_refuses_a_file_as_data_dir(tmp_path):
    """The first lines a user reads say where everything is and how to stop;
    a --data-dir that is a file is named as such."""
    data = tmp_path / "data"
    srv = Server("--data-dir", str(data))
    try:
        log = srv.stderr_tail(20000)
        for needle in [f"{srv.url}/dashboard", f"{srv.url}/health", f"{srv.url}/metrics", "Ctrl-C",
                       str(data / "eipd.redb"), str(data / "eipd-journal")]:
            assert needle in log, f"{needle} not in the start-up lines:\n{log}"
        assert "\x1b[" not in log, "colour codes in a redirected log"
    finally:
        srv.cleanup()
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    done = eipd("serve", "--listen", "127.0.0.1:0", "--data-dir", str(a_file))
    assert done.returncode != 0
    assert f"--data-dir {a_file} is a file, not a directory" in done.stderr, done.stderr
