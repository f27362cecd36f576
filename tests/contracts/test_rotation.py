"""Key rotation and recovery: an organization moves to a new key with the operator's approval.

rotateMember moves the member record and retires the old address; the operator's batches
(moveCertificates, moveCreditLines, moveOffers, moveHoldings) then move what the ledger
stores by address. The old address can do nothing afterwards and is never paid again.
"""

from __future__ import annotations

import brownie
import pytest

from tests.contracts.helpers import (
    CREDIT_LIMIT,
    DAY,
    FACE_VALUE,
    OFFER_OPEN,
    ROLE_CORE,
    ROLE_FINANCIER,
    ROLE_NONE,
    ROLE_SUPPLIER,
    STATUS_REVOKED,
    STATUS_SETTLED,
    custom_error,
    org_hash,
)

ZERO = "0x0000000000000000000000000000000000000000"
OPERATOR_ONLY = r"AccessControlUnauthorizedAccount: .*"


@pytest.fixture
def fresh(accounts):
    """New keys, never registered (brownie local accounts; gas is free on the test node)."""

    def _fresh():
        return accounts.add()

    return _fresh


def mature(chain, days=31):
    chain.sleep(days * DAY)
    chain.mine()


def fund(token, ledger, operator, account, amount=10 * CREDIT_LIMIT):
    token.mint(account, amount, {"from": operator})
    token.approve(ledger, 2**256 - 1, {"from": account})


def test_rotation_moves_the_member_record_and_retires_the_old_key(ledger, operator, tier2, fresh):
    new = fresh()
    ledger.suspendMember(tier2, {"from": operator})
    tx = ledger.rotateMember(tier2, new, {"from": operator})
    event = tx.events["MemberRotated"]
    assert (event["oldAccount"], event["newAccount"], event["orgIdHash"]) == (
        tier2,
        new,
        "0x" + org_hash("tier2").hex(),
    )
    # the record (role, suspension, organization) is the new key's; the old one is nothing
    assert tuple(ledger.memberOf(new)) == (ROLE_SUPPLIER, True, "0x" + org_hash("tier2").hex())
    assert tuple(ledger.memberOf(tier2)) == (ROLE_NONE, False, "0x" + "00" * 32)
    assert ledger.accountOfOrganization(org_hash("tier2")) == new
    assert ledger.successorOf(tier2) == new
    assert ledger.successorOf(new) == ZERO
    ledger.reinstateMember(new, {"from": operator})
    assert tuple(ledger.memberOf(new))[:2] == (ROLE_SUPPLIER, False)


def test_rotating_a_supplier_that_holds_fragments_and_an_open_offer(
    ledger, token, chain, operator, active_certificate, bank, tier1, tier2, tier3, fresh
):
    _, root = active_certificate()
    first = ledger.split(root, tier2, 1_000_000, {"from": tier1}).return_value
    second = ledger.split(root, tier2, 2_000_000, {"from": tier1}).return_value
    offer = ledger.offerFinancing(
        first, bank, 500_000, 365, chain.time() + DAY, {"from": tier2}
    ).return_value
    new = fresh()
    ledger.rotateMember(tier2, new, {"from": operator})

    # the old key can do nothing, and nothing can be given to it
    for call, args in (
        (ledger.split, (first, tier3, 1)),
        (ledger.transferFragment, (first, tier3)),
        (ledger.offerFinancing, (first, bank, 1, 365, chain.time() + DAY)),
        (ledger.withdrawOffer, (offer,)),
    ):
        with brownie.reverts(custom_error("NotAMember", tier2)):
            call(*args, {"from": tier2})
    with brownie.reverts(custom_error("NotAMember", tier2)):
        ledger.split(root, tier2, 1, {"from": tier1})
    # nor can its open offer be accepted: no cash to the old key
    with brownie.reverts(custom_error("NotAMember", tier2)):
        ledger.acceptOffer(offer, {"from": bank})
    # nor can the new key use what the old one holds before it is moved
    with brownie.reverts(custom_error("NotHolder", first, new)):
        ledger.split(first, tier3, 1, {"from": new})

    tx = ledger.moveHoldings(tier2, [first, second], {"from": operator})
    moved = [(e["fragmentId"], e["from"], e["to"]) for e in tx.events["HoldingMoved"]]
    assert moved == [(first, tier2, new), (second, tier2, new)]
    assert "FragmentTransferred" not in tx.events
    assert ledger.getFragment(first)[2] == new and ledger.getFragment(second)[2] == new
    # a batch sent again skips what is already at the successor
    again = ledger.moveHoldings(tier2, [first, second], {"from": operator})
    assert "HoldingMoved" not in again.events

    tx = ledger.moveOffers(tier2, [offer], {"from": operator})
    event = tx.events["OfferPartyMoved"]
    assert (event["offerId"], event["from"], event["to"]) == (offer, tier2, new)
    assert ledger.getOffer(offer)["seller"] == new
    assert ledger.getOffer(offer)["status"] == OFFER_OPEN
    old_cash, new_cash = token.balanceOf(tier2), token.balanceOf(new)
    tx = ledger.acceptOffer(offer, {"from": bank})
    assert token.balanceOf(new) - new_cash == tx.events["FinancingAccepted"]["payment"] > 0
    assert token.balanceOf(tier2) == old_cash
    # the new key acts as the supplier did
    ledger.split(second, tier3, 1, {"from": new})
    ledger.transferFragment(second, tier1, {"from": new})


