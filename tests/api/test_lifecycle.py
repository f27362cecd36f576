"""The whole life of a certificate over HTTP, on SQLite and on PostgreSQL, against anvil:
issue against an uploaded invoice, accept, split to a tier-2 supplier, transfer, finance
at a bank (offer, quote, accept), mature, repay, automatic payout, claim, reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, pg_available, populate


@pytest.fixture(params=["sqlite", "postgres"])
def db_world(request: pytest.FixtureRequest, anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    if request.param == "postgres" and not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    for world in open_world(anvil, tmp_path, request.param):
        yield populate(world)


def test_full_lifecycle(db_world: World) -> None:
    w, c = db_world, db_world.client
    issued = issue_certificate(w, face_value="1000000", days=90)
    cert_id, root = issued["certificate_id"], issued["root_fragment_id"]

    # the bank downloads the invoice and sees it matches the chain
    doc_id = issued["document"]["id"]
    r = c.get(f"/v1/documents/{doc_id}/content", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    assert r.headers["X-Document-Matches-Chain"] == "true"
    assert r.headers["X-Chain-Document-Hash"] == issued["document"]["keccak256"]

    # tier 1 pays its own supplier (tier 2) with a piece of the certificate
    r = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "300000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    piece = r.json()["fragment_id"]
    r = c.get("/v1/fragments", headers=w.tier2.headers)
    assert [f["id"] for f in r.json()] == [piece]
    assert r.json()[0]["value"] == "300000"
    # tier 1 does not see tier 2's holding
    assert c.get(f"/v1/fragments/{piece}", headers=w.tier1.headers).status_code == 404

    # tier 2 finances 200000 of its piece at 5 % a year
    expires = w.block_time() + 7 * 86_400
    r = c.post(
        "/v1/offers",
        json={
            "fragment_id": piece,
            "financier_id": w.bank.org_id,
            "amount": "200000",
            "rate_bps": 500,
            "expires_at": expires,
        },
        headers=w.tier2.headers,
    )
    assert r.status_code == 201, r.text
    offer_id = r.json()["offer_id"]
    # an hour on, so that quoting and accepting fall in the same whole day to maturity (the
    # maturity was set a whole number of days after a block that may share its second)
    w.travel(3600)
    q = c.get(f"/v1/offers/{offer_id}/quote", headers=w.bank.headers)
    assert q.status_code == 200, q.text
    quote = q.json()
    assert quote["agrees_with_chain"] is True
    assert [s["step"] for s in quote["steps"]] == ["days", "discount", "payment"]
    assert int(quote["discount_fen"]) == 200000 * 500 * quote["days"] // (10000 * 360)
    before = int(
        c.get(f"/v1/organizations/{w.tier2.org_id}/balance", headers=w.tier2.headers).json()[
            "balance"
        ]
    )
    r = c.post(f"/v1/offers/{offer_id}/accept", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    financed = r.json()
    assert financed["payment"] == quote["payment_fen"]
    after = int(
        c.get(f"/v1/organizations/{w.tier2.org_id}/balance", headers=w.tier2.headers).json()[
            "balance"
        ]
    )
    assert after - before == int(quote["payment_fen"])

    # provenance of the bank's fragment reaches the root; the verifier agrees
    bank_fragment = financed["financed_fragment_id"]
    r = c.get(f"/v1/fragments/{bank_fragment}/provenance", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["path_to_root"][-1]["id"] == root
    r = c.get(f"/v1/fragments/{bank_fragment}/verification", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True, r.json()
    hist = c.get(f"/v1/fragments/{bank_fragment}/history", headers=w.bank.headers).json()
    assert "CertificateIssued" in [e["event"] for e in hist]

    # tier 2 transfers the rest of its piece back up to tier 1 (a whole-fragment move)
    r = c.post(
        f"/v1/fragments/{piece}/transfer",
        json={"to_org_id": w.tier1.org_id},
        headers=w.tier2.headers,
    )
    assert r.status_code == 200, r.text

    # auditor reports
    r = c.get("/v1/reports/exposure", headers=w.auditor.headers)
    assert r.status_code == 200, r.text
    exposure = r.json()
    assert exposure["check"]["consistent_with_chain"] is True
    assert exposure["exposure"][0]["outstanding"] == "1000000"
    vol = c.get("/v1/reports/financed-volume", headers=w.auditor.headers).json()
    assert vol["volume"][0]["amount"] == "200000"
    assert vol["check"]["consistent_with_chain"] is True
    assert (
        c.get("/v1/reports/maturing?within_days=120", headers=w.auditor.headers).json()[
            "certificates"
        ][0]["id"]
        == cert_id
    )

    # repayment before maturity is refused with a clear code
    r = c.post(
        f"/v1/certificates/{cert_id}/repay", json={"amount": "1000000"}, headers=w.core.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "not_matured"
    assert r.headers["content-type"].startswith("application/problem+json")

    # maturity: the core enterprise repays in full, the job pays every holder
    w.travel(91 * 86_400)
    r = c.post(
        f"/v1/certificates/{cert_id}/repay", json={"amount": "1000000"}, headers=w.core.headers
    )
    assert r.status_code == 200, r.text
    balances = {
        n: int(
            c.get(
                f"/v1/organizations/{w.parties[n].org_id}/balance", headers=w.operator.headers
            ).json()["balance"]
        )
        for n in ("tier1", "tier2", "bank")
    }
    r = c.post("/v1/admin/jobs/maturity", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    assert r.json()["fen_paid"] == "1000000"
    gained = {
        n: int(
            c.get(
                f"/v1/organizations/{w.parties[n].org_id}/balance", headers=w.operator.headers
            ).json()["balance"]
        )
        - balances[n]
        for n in balances
    }
    assert gained == {"tier1": 800000, "tier2": 0, "bank": 200000}
    cert = c.get(f"/v1/certificates/{cert_id}", headers=w.core.headers).json()
    assert cert["status"] == "settled" and cert["paid_out"] == "1000000"
    # nothing is owed any more: a claim is refused
    r = c.post(f"/v1/fragments/{bank_fragment}/claim", headers=w.bank.headers)
    assert r.status_code == 409 and r.json()["code"] == "nothing_owed"
    assert c.get("/v1/reports/exposure", headers=w.auditor.headers).json()["exposure"] == []

    # the audit log has every command with its transaction
    log = c.get("/v1/audit-log", headers=w.auditor.headers).json()
    actions = {e["action"] for e in log}
    assert {"issue", "accept", "split", "offer", "accept_offer", "repay", "transfer"} <= actions
    assert all(e["tx_hash"] for e in log if e["action"] == "split" and e["outcome"] == "succeeded")
