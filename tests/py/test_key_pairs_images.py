"""Key pairs: created (real key material that ssh-keygen and openssl accept, with EC2's
fingerprints), imported, described, deleted; RunInstances' KeyName."""
import base64
import hashlib
import os
import re
import shutil
import subprocess

import pytest

from eipd_helpers import AMI, describe_instance, expect_error

KEY_ID_RE = re.compile(r"^key-[0-9a-f]{17}$")
SHA1_RE = re.compile(r"^([0-9a-f]{2}:){19}[0-9a-f]{2}$")
MD5_RE = re.compile(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")


def tool(name):
    path = shutil.which(name)
    if not path and os.environ.get("EIPD_ALLOW_MISSING") == "1":
        pytest.skip(f"{name} is not installed")
    assert path, f"{name} is needed to check key material (Debian: openssh-client, openssl)"
    return path


def run(*cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
    assert p.returncode == 0, f"{cmd}: {p.stderr.decode()}"
    return p.stdout


def private_key_file(tmp_path, material):
    path = tmp_path / "key.pem"
    path.write_text(material)
    path.chmod(0o600)
    return path


def public_key_of(tmp_path, material):
    """ssh-keygen -y: the public key a private key file holds (and a check that it is valid)."""
    return run(tool("ssh-keygen"), "-y", "-f", str(private_key_file(tmp_path, material))).decode().split()[:2]


def key_pair(ec2, name):
    pairs = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    assert len(pairs) == 1, pairs
    return pairs[0]


def colon(digest):
    return ":".join(f"{b:02x}" for b in digest)


def test_create_rsa(ec2, tmp_path):
    r = ec2.create_key_pair(KeyName="rsa-key")
    assert KEY_ID_RE.match(r["KeyPairId"]) and r["KeyName"] == "rsa-key"
    assert r["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert SHA1_RE.match(r["KeyFingerprint"])
    algo, blob = public_key_of(tmp_path, r["KeyMaterial"])
    described = key_pair(ec2, "rsa-key")
    assert described["PublicKey"].split()[:2] == [algo, blob] and algo == "ssh-rsa"
    assert (described["KeyType"], described["KeyFingerprint"], described["KeyPairId"]) == (
        "rsa", r["KeyFingerprint"], r["KeyPairId"])
    # EC2's fingerprint of a created RSA pair: SHA-1 of the private key as PKCS#8 DER.
    der = run(tool("openssl"), "pkcs8", "-topk8", "-nocrypt", "-outform", "DER",
              "-in", str(private_key_file(tmp_path, r["KeyMaterial"])))
    assert r["KeyFingerprint"] == colon(hashlib.sha1(der).digest())


def test_create_ed25519(ec2, tmp_path):
    r = ec2.create_key_pair(KeyName="ed-key", KeyType="ed25519", KeyFormat="pem",
                            TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "a"}]}])
    assert r["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert r["Tags"] == [{"Key": "team", "Value": "a"}]
    algo, blob = public_key_of(tmp_path, r["KeyMaterial"])
    assert algo == "ssh-ed25519"
    # The base64 SHA-256 of the public key, as OpenSSH computes it, with its padding.
    assert r["KeyFingerprint"] == base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    listed = run(tool("ssh-keygen"), "-l", "-E", "sha256", "-f", str(tmp_path / "key.pem")).decode()
    assert f"SHA256:{r['KeyFingerprint'].rstrip('=')}" in listed
    described = key_pair(ec2, "ed-key")
    assert described["KeyType"] == "ed25519" and described["Tags"] == [{"Key": "team", "Value": "a"}]
    assert "CreateTime" in described
    expect_error(ec2.create_key_pair, "InvalidParameterValue", KeyName="x", KeyType="dsa")


def test_import(ec2, tmp_path):
    for kind in ["ed25519", "rsa"]:
        path = tmp_path / f"id_{kind}"
        run(tool("ssh-keygen"), "-q", "-t", kind, "-N", "", "-C", "me@host", "-f", str(path))
        public = path.with_suffix(".pub").read_bytes()
        r = ec2.import_key_pair(KeyName=f"imported-{kind}", PublicKeyMaterial=public)
        assert KEY_ID_RE.match(r["KeyPairId"])
        blob = base64.b64decode(public.split()[1])
        if kind == "ed25519":
            assert r["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()
        else:
            # EC2's fingerprint of an imported RSA key: MD5 of the DER public key.
            pem = run(tool("ssh-keygen"), "-e", "-m", "PKCS8", "-f", str(path.with_suffix(".pub")))
            der = run(tool("openssl"), "pkey", "-pubin", "-outform", "DER", stdin=pem)
            assert MD5_RE.match(r["KeyFingerprint"])
            assert r["KeyFingerprint"] == colon(hashlib.md5(der).digest())
        described = key_pair(ec2, f"imported-{kind}")
        assert described["PublicKey"].split()[:2] == public.decode().split()[:2]
        assert described["KeyType"] == kind
    resp = expect_error(ec2.import_key_pair, "InvalidKey.Format", KeyName="bad", PublicKeyMaterial=b"not a key")
    assert resp["Error"]["Message"] == "Key is not in valid OpenSSH public key format"


def test_duplicate_not_found_and_delete(ec2):
    created = ec2.create_key_pair(KeyName="k1", KeyType="ed25519")
    resp = expect_error(ec2.create_key_pair, "InvalidKeyPair.Duplicate", KeyName="k1")
    assert "k1" in resp["Error"]["Message"]
    public = key_pair(ec2, "k1")["PublicKey"].encode()
    expect_error(ec2.import_key_pair, "InvalidKeyPair.Duplicate", KeyName="k1", PublicKeyMaterial=public)
    resp = expect_error(ec2.describe_key_pairs, "InvalidKeyPair.NotFound", KeyNames=["nope"])
    assert resp["Error"]["Message"] == "The key pair 'nope' does not exist"
    expect_error(ec2.describe_key_pairs, "InvalidKeyPair.NotFound", KeyPairIds=["key-0123456789abcdef0"])
    assert "PublicKey" not in ec2.describe_key_pairs(KeyNames=["k1"])["KeyPairs"][0]
    assert ec2.delete_key_pair(KeyName="k1")["KeyPairId"] == created["KeyPairId"]
    # Deleting is idempotent.
    assert ec2.delete_key_pair(KeyName="k1")["Return"] is True
    assert ec2.delete_key_pair(KeyPairId=created["KeyPairId"])["Return"] is True
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    # The name is free again.
    ec2.create_key_pair(KeyName="k1", KeyType="ed25519")
    expect_error(ec2.delete_key_pair, "MissingParameter")


def test_filters_and_tags(ec2):
    a = ec2.create_key_pair(KeyName="alpha", KeyType="ed25519")
    b = ec2.create_key_pair(KeyName="beta", KeyType="ed25519")
    names = lambda **kw: [k["KeyName"] for k in ec2.describe_key_pairs(**kw)["KeyPairs"]]  # noqa: E731
    assert names() == ["alpha", "beta"]
    assert names(Filters=[{"Name": "key-name", "Values": ["beta"]}]) == ["beta"]
    assert names(Filters=[{"Name": "fingerprint", "Values": [a["KeyFingerprint"]]}]) == ["alpha"]
    assert names(Filters=[{"Name": "key-pair-id", "Values": [b["KeyPairId"]]}]) == ["beta"]
    ec2.create_tags(Resources=[b["KeyPairId"]], Tags=[{"Key": "env", "Value": "prod"}])
    assert names(Filters=[{"Name": "tag:env", "Values": ["prod"]}]) == ["beta"]
    assert names(Filters=[{"Name": "tag-key", "Values": ["env"]}]) == ["beta"]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["key-pair"]}])["Tags"]
    assert tags == [{"Key": "env", "Value": "prod", "ResourceId": b["KeyPairId"], "ResourceType": "key-pair"}]
    expect_error(ec2.describe_key_pairs, "InvalidParameterValue", Filters=[{"Name": "color", "Values": ["x"]}])


