"""The maturity job: automatic repayment payouts in pages, and overdue marking.

Why a job and not the repay transaction itself: the ledger's repay is O(1) for the core
enterprise whatever the number of fragments; paying holders is pulled per fragment. This
job is the keeper that makes it automatic: for every certificate with money paid in but
not yet paid out it sends ``payFragments`` for the pages that hold fragments still owed
(page by page, so one certificate with thousands of fragments never needs one huge
transaction), and marks certificates overdue once their grace period has run out by the
ledger's rule (time paused after maturity does not count: :mod:`api.services.overdue`,
so markOverdue is only sent when the ledger will take it). Running it twice pays nobody
twice (the contract skips fragments owed nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from api.chain import ChainGateway
from api.indexer import HEAD_WAIT_TIMEOUT, Indexer
from api.models import CertificateRow, FragmentRow
from api.services import overdue as overdue_rule
from chain_client.errors import ContractRevert

log = logging.getLogger(__name__)


@dataclass
class JobReport:
    pages_paid: int = 0
    fen_paid: int = 0
    marked_overdue: list[int] = field(default_factory=list)


class MaturityJob:
    def __init__(
        self, engine: Engine, gateway: ChainGateway, indexer: Indexer, page_size: int = 50
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.indexer = indexer
        self.page_size = page_size

    def step(self) -> JobReport:
        """One pass over the read model, once it covers the chain's head. The job reads
        the read model and never writes it (the projector is its only writer, in the
        indexing process, where the job runs too; an operator's run through the API
        waits for that process like any request)."""
        self._wait_for_read_model()
        report = JobReport()
        keeper = self.gateway.ledger_as(self.gateway.operator.address)
        at = overdue_rule.latest_moment(self.gateway.ledger)
        now = at.time
        grace = self.gateway.ledger.grace_period()
        with Session(self.engine) as session:
            # only what needs the keeper: money paid in and not all paid out (paid_out
            # never exceeds repaid), or an active certificate past maturity and grace (the
            # earliest it can be overdue); a busy ledger holds thousands that need nothing
            certs = session.exec(
                select(CertificateRow)
                .where(
                    col(CertificateRow.status).in_(("active", "settled", "overdue", "defaulted"))
                )
                .where(
                    or_(
                        col(CertificateRow.repaid) != col(CertificateRow.paid_out),
                        and_(
                            col(CertificateRow.status) == "active",
                            col(CertificateRow.maturity) < now - grace,
                        ),
                    )
                )
            ).all()
            owed_pages: dict[int, list[int]] = {}
            for cert in certs:
                if int(cert.repaid) > int(cert.paid_out):
                    fragments = session.exec(
                        select(FragmentRow).where(FragmentRow.certificate_id == cert.id)
                    ).all()
                    pages = sorted(
                        {
                            f.seq // self.page_size
                            for f in fragments
                            if int(f.value) * int(cert.repaid) // int(cert.face_value) > int(f.paid)
                        }
                    )
                    owed_pages[cert.id] = pages
        overdue = {c.id for c in overdue_rule.due(self.gateway.ledger, certs, at, grace)}
        for cert in certs:
            for page in owed_pages.get(cert.id, []):
                try:
                    outcome = keeper.pay_fragments(cert.id, page * self.page_size, self.page_size)
                except ContractRevert as exc:
                    log.warning("payout of certificate %s page %s refused: %s", cert.id, page, exc)
                    continue
                report.pages_paid += 1
                report.fen_paid += int(outcome.value or 0)
            if cert.id in overdue:
                try:
                    keeper.mark_overdue(cert.id)
                    report.marked_overdue.append(cert.id)
                except ContractRevert as exc:
                    log.info("certificate %s not marked overdue: %s", cert.id, exc)
        if report.pages_paid or report.marked_overdue:
            self._wait_for_read_model()  # the caller's next read sees the payouts
        return report

    def _wait_for_read_model(self) -> None:
        """Bounded: past the wait the pass goes on (paying a page twice pays nobody
        twice, and overdue marking asks the chain first)."""
        if not self.indexer.wait_for_head(HEAD_WAIT_TIMEOUT):
            log.warning(
                "maturity job: the read model is at block %d, not at the chain's head",
                self.indexer.indexed_block,
            )
