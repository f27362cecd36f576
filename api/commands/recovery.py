"""Finishing commands whose process stopped after journaling their transaction: at
start-up (every unfinished row of a previous process) and while serving (rows a dead
worker left ``signed``, and rows whose request answered 503 while the node was down).

A row is resumed by one process: it is first taken over by a compare-and-set of its
``updated_at`` (an UPDATE, so the database's row lock decides between processes racing
for it, on any machine), and its owner, if alive, can then neither sign it again nor
finish it twice (:meth:`~api.commands.journal.Journal.record_signed`,
:class:`~api.commands.writer.CommandWriter`). Why a committed claim rather than a row
held ``FOR UPDATE SKIP LOCKED``: resuming waits for a receipt, up to the transaction
timeout, and a lock held that long would block the owner's own finish; the claim says
"taken" for as long as it is needed and costs nothing once the row is finished."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from api.chain import ChainGateway, SignedTx
from api.commands.catalogue import ChainPlan
from api.commands.completion import Completion, replaced
from api.commands.journal import Journal
from api.commands.replay import CommandResult
from api.models import Command
from api.problems import Problem, node_down
from api.timeutil import utcnow
from chain_client.errors import TransactionReplaced

log = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        journal: Journal,
        completion: Completion,
        gateway: ChainGateway,
        resume_after: float | None,
    ) -> None:
        """``resume_after``: None when this process is the only one serving the
        database (a ``signed`` command not running here was left by a dead process, or
        answered 503 while the node was down, and is resumed at once); with several
        worker processes, the seconds a ``signed`` row must have stood still before
        another process may resume it."""
        self.journal = journal
        self.completion = completion
        self.gateway = gateway
        self.resume_after = resume_after

    def reconcile(self, *, alone: bool = True) -> dict[str, int]:
        """At start-up: settle every command a previous process left unfinished.

        ``alone``: no other process serves the database now (SQLite: the server's parent
        runs this before its workers start). On PostgreSQL other instances may be serving
        (``alone=False``): a ``pending`` row may be one of theirs, still planning, and is
        aborted only once it has stood still for ``resume_after`` seconds; a ``signed``
        row is taken over and finished at once as alone (an owner still running it
        finishes it first or gets this answer, never a second transaction)."""
        counts = {"completed": 0, "aborted": 0}
        cutoff = utcnow() - timedelta(seconds=self.resume_after or 0)
        for row in self.journal.unfinished():
            assert row.id is not None
            if row.status == "pending" or not row.tx_hash:
                if alone:
                    self.journal.set_status(row.id, "aborted")
                    counts["aborted"] += 1
                elif _stamp(row) < cutoff and self.journal.abort_if_unmoved(row):
                    counts["aborted"] += 1
                continue
            try:
                if self.resume_abandoned(row) is not None:
                    counts["completed"] += 1
            except Exception:  # one bad row must not stop the service from starting
                log.exception("could not reconcile command %s", row.id)
        return counts

    def reconcile_abandoned(self) -> dict[str, int]:
        """While serving: finish commands left ``signed`` by a dead worker (with several
        worker processes, the row has not moved for ``resume_after`` seconds) or by a
        request that answered 503 because the node was down or the transaction not mined
        in time (any ``signed`` row this process does not run, with one process), as
        start-up does. Run by the indexing process every few seconds. Without it such a
        command kept its transaction's outcome out of the journal and the audit log until
        a same-key retry or the next restart."""
        counts = {"completed": 0, "aborted": 0}
        cutoff = utcnow() - timedelta(seconds=self.resume_after or 0)
        if self.resume_after is not None:
            # a pending row of a dead process (it never signed): its key runs again
            for row in self.journal.pending_before(cutoff):
                if row.id not in self.journal.running and self.journal.abort_if_unmoved(row):
                    counts["aborted"] += 1
        for row in self.journal.signed_before(cutoff):
            if row.id in self.journal.running:
                continue
            try:
                if self.resume_abandoned(row) is not None:
                    counts["completed"] += 1
            except Problem as problem:
                if problem.status == 503:  # the node is still down: the next pass retries
                    log.info("abandoned command %s: %s", row.id, problem.code)
                    continue
                log.warning("abandoned command %s: %s", row.id, problem.code)
                counts["aborted"] += 1  # its transaction can never be mined: aborted
            except Exception:  # the next pass retries
                log.exception("could not finish abandoned command %s", row.id)
        if any(counts.values()):
            log.info("finished commands abandoned by a dead worker: %s", counts)
        return counts

    def abandoned(self, row: Command) -> bool:
        """Whether a ``signed`` row not running in this process may be resumed here."""
        if self.resume_after is None:
            return True
        return (utcnow() - _stamp(row)).total_seconds() >= self.resume_after

    def resume_abandoned(self, row: Command) -> CommandResult | None:
        """Finish a ``signed`` row another process abandoned, if this process takes it
        over first (None: another process did, or its owner moved it)."""
        if not self.journal.take_over(row):
            return None
        assert row.id is not None
        try:
            return self.resume(row)
        finally:
            self.journal.running.done(row.id)

    def resume(self, row: Command) -> CommandResult:
        """Finish a command whose transaction was journaled by an earlier attempt."""
        assert row.id is not None and row.tx_hash and row.raw_tx and row.sender
        params = json.loads(row.params)
        # the entry is found by the action stored
        plan = ChainPlan.from_spec(row.action, params["call"])
        command = plan.command
        call = plan.ledger_call(self.gateway.ledger.calls)
        signed = SignedTx(row.sender, int(row.nonce or 0), row.tx_hash, row.raw_tx)
        try:
            self._send_again_if_lost(row.id, signed)
        except TransactionReplaced as exc:
            self.journal.set_status(row.id, "aborted")
            raise replaced() from exc
        except Exception as exc:  # the node down: the row stays signed for the next try
            problem = self.completion.unfinished(signed, exc)
            if problem is None:
                raise
            raise problem from exc
        return self.completion.complete(row.id, signed, call, command, params["request"])

    def _send_again_if_lost(self, command_id: int, signed: SignedTx) -> None:
        """Broadcast the journaled bytes again unless the node has them or mined them
        (a node restarted since may have lost its pool, or never got them)."""
        if self.gateway.receipt(signed.tx_hash) is not None:
            return
        try:
            self.gateway.w3.eth.get_transaction(signed.tx_hash)  # type: ignore[arg-type]
            return
        except Exception as exc:
            if node_down(exc):
                raise
        if self.gateway.mined_nonce(signed.sender) > signed.nonce:
            if self.gateway.receipt(signed.tx_hash) is not None:
                return  # mined between the two reads: ours took the nonce
            # our nonce went to another transaction: ours can never be mined
            self.journal.set_status(command_id, "aborted")
            raise replaced()
        self.gateway.broadcast_raw(signed)


def _stamp(row: Command) -> datetime:
    """A row's ``updated_at`` as an aware UTC time (SQLite hands back naive UTC)."""
    updated = row.updated_at
    return updated if updated.tzinfo is not None else updated.replace(tzinfo=UTC)
