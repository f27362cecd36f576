"""Every refusal in the audit log: who (organization and key when known, else the
presented key's prefix or nobody, and the client address), what (method and route), when,
and the problem's code.

Where refusals come from, and who writes each down:

* a command the runner journals (refused by a check in its plan or by the ledger): the
  runner, with the command, in the same transaction (:mod:`api.commands`); it marks
  the request as audited (:func:`mark_audited`) so it is not written twice;
* everything else (no or a bad key, a wrong role, a record the caller may not see, a
  malformed request, a rate limit): :class:`RefusalAuditMiddleware`, which sees every
  4xx answer leave the app. A replayed answer (``Idempotent-Replayed``) is the stored
  first answer, audited when it was first given.

Why not one INSERT per refusal, in the request: a refusal would then cost a write (and,
on SQLite, a turn of the one write lock), and an unauthenticated flood could grow the log
without bound. Instead :class:`RefusalLog` coalesces and writes in the background:

* per *source* (an organization when the caller is known, else the client address:
  presented key prefixes are the attacker's choice, addresses are not), action and code,
  the first refusal of a window (``window`` seconds) is written at once, as its own row;
  the ones after it are only counted, and one row with ``params.repeated`` = the count is
  written when the window closes;
* at most ``max_sources`` sources are itemized per window; refusals beyond them are
  counted into one ``refusals_not_itemized`` row per window.

So one process writes at most ``2 * max_sources + 1`` refusal rows a window however hard
it is flooded, and its memory holds at most ``max_sources`` tallies. With several worker
processes each has its own log (the bound is per process). Rows are written by one
thread in batches (one INSERT for what is queued), off the request's path.
"""

from __future__ import annotations

import json
import logging
import string
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import AuditEntry
from api.timeutil import utcnow

log = logging.getLogger(__name__)

#: the action of the row that counts refusals from sources beyond ``max_sources``
OVERFLOW_ACTION = "refusals_not_itemized"
_PRINTABLE = set(string.ascii_letters + string.digits + "_-.")
_BODY_LIMIT = 8192  # a problem document is far smaller; more is not read for its code


@dataclass
class Attempt:
    """What the app learned about the request's caller while serving it."""

    org_id: int | None = None
    api_key_id: int | None = None
    audited: bool = False  # the command runner wrote this refusal with its command


_attempt: ContextVar[Attempt | None] = ContextVar("scf_refusal_attempt", default=None)


def note_caller(org_id: int, api_key_id: int | None) -> None:
    """The presented key belongs to this organization (called as soon as the key is found,
    so that a revoked key's or a suspended member's attempt is recorded under its owner)."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.org_id, attempt.api_key_id = org_id, api_key_id


def mark_audited() -> None:
    """This request's refusal is already in the audit log (the runner stored it)."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.audited = True


@dataclass
class _Tally:
    row: dict[str, Any]  # the window's first row of this source, action and code
    repeated: int = 0
    last_at: datetime | None = None


@dataclass
class _Window:
    started: float
    tallies: dict[tuple[str, str, str], _Tally] = field(default_factory=dict)
    overflow: int = 0
    overflow_first: datetime | None = None
    overflow_last: datetime | None = None


