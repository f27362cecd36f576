"""Claiming an Idempotency-Key: a new command, or the answer to a key used before
(replay, resume, re-take an aborted command, or refuse)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from api.auth import Principal
from api.commands.journal import CommandRef, Journal
from api.commands.recovery import Recovery
from api.commands.replay import CommandResult, replay
from api.commands.waits import AWAITING_SIGNATURE, PENDING_APPROVAL, waiting
from api.models import Command
from api.problems import Problem


@dataclass(frozen=True)
class CommandContext:
    """Who sends a command, and under which Idempotency-Key (None: no key, never
    replayed)."""

    principal: Principal
    idempotency_key: str | None


def in_progress() -> Problem:
    return Problem(
        409,
        "request_in_progress",
        "The same request is still running",
        "A request with this Idempotency-Key is in progress; retry in a moment.",
    )


class Claims:
    def __init__(self, journal: Journal, recovery: Recovery) -> None:
        self.journal = journal
        self.recovery = recovery

    def claim(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        params: dict[str, Any],
        *,
        store: bool = True,
    ) -> CommandRef | CommandResult:
        """The command's row id (``store``: inserted now), or the fields of a row not
        stored yet (``store=False``, a key not seen before), or the answer to a used key."""
        fingerprint = _fingerprint(action, target, params)
        principal = ctx.principal
        fields: dict[str, Any] = dict(
            org_id=principal.org_id,
            api_key_id=principal.api_key_id,
            idempotency_key=ctx.idempotency_key,
            fingerprint=fingerprint,
            action=action,
            target=target,
            params=json.dumps({"request": params}, sort_keys=True, default=str),
        )
        if not store:
            if ctx.idempotency_key is None:
                return fields
            seen = self.journal.for_key(principal.org_id, ctx.idempotency_key)
            if seen is None:
                return fields
            return self._used_key(seen, fingerprint)
        command_id = self.journal.insert_pending(fields)
        if command_id is not None:
            return command_id
        # The key was used before.
        existing = self.journal.for_key(principal.org_id, ctx.idempotency_key)
        assert existing is not None  # the unique key refused our row
        return self._used_key(existing, fingerprint)

    def _used_key(self, existing: Command, fingerprint: str) -> int | CommandResult:
        """A key seen before: replay, resume, re-take an aborted command, or refuse."""
        assert existing.id is not None
        if existing.fingerprint != fingerprint:
            raise Problem(
                422,
                "idempotency_key_reused",
                "Idempotency-Key already used",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        if existing.status in ("succeeded", "refused"):
            return replay(existing)
        if existing.status in (PENDING_APPROVAL, AWAITING_SIGNATURE):
            return waiting(existing, replayed=True)
        if (
            existing.status == "signed"
            and existing.id not in self.journal.running
            and self.recovery.abandoned(existing)
        ):
            # taken over first (one request, or recovery's pass, finishes it); the node
            # still down answers 503 node_unavailable and leaves it signed for the next try
            resumed = self.recovery.resume_abandoned(existing)
            if resumed is not None:
                return resumed
        if existing.status == "aborted" and self.journal.retake_aborted(existing.id):
            return existing.id
        raise in_progress()


def _fingerprint(action: str, target: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([action, target, params], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
