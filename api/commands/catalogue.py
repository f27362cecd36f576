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

from api.models import Document, Organization
from api.services import responders
from api.services.responders import Responder
from chain_client.ledger import Calls, LedgerCall

P = ParamSpec("P")

#: A change to the API's own rows, made in the transaction that stores the command's
#: answer (so it happens exactly when the command succeeds, also when a command is
#: finished by recovery after a restart): (session, request as stored, response body).
Effect = Callable[[Session, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class ChainCommand(Generic[P]):
    """One chain command."""

    action: str
    call: Callable[Concatenate[Calls, P], LedgerCall]
    respond: Responder
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

ISSUE = ChainCommand("issue", Calls.issue, responders.issue, 201, link_document)
ACCEPT = ChainCommand("accept", Calls.accept, responders.accept)
REJECT = ChainCommand("reject", Calls.reject, responders.echo("certificate_id"))
REVOKE = ChainCommand("revoke", Calls.revoke, responders.echo("certificate_id"))
REPAY = ChainCommand("repay", Calls.repay, responders.echo("certificate_id", "amount"))
SPLIT = ChainCommand("split", Calls.split, responders.split, 201)
TRANSFER = ChainCommand(
    "transfer", Calls.transfer_fragment, responders.echo("fragment_id", "to_org_id")
)
CLAIM = ChainCommand("claim", Calls.claim, responders.paid)
SET_CREDIT_LINE = ChainCommand(
    "set_credit_line", Calls.set_credit_line, responders.echo("core_enterprise_id", "limit")
)
OFFER = ChainCommand("offer", Calls.offer_financing, responders.offer, 201)
WITHDRAW_OFFER = ChainCommand("withdraw_offer", Calls.withdraw_offer, responders.echo("offer_id"))
ACCEPT_OFFER = ChainCommand("accept_offer", Calls.accept_offer, responders.accept_offer)
MINT = ChainCommand("mint", Calls.mint_settlement, responders.echo("org_id", "amount"))
SUSPEND = ChainCommand(
    "suspend", Calls.suspend_member, responders.echo("org_id"), effect=member_status("suspended")
)
REINSTATE = ChainCommand(
    "reinstate",
    Calls.reinstate_member,
    responders.echo("org_id"),
    effect=member_status("active"),
)
PAUSE = ChainCommand("pause", Calls.pause, responders.echo())
UNPAUSE = ChainCommand("unpause", Calls.unpause, responders.echo())

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
