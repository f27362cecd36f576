"""Repayment at maturity, pro-rata payouts, claims, pages, overdue and default."""

import brownie

from tests.contracts.helpers import (
    DAY,
    FACE_VALUE,
    GRACE_PERIOD,
    STATUS_ACTIVE,
    STATUS_DEFAULTED,
    STATUS_OVERDUE,
    STATUS_SETTLED,
    custom_error,
)


def mature(chain, days=31):
    chain.sleep(days * DAY)
    chain.mine()


def test_a_part_payment_before_maturity_reverts(ledger, active_certificate, core):
    """Before maturity only a repayment in full is taken (tests/contracts/test_bids.py,
    early repayment): a part of it would change fragments' shares while they still move."""
    certificate_id, _ = active_certificate(tenor_days=30)
    with brownie.reverts(revert_pattern=r"NotMatured: .*"):
        ledger.repay(certificate_id, FACE_VALUE - 1, {"from": core})


def test_full_repayment_pays_every_holder(
    ledger, token, chain, active_certificate, core, bank, tier1, tier2, tier3
):
    certificate_id, root = active_certificate(tenor_days=30)
    piece2 = ledger.split(root, tier2, 30_000_000, {"from": tier1}).return_value
    piece3 = ledger.split(piece2, tier3, 12_000_000, {"from": tier2}).return_value
    offer_id = ledger.offerFinancing(
        piece3, bank, 12_000_000, 365, chain.time() + DAY, {"from": tier3}
    ).return_value
    ledger.acceptOffer(offer_id, {"from": bank})
    mature(chain)

    core_before = token.balanceOf(core)
    tx = ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    assert core_before - token.balanceOf(core) == FACE_VALUE
    assert "CertificateSettled" in tx.events
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_SETTLED
    assert ledger.creditLine(bank, core)[1] == 0

    before = {a: token.balanceOf(a) for a in (tier1, tier2, bank)}
    page = ledger.payFragments(certificate_id, 0, 10, {"from": tier3})
    assert page.return_value == FACE_VALUE
    assert len(page.events["FragmentPaid"]) == 3
    assert token.balanceOf(tier1) - before[tier1] == 70_000_000
    assert token.balanceOf(tier2) - before[tier2] == 18_000_000
    assert token.balanceOf(bank) - before[bank] == 12_000_000
    assert ledger.getCertificate(certificate_id)["paidOut"] == FACE_VALUE
    assert token.balanceOf(ledger) == 0
    # paying again pays nobody twice
    assert ledger.payFragments(certificate_id, 0, 10, {"from": tier3}).return_value == 0


def test_partial_repayment_is_pro_rata_and_never_overpays(
    ledger, token, chain, active_certificate, core, tier1, tier2
):
    certificate_id, root = active_certificate(face_value=1_000, tenor_days=30)
    piece = ledger.split(root, tier2, 333, {"from": tier1}).return_value
    mature(chain)
    ledger.repay(certificate_id, 500, {"from": core})
    assert ledger.owed(root) == 667 * 500 // 1_000
    assert ledger.owed(piece) == 333 * 500 // 1_000
    ledger.payFragments(certificate_id, 0, 2, {"from": core})
    cert = ledger.getCertificate(certificate_id)
    assert cert["paidOut"] == 333 + 166 and cert["paidOut"] <= cert["repaid"]
    assert cert["status"] == STATUS_ACTIVE
    ledger.repay(certificate_id, 500, {"from": core})
    claimed = ledger.claim(piece, {"from": tier2}).return_value
    assert claimed == 333 - 166
    ledger.claim(root, {"from": tier1})
    assert ledger.getFragment(root)[4] == 667 and ledger.getFragment(piece)[4] == 333
    assert token.balanceOf(ledger) == 0


def test_repay_validation(ledger, chain, active_certificate, issue, core, tier1):
    certificate_id, _ = active_certificate(tenor_days=30)
    pending = issue(tenor_days=30)
    mature(chain)
    with brownie.reverts(custom_error("NotIssuer", certificate_id, tier1)):
        ledger.repay(certificate_id, 1, {"from": tier1})
    with brownie.reverts(custom_error("ZeroAmount")):
        ledger.repay(certificate_id, 0, {"from": core})
    with brownie.reverts(
        custom_error("RepaymentExceedsOutstanding", certificate_id, FACE_VALUE + 1, FACE_VALUE)
    ):
        ledger.repay(certificate_id, FACE_VALUE + 1, {"from": core})
    with brownie.reverts(revert_pattern=r"WrongCertificateStatus: .*"):
        ledger.repay(pending, 1, {"from": core})
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    with brownie.reverts(custom_error("WrongCertificateStatus", certificate_id, STATUS_SETTLED)):
        ledger.repay(certificate_id, 1, {"from": core})


