"""Standing bids (BidBook.sol): posting with escrow, selling in one transaction, every limit
and refusal, tenor bands, payees, buyer-funded early payment, changes and cancellation,
and the ledger's side of a sale (CreditLedger.deliverToBid)."""

from __future__ import annotations

import brownie
import pytest

from chain_client.bids import RateBand, pack_rate_bands, rate_for, unpack_rate_bands
from chain_client.discount import quote
from tests.contracts.helpers import (
    DAY,
    FACE_VALUE,
    ROLE_CORE,
    STATUS_SETTLED,
    custom_error,
    org_hash,
)

BID_OPEN, BID_CANCELLED = 1, 2
BUDGET = 50_000_000  # 500,000.00 CNY
#: 3.00% up to 90 days, 3.50% up to 180, 4.00% up to 366
BANDS = [RateBand(90, 300), RateBand(180, 350), RateBand(366, 400)]


def terms(chain, *, bands=BANDS, min_days=10, min_amount=100, max_amount=FACE_VALUE,
          per_seller=0, valid_days=30):  # fmt: skip
    return (
        pack_rate_bands(bands),
        min_days,
        min_amount,
        max_amount,
        per_seller,
        chain.time() + valid_days * DAY,
    )


@pytest.fixture(scope="module")
def book(BidBook, ledger, token, core, bank, bank2):
    book = BidBook.at(ledger.bidBook())
    for funder in (core, bank, bank2):
        token.approve(book, 2**256 - 1, {"from": funder})
    return book


@pytest.fixture(scope="module")
def post(book, chain, core, bank):
    """Posts a bid of `funder` (the bank) covering the core enterprise; returns its id."""

    def _post(funder=None, issuers=None, budget=BUDGET, **options):
        return book.postBid(
            terms(chain, **options), issuers or [core], budget, {"from": funder or bank}
        ).return_value

    return _post


def price(chain, amount, maturity, bands=BANDS, min_days=10):
    days = (maturity - chain.time()) // DAY
    return quote(amount, rate_for(bands, min_days, days), chain.time(), maturity)


def test_posting_escrows_the_budget_and_records_every_term(book, token, chain, core, bank):
    before = token.balanceOf(bank)
    tx = book.postBid(terms(chain, per_seller=7_000_000), [core], BUDGET, {"from": bank})
    bid_id = tx.return_value
    assert before - token.balanceOf(bank) == BUDGET == token.balanceOf(book)
    assert tx.events["BidPosted"]["budget"] == BUDGET
    assert tx.events["BidIssuerSet"]["issuer"] == core and tx.events["BidIssuerSet"]["covered"]
    assert tx.events["BidTermsSet"]["terms"][0] == pack_rate_bands(BANDS)
    record = book.getBid(bid_id)
    assert record["funder"] == bank and record["status"] == BID_OPEN
    assert record["remaining"] == BUDGET and record["perSellerLimit"] == 7_000_000
    assert unpack_rate_bands(record["rateBands"]) == BANDS
    assert book.bidCovers(bid_id, core)


def test_a_whole_fragment_sells_in_one_transaction(
    book, ledger, token, chain, active_certificate, post, tier1, bank
):
    _, root = active_certificate(tenor_days=120)
    bid_id = post(budget=2 * FACE_VALUE)
    maturity = ledger.getCertificate(root >> 32)["maturity"]
    expected = price(chain, FACE_VALUE, maturity)
    assert expected.rate_bps == 350  # 119 days: the second band
    seller_before = token.balanceOf(tier1)
    tx = book.sellToBid(
        bid_id, root, FACE_VALUE, expected.payment, brownie.ZERO_ADDRESS, {"from": tier1}
    )
    assert tx.return_value == root and ledger.getFragment(root)[2] == bank
    assert token.balanceOf(tier1) - seller_before == expected.payment
    assert book.getBid(bid_id)["remaining"] == 2 * FACE_VALUE - expected.payment
    event = tx.events["SoldToBid"]
    assert (event["seller"], event["payee"], event["funder"]) == (tier1, tier1, bank)
    assert (event["days_"], event["discount"], event["payment"]) == (
        expected.days, expected.discount, expected.payment,
    )  # fmt: skip
    assert "FragmentTransferred" in tx.events
    assert tx.gas_used <= 120_000, tx.gas_used


