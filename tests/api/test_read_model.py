"""Read-your-writes through the indexer: a command answers once the read model covers its
block; what an abandoned block said is undone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from api.models import ChainEvent, FragmentRow, OfferRow
from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate


@pytest.fixture
def fresh(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    for world in open_world(anvil, tmp_path):
        yield populate(world)


def _split(w: World, fragment: str, amount: str) -> dict[str, Any]:
    r = w.client.post(
        f"/v1/fragments/{fragment}/split",
        json={"to_org_id": w.tier2.org_id, "amount": amount},
        headers={**w.tier1.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _events(w: World, tx_hash: str) -> list[ChainEvent]:
    with Session(w.rt.engine) as session:
        return list(session.exec(select(ChainEvent).where(ChainEvent.tx_hash == tx_hash)).all())


def _duplicates(w: World) -> int:
    with Session(w.rt.engine) as session:
        total = session.exec(select(func.count()).select_from(ChainEvent)).one()
        keys = session.exec(select(ChainEvent.tx_hash, ChainEvent.log_index).distinct()).all()
    return int(total) - len(keys)


def _fragment(w: World, fid: str) -> FragmentRow | None:
    with Session(w.rt.engine) as session:
        return session.get(FragmentRow, int(fid))


def test_command_answers_once_the_read_model_covers_its_block(fresh: World) -> None:
    w = fresh
    indexer = w.rt.indexer
    root = issue_certificate(w, face_value="5000")["root_fragment_id"]
    split = _split(w, root, "1200")
    assert indexer.indexed_block >= split["block_number"]
    # read-your-writes: the new fragment, the parent's new value, the event history
    mine = w.client.get("/v1/fragments", headers=w.tier2.headers).json()
    assert [(f["id"], f["value"]) for f in mine] == [(split["fragment_id"], "1200")]
    parent = _fragment(w, root)
    assert parent is not None and parent.value == "3800"
    assert parent.block_number >= split["block_number"]
    stored = _events(w, split["tx_hash"])
    assert {e.event for e in stored} >= {"FragmentSplit"}
    history = w.client.get(
        f"/v1/fragments/{split['fragment_id']}/history", headers=w.tier2.headers
    ).json()
    assert split["tx_hash"] in {h["tx_hash"] for h in history}
    # indexing again stores nothing twice
    indexer.catch_up()
    assert [e.id for e in _events(w, split["tx_hash"])] == [e.id for e in stored]
    assert _duplicates(w) == 0
    report = w.client.get("/v1/reports/exposure", headers=w.auditor.headers)
    assert report.status_code == 200
    assert report.json()["check"]["consistent_with_chain"] is True


def test_abandoned_block_is_undone_after_the_indexer_reached_it(fresh: World) -> None:
    """The reader's checkpoint was in the abandoned blocks: a reorg, everything above the
    surviving checkpoint undone; the offer's acceptance is taken back, the offer stays."""
    w, c = fresh, fresh.client
    indexer = w.rt.indexer
    root = issue_certificate(w, face_value="500000")["root_fragment_id"]
    r = c.post(
        "/v1/offers",
        json={
            "fragment_id": root,
            "financier_id": w.bank.org_id,
            "amount": "1000",
            "rate_bps": 500,
            "expires_at": w.block_time() + 7 * 86_400,
        },
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    offer_id = r.json()["offer_id"]
    indexer.catch_up()
    snap = w.anvil.snapshot()
    accepted = c.post(f"/v1/offers/{offer_id}/accept", headers=w.bank.headers)
    assert accepted.status_code == 200, accepted.text
    financed = accepted.json()["financed_fragment_id"]
    assert c.get(f"/v1/offers/{offer_id}", headers=w.bank.headers).json()["status"] == "accepted"
    indexer.catch_up()  # the checkpoint is now in the block that will be abandoned
    assert indexer.indexed_block >= accepted.json()["block_number"]
    assert w.anvil.revert(snap)
    w.anvil.mine(3)
    indexer.catch_up()
    with Session(w.rt.engine) as session:
        offer = session.get(OfferRow, offer_id)
    assert offer is not None and offer.status == "open" and offer.financed_fragment_id is None
    assert _fragment(w, financed) is None
    parent = _fragment(w, root)
    assert parent is not None and parent.value == "500000"
    assert _events(w, accepted.json()["tx_hash"]) == []
    assert _duplicates(w) == 0
