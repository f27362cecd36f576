"""Operator administration (pause, background steps), the audit log, health."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import OPERATOR, OVERSEERS, Principal, require_roles
from api.commands import catalogue
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import ReadSessionDep, RuntimeDep, command_context
from api.indexer import HEAD_WAIT_TIMEOUT
from api.models import AuditEntry
from api.problems import node_down
from api.runtime import Runtime
from api.schemas import AuditEntryView, HealthView, IndexerRun, LedgerAnswer, MaturityRun

router = APIRouter(prefix="/v1", tags=["administration"])


@router.get("/health", tags=["system"], response_model=HealthView)
def health(rt: RuntimeDep, request: Request) -> HealthView:
    """Liveness plus where the chain and the index are (no authentication). The chain's
    clock is given because maturities and offer expiries count from it, not from ours.
    ``indexing``: whether the process that answered runs the indexer and the maturity job
    (with several worker processes, exactly one does).

    The node down is 200 with ``status: "degraded"``, ``node.reachable`` false and the
    head null, not a 503. This answer is the process's liveness: orchestrators restart
    or drop an instance whose health check fails, which brings no node back, while an
    instance whose node is down still serves what needs no node (records and lists from
    the read model, documents, the audit log) and answers commands with 503
    ``node_unavailable``, which tells the client to retry with its key. A balancer in
    front of instances on different nodes, which should route around a dead node, reads
    ``status`` (``"ok"``) or ``node.reachable`` as readiness."""
    background = getattr(request.app.state, "background", None)
    head: int | None = None
    block_time: int | None = None
    error: str | None = None
    try:
        latest = rt.gateway.w3.eth.get_block("latest")  # one round trip for both
        head, block_time = int(latest["number"]), int(latest["timestamp"])
    except Exception as exc:
        if not node_down(exc):
            raise
        error = type(exc).__name__
    return HealthView(
        status="ok" if error is None else "degraded",
        chain_id=rt.gateway.manifest.chain_id,
        ledger=rt.gateway.manifest.ledger_address,
        head=head,
        block_time=block_time,
        indexed_block=rt.indexer.indexed_block,
        indexing=bool(background is not None and background.indexing),
        node=HealthView.NodeHealth(reachable=error is None, error=error),
    )


def _run_on_ledger(
    command: catalogue.ChainCommand[[]], rt: Runtime, ctx: CommandContext
) -> JSONResponse:
    """A command on the whole ledger, sent as the operator."""
    plan = partial(command.plan, rt.gateway.operator.address)
    return command_response(rt.runner.run_chain(ctx, command, "ledger", {}, plan))


@router.post("/admin/pause", response_model=LedgerAnswer)
def pause(
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: pause the whole ledger (emergency stop)."""
    return _run_on_ledger(catalogue.PAUSE, rt, ctx)


@router.post("/admin/unpause", response_model=LedgerAnswer)
def unpause(
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: unpause the whole ledger (emergency stop)."""
    return _run_on_ledger(catalogue.UNPAUSE, rt, ctx)


@router.post("/admin/jobs/maturity", response_model=MaturityRun)
def run_maturity(
    rt: RuntimeDep,
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> MaturityRun:
    """Operator: run one pass of the maturity job now (payouts, overdue marking)."""
    report = rt.maturity.step()
    return MaturityRun(
        pages_paid=report.pages_paid,
        fen_paid=str(report.fen_paid),
        marked_overdue=report.marked_overdue,
    )


@router.post("/admin/indexer", response_model=IndexerRun)
def run_indexer(
    rt: RuntimeDep,
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> IndexerRun:
    """Operator: wait until the read model covers the chain's head (at most
    HEAD_WAIT_TIMEOUT seconds). The indexing process is the read model's only writer:
    this asks it to step now and waits, it does not index in the HTTP worker."""
    caught_up = rt.indexer.wait_for_head(HEAD_WAIT_TIMEOUT)
    return IndexerRun(caught_up=caught_up, indexed_block=rt.indexer.indexed_block)


#: every outcome an audit entry may have: a command's end, a refusal, and the steps of a
#: command that waits for a checker (api.commands.approvals) or a signature
#: (api.commands.signatures)
AuditOutcome = Literal[
    "succeeded",
    "refused",
    "failed",
    "pending_approval",
    "approved",
    "rejected",
    "expired",
    "prepared",
    "sig_refused",
    "submitted",
    "aborted",
    "key_rotated",
]


@router.get("/audit-log", response_model=list[AuditEntryView])
def audit_log(
    rt: RuntimeDep,
    session: ReadSessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: AuditOutcome | None = None,
    org_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    _: Principal = Depends(require_roles(*OVERSEERS)),  # noqa: B008
) -> list[AuditEntryView]:
    """Every command and every refusal: who, what, when, outcome, code, transaction
    (operator and auditors). A refusal that is not a command's (no or a revoked key, a
    wrong role, a record the caller may not see, a malformed request, a rate limit) has
    the method and route as its ``action``, the path as its ``target``, and in
    ``params`` the status, the client address and the presented key's prefix; repeats of
    one source, action and code within a minute are one more row with ``params.repeated``
    (api.refusals)."""
    rt.refusals.flush()  # this process's refusals up to now
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if action:
        query = query.where(AuditEntry.action == action)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if org_id is not None:
        query = query.where(AuditEntry.org_id == org_id)
    return [
        AuditEntryView(
            id=e.id,
            at=e.at.isoformat(),
            org_id=e.org_id,
            api_key_id=e.api_key_id,
            action=e.action,
            target=e.target,
            params=json.loads(e.params),
            outcome=e.outcome,
            code=e.code,
            tx_hash=e.tx_hash,
            block_number=e.block_number,
        )
        for e in session.exec(query.limit(limit)).all()
        if e.id is not None
    ]
