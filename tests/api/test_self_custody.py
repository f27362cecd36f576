"""Self-custody through the API (issue 13): a bank and a core enterprise that keep their
own keys are onboarded with a proof of their address, and every transaction of theirs is
prepared by the service (202), signed here with eth_account as their own tool would, and
submitted; tampered submissions are refused with nothing sent; a prepared transaction
never signed expires and releases its nonce; crashes between prepare and submit, and
between submit and receipt, lose and duplicate nothing."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.commands.replay import audit_fields
from api.models import AuditEntry, Command
from chain_client import unsigned
from chain_client.encoding import to_hex
from chain_client.ledger_types import Role
from chain_client.node import AnvilNode
from tests.api.helpers import (
    Party,
    World,
    issue_certificate,
    open_world,
    pg_available,
    populate,
    upload_invoice,
)
from tests.helpers import valid_uscc


class Crash(Exception):  # noqa: N818 - a simulated process death, not an error
    """Raised inside the service to stop a command midway, like a kill -9 would."""


# -- helpers ---------------------------------------------------------------------------------


def onboard_self(
    w: World, name: str, role: str, account: LocalAccount, signer: LocalAccount | None = None
) -> Any:
    """Onboard ``name`` with custody self for ``account``'s address, the challenge signed
    by ``signer`` (default: the account itself); returns the response."""
    uscc = valid_uscc(secrets.randbelow(10**8) * 10 + 7)
    c = w.client
    ch = c.post(
        "/v1/organizations/address-challenge",
        json={"uscc": uscc, "address": account.address},
        headers=w.operator.headers,
    )
    assert ch.status_code == 200, ch.text
    text = ch.json()["challenge"]
    assert uscc in text and account.address in text
    signature = (signer or account).sign_message(encode_defunct(text=text)).signature
    return c.post(
        "/v1/organizations",
        json={
            "name": name,
            "uscc": uscc,
            "role": role,
            "custody": "self",
            "address": account.address,
            "challenge": text,
            "signature": to_hex(signature),
        },
        headers=w.operator.headers,
    )


def self_party(w: World, name: str, role: str) -> tuple[Party, LocalAccount]:
    account: LocalAccount = Account.create()
    r = onboard_self(w, name, role, account)
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["address"] == account.address and org["custody"] == "self"
    k = w.client.post(
        f"/v1/organizations/{org['id']}/api-keys", json={"label": "t"}, headers=w.operator.headers
    )
    assert k.status_code == 201, k.text
    party = Party(org["id"], k.json()["api_key"], role, account.address)
    w.parties[name] = party
    return party, account


def signed_raw(account: LocalAccount, waiting: dict[str, Any], **change: Any) -> str:
    """The prepared transaction of a 202 answer, signed by ``account`` (with fields
    changed, to tamper), checking the hash shown is the one signed."""
    fields = unsigned.from_json(waiting["transaction"])
    assert unsigned.signing_hash(fields) == waiting["signing_hash"]
    fields.update(change)
    return to_hex(account.sign_transaction(fields).raw_transaction)


def submit(w: World, party: Party, command_id: str, raw: str, client: Any = None) -> Any:
    return (client or w.client).post(
        f"/v1/commands/{command_id}/signature", json={"raw": raw}, headers=party.headers
    )


def sign_through(
    w: World, party: Party, account: LocalAccount, r: Any, status: int = 200
) -> dict[str, Any]:
    """A command's 202 answer signed and submitted: its own answer."""
    assert r.status_code == 202, r.text
    waiting = r.json()
    assert waiting["status"] == "awaiting_signature" and waiting["signer"] == account.address
    assert waiting["summary"]
    done = submit(w, party, waiting["command_id"], signed_raw(account, waiting))
    assert done.status_code == status, done.text
    return dict(done.json())


def pending_nonce(w: World, address: str) -> int:
    return int(w.rt.gateway.w3.eth.get_transaction_count(address, "pending"))


def audit_outcomes(w: World, command_id: str) -> list[str]:
    """The audit log's entries of one command (its organization, action, target and
    request), oldest first."""
    with Session(w.rt.engine) as session:
        row = session.get(Command, int(command_id))
        assert row is not None
        entries = session.exec(
            select(AuditEntry)
            .where(AuditEntry.org_id == row.org_id)
            .where(AuditEntry.action == row.action)
            .where(AuditEntry.target == row.target)
            .where(AuditEntry.params == audit_fields(row)["params"])
            .order_by(AuditEntry.id)  # type: ignore[arg-type]
        ).all()
    return [e.outcome for e in entries]


