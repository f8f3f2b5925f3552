"""Security groups: each VPC's default group, created groups, their rules, and the groups
interfaces and instances carry."""
import re

from eipd_helpers import AMI, default_subnets, default_vpc, describe_eni, describe_instance, expect_error, make_vpc

SG_RE = re.compile(r"^sg-[0-9a-f]{17}$")
SGR_RE = re.compile(r"^sgr-[0-9a-f]{17}$")


def group(ec2, group_id):
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def default_group(ec2, vpc_id):
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(groups) == 1, groups
    return groups[0]


def create(ec2, name, vpc_id=None, **kw):
    args = {"GroupName": name, "Description": f"{name} servers", **kw}
    if vpc_id:
        args["VpcId"] = vpc_id
    return ec2.create_security_group(**args)["GroupId"]


def ssh_from(cidr="0.0.0.0/0", **extra):
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr, **extra}]}


def test_every_vpc_has_its_default_group(ec2, account):
    vpc_id = default_vpc(ec2)["VpcId"]
    g = default_group(ec2, vpc_id)
    assert SG_RE.match(g["GroupId"])
    assert (g["GroupName"], g["Description"], g["OwnerId"]) == ("default", "default VPC security group", account)
    # All traffic in from the group itself, all traffic out.
    assert g["IpPermissions"] == [{
        "IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": [{"GroupId": g["GroupId"], "UserId": account}]}]
    assert g["IpPermissionsEgress"] == [{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": []}]
    assert g["SecurityGroupArn"] == f"arn:aws:ec2:us-east-1:{account}:security-group/{g['GroupId']}"
    # The default VPC's group is named in the default VPC; its id is stable.
    assert ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"] == g["GroupId"]
    assert default_group(ec2, vpc_id)["GroupId"] == g["GroupId"]

    # A new VPC gets its own, with ::/0 out when it has an IPv6 block; DeleteVpc takes it along.
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    own = default_group(ec2, vpc["VpcId"])
    assert own["GroupId"] != g["GroupId"]
    assert own["IpPermissionsEgress"][0]["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    resp = expect_error(ec2.delete_security_group, "CannotDelete", GroupId=own["GroupId"])
    assert resp["Error"]["Message"] == (
        f'the specified group: "{own["GroupId"]}" name: "default" cannot be deleted by a user')
    expect_error(ec2.delete_security_group, "CannotDelete", GroupName="default")
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    expect_error(ec2.describe_security_groups, "InvalidGroup.NotFound", GroupIds=[own["GroupId"]])


def test_create_describe_tag_and_delete(ec2, account):
    vpc_id = default_vpc(ec2)["VpcId"]
    resp = ec2.create_security_group(
        GroupName="web", Description="web servers",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "blue"}]}])
    gid = resp["GroupId"]
    assert SG_RE.match(gid)
    assert resp["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert resp["SecurityGroupArn"].endswith(f":{account}:security-group/{gid}")
    g = group(ec2, gid)
    assert (g["GroupName"], g["Description"], g["VpcId"]) == ("web", "web servers", vpc_id)
    assert g["IpPermissions"] == []
    assert [e["IpRanges"] for e in g["IpPermissionsEgress"]] == [[{"CidrIp": "0.0.0.0/0"}]]

    resp = expect_error(ec2.create_security_group, "InvalidGroup.Duplicate", GroupName="web", Description="x")
    assert resp["Error"]["Message"] == f"The security group 'web' already exists for VPC '{vpc_id}'"
    # The same name in another VPC is another group.
    other_vpc, _ = make_vpc(ec2, "10.61.0.0/16", "10.61.1.0/24")
    other = create(ec2, "web", other_vpc)
    expect_error(ec2.create_security_group, "InvalidParameterValue", GroupName="sg-web", Description="x")
    expect_error(ec2.create_security_group, "InvalidParameterValue", GroupName="default", Description="x")
    expect_error(ec2.create_security_group, "MissingParameter", GroupName="db", Description="")
    expect_error(ec2.create_security_group, "InvalidVpcID.NotFound", GroupName="db", Description="x",
                 VpcId="vpc-0123456789abcdef0")
    expect_error(ec2.create_security_group, "InvalidParameterValue", GroupName="db", Description="x",
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])

    by_name = ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"]
    assert [x["GroupId"] for x in by_name] == [gid], "names are the default VPC's"
    for name, values, want in [
        ("group-name", ["web"], {gid, other}),
        ("group-id", [gid], {gid}),
        ("description", ["web serv*"], {gid, other}),
        ("vpc-id", [other_vpc], {other, default_group(ec2, other_vpc)["GroupId"]}),
        ("owner-id", [account], None),
        ("tag:team", ["blue"], {gid}),
        ("tag-key", ["team"], {gid}),
        ("egress.ip-permission.cidr", ["0.0.0.0/0"], None),
    ]:
        got = {x["GroupId"] for x in ec2.describe_security_groups(
            Filters=[{"Name": name, "Values": values}])["SecurityGroups"]}
        if want is None:
            assert {gid, other} <= got, name
        else:
            assert got == want, name
    expect_error(ec2.describe_security_groups, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["x"]}])
    expect_error(ec2.describe_security_groups, "InvalidGroup.NotFound", GroupIds=["sg-0123456789abcdef0"])
    expect_error(ec2.describe_security_groups, "InvalidGroup.NotFound", GroupNames=["nope"])
    expect_error(ec2.describe_security_groups, "InvalidGroupId.Malformed", GroupIds=["web"])

    # Tags through CreateTags and DescribeTags.
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "env", "Value": "prod"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in tags} == {
        ("team", "blue", "security-group"), ("env", "prod", "security-group")}
    ec2.delete_tags(Resources=[gid], Tags=[{"Key": "team"}])
    assert group(ec2, gid)["Tags"] == [{"Key": "env", "Value": "prod"}]

    resp = ec2.delete_security_group(GroupName="web")
    assert resp["GroupId"] == gid and resp["Return"] is True
    expect_error(ec2.describe_security_groups, "InvalidGroup.NotFound", GroupIds=[gid])
    expect_error(ec2.delete_security_group, "InvalidGroup.NotFound", GroupId=gid)
    ec2.delete_security_group(GroupId=other)


