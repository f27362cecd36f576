"""Fixtures for the consortium tests: one multi-node Clique network of @ethereumjs/client
per test run (starting one takes about 15 s), shared by every module. A test that stops or
kills a node starts it again before it ends (``restarted`` in helpers.py), so the next test
finds the whole network up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain_client.connection import connect
from chain_client.consortium import ConsortiumNetwork


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsortiumNetwork]:
    net = ConsortiumNetwork.create(tmp_path_factory.mktemp("consortium") / "network")
    with net:
        yield net


@pytest.fixture(scope="session")
def operator_w3(network: ConsortiumNetwork):
    """web3 on the operator's node (where the API would be)."""
    return connect(network.node("operator").rpc_url)
