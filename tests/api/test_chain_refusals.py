"""Refusals that only the ledger can make, as the API answers them.

The API checks what it can know itself (a document row already linked to a certificate),
but only the chain knows every document hash ever anchored and every member's standing,
so these go through to the contract and come back as problems of their own.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.helpers import World, upload_invoice


def _issue(w: World, document_id: int) -> Any:
    return w.client.post(
        "/v1/certificates",
        json={
            "beneficiary_id": w.tier1.org_id,
            "credit_provider_id": w.bank.org_id,
            "face_value": "100000",
            "maturity": w.block_time() + 90 * 86_400,
            "document_id": document_id,
            "invoice_number": "INV-" + uuid.uuid4().hex[:12],  # never all digits
        },
        headers=w.core.headers,
    )


def test_the_same_document_uploaded_twice_backs_one_certificate(world: World) -> None:
    content = f"purchase contract {uuid.uuid4()}".encode()
    first = upload_invoice(world, world.core, content)
    second = upload_invoice(world, world.core, content)  # a second row, the same hash
    assert first["id"] != second["id"] and first["keccak256"] == second["keccak256"]
    r = _issue(world, first["id"])
    assert r.status_code == 201, r.text
    certificate_id = r.json()["certificate_id"]
    r = _issue(world, second["id"])
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "duplicate_document", body
    assert f"certificate {certificate_id}" in body["detail"]


def test_a_suspended_bank_backs_no_new_certificate(world: World) -> None:
    c = world.client
    r = c.post(f"/v1/organizations/{world.bank.org_id}/suspend", headers=world.operator.headers)
    assert r.status_code < 300, r.text
    try:
        r = _issue(world, upload_invoice(world, world.core)["id"])
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "member_suspended", r.json()
    finally:
        r = c.post(
            f"/v1/organizations/{world.bank.org_id}/reinstate", headers=world.operator.headers
        )
        assert r.status_code < 300, r.text
    r = _issue(world, upload_invoice(world, world.core)["id"])
    assert r.status_code == 201, r.text
