"""Financing as delivery-versus-payment: offers, acceptance, withdrawal, expiry."""

import brownie

from tests.contracts.helpers import (
    DAY,
    FACE_VALUE,
    OFFER_ACCEPTED,
    OFFER_OPEN,
    OFFER_WITHDRAWN,
    ROLE_SUPPLIER,
    custom_error,
)

RATE_BPS = 365  # 3.65% a year


def offer(ledger, chain, fragment, seller, financier, amount, rate=RATE_BPS, valid_days=3):
    expires = chain.time() + valid_days * DAY
    return ledger.offerFinancing(
        fragment, financier, amount, rate, expires, {"from": seller}
    ).return_value


def test_offer_records_terms(ledger, chain, active_certificate, tier1, bank):
    _, root = active_certificate()
    expires = chain.time() + DAY
    tx = ledger.offerFinancing(root, bank, 1_000_000, RATE_BPS, expires, {"from": tier1})
    offer_id = tx.return_value
    assert tx.events["FinancingOffered"]["amount"] == 1_000_000
    record = ledger.getOffer(offer_id)
    assert record["status"] == OFFER_OPEN and record["seller"] == tier1
    assert record["financier"] == bank and record["rateBps"] == RATE_BPS


def test_partial_financing_is_dvp(ledger, token, chain, active_certificate, tier1, bank):
    _, root = active_certificate(tenor_days=181)
    amount = 12_000_000
    offer_id = offer(ledger, chain, root, tier1, bank, amount)
    chain.sleep(3600)
    chain.mine()
    days, discount, payment = ledger.quote(offer_id)
    assert days == 180  # 181 days less an hour: the started day is not charged
    assert discount == 219_000 and payment == amount - 219_000
    seller_before, bank_before = token.balanceOf(tier1), token.balanceOf(bank)
    tx = ledger.acceptOffer(offer_id, {"from": bank})
    financed = tx.return_value
    assert token.balanceOf(tier1) - seller_before == payment
    assert bank_before - token.balanceOf(bank) == payment
    _, parent, holder, value, _ = ledger.getFragment(financed)
    assert (parent, holder, value) == (root, bank, amount)
    assert ledger.getFragment(root)[3] == FACE_VALUE - amount
    event = tx.events["FinancingAccepted"]
    assert (event["discount"], event["payment"], event["financedFragmentId"]) == (
        discount,
        payment,
        financed,
    )
    assert ledger.getOffer(offer_id)["status"] == OFFER_ACCEPTED


def test_whole_fragment_financing_transfers_it(
    ledger, token, chain, active_certificate, tier1, tier2, bank
):
    _, root = active_certificate()
    piece = ledger.split(root, tier2, 5_000_000, {"from": tier1}).return_value
    offer_id = offer(ledger, chain, piece, tier2, bank, 5_000_000)
    tx = ledger.acceptOffer(offer_id, {"from": bank})
    assert tx.return_value == piece
    assert ledger.getFragment(piece)[2] == bank
    assert "FragmentTransferred" in tx.events


def test_payment_failure_moves_nothing(ledger, token, chain, active_certificate, tier1, bank):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, 1_000_000)
    token.approve(ledger, 0, {"from": bank})
    with brownie.reverts(revert_pattern=r"ERC20InsufficientAllowance: .*"):
        ledger.acceptOffer(offer_id, {"from": bank})
    assert ledger.getFragment(root)[3] == FACE_VALUE
    assert ledger.getOffer(offer_id)["status"] == OFFER_OPEN


def test_only_named_financier_accepts_once(ledger, chain, active_certificate, tier1, bank, bank2):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, 1_000_000)
    with brownie.reverts(custom_error("NotOfferFinancier", offer_id, bank2)):
        ledger.acceptOffer(offer_id, {"from": bank2})
    ledger.acceptOffer(offer_id, {"from": bank})
    with brownie.reverts(custom_error("OfferNotOpen", offer_id, OFFER_ACCEPTED)):
        ledger.acceptOffer(offer_id, {"from": bank})


