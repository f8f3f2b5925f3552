"""eipd export / eipd import: the whole state as JSON Lines, all or nothing."""
import json

from eipd_helpers import Server, eipd, make_client, random_account, run_instance


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
