"""Time the ledger was paused after maturity does not count against the grace period.

While the ledger is paused nobody can repay, so the contract's ``overdueAt`` extends
maturity + grace by the time paused since maturity. The maturity job and the overdue
report used to take maturity + grace as the overdue moment: after such a pause the job
sent markOverdue too early (refused with NotYetOverdue, and logged) and the report listed
a certificate that was still in its grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain_client.ledger_types import CertificateStatus
from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate

DAY = 86_400


@pytest.fixture
def fresh(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    for world in open_world(anvil, tmp_path):
        yield populate(world)


def _admin(w: World, path: str) -> dict[str, Any]:
    r = w.client.post(f"/v1/admin/{path}", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _listed_overdue(w: World) -> list[int]:
    r = w.client.get("/v1/reports/overdue", headers=w.auditor.headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["certificates"]]


def _travel_to(w: World, moment: int) -> None:
    w.travel(moment - w.block_time())
    assert w.block_time() >= moment


def test_a_pause_after_maturity_extends_the_grace_period(
    fresh: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = fresh
    ledger = w.rt.gateway.ledger
    grace = ledger.grace_period()
    assert grace >= 2 * DAY  # the timeline below fits a pause inside the grace period
    cert = issue_certificate(w, face_value="9000", days=10)["certificate_id"]
    maturity = ledger.certificate(cert).maturity

    _travel_to(w, maturity + DAY // 2)
    _admin(w, "pause")
    paused_at = w.block_time()
    w.travel(grace // 2)  # half the grace period, so past maturity + grace is still inside
    _admin(w, "unpause")
    paused_for = w.block_time() - paused_at
    overdue_at = ledger.overdue_at(cert)
    assert overdue_at >= maturity + grace + paused_for - 5  # the chain's rule

    # past maturity + grace, still inside the grace period as the chain counts it
    _travel_to(w, maturity + grace + 3600)
    assert w.block_time() < overdue_at - 3600
    assert cert not in _listed_overdue(w)
    with caplog.at_level(logging.INFO, logger="api.jobs"):
        job = _admin(w, "jobs/maturity")
    assert job["marked_overdue"] == []
    tried = [r.getMessage() for r in caplog.records if r.name == "api.jobs"]
    assert tried == [], tried  # markOverdue was not even sent
    assert ledger.certificate(cert).status == CertificateStatus.ACTIVE

    # once the extended grace period has run out, the job marks it and the report lists it
    _travel_to(w, overdue_at + 60)
    assert _listed_overdue(w) == [cert]
    assert _admin(w, "jobs/maturity")["marked_overdue"] == [cert]
    assert ledger.certificate(cert).status == CertificateStatus.OVERDUE
    assert _listed_overdue(w) == [cert]
