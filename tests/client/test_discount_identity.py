"""The discount mirror against the worked examples, and USCC / invoice-key identities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain_client.discount import DiscountQuote, days_to_maturity, discount, quote
from chain_client.identity import (
    invoice_key,
    normalize_uscc,
    org_id_hash,
    uscc_check_digit,
    validate_uscc,
)

EXAMPLES = json.loads(
    (Path(__file__).parents[1] / "data" / "discount_examples.json").read_text(encoding="utf-8")
)
DAY = 86_400


@pytest.mark.parametrize("case", EXAMPLES["discounts"], ids=lambda c: c["case"])
def test_discount_examples(case):
    amount, rate, days = int(case["amount_fen"]), case["rate_bps"], case["days"]
    assert discount(amount, rate, days) == int(case["discount_fen"])
    if int(case["discount_fen"]) >= amount:
        # The rule prices it, but the ledger refuses such an offer (DiscountExceedsAmount);
        # quote() mirrors the ledger, not just the formula.
        with pytest.raises(ValueError, match="DiscountExceedsAmount"):
            quote(amount, rate, 0, days * DAY)
        return
    q = quote(amount, rate, 1_000_000, 1_000_000 + days * DAY)
    assert (q.days, q.discount, q.payment) == (
        days,
        int(case["discount_fen"]),
        int(case["payment_fen"]),
    )


@pytest.mark.parametrize("case", EXAMPLES["days"], ids=lambda c: c["case"])
def test_days_examples(case):
    assert days_to_maturity(case["value_date"], case["maturity"]) == case["days"]


def test_quote_explains_its_arithmetic():
    q = quote(1_000_001, 385, 0, 97 * DAY + 3_599)
    assert isinstance(q, DiscountQuote)
    steps = {s["step"]: s for s in q.steps()}
    assert steps["days"]["result"] == "97"
    assert (
        steps["discount"]["computation"] == "floor(1000001 * 385 * 97 / 3600000) = "
        "floor(37345037345 / 3600000)"
    )
    assert steps["discount"]["result"] == "10373"
    assert steps["payment"]["result"] == "989628"
    as_json = q.to_dict()
    assert as_json["payment_fen"] == "989628" and as_json["days"] == 97
    assert "discount: floor(" in q.explain()


def test_quote_refuses_what_the_contract_refuses():
    with pytest.raises(TypeError):
        quote(10.5, 100, 0, DAY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        discount(True, 100, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maximum"):
        quote(100, 10_001, 0, DAY)
    with pytest.raises(ValueError, match="DiscountExceedsAmount"):
        quote(100, 10_000, 0, 366 * DAY)  # 366 days at 100% eats it all
    with pytest.raises(ValueError):
        quote(0, 100, 0, DAY)
    assert quote(100, 500, 2 * DAY, DAY).days == 0  # matured: no discount


def test_uscc_validation_and_hash():
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"
    assert validate_uscc(" 9135-0100 m000100y43 ") == "91350100M000100Y43"
    # Built by hand: 9,1,1,1,0,0,0,0,1,0,0,0,0,0,0,0,0 with weights 1,3,9,27,19,26,16,17,20..
    # sum = 9+3+9+27+20 = 68; 68 mod 31 = 6; 31 - 6 = 25 -> 'R'
    assert uscc_check_digit("91110000100000000") == "R"
    assert validate_uscc("91110000100000000R")
    assert org_id_hash("91350100m000100y43") == org_id_hash("91350100M000100Y43")
    assert len(org_id_hash("91350100M000100Y43")) == 32
    assert org_id_hash("91350100M000100Y43") != org_id_hash("91110000100000000R")
    assert normalize_uscc(" a-b ") == "AB"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350100M000100Y44", "check digit"),
        ("91350100M000100Y4", "17 characters"),
        ("91350100M000100I43", "not allowed"),
        ("", "0 characters"),
    ],
)
def test_uscc_errors(code, message):
    with pytest.raises(ValueError, match=message):
        org_id_hash(code)


def test_invoice_key_is_keyed_normalized_and_deterministic():
    """The worked cases of the rule are in test_invoice_identity.py; here, the key's use."""
    secret = b"k" * 32
    seller, legacy = "91350100M000100Y43", {"invoice_code": "3100174130"}
    key = invoice_key(seller, "12345678", secret=secret, **legacy)
    assert len(key) == 32
    assert key == invoice_key(
        " 9135-0100 m000100y43", " 1234 5678 ", secret=secret, invoice_code="3100 1741 30"
    )
    assert key != invoice_key(seller, "12345679", secret=secret, **legacy)
    assert key != invoice_key(seller, "12345678", secret=secret, invoice_code="3100174131")
    assert key != invoice_key(seller, "12345678", secret=b"x" * 32, **legacy)
    with pytest.raises(ValueError, match="secret"):
        invoice_key(seller, "INV-1", secret=b"short")
    with pytest.raises(ValueError, match="empty"):
        invoice_key(seller, "  ", secret=secret)
    with pytest.raises(ValueError, match="18"):  # the seller is a registered USCC, not text
        invoice_key("A/B", "INV-1", secret=secret)
