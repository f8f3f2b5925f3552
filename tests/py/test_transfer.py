"""eipd export / eipd import: the whole state as JSON Lines, all or nothing."""
import json
import subprocess

from eipd_helpers import Server, eipd, eipd_bin, make_client, random_account, run_instance


def snapshot(url, account):
    ec2 = make_client(url, account)
    return sorted((a["AllocationId"], a["PublicIp"], a.get("AssociationId"), a.get("InstanceId"),
                   tuple(sorted((t["Key"], t["Value"]) for t in a.get("Tags", []))))
                  for a in ec2.describe_addresses()["Addresses"])


def test_export_import_round_trip_and_refusals(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    account = random_account()
    srv = Server("--data-dir", str(source))
    ec2 = make_client(srv.url, account)
    inst = run_instance(ec2)
    a = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "team", "Value": "net"}]}])
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=inst["InstanceId"])
    ec2.allocate_address(Domain="vpc")
    before = snapshot(srv.url, account)
    # The embedded store is locked by the running server.
    busy = eipd("export", "--data-dir", str(source))
    assert busy.returncode != 0 and "in use" in busy.stderr
    srv.cleanup()

    dump = tmp_path / "state.jsonl"
    out = eipd("export", "--data-dir", str(source), "--output", str(dump))
    assert out.returncode == 0, out.stderr
    lines = dump.read_text().splitlines()
    header = json.loads(lines[0])
    assert header == {"eipd_export": 1, "records": len(lines) - 1}
    assert any(json.loads(line)["record"]["kind"] == "address" for line in lines[1:])

    assert eipd("import", str(dump), "--data-dir", str(target)).returncode == 0
    srv = Server("--data-dir", str(target))
    assert snapshot(srv.url, account) == before
    srv.cleanup()

    # Not empty: refused without --replace; a damaged file changes nothing.
    again = eipd("import", str(dump), "--data-dir", str(target))
    assert again.returncode != 0 and "--replace" in again.stderr
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines[:-1]) + "\n")
    bad = eipd("import", str(damaged), "--data-dir", str(target), "--replace")
    assert bad.returncode != 0 and "truncated" in bad.stderr
    srv = Server("--data-dir", str(target))
    assert snapshot(srv.url, account) == before
    make_client(srv.url, account).release_address(AllocationId=before[1][0] if before[1][2] is None else before[0][0])
    srv.cleanup()
    assert eipd("import", str(dump), "--data-dir", str(target), "--replace").returncode == 0
    srv = Server("--data-dir", str(target))
    assert snapshot(srv.url, account) == before
    srv.cleanup()


def test_a_damaged_record_is_found_and_the_rest_exported(tmp_path):
    """A flipped byte in eipd.redb (here: one allocation id changed, as a bad
    disk could) stops the server from starting with the record named;
    `eipd check` lists it; `eipd export` writes out everything else."""
    data, account = tmp_path / "data", random_account()
    srv = Server("--data-dir", str(data))
    ec2 = make_client(srv.url, account)
    ids = [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(3)]
    srv.cleanup()  # a clean stop folds the journal into eipd.redb
    assert eipd("check", "--data-dir", str(data)).returncode == 0

    records = data / "eipd.redb"
    blob = records.read_bytes()
    victim = ids[1].encode()
    assert victim in blob
    # Every copy of it in the file: the live page is one of them.
    damaged = victim[:-1] + (b"0" if victim[-1:] != b"0" else b"1")
    records.write_bytes(blob.replace(victim, damaged))

    check = eipd("check", "--data-dir", str(data))
    assert check.returncode == 1, check.stdout + check.stderr
    assert "checksum does not match" in check.stdout and "1 problems" in check.stdout, check.stdout

    start = subprocess.run([str(eipd_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
    assert start.returncode != 0, "eipd served a damaged store"
    assert "holds damaged records" in start.stderr and "checksum" in start.stderr, start.stderr

    dump = tmp_path / "rescued.jsonl"
    out = eipd("export", "--data-dir", str(data), "--output", str(dump))
    assert out.returncode == 1 and "damaged" in out.stderr, out.stderr
    exported = dump.read_text()
    assert ids[0] in exported and ids[2] in exported
    assert ids[1] not in exported and damaged.decode() not in exported
