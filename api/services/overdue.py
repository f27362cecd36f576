"""When an active certificate is overdue, for the maturity job and the overdue report: the
ledger's own rule (``overdueAt``), asked only where it can have been reached.

Why ask the chain rather than compute the moment from the indexed pause events: the rule
(the grace period counts only unpaused time after maturity, a pause under way counts as
ending now, the current grace period applies) is the contract's, written once there
(``Repayment.overdueAt``); a copy here could drift from it, and then the job's markOverdue
would be refused and the report would disagree with the chain.

Why it stays cheap: a pause only moves the moment later, so maturity + grace is a lower
bound of it. Only active certificates not repaid in full and already past that bound are
asked, one ``eth_call`` each, all at one block; the maturity job marks them as soon as
they are due, so few wait at any time (a long pause can let them gather, at most the
certificates whose grace period it spans).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from api.models import CertificateRow
from chain_client.ledger import Ledger


@dataclass(frozen=True)
class ChainMoment:
    """A block and its time: answers read at ``block`` are as of ``time``."""

    block: int
    time: int


def latest_moment(ledger: Ledger) -> ChainMoment:
    block = ledger.w3.eth.get_block("latest")
    return ChainMoment(int(block["number"]), int(block["timestamp"]))


def may_be_overdue(cert: CertificateRow, now: int, grace: int) -> bool:
    """Whether the ledger could mark ``cert`` overdue at ``now``, by the read model alone
    (active, not repaid in full, past maturity + grace: the earliest overdue moment)."""
    return (
        cert.status == "active"
        and int(cert.repaid) < int(cert.face_value)
        and now > cert.maturity + grace
    )


def due(
    ledger: Ledger, certs: Iterable[CertificateRow], at: ChainMoment, grace: int
) -> list[CertificateRow]:
    """Those of ``certs`` that the ledger would mark overdue at ``at`` (its ``overdueAt``,
    read at ``at.block``, for the candidates :func:`may_be_overdue` leaves)."""
    return [
        c
        for c in certs
        if may_be_overdue(c, at.time, grace) and at.time > ledger.overdue_at(c.id, block=at.block)
    ]