def test_authorize_describe_and_revoke_rules(ec2, account):
    vpc_id, _ = make_vpc(ec2, "10.62.0.0/16", "10.62.1.0/24")
    gid = create(ec2, "app", vpc_id)
    peer = create(ec2, "lb", vpc_id)
    resp = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        ssh_from("10.0.0.0/8", Description="office"),
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "UserIdGroupPairs": [{"GroupId": peer}]},
    ])
    assert resp["Return"] is True
    added = resp["SecurityGroupRules"]
    assert len(added) == 4 and all(SGR_RE.match(r["SecurityGroupRuleId"]) for r in added)
    assert {(r["GroupId"], r["GroupOwnerId"], r["IsEgress"]) for r in added} == {(gid, account, False)}
    assert added[0]["CidrIpv4"] == "10.0.0.0/8" and added[0]["Description"] == "office"
    assert added[2]["CidrIpv6"] == "::/0"
    assert added[3]["ReferencedGroupInfo"] == {"GroupId": peer, "UserId": account}
    assert (added[3]["FromPort"], added[3]["ToPort"]) == (8080, 8081)

    g = group(ec2, gid)
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in g["IpPermissions"]}
    assert perms[("tcp", 22, 22)]["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "office"}]
    assert perms[("tcp", 443, 443)]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert perms[("tcp", 443, 443)]["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    assert perms[("tcp", 8080, 8081)]["UserIdGroupPairs"] == [{"GroupId": peer, "UserId": account}]

    resp = expect_error(ec2.authorize_security_group_ingress, "InvalidPermission.Duplicate",
                        GroupId=gid, IpPermissions=[ssh_from("10.0.0.0/8")])
    assert resp["Error"]["Message"] == (
        'the specified rule "peer: 10.0.0.0/8, TCP, from port: 22, to port: 22, ALLOW" already exists')
    assert len(group(ec2, gid)["IpPermissions"]) == 3, "a refused request adds nothing"
    # The flat form the AWS CLI sends for --protocol/--port/--cidr.
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="udp", FromPort=53, ToPort=53, CidrIp="10.0.0.0/8")
    expect_error(ec2.authorize_security_group_ingress, "InvalidParameterValue",
                 GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}])
    expect_error(ec2.authorize_security_group_ingress, "InvalidParameterValue",
                 GroupId=gid, IpPermissions=[ssh_from("10.0.0.0/33")])
    expect_error(ec2.authorize_security_group_ingress, "InvalidParameterValue",
                 GroupId=gid, IpPermissions=[{"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}])
    # A group of another VPC cannot be a peer.
    stranger = create(ec2, "stranger")
    expect_error(ec2.authorize_security_group_ingress, "InvalidGroup.NotFound", GroupId=gid,
                 IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": stranger}]}])

    egress = ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[ssh_from("192.168.0.0/16")])
    assert egress["SecurityGroupRules"][0]["IsEgress"] is True

    # DescribeSecurityGroupRules: by group, by id.
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert len(rules) == 7, rules  # 5 ingress, the initial egress, and one more
    assert sum(r["IsEgress"] for r in rules) == 2
    one = ec2.describe_security_group_rules(SecurityGroupRuleIds=[added[0]["SecurityGroupRuleId"]])
    assert one["SecurityGroupRules"][0]["CidrIpv4"] == "10.0.0.0/8"
    expect_error(ec2.describe_security_group_rules, "InvalidSecurityGroupRuleId.NotFound",
                 SecurityGroupRuleIds=["sgr-0123456789abcdef0"])
    expect_error(ec2.describe_security_group_rules, "InvalidSecurityGroupRuleId.Malformed",
                 SecurityGroupRuleIds=["rule-1"])

    # Filters over rules.
    def matching(name, value):
        return {x["GroupId"] for x in ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": name, "Values": [value]}])["SecurityGroups"]}
    assert matching("ip-permission.cidr", "10.0.0.0/8") == {gid}
    assert matching("ip-permission.from-port", "8080") == {gid}
    assert matching("ip-permission.group-id", peer) == {gid}
    assert matching("ip-permission.group-name", "lb") == {gid}
    assert matching("ip-permission.ipv6-cidr", "::/0") == {gid}
    assert matching("ip-permission.protocol", "udp") == {gid}
    assert matching("egress.ip-permission.cidr", "192.168.0.0/16") == {gid}
    assert matching("egress.ip-permission.to-port", "22") == {gid}

    # Revoke by value; outside the default VPC an unknown rule refuses the whole call.
    resp = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from("10.0.0.0/8")])
    assert resp["Return"] is True
    assert [r["SecurityGroupRuleId"] for r in resp["RevokedSecurityGroupRules"]] == [added[0]["SecurityGroupRuleId"]]
    expect_error(ec2.revoke_security_group_ingress, "InvalidPermission.NotFound",
                 GroupId=gid, IpPermissions=[ssh_from("10.0.0.0/8")])
    # By rule id (an egress rule is not an ingress one).
    expect_error(ec2.revoke_security_group_ingress, "InvalidSecurityGroupRuleId.NotFound",
                 GroupId=gid, SecurityGroupRuleIds=[egress["SecurityGroupRules"][0]["SecurityGroupRuleId"]])
    ec2.revoke_security_group_egress(GroupId=gid, SecurityGroupRuleIds=[egress["SecurityGroupRules"][0]["SecurityGroupRuleId"]])
    ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[added[3]["SecurityGroupRuleId"]])
    left = {(p["IpProtocol"], p.get("FromPort")) for p in group(ec2, gid)["IpPermissions"]}
    assert left == {("tcp", 443), ("udp", 53)}
    # The peer is no longer referenced: it can go.
    ec2.delete_security_group(GroupId=peer)


def test_revoke_in_the_default_vpc_answers_unknown_rules(ec2):
    gid = create(ec2, "dflt")
    ec2.authorize_security_group_ingress(GroupName="dflt", IpPermissions=[ssh_from()])
    resp = ec2.revoke_security_group_ingress(GroupName="dflt", IpPermissions=[ssh_from(), ssh_from("10.9.0.0/16")])
    assert resp["Return"] is True
    assert len(resp["RevokedSecurityGroupRules"]) == 1
    assert resp["UnknownIpPermissions"] == [{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.0.0/16"}],
        "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]
    assert group(ec2, gid)["IpPermissions"] == []


def test_modify_security_group_rules(ec2):
    gid = create(ec2, "mod")
    rule = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from()])["SecurityGroupRules"][0]
    rid = rule["SecurityGroupRuleId"]
    resp = ec2.modify_security_group_rules(GroupId=gid, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid,
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "CidrIpv4": "10.1.0.0/16",
                              "Description": "moved"}}])
    assert resp["Return"] is True
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"][0]
    assert (got["FromPort"], got["CidrIpv4"], got["Description"], got["IsEgress"]) == (2222, "10.1.0.0/16", "moved", False)
    expect_error(ec2.modify_security_group_rules, "InvalidParameterCombination", GroupId=gid, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid,
        "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "10.1.0.0/16", "CidrIpv6": "::/0"}}])
    expect_error(ec2.modify_security_group_rules, "InvalidSecurityGroupRuleId.NotFound", GroupId=gid, SecurityGroupRules=[{
        "SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "1.0.0.0/8"}}])


def test_numbered_protocols_have_no_ports(ec2):
    gid = create(ec2, "gre")
    gre = {"IpProtocol": "47", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[gre])
    assert group(ec2, gid)["IpPermissions"] == [{
        "IpProtocol": "47", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": []}]
    # The same rule without ports, or by its number of a named protocol, is the same rule.
    expect_error(ec2.authorize_security_group_ingress, "InvalidPermission.Duplicate", GroupId=gid,
                 IpPermissions=[{"IpProtocol": "47", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from()])
    expect_error(ec2.authorize_security_group_ingress, "InvalidPermission.Duplicate", GroupId=gid,
                 IpPermissions=[{**ssh_from(), "IpProtocol": "6"}])
    tcp = [p for p in group(ec2, gid)["IpPermissions"] if p["IpProtocol"] == "tcp"]
    assert [(p["FromPort"], p["ToPort"]) for p in tcp] == [(22, 22)]


def test_update_rule_descriptions(ec2):
    gid = create(ec2, "describe-me")
    [ssh] = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from()])["SecurityGroupRules"]
    [egress] = [r for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"] if r["IsEgress"]]

    def described(rule_id):
        return ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]

    # By value: the peer carries the new description; the rule keeps its id.
    resp = ec2.update_security_group_rule_descriptions_ingress(
        GroupId=gid, IpPermissions=[ssh_from(Description="bastion")])
    assert resp["Return"] is True
    assert described(ssh["SecurityGroupRuleId"])["Description"] == "bastion"
    assert group(ec2, gid)["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "bastion"}]
    # By name in the default VPC, and by id; no description removes it.
    ec2.update_security_group_rule_descriptions_ingress(
        GroupName="describe-me", IpPermissions=[ssh_from(Description="jump host")])
    assert described(ssh["SecurityGroupRuleId"])["Description"] == "jump host"
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=gid, SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": ssh["SecurityGroupRuleId"]}])
    assert "Description" not in described(ssh["SecurityGroupRuleId"])
    ec2.update_security_group_rule_descriptions_egress(GroupId=gid, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": egress["SecurityGroupRuleId"], "Description": "anywhere"}])
    assert described(egress["SecurityGroupRuleId"])["Description"] == "anywhere"

    # A rule the group does not have in that direction changes nothing.
    resp = expect_error(ec2.update_security_group_rule_descriptions_egress, "InvalidPermission.NotFound",
                        GroupId=gid, IpPermissions=[ssh_from(Description="x")])
    assert resp["Error"]["Message"] == "The specified rule does not exist in this security group."
    expect_error(ec2.update_security_group_rule_descriptions_egress, "InvalidSecurityGroupRuleId.NotFound",
                 GroupId=gid, SecurityGroupRuleDescriptions=[
                     {"SecurityGroupRuleId": ssh["SecurityGroupRuleId"], "Description": "x"}])
    resp = expect_error(ec2.update_security_group_rule_descriptions_ingress, "InvalidParameterCombination",
                        GroupId=gid, IpPermissions=[ssh_from(Description="x")], SecurityGroupRuleDescriptions=[
                            {"SecurityGroupRuleId": ssh["SecurityGroupRuleId"], "Description": "x"}])
    assert "ipPermissions" in resp["Error"]["Message"]
    expect_error(ec2.update_security_group_rule_descriptions_ingress, "MissingParameter", GroupId=gid)
    expect_error(ec2.update_security_group_rule_descriptions_ingress, "DryRunOperation", 412, GroupId=gid,
                 IpPermissions=[ssh_from(Description="dry")], DryRun=True)
    assert "Description" not in described(ssh["SecurityGroupRuleId"])


def test_interfaces_and_instances_carry_groups(ec2):
    vpc_id = default_vpc(ec2)["VpcId"]
    dflt = default_group(ec2, vpc_id)["GroupId"]
    # Without groups: the VPC's default group, never an empty groupSet.
    inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    assert inst["SecurityGroups"] == [{"GroupId": dflt, "GroupName": "default"}]
    assert inst["NetworkInterfaces"][0]["Groups"] == [{"GroupId": dflt, "GroupName": "default"}]
    eni_id = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert describe_eni(ec2, eni_id)["Groups"] == [{"GroupId": dflt, "GroupName": "default"}]

    web, db = create(ec2, "web"), create(ec2, "db")
    by_id = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SecurityGroupIds=[web, db])["Instances"][0]
    assert [x["GroupId"] for x in describe_instance(ec2, by_id["InstanceId"])["SecurityGroups"]] == [web, db]
    by_name = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SecurityGroups=["db"])["Instances"][0]
    assert by_name["SecurityGroups"] == [{"GroupId": db, "GroupName": "db"}]
    subnet_id = default_subnets(ec2)[0]["SubnetId"]
    expect_error(ec2.run_instances, "InvalidParameterCombination", ImageId=AMI, MinCount=1, MaxCount=1,
                 SecurityGroups=["db"], SubnetId=subnet_id)
    expect_error(ec2.run_instances, "InvalidGroup.NotFound", ImageId=AMI, MinCount=1, MaxCount=1,
                 SecurityGroupIds=["sg-0123456789abcdef0"])
    eni = ec2.create_network_interface(SubnetId=subnet_id, Groups=[web])["NetworkInterface"]
    assert eni["Groups"] == [{"GroupId": web, "GroupName": "web"}]
    # Launching with interfaces: their own groups.
    nic = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [db]}])["Instances"][0]
    assert nic["SecurityGroups"] == [{"GroupId": db, "GroupName": "db"}]
    expect_error(ec2.run_instances, "InvalidParameterCombination", ImageId=AMI, MinCount=1, MaxCount=1,
                 SecurityGroupIds=[web], NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id}])

    # Groups belong to their VPC.
    other_vpc, other_subnet = make_vpc(ec2, "10.63.0.0/16", "10.63.1.0/24")
    resp = expect_error(ec2.create_network_interface, "InvalidParameter", SubnetId=other_subnet, Groups=[web])
    assert resp["Error"]["Message"] == f"Security group {web} and subnet {other_subnet} belong to different networks."
    expect_error(ec2.run_instances, "InvalidParameter", ImageId=AMI, MinCount=1, MaxCount=1,
                 SubnetId=other_subnet, SecurityGroupIds=[web])
    other = ec2.create_network_interface(SubnetId=other_subnet)["NetworkInterface"]
    assert [g["GroupId"] for g in other["Groups"]] == [default_group(ec2, other_vpc)["GroupId"]]

    # Filters by group.
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [web]}])["NetworkInterfaces"]
    assert {n["NetworkInterfaceId"] for n in enis} == {eni["NetworkInterfaceId"],
                                                       by_id["NetworkInterfaces"][0]["NetworkInterfaceId"]}
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-name", "Values": ["db"]}])["NetworkInterfaces"]
    assert len(enis) == 3

    def instances(name, value):
        res = ec2.describe_instances(Filters=[{"Name": name, "Values": [value]}])["Reservations"]
        return {i["InstanceId"] for r in res for i in r["Instances"]}
    assert instances("instance.group-id", web) == {by_id["InstanceId"]}
    assert instances("instance.group-name", "db") == {by_id["InstanceId"], by_name["InstanceId"], nic["InstanceId"]}
    assert instances("network-interface.group-id", dflt) == {inst["InstanceId"]}

    # A group in use waits for its interfaces.
    resp = expect_error(ec2.delete_security_group, "DependencyViolation", GroupId=web)
    assert resp["Error"]["Message"] == f"resource {web} has a dependent object"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.terminate_instances(InstanceIds=[by_id["InstanceId"]])
    ec2.delete_security_group(GroupId=web)


