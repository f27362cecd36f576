"""Every chain command, defined once: its ledger call, its response, its effect on the
API's own records.

An entry's ``action`` is its name in the journal and the audit log: recovery looks a
stored command up by that name (:data:`CATALOGUE`), so a row written before a restart
finishes with the same entry. Its ``call`` is the typed builder in
:class:`chain_client.ledger.Calls`; :meth:`ChainCommand.plan` takes that builder's
arguments, so a route's arguments are checked against it. A route names the entry
(``catalogue.SPLIT``): grep from the route finds the definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec

from sqlalchemy import update
from sqlmodel import Session, col

from api.commands import explain
from api.commands.explain import Explainer, Facts, Stake, arg, text
from api.commands.journal import decode_args, decode_kwargs, encode_args, encode_kwargs
from api.models import Document, Organization
from api.services import responders
from api.services.responders import Responder
from chain_client.bids import BidTerms
from chain_client.ledger import Calls, LedgerCall

P = ParamSpec("P")

#: A change to the API's own rows, made in the transaction that stores the command's
#: answer (so it happens exactly when the command succeeds, also when a command is
#: finished by recovery after a restart): (session, request as stored, response body).
Effect = Callable[[Session, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class ChainCommand(Generic[P]):
    """One chain command. ``explain`` says what it does in one sentence and ``stake``
    gives the fen it moves or commits (what an approval policy weighs), both from the
    ledger call's arguments (:mod:`api.commands.explain`)."""

    action: str
    call: Callable[Concatenate[Calls, P], LedgerCall]
    respond: Responder
    explain: Explainer
    stake: Stake | None = None
    status_code: int = 200
    effect: Effect | None = None

    def plan(self, sender: str, *args: P.args, **kwargs: P.kwargs) -> ChainPlan:
        """This command sent as ``sender`` with its ledger call's arguments."""
        return ChainPlan(self, sender, args, kwargs)

    def ledger_call(self, calls: Calls, args: Any, kwargs: Any) -> LedgerCall:
        """The call from stored arguments (the journal's, after a restart)."""
        return self.call(calls, *args, **kwargs)


@dataclass(frozen=True)
class ChainPlan:
    """What a command sends: its entry, as whom, and its ledger call's arguments (kept so
    the call can be rebuilt after a restart)."""

    command: ChainCommand[...]
    sender: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def ledger_call(self, calls: Calls) -> LedgerCall:
        return self.command.ledger_call(calls, self.args, self.kwargs)

    def spec(self) -> dict[str, Any]:
        """How the plan is stored, to be rebuilt after a restart or an approval
        (:meth:`from_spec`)."""
        spec: dict[str, Any] = {"args": encode_args(self.args), "sender": self.sender}
        if self.kwargs:
            spec["kwargs"] = encode_kwargs(self.kwargs)
        return spec

    @classmethod
    def from_spec(cls, action: str, spec: dict[str, Any]) -> ChainPlan:
        """The plan a stored :meth:`spec` of the command ``action`` describes."""
        return cls(
            CATALOGUE[action],
            spec["sender"],
            tuple(decode_args(spec["args"])),
            decode_kwargs(spec.get("kwargs", {})),
        )

    def summary(self, facts: Facts) -> str:
        """What the command does, in words."""
        return self.command.explain(self.args, facts)

    def stake(self, facts: Facts) -> int | None:
        """The fen the command moves or commits (None: no amount of its own)."""
        stake = self.command.stake
        return stake(self.args, facts) if stake is not None else None


# -- effects --------------------------------------------------------------------------------


def link_document(session: Session, request: dict[str, Any], body: dict[str, Any]) -> None:
    """An issued certificate's invoice document is linked to it (one document backs one
    certificate: ``document_in_use`` refuses a second issue against it)."""
    if not body.get("certificate_id"):
        return
    session.execute(
        update(Document)
        .where(col(Document.id) == request["document_id"])
        .where(col(Document.certificate_id).is_(None))
        .values(certificate_id=int(body["certificate_id"]))
    )


def member_status(status: str) -> Effect:
    """The API's record of a member follows its suspension or reinstatement on chain."""

    def effect(session: Session, request: dict[str, Any], body: dict[str, Any]) -> None:
        session.execute(
            update(Organization)
            .where(col(Organization.id) == request["org_id"])
            .values(status=status)
        )

    return effect


# -- the catalogue --------------------------------------------------------------------------

