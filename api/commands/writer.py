"""Finishing commands: each command's answer and its audit entry stored in one
transaction, batched under load (group commit)."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.commands.journal import CommandRef, KeyTaken, Running
from api.commands.replay import CommandResult, audit_fields, stored_result
from api.models import AuditEntry, Command
from api.problems import Problem
from api.refusals import mark_audited
from api.timeutil import utcnow
from chain_client.ledger_types import TxOutcome

log = logging.getLogger(__name__)


class FinishedElsewhere(Exception):  # noqa: N818 - control flow, not an error
    """A command of a batch was finished by another process first: store one by one."""


@dataclass(frozen=True)
class Finish:
    """A command's final state, to be stored."""

    command_id: CommandRef
    status: int
    body: dict[str, Any]
    outcome_name: str  # "succeeded" or "refused"
    outcome: TxOutcome | None
    #: the command's effect on the API's own rows (:mod:`api.commands.catalogue`)
    effect: Callable[[Session], None] | None = None


class CommandWriter:
    """Stores finished commands. Mined commands go through one thread that writes them in
    batches (group commit): a batch is whatever is queued when the thread is free (at most
    ``max_batch``). Under no load that is one command, stored at once; under load, the
    commands that finished while the previous batch was being written, in one
    transaction: one commit (and one turn of SQLite's single write lock) instead of one per
    command. Each command's answer and audit entry stay together. If a batch fails, its
    commands are stored one by one, as without the batching.

    A command is finished once: its row's answer is stored only while the row is still
    ``pending`` or ``signed``. Two processes can both finish one command (an instance
    starting while another runs it, or a take-over racing its owner: both wait for the
    same transaction); the second finds the row finished, stores nothing (no second audit
    entry, no second effect) and answers what the first stored."""

    def __init__(self, engine: Engine, running: Running, max_batch: int = 64) -> None:
        self.engine = engine
        self.running = running
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Finish, Future[CommandResult]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def finish(
        self,
        command_id: CommandRef,
        status: int,
        body: dict[str, Any],
        outcome_name: str,
        outcome: TxOutcome | None,
        effect: Callable[[Session], None] | None = None,
    ) -> CommandResult:
        """One transaction: the answer, the audit entry and the command's effect."""
        item = Finish(command_id, status, body, outcome_name, outcome, effect)
        if outcome is not None and isinstance(command_id, int):
            return self._submit(item)
        return self._store_many([item])[0]

    def refuse(
        self, ref: CommandRef, problem: Problem, tx_hash: str | None = None
    ) -> CommandResult:
        """A refusal stored as the command's answer, with its audit entry."""
        body = problem.body()
        if tx_hash:
            body["tx_hash"] = tx_hash
        result = self.finish(ref, problem.status, body, "refused", None)
        mark_audited()  # stored with its audit entry: the middleware must not add another
        return result

    # -- group commit -------------------------------------------------------------------------

    def _submit(self, item: Finish) -> CommandResult:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="command-writer", daemon=True
                )
                self._thread.start()
        done: Future[CommandResult] = Future()
        self._queue.put((item, done))
        return done.result()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self._store_many([item for item, _ in batch])
            except Exception as exc:
                log.log(
                    logging.INFO if isinstance(exc, FinishedElsewhere) else logging.WARNING,
                    "a batch of %d finished commands failed; storing one by one",
                    len(batch),
                    exc_info=not isinstance(exc, FinishedElsewhere),
                )
                for item, done in batch:
                    try:
                        done.set_result(self._store_many([item])[0])
                    except BaseException as exc:
                        done.set_exception(exc)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                done.set_result(result)

    # -- storing ------------------------------------------------------------------------------

    def _store_many(self, items: list[Finish]) -> list[CommandResult]:
        """Store the items' answers and audit entries in one transaction. Plain
        UPDATE/INSERT statements rather than ORM objects, each kind executed once for the
        whole batch (one round trip to PostgreSQL, not one per command): under load this
        is the one writer every command queues for."""
        results = []
        updates: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        with Session(self.engine, expire_on_commit=False) as session:
            for item in items:
                results.append(self._stage(session, item, updates, audits))
            conn = session.connection()  # Core executemany, not the ORM's bulk modes
            if updates:
                stored = conn.execute(
                    update(Command)
                    .where(Command.id == bindparam("command_id"))  # type: ignore[arg-type]
                    .where(or_(col(Command.status) == "pending", col(Command.status) == "signed"))
                    .values(
                        status=bindparam("new_status"),
                        response_status=bindparam("new_response_status"),
                        response_body=bindparam("new_response_body"),
                        updated_at=bindparam("new_updated_at"),
                    ),
                    updates,
                )
                if stored.rowcount != len(updates):  # another process finished one first
                    session.rollback()
                    if len(items) > 1:
                        raise FinishedElsewhere()  # stored one by one: see _run
                    return [self._finished_elsewhere(items[0])]
            conn.execute(insert(AuditEntry), audits)
            try:
                session.commit()
            except IntegrityError:
                if len(items) == 1 and not isinstance(items[0].command_id, int):
                    raise KeyTaken() from None
                raise
        return results

    def _finished_elsewhere(self, item: Finish) -> CommandResult:
        """The answer another process stored for the command (it finished it first)."""
        assert isinstance(item.command_id, int)
        self.running.pop_audit(item.command_id)
        with Session(self.engine) as session:
            row = session.get(Command, item.command_id)
        assert row is not None
        if row.status in ("succeeded", "refused") and row.response_status is not None:
            log.info("command %s was finished by another process", item.command_id)
            return stored_result(row.response_status, row.response_body or "{}", replayed=False)
        raise Problem(
            409,
            "request_in_progress",
            "The same request is still running",
            f"Command {item.command_id} was taken over by another process ({row.status}); "
            "retry with the same Idempotency-Key in a moment.",
        )

    def _stage(
        self,
        session: Session,
        item: Finish,
        updates: list[dict[str, Any]],
        audits: list[dict[str, Any]],
    ) -> CommandResult:
        """Queue the item's row update (or stage its new row) and its audit entry; make
        its effect."""
        body, status, outcome = item.body, item.status, item.outcome
        stored_body = json.dumps(body, sort_keys=True)
        now = utcnow()
        if isinstance(item.command_id, int):
            fields = self.running.pop_audit(item.command_id)
            if fields is None:
                row = session.get(Command, item.command_id)
                assert row is not None
                fields = audit_fields(row)
            updates.append(
                {
                    "command_id": item.command_id,
                    "new_status": item.outcome_name,
                    "new_response_status": status,
                    "new_response_body": stored_body,
                    "new_updated_at": now,
                }
            )
        else:  # refused before signing: the row is first written here
            row = Command(
                **item.command_id,
                status=item.outcome_name,
                response_status=status,
                response_body=stored_body,
                updated_at=now,
            )
            session.add(row)
            fields = audit_fields(row)
        if item.effect is not None:
            item.effect(session)
        audits.append(
            dict(
                **fields,
                outcome=item.outcome_name,
                code=body.get("code") if status >= 400 else None,
                tx_hash=(outcome.tx_hash if outcome else body.get("tx_hash")),
                block_number=outcome.block_number if outcome else None,
                at=now,
            )
        )
        return stored_result(status, stored_body, replayed=False)
