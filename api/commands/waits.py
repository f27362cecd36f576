"""What the two kinds of waiting command share: a command stopped between its plan and
its signature, for a checker (``pending_approval``, :mod:`api.commands.approvals`) or for
its organization's own signature (``awaiting_signature``, :mod:`api.commands.signatures`).

Both keep their plan in the row (as a signed row keeps it), answer 202 with the same view,
write an audit entry at every step, and are found by their id only by their own
organization.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.auth import Principal
from api.commands.catalogue import ChainPlan
from api.commands.journal import CommandRef, KeyTaken
from api.commands.replay import CommandResult, audit_fields
from api.models import AuditEntry, Command
from api.problems import Problem
from chain_client import unsigned

PENDING_APPROVAL = "pending_approval"
AWAITING_SIGNATURE = "awaiting_signature"


def waiting(row: Command, *, replayed: bool = False) -> CommandResult:
    """The answer for a command that waits: 202 and what it is waiting for; the same for
    the maker's replays."""
    return CommandResult(202, waiting_view(row), replayed=replayed)


def waiting_view(row: Command) -> dict[str, Any]:
    """A waiting command; one prepared for its organization's signer also carries the
    unsigned ``transaction`` (:func:`chain_client.unsigned.to_json`), the
    ``signing_hash`` its signer signs and the ``signer`` address (null otherwise)."""
    params = json.loads(row.params or "{}")
    transaction = json.loads(row.unsigned_tx) if row.unsigned_tx else None
    return {
        "command_id": str(row.id),
        "status": row.status,
        "action": row.action,
        "target": row.target,
        "summary": row.summary,
        "stake": row.stake,
        "request": params.get("request", {}),
        "maker_key_id": row.api_key_id,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "transaction": transaction,
        "signing_hash": (
            unsigned.signing_hash(unsigned.from_json(transaction)) if transaction else None
        ),
        "signer": row.sender if transaction else None,
    }


def park(
    engine: Engine,
    ref: CommandRef,
    chosen: ChainPlan,
    values: dict[str, Any],
    outcome: str,
) -> Command:
    """Store a command as waiting, with its plan and ``values`` (its status, what it
    does, its expiry, ...), and its audit entry ``outcome``, in one commit: a new row, or
    a ``pending`` row this process runs (a re-taken or an approved one). A key taken
    meanwhile, or a row moved by another process, raises :class:`KeyTaken` with nothing
    stored."""
    at = values["updated_at"]
    with Session(engine, expire_on_commit=False) as session:
        if isinstance(ref, int):
            row = session.get(Command, ref)
            assert row is not None
            params = json.loads(row.params)
            params["call"] = chosen.spec()
            moved = session.exec(
                update(Command)
                .where(col(Command.id) == ref)
                .where(col(Command.status) == "pending")
                .values(params=json.dumps(params, sort_keys=True), **values)
            )
            if moved.rowcount != 1:
                raise KeyTaken()
        else:
            params = json.loads(ref["params"])
            params["call"] = chosen.spec()
            row = Command(**{**ref, "params": json.dumps(params, sort_keys=True)}, **values)
            session.add(row)
            session.flush()
        audit_step(session, row, outcome, None, at)
        try:
            session.commit()
        except IntegrityError:
            raise KeyTaken() from None
        session.refresh(row)
    return row


def audit_step(
    session: Session,
    row: Command,
    outcome: str,
    code: str | None,
    at: datetime,
    principal: Principal | None = None,
    tx_hash: str | None = None,
) -> None:
    """One step of a waiting command in the audit log: the maker's under its key; a
    checker's decision or a submission under the key of who took it (``principal``)."""
    fields = audit_fields(row)
    if principal is not None:
        fields["api_key_id"] = principal.api_key_id
    session.execute(
        insert(AuditEntry).values(**fields, outcome=outcome, code=code, at=at, tx_hash=tx_hash)
    )


def unknown_command(command_id: int) -> Problem:
    return Problem(404, "unknown_command", "No such command", f"No command {command_id} of yours.")


def own_command(read_engine: Engine, principal: Principal, command_id: int) -> Command:
    """One of the caller's organization's commands (404 for another's, as for one that
    does not exist)."""
    with Session(read_engine) as session:
        row = session.get(Command, command_id)
    if row is None or row.org_id != principal.org_id:
        raise unknown_command(command_id)
    return row


def refuse_waiting(
    session: Session,
    row: Command,
    problem: Problem,
    outcome: str,
    at: datetime,
    principal: Principal | None = None,
    **values: Any,
) -> bool:
    """A waiting row closed with ``problem`` as its stored answer (what its
    Idempotency-Key then replays) and its audit entry ``outcome`` (under ``principal``'s
    key when given), in ``session``; ``values``: more columns (who decided, why). A
    compare-and-set on the status the row was read with: False, and nothing written, when
    it moved meanwhile (approved, submitted, closed by another)."""
    moved = session.exec(
        update(Command)
        .where(col(Command.id) == row.id)
        .where(col(Command.status) == row.status)
        .values(
            status="refused",
            response_status=problem.status,
            response_body=json.dumps(problem.body(), sort_keys=True),
            updated_at=at,
            **values,
        )
    )
    if moved.rowcount != 1:
        return False
    audit_step(session, row, outcome, problem.code, at, principal)
    return True


def close_waiting(engine: Engine, org_id: int, problem: Problem, outcome: str) -> int:
    """Close every waiting command of an organization (:func:`refuse_waiting`); returns
    how many. One approved or submitted meanwhile is left to finish as it is."""
    from api.timeutil import utcnow

    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        rows = list(
            session.exec(
                select(Command)
                .where(col(Command.org_id) == org_id)
                .where(col(Command.status).in_((PENDING_APPROVAL, AWAITING_SIGNATURE)))
            ).all()
        )
        closed = sum(refuse_waiting(session, row, problem, outcome, now) for row in rows)
        session.commit()
    return closed
