"""The discount rule (ACT/360, rounded down to the fen) against hand-checked worked examples.

The same table (tests/data/discount_examples.json) is checked against the Python client's
mirror of the rule, so the chain and every quote agree to the fen.
"""

import json
from pathlib import Path

import pytest

EXAMPLES = json.loads((Path(__file__).parents[1] / "data" / "discount_examples.json").read_text())


@pytest.fixture(scope="module")
def harness(DiscountMathHarness, accounts):
    return DiscountMathHarness.deploy({"from": accounts[0]})


@pytest.mark.parametrize("example", EXAMPLES["discounts"], ids=lambda e: e["case"])
def test_discount(harness, example):
    amount = int(example["amount_fen"])
    discount = harness.discount(amount, example["rate_bps"], example["days"])
    assert discount == int(example["discount_fen"])
    assert amount - discount == int(example["payment_fen"])


@pytest.mark.parametrize("example", EXAMPLES["days"], ids=lambda e: e["case"])
def test_days_to_maturity(harness, example):
    assert harness.daysToMaturity(example["value_date"], example["maturity"]) == example["days"]
