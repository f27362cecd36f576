"""Fixtures for the consortium tests: one multi-node Clique network of @ethereumjs/client
per test run (starting one takes about 15 s), shared by every module, and one API served
on its operator's node (``api``). A test that stops or kills a node starts it again before
it ends (``stopped`` and ``stays_up`` in helpers.py), so the next test finds the whole
network up."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from api.cli.client import ApiClient
from api.cli.seed import KeyEntry, seed_network, write_keys_file
from api.settings import Settings
from chain_client.connection import connect
from chain_client.consortium import ConsortiumNetwork
from chain_client.encoding import to_hex
from tests.api.helpers import serve

#: the API's operator account, funded at genesis (a real chain has no anvil_setBalance)
API_OPERATOR = Account.from_key(secrets.token_bytes(32))
OPERATOR_API_KEY = "scf_consortium_operator_" + secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsortiumNetwork]:
    net = ConsortiumNetwork.create(
        tmp_path_factory.mktemp("consortium") / "network", funded=[API_OPERATOR.address]
    )
    with net:
        yield net


@pytest.fixture(scope="session")
def operator_w3(network: ConsortiumNetwork):
    """web3 on the operator's node (where the API would be)."""
    return connect(network.node("operator").rpc_url)


@dataclass(frozen=True)
class ServedApi:
    """The API on the operator's node, seeded like `scf up` seeds it. ``app``: the served
    application, for a test that must act at a precise point inside a command (the fault
    tests kill a node right after a transaction is journaled)."""

    url: str
    settings: Settings
    keys_file: Path
    keys: dict[str, KeyEntry]
    app: FastAPI

    @property
    def manifest(self) -> Path:
        return self.settings.data_dir / "manifest.json"

    def client(self, name: str) -> ApiClient:
        return ApiClient(self.url, str(self.keys[name]["api_key"]))


@pytest.fixture(scope="session")
def api(
    network: ConsortiumNetwork, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApi]:
    """One API for the consortium tests, with its indexer and maturity job running: it
    deploys the ledger through the operator's node on start, as a server does."""
    data = tmp_path_factory.mktemp("api")
    settings = Settings(
        data_dir=data,
        rpc_url=network.node("operator").rpc_url,
        master_passphrase=SecretStr("consortium test passphrase"),
        operator_private_key=SecretStr(to_hex(API_OPERATOR.key)),
        bootstrap_operator_api_key=SecretStr(OPERATOR_API_KEY),
        keystore_scrypt_n=2**10,
        tx_timeout=90.0,
        rate_limit_per_second=1000.0,
        rate_limit_burst=10_000,
    )
    app = create_app(settings)
    server = serve(app)
    url = next(server)
    try:
        keys = seed_network(ApiClient(url, OPERATOR_API_KEY))
        keys_file = data / "api-keys.json"
        write_keys_file(keys_file, keys)
        yield ServedApi(url, settings, keys_file, keys, app)
    finally:
        server.close()
