"""The verifier against a node that filters logs by their first topic only, as
@ethereumjs/client 0.10.5 does (the consortium test network's node): it must count the
events its filter names, not every log the node returns.

Why: the verifier asks for "CertificateIssued of certificate c" and "CertificateAccepted of
certificate c" and requires exactly one of each. ethereumjs's ReceiptsManager.getLogs
returns from inside its loop over the filter's topics after the first one, so it answers
every certificate's event; on a ledger with a second certificate every verification failed
issuance and acceptance (tests/consortium/test_faults.py, the verifier against core)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chain_client.connection import connect
from chain_client.node import AnvilNode
from chain_client.verifier import Verifier, log_matches
from tests.client.helpers import LedgerWorld
from tests.client.rpc_proxy import Forward, JsonRpcProxy, Request, Response


def first_topic_only(request: Request, forward: Forward) -> Response | None:
    """eth_getLogs as ethereumjs 0.10.5 answers it: only the filter's first topic applies
    (a null first topic: none does)."""
    if request.get("method") != "eth_getLogs":
        return None
    query = dict(request["params"][0])
    topics = query.get("topics") or []
    query["topics"] = topics[:1] if topics and topics[0] is not None else []
    return forward({**request, "params": [query]})


@pytest.fixture
def loose_node(ledger_node: AnvilNode) -> Iterator[JsonRpcProxy]:
    with JsonRpcProxy(ledger_node.rpc_url) as proxy:
        proxy.add(first_topic_only)
        yield proxy


def test_a_node_that_filters_by_the_first_topic_only(
    world: LedgerWorld, loose_node: JsonRpcProxy
) -> None:
    first, root = world.issue(face_value=3_000_000)
    child = world.supplier.split(root, world.supplier2.account, 1_000_000).value
    world.issue(face_value=2_000_000)  # another certificate: its events come back too
    other_root = world.issue(face_value=1_000_000)[1]
    world.supplier.split(other_root, world.supplier3.account, 400_000)
    report = Verifier(connect(loose_node.url), world.manifest).verify(child)
    assert report.ok, report.summary()
    assert loose_node.calls["eth_getLogs"] > 0
    assert report.certificate is not None and report.certificate["id"] == first


@pytest.mark.parametrize(
    ("topics", "matches"),
    [
        ([], True),
        (["0xaa"], True),
        (["0xAA", "0xbb"], True),  # hex compared without case
        (["0xaa", "0xcc"], False),
        ([None, "0xbb"], True),
        ([None, "0xcc"], False),
        (["0xaa", ["0xcc", "0xbb"]], True),
        (["0xaa", ["0xcc", "0xdd"]], False),
        (["0xaa", None, "0xcc"], True),
        (["0xaa", None, "0xdd"], False),
        (["0xaa", "0xbb", "0xcc", "0xee"], False),  # a topic the log does not have
    ],
)
def test_log_matches(topics: list[Any], matches: bool) -> None:
    entry = {"topics": [bytes.fromhex("aa"), "0xbb", "0xcc"]}
    assert log_matches(entry, topics) is matches