def test_part_of_a_fragment_sells_as_a_split(
    book, ledger, token, chain, active_certificate, post, tier1, bank
):
    _, root = active_certificate(tenor_days=60)
    bid_id = post()
    amount = 30_000_000
    tx = book.sellToBid(bid_id, root, amount, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    financed = tx.return_value
    _, parent, holder, value, _ = ledger.getFragment(financed)
    assert (parent, holder, value) == (root, bank, amount)
    assert ledger.getFragment(root)[3] == FACE_VALUE - amount
    assert tx.events["SoldToBid"]["financedFragmentId"] == financed
    assert tx.events["SoldToBid"]["days_"] in (59, 60) and tx.events["FragmentSplit"]["to"] == bank


def test_the_quote_is_the_sale(book, ledger, chain, active_certificate, post, tier1):
    _, root = active_certificate(tenor_days=200)
    bid_id = post()
    days, discount, payment = book.quoteBid(bid_id, root, 1_000_000, tier1)
    tx = book.sellToBid(bid_id, root, 1_000_000, payment, brownie.ZERO_ADDRESS, {"from": tier1})
    event = tx.events["SoldToBid"]
    assert (event["days_"], event["discount"], event["payment"]) == (days, discount, payment)
    assert days in (199, 200) and discount == 1_000_000 * 400 * days // 3_600_000  # third band


@pytest.mark.parametrize(
    "tenor_days, min_days, expected",
    [(5, 0, 300), (91, 0, 350), (181, 0, 400), (20, 30, None), (300, 0, None)],
)
def test_tenor_bands_price_or_refuse(
    book, ledger, chain, active_certificate, post, tier1, tenor_days, min_days, expected
):
    bands = BANDS if tenor_days != 300 else BANDS[:2]
    certificate_id, root = active_certificate(tenor_days=tenor_days)
    bid_id = post(bands=bands, min_days=min_days)
    days = (ledger.getCertificate(certificate_id)["maturity"] - chain[-1].timestamp) // DAY
    if expected is None:
        longest = bands[-1].up_to_days
        with brownie.reverts(custom_error("TenorOutOfRange", bid_id, days, min_days, longest)):
            book.quoteBid(bid_id, root, 1_000_000, tier1)
        return
    assert rate_for(bands, min_days, days) == expected
    assert (
        book.quoteBid(bid_id, root, 1_000_000, tier1)[1] == 1_000_000 * expected * days // 3_600_000
    )


def test_every_limit_refuses_with_its_reason(
    book, ledger, chain, active_certificate, post, tier1, tier2, core, bank2
):
    _, root = active_certificate(tenor_days=100)
    small = post(min_amount=2_000_000, max_amount=5_000_000, budget=4_400_000, per_seller=6_000_000)

    def sell(bid_id, amount, who=tier1, fragment=root, min_payment=0):
        return book.sellToBid(
            bid_id, fragment, amount, min_payment, brownie.ZERO_ADDRESS, {"from": who}
        )

    with brownie.reverts(
        custom_error("AmountOutsideBidLimits", small, 1_000_000, 2_000_000, 5_000_000)
    ):
        sell(small, 1_000_000)
    with brownie.reverts(
        custom_error("AmountOutsideBidLimits", small, 6_000_000, 2_000_000, 5_000_000)
    ):
        sell(small, 6_000_000)
    days = book.quoteBid(small, root, 2_000_000, tier1)[0]
    payment = 4_500_000 - 4_500_000 * 350 * days // 3_600_000  # the second band
    with brownie.reverts(custom_error("BidBudgetExhausted", small, payment, 4_400_000)):
        sell(small, 4_500_000)
    with brownie.reverts(
        custom_error(
            "PaymentBelowMinimum", small, book.quoteBid(small, root, 3_000_000, tier1)[2], 3_000_000
        )
    ):
        sell(small, 3_000_000, min_payment=3_000_000)
    sell(small, 3_000_000)
    assert book.soldToBid(small, tier1) == 3_000_000
    # the seller's limit counts face amounts across sales: 3,000,000 + 3,500,000 > 6,000,000
    book.changeBidBudget(
        small, book.getBid(small)["remaining"], 10_000_000, {"from": book.getBid(small)["funder"]}
    )
    with brownie.reverts(custom_error("SellerLimitReached", small, tier1, 6_500_000, 6_000_000)):
        sell(small, 3_500_000)

    other_core = brownie.accounts[7]
    ledger.registerMember(other_core, org_hash("core2"), ROLE_CORE, {"from": brownie.accounts[0]})
    elsewhere = post(issuers=[other_core])
    with brownie.reverts(custom_error("IssuerNotCovered", elsewhere, core)):
        sell(elsewhere, 2_000_000)
    # the ledger's checks of any move come back through the book unchanged
    with brownie.reverts(custom_error("NotHolder", root, tier2)):
        sell(small, 2_000_000, who=tier2)
    with brownie.reverts(custom_error("WrongRole", core, ROLE_CORE)):
        sell(small, 2_000_000, who=core)
    with brownie.reverts(custom_error("UnknownBid", 999)):
        sell(999, 2_000_000)


def test_an_expired_or_cancelled_bid_sells_nothing(
    book, token, chain, active_certificate, post, tier1, bank
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post(valid_days=1)
    expires = book.getBid(bid_id)["expiresAt"]
    chain.sleep(2 * DAY)
    chain.mine()
    with brownie.reverts(custom_error("BidExpired", bid_id, expires)):
        book.sellToBid(bid_id, root, 1_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    before = token.balanceOf(bank)
    tx = book.cancelBid(bid_id, {"from": bank})
    assert tx.events["BidCancelled"]["refunded"] == BUDGET
    assert token.balanceOf(bank) - before == BUDGET and token.balanceOf(book) == 0
    with brownie.reverts(custom_error("BidNotOpen", bid_id)):
        book.sellToBid(bid_id, root, 1_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    with brownie.reverts(custom_error("BidNotOpen", bid_id)):
        book.cancelBid(bid_id, {"from": bank})


def test_proceeds_go_to_the_named_payee(
    book, ledger, token, active_certificate, post, tier1, tier2, outsider, operator
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post()
    with brownie.reverts(custom_error("NotAMember", outsider)):
        book.sellToBid(bid_id, root, 1_000_000, 0, outsider, {"from": tier1})
    seller_before, payee_before = token.balanceOf(tier1), token.balanceOf(tier2)
    tx = book.sellToBid(bid_id, root, 1_000_000, 0, tier2, {"from": tier1})
    payment = tx.events["SoldToBid"]["payment"]
    assert tx.events["SoldToBid"]["payee"] == tier2
    assert token.balanceOf(tier2) - payee_before == payment
    assert token.balanceOf(tier1) == seller_before
    ledger.suspendMember(tier2, {"from": operator})
    with brownie.reverts(custom_error("MemberIsSuspended", tier2)):
        book.sellToBid(bid_id, root, 1_000_000, 0, tier2, {"from": tier1})


def test_a_core_enterprise_pays_its_suppliers_early_and_repays_itself(
    book, ledger, token, chain, active_certificate, post, core, tier1, operator
):
    certificate_id, root = active_certificate(tenor_days=100)
    other_core = brownie.accounts[7]
    ledger.registerMember(other_core, org_hash("core2"), ROLE_CORE, {"from": operator})
    with brownie.reverts(custom_error("NotOwnCertificates", 1, other_core)):
        post(funder=core, issuers=[core, other_core])
    bid_id = post(funder=core, bands=[RateBand(366, 600)])
    tx = book.sellToBid(bid_id, root, 40_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    bought = tx.return_value
    assert ledger.getFragment(bought)[2] == core
    # the core enterprise holds its own payable: it cannot move it on
    with brownie.reverts(custom_error("WrongRole", core, ROLE_CORE)):
        ledger.transferFragment(bought, tier1, {"from": core})
    chain.sleep(100 * DAY)
    chain.mine()
    ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    before = token.balanceOf(core)
    ledger.payFragments(certificate_id, 0, 10, {"from": operator})
    assert token.balanceOf(core) - before == 40_000_000  # it repaid itself for what it bought


def test_a_financier_funds_only_core_enterprises_certificates_it_may_hold(
    book, ledger, chain, active_certificate, post, tier1, tier2
):
    bid_id = post()
    # a supplier cannot post a bid
    with brownie.reverts(custom_error("WrongRole", tier1, 2)):
        book.postBid(terms(chain), [brownie.accounts[1]], BUDGET, {"from": tier1})
    # a bid's issuers must be core enterprises
    with brownie.reverts(custom_error("WrongRole", tier2, 2)):
        post(issuers=[tier2])
    assert book.getBid(bid_id)["status"] == BID_OPEN


def test_changing_terms_applies_and_the_minimum_payment_guards_the_seller(
    book, chain, active_certificate, post, tier1, bank, tier2
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post()
    quoted = book.quoteBid(bid_id, root, 10_000_000, tier1)[2]
    new_terms = terms(chain, bands=[RateBand(366, 900)])
    with brownie.reverts(custom_error("NotBidFunder", bid_id, tier2)):
        book.changeBidTerms(bid_id, new_terms, {"from": tier2})
    tx = book.changeBidTerms(bid_id, new_terms, {"from": bank})
    assert tx.events["BidTermsSet"]["terms"][0] == pack_rate_bands([RateBand(366, 900)])
    now = book.quoteBid(bid_id, root, 10_000_000, tier1)[2]
    assert now < quoted
    with brownie.reverts(custom_error("PaymentBelowMinimum", bid_id, now, quoted)):
        book.sellToBid(bid_id, root, 10_000_000, quoted, brownie.ZERO_ADDRESS, {"from": tier1})


def test_the_budget_is_topped_up_and_taken_back(book, token, post, bank, tier1):
    bid_id = post()
    before = token.balanceOf(bank)
    with brownie.reverts(custom_error("BidBudgetMoved", bid_id, BUDGET - 1, BUDGET)):
        book.changeBidBudget(bid_id, BUDGET - 1, 0, {"from": bank})
    tx = book.changeBidBudget(bid_id, BUDGET, BUDGET + 1_000, {"from": bank})
    assert dict(tx.events["BidBudgetChanged"]) == {
        "bidId": bid_id, "previousRemaining": BUDGET, "remaining": BUDGET + 1_000,
    }  # fmt: skip
    book.changeBidBudget(bid_id, BUDGET + 1_000, 5, {"from": bank})
    assert token.balanceOf(bank) - before == BUDGET - 5 and token.balanceOf(book) == 5
    with brownie.reverts(custom_error("NotBidFunder", bid_id, tier1)):
        book.changeBidBudget(bid_id, 5, 0, {"from": tier1})


def test_issuers_can_be_added_and_removed(
    book, ledger, chain, active_certificate, post, core, bank, tier1
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post()
    book.setBidIssuers(bid_id, [core], False, {"from": bank})
    with brownie.reverts(custom_error("IssuerNotCovered", bid_id, core)):
        book.quoteBid(bid_id, root, 1_000_000, tier1)
    tx = book.setBidIssuers(bid_id, [core], True, {"from": bank})
    assert tx.events["BidIssuerSet"]["covered"]
    assert book.quoteBid(bid_id, root, 1_000_000, tier1)[2] > 0


@pytest.mark.parametrize(
    "change, error",
    [
        ({"bands": []}, ("InvalidRateBands",)),
        ({"bands": [RateBand(90, 300), RateBand(90, 350)]}, ("InvalidRateBands",)),
        ({"bands": [RateBand(90, 10_001)]}, ("InvalidRate", 10_001)),
        ({"min_days": 91, "bands": [RateBand(90, 300)]}, ("InvalidRateBands",)),
        ({"min_amount": 10, "max_amount": 5}, ("InvalidBidLimits", 10, 5)),
        ({"max_amount": 0, "min_amount": 0}, ("InvalidBidLimits", 0, 0)),
    ],
)
def test_invalid_terms_are_refused(book, chain, bank, core, change, error):
    bands = change.pop("bands", BANDS)
    raw = terms(chain, bands=[RateBand(1, 1)], **change)
    word = 0 if not bands else _pack_unchecked(bands)
    with brownie.reverts(custom_error(*error)):
        book.postBid((word, *raw[1:]), [core], BUDGET, {"from": bank})


def _pack_unchecked(bands: list[RateBand]) -> int:
    """The word without pack_rate_bands' own checks, to show the contract's."""
    return sum(((b.up_to_days << 16) | b.rate_bps) << (32 * i) for i, b in enumerate(bands))


def test_an_expiry_in_the_past_and_a_zero_budget_are_refused(book, chain, bank, core):
    raw = terms(chain)
    with brownie.reverts(custom_error("InvalidBidExpiry", 1)):
        book.postBid((*raw[:5], 1), [core], BUDGET, {"from": bank})
    with brownie.reverts(custom_error("ZeroAmount")):
        book.postBid(raw, [core], 0, {"from": bank})


def test_only_the_book_delivers_and_a_pause_stops_sales(
    book, ledger, chain, active_certificate, post, operator, tier1, bank
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post()
    with brownie.reverts(custom_error("NotBidBook", bank)):
        ledger.deliverToBid(tier1, root, 1_000, bank, {"from": bank})
    ledger.pause({"from": operator})
    with brownie.reverts(custom_error("EnforcedPause")):
        book.sellToBid(bid_id, root, 1_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    with brownie.reverts(custom_error("EnforcedPause")):  # no quote a sale would not honour
        book.quoteBid(bid_id, root, 1_000_000, tier1)
    book.cancelBid(bid_id, {"from": bank})  # a funder takes its cash back meanwhile


def test_a_rotated_funders_bids_follow_its_new_key(
    book, ledger, token, chain, active_certificate, post, operator, bank, tier1
):
    _, root = active_certificate(tenor_days=100)
    bid_id = post()
    new = brownie.accounts.add()
    with brownie.reverts(custom_error("NotRetired", bank)):
        book.moveBids(bank, [bid_id], {"from": operator})
    ledger.rotateMember(bank, new, {"from": operator})
    # the retired key is refused, and the bid cannot buy for it
    with brownie.reverts(custom_error("NotAMember", bank)):
        book.sellToBid(bid_id, root, 1_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    with brownie.reverts(custom_error("NotAMember", bank)):
        book.cancelBid(bid_id, {"from": bank})
    with brownie.reverts(
        custom_error("AccessControlUnauthorizedAccount", tier1, ledger.OPERATOR_ROLE())
    ):
        book.moveBids(bank, [bid_id], {"from": tier1})
    tx = book.moveBids(bank, [bid_id], {"from": operator})
    assert tx.events["BidFunderMoved"]["to"] == new
    tx = book.sellToBid(bid_id, root, 1_000_000, 0, brownie.ZERO_ADDRESS, {"from": tier1})
    assert ledger.getFragment(tx.return_value)[2] == new


def test_early_repayment_in_full_settles_and_pays_every_holder(
    ledger, token, chain, active_certificate, core, tier1, tier2, operator
):
    certificate_id, root = active_certificate(tenor_days=100)
    child = ledger.split(root, tier2, 25_000_000, {"from": tier1}).return_value
    with brownie.reverts(
        custom_error(
            "NotMatured", certificate_id, ledger.getCertificate(certificate_id)["maturity"]
        )
    ):
        ledger.repay(certificate_id, FACE_VALUE - 1, {"from": core})
    tx = ledger.repay(certificate_id, FACE_VALUE, {"from": core})
    assert "CertificateSettled" in tx.events
    assert ledger.getCertificate(certificate_id)["status"] == STATUS_SETTLED
    with brownie.reverts(custom_error("WrongCertificateStatus", certificate_id, STATUS_SETTLED)):
        ledger.transferFragment(child, tier1, {"from": tier2})
    before = token.balanceOf(tier2)
    ledger.payFragments(certificate_id, 0, 10, {"from": operator})
    assert token.balanceOf(tier2) - before == 25_000_000


BOOK_CASES = [
    # (function, args builder given the bid and the parties, caller, expected error)
    ("postBid", lambda b, a, t: (t, [a["core"]], 1), "tier1", ("WrongRole", "tier1", 2)),
    ("changeBidTerms", lambda b, a, t: (b, t), "bank2", ("NotBidFunder", "bid", "bank2")),
    (
        "setBidIssuers",
        lambda b, a, t: (b, [a["core"]], False),
        "bank2",
        ("NotBidFunder", "bid", "bank2"),
    ),
    ("changeBidBudget", lambda b, a, t: (b, 0, 0), "bank2", ("NotBidFunder", "bid", "bank2")),
    ("cancelBid", lambda b, a, t: (b,), "tier1", ("NotBidFunder", "bid", "tier1")),
    (
        "sellToBid",
        lambda b, a, t: (b, 1 << 32, 1_000, 0, a["tier1"]),
        "outsider",
        ("NotAMember", "outsider"),
    ),
    ("moveBids", lambda b, a, t: (a["bank"], [b]), "bank", None),
]


@pytest.mark.parametrize(
    "function, build_args, caller, expected", BOOK_CASES, ids=[c[0] for c in BOOK_CASES]
)
def test_the_book_refuses_whoever_may_not(
    book, ledger, chain, post, function, build_args, caller, expected, request
):
    parties = {
        n: request.getfixturevalue(n) for n in ("core", "bank", "bank2", "tier1", "outsider")
    }
    bid_id = post()
    args = build_args(bid_id, parties, terms(chain))
    if expected is None:
        expected = ("AccessControlUnauthorizedAccount", caller, ledger.OPERATOR_ROLE())
    name, *values = expected
    values = [
        (bid_id if v == "bid" else parties.get(v, v)) if isinstance(v, str) else v for v in values
    ]
    with brownie.reverts(custom_error(name, *values)):
        getattr(book, function)(*args, {"from": parties[caller]})


def test_every_write_of_the_book_has_a_refusal_case(book):
    writes = {
        item["name"]
        for item in book.abi
        if item["type"] == "function" and item["stateMutability"] in ("nonpayable", "payable")
    }
    assert writes == {case[0] for case in BOOK_CASES}