def test_run_instances_key_name(ec2):
    resp = expect_error(ec2.run_instances, "InvalidKeyPair.NotFound", ImageId=AMI, MinCount=1, MaxCount=1,
                        KeyName="missing")
    assert resp["Error"]["Message"] == "The key pair 'missing' does not exist"
    assert ec2.describe_instances()["Reservations"] == []
    ec2.create_key_pair(KeyName="login", KeyType="ed25519")
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, KeyName="login")["Instances"][0]["InstanceId"]
    assert describe_instance(ec2, iid)["KeyName"] == "login"
    found = ec2.describe_instances(Filters=[{"Name": "key-name", "Values": ["login"]}])["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [iid]


def test_dry_run(ec2):
    for call, kw in [
        (ec2.create_key_pair, {"KeyName": "d"}),
        (ec2.import_key_pair, {"KeyName": "d", "PublicKeyMaterial": b"ssh-ed25519 AAAA"}),
        (ec2.describe_key_pairs, {}),
        (ec2.delete_key_pair, {"KeyName": "d"}),
    ]:
        expect_error(call, "DryRunOperation", 412, DryRun=True, **kw)
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_key_pairs_survive_a_restart(start_server, tmp_path):
    from eipd_helpers import make_client, random_account
    data, account = str(tmp_path / "data"), random_account()
    srv = start_server("--data-dir", data)
    ec2 = make_client(srv.url, account)
    ec2.create_key_pair(KeyName="kept", KeyType="ed25519",
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "k", "Value": "v"}]}])
    before = ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    srv.cleanup()
    ec2 = make_client(start_server("--data-dir", data).url, account)
    assert ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"] == before
    expect_error(ec2.create_key_pair, "InvalidKeyPair.Duplicate", KeyName="kept")


