"""Financing without people over HTTP: two banks' standing bids, a supplier's quotes ranked
across funders with the all-in cost and the reasons of the rest, one call to sell to the
best bid (one transaction, nobody at the bank acting, the cash to a named payee), the
funder's changes and cancellation, and a core enterprise paying its supplier early."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate

DAY = 86_400


@pytest.fixture
def world(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    for w in open_world(anvil, tmp_path):
        populate(w)
        w.onboard("bank2", "financier", secrets.randbelow(10**8) * 10 + 7)
        r = w.client.post(
            f"/v1/organizations/{w.bank2.org_id}/settlement-funds",
            json={"amount": "50000000000"},
            headers=w.operator.headers,
        )
        assert r.status_code == 200, r.text
        yield w


def post_bid(w: World, party: Any, rate_bps: int, **terms: Any) -> dict[str, Any]:
    body = {
        "bands": [{"up_to_days": 366, "rate_bps": rate_bps}],
        "max_amount": "100000000",
        "expires_at": w.block_time() + 30 * DAY,
        "issuer_ids": [w.core.org_id],
        "budget": "50000000",
        **terms,
    }
    r = w.client.post("/v1/bids", json=body, headers=party.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_supplier_gets_the_best_of_two_banks_in_one_call(world: World) -> None:
    w, c = world, world.client
    root = issue_certificate(w, face_value="1000000", days=90)["root_fragment_id"]
    dear = post_bid(w, w.bank, 600)["bid_id"]
    cheap = post_bid(w, w.bank2, 400)["bid_id"]
    small = post_bid(w, w.bank2, 100, max_amount="1000")["bid_id"]

    r = c.get(f"/v1/fragments/{root}/quotes?amount=500000", headers=w.tier1.headers)
    assert r.status_code == 200, r.text
    quotes = r.json()
    assert [q["bid_id"] for q in quotes["quotes"]] == [cheap, dear]  # best payment first
    best = quotes["quotes"][0]
    assert best["funder_id"] == w.bank2.org_id and best["rate_bps"] == 400
    days = best["days"]
    assert int(best["discount"]) == 500000 * 400 * days // 3_600_000
    assert int(best["payment"]) == 500000 - int(best["discount"])
    # the all-in cost is on the cash received, so above the discount rate
    assert best["annual_cost_bps"] > 400 and best["annual_cost_percent"].startswith("4.")
    assert [(d["bid_id"], d["reason"]) for d in quotes["declined"]] == [
        (small, "amount_above_limit")
    ]
    # a ceiling on the rate declines the dearer bank with its reason
    r = c.get(
        f"/v1/fragments/{root}/quotes?amount=500000&max_rate_bps=500", headers=w.tier1.headers
    )
    assert {d["bid_id"]: d["reason"] for d in r.json()["declined"]}[dear] == "rate_above_max"

    before = w.rt.gateway.ledger.token_balance(w.tier2.address)
    r = c.post(
        f"/v1/fragments/{root}/finance",
        json={"amount": "500000", "bid": "best", "payee_id": w.tier2.org_id},
        headers={**w.tier1.headers, "Idempotency-Key": "finance-1"},
    )
    assert r.status_code == 200, r.text
    sold = r.json()
    # the quote was priced at the latest block's time; the sale, mined a block later, may
    # count a whole day less (a day boundary passed): never less than quoted
    assert sold["bid_id"] == cheap and int(sold["payment"]) >= int(best["payment"])
    assert sold["payee"] == w.tier2.address
    assert w.rt.gateway.ledger.token_balance(w.tier2.address) - before == int(sold["payment"])
    assert w.rt.gateway.ledger.fragment(int(sold["financed_fragment_id"])).holder == w.bank2.address
    # the same key answers the same sale, nothing sent twice
    again = c.post(
        f"/v1/fragments/{root}/finance",
        json={"amount": "500000", "bid": "best", "payee_id": w.tier2.org_id},
        headers={**w.tier1.headers, "Idempotency-Key": "finance-1"},
    )
    assert again.json() == sold and again.headers.get("Idempotent-Replayed") == "true"

    # the funder sees the use of its bid
    r = c.get("/v1/bids?mine=true", headers=w.bank2.headers)
    views = {b["id"]: b for b in r.json()}
    assert views[cheap]["sales"] == 1 and views[cheap]["bought"] == "500000"
    assert int(views[cheap]["remaining"]) == 50000000 - int(sold["payment"])
    assert views[cheap]["issuer_ids"] == [w.core.org_id]
    # its book: what it bought, by issuer and maturity day, and its exposure to the core
    # enterprise (bank 2 extends no credit line: its exposure is only what it bought)
    book = c.get("/v1/portfolio", headers=w.bank2.headers).json()
    (holding,) = book["holdings"]
    assert holding["issuer_id"] == w.core.org_id and holding["face_value"] == "500000"
    assert holding["fragments"] == 1 and holding["paid"] == "0"
    (exposure,) = book["exposure"]
    assert exposure["held_unpaid"] == "500000" and exposure["credit_limit"] == "0"
    # the financed volume counts the sale
    r = c.get("/v1/reports/financed-volume", headers=w.auditor.headers).json()
    assert r["check"]["consistent_with_chain"] is True
    volume = {v["financier"]: v for v in r["volume"]}
    assert volume[w.bank2.address]["amount"] == "500000"


def test_when_no_bid_fits_the_answer_says_why_per_funder(world: World) -> None:
    w, c = world, world.client
    root = issue_certificate(w, face_value="1000000", days=90)["root_fragment_id"]
    short = post_bid(w, w.bank, 300, bands=[{"up_to_days": 30, "rate_bps": 300}])["bid_id"]
    poor = post_bid(w, w.bank2, 300, budget="1000")["bid_id"]
    r = c.post(
        f"/v1/fragments/{root}/finance",
        json={"amount": "500000"},
        headers={**w.tier1.headers, "Idempotency-Key": "finance-none"},
    )
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "no_bid_fits"
    assert {d["bid_id"]: d["reason"] for d in problem["declined"]} == {
        short: "tenor_out_of_range",
        poor: "budget_exhausted",
    }
    # another member's fragment is not the caller's to sell
    r = c.get(f"/v1/fragments/{root}/quotes", headers=w.tier2.headers)
    assert r.status_code == 404


def test_the_funder_changes_and_cancels_its_bid(world: World) -> None:
    w, c = world, world.client
    bid = post_bid(w, w.bank, 500)["bid_id"]
    h = w.bank.headers
    r = c.put(f"/v1/bids/{bid}/budget", json={"remaining": "70000000"}, headers=h)
    assert r.status_code == 200, r.text
    r = c.put(
        f"/v1/bids/{bid}/terms",
        json={"bands": [{"up_to_days": 180, "rate_bps": 450}], "max_amount": "5000000",
              "expires_at": w.block_time() + DAY},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    view = c.get(f"/v1/bids/{bid}", headers=w.tier1.headers).json()
    assert view["remaining"] == "70000000" and view["bands"] == [
        {"up_to_days": 180, "rate_bps": 450}
    ]
    r = c.post(f"/v1/bids/{bid}/cancel", headers=w.bank2.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_bid_funder"
    before = w.rt.gateway.ledger.token_balance(w.bank.address)
    r = c.post(f"/v1/bids/{bid}/cancel", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["refunded"] == "70000000"
    assert w.rt.gateway.ledger.token_balance(w.bank.address) - before == 70000000
    r = c.post(f"/v1/bids/{bid}/cancel", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "bid_not_open"
    assert c.get("/v1/bids/999999", headers=h).status_code == 404
    # a supplier may not post a bid
    r = c.post("/v1/bids", json={"bands": [{"up_to_days": 9, "rate_bps": 1}], "max_amount": "1",
                                 "expires_at": w.block_time() + DAY, "budget": "1"},
               headers=w.tier1.headers)  # fmt: skip
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"


def test_a_core_enterprise_pays_its_supplier_early(world: World) -> None:
    w, c = world, world.client
    root = issue_certificate(w, face_value="1000000", days=60)["root_fragment_id"]
    bid = post_bid(w, w.core, 200, issuer_ids=None)["bid_id"]  # its own certificates only
    r = c.post(
        f"/v1/fragments/{root}/finance",
        json={"amount": "1000000", "bid": bid},
        headers={**w.tier1.headers, "Idempotency-Key": "early-1"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["financed_fragment_id"] == root
    assert w.rt.gateway.ledger.fragment(int(root)).holder == w.core.address


def test_fifty_sellers_racing_for_one_budget_never_overspend_it(world: World) -> None:
    """50 suppliers sell to one bid at once; its budget pays about 20 of them. Every sale
    is paid in full or refused with a clear reason; the escrow never goes below zero and
    the book pays out exactly what the sales say."""
    w, c = world, world.client
    root = issue_certificate(w, face_value="6000000", days=120)["root_fragment_id"]
    sellers = [
        w.onboard(f"seller{i}", "supplier", secrets.randbelow(10**8) * 10 + 9) for i in range(50)
    ]
    pieces = []
    for seller in sellers:
        r = c.post(
            f"/v1/fragments/{root}/split",
            json={"to_org_id": seller.org_id, "amount": "100000"},
            headers=w.tier1.headers,
        )
        assert r.status_code == 201, r.text
        pieces.append(r.json()["fragment_id"])
    probe = post_bid(w, w.bank2, 365, budget="1")["bid_id"]
    r = c.get(f"/v1/fragments/{pieces[0]}/quotes?amount=100000", headers=sellers[0].headers)
    (declined,) = [d for d in r.json()["declined"] if d["bid_id"] == probe]
    assert declined["reason"] == "budget_exhausted"
    payment = 100000 - 100000 * 365 * 119 // 3_600_000  # 119 or 120 days: ~20 fen apart
    budget = 20 * payment + payment // 2
    bid = post_bid(w, w.bank, 365, budget=str(budget))["bid_id"]
    answers: list[Any] = []
    lock = threading.Lock()

    def sell(seller: Any, piece: str) -> None:
        got = c.post(
            f"/v1/fragments/{piece}/finance",
            json={"amount": "100000", "bid": bid},
            headers={**seller.headers, "Idempotency-Key": f"race-{piece}"},
        )
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=sell, args=sp) for sp in zip(sellers, pieces, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sold = [a.json() for a in answers if a.status_code == 200]
    refused = [a.json() for a in answers if a.status_code != 200]
    assert 19 <= len(sold) <= 20, [a.text for a in answers][:3]
    assert len(sold) + len(refused) == 50
    for problem in refused:
        assert problem["status"] == 409, problem
        reasons = {d["reason"] for d in problem.get("declined", [])} or {problem["code"]}
        assert reasons == {"budget_exhausted"}, problem
    paid = sum(int(s["payment"]) for s in sold)
    remaining = w.rt.gateway.ledger.bid(bid).remaining
    assert remaining == budget - paid >= 0
    assert w.rt.gateway.ledger.token_balance(w.rt.gateway.ledger.bid_book_address) >= remaining
    # every fragment sold is the bank's, every other one still its seller's
    holders = {s["financed_fragment_id"] for s in sold}
    for seller, piece in zip(sellers, pieces, strict=True):
        holder = w.rt.gateway.ledger.fragment(int(piece)).holder
        assert holder == (w.bank.address if piece in holders else seller.address)


def test_early_repayment_is_asked_for_and_settles(world: World) -> None:
    """Before maturity a repayment in full needs ``early: true`` (else 409 not_matured and
    nothing sent); it settles the certificate and every holder is paid its whole value."""
    w, c = world, world.client
    issued = issue_certificate(w, face_value="1000000", days=60)
    cert = issued["certificate_id"]
    h = w.core.headers
    r = c.post(f"/v1/certificates/{cert}/repay", json={"amount": "1000000"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "not_matured", r.text
    r = c.post(f"/v1/certificates/{cert}/repay", json={"amount": "1", "early": True}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "not_matured", r.text
    r = c.post(
        f"/v1/certificates/{cert}/repay", json={"amount": "1000000", "early": True}, headers=h
    )
    assert r.status_code == 200, r.text
    assert w.rt.gateway.ledger.certificate(cert).status.label == "settled"
    assert w.rt.gateway.ledger.owed(int(issued["root_fragment_id"])) == 1000000


def test_refusals_before_anything_is_sent(world: World) -> None:
    """What the API refuses itself, clearly, before a transaction (or an allowance) is
    made: amounts beyond the bid book's 96 bits, more than the fragment holds, a cancelled
    bid named; and a sale that waits for a checker explains itself without a payee."""
    w, c = world, world.client
    root = issue_certificate(w, face_value="1000000", days=90)["root_fragment_id"]
    body = {
        "bands": [{"up_to_days": 366, "rate_bps": 300}],
        "max_amount": "1000000",
        "per_seller_limit": str(2**96),
        "expires_at": w.block_time() + DAY,
        "issuer_ids": [w.core.org_id],
        "budget": "1000000",
    }
    r = c.post("/v1/bids", json=body, headers=w.bank.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_amount", r.text
    bid = post_bid(w, w.bank, 300)["bid_id"]
    r = c.post(f"/v1/fragments/{root}/finance", json={"amount": "1000001"}, headers=w.tier1.headers)
    assert r.status_code == 422 and r.json()["code"] == "insufficient_value", r.text
    assert c.post(f"/v1/bids/{bid}/cancel", headers=w.bank.headers).status_code == 200
    r = c.post(
        f"/v1/fragments/{root}/finance",
        json={"amount": "1000", "bid": bid},
        headers=w.tier1.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "bid_not_open", r.text
    # four eyes on selling: the sale waits for a checker, its summary in words
    post_bid(w, w.bank2, 300)
    r = c.put(
        "/v1/approval-policy", json={"rules": [{"action": "sell_to_bid"}]}, headers=w.tier1.headers
    )
    assert r.status_code == 200, r.text
    r = c.post(f"/v1/fragments/{root}/finance", json={"amount": "1000"}, headers=w.tier1.headers)
    assert r.status_code == 202 and r.json()["status"] == "pending_approval", r.text
    assert r.json()["summary"].startswith("sell 10.00 CNY of fragment")
    assert "paid to" not in r.json()["summary"]
