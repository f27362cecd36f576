"""Notifications: what each organization should hear about, made from the read model.

The ledger's events, as the indexer stored them (:class:`~api.models.ChainEvent`), say
who received what; the certificates' maturities say what comes due. :class:`Notifier`
turns them into :class:`~api.models.Notification` rows, one per organization and thing, of
the kinds :data:`api.schemas.NotificationKind` names:

* ``certificate_received``: a certificate issued to it, waiting for it to accept;
* ``fragment_received``: a fragment split off or transferred to it (a funder receives
  one when it finances, too);
* ``financing_paid``: an offer it made accepted, or a sale to a standing bid: the cash is
  on its balance (the payee's, when the seller named one);
* ``payout_received``: a payout of a fragment it holds;
* ``maturity_soon``: a certificate it issued or holds a piece of matures within 7 days
  (by the chain's clock);
* ``overdue``: a certificate it issued or holds a piece of is overdue.

It runs in the process that indexes (:mod:`api.background`), after the indexer, so it is
the only writer. Each pass reads the events of the blocks since its checkpoint and the
last :data:`REREAD_BLOCKS` before it again: a reorganization may have replaced them, and
``dedupe`` (the event's transaction and log index, or the certificate for the calendar's
kinds) keeps a notification from being made twice. A notification made for an event that
a reorganization then dropped stays (it is rare, and the webhook has gone out already).
Every new notification is queued for each of the organization's webhooks
(:mod:`api.webhooks`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from api.models import (
    CertificateRow,
    ChainEvent,
    FragmentRow,
    IndexerCheckpoint,
    Notification,
    NotifierCheckpoint,
    Organization,
    Webhook,
    WebhookDelivery,
)
from api.timeutil import utcnow

log = logging.getLogger(__name__)

#: blocks read again on every pass, for reorganizations (deeper than the indexer's window)
REREAD_BLOCKS = 64
#: how far ahead ``maturity_soon`` looks
SOON_SECONDS = 7 * 86_400


@dataclass(frozen=True)
class Draft:
    """A notification to make, unless its organization already has it."""

    address: str
    kind: str
    dedupe: str
    subject: str
    data: dict[str, Any]
    block_number: int | None = None


def _from_event(event: ChainEvent, holders: Callable[[int], list[str]]) -> Iterator[Draft]:
    """The notifications one ledger event makes (addresses, not yet organizations)."""
    args: dict[str, Any] = json.loads(event.args)
    once = f"{event.event}:{event.tx_hash}:{event.log_index}"
    block = event.block_number
    if event.event == "CertificateIssued":
        yield Draft(
            args["beneficiary"],
            "certificate_received",
            once,
            f"certificate:{args['certificateId']}",
            {
                "certificate_id": int(args["certificateId"]),
                "issuer": args["issuer"],
                "face_value": args["faceValue"],
                "maturity": int(args["maturity"]),
            },
            block,
        )
    elif event.event == "FragmentSplit" and args["to"].lower() != args["from"].lower():
        yield Draft(
            args["to"],
            "fragment_received",
            once,
            f"fragment:{args['fragmentId']}",
            {
                "certificate_id": int(args["certificateId"]),
                "fragment_id": args["fragmentId"],
                "from": args["from"],
                "value": args["value"],
            },
            block,
        )
    elif event.event == "FragmentTransferred":
        yield Draft(
            args["to"],
            "fragment_received",
            once,
            f"fragment:{args['fragmentId']}",
            {
                "certificate_id": int(args["fragmentId"]) >> 32,
                "fragment_id": args["fragmentId"],
                "from": args["from"],
            },
            block,
        )
    elif event.event in ("FinancingAccepted", "SoldToBid"):
        paid = args.get("payee") or args["seller"]
        funder = args.get("financier") or args.get("funder")
        data = {
            "fragment_id": args["fragmentId"],
            "financed_fragment_id": args["financedFragmentId"],
            "funder": funder,
            "amount": args["amount"],
            "discount": args["discount"],
            "payment": args["payment"],
        }
        if "offerId" in args:
            data["offer_id"] = int(args["offerId"])
        if "bidId" in args:
            data["bid_id"] = int(args["bidId"])
        yield Draft(paid, "financing_paid", once, f"fragment:{args['fragmentId']}", data, block)
    elif event.event == "FragmentPaid":
        yield Draft(
            args["holder"],
            "payout_received",
            once,
            f"fragment:{args['fragmentId']}",
            {
                "certificate_id": int(args["certificateId"]),
                "fragment_id": args["fragmentId"],
                "amount": args["amount"],
            },
            block,
        )
    elif event.event == "CertificateOverdue":
        certificate = int(args["certificateId"])
        for address in holders(certificate):
            yield Draft(
                address,
                "overdue",
                f"overdue:{certificate}",
                f"certificate:{certificate}",
                {"certificate_id": certificate, "outstanding": args["outstanding"]},
                block,
            )


class Notifier:
    def __init__(self, engine: Engine, chain_time: Callable[[], int]) -> None:
        self.engine = engine
        self.chain_time = chain_time

    def step(self) -> int:
        """One pass: the notifications of the blocks indexed since the last pass (and of
        the calendar); returns how many were made."""
        with Session(self.engine, expire_on_commit=False) as session:
            head = session.exec(select(func.max(IndexerCheckpoint.block_number))).one()
            if head is None:
                return 0
            mark = session.get(NotifierCheckpoint, 1)
            start = max(0, (mark.block_number if mark else 0) - REREAD_BLOCKS)
            events = session.exec(
                select(ChainEvent)
                .where(col(ChainEvent.block_number) > start)
                .where(col(ChainEvent.block_number) <= head)
                .order_by(col(ChainEvent.block_number), col(ChainEvent.log_index))
            ).all()
            orgs = {
                o.address.lower(): o.id
                for o in session.exec(select(Organization)).all()
                if o.address and o.id is not None
            }

            def holders(certificate: int) -> list[str]:
                return _parties(session, certificate)

            drafts = [d for e in events for d in _from_event(e, holders)]
            drafts += list(self._calendar(session))
            made = self._make(session, drafts, orgs)
            if mark is None:
                mark = NotifierCheckpoint(id=1, block_number=head)
            mark.block_number = head
            session.add(mark)
            session.commit()
            return made

    def _calendar(self, session: Session) -> Iterator[Draft]:
        """``maturity_soon`` for the certificates open now that mature within 7 days."""
        now = self.chain_time()
        soon = session.exec(
            select(CertificateRow)
            .where(col(CertificateRow.status) == "active")
            .where(col(CertificateRow.maturity) > now)
            .where(col(CertificateRow.maturity) <= now + SOON_SECONDS)
        ).all()
        for cert in soon:
            for address in _parties(session, cert.id):
                yield Draft(
                    address,
                    "maturity_soon",
                    f"maturity_soon:{cert.id}",
                    f"certificate:{cert.id}",
                    {
                        "certificate_id": cert.id,
                        "maturity": cert.maturity,
                        "outstanding": str(int(cert.face_value) - int(cert.repaid)),
                    },
                )

    def _make(self, session: Session, drafts: list[Draft], orgs: dict[str, int]) -> int:
        made = 0
        hooks: dict[int, list[int]] = {}
        # what was made already, in one read (every pass re-reads recent blocks and the
        # calendar, so most drafts are made already)
        keys = sorted({d.dedupe for d in drafts})
        done: set[tuple[int, str]] = set()
        for chunk in (keys[i : i + 500] for i in range(0, len(keys), 500)):
            done |= {
                (org_id, dedupe)
                for org_id, dedupe in session.exec(
                    select(Notification.org_id, Notification.dedupe).where(
                        col(Notification.dedupe).in_(chunk)
                    )
                ).all()
            }
        for draft in drafts:
            org_id = orgs.get(draft.address.lower())
            if org_id is None:  # a retired key, or no member
                continue
            if (org_id, draft.dedupe) in done:
                continue
            done.add((org_id, draft.dedupe))
            row = Notification(
                org_id=org_id,
                kind=draft.kind,
                dedupe=draft.dedupe,
                subject=draft.subject,
                data=json.dumps(draft.data, sort_keys=True),
                block_number=draft.block_number,
            )
            session.add(row)
            session.flush()
            made += 1
            if org_id not in hooks:
                hooks[org_id] = [
                    h.id
                    for h in session.exec(
                        select(Webhook)
                        .where(Webhook.org_id == org_id)
                        .where(col(Webhook.disabled_at).is_(None))
                    ).all()
                    if h.id is not None
                ]
            for hook_id in hooks[org_id]:
                session.add(
                    WebhookDelivery(
                        webhook_id=hook_id,
                        notification_id=row.id,
                        event=draft.kind,
                        next_attempt_at=utcnow(),
                    )
                )
        return made


def _parties(session: Session, certificate: int) -> list[str]:
    """The issuer and every holder of an unpaid piece of the certificate."""
    cert = session.get(CertificateRow, certificate)
    out = [cert.issuer] if cert is not None else []
    for fragment in session.exec(
        select(FragmentRow).where(FragmentRow.certificate_id == certificate)
    ).all():
        if int(fragment.value) > int(fragment.paid) and fragment.holder not in out:
            out.append(fragment.holder)
    return out
