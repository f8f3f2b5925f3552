"""DHCP options sets: the account's default set per region, which every new VPC uses;
CreateDhcpOptions (EC2's keys and checks), DescribeDhcpOptions (ids, filters, pages),
AssociateDhcpOptions (a set or `default`: none), DeleteDhcpOptions (refused while a VPC
uses the set), tags, DryRun and the policy, account isolation, and a restart."""
import re

from eipd_helpers import default_vpc, expect_error, make_client, random_account

DOPT_RE = re.compile(r"^dopt-[0-9a-f]{17}$")


def options(resp):
    """{key: [values]} of a DhcpOptions as boto3 parsed it."""
    return {c["Key"]: [v["Value"] for v in c["Values"]] for c in resp["DhcpConfigurations"]}


def create(ec2, config, **kwargs):
    configs = [{"Key": k, "Values": v} for k, v in config.items()]
    return ec2.create_dhcp_options(DhcpConfigurations=configs, **kwargs)["DhcpOptions"]


def vpc_set(ec2, vpc_id):
    return ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["DhcpOptionsId"]


def test_the_default_set_is_every_new_vpcs(ec2, account, new_client):
    default_id = default_vpc(ec2)["DhcpOptionsId"]
    assert DOPT_RE.match(default_id)
    [default] = ec2.describe_dhcp_options()["DhcpOptions"]
    assert default["DhcpOptionsId"] == default_id and default["OwnerId"] == account
    assert options(default) == {"domain-name": ["ec2.internal"], "domain-name-servers": ["AmazonProvidedDNS"]}
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    assert vpc["DhcpOptionsId"] == default_id == vpc_set(ec2, vpc["VpcId"])
    # Another region: its own set, with the region's domain.
    _, west = new_client(account, "eu-west-1")
    [other] = west.describe_dhcp_options()["DhcpOptions"]
    assert other["DhcpOptionsId"] != default_id
    assert options(other)["domain-name"] == ["eu-west-1.compute.internal"]
    assert default_vpc(west)["DhcpOptionsId"] == other["DhcpOptionsId"]


def test_create_and_describe(ec2, account):
    config = {
        "domain-name": ["example.com"],
        "domain-name-servers": ["10.0.0.2", "AmazonProvidedDNS"],
        "ntp-servers": ["10.0.0.3", "fd00::3"],
        "netbios-name-servers": ["10.0.0.4"],
        "netbios-node-type": ["2"],
        "ipv6-address-preferred-lease-time": ["3600"],
    }
    made = create(ec2, config, TagSpecifications=[
        {"ResourceType": "dhcp-options", "Tags": [{"Key": "Name", "Value": "corp"}]}])
    assert DOPT_RE.match(made["DhcpOptionsId"]) and made["OwnerId"] == account
    assert options(made) == config
    assert made["Tags"] == [{"Key": "Name", "Value": "corp"}]
    [described] = ec2.describe_dhcp_options(DhcpOptionsIds=[made["DhcpOptionsId"]])["DhcpOptions"]
    assert described == made
    # Several servers in one value, separated by commas, as EC2 takes them.
    split = create(ec2, {"domain-name-servers": ["10.0.0.2, 10.0.0.3"]})
    assert options(split) == {"domain-name-servers": ["10.0.0.2", "10.0.0.3"]}


def test_options_ec2_refuses(ec2):
    before = ec2.describe_dhcp_options()["DhcpOptions"]
    five = [f"10.0.0.{i}" for i in range(1, 6)]
    for config in (
        {"router": ["10.0.0.1"]},
        {"netbios-node-type": ["3"]},
        {"domain-name-servers": five},
        {"netbios-name-servers": five},
        {"ntp-servers": five},
        {"domain-name-servers": ["not-an-ip"]},
        {"netbios-name-servers": ["fd00::1"]},
        {"ipv6-address-preferred-lease-time": ["139"]},
        {"ipv6-address-preferred-lease-time": ["2147483648"]},
        {"domain-name": ["a.example", "b.example"]},
    ):
        expect_error(create, "InvalidParameterValue", ec2=ec2, config=config)
    expect_error(ec2.create_dhcp_options, "MissingParameter", DhcpConfigurations=[])
    expect_error(ec2.create_dhcp_options, "InvalidParameterValue", DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["a"]}, {"Key": "domain-name", "Values": ["b"]}])
    expect_error(create, "InvalidParameterValue", ec2=ec2, config={"domain-name": ["a"]},
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "k", "Value": "v"}]}])
    # Four IPv4 and four IPv6 NTP servers are allowed.
    create(ec2, {"ntp-servers": five[:4] + [f"fd00::{i}" for i in range(1, 5)]})
    assert len(ec2.describe_dhcp_options()["DhcpOptions"]) == len(before) + 1


