"""Key rotation and recovery through the API (issue 13, docs/api.md "Key rotation"): the
operator moves an organization to a new key (POST /v1/organizations/{org_id}/key-rotation);
its certificates, credit lines, open offers and fragments follow on chain, its commands
are signed by the new key, the old key can do nothing, the read model, the views and the
bank's verification show the new address; a rotation that died half way is finished by
the same Idempotency-Key without doing anything twice."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from sqlmodel import Session, select

from api.app import create_app
from api.models import Command, FragmentRow, Organization
from api.services import rotation
from chain_client import TransactionSender, unsigned
from chain_client.encoding import to_hex
from chain_client.errors import ContractRevert
from chain_client.node import AnvilNode
from chain_client.signers import SignatureRequired
from tests.api.helpers import (
    Party,
    World,
    issue_certificate,
    open_world,
    pg_available,
    populate,
)
from tests.helpers import valid_uscc

RETIRED = ("NotAMember", "AccountRetired")


class Crash(Exception):  # noqa: N818 - a simulated failure half way, not an error
    """Raised inside the service after rotateMember, before the moves."""


@pytest.fixture(scope="module")
def rw(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for w in open_world(anvil, tmp_path_factory.mktemp("rotation")):
        yield populate(w)


def rotate(w: World, party: Party, body: dict[str, Any] | None = None, key: str = "") -> Any:
    """Rotate ``party``'s organization; its Party follows the new address."""
    headers = {**w.operator.headers, "Idempotency-Key": key or "rot-" + secrets.token_hex(6)}
    r = w.client.post(
        f"/v1/organizations/{party.org_id}/key-rotation", json=body or {}, headers=headers
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["old_address"] == party.address != answer["new_address"]
    party.address = answer["new_address"]
    return answer


def old_key_refused(w: World, old: str, send: Any) -> None:
    """A transaction of the old key (still in the key store), sent through chain_client,
    is refused by the ledger."""
    with pytest.raises(ContractRevert) as refused:
        send(w.rt.gateway.ledger_as(old))
    assert refused.value.error_name in RETIRED, refused.value


def view(w: World, party: Party, path: str) -> Any:
    r = w.client.get(path, headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()


def balance(w: World, party: Party) -> int:
    return int(view(w, w.operator, f"/v1/organizations/{party.org_id}/balance")["balance"])


def verified(w: World, party: Party, fragment: str) -> None:
    report = view(w, party, f"/v1/fragments/{fragment}/verification")
    assert report["ok"] is True, report


def offer(w: World, seller: Party, fragment: str, amount: str) -> int:
    r = w.client.post(
        "/v1/offers",
        json={
            "fragment_id": fragment,
            "financier_id": w.bank.org_id,
            "amount": amount,
            "rate_bps": 500,
            "expires_at": w.block_time() + 7 * 86_400,
        },
        headers=seller.headers,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["offer_id"])


def test_only_the_operator_rotates(rw: World) -> None:
    for name in ("core", "tier1", "bank", "auditor"):
        r = rw.client.post(
            f"/v1/organizations/{rw.tier2.org_id}/key-rotation",
            json={},
            headers=rw.parties[name].headers,
        )
        assert r.status_code == 403 and r.json()["code"] == "wrong_role", r.text
    r = rw.client.post(
        f"/v1/organizations/{rw.auditor.org_id}/key-rotation", json={}, headers=rw.operator.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_member", r.text


def test_a_supplier_with_fragments_and_an_open_offer(rw: World) -> None:
    w, c = rw, rw.client
    first = issue_certificate(w, face_value="1000000")
    second = issue_certificate(w, face_value="500000")
    root = first["root_fragment_id"]
    r = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "300000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    offer_id = offer(w, w.tier1, root, "100000")
    old = w.tier1.address
    assert old is not None

    answer = rotate(w, w.tier1)
    new = answer["new_address"]
    assert answer["custody"] == "platform" and answer["rotation_tx_hash"]
    assert answer["holdings"]["count"] == 2  # the two roots (tier 2 holds the split piece)
    assert answer["certificates"]["count"] == 2  # as beneficiary
    assert answer["offers"]["count"] == 1
    assert answer["credit_lines"] == {"count": 0, "tx_hashes": []}
    assert all(answer[k]["tx_hashes"] for k in ("holdings", "certificates", "offers"))

    # the old key can do nothing on chain
    old_key_refused(w, old, lambda ledger: ledger.split(int(root), w.tier2.address, 1))
    # the read model and the views show the new address
    with Session(w.rt.engine) as session:
        held = session.exec(select(FragmentRow).where(FragmentRow.holder == new)).all()
        assert {str(f.id) for f in held} >= {root, second["root_fragment_id"]}
        assert not session.exec(select(FragmentRow).where(FragmentRow.holder == old)).all()
    assert view(w, w.tier1, "/v1/me")["address"] == new
    mine = {f["id"] for f in view(w, w.tier1, "/v1/fragments")}
    assert {root, second["root_fragment_id"]} <= mine
    cert = view(w, w.auditor, f"/v1/certificates/{first['certificate_id']}")
    assert cert["beneficiary"] == new
    assert view(w, w.tier1, f"/v1/offers/{offer_id}")["seller"] == new

    # its commands are signed by the new key; the bank buys its offer, paying the new key
    r = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "1000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    before = balance(w, w.tier1)
    r = c.post(f"/v1/offers/{offer_id}/accept", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    assert balance(w, w.tier1) - before == int(r.json()["payment"])
    verified(w, w.bank, root)
    verified(w, w.bank, r.json()["financed_fragment_id"])
    w.parties["bought"] = Party(0, "", "", r.json()["financed_fragment_id"])  # for the bank


def test_a_financier_with_a_credit_line_in_use_and_a_bought_fragment(rw: World) -> None:
    w, c = rw, rw.client
    bought = w.parties.pop("bought").address
    old = w.bank.address
    assert old is not None
    line_before = view(w, w.bank, "/v1/credit-lines")[0]
    assert int(line_before["used"]) > 0

    answer = rotate(w, w.bank)
    new = answer["new_address"]
    assert answer["credit_lines"]["count"] == 1
    assert answer["certificates"]["count"] >= 2  # as credit provider
    assert answer["holdings"]["count"] == 1

    old_key_refused(w, old, lambda ledger: ledger.set_credit_line(w.core.address, 1))
    line = view(w, w.bank, "/v1/credit-lines")[0]
    assert (line["limit"], line["used"]) == (line_before["limit"], line_before["used"])
    assert view(w, w.bank, f"/v1/fragments/{bought}")["holder"] == new
    verified(w, w.bank, str(bought))

    # the new key sets the line and buys, with cash the operator gives it
    r = c.put(
        "/v1/credit-lines",
        json={"core_enterprise_id": w.core.org_id, "limit": "200000000000"},
        headers=w.bank.headers,
    )
    assert r.status_code == 200, r.text
    r = c.post(
        f"/v1/organizations/{w.bank.org_id}/settlement-funds",
        json={"amount": "10000000"},
        headers=w.operator.headers,
    )
    assert r.status_code == 200, r.text
    issued = issue_certificate(w, face_value="400000")
    offer_id = offer(w, w.tier1, issued["root_fragment_id"], "400000")
    r = c.post(f"/v1/offers/{offer_id}/accept", headers=w.bank.headers)
    assert r.status_code == 200, r.text
    verified(w, w.bank, r.json()["financed_fragment_id"])


def test_a_rotation_interrupted_half_way_finishes_once(
    rw: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, c = rw, rw.client
    tier3 = w.onboard("tier3", "supplier", secrets.randbelow(10**8) * 10 + 6)
    issued = issue_certificate(w, face_value="200000")
    r = c.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": tier3.org_id, "amount": "50000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    piece, old = r.json()["fragment_id"], tier3.address
    assert old is not None
    moving = rotation.Rotation._move

    def crash(self: Any, old: str) -> None:
        raise Crash()

    monkeypatch.setattr(rotation.Rotation, "_move", crash)
    body = {**w.operator.headers, "Idempotency-Key": "rotate-tier3"}
    path = f"/v1/organizations/{tier3.org_id}/key-rotation"
    with pytest.raises(Crash):
        c.post(path, json={}, headers=body)
    # rotated on chain, nothing moved, the row still names the old key
    ledger = w.rt.gateway.ledger
    new = ledger.successor_of(old)
    assert new is not None and ledger.fragment(int(piece)).holder == old
    assert view(w, tier3, "/v1/me")["address"] == old

    monkeypatch.setattr(rotation.Rotation, "_move", moving)
    r = c.post(path, json={}, headers=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["new_address"] == new and answer["holdings"]["count"] == 1
    assert len(ledger.events("MemberRotated", ["0x" + "00" * 12 + old[2:].lower()])) == 1
    keys = [i for i in w.rt.gateway.keystore.list() if i.label.startswith(f"org:{_uscc(w, tier3)}")]
    assert len(keys) == 2  # onboarding's and the rotation's: one new key, not two
    assert ledger.fragment(int(piece)).holder == new
    again = c.post(path, json={}, headers=body)
    assert again.json() == answer and again.headers.get("Idempotent-Replayed") == "true"
    with Session(w.rt.engine) as session:
        rows = session.exec(select(Command).where(Command.idempotency_key == "rotate-tier3")).all()
        assert [row.status for row in rows] == ["succeeded"]
    tier3.address = new
    r = c.post(
        f"/v1/fragments/{piece}/transfer", json={"to_org_id": w.tier2.org_id}, headers=tier3.headers
    )
    assert r.status_code == 200, r.text


def test_a_self_custody_supplier_rotates_to_an_address_it_proves(rw: World) -> None:
    w, c = rw, rw.client
    first, second = Account.create(), Account.create()
    uscc = valid_uscc(secrets.randbelow(10**8) * 10 + 8)
    r = c.post(
        "/v1/organizations",
        json={
            "name": "self",
            "uscc": uscc,
            "role": "supplier",
            "custody": "self",
            **_proof(w, uscc, first),
        },
        headers=w.operator.headers,
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    key = c.post(f"/v1/organizations/{org_id}/api-keys", json={}, headers=w.operator.headers)
    me = Party(org_id, key.json()["api_key"], "supplier", first.address)
    issued = issue_certificate(w, face_value="100000")
    r = c.post(
        f"/v1/fragments/{issued['root_fragment_id']}/split",
        json={"to_org_id": org_id, "amount": "40000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    piece = r.json()["fragment_id"]

    # a proof signed by another key than the new address's is refused, nothing done
    bad = _proof(w, uscc, second, signer=first)
    r = c.post(f"/v1/organizations/{org_id}/key-rotation", json=bad, headers=w.operator.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_proof", r.text
    assert w.rt.gateway.ledger.successor_of(first.address) is None

    # a command prepared for the old key, still unsigned when the key is rotated
    stale = c.post(
        f"/v1/fragments/{piece}/transfer",
        json={"to_org_id": w.tier2.org_id},
        headers={**me.headers, "Idempotency-Key": "before-rotation"},
    )
    assert stale.status_code == 202 and stale.json()["signer"] == first.address, stale.text

    answer = rotate(w, me, _proof(w, uscc, second))
    assert answer["new_address"] == second.address and answer["holdings"]["count"] == 1
    # it is closed: its key replays the refusal, and the old key's bytes are not taken
    replay = c.post(
        f"/v1/fragments/{piece}/transfer",
        json={"to_org_id": w.tier2.org_id},
        headers={**me.headers, "Idempotency-Key": "before-rotation"},
    )
    assert replay.status_code == 409 and replay.json()["code"] == "key_rotated", replay.text
    old_raw = to_hex(
        first.sign_transaction(unsigned.from_json(stale.json()["transaction"])).raw_transaction
    )
    r = c.post(
        f"/v1/commands/{stale.json()['command_id']}/signature",
        json={"raw": old_raw},
        headers=me.headers,
    )
    assert r.status_code == 409, r.text
    # the service holds no key for the old address and never signs for it again
    with pytest.raises(SignatureRequired):
        w.rt.gateway.account(first.address).sign_transaction({})
    # its next command is prepared for the new key, which signs it
    r = c.post(
        f"/v1/fragments/{piece}/transfer", json={"to_org_id": w.tier2.org_id}, headers=me.headers
    )
    assert r.status_code == 202, r.text
    waiting = r.json()
    assert waiting["signer"] == second.address
    fields = unsigned.from_json(waiting["transaction"])
    raw = to_hex(second.sign_transaction(fields).raw_transaction)
    r = c.post(
        f"/v1/commands/{waiting['command_id']}/signature", json={"raw": raw}, headers=me.headers
    )
    assert r.status_code == 200, r.text
    old_self = w.rt.gateway.ledger.as_member(TransactionSender(w.rt.gateway.w3, first))
    with pytest.raises(ContractRevert) as refused:  # the old key, signing for itself
        old_self.split(int(piece), w.tier2.address, 1)
    assert refused.value.error_name in RETIRED


def test_the_core_enterprise_repays_with_its_new_key(rw: World) -> None:
    """Last in the module: it travels past every certificate's maturity."""
    w, c = rw, rw.client
    issued = issue_certificate(w, face_value="600000", days=30)
    cert_id, root = issued["certificate_id"], issued["root_fragment_id"]
    r = c.post(
        f"/v1/fragments/{root}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "200000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    piece, old = r.json()["fragment_id"], w.core.address
    assert old is not None

    answer = rotate(w, w.core)
    new = answer["new_address"]
    assert answer["certificates"]["count"] >= 5 and answer["credit_lines"]["count"] == 1
    old_key_refused(
        w,
        old,
        lambda ledger: ledger.issue(
            w.bank.address,
            w.tier1.address,
            1000,
            w.block_time() + 86_400 * 30,
            keccak(text=secrets.token_hex(8)),
            keccak(text=secrets.token_hex(8)),
        ),
    )
    assert view(w, w.core, f"/v1/certificates/{cert_id}")["issuer"] == new
    verified(w, w.bank, piece)

    r = c.post(
        f"/v1/organizations/{w.core.org_id}/settlement-funds",
        json={"amount": "600000"},
        headers=w.operator.headers,
    )
    assert r.status_code == 200, r.text
    w.travel(31 * 86_400)
    before = {n: balance(w, w.parties[n]) for n in ("tier1", "tier2")}
    r = c.post(
        f"/v1/certificates/{cert_id}/repay", json={"amount": "600000"}, headers=w.core.headers
    )
    assert r.status_code == 200, r.text
    r = c.post("/v1/admin/jobs/maturity", headers=w.operator.headers)
    assert r.status_code == 200, r.text
    gained = {n: balance(w, w.parties[n]) - before[n] for n in before}
    assert gained == {"tier1": 400000, "tier2": 200000}
    assert view(w, w.core, f"/v1/certificates/{cert_id}")["status"] == "settled"
    verified(w, w.bank, piece)
    log = view(w, w.auditor, "/v1/audit-log")
    assert sum(e["action"] == "rotate_key" and e["outcome"] == "succeeded" for e in log) >= 4


def test_on_postgresql_a_rotation_that_died_is_finished_after_a_restart(
    anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    for w in open_world(anvil, tmp_path, "postgres"):
        populate(w)
        issued = issue_certificate(w, face_value="300000")
        old = w.tier1.address
        assert old is not None
        moving = rotation.Rotation._move

        def crash(self: Any, old: str) -> None:
            raise Crash()

        monkeypatch.setattr(rotation.Rotation, "_move", crash)
        headers = {**w.operator.headers, "Idempotency-Key": "pg-rotation"}
        path = f"/v1/organizations/{w.tier1.org_id}/key-rotation"
        with pytest.raises(Crash):
            w.client.post(path, json={}, headers=headers)
        monkeypatch.setattr(rotation.Rotation, "_move", moving)
        with TestClientOf(w) as c2:  # a restarted service
            r = c2.post(path, json={}, headers=headers)
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["holdings"]["count"] == 1 and answer["certificates"]["count"] == 1
            w.tier1.address = answer["new_address"]
            fragments = c2.get("/v1/fragments", headers=w.tier1.headers).json()
            assert [f["id"] for f in fragments] == [issued["root_fragment_id"]]
            r = c2.get(
                f"/v1/fragments/{issued['root_fragment_id']}/verification",
                headers=w.bank.headers,
            )
            assert r.json()["ok"] is True, r.text
            with Session(w.rt.engine) as session:
                org = session.get(Organization, w.tier1.org_id)
                assert org is not None and org.address == answer["new_address"]


# -- helpers ---------------------------------------------------------------------------------


def TestClientOf(w: World) -> Any:  # noqa: N802 - reads as the TestClient it returns
    from fastapi.testclient import TestClient

    return TestClient(create_app(w.settings))


def _uscc(w: World, party: Party) -> str:
    with Session(w.rt.engine) as session:
        org = session.get(Organization, party.org_id)
        assert org is not None and org.uscc is not None
        return org.uscc


def _proof(w: World, uscc: str, account: Any, signer: Any = None) -> dict[str, str]:
    """custody self: the address, its challenge and the signature (by ``signer``, default
    the address's own key)."""
    ch = w.client.post(
        "/v1/organizations/address-challenge",
        json={"uscc": uscc, "address": account.address},
        headers=w.operator.headers,
    )
    assert ch.status_code == 200, ch.text
    text = ch.json()["challenge"]
    signature = (signer or account).sign_message(encode_defunct(text=text)).signature
    return {
        "address": account.address,
        "challenge": text,
        "signature": to_hex(signature),
    }
