"""The verifier across key rotations (docs/design.md, Key rotation): a fragment whose holder
and whose certificate's issuer and beneficiary moved to new keys still verifies, and a
party move that is not a rotation's fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from chain_client.errors import ContractRevert
from chain_client.events import CertificatePartyMoved
from chain_client.ledger import Ledger
from chain_client.ledger_types import Certificate, CertificateStatus, Role
from chain_client.node import AnvilNode
from chain_client.verifier import IssuedEvent, Verifier, apply_moves, check_issuance
from tests.client.helpers import DAY, LedgerWorld, make_sender


def _rotate(w: LedgerWorld, member: Ledger) -> Ledger:
    """``member``'s organization moved to a fresh key by the operator; the new key's view."""
    fresh = Account.create()
    w.senders[0].send({"to": fresh.address, "value": 10**18})  # gas
    w.operator.rotate_member(member.account, fresh.address)
    return w.operator.as_member(make_sender(w.w3, fresh))


def test_a_fragment_verifies_after_its_holders_and_issuers_rotation(
    ledger_node: AnvilNode, tmp_path: Path
) -> None:
    w = LedgerWorld(ledger_node, tmp_path / "manifest.json")
    cid, root = w.issue(face_value=1_000_000, tenor_days=30)
    piece = w.supplier.split(root, w.supplier2.account, 300_000).value
    assert piece is not None
    verifier = Verifier(w.w3, w.manifest)
    assert verifier.verify(piece).ok

    # the holder of the piece, then the issuer, then the beneficiary (holder of the root)
    old_holder, old_core, old_beneficiary = w.supplier2, w.core, w.supplier
    holder = _rotate(w, old_holder)
    assert w.operator.move_holdings(old_holder.account, [piece]).value == 1
    core = _rotate(w, old_core)
    assert w.operator.move_certificates(old_core.account, [cid]).value == 1
    assert w.operator.move_credit_lines(old_core.account, [w.bank.account]).value == 1
    beneficiary = _rotate(w, old_beneficiary)
    assert w.operator.move_certificates(old_beneficiary.account, [cid]).value == 1
    assert w.operator.move_holdings(old_beneficiary.account, [root]).value == 1

    cert = w.operator.certificate(cid)
    assert (cert.issuer, cert.beneficiary) == (core.account, beneficiary.account)
    assert w.operator.fragment(piece).holder == holder.account
    for fragment in (piece, root):
        report = verifier.verify(fragment)
        assert report.ok, report.summary()
        checks = {c.name: c.detail for c in report.checks}
        assert "2 key-rotation move(s)" in checks["issuance"]
        assert f"its key now {beneficiary.account}" in checks["acceptance"]

    # the old keys can do nothing; the new ones carry on, and the payout reaches them
    with pytest.raises(ContractRevert) as refused:
        old_holder.transfer_fragment(piece, w.supplier3.account)
    assert refused.value.error_name == "NotAMember"
    w.travel(31 * DAY)
    w.operator.mint_settlement(core.account, 1_000_000)
    core.repay(cid, 1_000_000)
    w.operator.pay_fragments(cid, 0, 10)
    assert w.operator.token_balance(holder.account) == 300_000
    assert w.operator.token_balance(beneficiary.account) == 700_000
    settled = verifier.verify(piece)
    assert settled.ok, settled.summary()
    assert settled.certificate is not None
    assert settled.certificate["status"] == CertificateStatus.SETTLED


def test_a_move_that_is_not_a_rotations_fails_issuance() -> None:
    a, b, c = (Account.create().address for _ in range(3))
    issuer, beneficiary, bank = (Account.create().address for _ in range(3))
    move = CertificatePartyMoved(7, issuer, a, block_number=20, log_index=0)
    parties = {"issuer": issuer, "beneficiary": beneficiary, "credit provider": bank}
    moved, problems = apply_moves(parties, [move], {issuer: [a]}, (10, 0), every_party=True)
    assert moved["issuer"] == a and problems == []
    # to a key the issuer was never rotated to
    _, problems = apply_moves(parties, [move], {issuer: [b, c]}, (10, 0))
    assert problems and "not a key it was rotated to" in problems[0]
    # from a key that was not a party then
    stranger = CertificatePartyMoved(7, b, c, block_number=20, log_index=1)
    _, problems = apply_moves(parties, [stranger], {b: [c]}, (10, 0), every_party=True)
    assert problems and "not a party" in problems[0]

    event = IssuedEvent(7, issuer, beneficiary, bank, 100, 1, b"k" * 32, b"d" * 32, 10, 0)
    cert = Certificate(
        id=7,
        issuer=a,
        beneficiary=beneficiary,
        credit_provider=bank,
        face_value=100,
        maturity=1,
        issued_at=0,
        status=CertificateStatus.ACTIVE,
        fragment_count=1,
        repaid=0,
        paid_out=0,
        invoice_key=b"k" * 32,
        document_hash=b"d" * 32,
    )
    assert check_issuance(cert, [event], Role.CORE_ENTERPRISE, [move], {issuer: [a]}).passed
    refused = check_issuance(cert, [event], Role.CORE_ENTERPRISE, [move], {issuer: [b]})
    assert not refused.passed and "not a key it was rotated to" in refused.detail
    # without the move, the issuer differs from the event's
    unmoved = check_issuance(cert, [event], Role.CORE_ENTERPRISE)
    assert not unmoved.passed and "issuer" in unmoved.detail