def test_delete_vpc_waits_for_its_other_groups(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
    gid = create(ec2, "extra", vpc_id)
    expect_error(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)
    ec2.delete_security_group(GroupId=gid)
    ec2.delete_vpc(VpcId=vpc_id)


def test_dry_run_and_pagination(ec2):
    gid = create(ec2, "dry")
    rid = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from()])["SecurityGroupRules"][0][
        "SecurityGroupRuleId"]
    for call, kw in [
        (ec2.create_security_group, {"GroupName": "x", "Description": "x"}),
        (ec2.delete_security_group, {"GroupId": gid}),
        (ec2.describe_security_groups, {}),
        (ec2.describe_security_group_rules, {}),
        (ec2.authorize_security_group_ingress, {"GroupId": gid, "IpPermissions": [ssh_from("1.0.0.0/8")]}),
        (ec2.authorize_security_group_egress, {"GroupId": gid, "IpPermissions": [ssh_from("1.0.0.0/8")]}),
        (ec2.revoke_security_group_ingress, {"GroupId": gid, "SecurityGroupRuleIds": [rid]}),
        (ec2.revoke_security_group_egress, {"GroupId": gid, "IpPermissions": [ssh_from("1.0.0.0/8")]}),
        (ec2.modify_security_group_rules, {"GroupId": gid, "SecurityGroupRules": [
            {"SecurityGroupRuleId": rid, "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "1.0.0.0/8"}}]}),
    ]:
        expect_error(call, "DryRunOperation", 412, DryRun=True, **kw)
    # Nothing changed.
    g = group(ec2, gid)
    assert g["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert g["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert {x["GroupName"] for x in ec2.describe_security_groups()["SecurityGroups"]} == {"default", "dry"}

    for i in range(6):
        create(ec2, f"page-{i}")
    seen = []
    for page in ec2.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5}):
        assert len(page["SecurityGroups"]) <= 5
        seen += [x["GroupId"] for x in page["SecurityGroups"]]
    assert len(seen) == len(set(seen)) == 8
    rules = []
    for page in ec2.get_paginator("describe_security_group_rules").paginate(PaginationConfig={"PageSize": 5}):
        rules += [r["SecurityGroupRuleId"] for r in page["SecurityGroupRules"]]
    assert len(rules) == len(set(rules)) == 2 + 2 + 6  # default: in and out; dry: out and ssh; one out each


def test_policy_is_checked(start_server, tmp_path):
    from test_auth import credentials_file, user_client
    url = start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url
    ci, admin = user_client(url, "ci"), user_client(url, "admin")
    # The ci user may touch addresses and describe anything.
    expect_error(ci.create_security_group, "UnauthorizedOperation", 403, GroupName="x", Description="x", DryRun=True)
    expect_error(ci.create_security_group, "UnauthorizedOperation", 403, GroupName="x", Description="x")
    assert [g["GroupName"] for g in ci.describe_security_groups()["SecurityGroups"]] == ["default"]
    expect_error(admin.create_security_group, "DryRunOperation", 412, GroupName="x", Description="x", DryRun=True)
    gid = admin.create_security_group(GroupName="x", Description="x")["GroupId"]
    resp = expect_error(ci.delete_security_group, "UnauthorizedOperation", 403, GroupId=gid)
    assert f"security-group/{gid}" in resp["Error"]["Message"]
    admin.delete_security_group(GroupId=gid)


def test_groups_and_rules_survive_a_restart(start_server, tmp_path):
    from eipd_helpers import make_client, random_account
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    gid = create(ec2, "kept", TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "k", "Value": "v"}]}])
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[ssh_from("10.0.0.0/8", Description="office")])
    subnet_id = default_subnets(ec2)[0]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet_id, Groups=[gid])["NetworkInterface"]["NetworkInterfaceId"]
    before = ec2.describe_security_groups()["SecurityGroups"]
    rules_before = ec2.describe_security_group_rules()["SecurityGroupRules"]
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert ec2.describe_security_groups()["SecurityGroups"] == before
    assert ec2.describe_security_group_rules()["SecurityGroupRules"] == rules_before
    assert [g["GroupId"] for g in describe_eni(ec2, eni)["Groups"]] == [gid]
    expect_error(ec2.delete_security_group, "DependencyViolation", GroupId=gid)