# ---- images: the region's fixed catalogue of public images ------------------------

AMI_RE = re.compile(r"^ami-[0-9a-f]{17}$")
FEDORA = "125523088429"
CANONICAL = "099720109477"


def latest(images):
    """The newest image, as tools pick it without SSM: by CreationDate."""
    return sorted(images, key=lambda i: i["CreationDate"])[-1]


def test_images_show_what_tools_read(ec2):
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023.*-kernel-6.1-x86_64"]}])["Images"]
    assert len(images) >= 2, "several versions of the family"
    image = latest(images)
    assert AMI_RE.match(image["ImageId"])
    assert image["Name"].startswith("al2023-ami-2023.") and image["Name"].endswith("-kernel-6.1-x86_64")
    assert image["ImageLocation"] == "amazon/" + image["Name"]
    assert (image["State"], image["Public"], image["ImageType"]) == ("available", True, "machine")
    assert (image["OwnerId"], image["ImageOwnerAlias"]) == ("137112412989", "amazon")
    assert (image["Architecture"], image["VirtualizationType"], image["Hypervisor"]) == ("x86_64", "hvm", "xen")
    assert (image["PlatformDetails"], image["UsageOperation"]) == ("Linux/UNIX", "RunInstances")
    assert "Platform" not in image
    assert (image["RootDeviceType"], image["RootDeviceName"]) == ("ebs", "/dev/xvda")
    assert image["EnaSupport"] is True and image["SriovNetSupport"] == "simple"
    assert image["BootMode"] == "uefi-preferred"
    [root] = image["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    ebs = root["Ebs"]
    assert re.match(r"^snap-[0-9a-f]{17}$", ebs["SnapshotId"])
    assert (ebs["VolumeSize"], ebs["VolumeType"], ebs["DeleteOnTermination"], ebs["Encrypted"]) == (8, "gp3", True, False)
    assert image["DeprecationTime"] > image["CreationDate"]


def test_ansibles_latest_ami_search(ec2):
    # amazon.aws's setup_ec2_facts: filters, then the latest by creation date.
    images = ec2.describe_images(Filters=[
        {"Name": "name", "Values": ["Fedora-Cloud-Base-*.x86_64-4*"]},
        {"Name": "owner-id", "Values": [FEDORA]},
        {"Name": "architecture", "Values": ["x86_64"]},
        {"Name": "virtualization-type", "Values": ["hvm"]},
        {"Name": "root-device-type", "Values": ["ebs"]},
    ])["Images"]
    assert len(images) >= 2
    assert all(i["OwnerId"] == FEDORA and i["Architecture"] == "x86_64" for i in images)
    newest = latest(images)
    assert newest["Name"] == max(i["Name"] for i in images)
    assert newest["BlockDeviceMappings"][0]["DeviceName"] == newest["RootDeviceName"]


def test_images_by_owner_alias_architecture_and_ids(ec2):
    amazon = ec2.describe_images(Owners=["amazon"])["Images"]
    assert amazon and all(i["ImageOwnerAlias"] == "amazon" for i in amazon)
    assert {i["Architecture"] for i in amazon} == {"x86_64", "arm64"}
    by_alias = ec2.describe_images(Filters=[{"Name": "owner-alias", "Values": ["amazon"]}])["Images"]
    assert {i["ImageId"] for i in by_alias} == {i["ImageId"] for i in amazon}
    arm = ec2.describe_images(Owners=[CANONICAL], Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"]
    assert arm and all(i["Architecture"] == "arm64" and "ubuntu" in i["Name"] for i in arm)
    assert all("ImageOwnerAlias" not in i for i in arm), "Canonical's images have no alias"
    windows = ec2.describe_images(Filters=[{"Name": "platform", "Values": ["windows"]}])["Images"]
    assert windows and all(i["Platform"] == "windows" and i["PlatformDetails"] == "Windows" for i in windows)
    assert all(i["Name"].startswith("Windows_Server-2022-English-Full-Base-") for i in windows)
    two = [amazon[0]["ImageId"], arm[0]["ImageId"]]
    assert sorted(i["ImageId"] for i in ec2.describe_images(ImageIds=two)["Images"]) == sorted(two)
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_images(ExecutableUsers=["self"])["Images"] == []
    assert len(ec2.describe_images(ExecutableUsers=["all"])["Images"]) == len(ec2.describe_images()["Images"])


def test_deprecated_images_only_when_asked(ec2):
    listed = {i["ImageId"] for i in ec2.describe_images()["Images"]}
    everything = ec2.describe_images(IncludeDeprecated=True)["Images"]
    deprecated = [i for i in everything if i["ImageId"] not in listed]
    assert deprecated, "the oldest versions of the catalogue are deprecated"
    assert all(i["DeprecationTime"] < min(j["DeprecationTime"] for j in everything if j["ImageId"] in listed)
               for i in deprecated)
    one = deprecated[0]["ImageId"]
    assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[one])["Images"]] == [one], "asked by id"