def test_unknown_and_malformed_ids(ec2):
    resp = expect_error(ec2.describe_dhcp_options, "InvalidDhcpOptionID.NotFound",
                        DhcpOptionsIds=["dopt-0123456789abcdef0"])
    assert resp["Error"]["Message"] == "The dhcpOption ID 'dopt-0123456789abcdef0' does not exist"
    expect_error(ec2.describe_dhcp_options, "InvalidDhcpOptionsId.Malformed", DhcpOptionsIds=["opt-1"])
    expect_error(ec2.delete_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsId="dopt-0123456789abcdef0")
    vpc = default_vpc(ec2)["VpcId"]
    expect_error(ec2.associate_dhcp_options, "InvalidDhcpOptionID.NotFound",
                 DhcpOptionsId="dopt-0123456789abcdef0", VpcId=vpc)
    dopt = create(ec2, {"domain-name": ["x.example"]})["DhcpOptionsId"]
    expect_error(ec2.associate_dhcp_options, "InvalidVpcID.NotFound", DhcpOptionsId=dopt,
                 VpcId="vpc-0123456789abcdef0")
    expect_error(ec2.associate_dhcp_options, "InvalidVpcID.NotFound", DhcpOptionsId="default",
                 VpcId="vpc-0123456789abcdef0")


def test_filters(ec2, account):
    a = create(ec2, {"domain-name": ["a.example"], "ntp-servers": ["10.1.1.1"]},
               TagSpecifications=[{"ResourceType": "dhcp-options", "Tags": [{"Key": "team", "Value": "a"}]}])
    b = create(ec2, {"domain-name": ["b.example"], "netbios-node-type": ["2"]})
    default = default_vpc(ec2)["DhcpOptionsId"]

    def found(*filters):
        resp = ec2.describe_dhcp_options(Filters=[{"Name": n, "Values": v} for n, v in filters])
        return {d["DhcpOptionsId"] for d in resp["DhcpOptions"]}

    a, b = a["DhcpOptionsId"], b["DhcpOptionsId"]
    assert found(("dhcp-options-id", [a, b])) == {a, b}
    assert found(("key", ["ntp-servers"])) == {a}
    assert found(("key", ["domain-name"])) == {a, b, default}
    assert found(("value", ["b.example"])) == {b}
    assert found(("value", ["AmazonProvidedDNS"])) == {default}
    assert found(("key", ["netbios-node-type"]), ("value", ["2"])) == {b}
    assert found(("owner-id", [account])) == {a, b, default}
    assert found(("owner-id", ["000000000000"])) == set()
    assert found(("tag:team", ["a"])) == {a}
    assert found(("tag-key", ["team"])) == {a}
    assert found(("value", ["*.example"])) == {a, b}
    expect_error(ec2.describe_dhcp_options, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["x"]}])


def test_associate_a_set_or_none(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    default = vpc_set(ec2, vpc)
    dopt = create(ec2, {"domain-name": ["corp.example"]})["DhcpOptionsId"]
    assert ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=vpc)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert vpc_set(ec2, vpc) == dopt
    by_set = ec2.describe_vpcs(Filters=[{"Name": "dhcp-options-id", "Values": [dopt]}])["Vpcs"]
    assert [v["VpcId"] for v in by_set] == [vpc]
    # `default` is EC2's word for no DHCP options at all.
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    assert vpc_set(ec2, vpc) == "default"
    by_none = ec2.describe_vpcs(Filters=[{"Name": "dhcp-options-id", "Values": ["default"]}])["Vpcs"]
    assert [v["VpcId"] for v in by_none] == [vpc]
    ec2.associate_dhcp_options(DhcpOptionsId=default, VpcId=vpc)
    assert vpc_set(ec2, vpc) == default


