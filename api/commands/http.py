"""The one place a command's result becomes an HTTP response (the runner knows nothing
of HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.auth import Principal
from api.commands.catalogue import ChainCommand, ChainPlan
from api.commands.claims import CommandContext
from api.commands.replay import CommandResult
from api.problems import PROBLEM_JSON
from chain_client.ledger import Ledger

if TYPE_CHECKING:
    from api.runtime import Runtime


def command_response(result: CommandResult) -> JSONResponse:
    """The stored answer; a replay says so in ``Idempotent-Replayed: true``; a refusal is
    a problem document (RFC 9457)."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(
        result.body,
        status_code=result.status_code,
        headers=headers,
        media_type=PROBLEM_JSON if result.status_code >= 400 else "application/json",
    )


#: "404 unless the caller may see this record" (api.services.access's ..._for_command)
RecordCheck = Callable[[Session, Ledger, Principal, int], None]


def run_on_record(
    command: ChainCommand[[int]],
    kind: str,
    record_id: int,
    may_act: RecordCheck,
    rt: Runtime,
    session: Session,
    ctx: CommandContext,
) -> JSONResponse:
    """A command whose only argument is one record's id (a certificate's accept, reject
    and revoke; an offer's accept and withdraw): checked with ``may_act``, journaled with
    target ``kind:id`` and the parameters ``{kind_id: id}``."""

    def plan() -> ChainPlan:
        p = ctx.principal
        may_act(session, rt.gateway.ledger, p, record_id)
        return command.plan(p.address or "", record_id)

    target, params = f"{kind}:{record_id}", {f"{kind}_id": record_id}
    return command_response(rt.runner.run_chain(ctx, command, target, params, plan))