def test_claim_rules(ledger, chain, active_certificate, core, tier1, tier2):
    certificate_id, root = active_certificate(tenor_days=30)
    mature(chain)
    with brownie.reverts(custom_error("NothingOwed", root)):
        ledger.claim(root, {"from": tier1})
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    with brownie.reverts(custom_error("NotHolder", root, tier2)):
        ledger.claim(root, {"from": tier2})
    ledger.claim(root, {"from": tier1})
    with brownie.reverts(custom_error("NothingOwed", root)):
        ledger.claim(root, {"from": tier1})


def test_pages_cover_every_fragment_once(
    ledger, token, chain, active_certificate, core, tier1, tier2
):
    certificate_id, root = active_certificate(tenor_days=30)
    for _ in range(6):
        ledger.split(root, tier2, 1_000_000, {"from": tier1})
    mature(chain)
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    paid = sum(
        ledger.payFragments(certificate_id, start, 3, {"from": core}).return_value
        for start in (0, 3, 6)
    )
    assert paid == FACE_VALUE
    with brownie.reverts(custom_error("InvalidPage", certificate_id, 7, 7)):
        ledger.payFragments(certificate_id, 7, 3, {"from": core})


def test_suspended_holder_is_still_paid(
    ledger, token, chain, operator, active_certificate, core, tier1
):
    certificate_id, _ = active_certificate(tenor_days=30)
    mature(chain)
    ledger.suspendMember(tier1, {"from": operator})
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    before = token.balanceOf(tier1)
    ledger.payFragments(certificate_id, 0, 1, {"from": operator})
    assert token.balanceOf(tier1) - before == FACE_VALUE


def test_overdue_then_default_then_late_payment(
    ledger, chain, operator, active_certificate, core, tier1
):
    certificate_id, _ = active_certificate(tenor_days=30)
    mature(chain)
    maturity = ledger.getCertificate(certificate_id)["maturity"]
    with brownie.reverts(custom_error("NotYetOverdue", certificate_id, maturity + GRACE_PERIOD)):
        ledger.markOverdue(certificate_id, {"from": tier1})
    with brownie.reverts(custom_error("WrongCertificateStatus", certificate_id, STATUS_ACTIVE)):
        ledger.declareDefault(certificate_id, {"from": operator})
    chain.sleep(GRACE_PERIOD)
    chain.mine()
    tx = ledger.markOverdue(certificate_id, {"from": tier1})
    assert tx.events["CertificateOverdue"]["outstanding"] == FACE_VALUE
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_OVERDUE
    with brownie.reverts():
        ledger.declareDefault(certificate_id, {"from": tier1})
    ledger.declareDefault(certificate_id, {"from": operator})
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_DEFAULTED
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_SETTLED


def test_grace_period_is_operator_only_and_bounded(ledger, operator, tier1):
    tx = ledger.setGracePeriod(7 * DAY, {"from": operator})
    assert tx.events["GracePeriodChanged"]["newGracePeriod"] == 7 * DAY
    assert ledger.gracePeriod() == 7 * DAY
    with brownie.reverts(custom_error("InvalidGracePeriod", 91 * DAY)):
        ledger.setGracePeriod(91 * DAY, {"from": operator})
    with brownie.reverts():
        ledger.setGracePeriod(DAY, {"from": tier1})


def test_issuer_repayment_gas_does_not_grow_with_fragments(
    ledger, chain, active_certificate, core, tier1, tier2
):
    warm_up, _ = active_certificate(tenor_days=30)
    small, _ = active_certificate(tenor_days=30)
    big, big_root = active_certificate(tenor_days=30)
    for _ in range(40):
        ledger.split(big_root, tier2, 1_000, {"from": tier1})
    mature(chain)
    # the first repayment ever also creates the ledger's token balance; compare the rest
    ledger.repay(warm_up, 1, {"from": core})
    gas_small = ledger.repay(small, FACE_VALUE, {"from": core}).gas_used
    gas_big = ledger.repay(big, FACE_VALUE, {"from": core}).gas_used
    assert gas_small == gas_big
