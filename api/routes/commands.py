"""A command by its id, and the signed transaction of a command prepared for its
organization's own signer (the rules: :mod:`api.commands.signatures`).

``GET /v1/commands/{id}``: one of the caller's organization's commands: what it does, its
status and, while it awaits a signature, the unsigned transaction, the hash to sign and
the expiry; once finished, its stored answer. ``POST /v1/commands/{id}/signature`` with
``{"raw": "0x..."}``: the signed bytes, answered with the command's own answer (201 for a
split, 200 for a transfer, ...) once mined."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import MAKER, Principal, authenticate, require_duty
from api.commands.http import command_response
from api.commands.waits import waiting_view
from api.deps import CommandId, RuntimeDep
from api.schemas import CommandView, SignatureRequest

router = APIRouter(prefix="/v1", tags=["commands"])

#: a submission answers with the command's own answer (its status and shape are the
#: command's: 200 or 201 with the mined transaction)
_SUBMITTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The transaction was mined: the command's own answer.",
        "model": dict[str, Any],
    },
    201: {
        "description": "The transaction was mined and created a record: the command's own answer."
    },
}


@router.get("/commands/{command_id}", response_model=CommandView)
def get_command(
    command_id: CommandId,
    rt: RuntimeDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> dict[str, Any]:
    """One of your organization's commands: its status, what it does, and the
    transaction to sign while it awaits your signature (or its answer once finished)."""
    row = rt.runner.signatures.get(p, command_id)
    view = waiting_view(row)
    view["tx_hash"] = row.tx_hash
    view["response_status"] = row.response_status
    view["response"] = json.loads(row.response_body) if row.response_body else None
    return view


@router.post("/commands/{command_id}/signature", responses=_SUBMITTED)
def submit_signature(
    command_id: CommandId,
    body: SignatureRequest,
    rt: RuntimeDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> JSONResponse:
    """Maker: the signed transaction of a command awaiting your organization's signature.
    It must be exactly the prepared transaction, signed by your organization's address
    (else 422 ``signature_mismatch`` naming the field; nothing is sent and the command
    still waits); then it is journaled, broadcast and waited for, and the answer is the
    command's own. The same bytes again answer as a replay."""
    require_duty(MAKER, p)
    return command_response(rt.runner.signatures.submit(p, command_id, body.raw))
