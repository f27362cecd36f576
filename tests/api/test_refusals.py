"""Refusals: every one audited (cheaply, and bounded under a flood), one visibility rule on
every endpoint (a record you may not see is 404, whether it exists or not), and the
provenance tree masked where the caller may not look."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import (
    Party,
    World,
    issue_certificate,
    open_world,
    pg_available,
    populate,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def rw(
    anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    if request.param == "postgres" and not pg_available():
        pytest.skip("PostgreSQL not reachable")
    for world in open_world(anvil, tmp_path_factory.mktemp("refusals"), request.param):
        w = populate(world)
        seed = secrets.randbelow(10**8) * 10
        w.onboard("core2", "core_enterprise", seed + 6)
        w.onboard("bank2", "financier", seed + 7)
        w.onboard("tier3", "supplier", seed + 8)
        yield w


def _refusals(w: World) -> list[dict[str, Any]]:
    log = w.client.get("/v1/audit-log?outcome=refused&limit=1000", headers=w.operator.headers)
    assert log.status_code == 200, log.text
    return [e for e in log.json() if e["outcome"] == "refused"]


def _new_key(w: World, party: Party) -> dict[str, Any]:
    r = w.client.post(
        f"/v1/organizations/{party.org_id}/api-keys",
        json={"label": "x"},
        headers=w.operator.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# -- every refusal is audited ----------------------------------------------------------------


def test_a_revoked_keys_attempt_is_audited_with_its_key(rw: World) -> None:
    w = rw
    key = _new_key(w, w.tier2)
    r = w.client.delete(
        f"/v1/organizations/{w.tier2.org_id}/api-keys/{key['id']}", headers=w.operator.headers
    )
    assert r.status_code == 200, r.text
    path = f"/v1/fragments/{(1 << 32) | 7}/split"
    r = w.client.post(
        path,
        json={"to_org_id": w.tier1.org_id, "amount": "1"},
        headers={"Authorization": f"Bearer {key['api_key']}"},
    )
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    rows = [e for e in _refusals(w) if e["api_key_id"] == key["id"]]
    assert rows, "a revoked key's attempt left no audit entry"
    row = rows[0]
    assert row["org_id"] == w.tier2.org_id and row["code"] == "unauthenticated"
    assert row["target"] == path and "split" in row["action"]
    assert row["params"]["status"] == 401 and row["params"]["client"]
    assert row["at"]


def test_an_unknown_key_is_audited_by_prefix_and_address(rw: World) -> None:
    w = rw
    token = "scf_" + secrets.token_urlsafe(32)
    r = w.client.get("/v1/certificates", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    rows = [e for e in _refusals(w) if e["params"].get("key_prefix") == token[:10]]
    assert rows and rows[0]["org_id"] is None and rows[0]["code"] == "unauthenticated"
    assert rows[0]["params"]["client"]
    anonymous = w.client.get("/v1/offers")
    assert anonymous.status_code == 401
    assert any(
        e["target"] == "/v1/offers" and e["params"].get("key_prefix") is None for e in _refusals(w)
    )


def test_a_wrong_role_attempt_is_audited(rw: World) -> None:
    w = rw
    root = issue_certificate(w, face_value="5000")["root_fragment_id"]
    r = w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "10"},
        headers=w.auditor.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
    rows = [
        e
        for e in _refusals(w)
        if e["org_id"] == w.auditor.org_id
        and e["code"] == "wrong_role"
        and e["target"] == f"/v1/fragments/{root}/split"
    ]
    assert len(rows) == 1, rows
    assert rows[0]["api_key_id"] is not None


def test_a_foreign_fragment_split_is_refused_before_the_chain_and_audited(rw: World) -> None:
    w = rw
    root = issue_certificate(w, face_value="5000")["root_fragment_id"]
    chain = w.rt.gateway.w3
    sent = chain.eth.get_transaction_count(w.tier2.address)
    r = w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "10"},
        headers=w.tier2.headers,
    )
    assert r.status_code == 404 and r.json()["code"] == "unknown_fragment", r.text
    assert chain.eth.get_transaction_count(w.tier2.address) == sent
    rows = [
        e
        for e in _refusals(w)
        if e["org_id"] == w.tier2.org_id
        and e["code"] == "unknown_fragment"
        and e["target"] == f"fragment:{root}"
    ]
    assert len(rows) == 1, rows


def test_a_validation_error_on_a_command_is_audited(rw: World) -> None:
    w = rw
    r = w.client.post(
        f"/v1/fragments/{(1 << 32)}/split", json={"amount": 1}, headers=w.tier3.headers
    )
    assert r.status_code == 422
    code = r.json()["code"]
    assert any(e["org_id"] == w.tier3.org_id and e["code"] == code for e in _refusals(w))


def test_a_flood_of_refusals_is_coalesced(rw: World) -> None:
    """Two hundred unauthenticated attempts from one address: one row when it starts,
    one row that counts the rest when the window closes, not two hundred rows."""
    w = rw
    for _ in range(200):
        assert (
            w.client.get(
                "/v1/organizations/1/balance", headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
    w.rt.refusals.close_window()
    rows = [e for e in _refusals(w) if e["target"] == "/v1/organizations/1/balance"]
    assert len(rows) == 2, rows
    assert sorted(e["params"].get("repeated", 0) for e in rows) == [0, 199]


def test_a_flood_from_many_sources_is_bounded(rw: World) -> None:
    """Beyond the rows a window may itemize, refusals are only counted."""
    from api.refusals import RefusalLog

    log = RefusalLog(rw.rt.engine, window=60.0, max_sources=5)
    try:
        for k in range(50):
            log.submit(
                source=f"addr:10.0.0.{k}",
                org_id=None,
                api_key_id=None,
                action="GET /v1/offers",
                target="/v1/offers",
                code="unauthenticated",
                params={"status": 401, "client": f"10.0.0.{k}"},
            )
        log.close_window()
    finally:
        log.stop()
    rows = [
        e
        for e in _refusals(rw)
        if e["target"] == "/v1/offers" and str(e["params"].get("client", "")).startswith("10.0.0.")
    ]
    assert len(rows) == 5
    overflow = [e for e in _refusals(rw) if e["action"] == "refusals_not_itemized"]
    assert overflow and overflow[-1]["params"]["repeated"] == 45


def test_a_stored_refusal_is_audited_once_not_twice(rw: World) -> None:
    """A refusal the command runner journals (a chain refusal) is in the log once."""
    w = rw
    root = issue_certificate(w, face_value="5000")["root_fragment_id"]
    key = uuid.uuid4().hex
    body = {"to_org_id": w.tier2.org_id, "amount": "5000"}
    headers = {**w.tier1.headers, "Idempotency-Key": key}
    first = w.client.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    assert first.status_code == 422 and first.json()["code"] == "insufficient_value"
    again = w.client.post(f"/v1/fragments/{root}/split", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    rows = [
        e
        for e in _refusals(w)
        if e["code"] == "insufficient_value"
        and e["target"] in (f"fragment:{root}", f"/v1/fragments/{root}/split")
    ]
    assert len(rows) == 1, rows


# -- one rule: a record you may not see is 404 everywhere --------------------------------------


def _status_code(r: Any) -> tuple[int, str]:
    return r.status_code, r.json().get("code")


def test_foreign_and_missing_records_answer_alike_on_every_command(rw: World) -> None:
    w = rw
    issued = issue_certificate(w, face_value="50000")
    root, cert = int(issued["root_fragment_id"]), issued["certificate_id"]
    missing_fragment = (cert << 32) | 4000  # same certificate, no such fragment
    r = w.client.post(
        "/v1/offers",
        json={
            "fragment_id": str(root),
            "financier_id": w.bank.org_id,
            "amount": "100",
            "rate_bps": 100,
            "expires_at": w.block_time() + 86_400,
        },
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    offer = int(r.json()["offer_id"])
    unissued = issue_certificate(w, face_value="700", accept=False)["certificate_id"]
    c = w.client
    expiry = w.block_time() + 86_400

    def offer_body(fid: int) -> dict[str, Any]:
        return {
            "fragment_id": str(fid),
            "financier_id": w.bank.org_id,
            "amount": "1",
            "rate_bps": 1,
            "expires_at": expiry,
        }

    cases = [
        # (who, foreign request, missing request)
        (
            w.tier2,
            ("post", f"/v1/fragments/{root}/split", {"to_org_id": w.tier3.org_id, "amount": "1"}),
            (
                "post",
                f"/v1/fragments/{missing_fragment}/split",
                {"to_org_id": w.tier3.org_id, "amount": "1"},
            ),
        ),
        (
            w.tier2,
            ("post", f"/v1/fragments/{root}/transfer", {"to_org_id": w.tier3.org_id}),
            ("post", f"/v1/fragments/{missing_fragment}/transfer", {"to_org_id": w.tier3.org_id}),
        ),
        (
            w.tier2,
            ("post", f"/v1/fragments/{root}/claim", None),
            ("post", f"/v1/fragments/{missing_fragment}/claim", None),
        ),
        (
            w.tier2,
            ("post", "/v1/offers", offer_body(root)),
            ("post", "/v1/offers", offer_body(missing_fragment)),
        ),
        (
            w.bank2,
            ("post", f"/v1/offers/{offer}/accept", None),
            ("post", f"/v1/offers/{offer + 10_000}/accept", None),
        ),
        (
            w.tier2,
            ("post", f"/v1/offers/{offer}/withdraw", None),
            ("post", f"/v1/offers/{offer + 10_000}/withdraw", None),
        ),
        (
            w.tier2,
            ("post", f"/v1/certificates/{unissued}/accept", None),
            ("post", f"/v1/certificates/{unissued + 10_000}/accept", None),
        ),
        (
            w.tier2,
            ("post", f"/v1/certificates/{unissued}/reject", None),
            ("post", f"/v1/certificates/{unissued + 10_000}/reject", None),
        ),
        (
            w.core2,
            ("post", f"/v1/certificates/{unissued}/revoke", None),
            ("post", f"/v1/certificates/{unissued + 10_000}/revoke", None),
        ),
        (
            w.core2,
            ("post", f"/v1/certificates/{cert}/repay", {"amount": "1"}),
            ("post", f"/v1/certificates/{cert + 10_000}/repay", {"amount": "1"}),
        ),
    ]
    mismatched = []
    for who, (m1, foreign, b1), (m2, missing, b2) in cases:
        a = c.request(m1.upper(), foreign, json=b1, headers=who.headers)
        b = c.request(m2.upper(), missing, json=b2, headers=who.headers)
        if _status_code(a) != _status_code(b) or a.status_code != 404:
            mismatched.append(f"{foreign}: {_status_code(a)} vs {missing}: {_status_code(b)}")
    assert not mismatched, "\n".join(mismatched)
    # a record the caller may see but not act on is still 403 with the ledger's reason
    r = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier3.org_id, "amount": "1"},
        headers=w.bank.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "not_holder"


def test_a_fragment_the_read_model_has_not_seen_yet_is_checked_on_chain(rw: World) -> None:
    """Visibility comes from the read model, which can lag the chain by an indexer pass:
    a holder acting on a fragment it received a moment ago is not told it does not
    exist."""
    w = rw
    root = issue_certificate(w, face_value="9000")["root_fragment_id"]
    from sqlmodel import Session

    from api.models import FragmentRow

    def set_holder(address: str | None) -> None:
        with Session(w.rt.engine) as session:
            row = session.get(FragmentRow, int(root))
            assert row is not None
            row.holder = address
            session.add(row)
            session.commit()

    # the read model still shows the fragment with its previous holder
    set_holder(w.tier3.address)
    try:
        r = w.client.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": w.tier2.org_id, "amount": "10"},
            headers=w.tier1.headers,
        )
        assert r.status_code == 201, r.text
        stranger = w.client.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": w.tier3.org_id, "amount": "10"},
            headers=w.tier2.headers,
        )
        assert _status_code(stranger) == (404, "unknown_fragment")
    finally:
        set_holder(w.tier1.address)


# -- provenance is masked where the caller may not look ----------------------------------------


def _nodes(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield tree
    for child in tree["children"]:
        yield from _nodes(child)


def test_provenance_masks_fragments_the_caller_may_not_see(rw: World) -> None:
    w = rw
    root = issue_certificate(w, face_value="100000")["root_fragment_id"]
    c = w.client
    a = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "3000"},
        headers=w.tier1.headers,
    )
    assert a.status_code == 201, a.text
    piece = a.json()["fragment_id"]
    b = c.post(
        f"/v1/fragments/{piece}/split",
        json={"to_org_id": w.tier3.org_id, "amount": "700"},
        headers=w.tier2.headers,
    )
    assert b.status_code == 201, b.text
    leaf = b.json()["fragment_id"]

    # tier 2 sees its own piece, not tier 1's root nor tier 3's leaf
    view = c.get(f"/v1/fragments/{piece}/provenance", headers=w.tier2.headers).json()
    path = {n["id"]: n for n in view["path_to_root"]}
    assert path[piece]["holder"] == w.tier2.address and path[piece]["value"] == "2300"
    assert path[root]["holder"] is None and path[root]["holder_name"] is None
    assert path[root]["value"] is None and path[root]["masked"] is True
    assert path[piece]["masked"] is False and path[root]["parent_id"] is None
    tree = {n["id"]: n for n in _nodes(view["subtree"])}
    assert tree[piece]["holder"] == w.tier2.address
    assert tree[leaf]["holder"] is None and tree[leaf]["value"] is None
    assert tree[leaf]["masked"] is True

    # tier 1 (the root's holder) does not see where its supplier passed the piece on
    top = c.get(f"/v1/fragments/{root}/provenance", headers=w.tier1.headers).json()
    nodes = {n["id"]: n for n in _nodes(top["subtree"])}
    assert nodes[root]["holder"] == w.tier1.address and nodes[root]["value"] == "97000"
    assert nodes[piece]["holder"] is None and nodes[leaf]["holder"] is None

    # the issuer and the underwriting bank see the whole certificate
    for who in (w.core, w.bank, w.auditor):
        full = c.get(f"/v1/fragments/{leaf}/provenance", headers=who.headers).json()
        assert [n["holder"] for n in full["path_to_root"]] == [
            w.tier3.address,
            w.tier2.address,
            w.tier1.address,
        ]
        assert not any(n["masked"] for n in full["path_to_root"])
