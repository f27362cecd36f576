"""chain_client's standing bids: post with escrow, quote, sell in one transaction with a
payee, change, cancel; refusals decoded into the exceptions named after the contract's
errors; the band packing against the chain."""

from __future__ import annotations

import pytest

from chain_client.bids import BidStatus, BidTerms, RateBand, pack_rate_bands, unpack_rate_bands
from chain_client.discount import quote
from chain_client.ledger_errors import ledger_errors as errors
from tests.client.helpers import DAY, LedgerWorld

BANDS = (RateBand(60, 300), RateBand(120, 450))


def terms(world: LedgerWorld, *, dear: bool = False, **changes: int) -> BidTerms:
    """The test's terms (``dear``: one band at 90% a year instead of BANDS)."""
    values = {
        "min_days": 0,
        "min_amount": 1,
        "max_amount": 10**9,
        "per_seller_limit": 0,
        "expires_at": world.now() + 30 * DAY,
    }
    values.update(changes)
    return BidTerms(bands=(RateBand(366, 9_000),) if dear else BANDS, **values)


def test_bands_pack_and_unpack():
    word = pack_rate_bands(BANDS)
    assert word == (60 << 16 | 300) | (120 << 16 | 450) << 32
    assert unpack_rate_bands(word) == list(BANDS)
    for bad in ([], [RateBand(5, 1)] * 2, [RateBand(0, 1)], [RateBand(5, 10_001)]):
        with pytest.raises(ValueError):
            pack_rate_bands(bad)


def test_a_supplier_sells_to_a_standing_bid_in_one_transaction(world: LedgerWorld):
    _, root = world.issue(face_value=1_000_000, tenor_days=90)
    bid_id = world.bank.post_bid(terms(world), [world.core.account], 5_000_000).value
    assert bid_id is not None
    bid = world.bank.bid(bid_id)
    assert bid.status == BidStatus.OPEN and bid.remaining == 5_000_000
    assert bid.terms.bands == BANDS and world.bank.bid_covers(bid_id, world.core.account)
    priced = world.supplier.quote_bid(bid_id, root, 400_000, world.supplier.account)
    certificate = world.bank.certificate(root >> 32)
    expected = quote(400_000, 450, world.now(), certificate.maturity)  # 89-90 days: band 2
    assert priced.discount in (expected.discount, 400_000 * 450 * (expected.days - 1) // 3_600_000)
    before = world.supplier2.token_balance()
    outcome = world.supplier.sell_to_bid(
        bid_id, root, 400_000, priced.payment, payee=world.supplier2.account
    )
    financed = outcome.value
    assert financed is not None and world.bank.fragment(financed).holder == world.bank.account
    assert world.supplier2.token_balance() - before == priced.payment
    assert world.bank.bid(bid_id).remaining == 5_000_000 - priced.payment


def test_refusals_are_decoded_and_the_escrow_comes_back(world: LedgerWorld):
    _, root = world.issue(face_value=1_000_000, tenor_days=90)
    bid_id = world.bank.post_bid(
        terms(world, max_amount=300_000, per_seller_limit=500_000), [world.core.account], 10**6
    ).value
    with pytest.raises(errors.AmountOutsideBidLimits):
        world.supplier.sell_to_bid(bid_id, root, 400_000, 0)
    world.supplier.sell_to_bid(bid_id, root, 300_000, 0)
    assert world.bank.sold_to_bid(bid_id, world.supplier.account) == 300_000
    with pytest.raises(errors.SellerLimitReached):
        world.supplier.sell_to_bid(bid_id, root, 300_000, 0)
    payment = world.supplier.quote_bid(bid_id, root, 100_000, world.supplier.account).payment
    with pytest.raises(errors.PaymentBelowMinimum):
        world.supplier.sell_to_bid(bid_id, root, 100_000, payment + 1)
    with pytest.raises(errors.NotBidFunder):
        world.supplier.cancel_bid(bid_id)
    world.bank.change_bid_terms(bid_id, terms(world, max_amount=50_000))
    assert world.bank.bid(bid_id).terms.max_amount == 50_000
    before = world.bank.bid(bid_id).remaining
    with pytest.raises(errors.BidBudgetMoved):  # a sale landed since it was read
        world.bank.change_bid_budget(bid_id, before + 1, 2 * 10**6)
    world.bank.change_bid_budget(bid_id, before, 2 * 10**6)  # a top-up approves the book
    remaining = world.bank.bid(bid_id).remaining
    before = world.bank.token_balance()
    assert world.bank.cancel_bid(bid_id).value == remaining
    assert world.bank.token_balance() - before == remaining
    with pytest.raises(errors.BidNotOpen):
        world.supplier.quote_bid(bid_id, root, 10_000, world.supplier.account)


def test_every_bid_quotes_or_says_why_not_in_one_batch(world: LedgerWorld):
    _, root = world.issue(face_value=1_000_000, tenor_days=90)
    fits = world.bank.post_bid(terms(world), [world.core.account], 10**6).value
    small = world.bank.post_bid(terms(world, max_amount=1_000), [world.core.account], 10**6).value
    short = world.bank.post_bid(
        BidTerms(bands=(RateBand(30, 300),), min_days=0, min_amount=1, max_amount=10**9,
                 per_seller_limit=0, expires_at=world.now() + DAY),
        [world.core.account],
        10**6,
    ).value  # fmt: skip
    assert world.bank.bid_count() >= 3
    assert [b.id for b in world.bank.bids([fits, small])] == [fits, small]
    answers = world.supplier.quote_bids([fits, small, short], root, 500_000, world.supplier.account)
    assert answers[fits] == world.supplier.quote_bid(fits, root, 500_000, world.supplier.account)
    assert isinstance(answers[small], errors.AmountOutsideBidLimits)
    assert isinstance(answers[short], errors.TenorOutOfRange)


def test_the_verifier_reprices_a_sale_to_a_bid_from_the_chain(world: LedgerWorld):
    from chain_client.verifier import Verifier

    _, root = world.issue(face_value=1_000_000, tenor_days=90)
    bid_id = world.bank.post_bid(terms(world), [world.core.account], 10**6).value
    financed = world.supplier.sell_to_bid(bid_id, root, 250_000, 0).value
    # the terms change after the sale: the sale is still priced by the terms of its time
    world.bank.change_bid_terms(bid_id, terms(world, expires_at=world.now() + DAY, dear=True))
    report = Verifier(world.w3, world.manifest).verify(financed)
    assert report.ok, report.summary()
    (sale,) = [r for r in report.financing if r.get("bid_id") == bid_id]
    assert sale["rate_bps"] == 450 and sale["in_lineage"]
