"""Crash test: concurrent mutations against the embedded store, `kill -9` at
random moments, 20 times; after each restart every acknowledged mutation is
present, nothing is torn, and every invariant holds."""
import random
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import botocore.exceptions
import pytest

from eipd_helpers import AMI, Server, eipd_bin, make_client

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


# ---------------------------------------------------------------- a damaged journal

def journal_frames(data: Path) -> list[tuple[Path, int, int]]:
    """(segment, offset, entry number) of every valid frame of the journal: a
    frame is payload length (u32), CRC-32 of number and payload (u32), entry
    number (u64), payload."""
    frames = []
    for segment in sorted((data / "eipd-journal").glob("*.wal")):
        blob, at, expected = segment.read_bytes(), 0, int(segment.stem)
        while at + 16 <= len(blob):
            length, crc, seq = struct.unpack_from("<IIQ", blob, at)
            payload = blob[at + 16:at + 16 + length]
            if seq != expected or len(payload) != length or zlib.crc32(payload, zlib.crc32(blob[at + 8:at + 16])) != crc:
                break
            frames.append((segment, at, seq))
            at, expected = at + 16 + length, expected + 1
    return frames


def flip_a_payload_byte(segment: Path, offset: int):
    with open(segment, "r+b") as f:
        f.seek(offset + 16 + 2)
        byte = f.read(1)[0]
        f.seek(offset + 16 + 2)
        f.write(bytes([byte ^ 0x20]))


def allocate_some(url: str, account: str, n: int) -> set[str]:
    ec2 = make_client(url, account)
    return {ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(n)}


def test_damage_in_checkpointed_journal_entries_costs_nothing(tmp_path):
    """Entries the records file already holds are not needed again: a flipped
    byte among them must not hide the acknowledged entries after them."""
    data, account = tmp_path / "data", "111122223333"
    srv = Server("--data-dir", str(data), "--address-limit", "100")
    try:
        acked = allocate_some(srv.url, account, 10)
        time.sleep(2.5)  # the checkpointer folds the journal into eipd.redb every second
        acked |= allocate_some(srv.url, account, 10)
        srv.proc.kill()
        srv.proc.wait(10)
    finally:
        srv.cleanup()
    segment, offset, _ = journal_frames(data)[0]
    flip_a_payload_byte(segment, offset)
    srv = Server("--data-dir", str(data), "--address-limit", "100")
    try:
        got = {a["AllocationId"] for a in make_client(srv.url, account).describe_addresses()["Addresses"]}
        assert got == acked, f"lost {len(acked - got)} acknowledged allocations"
    finally:
        srv.cleanup()


def test_damage_before_intact_journal_entries_refuses_to_start(tmp_path):
    """An acknowledged entry that cannot be read, with intact ones after it:
    replaying up to it would silently drop the later ones, so eipd refuses to
    start and says where the damage is; the data directory is left as it was."""
    data, account = tmp_path / "data", "111122224444"
    # No checkpoint during the run: every entry stays in the journal only.
    slow_checkpoints = {"EIPD_CHECKPOINT_INTERVAL_MS": "600000"}
    srv = Server("--data-dir", str(data), "--address-limit", "100", env=slow_checkpoints)
    try:
        allocate_some(srv.url, account, 10)
        srv.proc.kill()
        srv.proc.wait(10)
    finally:
        srv.cleanup()
    frames = journal_frames(data)
    assert len(frames) >= 10
    segment, offset, seq = frames[4]
    flip_a_payload_byte(segment, offset)
    before = {p.name: p.read_bytes() for p in (data / "eipd-journal").iterdir()}
    run = subprocess.run([str(eipd_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0, "eipd started on a journal that lost acknowledged entries"
    message = run.stderr
    assert "the journal is damaged" in message, message
    assert str(segment) in message and f"offset {offset}" in message, message
    assert f"entry {seq}" in message and f"entries from {seq + 1} on" in message, message
    assert {p.name: p.read_bytes() for p in (data / "eipd-journal").iterdir()} == before, \
        "the journal was changed by the refused start"
