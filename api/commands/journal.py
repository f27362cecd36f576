"""The command journal: a command's row before it is finished (claimed, signed, aborted,
taken over), and the registry of the rows this process is running.

The commit that matters is :meth:`Journal.record_signed`: the signed transaction and the
plan it was built from are stored before the broadcast, so after a crash the stored hash
says whether it was mined and the stored bytes can be sent again as they are."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.chain import SignedTx
from api.commands.replay import audit_fields
from api.models import Command
from api.timeutil import utcnow
from chain_client.encoding import to_hex

#: A command's row id, or the fields of its row before it is first stored.
CommandRef = int | dict[str, Any]


class KeyTaken(Exception):  # noqa: N818 - control flow, not an error
    """A concurrent request with the same Idempotency-Key stored its row first."""


class Running:
    """The commands this process is running now (a same-key request must not finish one
    of them too), and what the audit entry of each needs, kept from its journal commit so
    that finishing it does not read its row back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self._audit: dict[int, dict[str, Any]] = {}
        #: the ``updated_at`` each row got from this process's last journal commit
        self._stamps: dict[int, datetime] = {}

    def add(self, command_id: int, audit: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._ids.add(command_id)
            if audit is not None:
                self._audit[command_id] = audit

    def done(self, *command_ids: int) -> None:
        with self._lock:
            for command_id in command_ids:
                self._ids.discard(command_id)
                self._audit.pop(command_id, None)
                self._stamps.pop(command_id, None)

    def stamp(self, command_id: int, at: datetime | None = None) -> datetime | None:
        """The ``updated_at`` this process last journaled for a row it runs (with ``at``:
        record it)."""
        with self._lock:
            if at is not None:
                self._stamps[command_id] = at
            return self._stamps.get(command_id)

    def __contains__(self, command_id: object) -> bool:
        with self._lock:
            return command_id in self._ids

    def pop_audit(self, command_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._audit.pop(command_id, None)


class Journal:
    """Reads and writes of command rows up to their finish (the finish itself:
    :mod:`api.commands.writer`)."""

    def __init__(self, engine: Engine, read_engine: Engine, running: Running) -> None:
        self.engine = engine
        self.read_engine = read_engine  # lookups outside a write
        self.running = running

    def for_key(self, org_id: int, key: str | None) -> Command | None:
        with Session(self.read_engine) as session:
            return session.exec(
                select(Command)
                .where(Command.org_id == org_id)
                .where(Command.idempotency_key == key)
            ).first()

    def insert_pending(self, fields: dict[str, Any]) -> int | None:
        """A new ``pending`` row, running here; None if its key is taken."""
        row = Command(**fields)
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
        assert row.id is not None
        self.running.add(row.id)
        return row.id

    def record_signed(self, ref: CommandRef, signed: SignedTx, call: dict[str, Any]) -> int:
        """One commit before the broadcast: the signed transaction and ``call``, the plan
        it was built from (how to rebuild it after a restart); for a new command, its row
        too. A command that dies before this commit sent nothing: it left no row (or a
        ``pending`` one, which start-up aborts) and a retry runs it.

        A new command's row is one ``INSERT ... RETURNING`` (every command pays this
        commit while it holds its account's nonce; the ORM's unit of work cost more
        than the statement).

        A stored row is updated only if it is still as this process left it: ``pending``
        (a re-taken row signing first), or, when its call is signed again because the
        nonce was taken, ``signed`` with the ``updated_at`` of this process's previous
        journal commit. Otherwise another process aborted it or took it over (and may
        have broadcast the stored bytes: a second transaction would run the command
        twice), and :class:`KeyTaken` is raised before anything of this attempt is
        broadcast."""
        with Session(self.engine, expire_on_commit=False) as session:
            if isinstance(ref, int):
                row = session.get(Command, ref)
                assert row is not None
                audit = audit_fields(row)
                fields: dict[str, Any] = {"params": row.params}
            else:
                fields = dict(ref)
                audit = audit_fields(fields)
            params = json.loads(fields["params"])
            params["call"] = call
            now = utcnow()
            fields.update(
                params=json.dumps(params, sort_keys=True),
                status="signed",
                sender=signed.sender,
                nonce=signed.nonce,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw,
                updated_at=now,
            )
            try:
                if isinstance(ref, int):
                    previous = self.running.stamp(ref)
                    query = update(Command).where(col(Command.id) == ref)
                    if previous is None:
                        query = query.where(col(Command.status) == "pending")
                    else:
                        query = query.where(col(Command.status) == "signed").where(
                            col(Command.updated_at) == previous
                        )
                    if session.execute(query.values(**fields)).rowcount != 1:  # type: ignore[attr-defined]
                        session.rollback()
                        raise KeyTaken()
                    command_id = ref
                else:
                    command_id = session.execute(
                        insert(Command).values(**fields, created_at=now).returning(col(Command.id))
                    ).scalar_one()
            except IntegrityError:
                session.rollback()
                raise KeyTaken() from None
            # before the commit: a same-key retry must see it running
            self.running.add(command_id, audit)
            self.running.stamp(command_id, now)
            session.commit()
            return int(command_id)

    def set_status(self, command_id: int, status: str) -> None:
        with Session(self.engine) as session:
            row = session.get(Command, command_id)
            if row is not None:
                row.status = status
                row.updated_at = utcnow()
                session.add(row)
                session.commit()

    def retake_aborted(self, command_id: int) -> bool:
        """An ``aborted`` row back to ``pending`` and running here, unless another
        request re-took it first."""
        with Session(self.engine) as session:
            taken = session.exec(
                update(Command)
                .where(col(Command.id) == command_id)
                .where(col(Command.status) == "aborted")
                .values(status="pending", updated_at=utcnow())
            )
            session.commit()
        if taken.rowcount != 1:
            return False
        self.running.add(command_id)
        return True

    def take_over(self, row: Command) -> bool:
        """Claim an abandoned ``signed`` row for this process: its ``updated_at`` moves
        only if nobody else moved it first (another process taking it over, or its
        owner finishing it), so one process resumes it."""
        assert row.id is not None
        with Session(self.engine) as session:
            taken = session.exec(
                update(Command)
                .where(col(Command.id) == row.id)
                .where(col(Command.status) == "signed")
                .where(col(Command.updated_at) == row.updated_at)
                .values(updated_at=utcnow())
            )
            session.commit()
        if taken.rowcount != 1:
            return False
        self.running.add(row.id)
        return True

    def abort_if_unmoved(self, row: Command) -> bool:
        """A ``pending`` row to ``aborted`` unless it moved since it was read (its owner
        signing it, or another process aborting or re-taking it first)."""
        assert row.id is not None
        with Session(self.engine) as session:
            taken = session.exec(
                update(Command)
                .where(col(Command.id) == row.id)
                .where(col(Command.status) == "pending")
                .where(col(Command.updated_at) == row.updated_at)
                .values(status="aborted", updated_at=utcnow())
            )
            session.commit()
        return bool(taken.rowcount == 1)

    def pending_before(self, cutoff: datetime) -> list[Command]:
        """``pending`` rows that have not moved since ``cutoff``."""
        return self._unmoved_since("pending", cutoff)

    def unfinished(self) -> list[Command]:
        """Rows a previous process left ``pending`` or ``signed``."""
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(Command).where(col(Command.status).in_(("pending", "signed")))
                ).all()
            )

    def signed_before(self, cutoff: datetime) -> list[Command]:
        """``signed`` rows that have not moved since ``cutoff``."""
        return self._unmoved_since("signed", cutoff)

    def _unmoved_since(self, status: str, cutoff: datetime) -> list[Command]:
        with Session(self.read_engine) as session:
            return list(
                session.exec(
                    select(Command)
                    .where(col(Command.status) == status)
                    .where(col(Command.updated_at) < cutoff)
                ).all()
            )


def encode_args(args: tuple[Any, ...] | list[Any]) -> list[Any]:
    """A ledger call's arguments as JSON (bytes as ``{"bytes": "0x…"}``)."""
    return [_encode(a) for a in args]


def decode_args(args: list[Any]) -> list[Any]:
    return [_decode(a) for a in args]


def encode_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: _encode(value) for name, value in kwargs.items()}


def decode_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode(value) for name, value in kwargs.items()}


def _encode(value: Any) -> Any:
    return {"bytes": to_hex(value)} if isinstance(value, bytes | bytearray) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "bytes" in value:
        return bytes.fromhex(value["bytes"][2:])
    return value