class RefusalLog:
    """Coalesces refusals per source and writes them in batches from one thread."""

    def __init__(self, engine: Engine, *, window: float = 60.0, max_sources: int = 1000) -> None:
        self.engine = engine
        self.window = window
        self.max_sources = max_sources
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._write = threading.Lock()  # one batch at a time (the thread, or a flush)
        self._current = _Window(time.monotonic())
        self._pending: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- recording -------------------------------------------------------------------------

    def submit(
        self,
        *,
        source: str,
        org_id: int | None,
        api_key_id: int | None,
        action: str,
        target: str,
        code: str,
        params: dict[str, Any],
    ) -> None:
        """Record one refusal (cheap: a dictionary update, no I/O)."""
        now = utcnow()
        with self._lock:
            if self._stopped:
                return
            self._roll_if_due(time.monotonic())
            window = self._current
            key = (source, action, code)
            tally = window.tallies.get(key)
            if tally is not None:
                tally.repeated += 1
                tally.last_at = now
                return
            if len(window.tallies) >= self.max_sources:
                window.overflow += 1
                window.overflow_first = window.overflow_first or now
                window.overflow_last = now
                return
            row = {
                "at": now,
                "org_id": org_id,
                "api_key_id": api_key_id,
                "action": action[:64],
                "target": target[:100],
                "outcome": "refused",
                "code": code[:64],
                "params": params,
                "tx_hash": None,
                "block_number": None,
            }
            window.tallies[key] = _Tally(row)
            self._pending.append(row)
            self._ensure_thread()
            self._wake.notify()

    # -- writing -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is queued now (the audit log's reader calls this, so that it sees
        this process's refusals up to the moment it reads)."""
        with self._write:
            with self._lock:
                rows, self._pending = self._pending, []
            self._store(rows)

    def close_window(self) -> None:
        """End the current window now: its counts are queued as rows, then written."""
        with self._lock:
            self._roll(time.monotonic())
        self.flush()

    def stop(self) -> None:
        """Write everything, counts included, and stop the thread (at shutdown)."""
        self.close_window()
        with self._lock:
            self._stopped = True
            self._wake.notify()
        thread = self._thread
        if thread is not None:
            thread.join(5.0)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="refusal-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    due = self._current.started + self.window - time.monotonic()
                    if due <= 0:
                        self._roll(time.monotonic())
                        if self._pending:
                            break
                        due = self.window
                    self._wake.wait(due)
                if self._stopped:
                    return
            try:
                self.flush()
            except Exception:  # the next refusal tries again; the rows are lost
                log.warning("could not write refusals to the audit log", exc_info=True)

    def _roll_if_due(self, now: float) -> None:
        if now - self._current.started >= self.window:
            self._roll(now)

    def _roll(self, now: float) -> None:
        """Queue the ended window's counts as rows; start a new window (lock held)."""
        window, self._current = self._current, _Window(now)
        for tally in window.tallies.values():
            if tally.repeated:
                first = tally.row
                self._pending.append(
                    {
                        **first,
                        "at": tally.last_at,
                        "params": {
                            **first["params"],
                            "repeated": tally.repeated,
                            "since": first["at"].isoformat(),
                        },
                    }
                )
        if window.overflow:
            assert window.overflow_first is not None
            self._pending.append(
                {
                    "at": window.overflow_last,
                    "org_id": None,
                    "api_key_id": None,
                    "action": OVERFLOW_ACTION,
                    "target": "",
                    "outcome": "refused",
                    "code": None,
                    "params": {
                        "repeated": window.overflow,
                        "since": window.overflow_first.isoformat(),
                        "note": f"more than {self.max_sources} sources in "
                        f"{self.window:.0f} s: counted, not itemized",
                    },
                    "tx_hash": None,
                    "block_number": None,
                }
            )

    def _store(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        values = [
            {**r, "params": json.dumps(r["params"], sort_keys=True, default=str)} for r in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(AuditEntry), values)


class RefusalAuditMiddleware:
    """Hands every 4xx answer the command runner did not already audit to the app's
    :class:`RefusalLog` (``app.state.runtime.refusals``). Costs a success nothing but
    a status check; a refusal, a parse of its (small) problem document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        attempt = Attempt()
        token = _attempt.set(attempt)
        state: dict[str, Any] = {"status": 0, "skip": True, "body": bytearray()}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                state["status"] = status
                replayed = any(
                    k.lower() == b"idempotent-replayed" for k, _ in message.get("headers", ())
                )
                state["skip"] = not 400 <= status < 500 or replayed or attempt.audited
            elif message["type"] == "http.response.body" and not state["skip"]:
                body: bytearray = state["body"]
                if len(body) < _BODY_LIMIT:
                    body.extend(message.get("body", b"")[: _BODY_LIMIT - len(body)])
                if not message.get("more_body", False):
                    state["skip"] = True
                    if not attempt.audited:
                        _record(scope, attempt, state["status"], bytes(body))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            _attempt.reset(token)


def _record(scope: Scope, attempt: Attempt, status: int, body: bytes) -> None:
    app = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    refusals: RefusalLog | None = getattr(runtime, "refusals", None)
    if refusals is None:
        return
    try:
        code = str(json.loads(body).get("code") or f"http_{status}")
    except (ValueError, AttributeError):
        code = f"http_{status}"
    route = scope.get("route")
    template = getattr(route, "path", None) or "(no route)"
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    params: dict[str, Any] = {
        "status": status,
        "client": address,
        "key_prefix": _presented_prefix(scope),
    }
    source = f"org:{attempt.org_id}" if attempt.org_id is not None else f"addr:{address}"
    try:
        refusals.submit(
            source=source,
            org_id=attempt.org_id,
            api_key_id=attempt.api_key_id,
            action=f"{scope.get('method', '?')} {template}",
            target=str(scope.get("path", "")),
            code=code,
            params=params,
        )
    except Exception:  # auditing must never turn a refusal into a 500
        log.warning("could not record a refusal", exc_info=True)


def _presented_prefix(scope: Scope) -> str | None:
    """The first 10 characters of a presented bearer token (the length of
    ``ApiKey.prefix``, so an operator can match it to a key), printable ones only."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                return None
            return "".join(c if c in _PRINTABLE else "?" for c in token[:10])
    return None
