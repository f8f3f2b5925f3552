"""Instance and network interface attributes (Describe/Modify/Reset*Attribute), termination
and stop protection, and what becomes of an interface and its Elastic IP when its instance
terminates."""
import base64

from eipd_helpers import (
    AMI, allocate, default_subnets, describe_address, describe_eni, describe_instance, expect_error,
    make_vpc, run_instance,
)


def instance_attribute(ec2, instance_id, name):
    return ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name)


def eni_attribute(ec2, eni_id, name):
    return ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute=name)


def primary_eni(inst):
    return next(n for n in inst["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 0)


def test_instance_attributes_as_launched(ec2):
    r = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.small", UserData="#!/bin/sh\necho hi\n",
                          DisableApiTermination=False, InstanceInitiatedShutdownBehavior="terminate",
                          EbsOptimized=True)
    iid = r["Instances"][0]["InstanceId"]
    assert r["Instances"][0]["EbsOptimized"] is True
    assert instance_attribute(ec2, iid, "instanceType")["InstanceType"] == {"Value": "t3.small"}
    # boto3 base64-encodes RunInstances' UserData; EC2 gives the base64 back.
    assert instance_attribute(ec2, iid, "userData")["UserData"] == {
        "Value": base64.b64encode(b"#!/bin/sh\necho hi\n").decode()}
    assert instance_attribute(ec2, iid, "disableApiTermination")["DisableApiTermination"] == {"Value": False}
    assert instance_attribute(ec2, iid, "disableApiStop")["DisableApiStop"] == {"Value": False}
    assert instance_attribute(ec2, iid, "instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"] == {"Value": "terminate"}
    assert instance_attribute(ec2, iid, "ebsOptimized")["EbsOptimized"] == {"Value": True}
    assert instance_attribute(ec2, iid, "enaSupport")["EnaSupport"] == {"Value": True}
    assert instance_attribute(ec2, iid, "sourceDestCheck")["SourceDestCheck"] == {"Value": True}
    assert instance_attribute(ec2, iid, "rootDeviceName")["RootDeviceName"] == {"Value": "/dev/xvda"}
    assert instance_attribute(ec2, iid, "productCodes")["ProductCodes"] == []
    assert instance_attribute(ec2, iid, "blockDeviceMapping")["BlockDeviceMappings"] == []
    assert instance_attribute(ec2, iid, "enclaveOptions")["EnclaveOptions"] == {"Enabled": False}
    inst = describe_instance(ec2, iid)
    groups = instance_attribute(ec2, iid, "groupSet")["Groups"]
    assert groups == [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in inst["SecurityGroups"]]
    # Each answer carries the instance id and only the attribute asked for.
    got = instance_attribute(ec2, iid, "kernel")
    assert got["InstanceId"] == iid and "InstanceType" not in got and "UserData" not in got
    expect_error(ec2.describe_instance_attribute, "InvalidParameterValue", InstanceId=iid, Attribute="color")
    expect_error(ec2.describe_instance_attribute, "InvalidInstanceID.NotFound", InstanceId="i-0123456789abcdef0",
                 Attribute="instanceType")
    # No user data: the element is there, without a value.
    plain = run_instance(ec2)["InstanceId"]
    assert "Value" not in instance_attribute(ec2, plain, "userData").get("UserData", {})


def test_instance_type_and_user_data_change_only_when_stopped(ec2):
    iid = run_instance(ec2)["InstanceId"]
    resp = expect_error(ec2.modify_instance_attribute, "IncorrectInstanceState", InstanceId=iid,
                        InstanceType={"Value": "m5.large"})
    assert resp["Error"]["Message"] == f"The instance '{iid}' is not in the 'stopped' state."
    expect_error(ec2.modify_instance_attribute, "IncorrectInstanceState", InstanceId=iid, UserData={"Value": b"x"})
    ec2.stop_instances(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "m5.large"})
    # ModifyInstanceAttribute's UserData is a blob: boto3 base64-encodes it.
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": b"#cloud-config\n"})
    ec2.start_instances(InstanceIds=[iid])
    inst = describe_instance(ec2, iid)
    assert (inst["InstanceType"], inst["State"]["Name"]) == ("m5.large", "running")
    assert instance_attribute(ec2, iid, "instanceType")["InstanceType"] == {"Value": "m5.large"}
    assert instance_attribute(ec2, iid, "userData")["UserData"] == {"Value": base64.b64encode(b"#cloud-config\n").decode()}
    # The Attribute/Value form.
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior", Value="terminate")
    assert instance_attribute(ec2, iid, "instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"] == {"Value": "terminate"}


