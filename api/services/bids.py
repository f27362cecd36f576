"""The best price across funders: every open standing bid asked, in one batch, what it
would pay for a fragment now, ranked, with the reasons of those that would not buy.

Why the contract answers: each bid's quote is the bid book's own ``quoteBid`` (every check
of a sale, the book's and the ledger's), read in one batched call, so a quote the API
shows is a sale that goes through while the chain stays as it is, and a refusal is the
sale's own error, turned into a reason code here. Nothing about a bid's limits is
re-implemented in Python. The one rule the API adds is the seller's ``max_rate_bps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.problems import problem_from_revert
from chain_client.bids import Bid
from chain_client.discount import annual_cost_bps
from chain_client.errors import ContractRevert
from chain_client.ledger import Ledger
from chain_client.ledger_types import Quote

#: the book's and the ledger's errors as the reasons a bid declines (the rest: the
#: problem code of :data:`api.problems.REVERT_MAP`)
REASONS = {
    "IssuerNotCovered": "issuer_not_covered",
    "TenorOutOfRange": "tenor_out_of_range",
    "BidBudgetExhausted": "budget_exhausted",
    "SellerLimitReached": "seller_limit_reached",
    "BidExpired": "bid_expired",
    "DiscountExceedsAmount": "discount_exceeds_amount",
}
#: the seller's own ceiling: the bid's rate for this tenor is above it
RATE_ABOVE_MAX = "rate_above_max"


@dataclass(frozen=True)
class BidQuote:
    """What one bid pays now: its rate for the fragment's tenor, the price, and the
    all-in cost as a yearly rate on the cash received (chain_client.discount)."""

    bid: Bid
    quote: Quote
    rate_bps: int
    annual_cost_bps: int


@dataclass(frozen=True)
class Declined:
    """A bid that would not buy: a reason code, a sentence, and the error's name."""

    bid: Bid
    reason: str
    detail: str


def quote_all(
    ledger: Ledger,
    fragment_id: int,
    amount: int,
    seller: str,
    *,
    max_rate_bps: int | None = None,
    only: int | None = None,
) -> tuple[list[BidQuote], list[Declined]]:
    """Every open bid's answer (or bid ``only``'s), best payment first; ties go to the
    older bid (it was there first)."""
    bids = [b for b in ledger.bids() if b.is_open and (only is None or b.id == only)]
    answers = ledger.quote_bids([b.id for b in bids], fragment_id, amount, seller) if bids else {}
    quoted: list[BidQuote] = []
    declined: list[Declined] = []
    for bid in bids:
        answer = answers[bid.id]
        if isinstance(answer, ContractRevert):
            declined.append(Declined(bid, reason_of(answer, amount, bid), str(answer)))
            continue
        rate = bid.terms.rate_for(answer.days) or 0
        if max_rate_bps is not None and rate > max_rate_bps:
            declined.append(
                Declined(
                    bid,
                    RATE_ABOVE_MAX,
                    f"bid {bid.id} buys this tenor at {rate} bps a year, above your maximum "
                    f"of {max_rate_bps} bps",
                )
            )
            continue
        cost = annual_cost_bps(answer.discount, answer.payment, answer.days)
        quoted.append(BidQuote(bid, answer, rate, cost))
    quoted.sort(key=lambda q: (-q.quote.payment, q.bid.id))
    return quoted, declined


def reason_of(error: ContractRevert, amount: int, bid: Bid) -> str:
    """The reason code of a refusal: the issue's names for the bid's own limits (an amount
    outside them is ``amount_above_limit`` or ``amount_below_limit``), else the problem
    code the API answers the same error with."""
    name = error.error_name or type(error).__name__
    if name == "AmountOutsideBidLimits":
        return "amount_above_limit" if amount > bid.terms.max_amount else "amount_below_limit"
    return REASONS.get(name) or problem_from_revert(error).code
