"""Ledger (typed client) + deployment manifest against a real anvil node."""

from __future__ import annotations

import dataclasses
import json

import pytest
from eth_utils import keccak
from eth_utils.abi import abi_to_signature

from chain_client.compiler import Compiler
from chain_client.deployment import deploy_ledger
from chain_client.discount import discount
from chain_client.errors import ContractRevert, ManifestMismatch
from chain_client.events import FinancingAccepted, FinancingOffered, SoldToBid
from chain_client.ledger import Ledger
from chain_client.ledger_errors import LEDGER_ERROR_SIGNATURES, LedgerError, ledger_errors
from chain_client.ledger_types import (
    CertificateStatus,
    OfferStatus,
    Role,
    certificate_id_of,
    fragment_id_of,
)
from chain_client.manifest import DeploymentManifest, load_manifest
from tests.client.helpers import DAY, LedgerWorld

# -- deployment and manifest --------------------------------------------------------------


def test_deploy_is_idempotent_and_manifest_is_complete(world: LedgerWorld):
    manifest = world.manifest
    again = deploy_ledger(world.w3, world.senders[0], manifest_path=world.manifest_path)
    assert again == manifest  # nothing deployed twice
    data = json.loads(world.manifest_path.read_text())
    assert data["chain_id"] == 31337
    assert data["compiler_version"].startswith("0.8.")
    assert data["source_hash"] == Compiler("contracts").compile().cache_key
    assert set(data["code_hashes"]) == {"CreditLedger", "SettlementToken", "BidBook"}
    assert data["bid_book_address"] == world.operator.ledger.call("bidBook")
    assert data["deployer"] == world.senders[0].address
    assert data["grace_period"] == 3 * DAY == world.operator.grace_period()
    assert data["deployment_block"] >= data["token_deployment_block"] > 0
    assert load_manifest(world.manifest_path, world.w3) == manifest


def test_manifest_mismatch_is_loud(world: LedgerWorld, tmp_path):
    data = json.loads(world.manifest_path.read_text())
    wrong_chain = tmp_path / "chain.json"
    wrong_chain.write_text(json.dumps({**data, "chain_id": 1}))
    with pytest.raises(ManifestMismatch, match="chain id is 31337"):
        load_manifest(wrong_chain, world.w3)
    wrong_code = tmp_path / "code.json"
    hashes = {**data["code_hashes"], "CreditLedger": "0x" + "ab" * 32}
    wrong_code.write_text(json.dumps({**data, "code_hashes": hashes}))
    with pytest.raises(ManifestMismatch, match="code hash"):
        load_manifest(wrong_code, world.w3)
    no_code = tmp_path / "empty.json"
    no_code.write_text(json.dumps({**data, "ledger_address": "0x" + "12" * 20}))
    with pytest.raises(ManifestMismatch, match="no contract code"):
        load_manifest(no_code, world.w3)
    other_book = tmp_path / "book.json"
    other_book.write_text(json.dumps({**data, "bid_book_address": data["token_address"]}))
    with pytest.raises(ManifestMismatch, match=r"BidBook at .* has code hash"):
        load_manifest(other_book, world.w3)
    # deploy_ledger redeploys when the manifest does not match the chain
    redeployed = deploy_ledger(world.w3, world.senders[0], manifest_path=wrong_chain)
    assert redeployed.ledger_address != world.manifest.ledger_address
    assert DeploymentManifest.read(wrong_chain) == redeployed


# -- errors ---------------------------------------------------------------------------------


def test_error_classes_cover_the_abis(world: LedgerWorld):
    declared = {
        abi_to_signature(e)
        for name in ("CreditLedger", "SettlementToken", "BidBook")
        for e in world.manifest.abis[name]
        if e["type"] == "error"
    }
    assert declared == set(LEDGER_ERROR_SIGNATURES)
    assert Ledger.errors is ledger_errors
    assert issubclass(Ledger.errors.InvalidSplitAmount, LedgerError)
    assert issubclass(LedgerError, ContractRevert)


