"""Fixtures of the API tests: one anvil node per session, and a populated SQLite world per
module (tests/api/helpers.py builds worlds; tests that want PostgreSQL or settings of their
own open one with ``open_world``).

Why one chain for many apps: deployment is a few seconds of compile-cache reads and two
transactions; each app still gets its own ledger (a new manifest path forces a new
deployment) so tests never see each other's certificates.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import World, open_world, populate


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A populated SQLite world shared by a module's tests."""
    for w in open_world(anvil, tmp_path_factory.mktemp("world")):
        yield populate(w)