def test_expired_offer_cannot_be_accepted(ledger, chain, active_certificate, tier1, bank):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, 1_000_000, valid_days=1)
    chain.sleep(DAY + 1)
    with brownie.reverts(revert_pattern=r"OfferExpired: .*"):
        ledger.acceptOffer(offer_id, {"from": bank})


def test_withdrawn_offer_cannot_be_accepted(ledger, chain, active_certificate, tier1, tier2, bank):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, 1_000_000)
    with brownie.reverts(custom_error("NotOfferSeller", offer_id, tier2)):
        ledger.withdrawOffer(offer_id, {"from": tier2})
    tx = ledger.withdrawOffer(offer_id, {"from": tier1})
    assert "FinancingWithdrawn" in tx.events
    with brownie.reverts(custom_error("OfferNotOpen", offer_id, OFFER_WITHDRAWN)):
        ledger.acceptOffer(offer_id, {"from": bank})


def test_offer_fails_if_value_left_meanwhile(ledger, chain, active_certificate, tier1, tier2, bank):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, FACE_VALUE)
    ledger.split(root, tier2, 1, {"from": tier1})
    with brownie.reverts(
        custom_error("InsufficientFragmentValue", root, FACE_VALUE, FACE_VALUE - 1)
    ):
        ledger.acceptOffer(offer_id, {"from": bank})
    ledger.transferFragment(root, tier2, {"from": tier1})
    with brownie.reverts(custom_error("NotHolder", root, tier1)):
        ledger.acceptOffer(offer_id, {"from": bank})


def test_offer_validation(ledger, chain, active_certificate, tier1, tier2, bank):
    _, root = active_certificate(tenor_days=30)
    now = chain.time()
    with brownie.reverts(custom_error("InsufficientFragmentValue", root, 0, FACE_VALUE)):
        ledger.offerFinancing(root, bank, 0, RATE_BPS, now + DAY, {"from": tier1})
    with brownie.reverts(
        custom_error("InsufficientFragmentValue", root, FACE_VALUE + 1, FACE_VALUE)
    ):
        ledger.offerFinancing(root, bank, FACE_VALUE + 1, RATE_BPS, now + DAY, {"from": tier1})
    with brownie.reverts(custom_error("InvalidRate", 10_001)):
        ledger.offerFinancing(root, bank, 1, 10_001, now + DAY, {"from": tier1})
    with brownie.reverts(revert_pattern=r"InvalidOfferExpiry: .*"):
        ledger.offerFinancing(root, bank, 1, RATE_BPS, now - 1, {"from": tier1})
    with brownie.reverts(revert_pattern=r"InvalidOfferExpiry: .*"):
        ledger.offerFinancing(root, bank, 1, RATE_BPS, now + 31 * DAY, {"from": tier1})
    with brownie.reverts(custom_error("WrongRole", tier2, ROLE_SUPPLIER)):
        ledger.offerFinancing(root, tier2, 1, RATE_BPS, now + DAY, {"from": tier1})
    with brownie.reverts(custom_error("NotHolder", root, tier2)):
        ledger.offerFinancing(root, bank, 1, RATE_BPS, now + DAY, {"from": tier2})
    with brownie.reverts(custom_error("UnknownOffer", 77)):
        ledger.quote(77)
    with brownie.reverts(custom_error("UnknownOffer", 77)):
        ledger.withdrawOffer(77, {"from": tier1})


def test_discount_that_eats_the_amount_is_refused(ledger, chain, active_certificate, tier1, bank):
    _, root = active_certificate(tenor_days=365)
    offer_id = offer(ledger, chain, root, tier1, bank, 100, rate=10_000)
    with brownie.reverts(revert_pattern=r"DiscountExceedsAmount: .*"):
        ledger.acceptOffer(offer_id, {"from": bank})


def test_bank_can_pass_on_a_financed_fragment(
    ledger, chain, active_certificate, tier1, bank, bank2
):
    _, root = active_certificate()
    offer_id = offer(ledger, chain, root, tier1, bank, 1_000_000)
    financed = ledger.acceptOffer(offer_id, {"from": bank}).return_value
    ledger.transferFragment(financed, bank2, {"from": bank})
    assert ledger.getFragment(financed)[2] == bank2
