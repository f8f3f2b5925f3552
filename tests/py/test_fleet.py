"""Fleet test: 3 eipd nodes on one PostgreSQL, 16 concurrent clients racing to
allocate, associate the same addresses to different interfaces, disassociate
and release. Afterwards the invariants hold, every node shows the same state,
and the responses agree with it. Needs EIPD_TEST_POSTGRES_URL (scripts/test
starts a throwaway cluster)."""
import os
import random
import threading
import urllib.request
from collections import Counter

import botocore.exceptions
import pytest

from eipd_helpers import Server, make_client, random_account

PG = os.environ.get("EIPD_TEST_POSTGRES_URL")
NODES = 3
CLIENTS = 16


@pytest.fixture
def fleet():
    if not PG:
        if os.environ.get("EIPD_REQUIRE_POSTGRES") == "1":
            pytest.fail("EIPD_REQUIRE_POSTGRES=1 but EIPD_TEST_POSTGRES_URL is not set")
        pytest.skip("EIPD_TEST_POSTGRES_URL is not set (scripts/test starts a throwaway PostgreSQL)")
    nodes = [Server("--store", PG, "--address-limit", "1000", "--pool", "10.99.0.0/26") for _ in range(NODES)]
    # Start from an empty database: the pool counts below are exact.
    urllib.request.urlopen(urllib.request.Request(nodes[0].url + "/moto-api/reset", data=b"", method="POST"), timeout=30)
    yield nodes
    for n in nodes:
        n.cleanup()


def code(e):
    return e.response["Error"]["Code"]


def state(ec2):
    return sorted((a["AllocationId"], a["PublicIp"], a.get("AssociationId"), a.get("NetworkInterfaceId"),
                   a.get("PrivateIpAddress")) for a in ec2.describe_addresses()["Addresses"])