def test_one_attribute_per_call(ec2):
    iid = run_instance(ec2)["InstanceId"]
    resp = expect_error(ec2.modify_instance_attribute, "InvalidParameterCombination", InstanceId=iid,
                        SourceDestCheck={"Value": False}, DisableApiTermination={"Value": True})
    assert "sourceDestCheck" in resp["Error"]["Message"] and "disableApiTermination" in resp["Error"]["Message"]
    expect_error(ec2.modify_instance_attribute, "MissingParameter", InstanceId=iid)
    expect_error(ec2.modify_instance_attribute, "InvalidParameterValue", InstanceId=iid,
                 InstanceInitiatedShutdownBehavior={"Value": "explode"})
    # Nothing changed.
    assert instance_attribute(ec2, iid, "disableApiTermination")["DisableApiTermination"] == {"Value": False}
    assert describe_instance(ec2, iid)["SourceDestCheck"] is True


def test_termination_protection(ec2):
    protected = run_instance(ec2)["InstanceId"]
    free = run_instance(ec2)["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=protected, DisableApiTermination={"Value": True})
    assert instance_attribute(ec2, protected, "disableApiTermination")["DisableApiTermination"] == {"Value": True}
    resp = expect_error(ec2.terminate_instances, "OperationNotPermitted", InstanceIds=[free, protected])
    assert resp["Error"]["Message"] == (
        f"The instance '{protected}' may not be terminated. "
        "Modify its 'disableApiTermination' instance attribute and try again.")
    assert describe_instance(ec2, free)["State"]["Name"] == "running", "nothing was terminated"
    assert describe_instance(ec2, protected)["State"]["Name"] == "running"
    ec2.modify_instance_attribute(InstanceId=protected, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[free, protected])
    assert describe_instance(ec2, protected)["State"]["Name"] == "terminated"
    # Protection given at launch.
    launched = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, DisableApiTermination=True)
    iid = launched["Instances"][0]["InstanceId"]
    expect_error(ec2.terminate_instances, "OperationNotPermitted", InstanceIds=[iid])


def test_stop_protection(ec2):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, DisableApiStop=True)["Instances"][0]["InstanceId"]
    resp = expect_error(ec2.stop_instances, "OperationNotPermitted", InstanceIds=[iid])
    assert "disableApiStop" in resp["Error"]["Message"]
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": False})
    ec2.stop_instances(InstanceIds=[iid])
    assert describe_instance(ec2, iid)["State"]["Name"] == "stopped"


def test_source_dest_check_and_groups_through_the_instance(ec2):
    inst = run_instance(ec2)
    iid, eni_id = inst["InstanceId"], primary_eni(inst)["NetworkInterfaceId"]
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    assert describe_instance(ec2, iid)["SourceDestCheck"] is False
    assert describe_eni(ec2, eni_id)["SourceDestCheck"] is False
    assert instance_attribute(ec2, iid, "sourceDestCheck")["SourceDestCheck"] == {"Value": False}
    ec2.reset_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")
    assert describe_instance(ec2, iid)["SourceDestCheck"] is True
    expect_error(ec2.reset_instance_attribute, "InvalidParameterValue", InstanceId=iid, Attribute="instanceType")

    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    ec2.modify_instance_attribute(InstanceId=iid, Groups=[gid])
    assert [g["GroupId"] for g in describe_instance(ec2, iid)["SecurityGroups"]] == [gid]
    assert [g["GroupId"] for g in describe_eni(ec2, eni_id)["Groups"]] == [gid]
    expect_error(ec2.modify_instance_attribute, "InvalidGroup.NotFound", InstanceId=iid, Groups=["sg-0123456789abcdef0"])

    # With a second interface, EC2 wants the interface named.
    subnet_id = inst["SubnetId"]
    other = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=other, InstanceId=iid, DeviceIndex=1)
    resp = expect_error(ec2.modify_instance_attribute, "InvalidInstanceID", InstanceId=iid,
                        SourceDestCheck={"Value": False})
    assert resp["Error"]["Message"] == (
        f"There are multiple interfaces attached to instance '{iid}'. "
        "Please specify an interface ID for the operation instead.")


