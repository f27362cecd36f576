"""Reports never write the read model: they wait for the indexing process to cover the
chain's head. They used to index in the HTTP worker's own thread, a second writer beside
the indexing process (api.indexer: the projector is the read model's only writer)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import World, open_world, populate

REPORTS = (
    "/v1/reports/exposure",
    "/v1/reports/financed-volume",
    "/v1/reports/maturing",
    "/v1/reports/overdue",
)


@pytest.fixture
def indexing_world(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    """A world whose process runs the indexer in the background, as a server does; its
    follower steps only when someone waits (its own pass would come after 60 s)."""
    for world in open_world(anvil, tmp_path, background=True, indexer_interval=60.0):
        yield populate(world)


@pytest.fixture
def stepped_by(indexing_world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that step the world's projector, in order."""
    projector = indexing_world.rt.indexer.projector
    names: list[str] = []
    step = projector.step

    def recording_step(**kwargs: int | None) -> int:
        names.append(threading.current_thread().name)
        return step(**kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(projector, "step", recording_step)
    return names


def test_reports_wait_for_the_indexer_and_never_index_themselves(
    indexing_world: World, stepped_by: list[str]
) -> None:
    w = indexing_world
    for path in REPORTS:
        w.anvil.mine()  # a block the read model does not cover yet
        head = w.rt.gateway.head()
        r = w.client.get(path, headers=w.auditor.headers)
        assert r.status_code == 200, r.text
        assert w.rt.indexer.indexed_block >= head, path  # the report waited for it
        assert r.json()["check"].get("consistent_with_chain", True) is True
    assert stepped_by and set(stepped_by) == {"indexer"}, stepped_by


def test_the_operators_index_now_asks_the_indexer_instead_of_indexing_itself(
    indexing_world: World, stepped_by: list[str]
) -> None:
    w = indexing_world
    w.anvil.mine()
    head = w.rt.gateway.head()
    r = w.client.post("/v1/admin/indexer", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    assert w.rt.indexer.indexed_block >= head
    assert stepped_by and set(stepped_by) == {"indexer"}, stepped_by
    assert r.json() == {"caught_up": True, "indexed_block": w.rt.indexer.indexed_block}