def test_aws_cli_shorthands(endpoint, tmp_path):
    """The CLI's --protocol/--port/--cidr and --source-group shorthands (CLI v1 of the venv)."""
    import json
    import subprocess

    from eipd_helpers import aws_cli_env, random_account, which_aws_v1
    aws = which_aws_v1()
    assert aws, "the AWS CLI v1 is not installed next to the test interpreter"
    env = aws_cli_env(endpoint, random_account(), "us-east-1", str(tmp_path))

    def run(*args):
        cmd = [aws, "--endpoint-url", endpoint, "--output", "json", "ec2", *args]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{cmd}: rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else {}

    gid = run("create-security-group", "--group-name", "cli", "--description", "from the CLI")["GroupId"]
    assert SG_RE.match(gid)
    run("authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "22",
        "--cidr", "203.0.113.0/24")
    run("authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "80-81",
        "--source-group", "default")
    perms = run("describe-security-groups", "--group-ids", gid)["SecurityGroups"][0]["IpPermissions"]
    got = {(p["FromPort"], p["ToPort"], tuple(r["CidrIp"] for r in p["IpRanges"]),
            tuple(g["GroupId"] for g in p["UserIdGroupPairs"])) for p in perms}
    default_id = run("describe-security-groups", "--group-names", "default")["SecurityGroups"][0]["GroupId"]
    assert got == {(22, 22, ("203.0.113.0/24",), ()), (80, 81, (), (default_id,))}
    run("revoke-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "22",
        "--cidr", "203.0.113.0/24")
    assert len(run("describe-security-groups", "--group-ids", gid)["SecurityGroups"][0]["IpPermissions"]) == 1
    run("delete-security-group", "--group-id", gid)