def test_rotating_a_financier_with_credit_lines_and_open_offers(
    ledger, token, chain, operator, issue, core, bank, tier1, fresh
):
    pending = issue()
    active = issue()
    root = ledger.accept(active, {"from": tier1}).return_value
    offer = ledger.offerFinancing(
        root, bank, 3_000_000, 365, chain.time() + DAY, {"from": tier1}
    ).return_value
    financed = ledger.split(root, tier1, 1_000_000, {"from": tier1}).return_value
    bought = ledger.offerFinancing(
        financed, bank, 1_000_000, 365, chain.time() + DAY, {"from": tier1}
    ).return_value
    ledger.acceptOffer(bought, {"from": bank})  # the bank holds `financed` now
    used = 2 * FACE_VALUE
    assert tuple(ledger.creditLine(bank, core)) == (CREDIT_LIMIT, used)
    new = fresh()
    ledger.rotateMember(bank, new, {"from": operator})

    with brownie.reverts(custom_error("NotAMember", bank)):
        ledger.setCreditLine(core, 1, {"from": bank})
    with brownie.reverts(custom_error("NotAMember", bank)):
        ledger.acceptOffer(offer, {"from": bank})
    with brownie.reverts(custom_error("NotAMember", bank)):
        ledger.issue(bank, tier1, 1, chain.time() + DAY, b"\x07" * 32, b"\x07" * 32, {"from": core})
    # the line cannot move while certificates still use it under the old key
    with brownie.reverts(custom_error("CreditLineInUse", bank, core, used)):
        ledger.moveCreditLines(bank, [core], {"from": operator})

    tx = ledger.moveCertificates(bank, [pending, active], {"from": operator})
    assert [
        (e["certificateId"], e["from"], e["to"]) for e in tx.events["CertificatePartyMoved"]
    ] == [
        (pending, bank, new),
        (active, bank, new),
    ]
    assert ledger.getCertificate(active)["creditProvider"] == new
    # the debt followed the certificates; the limit has not moved yet
    assert tuple(ledger.creditLine(bank, core)) == (CREDIT_LIMIT, 0)
    assert tuple(ledger.creditLine(new, core)) == (0, used)

    tx = ledger.moveCreditLines(bank, [core], {"from": operator})
    event = tx.events["CreditLineMoved"]
    assert (
        event["financier"],
        event["coreEnterprise"],
        event["newFinancier"],
        event["newCoreEnterprise"],
        event["limit"],
    ) == (bank, core, new, core, CREDIT_LIMIT)
    assert tuple(ledger.creditLine(bank, core)) == (0, 0)
    assert tuple(ledger.creditLine(new, core)) == (CREDIT_LIMIT, used)
    with brownie.reverts(custom_error("NoCreditLine", bank, core)):
        ledger.moveCreditLines(bank, [core], {"from": operator})

    ledger.moveOffers(bank, [offer], {"from": operator})
    assert ledger.getOffer(offer)["financier"] == new
    ledger.moveHoldings(bank, [financed], {"from": operator})
    assert ledger.getFragment(financed)[2] == new

    # the new key finances, draws and manages the line as the bank did
    with brownie.reverts(custom_error("NotOfferFinancier", offer, bank)):
        ledger.acceptOffer(offer, {"from": bank})
    fund(token, ledger, operator, new)
    ledger.acceptOffer(offer, {"from": new})
    ledger.revoke(pending, {"from": core})
    assert tuple(ledger.creditLine(new, core)) == (CREDIT_LIMIT, FACE_VALUE)
    issue(credit_provider=new)
    assert tuple(ledger.creditLine(new, core)) == (CREDIT_LIMIT, 2 * FACE_VALUE)
    ledger.setCreditLine(core, 5 * FACE_VALUE, {"from": new})


