"""The audit log: one row per command, written in the same transaction as the command's
final state, so the log and the journal cannot disagree."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from api.models import AuditEntry

if TYPE_CHECKING:
    from api.auth import Principal


def record(
    session: Session,
    *,
    org_id: int | None,
    api_key_id: int | None,
    action: str,
    target: str,
    params: dict[str, Any],
    outcome: str,
    code: str | None = None,
    tx_hash: str | None = None,
    block_number: int | None = None,
) -> None:
    session.add(
        AuditEntry(
            org_id=org_id,
            api_key_id=api_key_id,
            action=action,
            target=target,
            params=json.dumps(params, sort_keys=True, default=str),
            outcome=outcome,
            code=code,
            tx_hash=tx_hash,
            block_number=block_number,
        )
    )


def record_done(
    session: Session,
    principal: Principal,
    action: str,
    target: str,
    params: dict[str, Any] | None = None,
) -> None:
    """A change the caller made that is no journaled command (a key revoked, a document
    stored, a session ended), as the caller's (not committed)."""
    record(
        session,
        org_id=principal.org_id,
        api_key_id=principal.api_key_id,
        action=action,
        target=target,
        params=params or {},
        outcome="succeeded",
    )
