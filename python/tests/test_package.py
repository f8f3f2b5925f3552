"""The eipd wheel's own tests, run by scripts/package-test in a fresh venv that
holds only the wheel, pytest and boto3 (never from the source tree)."""
import socket
import subprocess
import sys
import sysconfig
import urllib.parse
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import eipd

pytest_plugins = ["pytester"]


def test_imported_and_run_from_the_installed_wheel():
    assert Path(eipd.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), eipd.__file__
    binary = Path(eipd.find_eipd_bin())
    assert binary.parent == Path(sysconfig.get_path("scripts")), binary
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["eipd", eipd.__version__]
    via_module = subprocess.run([sys.executable, "-m", "eipd", "--version"], capture_output=True, text=True, check=True)
    assert via_module.stdout == out


def test_server_runs_the_binary_until_stopped():
    with eipd.Server() as server:
        url = urllib.parse.urlsplit(server.endpoint_url)
        assert url.hostname == "127.0.0.1" and url.port
        assert server.health()["status"] == "ok"
        ec2 = server.client(account=eipd.random_account())
        assert ec2.allocate_address(Domain="vpc")["AllocationId"].startswith("eipalloc-")
    assert server.endpoint_url is None and not server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((url.hostname, url.port), timeout=5).close()


def test_reset_empties_every_account_and_the_throwaway_data_dir_goes():
    with eipd.Server(store="embedded") as server:
        data_dir = server.data_dir
        assert (data_dir / "eipd.redb").exists()
        accounts = [eipd.random_account() for _ in range(2)]
        for account in accounts:
            server.client(account=account, region="eu-west-1").allocate_address(Domain="vpc")
        server.reset()
        for account in accounts:
            assert server.client(account=account, region="eu-west-1").describe_addresses()["Addresses"] == []
    assert not data_dir.exists()


def test_flags_reach_eipd():
    with eipd.Server("--address-limit", "1") as server:
        ec2 = server.client(account=eipd.random_account())
        ec2.allocate_address(Domain="vpc")
        with pytest.raises(ClientError) as e:
            ec2.allocate_address(Domain="vpc")
        assert e.value.response["Error"]["Code"] == "AddressLimitExceeded"


def test_a_server_that_dies_at_start_says_why():
    with pytest.raises(eipd.ServerError) as e:
        eipd.Server("--pool", "banana").start()
    assert "exited with status 2" in str(e.value)
    assert '"banana" is not an IPv4 CIDR' in str(e.value)  # eipd's own words, from its standard error

    with eipd.Server() as first:
        port = urllib.parse.urlsplit(first.endpoint_url).port
        with pytest.raises(eipd.ServerError) as e:
            eipd.Server(port=port).start()
        assert "exited with status 1" in str(e.value)
        assert "the port is taken" in str(e.value)
        assert first.health()["status"] == "ok"


def test_eipd_bin_overrides_and_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("EIPD_BIN", str(tmp_path / "no-such-eipd"))
    with pytest.raises(FileNotFoundError, match="EIPD_BIN"):
        eipd.Server().start()


def test_plugin_uses_a_running_eipd_from_eipd_endpoint_url(pytester, monkeypatch):
    """The service-container mode: fixtures against an eipd the plugin did not start."""
    with eipd.Server() as server:
        account = eipd.random_account()
        server.client(account=account).allocate_address(Domain="vpc")
        pytester.makepyfile(f"""
            def test_sees_the_external_server(eipd_server, eipd_ec2):
                assert eipd_server.endpoint_url == {server.endpoint_url!r}
                assert eipd_ec2.describe_addresses()["Addresses"] == []
                other = eipd_server.client(account={account!r})
                assert len(other.describe_addresses()["Addresses"]) == 1
        """)
        monkeypatch.setenv("EIPD_ENDPOINT_URL", server.endpoint_url)
        result = pytester.runpytest_subprocess("-q")
        result.assert_outcomes(passed=1)


def test_plugin_eipd_args_reach_the_session_server(pytester):
    pytester.makeini("[pytest]\neipd_args = --flavor moto\neipd_region = ap-south-1\n")
    pytester.makepyfile("""
        def test_flavor(eipd_server, eipd_ec2):
            assert eipd_ec2.meta.region_name == "ap-south-1"
            # moto's flavour has no address limit: a sixth address is allowed
            for _ in range(6):
                eipd_ec2.allocate_address(Domain="vpc")
    """)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)
