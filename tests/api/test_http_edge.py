"""The HTTP edge: headers kept on refusals, the node's absence answered as 503, file names
in downloads, and request bodies bounded before they are read.

Why some tests talk to a real server (uvicorn on a socket): Starlette's TestClient hands
the app the whole body at once, so it cannot show whether the server waited for bytes a
client never sent, or stopped reading once a body was over its limit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chain_client.node import AnvilNode
from tests.api.conftest import World, open_world

# -- refusals keep their headers; query parameters are not amounts ------------------------


def test_405_keeps_allow_header(world: World) -> None:
    r = world.client.delete("/v1/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/v1/certificates?limit=0", "/v1/fragments?limit=-1",
                                  "/v1/offers?limit=x", "/v1/audit-log?limit=0"])
def test_query_limit_is_not_an_amount(world: World, path: str) -> None:
    r = world.client.get(path, headers=world.operator.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error", r.json()
    assert "fen" not in r.json()["detail"]


def test_body_limit_is_an_amount(world: World) -> None:
    """A credit line's ``limit`` is money: a number there is the amount-format refusal."""
    r = world.client.put("/v1/credit-lines", json={"core_enterprise_id": world.core.org_id,
                                                   "limit": 100}, headers=world.bank.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "bad_amount_format"


# -- an unreachable node: 503 with Retry-After, never 500 ---------------------------------


@pytest.fixture(scope="module")
def stopped_node_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, AnvilNode]]:
    """A world on a node of its own, which the test stops."""
    node = AnvilNode().start()
    try:
        for world in open_world(node, tmp_path_factory.mktemp("node-down")):
            yield world, node
    finally:
        node.stop()


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/health"),
    ("POST", "/v1/admin/pause"),
    ("POST", "/v1/admin/indexer"),
    ("GET", "/v1/reports/exposure"),
    ("GET", "/v1/organizations/1/balance"),
])
def test_unreachable_node_is_503_with_retry_after(
    stopped_node_world: tuple[World, AnvilNode], method: str, path: str
) -> None:
    world, node = stopped_node_world
    node.stop()
    client = TestClient(world.client.app, raise_server_exceptions=False)
    r = client.request(method, path, headers=world.operator.headers)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "chain_unavailable"
    assert int(r.headers["retry-after"]) > 0
