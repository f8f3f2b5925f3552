"""pytest fixtures for tests that talk to eipd (loaded through the ``pytest11`` entry point).

Fixtures:

``eipd_server`` (session)
    One eipd for the whole test session: the packaged binary on a free port of
    127.0.0.1 with the memory store (an :class:`eipd.Server`). With
    ``EIPD_ENDPOINT_URL`` set (or ``--eipd-endpoint-url``), an
    :class:`eipd.Endpoint` for that running eipd instead, e.g. a service
    container in CI. Has ``endpoint_url``, ``client()`` and ``reset()``.
``eipd_account``
    A fresh random 12-digit account id per test. eipd takes a 12-digit access
    key id as the account, so each test starts with an empty account and
    never sees another test's addresses.
``eipd_region``
    The region of ``eipd_ec2`` and ``eipd_aws_env``: the ``eipd_region`` ini
    option, ``us-east-1`` by default. Override the fixture to change it.
``eipd_ec2``
    A boto3 EC2 client for ``eipd_account`` in ``eipd_region``.
``eipd_aws_env``
    Sets ``AWS_ENDPOINT_URL_EC2``, ``AWS_ACCESS_KEY_ID`` (the test's
    account), ``AWS_SECRET_ACCESS_KEY`` and ``AWS_DEFAULT_REGION`` for the
    test, and hides shared AWS config files and profiles, so code under test
    that builds its own ``boto3.client("ec2")`` (boto3 1.28 or later) or runs
    the AWS CLI (v2.13 or later) talks to eipd, in the test's account.
    Returns the variables it set.

ini options: ``eipd_args`` (more ``eipd serve`` flags for the session server,
e.g. ``--flavor moto``), ``eipd_region``.
"""
from __future__ import annotations

import os
import shlex

import pytest

import eipd


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eipd", "eipd (local Amazon EC2 Elastic IP API)")
    group.addoption(
        "--eipd-endpoint-url",
        dest="eipd_endpoint_url",
        default=None,
        help="use the eipd already running at this URL instead of starting one (default: $EIPD_ENDPOINT_URL)",
    )
    group.addoption(
        "--eipd-args",
        dest="eipd_args",
        default=None,
        help="more `eipd serve` flags for the session server, as one string (adds to the eipd_args ini option)",
    )
    parser.addini("eipd_args", "more `eipd serve` flags for the session server", type="args", default=[])
    parser.addini("eipd_region", "region of the eipd_ec2 client and eipd_aws_env", default="us-east-1")


@pytest.fixture(scope="session")
def eipd_server(pytestconfig: pytest.Config):
    url = pytestconfig.getoption("eipd_endpoint_url") or os.environ.get("EIPD_ENDPOINT_URL")
    if url:
        yield eipd.Endpoint(url)
        return
    args = list(pytestconfig.getini("eipd_args"))
    extra = pytestconfig.getoption("eipd_args")
    if extra:
        args += shlex.split(extra)
    try:
        server = eipd.Server(*args).start()
    except (eipd.ServerError, FileNotFoundError) as e:
        pytest.fail(f"eipd_server: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


_handed_out: set[str] = set()


@pytest.fixture
def eipd_account() -> str:
    while True:
        account = eipd.random_account()
        if account not in _handed_out:
            _handed_out.add(account)
            return account


@pytest.fixture
def eipd_region(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getini("eipd_region") or "us-east-1"


@pytest.fixture
def eipd_ec2(eipd_server, eipd_account: str, eipd_region: str):
    return eipd_server.client("ec2", account=eipd_account, region=eipd_region)


@pytest.fixture
def eipd_aws_env(eipd_server, eipd_account: str, eipd_region: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ENDPOINT_URL_EC2": eipd_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": eipd_account,
        "AWS_SECRET_ACCESS_KEY": eipd.DUMMY_SECRET,
        "AWS_DEFAULT_REGION": eipd_region,
        "AWS_CONFIG_FILE": str(tmp_path / "eipd-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "eipd-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