def test_rotating_a_core_enterprise_the_new_key_repays_and_holders_are_paid(
    ledger, token, chain, operator, issue, core, bank, tier1, tier2, fresh
):
    pending = issue()
    active = issue(tenor_days=30)
    root = ledger.accept(active, {"from": tier1}).return_value
    piece = ledger.split(root, tier2, 40_000_000, {"from": tier1}).return_value
    new = fresh()
    ledger.rotateMember(core, new, {"from": operator})

    with brownie.reverts(custom_error("NotAMember", core)):
        ledger.issue(bank, tier1, 1, chain.time() + DAY, b"\x08" * 32, b"\x08" * 32, {"from": core})
    with brownie.reverts(custom_error("NotAMember", core)):
        ledger.revoke(pending, {"from": core})
    with brownie.reverts(custom_error("NotAMember", core)):
        ledger.setCreditLine(core, CREDIT_LIMIT + 1, {"from": bank})
    with brownie.reverts(custom_error("NotIssuer", pending, new)):
        ledger.revoke(pending, {"from": new})

    ledger.moveCertificates(core, [pending, active], {"from": operator})
    assert ledger.getCertificate(active)["issuer"] == new
    assert tuple(ledger.creditLine(bank, new)) == (0, 2 * FACE_VALUE)
    tx = ledger.moveCreditLines(core, [bank], {"from": operator})
    assert tx.events["CreditLineMoved"]["newCoreEnterprise"] == new
    assert tuple(ledger.creditLine(bank, core)) == (0, 0)
    assert tuple(ledger.creditLine(bank, new)) == (CREDIT_LIMIT, 2 * FACE_VALUE)

    ledger.revoke(pending, {"from": new})
    assert ledger.getCertificate(pending)["status"] == STATUS_REVOKED
    assert tuple(ledger.creditLine(bank, new)) == (CREDIT_LIMIT, FACE_VALUE)
    issue_tx = ledger.issue(
        bank, tier1, 1_000, chain.time() + DAY, b"\x09" * 32, b"\x09" * 32, {"from": new}
    )
    assert issue_tx.events["CertificateIssued"]["issuer"] == new

    mature(chain)
    fund(token, ledger, operator, new)
    with brownie.reverts(custom_error("NotIssuer", active, core)):
        ledger.repay(active, FACE_VALUE, {"from": core})
    ledger.repay(active, FACE_VALUE, {"from": new})
    assert ledger.getCertificate(active)["status"] == STATUS_SETTLED
    assert tuple(ledger.creditLine(bank, new)) == (CREDIT_LIMIT, 1_000)
    before = {a: token.balanceOf(a) for a in (tier1, tier2)}
    ledger.payFragments(active, 0, 10, {"from": new})
    assert token.balanceOf(tier1) - before[tier1] == 60_000_000
    assert token.balanceOf(tier2) - before[tier2] == 40_000_000
    assert ledger.getFragment(piece)[4] == 40_000_000