def test_network_interface_attributes(ec2):
    subnet_id = default_subnets(ec2)[0]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet_id, Description="before")["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    got = eni_attribute(ec2, eni_id, "description")
    got.pop("ResponseMetadata")
    assert got == {"NetworkInterfaceId": eni_id, "Description": {"Value": "before"}}
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Description={"Value": "after"})
    assert eni_attribute(ec2, eni_id, "description")["Description"] == {"Value": "after"}
    assert describe_eni(ec2, eni_id)["Description"] == "after"

    assert eni_attribute(ec2, eni_id, "sourceDestCheck")["SourceDestCheck"] == {"Value": True}
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
    assert eni_attribute(ec2, eni_id, "sourceDestCheck")["SourceDestCheck"] == {"Value": False}
    assert describe_eni(ec2, eni_id)["SourceDestCheck"] is False
    ec2.reset_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck="sourceDestCheck")
    assert describe_eni(ec2, eni_id)["SourceDestCheck"] is True

    a = ec2.create_security_group(GroupName="a", Description="a")["GroupId"]
    b = ec2.create_security_group(GroupName="b", Description="b")["GroupId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Groups=[a, b])
    assert eni_attribute(ec2, eni_id, "groupSet")["Groups"] == [
        {"GroupId": a, "GroupName": "a"}, {"GroupId": b, "GroupName": "b"}]
    # A group of another VPC.
    vpc_id, _ = make_vpc(ec2, "10.77.0.0/16", "10.77.1.0/24", attach_igw=False)
    elsewhere = ec2.create_security_group(GroupName="x", Description="x", VpcId=vpc_id)["GroupId"]
    expect_error(ec2.modify_network_interface_attribute, "InvalidParameter", NetworkInterfaceId=eni_id,
                 Groups=[elsewhere])
    assert [g["GroupId"] for g in describe_eni(ec2, eni_id)["Groups"]] == [a, b]

    # Not attached: no attachment element.
    assert "Attachment" not in eni_attribute(ec2, eni_id, "attachment")
    resp = expect_error(ec2.modify_network_interface_attribute, "InvalidParameterCombination",
                        NetworkInterfaceId=eni_id, Description={"Value": "x"}, SourceDestCheck={"Value": False})
    assert "description" in resp["Error"]["Message"]
    expect_error(ec2.modify_network_interface_attribute, "MissingParameter", NetworkInterfaceId=eni_id)
    expect_error(ec2.describe_network_interface_attribute, "InvalidParameterValue", NetworkInterfaceId=eni_id,
                 Attribute="mtu")
    expect_error(ec2.describe_network_interface_attribute, "InvalidNetworkInterfaceID.NotFound",
                 NetworkInterfaceId="eni-0123456789abcdef0", Attribute="description")


def test_delete_on_termination(ec2):
    inst = run_instance(ec2)
    iid = inst["InstanceId"]
    primary = primary_eni(inst)
    # The interface made at launch goes with the instance.
    assert primary["Attachment"]["DeleteOnTermination"] is True
    eni = describe_eni(ec2, primary["NetworkInterfaceId"])
    assert eni["Attachment"]["DeleteOnTermination"] is True
    att = eni_attribute(ec2, eni["NetworkInterfaceId"], "attachment")["Attachment"]
    assert (att["AttachmentId"], att["InstanceId"], att["DeviceIndex"], att["DeleteOnTermination"]) == (
        eni["Attachment"]["AttachmentId"], iid, 0, True)
    # An attached one stays.
    other = ec2.create_network_interface(SubnetId=inst["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
    attachment = ec2.attach_network_interface(NetworkInterfaceId=other, InstanceId=iid, DeviceIndex=1)["AttachmentId"]
    assert describe_eni(ec2, other)["Attachment"]["DeleteOnTermination"] is False
    nics = {n["NetworkInterfaceId"]: n for n in describe_instance(ec2, iid)["NetworkInterfaces"]}
    assert nics[other]["Attachment"]["DeleteOnTermination"] is False
    expect_error(ec2.modify_network_interface_attribute, "InvalidAttachmentID.NotFound", NetworkInterfaceId=other,
                 Attachment={"AttachmentId": eni["Attachment"]["AttachmentId"], "DeleteOnTermination": True})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=other,
                                           Attachment={"AttachmentId": attachment, "DeleteOnTermination": True})
    assert describe_eni(ec2, other)["Attachment"]["DeleteOnTermination"] is True
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=primary["NetworkInterfaceId"],
        Attachment={"AttachmentId": eni["Attachment"]["AttachmentId"], "DeleteOnTermination": False})
    ec2.terminate_instances(InstanceIds=[iid])
    enis = {n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    assert primary["NetworkInterfaceId"] in enis and other not in enis
    assert describe_eni(ec2, primary["NetworkInterfaceId"])["Status"] == "available"


def test_terminate_keeps_the_association_of_a_surviving_interface(ec2):
    """AWS: an interface that outlives its instance is detached and keeps its Elastic IP."""
    _, subnet_id = make_vpc(ec2, "10.78.0.0/16", "10.78.1.0/24")
    inst = run_instance(ec2, subnet_id)
    iid = inst["InstanceId"]
    spare = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=spare, InstanceId=iid, DeviceIndex=1)
    kept, ended = allocate(ec2), allocate(ec2)
    kept_assoc = ec2.associate_address(AllocationId=kept["AllocationId"], NetworkInterfaceId=spare)["AssociationId"]
    ec2.associate_address(AllocationId=ended["AllocationId"],
                          NetworkInterfaceId=primary_eni(inst)["NetworkInterfaceId"])
    ec2.terminate_instances(InstanceIds=[iid])
    a = describe_address(ec2, kept["AllocationId"])
    assert (a["AssociationId"], a["NetworkInterfaceId"]) == (kept_assoc, spare)
    assert "InstanceId" not in a or not a["InstanceId"], "no instance any more"
    eni = describe_eni(ec2, spare)
    assert eni["Status"] == "available" and "Attachment" not in eni
    assert eni["Association"]["PublicIp"] == kept["PublicIp"]
    # The launch interface went with the instance, and its association with it.
    b = describe_address(ec2, ended["AllocationId"])
    assert not b.get("AssociationId") and not b.get("NetworkInterfaceId")
    # The survivor can be attached to another instance, its address with it.
    other = run_instance(ec2, subnet_id)["InstanceId"]
    ec2.attach_network_interface(NetworkInterfaceId=spare, InstanceId=other, DeviceIndex=1)
    assert describe_address(ec2, kept["AllocationId"])["InstanceId"] == other


def test_associate_public_ip_address_attribute(ec2):
    inst = run_instance(ec2)  # the default subnet maps a public IP at launch
    eni_id = primary_eni(inst)["NetworkInterfaceId"]
    assert inst.get("PublicIpAddress")
    assert eni_attribute(ec2, eni_id, "associatePublicIpAddress")["AssociatePublicIpAddress"] is True
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, AssociatePublicIpAddress=False)
    assert eni_attribute(ec2, eni_id, "associatePublicIpAddress")["AssociatePublicIpAddress"] is False
    assert not describe_instance(ec2, inst["InstanceId"]).get("PublicIpAddress")
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, AssociatePublicIpAddress=True)
    assert describe_instance(ec2, inst["InstanceId"]).get("PublicIpAddress")