def test_racing_clients_on_three_nodes_keep_every_invariant(fleet):
    account = random_account()
    clients = [make_client(fleet[i % NODES].url, account) for i in range(CLIENTS)]
    setup = clients[0]
    subnet = setup.describe_subnets()["Subnets"][0]["SubnetId"]
    enis = [setup.create_network_interface(SubnetId=subnet, SecondaryPrivateIpAddressCount=1)["NetworkInterface"]
            for _ in range(4)]
    targets = [(e["NetworkInterfaceId"], p["PrivateIpAddress"]) for e in enis for p in e["PrivateIpAddresses"]]
    allocations = [setup.allocate_address(Domain="vpc")["AllocationId"] for _ in range(6)]
    lock = threading.Lock()
    issued = []  # (allocation, association) returned by successful AssociateAddress
    allocated, released = list(allocations), []
    errors = []

    def race(ec2, seed):
        rng = random.Random(seed)
        for _ in range(40):
            with lock:
                alive = [a for a in allocated if a not in released]
            alloc = rng.choice(alive) if alive else None
            op = rng.random()
            try:
                if op < 0.5 and alloc:
                    eni, ip = rng.choice(targets)
                    out = ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni, PrivateIpAddress=ip,
                                                AllowReassociation=rng.random() < 0.8)
                    with lock:
                        issued.append((alloc, out["AssociationId"]))
                elif op < 0.75:
                    with lock:
                        mine = rng.choice(issued)[1] if issued else None
                    if mine:
                        ec2.disassociate_address(AssociationId=mine)
                elif op < 0.85 and alloc:
                    ec2.release_address(AllocationId=alloc)
                    with lock:
                        released.append(alloc)
                elif op < 0.95:
                    new = ec2.allocate_address(Domain="vpc")["AllocationId"]
                    with lock:
                        allocated.append(new)
                else:
                    ec2.describe_addresses()
            except botocore.exceptions.ClientError as e:
                # The races AWS answers with these are expected; anything else is a bug.
                if code(e) not in ("Resource.AlreadyAssociated", "InvalidAllocationID.NotFound",
                                   "InvalidIPAddress.InUse", "InsufficientAddressCapacity"):
                    errors.append((op, code(e), e.response["Error"]["Message"]))

    threads = [threading.Thread(target=race, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert errors == []

    # Every node shows the same state.
    views = [state(make_client(n.url, account)) for n in fleet]
    if os.environ.get("EIPD_FLEET_DEBUG") and not views[0] == views[1] == views[2]:
        import subprocess
        for i, v in enumerate(views):
            print("node", i, v)
            print(fleet[i].stderr_tail(200000)[-6000:])
        print(subprocess.run(["psql", PG, "-c", "select region, key, version, body from eipd_records where key like 'address/%' order by version"], capture_output=True, text=True).stdout)
        print(subprocess.run(["psql", PG, "-c", "select * from eipd_regions"], capture_output=True, text=True).stdout)
    assert views[0] == views[1] == views[2]
    final = views[0]
    # One IP, one holder; one address per private IP; one association per address.
    assert len({ip for _, ip, *_ in final}) == len(final)
    on = Counter((eni, ip) for _, _, assoc, eni, ip in final if assoc)
    assert all(n == 1 for n in on.values()), on
    # The responses agree with the final state: every live association was returned to a client,
    # and every interface shows exactly the addresses associated with it.
    issued_set = set(issued)
    for alloc, pub, assoc, eni, ip in final:
        if assoc:
            assert (alloc, assoc) in issued_set
    for e in enis:
        got = setup.describe_network_interfaces(NetworkInterfaceIds=[e["NetworkInterfaceId"]])["NetworkInterfaces"][0]
        shown = {(p["PrivateIpAddress"], p["Association"]["PublicIp"]) for p in got["PrivateIpAddresses"] if "Association" in p}
        expected = {(ip, pub) for _, pub, assoc, eni, ip in final if assoc and eni == e["NetworkInterfaceId"]}
        assert shown == expected
    # Ended associations stay idempotent and touch nothing.
    for alloc, assoc in issued:
        if (alloc, assoc) not in {(a, s) for a, _, s, _, _ in final}:
            clients[1].disassociate_address(AssociationId=assoc)
    assert state(clients[2]) == final


def test_concurrent_allocation_never_gives_one_ip_two_holders(fleet):
    accounts = [random_account(), random_account()]
    clients = [make_client(fleet[i % NODES].url, accounts[i % 2]) for i in range(CLIENTS)]
    got, refused, other = [], [], []
    lock = threading.Lock()

    def grab(ec2):
        for _ in range(8):
            try:
                ip = ec2.allocate_address(Domain="vpc")["PublicIp"]
                with lock:
                    got.append(ip)
            except botocore.exceptions.ClientError as e:
                with lock:
                    (refused if code(e) == "InsufficientAddressCapacity" else other).append(code(e))

    threads = [threading.Thread(target=grab, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert other == []
    # 16 clients × 8 tries on a 64-address pool: exactly 64 succeed, all distinct.
    assert len(got) == len(set(got)) == 64
    assert len(refused) == CLIENTS * 8 - 64
    held = [a["PublicIp"] for acct in accounts for a in make_client(fleet[0].url, acct).describe_addresses()["Addresses"]]
    assert sorted(held) == sorted(got)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"{name} is not in {url}/metrics")


def test_a_node_behind_on_its_own_account_runs_its_operation_again(fleet):
    """A node commits without a lock, optimistically: the commit lands only if
    the partition (the account in the region) is still where the node found
    it. A node that has not heard of another node's change in the same
    account runs the operation again under lock, on the state that node left."""
    account = random_account()
    behind, other = make_client(fleet[0].url, account), make_client(fleet[1].url, account)
    first = behind.allocate_address(Domain="vpc")["PublicIp"]
    # The other node moves the account on; the first node reads nothing meanwhile.
    second = other.allocate_address(Domain="vpc")["PublicIp"]
    reruns = metric(fleet[0].url, "eipd_commit_reruns_total")
    third = behind.allocate_address(Domain="vpc")["PublicIp"]
    assert metric(fleet[0].url, "eipd_commit_reruns_total") == reruns + 1, "run again under lock, once"
    assert len({first, second, third}) == 3
    assert sorted(a["PublicIp"] for a in behind.describe_addresses()["Addresses"]) == sorted([first, second, third])


def test_a_node_behind_on_other_accounts_finds_out_what_they_hold(fleet):
    """Accounts of one region commit side by side, whichever nodes serve
    them: what they share is the region's pool. A node that has not heard
    that another account took an IP, or gave one back, finds out when its
    commit does not land (the IP is taken; what it saw no longer holds) and
    runs the operation again on what is stored: for a taken IP, first
    without a lock once it caught up with the region, where its answer now
    rests on another account's IP, which only the region's pool lock keeps
    still, so once more under that lock."""
    behind, other = make_client(fleet[0].url, random_account()), make_client(fleet[1].url, random_account())
    taken = other.allocate_address(Domain="vpc")
    ip = taken["PublicIp"]
    reruns = metric(fleet[0].url, "eipd_commit_reruns_total")
    # Node 0 has not heard of it: it takes the IP, and its commit does not land.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        behind.allocate_address(Domain="vpc", Address=ip)
    assert code(e.value) == "InvalidAddress.NotFound"
    assert metric(fleet[0].url, "eipd_commit_reruns_total") == reruns + 2, "caught up, then under lock"
    # Node 0 now knows the other account holds it; that account gives it back elsewhere.
    other.release_address(AllocationId=taken["AllocationId"])
    assert behind.allocate_address(Domain="vpc", Address=ip)["PublicIp"] == ip
    assert metric(fleet[0].url, "eipd_commit_reruns_total") == reruns + 3, "under lock, where it is free"


def test_a_node_behind_never_reuses_an_ip_and_the_pool_runs_out_exactly(fleet):
    """62 of a 64-IP pool go through one node while another, which has taken
    one and read nothing since, still sees 63 free: it takes the last free IP
    (at once or after a commit that did not land), and then finds the pool
    empty."""
    behind, other = make_client(fleet[0].url, random_account()), make_client(fleet[1].url, random_account())
    first = behind.allocate_address(Domain="vpc")["PublicIp"]
    taken = {other.allocate_address(Domain="vpc")["PublicIp"] for _ in range(62)}
    last = behind.allocate_address(Domain="vpc")["PublicIp"]
    assert len(taken | {first, last}) == 64, "every IP has one holder"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        behind.allocate_address(Domain="vpc")
    assert code(e.value) == "InsufficientAddressCapacity"


def test_a_change_on_one_node_is_read_at_once_on_the_others(fleet):
    """Read-your-writes across the fleet: every read catches up with what was
    committed before it was asked, also when many reads share one catch-up."""
    account = random_account()
    writer = make_client(fleet[0].url, account)
    readers = [make_client(fleet[1 + i % (NODES - 1)].url, account) for i in range(8)]
    failures = []

    def read_back(ec2, allocation_id, released):
        try:
            found = ec2.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [allocation_id]}])["Addresses"]
            if len(found) != (0 if released else 1):
                failures.append((allocation_id, released, found))
        except botocore.exceptions.ClientError as e:
            failures.append((allocation_id, released, code(e)))

    for _ in range(10):
        allocation_id = writer.allocate_address(Domain="vpc")["AllocationId"]
        for released in (False, True):
            threads = [threading.Thread(target=read_back, args=(r, allocation_id, released)) for r in readers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            if not released:
                writer.release_address(AllocationId=allocation_id)
    assert failures == []


def commit_batches(url: str) -> tuple[float, float]:
    """(commits, commits of one operation) from a node's eipd_commit_operations."""
    return metric(url, "eipd_commit_operations_count"), metric(url, 'eipd_commit_operations_bucket{le="1.0"}')


def test_group_commits_across_partitions_keep_every_invariant(fleet):
    """Each node groups the operations waiting in its writer into one
    PostgreSQL transaction, across accounts and regions. Racing clients on
    every node, on one partition and on several: every acknowledged change is
    there, no IP has two holders in a region, and every node agrees."""
    regions = ["us-east-1", "eu-west-1"]
    accounts = [random_account() for _ in range(4)]
    # Clients 0-7 share one partition; 8-23 spread over the others.
    scopes = [(accounts[0], regions[0])] * 8 + [(accounts[i % 4], regions[i % 2]) for i in range(16)]
    clients = [make_client(fleet[i % NODES].url, a, r) for i, (a, r) in enumerate(scopes)]
    lock = threading.Lock()
    held, released, other = {}, set(), []

    def work(i, ec2):
        rng = random.Random(i)
        for _ in range(12):
            try:
                got = ec2.allocate_address(Domain="vpc")
                with lock:
                    held[got["AllocationId"]] = (scopes[i], got["PublicIp"])
                if rng.random() < 0.3:
                    ec2.release_address(AllocationId=got["AllocationId"])
                    with lock:
                        released.add(got["AllocationId"])
            except botocore.exceptions.ClientError as e:
                if code(e) != "InsufficientAddressCapacity":
                    with lock:
                        other.append(code(e))

    before = [commit_batches(n.url) for n in fleet]
    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert other == []
    kept = {alloc: v for alloc, v in held.items() if alloc not in released}
    for region in regions:
        ips = [ip for (_, r), ip in kept.values() if r == region]
        assert len(ips) == len(set(ips)), f"one IP with two holders in {region}"
    for node in fleet:
        seen = {}
        for account in accounts:
            for region in regions:
                for a in make_client(node.url, account, region).describe_addresses()["Addresses"]:
                    seen[a["AllocationId"]] = ((account, region), a["PublicIp"])
        assert seen == kept, f"node {node.url} disagrees"
    after = [commit_batches(n.url) for n in fleet]
    grouped = sum((a[0] - a[1]) - (b[0] - b[1]) for a, b in zip(after, before))
    assert grouped > 0, "no commit took more than one operation: group commit is off"
