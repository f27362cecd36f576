"""What a command answers and what the audit log says of it, from its stored row.

The first answer and every replay come from the same stored JSON, so they are the same
body; a replay is only marked (``replayed``), which the HTTP layer turns into
``Idempotent-Replayed: true``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from api.models import Command


@dataclass(frozen=True)
class CommandResult:
    """A command's answer, free of any web framework: the route makes the response
    (:func:`api.commands.http.command_response`)."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def stored_result(status_code: int, stored_body: str, *, replayed: bool) -> CommandResult:
    """The answer as stored (keys sorted, values through JSON)."""
    return CommandResult(status_code, json.loads(stored_body), replayed)


def replay(row: Command) -> CommandResult:
    """The stored answer of a finished (``succeeded`` or ``refused``) command."""
    return stored_result(int(row.response_status or 200), row.response_body or "{}", replayed=True)


def audit_fields(values: Command | dict[str, Any]) -> dict[str, Any]:
    """The audit entry's who/what, from the command's row or the fields of one being
    stored (its request, not the transaction plan stored beside it)."""
    if isinstance(values, Command):
        values = values.model_dump()
    return {
        "org_id": values["org_id"],
        "api_key_id": values["api_key_id"],
        "action": values["action"],
        "target": values["target"],
        "params": json.dumps(
            json.loads(values["params"]).get("request", {}), sort_keys=True, default=str
        ),
    }
