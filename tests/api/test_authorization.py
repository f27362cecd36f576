"""The authorization matrix: every role against every endpoint.

Each route of the app must appear in MATRIX (a new endpoint without an entry fails the
test). For each role, a request that the role may not make must be refused by the API
itself (403 with ``required_roles``, or 403 ``forbidden`` for another organization's
resources, or 404 for records it may not see); a role that may make it must never get
that refusal. Unauthenticated requests get 401 everywhere but /v1/health.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session

from api import webhooks
from api.models import Webhook
from chain_client.node import AnvilNode
from tests.api.helpers import World, issue_certificate, open_world, populate, upload_invoice

ALL = {"operator", "core_enterprise", "supplier", "financier", "auditor"}
HOLDERS = {"supplier", "financier"}
OVERSEE = {"operator", "auditor"}
ROLE_PARTY = {
    "operator": "operator",
    "core_enterprise": "core",
    "supplier": "tier1",
    "financier": "bank",
    "auditor": "auditor",
}

#: (method, path) -> roles allowed by the API (a chain refusal may still follow).
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/v1/health"): ALL,
    ("POST", "/v1/admin/pause"): {"operator"},
    ("POST", "/v1/admin/unpause"): {"operator"},
    ("POST", "/v1/admin/jobs/maturity"): {"operator"},
    ("POST", "/v1/admin/indexer"): {"operator"},
    ("GET", "/v1/audit-log"): OVERSEE,
    ("GET", "/v1/me"): ALL,
    ("POST", "/v1/organizations"): {"operator"},
    ("GET", "/v1/organizations"): ALL,
    ("GET", "/v1/organizations/{org_id}"): ALL,
    ("POST", "/v1/organizations/{org_id}/api-keys"): {"operator"},  # or the org itself
    ("GET", "/v1/organizations/{org_id}/api-keys"): {"operator"},
    ("DELETE", "/v1/organizations/{org_id}/api-keys/{key_id}"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/suspend"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/reinstate"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/key-rotation"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/settlement-funds"): {"operator"},
    ("GET", "/v1/organizations/{org_id}/balance"): OVERSEE,
    ("POST", "/v1/documents"): ALL - {"auditor"},
    # the certificate's documents, to whom may see the certificate (the bank underwrote it)
    ("GET", "/v1/documents"): ALL,
    ("GET", "/v1/documents/{document_id}"): OVERSEE | {"core_enterprise", "financier", "supplier"},
    ("GET", "/v1/documents/{document_id}/content"): OVERSEE
    | {"core_enterprise", "financier", "supplier"},
    ("POST", "/v1/certificates"): {"core_enterprise"},
    ("POST", "/v1/payables/preview"): {"core_enterprise"},
    ("POST", "/v1/payables/issue"): {"core_enterprise"},
    ("GET", "/v1/certificates"): ALL,
    ("GET", "/v1/certificates/{certificate_id}"): ALL,
    ("POST", "/v1/certificates/{certificate_id}/accept"): {"supplier"},
    ("POST", "/v1/certificates/{certificate_id}/reject"): {"supplier"},
    ("POST", "/v1/certificates/{certificate_id}/revoke"): {"core_enterprise"},
    ("POST", "/v1/certificates/{certificate_id}/repay"): {"core_enterprise"},
    ("POST", "/v1/fragments/{fragment_id}/split"): HOLDERS,
    ("POST", "/v1/fragments/{fragment_id}/transfer"): HOLDERS,
    ("POST", "/v1/fragments/{fragment_id}/claim"): HOLDERS,
    ("GET", "/v1/fragments"): ALL,
    # the issuer and the bank that underwrote the certificate see its fragments
    ("GET", "/v1/fragments/{fragment_id}"): ALL,
    ("GET", "/v1/fragments/{fragment_id}/provenance"): ALL,
    ("GET", "/v1/fragments/{fragment_id}/history"): ALL,
    ("GET", "/v1/fragments/{fragment_id}/verification"): ALL,
    ("PUT", "/v1/credit-lines"): {"financier"},
    ("GET", "/v1/credit-lines"): ALL,
    ("POST", "/v1/offers"): HOLDERS,
    ("GET", "/v1/offers"): ALL,
    ("GET", "/v1/offers/{offer_id}"): OVERSEE | {"supplier", "financier"},
    ("GET", "/v1/offers/{offer_id}/quote"): OVERSEE | {"supplier", "financier"},
    ("POST", "/v1/quotes"): ALL,
    ("POST", "/v1/offers/{offer_id}/accept"): {"financier"},
    ("POST", "/v1/offers/{offer_id}/withdraw"): HOLDERS,
    ("GET", "/v1/reports/exposure"): OVERSEE,
    ("GET", "/v1/reports/financed-volume"): OVERSEE,
    ("GET", "/v1/reports/maturing"): OVERSEE,
    ("GET", "/v1/reports/overdue"): OVERSEE,
    # every organization keeps its own four-eyes policy and decides its own commands
    ("GET", "/v1/approval-policy"): ALL,
    ("PUT", "/v1/approval-policy"): ALL,
    ("GET", "/v1/approvals"): ALL,
    # a command is its organization's: the supplier's waiting split (others: 404)
    ("POST", "/v1/approvals/{command_id}/approve"): {"supplier"},
    ("POST", "/v1/approvals/{command_id}/reject"): {"supplier"},
    # self-custody: the command is the supplier's (others: 404); the challenge the operator's
    ("GET", "/v1/commands/{command_id}"): {"supplier"},
    ("POST", "/v1/commands/{command_id}/signature"): {"supplier"},
    ("POST", "/v1/organizations/address-challenge"): {"operator"},
    ("POST", "/v1/organizations/me/settlement-allowance"): {"core_enterprise", "financier"},
    # standing bids: funders post and manage theirs (another's: 403 not_bid_funder, the
    # ledger's reason); every member sees them; a holder asks quotes and sells
    ("POST", "/v1/bids"): {"core_enterprise", "financier"},
    ("GET", "/v1/bids"): ALL,
    ("GET", "/v1/bids/{bid_id}"): ALL,
    ("PUT", "/v1/bids/{bid_id}/terms"): {"core_enterprise", "financier"},
    ("PUT", "/v1/bids/{bid_id}/budget"): {"core_enterprise", "financier"},
    ("POST", "/v1/bids/{bid_id}/cancel"): {"core_enterprise", "financier"},
    ("GET", "/v1/fragments/{fragment_id}/quotes"): HOLDERS,
    ("POST", "/v1/fragments/{fragment_id}/finance"): HOLDERS,
    ("GET", "/v1/portfolio"): {"core_enterprise", "financier"},
    # people: anyone may try to sign in; the session routes are a signed-in person's, and a
    # request with an API key has none (404 unknown_session); an organization's people are
    # managed by the organization or the operator (tried on another's, as keys are)
    ("POST", "/v1/session"): ALL,
    ("GET", "/v1/session"): set(),
    ("DELETE", "/v1/session"): set(),
    ("PUT", "/v1/session/password"): set(),
    ("PUT", "/v1/session/language"): set(),
    ("POST", "/v1/organizations/{org_id}/users"): {"operator"},
    ("GET", "/v1/organizations/{org_id}/users"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/users/{user_id}/disable"): {"operator"},
    ("POST", "/v1/organizations/{org_id}/users/{user_id}/unlock"): {"operator"},
    ("PUT", "/v1/organizations/{org_id}/users/{user_id}/password"): {"operator"},
    # notifications and webhooks are each organization's own (another's webhook: 404)
    ("GET", "/v1/notifications"): ALL,
    ("POST", "/v1/notifications/read"): ALL,
    ("POST", "/v1/webhooks"): ALL,
    ("GET", "/v1/webhooks"): ALL,
    ("DELETE", "/v1/webhooks/{webhook_id}"): {"supplier"},
    ("POST", "/v1/webhooks/{webhook_id}/test"): {"supplier"},
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): {"supplier"},
}


@pytest.fixture(scope="module")
def matrix_world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for world in open_world(anvil, tmp_path_factory.mktemp("matrix")):
        yield populate(world)


def _request(w: World, method: str, path: str, role: str, fx: dict[str, Any]) -> Any:
    # key management is tried on an organization none of the tested roles belongs to
    # (every organization may manage its own keys)
    by_org = "api-keys" in path or "/users" in path
    params = {**fx["path"], "org_id": fx["key_org_id"]} if by_org else fx["path"]
    url = path.format(**params)
    body = fx["bodies"].get((method, path))
    headers = w.parties[ROLE_PARTY[role]].headers if role != "operator" else w.operator.headers
    if path in ("/v1/documents", "/v1/payables/preview") and method == "POST":
        return w.client.post(
            url, files={"file": ("a.txt", b"x" + role.encode(), "text/plain")}, headers=headers
        )
    if method == "GET":
        return w.client.get(url, headers=headers)
    if method == "DELETE":
        return w.client.delete(url, headers=headers)
    return w.client.request(method, url, json=body if body is not None else None, headers=headers)


def test_every_route_is_in_the_matrix(matrix_world: World) -> None:
    schema = matrix_world.client.get("/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    assert routes == set(MATRIX), (routes - set(MATRIX), set(MATRIX) - routes)


def test_authorization_matrix(matrix_world: World) -> None:
    w = matrix_world
    w.parties["operator"] = w.operator
    issued = issue_certificate(w, face_value="100000")
    root = issued["root_fragment_id"]
    w.client.post(
        "/v1/offers",
        json={
            "fragment_id": root,
            "financier_id": w.bank.org_id,
            "amount": "100",
            "rate_bps": 100,
            "expires_at": w.block_time() + 86_400,
        },
        headers=w.tier1.headers,
    )
    offer_id = w.client.get("/v1/offers", headers=w.tier1.headers).json()[0]["id"]
    doc = issued["document"]
    spare_doc = upload_invoice(w, w.core)
    # a split waiting for a checker of the supplier's, to be decided (by its own maker's key:
    # refused by the four-eyes rule, not by role)
    w.client.put(
        "/v1/approval-policy", json={"rules": [{"action": "split"}]}, headers=w.tier1.headers
    )
    waiting = w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "1"},
        headers=w.tier1.headers,
    )
    assert waiting.status_code == 202, waiting.text
    w.client.put("/v1/approval-policy", json={"rules": []}, headers=w.tier1.headers)
    key = w.client.post(
        f"/v1/organizations/{w.tier2.org_id}/api-keys", json={}, headers=w.operator.headers
    ).json()
    person = w.client.post(
        f"/v1/organizations/{w.tier2.org_id}/users",
        json={"login": "matrix-person", "name": "m", "password": "matrix password 1"},
        headers=w.tier2.headers,
    )
    assert person.status_code == 201, person.text
    # the supplier's webhook (made in the database: this world calls no address)
    with Session(w.rt.engine) as session:
        nonce, sealed = webhooks.seal_secret(
            w.rt.document_key, "whsec_m", w.tier1.org_id, "https://hooks.invalid/m"
        )
        hook = Webhook(
            org_id=w.tier1.org_id,
            url="https://hooks.invalid/m",
            secret_nonce=nonce,
            secret_sealed=sealed,
        )
        session.add(hook)
        session.commit()
        webhook_id = hook.id
    terms = {
        "bands": [{"up_to_days": 366, "rate_bps": 100}],
        "max_amount": "1000",
        "expires_at": w.block_time() + 86_400,
    }
    bid = w.client.post(
        "/v1/bids",
        json={**terms, "issuer_ids": [w.core.org_id], "budget": "1000"},
        headers=w.bank.headers,
    )
    assert bid.status_code == 201, bid.text
    fx = {
        "key_org_id": w.tier2.org_id,
        "path": {
            "org_id": w.auditor.org_id,
            "key_id": key["id"],
            "document_id": doc["id"],
            "certificate_id": issued["certificate_id"],
            "fragment_id": root,
            "offer_id": offer_id,
            "command_id": waiting.json()["command_id"],
            "bid_id": bid.json()["bid_id"],
            "user_id": person.json()["id"],
            "webhook_id": webhook_id,
        },
        "bodies": {
            ("POST", "/v1/organizations"): {"name": "x", "uscc": "bad", "role": "supplier"},
            ("POST", "/v1/organizations/{org_id}/api-keys"): {"label": "m"},
            ("POST", "/v1/organizations/{org_id}/settlement-funds"): {"amount": "1"},
            # the auditor's organization: no ledger account, 422 unknown_member
            ("POST", "/v1/organizations/{org_id}/key-rotation"): {},
            ("POST", "/v1/certificates"): {
                "beneficiary_id": w.tier1.org_id,
                "credit_provider_id": w.bank.org_id,
                "face_value": "10",
                "maturity": 1,
                "document_id": spare_doc["id"],
                "invoice_number": "M-1",
            },
            ("POST", "/v1/certificates/{certificate_id}/repay"): {"amount": "1"},
            ("POST", "/v1/payables/issue"): {
                "beneficiary_id": w.tier1.org_id,
                "credit_provider_id": w.bank.org_id,
                "face_value": "10",
                "maturity": 1,
                "invoice_number": "M-2",
                "source_file": "m.csv",
                "source_sha256": "0" * 64,
                "row": 2,
            },
            ("POST", "/v1/fragments/{fragment_id}/split"): {
                "to_org_id": w.tier2.org_id,
                "amount": "1",
            },
            ("POST", "/v1/fragments/{fragment_id}/transfer"): {"to_org_id": w.tier2.org_id},
            ("PUT", "/v1/credit-lines"): {
                "core_enterprise_id": w.core.org_id,
                "limit": "100000000000",
            },
            ("POST", "/v1/offers"): {
                "fragment_id": root,
                "financier_id": w.bank.org_id,
                "amount": "1",
                "rate_bps": 1,
                "expires_at": 1,
            },
            ("POST", "/v1/quotes"): {"fragment_id": root, "amount": "100", "rate_bps": 300},
            ("PUT", "/v1/approval-policy"): {"rules": []},
            ("POST", "/v1/approvals/{command_id}/reject"): {"reason": "m"},
            ("POST", "/v1/commands/{command_id}/signature"): {"raw": "0x00"},
            ("POST", "/v1/organizations/address-challenge"): {
                "uscc": "bad",
                "address": "0x" + "11" * 20,
            },
            # as large as onboarding set it: later tests still repay and buy
            ("POST", "/v1/organizations/me/settlement-allowance"): {"amount": "9" * 38},
            # a bid of another funder's than the core enterprise's own: refused by the ledger
            ("POST", "/v1/bids"): {**terms, "issuer_ids": [w.core.org_id], "budget": "1"},
            ("PUT", "/v1/bids/{bid_id}/terms"): terms,
            ("PUT", "/v1/bids/{bid_id}/budget"): {"remaining": "1000"},
            # no bid at a rate of 0: 409 no_bid_fits, nothing sold
            ("POST", "/v1/fragments/{fragment_id}/finance"): {"amount": "1", "max_rate_bps": 0},
            ("POST", "/v1/session"): {"login": "nobody", "password": "not a password"},
            ("PUT", "/v1/session/password"): {
                "current_password": "a",
                "new_password": "long enough new one",
            },
            ("PUT", "/v1/session/language"): {"language": "en"},
            ("POST", "/v1/notifications/read"): {"up_to_id": 1},
            ("POST", "/v1/webhooks"): {"url": "https://hooks.invalid/x"},
            ("POST", "/v1/organizations/{org_id}/users"): {
                "login": "matrix-made",
                "name": "m",
                "password": "matrix password 2",
            },
            ("PUT", "/v1/organizations/{org_id}/users/{user_id}/password"): {
                "password": "matrix password 3"
            },
        },
    }
    failures = []
    # pause/unpause and key revocation last, so the rest runs on a live ledger
    order = sorted(
        MATRIX,
        key=lambda k: (
            k[1].startswith("/v1/admin/"),
            k[0] == "DELETE",
            k[1] == "/v1/admin/unpause",
        ),
    )
    for method, path in order:
        allowed = MATRIX[(method, path)]
        for role in sorted(ALL):
            r = _request(w, method, path, role, fx)
            assert r.status_code < 500, (method, path, role, r.text)
            body = r.json() if r.headers.get("content-type", "").endswith("json") else {}
            api_refused = r.status_code in (403, 404) and (
                "required_roles" in body
                or body.get("code") in ("forbidden",)
                or (r.status_code == 404 and str(body.get("code", "")).startswith("unknown_"))
            )
            if role in allowed and api_refused:
                failures.append(f"{role} refused on {method} {path}: {r.status_code} {body}")
            if role not in allowed and not api_refused:
                failures.append(f"{role} allowed on {method} {path}: {r.status_code} {body}")
        unauth = w.client.request(method, path.format(**fx["path"]))
        if path == "/v1/health":
            assert unauth.status_code == 200
        else:
            assert unauth.status_code in (401, 422), (method, path, unauth.text)
            if unauth.status_code == 422:  # body validation may run first; never a 2xx
                assert unauth.json()["code"] in ("validation_error", "bad_amount_format")
    assert not failures, "\n".join(failures)


def test_supplier_sees_only_its_own_holdings(matrix_world: World) -> None:
    w = matrix_world
    issued = issue_certificate(w, face_value="5000")
    root = issued["root_fragment_id"]
    r = w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "10"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    mine = {f["id"] for f in w.client.get("/v1/fragments", headers=w.tier2.headers).json()}
    assert r.json()["fragment_id"] in mine and root not in mine
    assert w.client.get(f"/v1/fragments/{root}", headers=w.tier2.headers).status_code == 404
    # the auditor sees both and can change nothing
    everything = {f["id"] for f in w.client.get("/v1/fragments", headers=w.auditor.headers).json()}
    assert {root, r.json()["fragment_id"]} <= everything
    refused = w.client.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "10"},
        headers=w.auditor.headers,
    )
    assert refused.status_code == 403 and refused.json()["code"] == "wrong_role"
