"""Route tables: each VPC's main table, created tables, their routes (to internet gateways,
interfaces and instances, with their active or blackhole state) and their associations."""
import re

from eipd_helpers import AMI, default_subnets, default_vpc, expect_error, make_vpc

RTB_RE = re.compile(r"^rtb-[0-9a-f]{17}$")
ASSOC_RE = re.compile(r"^rtbassoc-[0-9a-f]{17}$")


def table(ec2, table_id):
    return ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]


def main_table(ec2, vpc_id):
    tables = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert len(tables) == 1, tables
    return tables[0]


def routes(ec2, table_id):
    return {r.get("DestinationCidrBlock") or r["DestinationIpv6CidrBlock"]: r for r in table(ec2, table_id)["Routes"]}


def local(cidr):
    return {"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}


def test_every_vpc_has_its_main_table(ec2, account):
    vpc_id = default_vpc(ec2)["VpcId"]
    main = main_table(ec2, vpc_id)
    assert RTB_RE.match(main["RouteTableId"])
    assert (main["VpcId"], main["OwnerId"], main["PropagatingVgws"], main["Tags"]) == (vpc_id, account, [], [])
    assert main["Routes"] == [local("172.31.0.0/16")]
    [assoc] = main["Associations"]
    assert ASSOC_RE.match(assoc["RouteTableAssociationId"])
    assert assoc == {"Main": True, "RouteTableAssociationId": assoc["RouteTableAssociationId"],
                     "RouteTableId": main["RouteTableId"], "AssociationState": {"State": "associated"}}
    # The default VPC's table has the same id on every read, before and after a write.
    ec2.create_vpc(CidrBlock="10.70.0.0/16")
    assert main_table(ec2, vpc_id)["RouteTableId"] == main["RouteTableId"]

    # A new VPC gets its own, with a local route per block.
    vpc = ec2.create_vpc(CidrBlock="10.71.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    ipv6 = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    own = main_table(ec2, vpc["VpcId"])
    assert own["RouteTableId"] != main["RouteTableId"]
    assert own["Routes"] == [local("10.71.0.0/16"), {
        "DestinationIpv6CidrBlock": ipv6, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}]
    # The main table cannot go while it is main; DeleteVpc takes it along.
    resp = expect_error(ec2.delete_route_table, "DependencyViolation", RouteTableId=own["RouteTableId"])
    assert resp["Error"]["Message"] == f"The routeTable '{own['RouteTableId']}' has dependencies and cannot be deleted."
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    expect_error(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=[own["RouteTableId"]])


def test_a_vpc_gaining_an_ipv6_block_gains_its_local_route(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]["VpcId"]
    extra = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    block = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)[
        "Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]
    for table_id in (main_table(ec2, vpc_id)["RouteTableId"], extra):
        assert routes(ec2, table_id)[block]["GatewayId"] == "local"


def test_create_describe_tag_and_delete(ec2, account):
    vpc_id, _ = make_vpc(ec2, "10.73.0.0/16", "10.73.1.0/24", attach_igw=False)
    resp = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "team", "Value": "blue"}]}])["RouteTable"]
    rtb = resp["RouteTableId"]
    assert RTB_RE.match(rtb)
    assert (resp["VpcId"], resp["OwnerId"], resp["Associations"]) == (vpc_id, account, [])
    assert resp["Routes"] == [local("10.73.0.0/16")]
    assert resp["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert table(ec2, rtb) == resp

    # ClientToken: the same token answers the same table.
    first = ec2.create_route_table(VpcId=vpc_id, ClientToken="tok-1")
    again = ec2.create_route_table(VpcId=vpc_id, ClientToken="tok-1")
    assert first["ClientToken"] == "tok-1"
    assert again["RouteTable"]["RouteTableId"] == first["RouteTable"]["RouteTableId"]

    expect_error(ec2.create_route_table, "InvalidVpcID.NotFound", VpcId="vpc-0123456789abcdef0")
    expect_error(ec2.create_route_table, "InvalidParameterValue", VpcId=vpc_id,
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])
    expect_error(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=["rtb-0123456789abcdef0"])
    expect_error(ec2.describe_route_tables, "InvalidRouteTableId.Malformed", RouteTableIds=["table"])
    expect_error(ec2.describe_route_tables, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["x"]}])

    ec2.create_tags(Resources=[rtb], Tags=[{"Key": "env", "Value": "prod"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rtb]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in tags} == {
        ("team", "blue", "route-table"), ("env", "prod", "route-table")}
    by_tag = ec2.describe_route_tables(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["RouteTables"]
    assert [t["RouteTableId"] for t in by_tag] == [rtb]
    ec2.delete_tags(Resources=[rtb], Tags=[{"Key": "team"}])
    assert table(ec2, rtb)["Tags"] == [{"Key": "env", "Value": "prod"}]

    # DeleteVpc waits for its tables other than the main one.
    ec2.delete_subnet(SubnetId=ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]["SubnetId"])
    expect_error(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)
    for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]:
        if not any(a["Main"] for a in t["Associations"]):
            ec2.delete_route_table(RouteTableId=t["RouteTableId"])
    expect_error(ec2.delete_route_table, "InvalidRouteTableID.NotFound", RouteTableId=rtb)
    ec2.delete_vpc(VpcId=vpc_id)