def test_a_retired_key_is_never_paid(
    ledger, token, chain, operator, active_certificate, core, tier1, tier2, tier3, fresh
):
    certificate_id, root = active_certificate(tenor_days=30)
    kept = ledger.split(root, tier2, 10_000_000, {"from": tier1}).return_value
    claimed = ledger.split(root, tier2, 20_000_000, {"from": tier1}).return_value
    ledger.split(root, tier3, 5_000_000, {"from": tier1})
    new = fresh()
    ledger.rotateMember(tier2, new, {"from": operator})  # no moves yet
    mature(chain)
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    old_cash = token.balanceOf(tier2)

    with brownie.reverts(custom_error("NotAMember", tier2)):
        ledger.claim(kept, {"from": tier2})
    # the current key claims a fragment the old key still holds: moved, then paid
    tx = ledger.claim(claimed, {"from": new})
    assert [(e["fragmentId"], e["from"], e["to"]) for e in tx.events["HoldingMoved"]] == [
        (claimed, tier2, new)
    ]
    assert tx.events["FragmentPaid"]["holder"] == new
    assert token.balanceOf(new) == 20_000_000
    # a keeper's page pays the current key too, moving the fragment on the way
    tx = ledger.payFragments(certificate_id, 0, 10, {"from": tier3})
    assert [(e["fragmentId"], e["to"]) for e in tx.events["HoldingMoved"]] == [(kept, new)]
    paid_to = {e["fragmentId"]: e["holder"] for e in tx.events["FragmentPaid"]}
    assert paid_to[kept] == new and tier2 not in paid_to.values()
    assert token.balanceOf(new) == 30_000_000
    assert token.balanceOf(tier2) == old_cash
    assert ledger.getFragment(kept)[2] == new
    assert token.balanceOf(ledger) == 0
    # moves are allowed after settlement: the same organization, only its key changed
    assert (
        ledger.moveHoldings(tier2, [kept, claimed], {"from": operator}).events.count("HoldingMoved")
        == 0
    )


def test_a_second_rotation_before_the_moves_sends_them_to_the_last_key(
    ledger, operator, active_certificate, tier1, tier2, fresh
):
    _, root = active_certificate()
    piece = ledger.split(root, tier2, 1_000, {"from": tier1}).return_value
    second, third = fresh(), fresh()
    ledger.rotateMember(tier2, second, {"from": operator})
    ledger.rotateMember(second, third, {"from": operator})
    assert (ledger.successorOf(tier2), ledger.successorOf(second)) == (second, third)
    assert ledger.accountOfOrganization(org_hash("tier2")) == third
    tx = ledger.moveHoldings(tier2, [piece], {"from": operator})
    assert tx.events["HoldingMoved"]["to"] == third
    ledger.transferFragment(piece, tier1, {"from": third})
    # a retired key stays retired: it is never registered, rotated or rotated to again
    with brownie.reverts(custom_error("AccountRetired", tier2, second)):
        ledger.rotateMember(tier2, fresh(), {"from": operator})
    with brownie.reverts(custom_error("AccountRetired", second, third)):
        ledger.rotateMember(tier1, second, {"from": operator})
    with brownie.reverts(custom_error("AccountRetired", tier2, second)):
        ledger.registerMember(tier2, org_hash("again"), ROLE_SUPPLIER, {"from": operator})
    with brownie.reverts(custom_error("NotAMember", second)):
        ledger.changeMemberRole(second, ROLE_FINANCIER, {"from": operator})


def test_rotation_refusals(ledger, operator, tier1, tier2, outsider, fresh):
    new = fresh()
    with brownie.reverts(revert_pattern=OPERATOR_ONLY):
        ledger.rotateMember(tier1, new, {"from": tier1})
    with brownie.reverts(custom_error("MemberAlreadyRegistered", tier2)):
        ledger.rotateMember(tier1, tier2, {"from": operator})
    with brownie.reverts(custom_error("MemberAlreadyRegistered", tier1)):
        ledger.rotateMember(tier1, tier1, {"from": operator})
    with brownie.reverts(custom_error("NotAMember", outsider)):
        ledger.rotateMember(outsider, new, {"from": operator})
    with brownie.reverts(custom_error("ZeroAddress")):
        ledger.rotateMember(tier1, ZERO, {"from": operator})
    ledger.pause({"from": operator})
    with brownie.reverts(custom_error("EnforcedPause")):
        ledger.rotateMember(tier1, new, {"from": operator})
    ledger.unpause({"from": operator})
    assert ledger.memberOf(new)[0] == ROLE_NONE