def test_delete_is_refused_while_a_vpc_uses_the_set(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    dopt = create(ec2, {"domain-name": ["corp.example"]})["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=vpc)
    resp = expect_error(ec2.delete_dhcp_options, "DependencyViolation", DhcpOptionsId=dopt)
    assert resp["Error"]["Message"] == f"The dhcpOptions '{dopt}' has dependencies and cannot be deleted."
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc)
    ec2.delete_dhcp_options(DhcpOptionsId=dopt)
    expect_error(ec2.describe_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsIds=[dopt])
    # A deleted VPC no longer holds its set.
    other = create(ec2, {"domain-name": ["other.example"]})["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=other, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_dhcp_options(DhcpOptionsId=other)


def test_the_default_set_may_go_once_unused(ec2):
    default_id = default_vpc(ec2)["DhcpOptionsId"]
    expect_error(ec2.delete_dhcp_options, "DependencyViolation", DhcpOptionsId=default_id)
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=default_vpc(ec2)["VpcId"])
    ec2.delete_dhcp_options(DhcpOptionsId=default_id)
    assert ec2.describe_dhcp_options()["DhcpOptions"] == []
    assert ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["DhcpOptionsId"] == "default"


def test_tags(ec2):
    dopt = create(ec2, {"domain-name": ["t.example"]})["DhcpOptionsId"]
    ec2.create_tags(Resources=[dopt], Tags=[{"Key": "env", "Value": "dev"}, {"Key": "Name", "Value": "t"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["dhcp-options"]}])["Tags"]
    assert {(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in tags} == {
        (dopt, "dhcp-options", "env", "dev"), (dopt, "dhcp-options", "Name", "t")}
    ec2.delete_tags(Resources=[dopt], Tags=[{"Key": "env"}])
    [described] = ec2.describe_dhcp_options(DhcpOptionsIds=[dopt])["DhcpOptions"]
    assert described["Tags"] == [{"Key": "Name", "Value": "t"}]
    expect_error(ec2.create_tags, "InvalidDhcpOptionID.NotFound", Resources=["dopt-0123456789abcdef0"],
                 Tags=[{"Key": "k", "Value": "v"}])


def test_dry_run(ec2):
    vpc = default_vpc(ec2)["VpcId"]
    dopt = create(ec2, {"domain-name": ["d.example"]})["DhcpOptionsId"]
    expect_error(ec2.create_dhcp_options, "DryRunOperation", 412, DryRun=True,
                 DhcpConfigurations=[{"Key": "domain-name", "Values": ["x"]}])
    expect_error(ec2.describe_dhcp_options, "DryRunOperation", 412, DryRun=True)
    expect_error(ec2.associate_dhcp_options, "DryRunOperation", 412, DryRun=True, DhcpOptionsId=dopt, VpcId=vpc)
    expect_error(ec2.delete_dhcp_options, "DryRunOperation", 412, DryRun=True, DhcpOptionsId=dopt)
    assert len(ec2.describe_dhcp_options()["DhcpOptions"]) == 2
    assert vpc_set(ec2, vpc) != dopt


def test_policy_is_checked(start_server, tmp_path):
    from test_auth import credentials_file, user_client
    url = start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url
    ci, admin = user_client(url, "ci"), user_client(url, "admin")
    config = [{"Key": "domain-name", "Values": ["p.example"]}]
    expect_error(ci.create_dhcp_options, "UnauthorizedOperation", 403, DhcpConfigurations=config, DryRun=True)
    expect_error(admin.create_dhcp_options, "DryRunOperation", 412, DhcpConfigurations=config, DryRun=True)
    dopt = admin.create_dhcp_options(DhcpConfigurations=config)["DhcpOptions"]["DhcpOptionsId"]
    resp = expect_error(ci.delete_dhcp_options, "UnauthorizedOperation", 403, DhcpOptionsId=dopt)
    assert "ec2:DeleteDhcpOptions" in resp["Error"]["Message"]
    assert dopt in {d["DhcpOptionsId"] for d in ci.describe_dhcp_options()["DhcpOptions"]}


def test_accounts_do_not_see_each_others_sets(ec2, new_client):
    dopt = create(ec2, {"domain-name": ["mine.example"]})["DhcpOptionsId"]
    _, other = new_client()
    expect_error(other.describe_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsIds=[dopt])
    expect_error(other.associate_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsId=dopt,
                 VpcId=default_vpc(other)["VpcId"])
    expect_error(other.delete_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsId=dopt)
    assert dopt not in {d["DhcpOptionsId"] for d in other.describe_dhcp_options()["DhcpOptions"]}


def test_sets_survive_a_restart(start_server, tmp_path):
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    dopt = create(ec2, {"domain-name": ["kept.example"], "ntp-servers": ["10.0.0.9"]},
                  TagSpecifications=[{"ResourceType": "dhcp-options", "Tags": [{"Key": "k", "Value": "v"}]}])
    ec2.associate_dhcp_options(DhcpOptionsId=dopt["DhcpOptionsId"], VpcId=vpc)
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=default_vpc(ec2)["VpcId"])
    before = ec2.describe_dhcp_options()["DhcpOptions"]
    vpcs_before = ec2.describe_vpcs()["Vpcs"]
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert ec2.describe_dhcp_options()["DhcpOptions"] == before
    assert ec2.describe_vpcs()["Vpcs"] == vpcs_before
    assert vpc_set(ec2, vpc) == dopt["DhcpOptionsId"]
    assert default_vpc(ec2)["DhcpOptionsId"] == "default"
