"""Crash test: concurrent mutations against the embedded store, `kill -9` at
random moments, 20 times; after each restart every acknowledged mutation is
present, nothing is torn, and every invariant holds."""
import random
import threading
import time

import botocore.exceptions
import pytest

from eipd_helpers import AMI, Server, make_client

ROUNDS = 20
WORKERS = 8


class Worker:
    """Cycles allocate → associate → disassociate → release on its own account
    and instance, keeping the acknowledged state and the one op in flight."""

    def __init__(self, account: str):
        self.account = account
        self.instance = None
        self.acked = {}  # allocation id -> association id or None (alive addresses)
        self.pending = None  # (op, allocation id or None) in flight when the server died
        self.acknowledged = 0

    def setup(self, url):
        ec2 = make_client(url, self.account)
        self.instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    def run(self, url, stop: threading.Event):
        ec2 = make_client(url, self.account)
        rng = random.Random()
        self.pending = None
        while not stop.is_set():
            alive = list(self.acked)
            if not alive or (len(alive) < 3 and rng.random() < 0.3):
                op, target = "allocate", None
            else:
                target = rng.choice(alive)
                assoc = self.acked[target]
                op = "disassociate" if assoc else rng.choice(["associate", "associate", "release"])
            self.pending = (op, target)
            try:
                if op == "allocate":
                    target = ec2.allocate_address(Domain="vpc")["AllocationId"]
                    self.acked[target] = None
                elif op == "associate":
                    # The instance holds one address at a time: the previous one's association ends.
                    new = ec2.associate_address(AllocationId=target, InstanceId=self.instance)["AssociationId"]
                    for other, a in self.acked.items():
                        if a is not None:
                            self.acked[other] = None
                    self.acked[target] = new
                elif op == "disassociate":
                    ec2.disassociate_address(AssociationId=self.acked[target])
                    self.acked[target] = None
                else:
                    ec2.release_address(AllocationId=target)
                    del self.acked[target]
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError, ConnectionError):
                return  # the server died with this op in flight
            except botocore.exceptions.ClientError as e:
                raise AssertionError(f"{op} {target}: {e.response['Error']}") from e
            self.pending = None
            self.acknowledged += 1

    def verify(self, url) -> tuple[int, int]:
        """Returns (lost, torn) and resyncs the acknowledged state with what survived."""
        ec2 = make_client(url, self.account)
        actual = {a["AllocationId"]: a for a in ec2.describe_addresses()["Addresses"]}
        op, target = self.pending or (None, None)
        lost = 0
        for alloc, assoc in self.acked.items():
            got = actual.get(alloc)
            if got is None:
                if not (op == "release" and target == alloc):
                    lost += 1
                continue
            got_assoc = got.get("AssociationId")
            if got_assoc != assoc:
                in_flight = (op == "associate" and (target == alloc or assoc is not None)) or \
                            (op == "disassociate" and target == alloc and got_assoc is None)
                if not in_flight:
                    lost += 1
        extra = set(actual) - set(self.acked)
        if len(extra) > (1 if op == "allocate" else 0):
            lost += len(extra)
        torn = 0
        instance = ec2.describe_instances(InstanceIds=[self.instance])["Reservations"][0]["Instances"][0]
        eni = instance["NetworkInterfaces"][0]
        eni_public = eni.get("Association", {}).get("PublicIp")
        associated = [a for a in actual.values() if a.get("AssociationId")]
        if len(associated) > 1:
            torn += 1
        for a in associated:
            # An association without its interface's public IP is a torn operation.
            if a.get("InstanceId") != self.instance or eni_public != a["PublicIp"] \
                    or instance.get("PublicIpAddress") != a["PublicIp"]:
                torn += 1
        if not associated and eni_public and eni_public in {a["PublicIp"] for a in actual.values()}:
            torn += 1
        # Continue from what survived: the in-flight op may or may not have happened.
        self.acked = {k: v.get("AssociationId") for k, v in actual.items()}
        self.pending = None
        return lost, torn


def test_kill_9_loses_nothing_acknowledged(tmp_path):
    data = tmp_path / "data"
    rng = random.Random()
    workers = [Worker(str(rng.randint(10**11, 10**12 - 1))) for _ in range(WORKERS)]
    srv = Server("--data-dir", str(data), "--address-limit", "100")
    for w in workers:
        w.setup(srv.url)
    total_lost = total_torn = 0
    try:
        for _ in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=w.run, args=(srv.url, stop)) for w in workers]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 0.8))
            srv.proc.kill()  # SIGKILL: no chance to flush anything
            srv.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(30)
                assert not t.is_alive(), "a worker hung after the server died"
            srv.cleanup()
            srv = Server("--data-dir", str(data), "--address-limit", "100")
            for w in workers:
                lost, torn = w.verify(srv.url)
                total_lost += lost
                total_torn += torn
    finally:
        srv.cleanup()
    acknowledged = sum(w.acknowledged for w in workers)
    print(f"crash test: {ROUNDS} kill -9 rounds, {acknowledged} mutations acknowledged, "
          f"{total_lost} lost, {total_torn} torn")
    assert acknowledged > ROUNDS * WORKERS, "the load was too light to mean anything"
    assert (total_lost, total_torn) == (0, 0)