def test_move_refusals(
    ledger, chain, operator, issue, active_certificate, core, bank, bank2, tier1, tier2, fresh
):
    _, root = active_certificate()
    piece = ledger.split(root, tier2, 1_000, {"from": tier1}).return_value
    other_cert = issue(beneficiary=tier2)
    offer = ledger.offerFinancing(
        root, bank, 1_000, 365, chain.time() + DAY, {"from": tier1}
    ).return_value
    withdrawn = ledger.offerFinancing(
        piece, bank, 1, 365, chain.time() + DAY, {"from": tier2}
    ).return_value
    ledger.withdrawOffer(withdrawn, {"from": tier2})
    # moves need a retired account
    for move, items in (
        (ledger.moveHoldings, [piece]),
        (ledger.moveCertificates, [other_cert]),
        (ledger.moveOffers, [offer]),
        (ledger.moveCreditLines, [core]),
    ):
        with brownie.reverts(custom_error("NotRetired", tier2)):
            move(tier2, items, {"from": operator})
    new = fresh()
    ledger.rotateMember(tier2, new, {"from": operator})
    with brownie.reverts(revert_pattern=OPERATOR_ONLY):
        ledger.moveHoldings(tier2, [piece], {"from": new})
    with brownie.reverts(custom_error("FragmentNotHeld", root, tier2, tier1)):
        ledger.moveHoldings(tier2, [piece, root], {"from": operator})
    assert ledger.getFragment(piece)[2] == tier2  # the whole batch reverted
    with brownie.reverts(custom_error("UnknownFragment", root + 99)):
        ledger.moveHoldings(tier2, [root + 99], {"from": operator})
    cert_of_root = root >> 32
    with brownie.reverts(custom_error("NotCertificateParty", cert_of_root, tier2)):
        ledger.moveCertificates(tier2, [cert_of_root], {"from": operator})
    with brownie.reverts(custom_error("UnknownCertificate", 999)):
        ledger.moveCertificates(tier2, [999], {"from": operator})
    with brownie.reverts(custom_error("NotOfferParty", offer, tier2)):
        ledger.moveOffers(tier2, [offer], {"from": operator})
    with brownie.reverts(revert_pattern=r"OfferNotOpen: .*"):
        ledger.moveOffers(tier2, [withdrawn], {"from": operator})
    with brownie.reverts(custom_error("NoCreditLine", tier2, bank2)):
        ledger.moveCreditLines(tier2, [bank2], {"from": operator})
    ledger.pause({"from": operator})
    with brownie.reverts(custom_error("EnforcedPause")):
        ledger.moveHoldings(tier2, [piece], {"from": operator})
    ledger.unpause({"from": operator})
    # the beneficiary's place moves, and the new key accepts
    tx = ledger.moveCertificates(tier2, [other_cert], {"from": operator})
    assert tx.events["CertificatePartyMoved"]["to"] == new
    assert ledger.getCertificate(other_cert)["beneficiary"] == new
    ledger.accept(other_cert, {"from": new})


def test_a_core_enterprise_line_keeps_a_limit_set_since_the_rotation(
    ledger, operator, core, bank, fresh
):
    new = fresh()
    ledger.rotateMember(core, new, {"from": operator})
    ledger.setCreditLine(new, 7 * FACE_VALUE, {"from": bank})  # the bank's later decision
    tx = ledger.moveCreditLines(core, [bank], {"from": operator})
    assert tx.events["CreditLineMoved"]["limit"] == 7 * FACE_VALUE
    assert tuple(ledger.creditLine(bank, new)) == (7 * FACE_VALUE, 0)
    assert tuple(ledger.creditLine(bank, core)) == (0, 0)
    assert ledger.memberOf(new)[0] == ROLE_CORE