def test_dry_run(ec2):
    inst = run_instance(ec2)
    iid, eni_id = inst["InstanceId"], primary_eni(inst)["NetworkInterfaceId"]
    for call, kw in [
        (ec2.describe_instance_attribute, {"InstanceId": iid, "Attribute": "instanceType"}),
        (ec2.modify_instance_attribute, {"InstanceId": iid, "DisableApiTermination": {"Value": True}}),
        (ec2.reset_instance_attribute, {"InstanceId": iid, "Attribute": "sourceDestCheck"}),
        (ec2.describe_network_interface_attribute, {"NetworkInterfaceId": eni_id, "Attribute": "description"}),
        (ec2.modify_network_interface_attribute, {"NetworkInterfaceId": eni_id, "SourceDestCheck": {"Value": False}}),
        (ec2.reset_network_interface_attribute, {"NetworkInterfaceId": eni_id, "SourceDestCheck": "true"}),
    ]:
        expect_error(call, "DryRunOperation", 412, DryRun=True, **kw)
    assert instance_attribute(ec2, iid, "disableApiTermination")["DisableApiTermination"] == {"Value": False}
    assert describe_eni(ec2, eni_id)["SourceDestCheck"] is True


def test_policy_is_checked(start_server, tmp_path):
    from test_auth import credentials_file, user_client
    url = start_server("--store", "memory", "--auth", "strict", "--credentials", credentials_file(tmp_path)).url
    ci, admin = user_client(url, "ci"), user_client(url, "admin")
    iid = run_instance(admin)["InstanceId"]
    resp = expect_error(ci.modify_instance_attribute, "UnauthorizedOperation", 403, InstanceId=iid,
                        DisableApiTermination={"Value": True})
    assert f"instance/{iid}" in resp["Error"]["Message"]
    expect_error(admin.modify_instance_attribute, "DryRunOperation", 412, InstanceId=iid,
                 DisableApiTermination={"Value": True}, DryRun=True)
    admin.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})


def test_attributes_survive_a_restart(start_server, tmp_path):
    from eipd_helpers import make_client, random_account
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, UserData="hello",
                            DisableApiTermination=True)["Instances"][0]["InstanceId"]
    eni_id = describe_instance(ec2, iid)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert instance_attribute(ec2, iid, "userData")["UserData"] == {"Value": base64.b64encode(b"hello").decode()}
    assert instance_attribute(ec2, iid, "disableApiTermination")["DisableApiTermination"] == {"Value": True}
    assert describe_eni(ec2, eni_id)["SourceDestCheck"] is False
    expect_error(ec2.terminate_instances, "OperationNotPermitted", InstanceIds=[iid])
