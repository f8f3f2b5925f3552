"""Helpers shared by the eipd end-to-end tests (server process, clients, raw requests)."""
from __future__ import annotations

import ipaddress
import os
import random
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POOL = ipaddress.ip_network("198.18.0.0/15")
ALLOC_RE = re.compile(r"^eipalloc-[0-9a-f]{17}$")
ASSOC_RE = re.compile(r"^eipassoc-[0-9a-f]{17}$")
DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."
AMI = "ami-12c6146b"
_rng = random.SystemRandom()


# --------------------------------------------------------------------------- server process

def eipd_bin() -> Path:
    env = os.environ.get("EIPD_BIN")
    if env:
        return Path(env)
    return REPO_ROOT / "target" / "debug" / "eipd"


def eipd(*args, **kw) -> subprocess.CompletedProcess:
    """Runs an eipd subcommand other than serve (export, import, …)."""
    return subprocess.run([str(eipd_bin()), *args], capture_output=True, text=True, timeout=120, **kw)


def ensure_built() -> Path:
    binary = eipd_bin()
    if not binary.exists() and not os.environ.get("EIPD_BIN"):
        subprocess.run(["cargo", "build"], cwd=REPO_ROOT, check=True)
    if not binary.exists():
        pytest.fail(f"eipd binary not found at {binary}", pytrace=False)
    return binary


class Server:
    """One eipd process listening on an ephemeral port."""

    def __init__(self, *args: str, startup_timeout: float = 30.0, env: dict[str, str] | None = None):
        binary = ensure_built()
        self.log = tempfile.NamedTemporaryFile(prefix="eipd-", suffix=".log", delete=False)
        self.argv = [str(binary), "serve", "--listen", "127.0.0.1:0", *args]
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
        )
        self.url = self._read_url(startup_timeout)
        # keep draining stdout so the server can never block on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"http://\S+", buf)
                if m and b"\n" in buf[m.start():]:
                    return m.group(0).decode().rstrip("/")
            elif self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail(
            f"eipd did not announce its URL (argv={self.argv}, rc={self.proc.returncode}, "
            f"stdout={buf!r}, stderr={self.stderr_tail()!r})",
            pytrace=False,
        )

    def _drain(self):
        try:
            while self.proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def stderr_tail(self, n: int = 4000) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def health(url: str) -> tuple[int, dict]:
    """GET /health: the status code and the JSON body (200 ok, 503 degraded)."""
    import json
    try:
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --------------------------------------------------------------------------- clients

def random_account() -> str:
    return str(_rng.randint(10**11, 10**12 - 1))


def make_client(endpoint: str, account: str, region: str = "us-east-1"):
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="dummy-secret",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def expect_error(fn, code: str, status: int = 400, **kwargs) -> dict:
    """Call fn(**kwargs), expect a ClientError with this code and HTTP status; return response."""
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    resp = ei.value.response
    got = (resp["Error"].get("Code"), resp["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), f"expected {(code, status)}, got {got}: {resp['Error']}"
    assert resp["ResponseMetadata"].get("RequestId"), "error response without a request id"
    return resp


def raw_post(endpoint: str, params, *, account: str = "000000000000", region: str = "us-east-1",
             sign: bool = True, authorization: str | None = None):
    """POST a form to eipd; returns (status, body_text, headers)."""
    body = urllib.parse.urlencode(params)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    url = endpoint.rstrip("/") + "/"
    if sign:
        req = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(Credentials(account, "dummy-secret"), "ec2", region).add_auth(req)
        headers = dict(req.headers.items())
    if authorization is not None:
        headers["Authorization"] = authorization
        headers.setdefault("X-Amz-Date", "20260101T000000Z")
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers.items())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers.items())


def bench_authorization(region: str = "us-east-1", akid: str = "AKIAIOSFODNN7EXAMPLE") -> str:
    """The static dummy SigV4 header that simple load generators send."""
    return (f"AWS4-HMAC-SHA256 Credential={akid}/20260101/{region}/ec2/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64)


# --------------------------------------------------------------------------- EC2 helpers

def allocate(ec2, **kw) -> dict:
    kw.setdefault("Domain", "vpc")
    r = ec2.allocate_address(**kw)
    return r


def describe_address(ec2, allocation_id: str) -> dict:
    addrs = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
    assert len(addrs) == 1, addrs
    return addrs[0]


def default_vpc(ec2) -> dict:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return vpcs[0]


def default_subnets(ec2) -> list:
    vpc_id = default_vpc(ec2)["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert subnets, "default VPC has no subnets"
    return subnets


def run_instance(ec2, subnet_id: str | None = None) -> dict:
    kw = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    if subnet_id:
        kw["SubnetId"] = subnet_id
    r = ec2.run_instances(**kw)
    assert len(r["Instances"]) == 1
    return describe_instance(ec2, r["Instances"][0]["InstanceId"])


def describe_instance(ec2, instance_id: str) -> dict:
    res = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    insts = [i for r in res for i in r["Instances"]]
    assert len(insts) == 1, insts
    return insts[0]


def describe_eni(ec2, eni_id: str) -> dict:
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]
    assert len(enis) == 1, enis
    return enis[0]


def make_vpc(ec2, cidr: str = "10.0.0.0/16", subnet_cidr: str = "10.0.1.0/24",
             attach_igw: bool = True) -> tuple[str, str]:
    """A non-default VPC with one subnet (MapPublicIpOnLaunch false), optionally an IGW."""
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    if attach_igw:
        igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    return vpc_id, subnet_id


def random_hex(n: int) -> str:
    return "".join(_rng.choice("0123456789abcdef") for _ in range(n))


def random_pool_ip(pool=DEFAULT_POOL) -> str:
    """A random host address of the upper half of the pool (unlikely to be handed out)."""
    hosts = pool.num_addresses
    return str(pool.network_address + _rng.randint(hosts // 2, hosts - 2))


def in_pool(ip: str, pool=DEFAULT_POOL) -> bool:
    return ipaddress.ip_address(ip) in pool


def aws_cli_env(endpoint: str, account: str, region: str, home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "dummy-secret",
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": home,
    })
    return env


def which_aws_v1() -> str | None:
    import sys
    cand = Path(sys.executable).parent / "aws"
    return str(cand) if cand.exists() else shutil.which("aws")