def test_routes_to_a_gateway(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.74.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    # The gateway must be attached to the table's VPC.
    resp = expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=rtb,
                        DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert resp["Error"]["Message"] == f"route table {rtb} and network gateway {igw} belong to different networks"
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)["Return"] is True
    ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    got = routes(ec2, rtb)
    assert got["0.0.0.0/0"] == {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "Origin": "CreateRoute",
                                "State": "active"}
    assert got["::/0"] == {"DestinationIpv6CidrBlock": "::/0", "GatewayId": igw, "Origin": "CreateRoute",
                           "State": "active"}

    resp = expect_error(ec2.create_route, "RouteAlreadyExists", RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                        GatewayId=igw)
    assert resp["Error"]["Message"] == "The route identified by 0.0.0.0/0 already exists."
    expect_error(ec2.create_route, "RouteAlreadyExists", RouteTableId=rtb, DestinationCidrBlock="10.74.0.0/16",
                 GatewayId=igw)
    # A destination is kept as its network.
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="192.168.7.9/24", GatewayId=igw)
    assert "192.168.7.0/24" in routes(ec2, rtb)
    for bad in ["1000.0.0.0/8", "10.0.0.0/33", "nope"]:
        resp = expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=rtb, DestinationCidrBlock=bad,
                            GatewayId=igw)
        assert resp["Error"]["Message"] == (
            f"Value ({bad}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.")
    expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=rtb, DestinationIpv6CidrBlock="::/129",
                 GatewayId=igw)
    expect_error(ec2.create_route, "MissingParameter", RouteTableId=rtb, GatewayId=igw)
    expect_error(ec2.create_route, "MissingParameter", RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8")
    expect_error(ec2.create_route, "InvalidParameterCombination", RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                 GatewayId=igw, InstanceId="i-0123456789abcdef0")
    expect_error(ec2.create_route, "InvalidGatewayID.NotFound", RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                 GatewayId="igw-0123456789abcdef0")
    expect_error(ec2.create_route, "InvalidRouteTableID.NotFound", RouteTableId="rtb-0123456789abcdef0",
                 DestinationCidrBlock="1.0.0.0/8", GatewayId=igw)
    # A target eipd does not have yet is named as such.
    resp = expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                        TransitGatewayId="tgw-0123456789abcdef0")
    assert "TransitGatewayId" in resp["Error"]["Message"]

    # Filters on routes.
    def ids(name, value):
        return {t["RouteTableId"] for t in ec2.describe_route_tables(
            Filters=[{"Name": name, "Values": [value]}, {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]}
    main = main_table(ec2, vpc_id)["RouteTableId"]
    assert ids("route.gateway-id", igw) == {rtb}
    assert ids("route.gateway-id", "local") == {rtb, main}
    assert ids("route.destination-cidr-block", "0.0.0.0/0") == {rtb}
    assert ids("route.destination-ipv6-cidr-block", "::/0") == {rtb}
    assert ids("route.origin", "CreateRoute") == {rtb}
    assert ids("route.origin", "CreateRouteTable") == {rtb, main}
    assert ids("route.state", "blackhole") == set()
    assert ids("route.nat-gateway-id", "nat-0123456789abcdef0") == set()

    # A detached gateway leaves its routes in the blackhole state, and so does a deleted one.
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert routes(ec2, rtb)["0.0.0.0/0"]["State"] == "blackhole"
    assert ids("route.state", "blackhole") == {rtb}
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    assert routes(ec2, rtb)["::/0"]["State"] == "blackhole"

    # Replace and delete.
    other = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=other, VpcId=vpc_id)
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=other)
    assert routes(ec2, rtb)["0.0.0.0/0"] == {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": other,
                                             "Origin": "CreateRoute", "State": "active"}
    resp = expect_error(ec2.replace_route, "InvalidParameterValue", RouteTableId=rtb,
                        DestinationCidrBlock="8.8.8.0/24", GatewayId=other)
    assert resp["Error"]["Message"] == (
        "There is no route defined for '8.8.8.0/24' in the route table. Use CreateRoute instead.")
    resp = expect_error(ec2.replace_route, "InvalidParameterValue", RouteTableId=rtb,
                        DestinationCidrBlock="10.74.0.0/16", GatewayId=other)
    assert resp["Error"]["Message"] == (
        "The local route 10.74.0.0/16 can only be replaced with a network interface or a Gateway Load Balancer "
        "endpoint as its target.")
    resp = expect_error(ec2.delete_route, "InvalidParameterValue", RouteTableId=rtb, DestinationCidrBlock="10.74.0.0/16")
    assert resp["Error"]["Message"] == f"cannot remove local route 10.74.0.0/16 in route table {rtb}"
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
    resp = expect_error(ec2.delete_route, "InvalidRoute.NotFound", RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert resp["Error"]["Message"] == (
        "There is no route defined for '0.0.0.0/0' in the route table. Please correct the destination and try again.")
    assert set(routes(ec2, rtb)) == {"10.74.0.0/16", "192.168.7.0/24",
                                     table(ec2, rtb)["Routes"][1]["DestinationIpv6CidrBlock"]}


def test_routes_to_interfaces_and_instances(ec2, account):
    vpc_id = default_vpc(ec2)["VpcId"]
    subnet_id = default_subnets(ec2)[0]["SubnetId"]
    main = main_table(ec2, vpc_id)["RouteTableId"]

    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="10.1.0.0/16", NetworkInterfaceId=eni)
    assert routes(ec2, main)["10.1.0.0/16"] == {
        "DestinationCidrBlock": "10.1.0.0/16", "NetworkInterfaceId": eni, "Origin": "CreateRoute", "State": "active"}

    # An instance resolves to its interface; the route shows both.
    inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet_id)["Instances"][0]
    inst_id, inst_eni = inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="10.2.0.0/16", InstanceId=inst_id)
    assert routes(ec2, main)["10.2.0.0/16"] == {
        "DestinationCidrBlock": "10.2.0.0/16", "InstanceId": inst_id, "InstanceOwnerId": account,
        "NetworkInterfaceId": inst_eni, "Origin": "CreateRoute", "State": "active"}
    found = ec2.describe_route_tables(Filters=[{"Name": "route.instance-id", "Values": [inst_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [main]

    # An interface of another VPC, or an instance with several interfaces, is refused.
    _, other_subnet = make_vpc(ec2, "10.75.0.0/16", "10.75.1.0/24", attach_igw=False)
    elsewhere = ec2.create_network_interface(SubnetId=other_subnet)["NetworkInterface"]["NetworkInterfaceId"]
    resp = expect_error(ec2.create_route, "InvalidParameterValue", RouteTableId=main,
                        DestinationCidrBlock="10.3.0.0/16", NetworkInterfaceId=elsewhere)
    assert resp["Error"]["Message"] == f"route table {main} and interface {elsewhere} belong to different networks"
    expect_error(ec2.create_route, "InvalidNetworkInterfaceID.NotFound", RouteTableId=main,
                 DestinationCidrBlock="10.3.0.0/16", NetworkInterfaceId="eni-0123456789abcdef0")
    expect_error(ec2.create_route, "InvalidInstanceID.NotFound", RouteTableId=main,
                 DestinationCidrBlock="10.3.0.0/16", InstanceId="i-0123456789abcdef0")
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=inst_id, DeviceIndex=1)
    resp = expect_error(ec2.create_route, "InvalidInstanceID", RouteTableId=main, DestinationCidrBlock="10.3.0.0/16",
                        InstanceId=inst_id)
    assert resp["Error"]["Message"] == (
        f"There are multiple interfaces attached to instance '{inst_id}'. "
        "Please specify an interface ID for the operation instead.")
    # The interface now attached shows its instance.
    assert routes(ec2, main)["10.1.0.0/16"]["InstanceId"] == inst_id

    # A stopped instance takes no traffic; a terminated one is gone, and so is a deleted interface.
    ec2.stop_instances(InstanceIds=[inst_id])
    assert routes(ec2, main)["10.2.0.0/16"]["State"] == "blackhole"
    assert routes(ec2, main)["10.1.0.0/16"]["State"] == "blackhole"
    ec2.start_instances(InstanceIds=[inst_id])
    assert routes(ec2, main)["10.2.0.0/16"]["State"] == "active"
    ec2.detach_network_interface(AttachmentId=ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Attachment"]["AttachmentId"])
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    assert routes(ec2, main)["10.1.0.0/16"] == {
        "DestinationCidrBlock": "10.1.0.0/16", "NetworkInterfaceId": eni, "Origin": "CreateRoute",
        "State": "blackhole"}
    ec2.terminate_instances(InstanceIds=[inst_id])
    assert routes(ec2, main)["10.2.0.0/16"]["State"] == "blackhole"
    # A route to what is gone can point elsewhere again.
    eni2 = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.replace_route(RouteTableId=main, DestinationCidrBlock="10.2.0.0/16", NetworkInterfaceId=eni2)
    assert routes(ec2, main)["10.2.0.0/16"]["State"] == "active"


def test_associations(ec2):
    vpc_id, subnet = make_vpc(ec2, "10.76.0.0/16", "10.76.1.0/24")
    main = main_table(ec2, vpc_id)
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]

    resp = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    assoc = resp["AssociationId"]
    assert ASSOC_RE.match(assoc)
    assert resp["AssociationState"] == {"State": "associated"}
    assert table(ec2, rtb)["Associations"] == [{
        "Main": False, "RouteTableAssociationId": assoc, "RouteTableId": rtb, "SubnetId": subnet,
        "AssociationState": {"State": "associated"}}]
    # A subnet has one explicit association.
    resp = expect_error(ec2.associate_route_table, "Resource.AlreadyAssociated", RouteTableId=rtb, SubnetId=subnet)
    assert resp["Error"]["Message"] == (
        f"the specified association for route table {rtb} conflicts with an existing association")
    expect_error(ec2.associate_route_table, "Resource.AlreadyAssociated", RouteTableId=main["RouteTableId"],
                 SubnetId=subnet)
    resp = expect_error(ec2.delete_route_table, "DependencyViolation", RouteTableId=rtb)
    assert resp["Error"]["Message"] == f"The routeTable '{rtb}' has dependencies and cannot be deleted."
    default_subnet = default_subnets(ec2)[0]["SubnetId"]
    resp = expect_error(ec2.associate_route_table, "InvalidParameterValue", RouteTableId=rtb, SubnetId=default_subnet)
    assert resp["Error"]["Message"] == f"route table {rtb} and subnet {default_subnet} belong to different networks"
    expect_error(ec2.associate_route_table, "InvalidSubnetID.NotFound", RouteTableId=rtb,
                 SubnetId="subnet-0123456789abcdef0")
    expect_error(ec2.associate_route_table, "MissingParameter", RouteTableId=rtb)
    expect_error(ec2.associate_route_table, "InvalidRouteTableID.NotFound", RouteTableId="rtb-0123456789abcdef0",
                 SubnetId=subnet)

    # Filters on associations.
    def ids(name, value):
        return {t["RouteTableId"] for t in ec2.describe_route_tables(
            Filters=[{"Name": name, "Values": [value]}, {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]}
    assert ids("association.subnet-id", subnet) == {rtb}
    assert ids("association.route-table-association-id", assoc) == {rtb}
    assert ids("association.route-table-id", rtb) == {rtb}
    assert ids("association.main", "false") == {rtb}
    assert ids("association.main", "true") == {main["RouteTableId"]}

    # An edge association with the VPC's gateway.
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"][0]["InternetGatewayId"]
    edge = ec2.associate_route_table(RouteTableId=rtb, GatewayId=igw)["AssociationId"]
    assert {a.get("GatewayId") for a in table(ec2, rtb)["Associations"]} == {None, igw}
    assert ids("association.gateway-id", igw) == {rtb}
    expect_error(ec2.associate_route_table, "Resource.AlreadyAssociated", RouteTableId=rtb, GatewayId=igw)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    expect_error(ec2.delete_internet_gateway, "DependencyViolation", InternetGatewayId=igw)
    ec2.disassociate_route_table(AssociationId=edge)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    loose = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    expect_error(ec2.associate_route_table, "InvalidParameterValue", RouteTableId=rtb, GatewayId=loose)

    # Disassociate: the subnet falls back to the main table; the main association stays.
    ec2.disassociate_route_table(AssociationId=assoc)
    assert table(ec2, rtb)["Associations"] == []
    expect_error(ec2.disassociate_route_table, "InvalidAssociationID.NotFound", AssociationId=assoc)
    expect_error(ec2.disassociate_route_table, "InvalidParameterValue", AssociationId="eipassoc-0123abcd")
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    resp = expect_error(ec2.disassociate_route_table, "InvalidParameterValue", AssociationId=main_assoc)
    assert resp["Error"]["Message"] == f"cannot disassociate the main route table association {main_assoc}"

    # Replace: a subnet's association moves under a new id.
    assoc = ec2.associate_route_table(RouteTableId=main["RouteTableId"], SubnetId=subnet)["AssociationId"]
    resp = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=rtb)
    moved = resp["NewAssociationId"]
    assert ASSOC_RE.match(moved) and moved != assoc
    assert resp["AssociationState"] == {"State": "associated"}
    assert [a["SubnetId"] for a in table(ec2, rtb)["Associations"]] == [subnet]
    assert [a["Main"] for a in table(ec2, main["RouteTableId"])["Associations"]] == [True]
    expect_error(ec2.replace_route_table_association, "InvalidAssociationID.NotFound", AssociationId=assoc,
                 RouteTableId=rtb)

    # Replace the main association: the other table becomes main, the old one can go.
    new_main = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rtb)["NewAssociationId"]
    assert main_table(ec2, vpc_id)["RouteTableId"] == rtb
    assert {(a["RouteTableAssociationId"], a["Main"]) for a in table(ec2, rtb)["Associations"]} == {
        (moved, False), (new_main, True)}
    ec2.delete_route_table(RouteTableId=main["RouteTableId"])
    # A table of another VPC cannot take it.
    foreign = main_table(ec2, default_vpc(ec2)["VpcId"])["RouteTableId"]
    expect_error(ec2.replace_route_table_association, "InvalidParameterValue", AssociationId=new_main,
                 RouteTableId=foreign)

    # DeleteSubnet ends its association; DeleteVpc then takes its main table.
    ec2.delete_subnet(SubnetId=subnet)
    assert [a["Main"] for a in table(ec2, rtb)["Associations"]] == [True]
    ec2.delete_vpc(VpcId=vpc_id)
    expect_error(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=[rtb])


def test_dry_run_and_pagination(ec2):
    vpc_id, subnet = make_vpc(ec2, "10.77.0.0/16", "10.77.1.0/24")
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"][0]["InternetGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
    before = ec2.describe_route_tables()["RouteTables"]
    for call, kw in [
        (ec2.create_route_table, {"VpcId": vpc_id}),
        (ec2.delete_route_table, {"RouteTableId": rtb}),
        (ec2.describe_route_tables, {}),
        (ec2.create_route, {"RouteTableId": rtb, "DestinationCidrBlock": "1.0.0.0/8", "GatewayId": igw}),
        (ec2.replace_route, {"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw}),
        (ec2.delete_route, {"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0"}),
        (ec2.associate_route_table, {"RouteTableId": rtb, "GatewayId": igw}),
        (ec2.disassociate_route_table, {"AssociationId": assoc}),
        (ec2.replace_route_table_association, {"AssociationId": assoc, "RouteTableId": rtb}),
    ]:
        expect_error(call, "DryRunOperation", 412, DryRun=True, **kw)
    assert ec2.describe_route_tables()["RouteTables"] == before, "nothing changed"

    for _ in range(6):
        ec2.create_route_table(VpcId=vpc_id)
    seen = []
    for page in ec2.get_paginator("describe_route_tables").paginate(PaginationConfig={"PageSize": 5}):
        assert len(page["RouteTables"]) <= 5
        seen += [t["RouteTableId"] for t in page["RouteTables"]]
    assert len(seen) == len(set(seen)) == 1 + 2 + 6  # the default VPC's main; this VPC's main and rtb; six more
    # The EC2 model bounds this action's MaxResults at 100, not at 1000 as for most.
    expect_error(ec2.describe_route_tables, "InvalidParameterValue", MaxResults=101)


def test_policy_is_checked(start_server, tmp_path):
    from test_auth import credentials_file, user_client
    url = start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url
    ci, admin = user_client(url, "ci"), user_client(url, "admin")
    vpc_id = admin.describe_vpcs()["Vpcs"][0]["VpcId"]
    expect_error(ci.create_route_table, "UnauthorizedOperation", 403, VpcId=vpc_id, DryRun=True)
    assert len(ci.describe_route_tables()["RouteTables"]) == 1
    rtb = admin.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    resp = expect_error(ci.delete_route_table, "UnauthorizedOperation", 403, RouteTableId=rtb)
    assert f"route-table/{rtb}" in resp["Error"]["Message"]
    admin.delete_route_table(RouteTableId=rtb)


def test_route_tables_survive_a_restart(start_server, tmp_path):
    from eipd_helpers import make_client, random_account
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    vpc_id, subnet = make_vpc(ec2, "10.78.0.0/16", "10.78.1.0/24")
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"][0]["InternetGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "k", "Value": "v"}]}])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    main_assoc = main_table(ec2, vpc_id)["Associations"][0]["RouteTableAssociationId"]
    ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rtb)
    before = ec2.describe_route_tables()["RouteTables"]
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert ec2.describe_route_tables()["RouteTables"] == before
    assert main_table(ec2, vpc_id)["RouteTableId"] == rtb
    expect_error(ec2.associate_route_table, "Resource.AlreadyAssociated", RouteTableId=rtb, SubnetId=subnet)


