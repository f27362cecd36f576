"""Quotas: how much an organization may store and how small a piece it may carve.

Documents: at most ``document_quota_count`` documents and ``document_quota_bytes`` bytes
(plaintext size) per organization; an upload beyond either is refused with 409
``storage_quota_exceeded`` (the organization's state, not the request, is the problem:
no retry helps until documents are removed or the quota is raised, hence not 413 or 429).
Checked with one aggregate query before the insert; uploads of one organization running
at the same moment may together overshoot by the ones in flight.

Splits: a split (and a financing offer of part of a fragment, which the ledger splits at
acceptance) must carve off at least ``min_split_fen`` and leave at least as much in the
parent, refused with 422 ``split_below_minimum`` before anything is sent. The default,
1 fen, keeps docs/design.md's promise of splits down to 0.01 CNY (the ledger's own rule, amount
above 0 and below the value); an operator who wants fewer dust fragments raises it. The
remainder is checked against the read model, which a split racing on the same fragment
may not show yet: such a race can leave less than the minimum (never less than 1 fen, the
ledger's rule); the amount itself is always checked.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from api.models import Document
from api.problems import Problem
from api.settings import Settings


def check_document_quota(session: Session, settings: Settings, org_id: int, size: int) -> None:
    """Refuse an upload of ``size`` bytes that would put ``org_id`` over its quota."""
    count_limit, bytes_limit = settings.document_quota_count, settings.document_quota_bytes
    if count_limit <= 0 and bytes_limit <= 0:
        return
    count, stored = session.exec(
        select(func.count(Document.id), func.coalesce(func.sum(Document.size), 0)).where(  # type: ignore[arg-type]
            Document.org_id == org_id
        )
    ).one()
    if 0 < count_limit <= count:
        raise Problem(
            409,
            "storage_quota_exceeded",
            "Document quota reached",
            f"Your organization keeps {count} documents, its quota.",
            quota_documents=count_limit,
            stored_documents=count,
        )
    if 0 < bytes_limit < int(stored) + size:
        raise Problem(
            409,
            "storage_quota_exceeded",
            "Storage quota reached",
            f"Your organization stores {stored} bytes of documents; this one "
            f"({size} bytes) would exceed its quota of {bytes_limit} bytes.",
            quota_bytes=bytes_limit,
            stored_bytes=int(stored),
        )


def check_split(minimum: int, amount: int, value: int | None) -> None:
    """Refuse carving ``amount`` fen off a fragment worth ``value`` (None: unknown here,
    the ledger decides) if the piece or the rest would be below ``minimum``. A whole
    fragment (amount == value) is no split."""
    if minimum <= 1:
        return  # the ledger's own rule (above 0, below the value) is the minimum
    if amount < minimum:
        raise Problem(
            422,
            "split_below_minimum",
            "The piece is too small",
            f"A split must carve off at least {minimum} fen; {amount} fen asked.",
            min_split_fen=str(minimum),
        )
    if value is not None and amount < value and value - amount < minimum:
        raise Problem(
            422,
            "split_below_minimum",
            "The rest would be too small",
            f"Carving {amount} fen off a fragment worth {value} fen would leave "
            f"{value - amount} fen, below the minimum of {minimum} fen; move the "
            "whole fragment with a transfer instead.",
            min_split_fen=str(minimum),
        )
