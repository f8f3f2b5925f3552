"""Fixtures: one eipd server for the whole session, a fresh account (and client) per test."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eipd_helpers import Server, make_client, random_account  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server, on the store EIPD_TEST_STORE names: memory (the
    default), embedded, or a postgres:// URL. The same client-level suite runs
    on each backend."""
    store = os.environ.get("EIPD_TEST_STORE", "memory")
    if store == "embedded":
        srv = Server("--data-dir", str(tmp_path_factory.mktemp("eipd-data")))
    else:
        srv = Server("--store", store)
    yield srv
    srv.cleanup()


@pytest.fixture(scope="session")
def endpoint(server) -> str:
    return server.url


@pytest.fixture
def account() -> str:
    """A fresh 12-digit account id (decisions D11) so that every test starts empty."""
    return random_account()


@pytest.fixture
def ec2(endpoint, account):
    return make_client(endpoint, account, "us-east-1")


@pytest.fixture
def new_client(endpoint):
    """Factory: new_client(account=None, region='us-east-1') -> (account, client)."""

    def make(account: str | None = None, region: str = "us-east-1"):
        acct = account or random_account()
        return acct, make_client(endpoint, acct, region)

    return make


@pytest.fixture
def start_server():
    """Factory for extra servers with their own flags; all are stopped after the test."""
    started = []

    def start(*args: str) -> Server:
        srv = Server(*args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.cleanup()
