"""The one place a command's result becomes an HTTP response (the runner knows nothing
of HTTP)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from api.commands.replay import CommandResult
from api.problems import PROBLEM_JSON


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
