"""Idempotent commands: one journal row per request, its transaction stored before it is
broadcast, its response stored once known.

The guarantees, and how:

* Same ``Idempotency-Key`` (per organization) -> same stored response, replayed byte for
  byte with ``Idempotent-Replayed: true``; a different request under a used key is refused
  (422 ``idempotency_key_reused``); a key whose first request is still running answers 409
  ``request_in_progress``.
* Never a second transaction: the signed raw transaction and its hash are committed
  *before* the broadcast (see :meth:`api.chain.ChainGateway.send_journaled`). A retry, or
  :meth:`CommandRunner.reconcile` at start-up, finds the hash and waits for *that*
  transaction (re-broadcasting the same bytes if the node lost it) instead of signing anew.
* A command that died before signing sent nothing; it is marked ``aborted`` at start-up
  and a retry with the same key simply runs it.
* Every command ends in the audit log: who, what, when, outcome, transaction.
* Read-your-writes: a mined command answers once the read model covers its block
  (:meth:`api.indexer.Indexer.wait_indexed`), so the caller's next read sees it.
* Several worker processes: a same-key request that finds the command ``signed`` in
  another process waits for it (409 ``request_in_progress``) instead of finishing it too,
  unless the row has not moved for ``resume_after`` seconds (its process died).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.auth import Principal
from api.chain import ChainGateway, SignedTx
from api.indexer import Indexer
from api.models import AuditEntry, Command
from api.problems import PROBLEM_JSON, Problem, problem_from_revert
from api.refusals import mark_audited
from api.timeutil import utcnow
from chain_client.errors import ContractRevert, TransactionError, TransactionTimeout
from chain_client.ledger import LedgerCall
from chain_client.ledger_types import TxOutcome

log = logging.getLogger(__name__)

#: action -> builds the response body from the outcome and the request's parameters.
Responder = Callable[[ChainGateway, TxOutcome, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ChainPlan:
    """What a command sends: as whom, and which ledger call (by its builder's name in
    ``Ledger.calls`` and arguments, so it can be rebuilt after a restart)."""

    sender: str
    builder: str
    args: tuple[Any, ...]
    status_code: int = 200


#: A command's row id, or the fields of its row before it is first stored.
CommandRef = int | dict[str, Any]


class _KeyTaken(Exception):  # noqa: N818 - control flow, not an error
    """A concurrent request with the same Idempotency-Key stored its row first."""


@dataclass(frozen=True)
class CommandContext:
    principal: Principal
    idempotency_key: str | None


@dataclass(frozen=True)
class _Finish:
    """A command's final state, to be stored."""

    command_id: CommandRef
    status: int
    body: dict[str, Any]
    outcome_name: str
    outcome: TxOutcome | None


class _GroupWriter:
    """One thread that stores finished commands in batches (group commit).

    A batch is whatever is queued when the thread is free (at most ``max_batch``): under
    no load that is one command, stored at once; under load, the commands that finished
    while the previous batch was being written, in one transaction: one commit (and one
    turn of SQLite's single write lock) instead of one per command. Each command's
    response and audit entry stay together. If a batch fails, its commands are stored
    one by one, as without the writer."""

    def __init__(self, runner: CommandRunner, max_batch: int = 64) -> None:
        self.runner = runner
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[_Finish, Future[JSONResponse]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, item: _Finish) -> JSONResponse:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="command-writer", daemon=True
                )
                self._thread.start()
        done: Future[JSONResponse] = Future()
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
                responses = self.runner._finish_many([item for item, _ in batch])
            except Exception:
                log.warning(
                    "a batch of %d finished commands failed; storing one by one",
                    len(batch),
                    exc_info=True,
                )
                for item, done in batch:
                    try:
                        done.set_result(self.runner._finish_alone(item))
                    except BaseException as exc:
                        done.set_exception(exc)
                continue
            for (_, done), response in zip(batch, responses, strict=True):
                done.set_result(response)