def test_errors_of_each_family(world: LedgerWorld):
    w = world
    _cid, root = w.issue()
    E = Ledger.errors  # noqa: N806
    # membership / access
    with pytest.raises(E.MemberAlreadyRegistered):
        w.operator.register_member(w.supplier.account, keccak(text="x"), Role.SUPPLIER)
    with pytest.raises(E.AccessControlUnauthorizedAccount):
        w.supplier.pause()
    with pytest.raises(E.NotAMember) as info:
        w.outsider.split(root, w.supplier2.account, 1)
    assert info.value.args == {"account": w.outsider.account}
    # fragments
    with pytest.raises(E.InvalidSplitAmount) as split_info:
        w.supplier.split(root, w.supplier2.account, 10**9)
    assert split_info.value.args == {"amount": 10**9, "fragmentValue": 1_000_000}
    with pytest.raises(E.NotHolder):
        w.supplier2.transfer_fragment(root, w.supplier3.account)
    with pytest.raises(E.UnknownFragment):
        w.operator.fragment(fragment_id_of(999, 0))
    # certificates, credit lines, invoice registry
    with pytest.raises(E.UnknownCertificate):
        w.operator.certificate(10_000)
    with pytest.raises(E.InvalidMaturity):
        w.core.issue(w.bank.account, w.supplier.account, 1, w.now(), b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(E.CreditLineExceeded):
        w.core.issue(
            w.bank.account,
            w.supplier.account,
            10**12 + 1,
            w.now() + DAY,
            b"\x03" * 32,
            b"\x04" * 32,
        )
    issued = w.operator.certificate(_cid)
    with pytest.raises(E.InvoiceAlreadyUsed):
        w.core.issue(
            w.bank.account, w.supplier.account, 1, w.now() + DAY, issued.invoice_key, b"\x05" * 32
        )
    with pytest.raises(E.DocumentAlreadyUsed) as document_info:
        w.core.issue(
            w.bank.account, w.supplier.account, 1, w.now() + DAY, b"\x06" * 32, issued.document_hash
        )
    assert document_info.value.args == {
        "documentHash": issued.document_hash,
        "certificateId": _cid,
    }
    assert w.operator.certificate_of_document(issued.document_hash) == _cid
    assert w.operator.certificate_of_document(b"\x07" * 32) is None
    # financing
    with pytest.raises(E.InvalidRate):
        w.supplier.offer_financing(root, w.bank.account, 100, 10_001, w.now() + DAY)
    with pytest.raises(E.UnknownOffer):
        w.bank.accept_offer(10_000)
    # repayment
    with pytest.raises(E.NotMatured):
        w.core.repay(_cid, 1)
    with pytest.raises(E.NothingOwed):
        w.supplier.claim(root)
    # pause
    w.operator.pause()
    try:
        assert w.operator.paused()
        with pytest.raises(E.EnforcedPause):
            w.supplier.split(root, w.supplier2.account, 1)
    finally:
        w.operator.unpause()


def test_token_error_bubbles_through_the_ledger(world: LedgerWorld):
    w = world
    _cid, root = w.issue()
    offer = w.supplier.offer_financing(root, w.bank.account, 500_000, 400, w.now() + DAY).value
    poor_bank = w.operator.as_member(w.senders[7])
    w.operator.register_member(poor_bank.account, keccak(text="poor bank"), Role.FINANCIER)
    offer2 = w.supplier.offer_financing(root, poor_bank.account, 1_000, 400, w.now() + DAY).value
    with pytest.raises(Ledger.errors.ERC20InsufficientBalance):
        poor_bank.accept_offer(offer2)
    with pytest.raises(Ledger.errors.NotOfferFinancier):
        poor_bank.accept_offer(offer)


# -- lifecycle ------------------------------------------------------------------------------


def test_membership_and_administration(world: LedgerWorld):
    w = world
    member = w.operator.member(w.supplier3.account)
    assert member.role == Role.SUPPLIER and not member.suspended
    assert w.operator.account_of_organization(member.org_id_hash) == w.supplier3.account
    w.operator.suspend_member(w.supplier3.account)
    assert w.operator.member(w.supplier3.account).suspended
    w.operator.reinstate_member(w.supplier3.account)
    w.operator.change_member_role(w.supplier3.account, Role.FINANCIER)
    assert w.operator.member(w.supplier3.account).role == Role.FINANCIER
    w.operator.change_member_role(w.supplier3.account, Role.SUPPLIER)
    w.operator.set_grace_period(5 * DAY)
    assert w.operator.grace_period() == 5 * DAY
    with pytest.raises(Ledger.errors.InvalidGracePeriod):
        w.operator.set_grace_period(91 * DAY)
    w.operator.set_grace_period(3 * DAY)
    line = w.operator.credit_line(w.bank.account, w.core.account)
    assert line.limit == 10**12 and line.used > 0


def test_issue_accept_split_transfer_finance(world: LedgerWorld):
    w = world
    count_before = w.operator.certificate_count()
    cid, root = w.issue(face_value=2_000_000)
    assert cid == count_before + 1 and root == fragment_id_of(cid, 0)
    cert = w.operator.certificate(cid)
    assert cert.status == CertificateStatus.ACTIVE and cert.fragment_count == 1
    assert w.operator.certificate_of_invoice(cert.invoice_key) == cid
    assert w.operator.certificate_of_invoice(b"\x09" * 32) is None

    child = w.supplier.split(root, w.supplier2.account, 300_000)
    assert child.value == fragment_id_of(cid, 1) and child.gas_used > 0
    grandchild = w.supplier2.split(child.value, w.supplier3.account, 100_000).value
    w.supplier3.transfer_fragment(grandchild, w.supplier2.account)
    assert w.operator.fragment(grandchild).holder == w.supplier2.account
    path = w.operator.provenance(grandchild)
    assert [f.id for f in path] == [grandchild, child.value, root]
    assert path[-1].parent_id is None

    expires = w.now() + 10 * DAY
    offer_id = w.supplier2.offer_financing(child.value, w.bank.account, 50_000, 365, expires).value
    offer = w.operator.offer(offer_id)
    assert (offer.status, offer.amount, offer.seller) == (
        OfferStatus.OPEN,
        50_000,
        w.supplier2.account,
    )
    q = w.operator.quote(offer_id)
    assert q.payment == 50_000 - q.discount and q.days in (89, 90)
    seller_before = w.operator.token_balance(w.supplier2.account)
    accepted = w.bank.accept_offer(offer_id)
    financed = accepted.value
    assert w.operator.fragment(financed).holder == w.bank.account
    assert w.operator.fragment(financed).value == 50_000
    # The price is fixed when the tx is mined: a day boundary may pass since the quote
    # (the issue was at "now + 90 days" to the second), so the event is the authority.
    (event,) = [e for e in w.operator.event_records(FinancingAccepted) if e.offer_id == offer_id]
    assert (event.fragment_id, event.financed_fragment_id) == (child.value, financed)
    assert (event.financier, event.seller, event.amount) == (
        w.bank.account,
        w.supplier2.account,
        50_000,
    )
    assert event.payment == 50_000 - discount(50_000, 365, event.days) == 50_000 - event.discount
    assert w.operator.token_balance(w.supplier2.account) - seller_before == event.payment
    assert q.payment <= event.payment
    receipt = w.w3.eth.get_transaction_receipt(accepted.tx_hash)
    assert w.operator.receipt_records(receipt, FinancingAccepted) == [event]
    # the read model stores event arguments as JSON, big numbers as decimal strings
    stored = json.loads(
        json.dumps(w.operator.receipt_events(receipt, "FinancingAccepted")[0], default=str)
    )
    position = {"block_number": event.block_number, "log_index": event.log_index}
    assert FinancingAccepted.from_args(stored, **position) == event
    (offered,) = [e for e in w.operator.event_records(FinancingOffered) if e.offer_id == offer_id]
    assert (offered.fragment_id, offered.amount, offered.rate_bps, offered.expires_at) == (
        child.value,
        50_000,
        365,
        expires,
    )
    assert w.operator.offer(offer_id).status == OfferStatus.ACCEPTED

    withdrawn = w.supplier.offer_financing(root, w.bank.account, 10, 100, expires).value
    w.supplier.withdraw_offer(withdrawn)
    with pytest.raises(Ledger.errors.OfferNotOpen):
        w.bank.accept_offer(withdrawn)

    fragments = w.operator.fragments_of(cid)
    assert sum(f.value for f in fragments) == 2_000_000
    assert len(fragments) == w.operator.certificate(cid).fragment_count == 4
    held = {f.id for f in w.operator.holdings(w.supplier2.account)}
    assert {child.value, grandchild} <= held and financed not in held
    assert financed in {f.id for f in w.operator.holdings(w.bank.account)}


def test_reject_and_revoke_restore_credit(world: LedgerWorld):
    w = world
    used = w.operator.credit_line(w.bank.account, w.core.account).used
    maturity = w.now() + 30 * DAY
    a = w.core.issue(w.bank.account, w.supplier.account, 7, maturity, b"\x11" * 32, b"\x01" * 32)
    b = w.core.issue(w.bank.account, w.supplier.account, 9, maturity, b"\x12" * 32, b"\x13" * 32)
    w.supplier.reject(a.value)
    w.core.revoke(b.value)
    assert w.operator.certificate(a.value).status == CertificateStatus.REJECTED
    assert w.operator.certificate(b.value).status == CertificateStatus.REVOKED
    assert w.operator.credit_line(w.bank.account, w.core.account).used == used
    with pytest.raises(Ledger.errors.WrongCertificateStatus):
        w.supplier.accept(a.value)


def test_submit_then_wait(world: LedgerWorld):
    w = world
    cid, root = w.issue(face_value=100_000)
    pending = [
        w.supplier.submit(w.supplier.calls.split(root, w.supplier2.account, 10 + i))
        for i in range(20)
    ]
    outcomes = Ledger.wait_all(pending)
    assert sorted(o.value for o in outcomes) == [fragment_id_of(cid, s) for s in range(1, 21)]
    assert sum(f.value for f in w.operator.fragments_of(cid)) == 100_000


def test_repayment_overdue_default(world: LedgerWorld):
    w = world
    cid, root = w.issue(face_value=1_000, tenor_days=10)
    second = w.supplier.split(root, w.supplier2.account, 301).value
    third = w.supplier.split(root, w.supplier3.account, 99).value
    other_cid, _other_root = w.issue(face_value=500, tenor_days=10)
    with pytest.raises(Ledger.errors.NotMatured):
        w.core.repay(cid, 1)
    w.travel(10 * DAY + 1)
    with pytest.raises(Ledger.errors.CertificateMatured):
        w.supplier.split(root, w.supplier2.account, 1)
    w.core.repay(cid, 500)  # half: approve happens inside
    status = w.operator.repayment_status(cid)
    assert (status.repaid, status.outstanding, status.matured, status.settled) == (
        500,
        500,
        True,
        False,
    )
    assert w.operator.owed(second) == 301 * 500 // 1000
    assert w.supplier2.claim(second).value == 150
    paid = w.operator.pay_fragments(cid, 0, 10).value
    assert paid == 300 + 49  # root 600 -> 300, third 99 -> 49; second already claimed
    with pytest.raises(Ledger.errors.RepaymentExceedsOutstanding):
        w.core.repay(cid, 501)
    w.core.repay(cid, 500)
    final = w.operator.repayment_status(cid)
    assert final.status == CertificateStatus.SETTLED and final.settled
    w.operator.pay_fragments(cid, 0, 10)
    assert w.operator.repayment_status(cid).fully_paid_out
    assert w.operator.owed(third) == 0

    with pytest.raises(Ledger.errors.NotYetOverdue):
        w.operator.mark_overdue(other_cid)
    # a pause after maturity extends the grace period by the time paused
    overdue_at = w.operator.overdue_at(other_cid)
    assert overdue_at == w.operator.certificate(other_cid).maturity + w.operator.grace_period()
    paused_at = w.operator.pause().block_number
    w.travel(DAY)
    resumed_at = w.operator.unpause().block_number
    paused_for = int(w.w3.eth.get_block(resumed_at)["timestamp"]) - int(
        w.w3.eth.get_block(paused_at)["timestamp"]
    )
    assert w.operator.overdue_at(other_cid) == overdue_at + paused_for
    assert w.operator.repayment_status(other_cid).overdue_at == overdue_at + paused_for
    w.travel(2 * DAY + 60)  # past maturity + grace in wall time, not in unpaused time
    with pytest.raises(Ledger.errors.NotYetOverdue):
        w.outsider.mark_overdue(other_cid)
    w.travel(DAY)
    w.outsider.mark_overdue(other_cid)  # anyone may
    w.operator.declare_default(other_cid)
    assert w.operator.certificate(other_cid).status == CertificateStatus.DEFAULTED
    assert certificate_id_of(third) == cid


@pytest.mark.parametrize("record", [FinancingOffered, FinancingAccepted, SoldToBid])
def test_event_records_name_every_argument_of_their_event(world: LedgerWorld, record):
    """In the Solidity order, none missed: a renamed or added argument fails here."""
    (event,) = [
        e
        for e in (*world.manifest.ledger_abi, *world.manifest.bid_book_abi)
        if e.get("type") == "event" and e["name"] == record.EVENT
    ]
    position = {i["name"]: str(index) for index, i in enumerate(event["inputs"])}
    decoded = record.from_args(position, block_number=1, log_index=2)
    own = [f.name for f in dataclasses.fields(record)][2:]  # after block_number, log_index
    assert [int(getattr(decoded, name)) for name in own] == list(range(len(position)))