def test_image_ids_are_regional(endpoint, account):
    from eipd_helpers import make_client
    east = {i["Name"]: i["ImageId"] for i in make_client(endpoint, account, "us-east-1").describe_images()["Images"]}
    west_client = make_client(endpoint, account, "eu-west-1")
    west = {i["Name"]: i["ImageId"] for i in west_client.describe_images()["Images"]}
    assert east.keys() == west.keys()
    assert all(east[n] != west[n] for n in east)
    resp = expect_error(west_client.describe_images, "InvalidAMIID.NotFound", ImageIds=[next(iter(east.values()))])
    assert resp["Error"]["Message"] == f"The image id '[{next(iter(east.values()))}]' does not exist"


def test_image_errors(ec2):
    resp = expect_error(ec2.describe_images, "InvalidAMIID.NotFound", ImageIds=["ami-0123456789abcdef0"])
    assert resp["Error"]["Message"] == "The image id '[ami-0123456789abcdef0]' does not exist"
    resp = expect_error(ec2.describe_images, "InvalidAMIID.Malformed", ImageIds=["ami-xyz"])
    assert resp["Error"]["Message"] == 'Invalid id: "ami-xyz" (expecting "ami-...")'
    expect_error(ec2.describe_images, "InvalidUserID.Malformed", Owners=["nobody"])
    expect_error(ec2.describe_images, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["x"]}])
    expect_error(ec2.describe_images, "DryRunOperation", 412, DryRun=True)


def test_instances_follow_a_catalogue_image(ec2):
    arm = latest(ec2.describe_images(Owners=[CANONICAL], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*"]}])["Images"])
    windows = latest(ec2.describe_images(Filters=[{"Name": "platform", "Values": ["windows"]}])["Images"])
    ids = {}
    for image in (arm, windows):
        run = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
        ids[image["ImageId"]] = run["InstanceId"]
        described = describe_instance(ec2, run["InstanceId"])
        for inst in (run, described):
            assert inst["ImageId"] == image["ImageId"]
            assert inst["Architecture"] == image["Architecture"]
            assert inst["RootDeviceName"] == image["RootDeviceName"]
            assert inst["PlatformDetails"] == image["PlatformDetails"]
            assert inst.get("Platform") == image.get("Platform")
        attribute = ec2.describe_instance_attribute(InstanceId=run["InstanceId"], Attribute="rootDeviceName")
        assert attribute["RootDeviceName"]["Value"] == image["RootDeviceName"]
    found = ec2.describe_instances(Filters=[{"Name": "architecture", "Values": ["arm64"]},
                                            {"Name": "instance-id", "Values": list(ids.values())}])
    assert [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]] == [ids[arm["ImageId"]]]
    # Any other well-formed ami- id still launches, as an x86_64 Linux image.
    other = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    assert (other["Architecture"], other["RootDeviceName"], other["PlatformDetails"]) == ("x86_64", "/dev/xvda",
                                                                                          "Linux/UNIX")
    assert "Platform" not in other
