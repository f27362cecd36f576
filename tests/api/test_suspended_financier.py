"""A suspended bank may still lower or close its credit lines through the API, nothing else.

The ledger lets a suspended financier reduce its exposure (lower or close a line, never
raise it) and lets a bank close its line to a suspended core enterprise: a suspension is
there to stop risk from growing, never to keep it open. The API used to refuse every
request of a suspended organization before looking at it, so the bank could not do on the
chain what the chain allows it to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.helpers import Party, World


def _set_line(w: World, limit: str) -> Any:
    return w.client.put(
        "/v1/credit-lines",
        json={"core_enterprise_id": w.core.org_id, "limit": limit},
        headers=w.bank.headers,
    )


def _limit(w: World) -> int:
    return w.rt.gateway.ledger.credit_line(w.bank.address, w.core.address).limit


def _member(w: World, party: Party, action: str) -> None:
    r = w.client.post(f"/v1/organizations/{party.org_id}/{action}", headers=w.operator.headers)
    assert r.status_code < 300, r.text


@pytest.fixture
def suspended_bank(world: World) -> Iterator[World]:
    _member(world, world.bank, "suspend")
    try:
        yield world
    finally:
        _member(world, world.bank, "reinstate")


def _refusals(w: World, org_id: int) -> list[dict[str, Any]]:
    r = w.client.get(
        "/v1/audit-log", params={"outcome": "refused", "limit": 1000}, headers=w.operator.headers
    )
    assert r.status_code == 200, r.text
    return [e for e in r.json() if e["org_id"] == org_id]


def test_a_suspended_bank_lowers_and_closes_its_line_but_never_raises_it(
    suspended_bank: World,
) -> None:
    w = suspended_bank
    before = _limit(w)
    assert before > 0
    lowered = before // 2

    r = _set_line(w, str(lowered))
    assert r.status_code == 200, r.text
    assert _limit(w) == lowered

    r = _set_line(w, str(lowered + 1))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "member_suspended", r.json()
    assert "raise" in r.json()["detail"], r.json()
    assert _limit(w) == lowered

    r = _set_line(w, str(lowered))  # the same limit raises nothing
    assert r.status_code == 200, r.text

    r = _set_line(w, "0")
    assert r.status_code == 200, r.text
    assert _limit(w) == 0

    refused = _refusals(w, w.bank.org_id)
    assert any(
        e["action"] == "set_credit_line" and e["code"] == "member_suspended" for e in refused
    ), refused


def test_a_suspended_bank_may_do_nothing_else(suspended_bank: World) -> None:
    w, c = suspended_bank, suspended_bank.client
    other_command = c.post("/v1/offers/1/accept", headers=w.bank.headers)
    a_read = c.get("/v1/credit-lines", headers=w.bank.headers)
    for r in (other_command, a_read):
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "member_suspended", r.json()
    refused = _refusals(w, w.bank.org_id)
    assert any(
        e["action"] == "POST /v1/offers/{offer_id}/accept" and e["code"] == "member_suspended"
        for e in refused
    ), refused


def test_a_suspended_member_of_another_role_may_not_set_lines(world: World) -> None:
    _member(world, world.tier1, "suspend")
    try:
        r = world.client.put(
            "/v1/credit-lines",
            json={"core_enterprise_id": world.core.org_id, "limit": "0"},
            headers=world.tier1.headers,
        )
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "member_suspended", r.json()
    finally:
        _member(world, world.tier1, "reinstate")


def test_a_bank_closes_its_line_to_a_suspended_core_enterprise(world: World) -> None:
    assert _set_line(world, "5000").status_code == 200
    _member(world, world.core, "suspend")
    try:
        r = _set_line(world, "6000")  # raising needs both parties active
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "member_suspended", r.json()
        r = _set_line(world, "0")
        assert r.status_code == 200, r.text
        assert _limit(world) == 0
    finally:
        _member(world, world.core, "reinstate")