ISSUE = ChainCommand(
    "issue",
    Calls.issue,
    responders.issue,
    text(
        "issue a certificate of {amount} to {org_beneficiary}, maturing {date}, "
        "drawing on the credit line of {org_bank}",
        amount=2,
        org_beneficiary=1,
        date=3,
        org_bank=0,
    ),
    arg(2),
    201,
    link_document,
)
ACCEPT = ChainCommand(
    "accept",
    Calls.accept,
    responders.accept,
    text("accept certificate {id}", id=0),
    explain.face_value,
)
REJECT = ChainCommand(
    "reject",
    Calls.reject,
    responders.echo("certificate_id"),
    text("reject certificate {id}", id=0),
)
REVOKE = ChainCommand(
    "revoke",
    Calls.revoke,
    responders.echo("certificate_id"),
    text("revoke certificate {id}", id=0),
)
REPAY = ChainCommand(
    "repay",
    Calls.repay,
    responders.echo("certificate_id", "amount"),
    text("repay {amount} of certificate {id}", amount=1, id=0),
    arg(1),
)
SPLIT = ChainCommand(
    "split",
    Calls.split,
    responders.split,
    text("split {amount} off {fragment} to {org_to}", amount=2, fragment=0, org_to=1),
    arg(2),
    201,
)
TRANSFER = ChainCommand(
    "transfer",
    Calls.transfer_fragment,
    responders.echo("fragment_id", "to_org_id"),
    text("transfer {fragment} to {org_to}", fragment=0, org_to=1),
    explain.fragment_value,
)
CLAIM = ChainCommand(
    "claim", Calls.claim, responders.paid, text("collect what {fragment} is owed", fragment=0)
)
SET_CREDIT_LINE = ChainCommand(
    "set_credit_line",
    Calls.set_credit_line,
    responders.echo("core_enterprise_id", "limit"),
    text("set the credit line to {org_core} at {limit}", org_core=0, limit=1),
    arg(1),
)
OFFER = ChainCommand(
    "offer",
    Calls.offer_financing,
    responders.offer,
    text(
        "offer {amount} of {fragment} to {org_bank} at {rate} bps a year",
        amount=2,
        fragment=0,
        org_bank=1,
        rate=3,
    ),
    arg(2),
    201,
)
WITHDRAW_OFFER = ChainCommand(
    "withdraw_offer",
    Calls.withdraw_offer,
    responders.echo("offer_id"),
    text("withdraw offer {id}", id=0),
)
ACCEPT_OFFER = ChainCommand(
    "accept_offer",
    Calls.accept_offer,
    responders.accept_offer,
    explain.accept_offer,
    explain.offer_payment,
)
MINT = ChainCommand(
    "mint",
    Calls.mint_settlement,
    responders.echo("org_id", "amount"),
    text("create {amount} of settlement cash for {org_to}", amount=1, org_to=0),
    arg(1),
)
SUSPEND = ChainCommand(
    "suspend",
    Calls.suspend_member,
    responders.echo("org_id"),
    text("suspend {org}", org=0),
    effect=member_status("suspended"),
)
REINSTATE = ChainCommand(
    "reinstate",
    Calls.reinstate_member,
    responders.echo("org_id"),
    text("reinstate {org}", org=0),
    effect=member_status("active"),
)
APPROVE_SETTLEMENT = ChainCommand(
    "approve_settlement",
    Calls.approve_settlement,
    responders.echo("amount"),
    explain.approve_settlement,
    arg(0),
)


def _post_bid(calls: Calls, terms: list[int], issuers: list[str], budget: int) -> LedgerCall:
    """Calls.post_bid with the terms as their ABI tuple (what the journal can store)."""
    return calls.post_bid(BidTerms.from_tuple(terms), issuers, budget)


def _change_bid_terms(calls: Calls, bid_id: int, terms: list[int]) -> LedgerCall:
    return calls.change_bid_terms(bid_id, BidTerms.from_tuple(terms))


POST_BID = ChainCommand("post_bid", _post_bid, responders.post_bid, explain.post_bid, arg(2), 201)
CHANGE_BID_TERMS = ChainCommand(
    "change_bid_terms",
    _change_bid_terms,
    responders.echo("bid_id"),
    explain.change_bid_terms,
)
CHANGE_BID_BUDGET = ChainCommand(
    "change_bid_budget",
    Calls.change_bid_budget,
    responders.echo("bid_id", "remaining"),
    text(
        "set the budget left in bid {id} from {amount_before} to {amount}",
        id=0,
        amount_before=1,
        amount=2,
    ),
    arg(2),
)
CANCEL_BID = ChainCommand(
    "cancel_bid", Calls.cancel_bid, responders.cancel_bid, text("cancel bid {id}", id=0)
)
SELL_TO_BID = ChainCommand(
    "sell_to_bid", Calls.sell_to_bid, responders.sell_to_bid, explain.sell_to_bid, arg(2)
)
PAUSE = ChainCommand("pause", Calls.pause, responders.echo(), text("pause the ledger"))
UNPAUSE = ChainCommand("unpause", Calls.unpause, responders.echo(), text("unpause the ledger"))

#: every entry by its action (the name stored in the journal)
CATALOGUE: dict[str, ChainCommand[...]] = {
    command.action: command
    for command in (
        ISSUE,
        ACCEPT,
        REJECT,
        REVOKE,
        REPAY,
        SPLIT,
        TRANSFER,
        CLAIM,
        SET_CREDIT_LINE,
        OFFER,
        WITHDRAW_OFFER,
        ACCEPT_OFFER,
        MINT,
        SUSPEND,
        REINSTATE,
        APPROVE_SETTLEMENT,
        POST_BID,
        CHANGE_BID_TERMS,
        CHANGE_BID_BUDGET,
        CANCEL_BID,
        SELL_TO_BID,
        PAUSE,
        UNPAUSE,
    )
}


def bound_effect(
    command: ChainCommand[...], request: dict[str, Any], body: dict[str, Any]
) -> Callable[[Session], None] | None:
    """The entry's effect for one finished command, to run in its storing transaction."""
    effect = command.effect
    if effect is None:
        return None

    def run(session: Session) -> None:
        effect(session, request, body)

    return run
