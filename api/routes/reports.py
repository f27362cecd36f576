"""Reports for auditors and regulators, from the read model and checked against the chain.

A report reads the read model as the indexer left it and never writes it (the indexing
process is its only writer, :mod:`api.indexer`). Each report is checked against the chain
as it is now, so it first waits, for at most :data:`api.indexer.HEAD_WAIT_TIMEOUT` seconds,
until the read model covers the chain's head (:meth:`api.indexer.Indexer.cover_head`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col, select

from api.auth import OVERSEERS, Principal, require_roles
from api.deps import ReadSessionDep, RuntimeDep
from api.models import CertificateRow, ChainEvent, OfferRow, Organization
from api.runtime import Runtime
from api.schemas import (
    CertificatesCheck,
    ExposureReport,
    ExposureRow,
    FinancedVolumeReport,
    FinancedVolumeRow,
    FinancingsCheck,
    MaturingReport,
    OverdueReport,
    certificate_view,
)
from api.services import overdue as overdue_rule

router = APIRouter(prefix="/v1/reports", tags=["reports"])
OPEN = ("issued", "active", "overdue", "defaulted")


def _names(session: Session) -> dict[str, str]:
    return {o.address: o.name for o in session.exec(select(Organization)).all() if o.address}


#: at most this many of a report's certificates are re-read from the chain
CHECKED_CERTIFICATES = 500


def _check(rt: Runtime, certs: list[CertificateRow]) -> CertificatesCheck:
    """Re-read every certificate behind a report from the chain (batched per cert)."""
    mismatches = []
    for cert in certs[:CHECKED_CERTIFICATES]:
        chain = rt.gateway.ledger.certificate(cert.id)
        if (str(chain.repaid), str(chain.face_value), chain.fragment_count) != (
            cert.repaid,
            cert.face_value,
            cert.fragment_count,
        ):
            mismatches.append(cert.id)
    return CertificatesCheck(
        checked_certificates=min(len(certs), CHECKED_CERTIFICATES),
        mismatches=mismatches,
        consistent_with_chain=not mismatches,
        indexed_block=rt.indexer.indexed_block,
    )


@dataclass
class _Exposure:
    """One core enterprise's running totals (ints, written as fen strings at the end)."""

    outstanding: int = 0
    certificates: int = 0


@router.get("/exposure", response_model=ExposureReport)
def exposure(
    rt: RuntimeDep,
    session: ReadSessionDep,
    _: Principal = Depends(require_roles(*OVERSEERS)),  # noqa: B008
) -> ExposureReport:
    """Outstanding (face value minus repaid) per core enterprise, over open certificates."""
    rt.indexer.cover_head("report")
    certs = list(
        session.exec(select(CertificateRow).where(col(CertificateRow.status).in_(OPEN))).all()
    )
    names = _names(session)
    totals: dict[str, _Exposure] = {}
    for c in certs:
        entry = totals.setdefault(c.issuer, _Exposure())
        entry.outstanding += int(c.face_value) - int(c.repaid)
        entry.certificates += 1
    return ExposureReport(
        exposure=[
            ExposureRow(
                core_enterprise=issuer,
                name=names.get(issuer),
                outstanding=str(entry.outstanding),
                certificates=entry.certificates,
            )
            for issuer, entry in totals.items()
        ],
        check=_check(rt, certs),
    )


@dataclass
class _Volume:
    """One bank's running totals (ints, written as fen strings at the end)."""

    amount: int = 0
    payment: int = 0
    discount: int = 0
    financings: int = 0


@router.get("/financed-volume", response_model=FinancedVolumeReport)
def financed_volume(
    rt: RuntimeDep,
    session: ReadSessionDep,
    _: Principal = Depends(require_roles(*OVERSEERS)),  # noqa: B008
) -> FinancedVolumeReport:
    """Per funder: face amount bought, cash paid and discount earned (accepted offers and
    sales to standing bids)."""
    rt.indexer.cover_head("report")
    names = _names(session)
    totals: dict[str, _Volume] = {}
    offers = session.exec(select(OfferRow).where(OfferRow.status == "accepted")).all()
    for o in offers:
        entry = totals.setdefault(o.financier, _Volume())
        entry.amount += int(o.amount)
        entry.payment += int(o.payment or 0)
        entry.discount += int(o.discount or 0)
        entry.financings += 1
    sales = session.exec(select(ChainEvent).where(ChainEvent.event == "SoldToBid")).all()
    for row in sales:
        sale = json.loads(row.args)
        entry = totals.setdefault(str(sale["funder"]), _Volume())
        entry.amount += int(sale["amount"])
        entry.payment += int(sale["payment"])
        entry.discount += int(sale["discount"])
        entry.financings += 1
    ledger = rt.gateway.ledger
    chain_count = len(ledger.events("FinancingAccepted")) + len(ledger.events("SoldToBid"))
    indexed = len(offers) + len(sales)
    return FinancedVolumeReport(
        volume=[
            FinancedVolumeRow(
                financier=financier,
                name=names.get(financier),
                amount=str(entry.amount),
                payment=str(entry.payment),
                discount=str(entry.discount),
                financings=entry.financings,
            )
            for financier, entry in totals.items()
        ],
        check=FinancingsCheck(
            indexed_financings=indexed,
            chain_financings=chain_count,
            consistent_with_chain=chain_count == indexed,
        ),
    )


@router.get("/maturing", response_model=MaturingReport)
def maturing(
    rt: RuntimeDep,
    session: ReadSessionDep,
    within_days: Annotated[int, Query(ge=0, le=3660)] = 30,
    _: Principal = Depends(require_roles(*OVERSEERS)),  # noqa: B008
) -> MaturingReport:
    """Open certificates maturing within ``within_days`` of the chain's time."""
    rt.indexer.cover_head("report")
    now = rt.gateway.block_time()
    certs = list(
        session.exec(
            select(CertificateRow)
            .where(col(CertificateRow.status).in_(("issued", "active")))
            .where(CertificateRow.maturity <= now + within_days * 86_400)
            .order_by(col(CertificateRow.maturity))
        ).all()
    )
    return MaturingReport(
        as_of=now,
        certificates=[certificate_view(c) for c in certs],
        check=_check(rt, certs),
    )


@router.get("/overdue", response_model=OverdueReport)
def overdue(
    rt: RuntimeDep,
    session: ReadSessionDep,
    _: Principal = Depends(require_roles(*OVERSEERS)),  # noqa: B008
) -> OverdueReport:
    """Overdue and defaulted certificates, plus active ones whose grace period has run out
    that the maturity job has not marked yet: by the ledger's rule, which does not count
    time the ledger was paused after maturity (the chain is asked for the few candidates
    past maturity + grace, api.services.overdue)."""
    rt.indexer.cover_head("report")
    ledger = rt.gateway.ledger
    at = overdue_rule.latest_moment(ledger)
    grace = ledger.grace_period()
    certs = list(
        session.exec(
            select(CertificateRow).where(
                col(CertificateRow.status).in_(("active", "overdue", "defaulted"))
            )
        ).all()
    )
    unmarked = {c.id for c in overdue_rule.due(ledger, certs, at, grace)}
    due = [c for c in certs if c.status != "active" or c.id in unmarked]
    return OverdueReport(
        as_of=at.time,
        grace_period=grace,
        certificates=[certificate_view(c) for c in due],
        check=_check(rt, due),
    )
