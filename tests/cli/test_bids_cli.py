"""Financing without people through `scf` (issue 14): a bank and a core enterprise post
standing bids, a supplier sees them ranked (and why the rest would not buy), sells to the
best bid in one command and to a named one with the cash to another member, the funders
change and cancel their bids; and what is refused: a supplier posting a bid, a rate
ceiling no bid meets, a band typed wrong."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from api.cli.commands_base import UsageProblemError
from api.cli.commands_bids import parse_bands
from tests.cli.helpers import Net, as_json

CORE, T1, T2, BANK = "Core Motors", "Tier1 Parts", "Tier2 Castings", "Bank A"


def test_bands_are_typed_as_days_and_rates() -> None:
    assert parse_bands(["180:3.60%", "90:3%"]) == [
        {"up_to_days": 90, "rate_bps": 300},
        {"up_to_days": 180, "rate_bps": 360},
    ]
    assert parse_bands(["30d:250bps"]) == [{"up_to_days": 30, "rate_bps": 250}]
    for bad in (["90-3%"], ["x:3%"], ["0:3%"], ["90:3.001%"], ["90:3%", "90:4%"], []):
        with pytest.raises(UsageProblemError):
            parse_bands(bad)
    with pytest.raises(UsageProblemError, match="one to 8"):
        parse_bands([f"{d}:1%" for d in range(1, 10)])


def test_a_band_typed_wrong_exits_2_before_any_call(offline_scf: Callable[..., Any]) -> None:
    bad = offline_scf("bid", "post", "--band", "90-3%", "--budget", "1", "--key", "k", code=2)
    assert "not a tenor band" in bad.stderr


def _bought(net: Net, bid: int) -> dict[str, Any]:
    """The bid once the API has indexed its sale (the indexer runs every 0.2 s)."""
    deadline = time.monotonic() + 20
    while True:
        view = as_json(net.scf("bid", "show", bid, "--as", BANK, "--json"))
        if view["sales"] >= 1 or time.monotonic() > deadline:
            return view
        time.sleep(0.3)


def test_standing_bids_through_the_cli(net: Net) -> None:
    scf = net.scf
    issued = as_json(scf("issue", T1, "1,000,000.00", "--days", "120", "--as", CORE, "--json"))
    cert = issued["certificate"]["certificate_id"]
    root = as_json(scf("accept", cert, "--as", T1, "--json"))["root_fragment_id"]

    # the bank posts a bid for Core Motors' certificates: two tenor bands, 1,000,000.00
    # escrowed; its balance pays the escrow
    bank_before = net.balance(BANK)
    posted = scf(
        "bid",
        "post",
        "--band",
        "90:3.00%",
        "--band",
        "180:3.60%",
        "--issuer",
        CORE,
        "--budget",
        "1,000,000.00",
        "--max-amount",
        "800,000.00",
        "--as",
        BANK,
    ).stdout
    assert "posted" in posted and "up to 180 days: 3.60%" in posted, posted
    assert "1,000,000.00 CNY" in posted and CORE in posted
    assert bank_before - net.balance(BANK) == 100_000_000
    bank_bids = as_json(scf("bid", "list", "--mine", "--as", BANK, "--json"))
    assert len(bank_bids) == 1 and bank_bids[0]["status"] == "open"
    bank_bid = bank_bids[0]["id"]
    assert bank_bids[0]["bands"] == [
        {"up_to_days": 90, "rate_bps": 300},
        {"up_to_days": 180, "rate_bps": 360},
    ]
    assert bank_bids[0]["max_amount"] == "80000000"
    assert bank_bids[0]["issuer_ids"] == [net.ids[CORE]]

    # the core enterprise bids for its own certificates (no --issuer: itself), dearer; a
    # small bid of the bank buys at most 1,000.00 per sale
    core_bid = as_json(
        scf("bid", "post", "--band", "366:5%", "--budget", "600,000", "--as", CORE, "--json")
    )["bid_id"]
    small = as_json(
        scf(
            "bid",
            "post",
            "--band",
            "366:1%",
            "--issuer",
            str(net.ids[CORE]),
            "--budget",
            "10,000",
            "--max-amount",
            "1,000",
            "--as",
            BANK,
            "--json",
        )
    )
    assert small["status"] == "open" and small["budget"] == "1000000"
    listed = scf("bid", "list", "--status", "open", "--as", T1).stdout
    for text in ("Standing bids", BANK, CORE, "<=180d 3.60%", "<=366d 5.00%", "1,000,000.00"):
        assert text in listed, listed

    # an hour on, so the quote and the sale fall in the same whole day to maturity
    net.travel(3600)
    quoted = as_json(scf("quotes", f"{cert}/0", "500,000.00", "--as", T1, "--json"))
    assert quoted["amount"] == "50000000"
    assert [q["bid_id"] for q in quoted["quotes"]] == [bank_bid, core_bid]  # best first
    best = quoted["quotes"][0]
    assert best["funder_name"] == BANK and best["rate_bps"] == 360 and best["days"] == 119
    assert int(best["discount"]) == 50_000_000 * 360 * 119 // 3_600_000
    assert int(best["payment"]) == 50_000_000 - int(best["discount"])
    assert [(d["bid_id"], d["reason"]) for d in quoted["declined"]] == [
        (small["bid_id"], "amount_above_limit")
    ]
    shown = scf("quotes", f"{cert}/0", "500,000.00", "--as", T1).stdout
    for text in (
        "best first",
        "3.60% (360 bps)",
        f"{best['annual_cost_percent']}%",
        "amount_above_limit",
        "Bids that would not buy",
        "scf finance sell",
    ):
        assert text in shown, shown
    assert shown.index(BANK) < shown.index("5.00% (500 bps)")

    # the supplier sells half to the best bid: one command, the cash at once
    t1_before = net.balance(T1)
    sold = scf("finance", "sell", root, "500,000.00", "--as", T1).stdout
    payment = int(best["payment"])
    assert net.balance(T1) - t1_before == payment
    for text in (
        f"Sold to bid {bank_bid} ({BANK})",
        f"{payment // 100:,}.{payment % 100:02d} CNY",
        "all-in cost",
        f"{best['annual_cost_percent']}% a year",
        "transaction",
    ):
        assert text in sold, sold
    bid_after = _bought(net, bank_bid)
    assert bid_after["remaining"] == str(100_000_000 - payment)
    assert (bid_after["bought"], bid_after["paid"], bid_after["sales"]) == (
        "50000000",
        str(payment),
        1,
    )

    # a rate ceiling no bid meets: refused with each bid's reason, exit 1
    refused = scf("finance", "sell", root, "100,000", "--max-rate", "3%", "--as", T1, code=1)
    assert "no_bid_fits" in refused.stderr and "rate_above_max" in refused.stderr
    assert refused.stdout == ""
    problem = json.loads(
        scf(
            "finance", "sell", root, "100,000", "--max-rate", "3%", "--as", T1, "--json", code=1
        ).stderr
    )
    assert problem["code"] == "no_bid_fits" and problem["declined"]

    # a named bid, the cash to a supplier of tier 1's, in JSON
    t2_before = net.balance(T2)
    to_core = as_json(
        scf(
            "finance",
            "sell",
            f"{cert}/0",
            "100,000.00",
            "--bid",
            core_bid,
            "--payee",
            T2,
            "--as",
            T1,
            "--json",
        )
    )
    assert to_core["bid_id"] == core_bid and to_core["amount"] == "10000000"
    assert to_core["payee_id"] == net.ids[T2]
    assert net.balance(T2) - t2_before == int(to_core["payment"]) > 0
    assert int(to_core["discount"]) == 10_000_000 * 500 * to_core["days"] // 3_600_000

    # the funders: a budget changed, bids cancelled with their escrow paid back
    core_before = net.balance(CORE)
    budget = as_json(scf("bid", "budget", core_bid, "700,000.00", "--as", CORE, "--json"))
    assert budget["remaining"] == "70000000"
    assert net.balance(CORE) < core_before
    assert "paid back to you" in scf("bid", "budget", core_bid, "0", "--as", CORE).stdout

    bank_before = net.balance(BANK)
    cancelled = as_json(scf("bid", "cancel", bank_bid, "--as", BANK, "--json"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["refunded"] == str(100_000_000 - payment)
    assert net.balance(BANK) - bank_before == 100_000_000 - payment
    human = scf("bid", "cancel", small["bid_id"], "--as", BANK).stdout
    assert "cancelled" in human and "10,000.00 CNY" in human
    assert [
        b["id"] for b in as_json(scf("bid", "list", "--status", "open", "--as", T1, "--json"))
    ] == [core_bid]
    assert "bid_not_open" in scf("bid", "cancel", bank_bid, "--as", BANK, code=1).stderr


def test_a_supplier_may_not_post_a_bid(net: Net) -> None:
    args = ("bid", "post", "--band", "90:3%", "--budget", "1,000", "--issuer", CORE, "--as", T1)
    human = net.scf(*args, code=1)
    assert "wrong_role" in human.stderr and human.stdout == ""
    machine = net.scf(*args, "--json", code=1)
    assert json.loads(machine.stderr)["code"] == "wrong_role" and machine.stdout == ""