def test_a_secondary_block_brings_its_local_route(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.61.0.0/16")
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    local = [r["DestinationCidrBlock"] for r in main["Routes"] if r.get("GatewayId") == "local"]
    assert local == ["10.60.0.0/16", "10.61.0.0/16"]


def test_a_local_route_can_send_the_vpc_through_an_appliance_and_be_restored(ec2):
    # AWS's middlebox routing: a gateway route table sends traffic for the
    # whole VPC to an interface, and later gets the default `local` back.
    vpc_id = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.63.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    through_eni = {"DestinationCidrBlock": "10.62.0.0/16", "NetworkInterfaceId": eni,
                   "Origin": "CreateRouteTable", "State": "active"}
    for _ in range(2):  # the same replacement twice is the same table
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.62.0.0/16", NetworkInterfaceId=eni)
        assert table(ec2, rtb)["Routes"] == [through_eni, local("10.63.0.0/16")]
    # It stays a local route: not deletable, not creatable again.
    expect_error(ec2.delete_route, "InvalidParameterValue", RouteTableId=rtb, DestinationCidrBlock="10.62.0.0/16")
    expect_error(ec2.create_route, "RouteAlreadyExists", RouteTableId=rtb, DestinationCidrBlock="10.62.0.0/16",
                 NetworkInterfaceId=eni)
    # LocalTarget brings the default target back, as often as asked.
    for _ in range(2):
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.62.0.0/16", LocalTarget=True)
        assert table(ec2, rtb)["Routes"] == [local("10.62.0.0/16"), local("10.63.0.0/16")]
    resp = expect_error(ec2.replace_route, "InvalidParameterCombination", RouteTableId=rtb,
                        DestinationCidrBlock="10.62.0.0/16", LocalTarget=True, NetworkInterfaceId=eni)
    assert "LocalTarget" in resp["Error"]["Message"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
    resp = expect_error(ec2.replace_route, "InvalidParameterValue", RouteTableId=rtb,
                        DestinationCidrBlock="0.0.0.0/0", LocalTarget=True)
    assert "0.0.0.0/0 is not a CIDR block of the VPC" in resp["Error"]["Message"]
    # A replaced local route of a secondary block goes with the block.
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.63.0.0/16", NetworkInterfaceId=eni)
    assert routes(ec2, rtb)["10.63.0.0/16"]["NetworkInterfaceId"] == eni
    block = next(b for b in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlockAssociationSet"]
                 if b["CidrBlock"] == "10.63.0.0/16")
    ec2.disassociate_vpc_cidr_block(AssociationId=block["AssociationId"])
    assert set(routes(ec2, rtb)) == {"10.62.0.0/16", "0.0.0.0/0"}
