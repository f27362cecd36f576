"""One receivable backs one certificate through the HTTP API, however its number is typed.

Each variant below was accepted as a new invoice before the identity became canonical
(issue 10, item 1): case, a zero-width space, full-width letters, a non-breaking hyphen,
leading zeros, and a free-form ``seller_tax_id`` that replaced the beneficiary's code.
Every issuance uploads a fresh document, so the only thing that can stop a variant is the
invoice identity itself. The rule and its worked cases: docs/invoice-identity.md.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import World, upload_invoice

ORIGINAL = "INV-A-001"


def issue(
    w: World, number: str, *, code: str | None = None, seller: str | None = None
) -> httpx.Response:
    """POST /v1/certificates for ``number`` (a new document each time)."""
    doc = upload_invoice(w, w.core)
    body: dict[str, Any] = {
        "beneficiary_id": w.tier1.org_id,
        "credit_provider_id": w.bank.org_id,
        "face_value": "100000",
        "maturity": w.block_time() + 90 * 86_400,
        "document_id": doc["id"],
        "invoice_number": number,
    }
    if code is not None:
        body["invoice_code"] = code
    if seller is not None:
        body["seller_tax_id"] = seller
    return w.client.post("/v1/certificates", json=body, headers=w.core.headers)


def assert_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert r.json()["code"] == code, r.json()


def tier1_uscc(w: World) -> str:
    r = w.client.get(f"/v1/organizations/{w.tier1.org_id}", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["uscc"])


@pytest.fixture(scope="module")
def original(world: World) -> World:
    """The invoice behind the first certificate, issued once for the module."""
    r = issue(world, ORIGINAL)
    assert r.status_code == 201, r.text
    return world


@pytest.mark.parametrize(
    "variant",
    [
        "inv-a-001",  # lower case
        "INV-A\u200b-001",  # a zero-width space (format character, Cf)
        "\uff29\uff2e\uff36-\uff21-\uff10\uff10\uff11",  # ＩＮＶ-Ａ-００１, full-width
        "INV\u2011A\u2011001",  # non-breaking hyphens
        "INV-A-1",  # leading zeros dropped
        "INV-A-0001",  # leading zeros added
        " inv a 001 ",  # spaces for hyphens
        "INV\uff0dA\u2014001",  # full-width hyphen-minus, em dash
        "INV/A/001",  # typed separators
    ],
    ids=repr,
)
def test_a_variant_of_an_issued_invoice_is_a_duplicate(original: World, variant: str) -> None:
    assert_problem(issue(original, variant), 409, "duplicate_invoice")


def test_leading_zeros_of_a_number_do_not_make_a_new_invoice(world: World) -> None:
    assert issue(world, "INV12345").status_code == 201
    assert_problem(issue(world, "INV00012345"), 409, "duplicate_invoice")
    assert issue(world, "INV00067890").status_code == 201
    assert_problem(issue(world, "INV67890"), 409, "duplicate_invoice")


@pytest.mark.parametrize("seller", ["X", "append-digit", "core's code"])
def test_a_seller_other_than_the_beneficiary_is_refused(original: World, seller: str) -> None:
    w = original
    typed = {"X": "X", "append-digit": tier1_uscc(w) + "7"}.get(seller)
    if typed is None:
        r = w.client.get(f"/v1/organizations/{w.core.org_id}", headers=w.operator.headers)
        typed = str(r.json()["uscc"])  # a valid code, but not the beneficiary's
    r = issue(w, ORIGINAL, seller=typed)
    assert_problem(r, 422, "seller_mismatch")
    assert tier1_uscc(w) in r.json()["detail"]


def test_the_beneficiarys_code_typed_differently_is_the_same_seller(original: World) -> None:
    w = original
    code = tier1_uscc(w)
    spaced = f" {code[:8].lower()} {code[8:]}"
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in code)
    for typed in (code, spaced, fullwidth):
        assert_problem(issue(w, ORIGINAL, seller=typed), 409, "duplicate_invoice")
    assert issue(w, "INV-B-001", seller=fullwidth).status_code == 201
    assert_problem(issue(w, "inv-b-1"), 409, "duplicate_invoice")


def test_a_fully_digital_e_invoice_number(world: World) -> None:
    number = "24312000000012345678"  # 2024, region 31, then channel and sequence
    assert issue(world, number).status_code == 201
    for variant in ("2431 2000 0000 1234 5678", "\uff12\uff14" + number[2:], "00" + number):
        assert_problem(issue(world, variant), 409, "duplicate_invoice")
    assert_problem(issue(world, "09312000000012345678"), 422, "invalid_invoice")  # year 09
    assert_problem(issue(world, "2431200000001234567"), 422, "invalid_invoice")  # 19 digits
    assert_problem(issue(world, number, code="044031900111"), 422, "invalid_invoice")


def test_a_legacy_invoice_code_and_number(world: World) -> None:
    code, number = "044031900111", "00012345"
    assert issue(world, number, code=code).status_code == 201
    assert_problem(issue(world, "12345", code=code), 409, "duplicate_invoice")
    assert_problem(issue(world, "0001-2345", code="0440 3190 0111"), 409, "duplicate_invoice")
    # another code, the same number: another invoice; a 10-digit code too
    assert issue(world, number, code="044031900211").status_code == 201
    assert issue(world, number, code="3100174130").status_code == 201
    # an 8-digit number alone is ambiguous (numbers repeat across codes): refused
    r = issue(world, number)
    assert_problem(r, 422, "invalid_invoice")
    assert "invoice_code" in r.json()["detail"]
    for bad_code in ("44031900111", "9900174130", "04403190011A"):
        assert_problem(issue(world, number, code=bad_code), 422, "invalid_invoice")
    assert_problem(issue(world, "123456789", code=code), 422, "invalid_invoice")


def test_look_alike_letters_of_other_scripts_are_refused(original: World) -> None:
    # Cyrillic А (U+0410) looks like Latin A: refused rather than a new invoice
    r = issue(original, "INV-\u0410-001")
    assert_problem(r, 422, "invalid_invoice")
    assert "CYRILLIC" in r.json()["detail"]
