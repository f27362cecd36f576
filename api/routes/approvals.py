"""Four-eyes approval: an organization's policy, and its checkers' decisions on the
commands waiting for them (the rules: :mod:`api.commands.approvals`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlmodel import col, select

from api.auth import ADMIN, CHECKER, Principal, authenticate, require_duty
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.commands.waits import waiting_view
from api.deps import CommandId, RuntimeDep, SessionDep, command_context
from api.models import ApprovalRule
from api.schemas import ApprovalDecision, ApprovalPolicy, RejectRequest, WaitingCommand

router = APIRouter(prefix="/v1", tags=["approvals"])

#: what a checker's approval answers: the command's own answer (its status and shape are
#: the command's: 200 or 201 with the mined transaction), or 202 when it then waits for
#: the organization's own signature
_APPROVED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The command ran: its own answer.", "model": dict[str, Any]},
    201: {"description": "The command ran and created a record: its own answer."},
    202: {
        "description": "Approved; the command now waits for the organization's signature.",
        "model": WaitingCommand,
    },
}


def _policy(session: SessionDep, org_id: int) -> ApprovalPolicy:
    rows = session.exec(
        select(ApprovalRule).where(ApprovalRule.org_id == org_id).order_by(col(ApprovalRule.action))
    ).all()
    return ApprovalPolicy.model_validate(
        {"rules": [{"action": r.action, "min_amount": r.min_amount} for r in rows]}
    )


@router.get("/approval-policy", response_model=ApprovalPolicy)
def get_policy(
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> ApprovalPolicy:
    """Which of the caller's organization's commands wait for a checker."""
    return _policy(session, p.org_id)


@router.put("/approval-policy", response_model=ApprovalPolicy)
def set_policy(
    body: ApprovalPolicy,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """Admin: replace the organization's four-eyes policy (an empty list: none). Commands
    already waiting keep waiting; the new policy weighs the commands sent after it."""
    p = require_duty(ADMIN, ctx.principal)
    actions = [rule.action for rule in body.rules]
    if len(set(actions)) != len(actions):
        from api.problems import Problem

        raise Problem(
            422,
            "duplicate_rule",
            "One rule per command",
            "The policy names a command twice; give each command one rule.",
        )

    def work() -> tuple[int, dict[str, Any]]:
        session.exec(delete(ApprovalRule).where(col(ApprovalRule.org_id) == p.org_id))
        for rule in body.rules:
            session.add(
                ApprovalRule(org_id=p.org_id, action=rule.action, min_amount=rule.min_amount)
            )
        session.commit()
        return 200, _policy(session, p.org_id).model_dump()

    return command_response(
        rt.runner.run_local(
            ctx,
            "set_approval_policy",
            f"organization:{p.org_id}",
            body.model_dump(),
            work,
            duty=ADMIN,
        )
    )


@router.get("/approvals", response_model=list[WaitingCommand])
def list_waiting(
    rt: RuntimeDep,
    p: Principal = Depends(authenticate),  # noqa: B008
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """The organization's commands waiting for a checker, oldest first, each with what it
    does in words and the fen at stake."""
    return [waiting_view(row) for row in rt.runner.approvals.pending(p.org_id, limit=limit)]


@router.post("/approvals/{command_id}/approve", responses=_APPROVED)
def approve(
    command_id: CommandId,
    rt: RuntimeDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> JSONResponse:
    """Checker: approve a waiting command of the organization (not one's own): it is
    checked against the chain again, signed and sent; the answer is the command's own."""
    require_duty(CHECKER, p)
    return command_response(rt.runner.approvals.approve(p, command_id))


@router.post("/approvals/{command_id}/reject", response_model=ApprovalDecision)
def reject(
    command_id: CommandId,
    body: RejectRequest,
    rt: RuntimeDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> ApprovalDecision:
    """Checker: reject a waiting command with a reason; nothing is signed, and its maker's
    replay answers 409 ``command_rejected`` with the reason."""
    require_duty(CHECKER, p)
    rt.runner.approvals.reject(p, command_id, body.reason)
    row = rt.runner.approvals.get(p, command_id)
    return ApprovalDecision(
        command_id=str(row.id),
        status="rejected",
        reason=row.decision_reason or body.reason,
        checker_key_id=row.checker_key_id,
        decided_at=row.decided_at.isoformat() if row.decided_at else "",
    )
