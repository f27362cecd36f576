"""A split through the API costs the same on a certificate of 400 fragments as on one of 3
(issue 10, item 9: splitting slowed as a certificate grew).

Not a timed assertion: the work of a split is counted at both sizes and must be equal.

* SQL statements, by text (a query per fragment of the certificate adds statements);
* SQLite virtual-machine instructions over all of them (a query that reads every fragment
  or every event of the certificate in one statement adds instructions per row read: an
  index lookup is a handful of instructions whatever the table holds);
* JSON-RPC calls to the node, by method, each call of a batch counted (reading the
  certificate's fragments from the chain adds calls). Receipt and head polls are left out:
  how many a split needs depends on how fast the node mines, which is the node's concern.

Why the node's speed is not the API's: anvil 1.7.1 rebuilds its state root from every
storage slot, and copies the whole state for its block history, on every block it mines, so
each block costs time in proportion to everything the chain holds (docs/benchmarks.md,
"Splitting as a certificate grows"); chain_client's own splits slow down the same way.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests.adapters
from sqlalchemy import event

from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate

GROWN_BY = 400  # fragments added between the two measurements
SPLITS = 3  # measured splits at each size
#: node calls whose number depends on the node's speed (polling), not on the work asked
POLLS = frozenset(
    {
        "eth_getTransactionReceipt",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_chainId",
    }
)


@dataclass
class Work:
    """What one split made the database and the node do."""

    statements: Counter[str] = field(default_factory=Counter)
    vm_steps: int = 0
    node_calls: Counter[str] = field(default_factory=Counter)


class Meter:
    """Counts statements, SQLite instructions and node calls while ``current`` is set."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.current: Work | None = None
        self.engine = world.rt.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)
        send = requests.adapters.HTTPAdapter.send

        def counting_send(adapter: Any, request: Any, **kwargs: Any) -> Any:
            if self.current is not None and request.body:
                body = json.loads(request.body)
                for call in body if isinstance(body, list) else [body]:
                    if call.get("method") not in POLLS:
                        self.current.node_calls[call["method"]] += 1
            return send(adapter, request, **kwargs)

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counting_send)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)

    def _statement(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        if self.current is None:
            return
        self.current.statements[" ".join(statement.split())] += 1
        # every 1 virtual-machine instruction of this connection counts from now on
        # (set again on each statement: the pool may hand out another connection)
        conn.connection.dbapi_connection.set_progress_handler(self._step, 1)

    def _step(self) -> int:
        if self.current is not None:
            self.current.vm_steps += 1
        return 0  # go on


@pytest.fixture
def meter(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Meter]:
    if world.rt.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite instructions")
    m = Meter(world, monkeypatch)
    yield m
    m.close()


def _split(world: World, fragment: str) -> None:
    r = world.client.post(
        f"/v1/fragments/{fragment}/split",
        json={"to_org_id": world.tier2.org_id, "amount": "1"},
        headers={**world.tier1.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text


def _measured_splits(world: World, meter: Meter, fragment: str) -> list[Work]:
    _split(world, fragment)  # not measured: whatever a first split does once
    works = []
    for _ in range(SPLITS):
        meter.current = Work()
        try:
            _split(world, fragment)
        finally:
            works.append(meter.current)
            meter.current = None
    return works


def _grow(world: World, anvil: AnvilNode, fragment: str, count: int) -> None:
    """``count`` splits of ``fragment`` by its holder straight through chain_client (fixed
    gas, mined a few blocks at a time), then the indexer catches up."""
    ledger = world.rt.gateway.ledger_as(world.tier1.address)
    sender = ledger.sender
    assert sender is not None
    fees = sender.fee_strategy.fees(ledger.w3)
    anvil.set_automine(False)
    try:
        last = None
        for _ in range(count):
            tx = ledger.ledger.transaction(
                "split", int(fragment), world.tier2.address, 1, gas=200_000
            )
            last = sender.submit(tx, abi=ledger.ledger.abi, fees=fees)
        while int(anvil.rpc("txpool_status", [])["pending"], 16):
            anvil.mine()
    finally:
        anvil.set_automine(True)
    assert last is not None
    sender.wait(last)
    world.rt.indexer.catch_up()


def test_a_split_costs_the_same_on_a_large_certificate(
    world: World, anvil: AnvilNode, meter: Meter
) -> None:
    cert = issue_certificate(world, face_value="10000000")
    root = cert["root_fragment_id"]
    # past the indexer's window of 128 checkpoints, so that every step moves it alike
    anvil.mine(130)
    world.rt.indexer.catch_up()
    small = _measured_splits(world, meter, root)
    _grow(world, anvil, root, GROWN_BY)
    size = world.rt.gateway.ledger.certificate(cert["certificate_id"]).fragment_count
    assert size >= GROWN_BY
    large = _measured_splits(world, meter, root)

    before, after = small[0], large[0]
    assert after.statements == before.statements, (
        f"SQL statements of a split on a new certificate vs one of {size}: "
        f"{sum(before.statements.values())} vs {sum(after.statements.values())}; added "
        f"{after.statements - before.statements}, gone {before.statements - after.statements}"
    )
    assert after.node_calls == before.node_calls, (
        f"node calls of a split on a new certificate vs one of {size}: "
        f"{dict(before.node_calls)} vs {dict(after.node_calls)}"
    )
    assert after.vm_steps == before.vm_steps, (
        f"a split ran {before.vm_steps} SQLite instructions on a new certificate "
        f"and {after.vm_steps} on one of {size}"
    )
    # and the measure is exact: every split of either size did the same work
    assert all(w == before for w in small + large), small + large