def issue_body(w: World, issuer: Party, bank: Party, beneficiary: Party) -> dict[str, Any]:
    doc = upload_invoice(w, issuer)
    return {
        "beneficiary_id": beneficiary.org_id,
        "credit_provider_id": bank.org_id,
        "face_value": "1000000",
        "maturity": w.block_time() + 90 * 86_400,
        "document_id": doc["id"],
        "invoice_number": "INV-" + uuid.uuid4().hex[:12],
    }


@pytest.fixture(scope="module")
def selfworld(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Custodial suppliers (tier1, tier2) and an auditor, a self-custody bank (sbank) and
    core enterprise (score) with a credit line and cash."""
    for w in open_world(anvil, tmp_path_factory.mktemp("selfworld")):
        seed = secrets.randbelow(10**8) * 10
        w.onboard("tier1", "supplier", seed + 2)
        w.onboard("tier2", "supplier", seed + 3)
        w.onboard("auditor", "auditor", seed + 5)
        bank, bank_key = self_party(w, "sbank", "financier")
        core, core_key = self_party(w, "score", "core_enterprise")
        w.keys = {"sbank": bank_key, "score": core_key}  # type: ignore[attr-defined]
        r = w.client.put(
            "/v1/credit-lines",
            json={"core_enterprise_id": core.org_id, "limit": "100000000000"},
            headers=bank.headers,
        )
        answer = sign_through(w, bank, bank_key, r)
        assert answer["limit"] == "100000000000"
        for who in (bank, core):
            r = w.client.post(
                f"/v1/organizations/{who.org_id}/settlement-funds",
                json={"amount": "50000000000"},
                headers=w.operator.headers,
            )
            assert r.status_code == 200, r.text
        yield w


# -- onboarding ------------------------------------------------------------------------------


def test_onboarding_needs_a_proof_by_the_address(selfworld: World) -> None:
    w = selfworld
    account, other = Account.create(), Account.create()
    before = len(w.client.get("/v1/organizations", headers=w.operator.headers).json())
    r = onboard_self(w, "impostor", "financier", account, signer=other)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_proof" and other.address in r.json()["detail"]
    # a challenge made for another address proves nothing for this one
    r = onboard_self(w, "no-proof", "financier", account)
    assert r.status_code == 201, r.text
    body = {
        "name": "again",
        "uscc": valid_uscc(secrets.randbelow(10**8) * 10 + 9),
        "role": "financier",
        "custody": "self",
        "address": Account.create().address,
    }
    r = w.client.post("/v1/organizations", json=body, headers=w.operator.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_proof"
    after = w.client.get("/v1/organizations", headers=w.operator.headers).json()
    assert len(after) == before + 1  # only the proven one
    # no key was made for it, and it is a member on chain with gas to pay for itself
    assert not any(i.address == account.address for i in w.rt.gateway.keystore.list())
    assert w.rt.gateway.ledger.member(account.address).role != Role.NONE
    assert w.rt.gateway.w3.eth.get_balance(account.address) > 0


# -- the lifecycle ---------------------------------------------------------------------------


def test_lifecycle_signed_by_the_bank_and_the_core_enterprise(selfworld: World) -> None:
    w, c = selfworld, selfworld.client
    bank, core, tier1, tier2 = w.sbank, w.score, w.tier1, w.tier2
    bank_key, core_key = w.keys["sbank"], w.keys["score"]  # type: ignore[attr-defined]

    # the core enterprise issues: prepared, replayed while it waits, signed, submitted
    headers = {**core.headers, "Idempotency-Key": "self-issue"}
    body = issue_body(w, core, bank, tier1)
    r = c.post("/v1/certificates", json=body, headers=headers)
    assert r.status_code == 202, r.text
    waiting = r.json()
    assert waiting["summary"].startswith("issue a certificate of 10,000.00 CNY to tier1")
    assert waiting["stake"] == "1000000"
    assert waiting["transaction"]["nonce"] == pending_nonce(w, core.address or "")
    again = c.post("/v1/certificates", json=body, headers=headers)
    assert again.status_code == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["transaction"] == waiting["transaction"]
    view = c.get(f"/v1/commands/{waiting['command_id']}", headers=core.headers).json()
    assert (
        view["status"] == "awaiting_signature" and view["signing_hash"] == waiting["signing_hash"]
    )
    # another organization does not see it
    assert c.get(f"/v1/commands/{waiting['command_id']}", headers=bank.headers).status_code == 404
    raw = signed_raw(core_key, waiting)
    issued = submit(w, core, waiting["command_id"], raw)
    assert issued.status_code == 201, issued.text
    cert_id = issued.json()["certificate_id"]
    # the same bytes again (a retry after a timeout), and the key: the stored answer
    retry = submit(w, core, waiting["command_id"], raw)
    assert retry.status_code == 201 and retry.json() == issued.json()
    assert retry.headers.get("Idempotent-Replayed") == "true"
    replay = c.post("/v1/certificates", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json() == issued.json()
    assert audit_outcomes(w, waiting["command_id"]) == ["prepared", "submitted", "succeeded"]
    meta = c.get(f"/v1/documents/{body['document_id']}", headers=core.headers).json()
    assert meta["certificate_id"] == cert_id  # the entry's effect, as for any issue

    # the custodial supplier accepts as always
    r = c.post(f"/v1/certificates/{cert_id}/accept", headers=tier1.headers)
    assert r.status_code == 200, r.text
    root = r.json()["root_fragment_id"]

    # tier1 offers 400,000.00 to the self-custody bank
    r = c.post(
        "/v1/offers",
        json={
            "fragment_id": root,
            "financier_id": bank.org_id,
            "amount": "400000",
            "rate_bps": 500,
            "expires_at": w.block_time() + 7 * 86_400,
        },
        headers=tier1.headers,
    )
    assert r.status_code == 201, r.text
    offer_id = r.json()["offer_id"]
    # its allowance is short: refused with the amount, nothing prepared
    r = c.post(f"/v1/offers/{offer_id}/accept", headers=bank.headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "allowance_too_low" and int(r.json()["needed"]) > 0
    # it raises its allowance (prepared and signed like any command), then buys
    r = c.post(
        "/v1/organizations/me/settlement-allowance",
        json={"amount": "10000000"},
        headers=bank.headers,
    )
    assert sign_through(w, bank, bank_key, r)["amount"] == "10000000"
    assert w.rt.gateway.ledger.allowance(bank.address) == 10_000_000
    r = c.post(f"/v1/offers/{offer_id}/accept", headers=bank.headers)
    assert r.json()["summary"].startswith(f"buy offer {offer_id}: 4,000.00 CNY of fragment")
    financed = sign_through(w, bank, bank_key, r)
    piece = financed["financed_fragment_id"]

    # the bank splits 1,500.00 of its fragment off to tier2
    r = c.post(
        f"/v1/fragments/{piece}/split",
        json={"to_org_id": tier2.org_id, "amount": "150000"},
        headers=bank.headers,
    )
    assert r.status_code == 202, r.text
    assert r.json()["summary"] == (
        f"split 1,500.00 CNY off fragment {piece} ({cert_id}/{int(piece) & 0xFFFFFFFF}) to tier2"
    )
    split = sign_through(w, bank, bank_key, r, status=201)
    got = c.get("/v1/fragments", headers=tier2.headers).json()
    assert [(f["id"], f["value"]) for f in got] == [(split["fragment_id"], "150000")]

    # at maturity the core enterprise repays: allowance first, then the repayment
    w.travel(91 * 86_400)
    r = c.post(
        f"/v1/certificates/{cert_id}/repay", json={"amount": "1000000"}, headers=core.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "allowance_too_low"
    r = c.post(
        "/v1/organizations/me/settlement-allowance",
        json={"amount": "1000000"},
        headers=core.headers,
    )
    sign_through(w, core, core_key, r)
    r = c.post(
        f"/v1/certificates/{cert_id}/repay", json={"amount": "1000000"}, headers=core.headers
    )
    repaid = sign_through(w, core, core_key, r)
    assert repaid["amount"] == "1000000"
    assert w.rt.gateway.ledger.certificate(cert_id).repaid == 1_000_000
    # the holders are paid by claims as usual (tier2 holds what the bank split off)
    r = c.post(f"/v1/fragments/{split['fragment_id']}/claim", headers=tier2.headers)
    assert r.status_code == 200, r.text


# -- tampering -------------------------------------------------------------------------------


def test_tampered_submissions_are_refused_and_nothing_is_sent(selfworld: World) -> None:
    w, c = selfworld, selfworld.client
    core, bank = w.score, w.sbank
    core_key = w.keys["score"]  # type: ignore[attr-defined]
    r = c.post("/v1/certificates", json=issue_body(w, core, bank, w.tier1), headers=core.headers)
    assert r.status_code == 202, r.text
    waiting = r.json()
    command_id = waiting["command_id"]
    nonce_before = pending_nonce(w, core.address or "")
    data = bytes.fromhex(waiting["transaction"]["data"][2:])
    other_data = data[:-1] + bytes([data[-1] ^ 1])
    tampered = {
        "data": signed_raw(core_key, waiting, data=other_data),
        "nonce": signed_raw(core_key, waiting, nonce=waiting["transaction"]["nonce"] + 1),
        "sender": signed_raw(Account.create(), waiting),
        "gas": signed_raw(core_key, waiting, gas=waiting["transaction"]["gas"] + 1),
        "encoding": "0xdeadbeef",
    }
    for field, raw in tampered.items():
        r = submit(w, core, command_id, raw)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["code"] == "signature_mismatch" and r.json()["field"] == field, r.text
    assert pending_nonce(w, core.address or "") == nonce_before  # nothing reached the node
    view = c.get(f"/v1/commands/{command_id}", headers=core.headers).json()
    assert view["status"] == "awaiting_signature" and view["tx_hash"] is None
    assert audit_outcomes(w, command_id).count("sig_refused") == len(tampered)
    # a key without the maker duty may not submit
    k = c.post(
        f"/v1/organizations/{core.org_id}/api-keys",
        json={"label": "viewer", "duties": []},
        headers=w.operator.headers,
    )
    assert k.status_code == 201, k.text
    viewer = {"Authorization": f"Bearer {k.json()['api_key']}"}
    r = c.post(
        f"/v1/commands/{command_id}/signature",
        json={"raw": signed_raw(core_key, waiting)},
        headers=viewer,
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_duty"
    # the untampered bytes still go through
    done = submit(w, core, command_id, signed_raw(core_key, waiting))
    assert done.status_code == 201, done.text
    assert pending_nonce(w, core.address or "") == nonce_before + 1


def test_racing_submissions_broadcast_once(selfworld: World) -> None:
    import threading

    w, c = selfworld, selfworld.client
    core, bank = w.score, w.sbank
    core_key = w.keys["score"]  # type: ignore[attr-defined]
    r = c.post("/v1/certificates", json=issue_body(w, core, bank, w.tier1), headers=core.headers)
    assert r.status_code == 202, r.text
    raw = signed_raw(core_key, r.json())
    nonce_before = pending_nonce(w, core.address or "")
    answers: list[Any] = []

    def go() -> None:
        answers.append(submit(w, core, r.json()["command_id"], raw))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert 201 in codes and set(codes) <= {201, 409}, [a.text for a in answers]
    assert pending_nonce(w, core.address or "") == nonce_before + 1
    assert audit_outcomes(w, r.json()["command_id"]).count("submitted") == 1


# -- expiry and nonces -----------------------------------------------------------------------


@pytest.fixture
def quick(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    """A world whose prepared transactions expire after 4 s."""
    for w in open_world(anvil, tmp_path, signature_window=4.0):
        populate(w)
        _, bank_key = self_party(w, "sbank", "financier")
        w.keys = {"sbank": bank_key}  # type: ignore[attr-defined]
        yield w


def _credit_line(w: World, limit: str, key: str | None = None) -> Any:
    headers = {**w.sbank.headers, **({"Idempotency-Key": key} if key else {})}
    return w.client.put(
        "/v1/credit-lines",
        json={"core_enterprise_id": w.core.org_id, "limit": limit},
        headers=headers,
    )


def test_an_expired_transaction_releases_its_nonce(quick: World) -> None:
    w = quick
    bank, bank_key = w.sbank, w.keys["sbank"]  # type: ignore[attr-defined]
    start = pending_nonce(w, bank.address or "")
    first = _credit_line(w, "1000", "line-1").json()
    second = _credit_line(w, "2000", "line-2").json()
    assert [first["transaction"]["nonce"], second["transaction"]["nonce"]] == [start, start + 1]
    # signed out of order: refused, nothing sent, the command still waits
    r = submit(w, bank, second["command_id"], signed_raw(bank_key, second))
    assert r.status_code == 409 and r.json()["code"] == "nonce_gap", r.text
    assert r.json()["command_id"] == first["command_id"]
    assert pending_nonce(w, bank.address or "") == start
    time.sleep(4.5)
    # the first never signed: it expires, and the second with it
    assert w.rt.runner.signatures.expire() == 2
    for key, waiting in (("line-1", first), ("line-2", second)):
        r = submit(w, bank, waiting["command_id"], signed_raw(bank_key, waiting))
        assert r.status_code == 410 and r.json()["code"] == "signature_expired", r.text
        replay = _credit_line(w, "1000" if key == "line-1" else "2000", key)
        assert replay.status_code == 410 and replay.json() == r.json()
        assert audit_outcomes(w, waiting["command_id"])[:1] == ["prepared"]
    assert "expired" in audit_outcomes(w, second["command_id"])
    # the released nonce is prepared again, and the command goes through
    third = _credit_line(w, "3000", "line-3")
    assert third.json()["transaction"]["nonce"] == start
    assert sign_through(w, bank, bank_key, third)["limit"] == "3000"
    assert pending_nonce(w, bank.address or "") == start + 1


def test_a_nonce_taken_outside_is_the_commands_stored_answer(quick: World) -> None:
    w = quick
    bank, bank_key = w.sbank, w.keys["sbank"]  # type: ignore[attr-defined]
    waiting = _credit_line(w, "5000", "outside").json()
    # the bank sends a transaction of its own with the reserved nonce, outside the API
    gw = w.rt.gateway
    own = bank_key.sign_transaction(
        {
            "to": bank.address,
            "value": 0,
            "gas": 21_000,
            "nonce": waiting["transaction"]["nonce"],
            "chainId": waiting["transaction"]["chainId"],
            "maxFeePerGas": int(waiting["transaction"]["maxFeePerGas"]),
            "maxPriorityFeePerGas": int(waiting["transaction"]["maxPriorityFeePerGas"]),
        }
    )
    gw.w3.eth.wait_for_transaction_receipt(gw.w3.eth.send_raw_transaction(own.raw_transaction))
    r = submit(w, bank, waiting["command_id"], signed_raw(bank_key, waiting))
    assert r.status_code == 409 and r.json()["code"] == "nonce_taken", r.text
    # stored: that transaction may have been this command signed twice, so the same key
    # does not run it again by itself
    replay = _credit_line(w, "5000", "outside")
    assert replay.status_code == 409 and replay.json() == r.json(), replay.text
    # the organization decides: a new key prepares it again with a free nonce
    again = _credit_line(w, "5000", "outside-again")
    assert again.status_code == 202, again.text
    assert again.json()["transaction"]["nonce"] == waiting["transaction"]["nonce"] + 1
    assert sign_through(w, bank, bank_key, again)["limit"] == "5000"


def test_a_nonce_freed_by_an_aborted_command_is_prepared_again_not_skipped(quick: World) -> None:
    """A command whose signed bytes the node refused is aborted and frees its nonce; the
    next command must take that nonce (not one past the highest), and a later signed
    transaction must not be broadcast above the hole, where it would wait for ever."""
    w = quick
    bank, bank_key = w.sbank, w.keys["sbank"]  # type: ignore[attr-defined]
    start = pending_nonce(w, bank.address or "")
    first = _credit_line(w, "1100", "hole-1").json()
    second = _credit_line(w, "1200", "hole-2").json()
    assert [first["transaction"]["nonce"], second["transaction"]["nonce"]] == [start, start + 1]
    # the first's broadcast refused by the node: aborted, nothing of it on chain
    w.rt.runner.journal.set_status(int(first["command_id"]), "aborted")
    r = submit(w, bank, second["command_id"], signed_raw(bank_key, second))
    assert r.status_code == 409 and r.json()["code"] == "nonce_gap", r.text
    assert pending_nonce(w, bank.address or "") == start  # not broadcast above the hole
    third = _credit_line(w, "1300", "hole-3")
    assert third.json()["transaction"]["nonce"] == start  # the hole is filled
    assert sign_through(w, bank, bank_key, third)["limit"] == "1300"
    assert sign_through(w, bank, bank_key, _replayed(w, second, "1200", "hole-2"))["limit"] == (
        "1200"
    )
    assert pending_nonce(w, bank.address or "") == start + 2


def _replayed(w: World, waiting: dict[str, Any], limit: str, key: str) -> Any:
    """The 202 of a command still waiting, as its Idempotency-Key replays it."""
    again = _credit_line(w, limit, key)
    assert again.json()["command_id"] == waiting["command_id"]
    return again


# -- crashes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_crash_between_prepare_and_submit_and_before_the_receipt(
    anvil: AnvilNode, tmp_path: Path, db: str
) -> None:
    if db == "postgres" and not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    for w in open_world(anvil, tmp_path, db):
        populate(w)
        bank, bank_key = self_party(w, "sbank", "financier")
        r = w.client.post(
            f"/v1/organizations/{bank.org_id}/settlement-funds",
            json={"amount": "1000000"},
            headers=w.operator.headers,
        )
        assert r.status_code == 200, r.text
        issued = issue_certificate(w, face_value="500000")
        root, cert = issued["root_fragment_id"], issued["certificate_id"]
        r = w.client.post(
            "/v1/offers",
            json={
                "fragment_id": root,
                "financier_id": bank.org_id,
                "amount": "100000",
                "rate_bps": 0,
                "expires_at": w.block_time() + 86_400,
            },
            headers=w.tier1.headers,
        )
        assert r.status_code == 201, r.text
        offer_id = r.json()["offer_id"]
        # prepared, then the process dies before anything is submitted
        allowance = w.client.post(
            "/v1/organizations/me/settlement-allowance",
            json={"amount": "100000"},
            headers={**bank.headers, "Idempotency-Key": "allow"},
        )
        assert allowance.status_code == 202, allowance.text
        with TestClient(create_app(w.settings)) as c2:  # "restart": start-up reconcile
            view = c2.get(f"/v1/commands/{allowance.json()['command_id']}", headers=bank.headers)
            assert view.json()["status"] == "awaiting_signature", view.text
            done = submit(
                w, bank, allowance.json()["command_id"], signed_raw(bank_key, allowance.json()), c2
            )
            assert done.status_code == 200, done.text
            replay = c2.post(
                "/v1/organizations/me/settlement-allowance",
                json={"amount": "100000"},
                headers={**bank.headers, "Idempotency-Key": "allow"},
            )
            assert replay.json() == done.json()
            assert replay.headers.get("Idempotent-Replayed") == "true"

            # submitted and journaled, then the process dies before the receipt
            accept_headers = {**bank.headers, "Idempotency-Key": "buy"}
            waiting = c2.post(f"/v1/offers/{offer_id}/accept", headers=accept_headers).json()
            rt2 = c2.app.state.runtime  # type: ignore[attr-defined]

            def crash_wait(*_a: Any, **_k: Any) -> Any:
                raise Crash()

            rt2.gateway.wait = crash_wait
            raw = signed_raw(bank_key, waiting)
            with pytest.raises(Crash):
                submit(w, bank, waiting["command_id"], raw, c2)
        with Session(w.rt.engine) as session:
            row = session.get(Command, int(waiting["command_id"]))
            assert row is not None and row.status == "signed" and row.raw_tx == raw
        with TestClient(create_app(w.settings)) as c3:  # start-up finishes the signed row
            with Session(w.rt.engine) as session:
                row = session.get(Command, int(waiting["command_id"]))
                assert row is not None and row.status == "succeeded"
            again = submit(w, bank, waiting["command_id"], raw, c3)
            assert again.status_code == 200, again.text
            assert again.json()["tx_hash"] == row.tx_hash
            replay = c3.post(f"/v1/offers/{offer_id}/accept", headers=accept_headers)
            assert replay.json() == again.json()
            fragments = c3.get("/v1/fragments", headers=bank.headers).json()
            assert [f["value"] for f in fragments] == ["100000"]
            assert int(w.rt.gateway.ledger.certificate(cert).fragment_count) == 2
            outcomes = audit_outcomes(w, waiting["command_id"])
            assert outcomes == ["prepared", "submitted", "succeeded"], outcomes


# -- a remote signer -------------------------------------------------------------------------


def test_a_remote_signer_is_onboarded_by_what_it_signs(
    selfworld: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.signer_server import running_signer

    w = selfworld
    held, not_held = Account.create(), Account.create()
    with running_signer([held.key.hex()], tmp_path_factory.mktemp("signer")) as signer:
        url = signer.url + "/rpc?token=signer-secret"

        def onboard(account: LocalAccount) -> Any:
            return w.client.post(
                "/v1/organizations",
                json={
                    "name": "remote bank " + account.address[-4:],
                    "uscc": valid_uscc(secrets.randbelow(10**8) * 10 + 8),
                    "role": "financier",
                    "custody": "remote",
                    "address": account.address,
                    "signer_url": url,
                },
                headers=w.operator.headers,
            )

        # an address the signer holds no key for: refused, nothing stored
        r = onboard(not_held)
        assert r.status_code == 422 and r.json()["code"] == "invalid_proof", r.text
        orgs = w.client.get("/v1/organizations", headers=w.operator.headers).json()
        assert not_held.address not in [o["address"] for o in orgs]
        r = onboard(held)
        assert r.status_code == 201, r.text
        assert r.json()["custody"] == "remote" and r.json()["address"] == held.address
        assert not any(i.address == held.address for i in w.rt.gateway.keystore.list())
        # its allowance was set at onboarding, signed by its signer
        assert w.rt.gateway.ledger.allowance(held.address) > 0


# -- four eyes, then the signature -----------------------------------------------------------


def test_an_approved_command_then_awaits_the_signature(selfworld: World) -> None:
    w, c = selfworld, selfworld.client
    bank, bank_key = w.sbank, w.keys["sbank"]  # type: ignore[attr-defined]
    k = c.post(
        f"/v1/organizations/{bank.org_id}/api-keys",
        json={"label": "checker", "duties": ["checker"]},
        headers=w.operator.headers,
    )
    assert k.status_code == 201, k.text
    checker = {"Authorization": f"Bearer {k.json()['api_key']}"}
    r = c.put(
        "/v1/approval-policy", json={"rules": [{"action": "set_credit_line"}]}, headers=bank.headers
    )
    assert r.status_code == 200, r.text
    try:
        headers = {**bank.headers, "Idempotency-Key": "line-four-eyes"}
        body = {"core_enterprise_id": w.score.org_id, "limit": "200000000000"}
        r = c.put("/v1/credit-lines", json=body, headers=headers)
        assert r.status_code == 202 and r.json()["status"] == "pending_approval", r.text
        assert r.json()["transaction"] is None  # nothing prepared before the approval
        approved = c.post(f"/v1/approvals/{r.json()['command_id']}/approve", headers=checker)
        assert approved.status_code == 202, approved.text
        assert approved.json()["status"] == "awaiting_signature"
        replay = c.put("/v1/credit-lines", json=body, headers=headers)
        assert replay.status_code == 202 and replay.json()["status"] == "awaiting_signature"
        answer = sign_through(w, bank, bank_key, approved)
        assert answer["limit"] == "200000000000"
        outcomes = audit_outcomes(w, r.json()["command_id"])
        assert outcomes == ["pending_approval", "approved", "prepared", "submitted", "succeeded"]
    finally:
        c.put("/v1/approval-policy", json={"rules": []}, headers=bank.headers)


def test_a_self_custody_bank_posts_a_standing_bid_it_signs(selfworld: World) -> None:
    """Posting a bid escrows its budget in the ledger's bid book: a self-custody bank is
    told to allow the book first (409 allowance_too_low, spender bid_book, nothing
    prepared), raises that allowance with a transaction it signs, then signs the bid."""
    w, c = selfworld, selfworld.client
    bank, key = w.sbank, w.keys["sbank"]  # type: ignore[attr-defined]
    body = {
        "bands": [{"up_to_days": 366, "rate_bps": 350}],
        "max_amount": "10000000",
        "expires_at": w.block_time() + 86_400,
        "issuer_ids": [w.score.org_id],
        "budget": "20000000",
    }
    r = c.post("/v1/bids", json=body, headers=bank.headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "allowance_too_low" and r.json()["spender"] == "bid_book"
    r = c.post(
        "/v1/organizations/me/settlement-allowance",
        json={"amount": "20000000", "spender": "bid_book"},
        headers=bank.headers,
    )
    assert "bid book" in r.json()["summary"]
    sign_through(w, bank, key, r)
    r = c.post("/v1/bids", json=body, headers=bank.headers)
    assert "post a standing bid of 200,000.00 CNY" in r.json()["summary"]
    posted = sign_through(w, bank, key, r, status=201)
    bid = w.rt.gateway.ledger.bid(posted["bid_id"])
    assert bid.funder == bank.address and bid.remaining == 20000000
