"""A full disk is a state the embedded store leaves by itself: writes answer
503 ServiceUnavailable while it lasts, reads go on, nothing grows and no
partial file is left, and once space is back the next write succeeds without
a restart. Start-up on a full disk says which file needs how much.

The disk is a small tmpfs the test mounts (root only; .ci/run runs as root
and sets EIPD_REQUIRE_TMPFS=1 so that CI never skips it)."""
from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from eipd_helpers import Server, eipd_bin, health, make_client, random_account

# Small segments so that a few hundred kilobytes of changes need new ones.
ENV = {"EIPD_JOURNAL_SEGMENT_BYTES": str(1 << 20), "EIPD_CHECKPOINT_INTERVAL_MS": "200"}


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs ({done.stderr.strip() or 'mount failed'}); run as root"
        if os.environ.get("EIPD_REQUIRE_TMPFS") == "1":
            pytest.fail(reason + " (EIPD_REQUIRE_TMPFS=1)", pytrace=False)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(fs: Path, leave: int = 0) -> Path:
    """A file that takes all the space of `fs` but `leave` bytes."""
    filler = fs / "filler"
    with open(filler, "wb") as f:
        chunk = 1 << 20
        while chunk >= 512:
            free = os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize - leave
            if free < chunk:
                chunk //= 2
                continue
            try:
                f.write(b"\0" * chunk)
                f.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                chunk //= 2
    return filler


# The last tag generation written once space is back (~20 MiB of changes).
LAST_GENERATION = 2170


def journal_files(data: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (data / "eipd-journal").iterdir()}


def tags(generation: int) -> list[dict]:
    return [{"Key": f"k{j}", "Value": f"{generation}-" + "x" * 240} for j in range(10)]


def test_a_full_disk_refuses_writes_until_space_is_back_without_a_restart(small_fs):
    data = small_fs / "data"
    srv = Server("--data-dir", str(data), "--address-limit", "1000", env=ENV)
    account = random_account()
    ec2 = make_client(srv.url, account)
    try:
        ids = [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(40)]
        filler = fill(small_fs)

        # Each CreateTags changes 40 records of ~3 KB: the disk runs out soon.
        acknowledged = None
        refused = None
        for generation in range(1, 400):
            try:
                ec2.create_tags(Resources=ids, Tags=tags(generation))
                acknowledged = generation
            except ClientError as e:
                refused = e.response
                break
        assert refused is not None, "the writes never ran out of space"
        assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == (
            "ServiceUnavailable", 503), refused["Error"]

        # Reads are served from memory all along, with every acknowledged change.
        described = ec2.describe_addresses(AllocationIds=ids)["Addresses"]
        assert len(described) == 40
        assert {t["Value"].split("-")[0] for a in described for t in a["Tags"]} == {str(acknowledged)}

        status, body = health(srv.url)
        assert (status, body["status"]) == (503, "degraded"), body
        assert "No space left on device" in body["reason"], body

        # While it lasts, refused writes leave no trace: the journal does not
        # grow, no partial segment is left. (eipd.redb may still grow into
        # space a removed partial segment gave back.)
        before = journal_files(data)
        assert not [f for f in before if f.endswith(".tmp")], before
        for generation in range(1000, 1020):
            with pytest.raises(ClientError) as e:
                ec2.create_tags(Resources=ids, Tags=tags(generation))
            assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert journal_files(data) == before

        # Space back: the next write succeeds, no restart.
        filler.unlink()
        deadline = time.monotonic() + 15
        while True:
            try:
                ec2.create_tags(Resources=ids, Tags=tags(2000))
                break
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ServiceUnavailable"
                assert time.monotonic() < deadline, "writes did not resume after space was freed"
                time.sleep(0.2)
        later = ec2.allocate_address(Domain="vpc")["AllocationId"]
        deadline = time.monotonic() + 15
        while health(srv.url)[0] != 200:
            assert time.monotonic() < deadline, f"health stayed degraded: {health(srv.url)}"
            time.sleep(0.2)
        # Checkpoints work again, so the journal is recycled rather than grown:
        # ~20 MiB of changes pass through a few 1 MiB segments (a filled
        # segment starts a checkpoint, however fast the writes come).
        for generation in range(2001, LAST_GENERATION + 1):
            ec2.create_tags(Resources=ids, Tags=tags(generation))
        segments = journal_files(data)
        assert len(segments) <= 4 and not [f for f in segments if f.endswith(".tmp")], segments
        assert srv.stop() == 0, srv.stderr_tail()
        assert "checkpoint failed" in srv.stderr_tail(20000)

        # Everything acknowledged is there after a restart, nothing refused is.
        srv = Server("--data-dir", str(data), "--address-limit", "1000", env=ENV)
        ec2 = make_client(srv.url, account)
        described = ec2.describe_addresses()["Addresses"]
        assert sorted(a["AllocationId"] for a in described) == sorted(ids + [later])
        assert {t["Value"].split("-")[0] for a in described if a["AllocationId"] in ids
                for t in a["Tags"]} == {str(LAST_GENERATION)}
    finally:
        srv.cleanup()


def test_start_on_a_full_disk_names_the_file_and_the_space_it_needs(small_fs):
    data = small_fs / "data"
    data.mkdir()
    fill(small_fs, leave=4 << 20)
    done = subprocess.run([str(eipd_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "creating the journal segment" in done.stderr, done.stderr
    assert str(data / "eipd-journal") in done.stderr and "16.0 MiB" in done.stderr, done.stderr
    assert "No space left on device" in done.stderr and "free some and start again" in done.stderr, done.stderr
    assert not list(data.rglob("*.tmp")), list(data.rglob("*"))