class CommandRunner:
    def __init__(
        self,
        engine: Engine,
        gateway: ChainGateway,
        responders: dict[str, Responder],
        indexer: Indexer | None = None,
        *,
        resume_after: float | None = None,
        read_model_timeout: float = 10.0,
        read_engine: Engine | None = None,
    ) -> None:
        """``resume_after``: None when this process is the only one serving the
        database (a ``signed`` command not running here was left by a dead process and
        is resumed at once); with several worker processes, the seconds a ``signed``
        row must have stood still before another process may resume it."""
        self.engine = engine
        self.read_engine = read_engine or engine  # lookups outside a write
        self.gateway = gateway
        self.responders = responders
        self.indexer = indexer
        self.resume_after = resume_after
        self.read_model_timeout = read_model_timeout
        self._writer = _GroupWriter(self)
        self._inflight: set[int] = set()
        #: what the audit entry of a running command needs, kept from its journal commit
        #: so that finishing it does not read its row back
        self._audit_fields: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    def run_chain(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        params: dict[str, Any],
        plan: Callable[[], ChainPlan],
    ) -> JSONResponse:
        """Run a command that sends one ledger transaction.

        A new command is first written by the commit that journals its signed transaction
        (before the broadcast) or, if it is refused before signing, by the commit that
        stores the refusal: no separate commit to claim the key. Two requests racing with
        the same key both get that far; the unique key lets one commit and the other
        answers as a retry would (nothing of it was broadcast)."""
        claimed = self._claim(ctx, action, target, params, store=False)
        if isinstance(claimed, JSONResponse):
            return claimed
        ref: CommandRef = claimed
        journaled: list[int] = []  # the row id, once the journal commit stored it
        try:
            try:
                chosen = plan()
            except Problem as problem:
                return self._finish_problem(ref, problem)
            except ContractRevert as exc:
                return self._finish_problem(ref, problem_from_revert(exc))
            call = self._call(chosen.builder, chosen.args)

            def on_signed(j: SignedTx) -> None:  # again if the nonce was taken: same row
                journaled.append(self._journal(journaled[-1] if journaled else ref, j, chosen))

            try:
                journal = self.gateway.send_journaled(chosen.sender, call, on_signed)
            except ContractRevert as exc:  # refused at estimation: nothing was signed
                return self._finish_problem(ref, problem_from_revert(exc))
            except TransactionError as exc:
                if journaled or isinstance(ref, int):
                    self._set_status(journaled[-1] if journaled else ref, "aborted")
                raise Problem(
                    503,
                    "chain_unavailable",
                    "The chain did not take the transaction",
                    f"{exc}. Nothing was recorded; retry with the same Idempotency-Key.",
                ) from exc
            ref = journaled[-1]
            # the request as stored (through JSON), so a resumed command answers the same
            request = json.loads(json.dumps(params, default=str))
            return self._complete(ref, journal, call, chosen.status_code, action, request)
        except _KeyTaken:  # a concurrent request with the same key stored its row first
            again = self._claim(ctx, action, target, params, store=False)
            if isinstance(again, JSONResponse):
                return again
            if isinstance(again, int):  # re-took a row that aborted meanwhile: leave it
                self._set_status(again, "aborted")
                with self._lock:
                    self._inflight.discard(again)
            raise Problem(
                409,
                "request_in_progress",
                "The same request is still running",
                "A request with this Idempotency-Key is in progress; retry in a moment.",
            ) from None
        finally:
            with self._lock:
                for command_id in (*journaled, *([ref] if isinstance(ref, int) else [])):
                    self._inflight.discard(command_id)
                    self._audit_fields.pop(command_id, None)

    def run_local(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        params: dict[str, Any],
        work: Callable[[], tuple[int, dict[str, Any]]],
        redact: tuple[str, ...] = (),
    ) -> JSONResponse:
        """Run a command whose effects are in the database (or state-checked chain steps):
        ``work`` returns (status, body) and must be safe to re-run after a crash.
        ``redact``: fields answered once but never stored (a new API key): a replay shows
        them as withheld."""
        claimed = self._claim(ctx, action, target, params)
        if isinstance(claimed, JSONResponse):
            return claimed
        command_id = claimed
        try:
            try:
                status, body = work()
            except Problem as problem:
                return self._finish_problem(command_id, problem)
            except ContractRevert as exc:
                return self._finish_problem(command_id, problem_from_revert(exc))
            stored = {
                k: ("(withheld: shown only once)" if k in redact else v) for k, v in body.items()
            }
            response = self._finish(command_id, status, stored, "succeeded", None)
            if redact:
                return JSONResponse(body, status_code=status)
            return response
        finally:
            with self._lock:
                self._inflight.discard(command_id)

    def reconcile(self) -> dict[str, int]:
        """At start-up: settle every command a previous process left unfinished."""
        counts = {"completed": 0, "aborted": 0}
        with Session(self.engine) as session:
            rows = session.exec(
                select(Command).where(Command.status.in_(("pending", "signed")))  # type: ignore[attr-defined]
            ).all()
        for row in rows:
            assert row.id is not None
            if row.status == "pending" or not row.tx_hash:
                self._set_status(row.id, "aborted")
                counts["aborted"] += 1
                continue
            try:
                self._resume(row)
                counts["completed"] += 1
            except Exception:  # one bad row must not stop the service from starting
                log.exception("could not reconcile command %s", row.id)
        return counts

    def reconcile_abandoned(self) -> dict[str, int]:
        """While serving, with several worker processes: finish commands a dead worker left
        ``signed`` (the row has not moved for ``resume_after`` seconds), as start-up does.
        Run by the indexing process every few seconds. Without it such a command kept its
        transaction's outcome out of the journal and the audit log until a same-key retry
        or the next restart."""
        counts = {"completed": 0, "aborted": 0}
        if self.resume_after is None:  # one process: nothing signed here is abandoned
            return counts
        cutoff = utcnow() - timedelta(seconds=self.resume_after)
        with Session(self.read_engine) as session:
            rows = session.exec(
                select(Command).where(Command.status == "signed").where(Command.updated_at < cutoff)  # type: ignore[arg-type]
            ).all()
        for row in rows:
            if row.id in self._inflight:
                continue
            try:
                if self._resume_abandoned(row) is not None:
                    counts["completed"] += 1
            except Problem as problem:  # its transaction can never be mined: aborted
                log.warning("abandoned command %s: %s", row.id, problem.code)
                counts["aborted"] += 1
            except Exception:  # the next pass retries
                log.exception("could not finish abandoned command %s", row.id)
        if any(counts.values()):
            log.info("finished commands abandoned by a dead worker: %s", counts)
        return counts

    def _resume_abandoned(self, row: Command) -> JSONResponse | None:
        """Finish a ``signed`` row another process abandoned, if this process takes it
        over first (None: another process did, or its owner moved it)."""
        if not self._take_over(row):
            return None
        try:
            return self._resume(row)
        finally:
            with self._lock:
                self._inflight.discard(row.id)

    def _take_over(self, row: Command) -> bool:
        """Claim an abandoned ``signed`` row for this process: its ``updated_at`` moves
        only if nobody else moved it first (another process taking it over, or its
        owner finishing it), so one process resumes it."""
        assert row.id is not None
        with Session(self.engine) as session:
            taken = session.exec(  # type: ignore[call-overload]
                update(Command)
                .where(Command.id == row.id)  # type: ignore[arg-type]
                .where(Command.status == "signed")  # type: ignore[arg-type]
                .where(Command.updated_at == row.updated_at)  # type: ignore[arg-type]
                .values(updated_at=utcnow())
            )
            session.commit()
        if taken.rowcount != 1:
            return False
        with self._lock:
            self._inflight.add(row.id)
        return True

    # -- claiming a key ---------------------------------------------------------------------

    def _claim(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        params: dict[str, Any],
        *,
        store: bool = True,
    ) -> CommandRef | JSONResponse:
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
            seen = self._command_for_key(principal.org_id, ctx.idempotency_key)
            if seen is None:
                return fields
            return self._used_key(seen, fingerprint)
        row = Command(**fields)
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            try:
                session.commit()
                assert row.id is not None
                with self._lock:
                    self._inflight.add(row.id)
                return row.id
            except IntegrityError:
                session.rollback()
        # The key was used before.
        existing = self._command_for_key(principal.org_id, ctx.idempotency_key)
        assert existing is not None  # the unique key refused our row
        return self._used_key(existing, fingerprint)

    def _command_for_key(self, org_id: int, key: str | None) -> Command | None:
        with Session(self.read_engine) as session:
            return session.exec(
                select(Command)
                .where(Command.org_id == org_id)
                .where(Command.idempotency_key == key)
            ).first()

    def _used_key(self, existing: Command, fingerprint: str) -> int | JSONResponse:
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
            return _replay(existing)
        if (
            existing.status == "signed"
            and existing.id not in self._inflight
            and self._abandoned(existing)
        ):
            if self.resume_after is None:
                return self._resume(existing)
            resumed = self._resume_abandoned(existing)
            if resumed is not None:
                return resumed
        if existing.status == "aborted":
            with Session(self.engine) as session:
                taken = session.exec(  # type: ignore[call-overload]
                    update(Command)
                    .where(Command.id == existing.id)  # type: ignore[arg-type]
                    .where(Command.status == "aborted")  # type: ignore[arg-type]
                    .values(status="pending", updated_at=utcnow())
                )
                session.commit()
            if taken.rowcount == 1:
                with self._lock:
                    self._inflight.add(existing.id)
                return existing.id
        raise Problem(
            409,
            "request_in_progress",
            "The same request is still running",
            "A request with this Idempotency-Key is in progress; retry in a moment.",
        )

    # -- sending and finishing --------------------------------------------------------------

    def _call(self, builder: str, args: tuple[Any, ...]) -> LedgerCall:
        return getattr(self.gateway.ledger.calls, builder)(*args)  # type: ignore[no-any-return]

    def _journal(self, ref: CommandRef, journal: SignedTx, plan: ChainPlan) -> int:
        """One commit before the broadcast: the signed transaction and the plan it was
        built from (how to rebuild the call after a restart); for a new command, its row
        too. A command that dies before this commit sent nothing: it left no row (or a
        ``pending`` one, which start-up aborts) and a retry runs it.

        A new command's row is one ``INSERT ... RETURNING`` (every command pays this
        commit while it holds its account's nonce; the ORM's unit of work cost more
        than the statement)."""
        with Session(self.engine, expire_on_commit=False) as session:
            if isinstance(ref, int):
                row = session.get(Command, ref)
                assert row is not None
                audit = _audit_fields(row)
                fields: dict[str, Any] = {"params": row.params}
            else:
                fields = dict(ref)
                audit = _audit_fields(fields)
            params = json.loads(fields["params"])
            params["call"] = {
                "builder": plan.builder,
                "args": _encode_args(plan.args),
                "sender": plan.sender,
                "status_code": plan.status_code,
            }
            now = utcnow()
            fields.update(
                params=json.dumps(params, sort_keys=True),
                status="signed",
                sender=journal.sender,
                nonce=journal.nonce,
                tx_hash=journal.tx_hash,
                raw_tx=journal.raw,
                updated_at=now,
            )
            try:
                if isinstance(ref, int):
                    session.execute(
                        update(Command)
                        .where(Command.id == ref)  # type: ignore[arg-type]
                        .values(**fields)
                    )
                    command_id = ref
                else:
                    command_id = session.execute(
                        insert(Command).values(**fields, created_at=now).returning(Command.id)  # type: ignore[arg-type]
                    ).scalar_one()
            except IntegrityError:
                session.rollback()
                raise _KeyTaken() from None
            with self._lock:  # before the commit: a same-key retry must see it running
                self._inflight.add(command_id)
                self._audit_fields[command_id] = audit
            session.commit()
            return int(command_id)

    def _abandoned(self, row: Command) -> bool:
        """Whether a ``signed`` row not running in this process may be resumed here."""
        if self.resume_after is None:
            return True
        updated = row.updated_at
        if updated.tzinfo is None:  # SQLite hands back naive UTC
            updated = updated.replace(tzinfo=utcnow().tzinfo)
        return (utcnow() - updated).total_seconds() >= self.resume_after

    def _complete(
        self,
        command_id: int,
        journal: SignedTx,
        call: LedgerCall,
        status_code: int,
        action: str,
        request: dict[str, Any],
    ) -> JSONResponse:
        try:
            outcome = self.gateway.wait(journal, call)
        except ContractRevert as exc:  # mined and reverted: a refusal, recorded
            return self._finish_problem(command_id, problem_from_revert(exc), journal.tx_hash)
        except TransactionTimeout as exc:
            raise Problem(
                503,
                "transaction_pending",
                "The transaction is not mined yet",
                f"Transaction {journal.tx_hash} was sent but is not mined yet; retry with the "
                "same Idempotency-Key to get its result (it will not be sent twice).",
                tx_hash=journal.tx_hash,
            ) from exc
        body = self.responders[action](self.gateway, outcome, request)
        body.setdefault("tx_hash", outcome.tx_hash)
        body.setdefault("block_number", outcome.block_number)
        if self.indexer is not None and not self.indexer.wait_indexed(
            outcome.block_number, self.read_model_timeout
        ):
            log.warning(
                "read model not at block %d after %.0f s; answering command %s",
                outcome.block_number,
                self.read_model_timeout,
                command_id,
            )
        return self._finish(command_id, status_code, body, "succeeded", outcome)

    def _resume(self, row: Command) -> JSONResponse:
        """Finish a command whose transaction was journaled by an earlier attempt."""
        assert row.id is not None and row.tx_hash and row.raw_tx and row.sender
        params = json.loads(row.params)
        spec = params["call"]
        call = self._call(spec["builder"], tuple(_decode_args(spec["args"])))
        journal = SignedTx(row.sender, int(row.nonce or 0), row.tx_hash, row.raw_tx)
        if self.gateway.receipt(journal.tx_hash) is None:
            known = True
            try:
                self.gateway.w3.eth.get_transaction(journal.tx_hash)  # type: ignore[arg-type]
            except Exception:
                known = False
            if not known:
                if self.gateway.mined_nonce(journal.sender) > journal.nonce:
                    # our nonce went to another transaction: ours can never be mined
                    self._set_status(row.id, "aborted")
                    raise Problem(
                        409,
                        "transaction_replaced",
                        "The transaction was superseded",
                        "The stored transaction can no longer be mined; retry the request.",
                    )
                self.gateway.broadcast_raw(journal)
        return self._complete(
            row.id, journal, call, int(spec.get("status_code", 200)), row.action, params["request"]
        )

    def _finish_problem(
        self, ref: CommandRef, problem: Problem, tx_hash: str | None = None
    ) -> JSONResponse:
        body = problem.body()
        if tx_hash:
            body["tx_hash"] = tx_hash
        response = self._finish(ref, problem.status, body, "refused", None)
        mark_audited()  # stored with its audit entry: the middleware must not add another
        return response

    def _finish(
        self,
        command_id: CommandRef,
        status: int,
        body: dict[str, Any],
        outcome_name: str,
        outcome: TxOutcome | None,
    ) -> JSONResponse:
        """One transaction: the response and the audit entry. Mined commands go through
        :class:`_GroupWriter` (many of them finish at once under load)."""
        item = _Finish(command_id, status, body, outcome_name, outcome)
        if outcome is not None and isinstance(command_id, int):
            return self._writer.submit(item)
        return self._finish_alone(item)

    def _finish_alone(self, item: _Finish) -> JSONResponse:
        return self._finish_many([item])[0]

    def _finish_many(self, items: list[_Finish]) -> list[JSONResponse]:
        """Store the items' responses and audit entries in one transaction. Plain
        UPDATE/INSERT statements rather than ORM objects, each kind executed once for the
        whole batch (one round trip to PostgreSQL, not one per command): under load this
        is the one writer every command queues for."""
        responses = []
        updates: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        with Session(self.engine, expire_on_commit=False) as session:
            for item in items:
                responses.append(self._stage_finish(session, item, updates, audits))
            conn = session.connection()  # Core executemany, not the ORM's bulk modes
            if updates:
                conn.execute(
                    update(Command)
                    .where(Command.id == bindparam("command_id"))  # type: ignore[arg-type]
                    .values(
                        status=bindparam("new_status"),
                        response_status=bindparam("new_response_status"),
                        response_body=bindparam("new_response_body"),
                        updated_at=bindparam("new_updated_at"),
                    ),
                    updates,
                )
            conn.execute(insert(AuditEntry), audits)
            try:
                session.commit()
            except IntegrityError:
                if len(items) == 1 and not isinstance(items[0].command_id, int):
                    raise _KeyTaken() from None
                raise
        return responses

    def _stage_finish(
        self,
        session: Session,
        item: _Finish,
        updates: list[dict[str, Any]],
        audits: list[dict[str, Any]],
    ) -> JSONResponse:
        """Queue the item's row update (or stage its new row) and its audit entry."""
        body, status, outcome = item.body, item.status, item.outcome
        stored_body = json.dumps(body, sort_keys=True)
        now = utcnow()
        if isinstance(item.command_id, int):
            with self._lock:
                fields = self._audit_fields.pop(item.command_id, None)
            if fields is None:
                row = session.get(Command, item.command_id)
                assert row is not None
                fields = _audit_fields(row)
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
            fields = _audit_fields(row)
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
        return _response(status, stored_body, replayed=False)

    def _set_status(self, command_id: int, status: str) -> None:
        with Session(self.engine) as session:
            row = session.get(Command, command_id)
            if row is not None:
                row.status = status
                row.updated_at = utcnow()
                session.add(row)
                session.commit()


def _replay(row: Command) -> JSONResponse:
    return _response(int(row.response_status or 200), row.response_body or "{}", replayed=True)


def _response(status: int, stored_body: str, *, replayed: bool) -> JSONResponse:
    """The answer as stored: the first answer and every replay are the same bytes."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(
        json.loads(stored_body),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON if status >= 400 else "application/json",
    )


def _audit_fields(values: Command | dict[str, Any]) -> dict[str, Any]:
    """The audit entry's who/what, from the command's row or the fields of one being
    stored."""
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


def _fingerprint(action: str, target: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([action, target, params], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _encode_args(args: tuple[Any, ...]) -> list[Any]:
    return [
        {"bytes": "0x" + bytes(a).hex()} if isinstance(a, bytes | bytearray) else a for a in args
    ]


def _decode_args(args: list[Any]) -> list[Any]:
    return [
        bytes.fromhex(a["bytes"][2:]) if isinstance(a, dict) and "bytes" in a else a for a in args
    ]
