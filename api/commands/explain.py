"""What a chain command does, in words and in fen, from its planned ledger call alone.

A checker approving a command and an organization signing a prepared transaction with its
own tool both need to see exactly what will happen ("split 300,000.00 CNY off fragment
4294967297 (1/1) to Suzhou Castings") before it happens; the approval policy needs the
amount at stake. Both are read from the plan's arguments (the typed
:class:`chain_client.ledger.Calls` builders' arguments), so what is shown is what is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.cli.money import format_cny
from api.cli.output import when
from chain_client.bids import BidTerms
from chain_client.discount import percent_text
from chain_client.ledger import Ledger
from chain_client.ledger_types import Offer, Quote, certificate_id_of, seq_of


@dataclass(frozen=True)
class Facts:
    """Where an explanation looks things up: ``name_of`` gives an address's organization
    name (the address itself when unknown), ``ledger`` reads the chain (an offer's terms
    and price, for a command that names only the offer)."""

    name_of: Callable[[str], str]
    ledger: Ledger
    #: chain reads made for this explanation, by what was read (an offer's summary and its
    #: stake both want the offer's quote: read once)
    _read: dict[tuple[str, int], Any] = field(default_factory=dict, compare=False)

    def offer(self, offer_id: int) -> Offer:
        return self._once(("offer", offer_id), lambda: self.ledger.offer(offer_id))

    def quote(self, offer_id: int) -> Quote:
        return self._once(("quote", offer_id), lambda: self.ledger.quote(offer_id))

    def _once(self, key: tuple[str, int], read: Callable[[], Any]) -> Any:
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]


#: (ledger-call arguments, facts) -> one sentence
Explainer = Callable[[Sequence[Any], Facts], str]
#: (ledger-call arguments, facts) -> fen at stake (None: no amount of its own)
Stake = Callable[[Sequence[Any], Facts], int | None]


def cny(fen: int) -> str:
    return f"{format_cny(fen)} CNY"


def fragment(fragment_id: int) -> str:
    fid = int(fragment_id)
    return f"fragment {fid} ({certificate_id_of(fid)}/{seq_of(fid)})"


def arg(index: int) -> Stake:
    """The stake is the ledger call's argument ``index`` (fen)."""

    def stake(args: Sequence[Any], facts: Facts) -> int | None:
        return int(args[index])

    return stake


def text(template: str, **roles: int) -> Explainer:
    """A sentence from ``template``: ``{name}`` placeholders filled from the call's
    arguments at the positions ``roles`` gives, each shown by its kind (the placeholder's
    prefix: ``amount``/``limit`` as CNY, ``fragment`` as a fragment, ``org`` as the
    organization's name, ``date`` as China time, anything else as is)."""

    def explain(args: Sequence[Any], facts: Facts) -> str:
        values: dict[str, str] = {}
        for name, index in roles.items():
            value = args[index]
            if name.startswith(("amount", "limit")):
                values[name] = cny(int(value))
            elif name.startswith("fragment"):
                values[name] = fragment(int(value))
            elif name.startswith("date"):
                values[name] = when(int(value))
            elif name.startswith("org"):
                values[name] = facts.name_of(str(value))
            else:
                values[name] = str(value)
        return template.format(**values)

    return explain


def offer_payment(args: Sequence[Any], facts: Facts) -> int | None:
    """Buying an offer (its only argument) commits the payment the contract quotes now."""
    return facts.quote(int(args[0])).payment


def accept_offer(args: Sequence[Any], facts: Facts) -> str:
    """Buying an offer: its terms and today's price, read from the chain."""
    offer_id = int(args[0])
    offer = facts.offer(offer_id)
    quote = facts.quote(offer_id)
    return (
        f"buy offer {offer_id}: {cny(offer.amount)} of {fragment(offer.fragment_id)} from "
        f"{facts.name_of(offer.seller)} at {offer.rate_bps} bps a year, {quote.days} days "
        f"to maturity: pay {cny(quote.payment)} now (discount {cny(quote.discount)})"
    )


def fragment_value(args: Sequence[Any], facts: Facts) -> int | None:
    """Moving a whole fragment (its only argument first) commits its value."""
    return facts.ledger.fragment(int(args[0])).value


def face_value(args: Sequence[Any], facts: Facts) -> int | None:
    """Accepting a certificate (its id first) takes on its face value."""
    return facts.ledger.certificate(int(args[0])).face_value


def bands(terms: BidTerms) -> str:
    """A bid's rates by tenor in words: "3.00% up to 90 days, 3.50% up to 180 days"."""
    return ", ".join(f"{percent_text(b.rate_bps)}% up to {b.up_to_days} days" for b in terms.bands)


def post_bid(args: Sequence[Any], facts: Facts) -> str:
    """Posting a standing bid: its budget, whose certificates, its rates and limits."""
    terms = BidTerms.from_tuple(args[0])
    issuers = ", ".join(facts.name_of(str(a)) for a in args[1])
    return (
        f"post a standing bid of {cny(int(args[2]))} for certificates of {issuers}: "
        f"{bands(terms)}, {cny(terms.min_amount)} to {cny(terms.max_amount)} a sale, "
        f"open until {when(terms.expires_at)}"
    )


def change_bid_terms(args: Sequence[Any], facts: Facts) -> str:
    terms = BidTerms.from_tuple(args[1])
    return (
        f"change bid {int(args[0])} to {bands(terms)}, {cny(terms.min_amount)} to "
        f"{cny(terms.max_amount)} a sale, open until {when(terms.expires_at)}"
    )


def sell_to_bid(args: Sequence[Any], facts: Facts) -> str:
    """Selling to a bid: what, to which bid, the least accepted, and who is paid."""
    bid_id, fragment_id, amount, min_payment, payee = args
    paid = f", paid to {facts.name_of(str(payee))}" if payee and int(str(payee), 16) else ""
    return (
        f"sell {cny(int(amount))} of {fragment(int(fragment_id))} to bid {int(bid_id)} for "
        f"at least {cny(int(min_payment))}{paid}"
    )


def approve_settlement(args: Sequence[Any], facts: Facts) -> str:
    """An allowance: how much, and for whom (the ledger, or its bid book's escrow)."""
    spender = str(args[1]) if len(args) > 1 and args[1] else facts.ledger.address
    whom = (
        "the ledger's bid book (standing bids' escrow)"
        if spender.lower() == facts.ledger.bid_book_address.lower()
        else "the ledger"
    )
    return f"allow {whom} to draw up to {cny(int(args[0]))} of settlement cash"
