"""The invoice identity rule against its worked cases (tests/data/invoice_identity_cases.json),
and docs/invoice-identity.md against the same cases, so the table people read is the one
the code is held to.

Regenerate the doc's tables after changing the cases: ``python -m
tests.client.test_invoice_identity`` prints them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from chain_client.identity import (
    InvoiceIdentityError,
    SellerMismatchError,
    canonical_invoice,
    invoice_key,
    invoice_seller,
)

ROOT = Path(__file__).parents[2]
CASES: dict[str, Any] = json.loads(
    (ROOT / "tests" / "data" / "invoice_identity_cases.json").read_text(encoding="utf-8")
)
DOC = ROOT / "docs" / "invoice-identity.md"
SECRET = b"invoice-identity-test-secret"
SELLER = CASES["sellers"]["registered"]


def _canonical(case: dict[str, Any]) -> str:
    return canonical_invoice(case["number"], case.get("code")).canonical


@pytest.mark.parametrize("case", CASES["canonical"], ids=lambda c: c["case"])
def test_canonical_forms(case: dict[str, Any]) -> None:
    assert _canonical(case) == case["canonical"]
    # canonical is a fixed point: the canonical number read again is the same invoice
    kind, _, rest = case["canonical"].partition(":")
    code, _, number = rest.rpartition(":")
    assert canonical_invoice(number, code or None).canonical == case["canonical"], kind


@pytest.mark.parametrize("case", CASES["refused"], ids=lambda c: c["case"])
def test_refused(case: dict[str, Any]) -> None:
    with pytest.raises(InvoiceIdentityError) as refused:
        _canonical(case)
    assert case["refused"] in str(refused.value)
    with pytest.raises(ValueError, match="invoice"):  # the key refuses it the same way
        invoice_key(SELLER, case["number"], invoice_code=case.get("code"), secret=SECRET)


@pytest.mark.parametrize("pair", CASES["pairs"], ids=lambda p: f"{p['a']} vs {p['b']}")
def test_same_or_different(pair: dict[str, Any]) -> None:
    a, b = (canonical_invoice(pair[k]) for k in ("a", "b"))
    assert (a == b) is pair["same"], pair["why"]
    keys = (invoice_key(SELLER, pair[k], secret=SECRET) for k in ("a", "b"))
    assert (len(set(keys)) == 1) is pair["same"]


@pytest.mark.parametrize("case", CASES["sellers"]["cases"], ids=lambda c: c["case"])
def test_the_seller_is_the_registered_code(case: dict[str, Any]) -> None:
    if case["accepted"]:
        assert invoice_seller(SELLER, case["typed"]) == SELLER
    else:
        with pytest.raises(SellerMismatchError, match=SELLER):
            invoice_seller(SELLER, case["typed"])


def test_the_key_is_the_documented_hmac_of_seller_and_canonical_form() -> None:
    """The message format is pinned here, independently of the implementation: a change to
    it must bump the domain tag (and this test)."""
    for case in CASES["canonical"]:
        message = (
            CASES["key_domain"].encode()
            + b"\x00"
            + SELLER.encode()
            + b"\x00"
            + case["canonical"].encode()
        )
        expected = hmac.new(SECRET, message, hashlib.sha256).digest()
        assert (
            invoice_key(
                f" {SELLER.lower()} ", case["number"], secret=SECRET, invoice_code=case.get("code")
            )
            == expected
        )
    # another seller or another secret: another key
    number = CASES["canonical"][0]["number"]
    key = invoice_key(SELLER, number, secret=SECRET)
    assert key != invoice_key("91110000100000000R", number, secret=SECRET)
    assert key != invoice_key(SELLER, number, secret=SECRET + b"x")
    with pytest.raises(ValueError, match="secret"):
        invoice_key(SELLER, number, secret=b"short")
    with pytest.raises(ValueError, match="check digit"):  # the seller is a validated USCC
        invoice_key(SELLER[:-1] + "0", number, secret=SECRET)


# -- the doc's tables ---------------------------------------------------------------------


def shown(text: str | None) -> str:
    """A cell as people can read it: invisible characters written as <U+XXXX>."""
    if text is None:
        return ""
    out = []
    for char in text:
        hidden = unicodedata.category(char)[0] in "CMZ" and char != " "
        out.append(f"<U+{ord(char):04X}>" if hidden else char)
    return "`" + "".join(out) + "`"


def tables() -> str:
    rows = [
        "| case | invoice number | invoice code | canonical form | why |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {c['case']} | {shown(c['number'])} | {shown(c.get('code'))} | "
        f"{shown(c['canonical'])} | {c.get('note', '')} |"
        for c in CASES["canonical"]
    ]
    rows += [
        "",
        "| refused | invoice number | invoice code | the reason says | why |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {c['case']} | {shown(c['number'])} | {shown(c.get('code'))} | "
        f"{c['refused']} | {c.get('note', '')} |"
        for c in CASES["refused"]
    ]
    rows += ["", "| a | b | one invoice? | why |", "|---|---|---|---|"]
    rows += [
        f"| {shown(p['a'])} | {shown(p['b'])} | {'yes' if p['same'] else 'no'} | {p['why']} |"
        for p in CASES["pairs"]
    ]
    rows += [
        "",
        f"| `seller_tax_id` typed (beneficiary registered as `{SELLER}`) | case | accepted? |",
        "|---|---|---|",
    ]
    rows += [
        f"| {shown(c['typed'])} | {c['case']} | "
        f"{'yes' if c['accepted'] else 'no: 422 seller_mismatch'} |"
        for c in CASES["sellers"]["cases"]
    ]
    return "\n".join(rows) + "\n"


def test_the_doc_shows_these_cases() -> None:
    assert tables() in DOC.read_text(encoding="utf-8"), (
        "docs/invoice-identity.md is out of date: paste the output of "
        "`python -m tests.client.test_invoice_identity`"
    )
    assert CASES["key_domain"] in DOC.read_text(encoding="utf-8")


if __name__ == "__main__":
    print(tables(), end="")
