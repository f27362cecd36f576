"""The order of a command's steps: claim its key, plan it, journal and send its
transaction, wait and finish, each step in its own module (see :mod:`api.commands`).
Returns a :class:`~api.commands.replay.CommandResult`, never an HTTP response."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from api.auth import MAKER, require_duty
from api.chain import ChainGateway, SignedTx
from api.commands.approvals import Approvals
from api.commands.catalogue import ChainCommand, ChainPlan
from api.commands.claims import Claims, CommandContext, in_progress
from api.commands.completion import Completion
from api.commands.journal import CommandRef, Journal, KeyTaken, Running
from api.commands.recovery import Recovery
from api.commands.replay import CommandResult
from api.commands.signatures import Signatures
from api.commands.writer import CommandWriter
from api.indexer import Indexer
from api.problems import Problem, node_down, node_unavailable, problem_from_revert
from chain_client.errors import ContractRevert, TransactionError
from chain_client.signers import OwnSigner

log = logging.getLogger(__name__)


def rejected(exc: BaseException) -> Problem:
    """The node refused the signed transaction (not a revert: its own rules, a full pool,
    gas the account cannot pay for) and holds nothing of it: the command is aborted, and a
    retry with the same Idempotency-Key runs it anew."""
    return Problem(
        503,
        "transaction_rejected",
        "The node did not take the transaction",
        f"{exc}. Nothing was recorded; retry with the same Idempotency-Key.",
    )


class CommandRunner:
    def __init__(
        self,
        engine: Engine,
        gateway: ChainGateway,
        indexer: Indexer | None = None,
        *,
        resume_after: float | None = None,
        read_model_timeout: float = 10.0,
        read_engine: Engine | None = None,
        approval_window: float = 24 * 3600.0,
        signature_window: float = 15 * 60.0,
    ) -> None:
        """``resume_after``: see :class:`~api.commands.recovery.Recovery`;
        ``approval_window``: see :class:`~api.commands.approvals.Approvals`;
        ``signature_window``: see :class:`~api.commands.signatures.Signatures`."""
        self.gateway = gateway
        self.journal = Journal(engine, read_engine or engine, Running())
        self.writer = CommandWriter(engine, self.journal.running)
        self.completion = Completion(
            gateway, self.writer, indexer, read_model_timeout, self.journal
        )
        self.recovery = Recovery(self.journal, self.completion, gateway, resume_after)
        self.claims = Claims(self.journal, self.recovery)
        self.approvals = Approvals(
            engine, read_engine or engine, gateway, self.journal.running, approval_window
        )
        self.approvals.send = self.send
        self.signatures = Signatures(
            engine,
            read_engine or engine,
            gateway,
            self.journal.running,
            self.writer,
            self.completion,
            self.recovery,
            self.approvals.facts,
            signature_window,
        )

    @property
    def resume_after(self) -> float | None:
        return self.recovery.resume_after

    @resume_after.setter
    def resume_after(self, seconds: float | None) -> None:
        self.recovery.resume_after = seconds

    def reconcile(self) -> dict[str, int]:
        """At start-up: :meth:`Recovery.reconcile <api.commands.recovery.Recovery.reconcile>`."""
        return self.recovery.reconcile()

    def reconcile_abandoned(self) -> dict[str, int]:
        """While serving: :meth:`Recovery.reconcile_abandoned
        <api.commands.recovery.Recovery.reconcile_abandoned>`."""
        return self.recovery.reconcile_abandoned()

    def run_chain(
        self,
        ctx: CommandContext,
        command: ChainCommand[...],
        target: str,
        params: dict[str, Any],
        plan: Callable[[], ChainPlan],
    ) -> CommandResult:
        """Run a command that sends one ledger transaction: ``plan`` checks the request
        and returns ``command.plan(...)`` (or raises the :class:`Problem` that refuses it).

        A new command is first written by the commit that journals its signed transaction
        (before the broadcast) or, if it is refused before signing, by the commit that
        stores the refusal: no separate commit to claim the key. Two requests racing with
        the same key both get that far; the unique key lets one commit and the other
        answers as a retry would (nothing of it was broadcast).

        The node down before anything was signed: 503 ``node_unavailable``, nothing
        recorded. Once the transaction is journaled its command never signs another: a
        broadcast that fails because the node went down (it may have read the bytes) is
        waited for like a sent one, the wait sending the same bytes again; only a refusal
        by the node (chain_client raises it once the chain shows nothing of those bytes
        pending) aborts it, 503 ``transaction_rejected``.

        Only a key with the maker duty starts one (403 ``wrong_duty``, nothing recorded)."""
        require_duty(MAKER, ctx.principal)
        claimed = self.claims.claim(ctx, command.action, target, params, store=False)
        if isinstance(claimed, CommandResult):
            return claimed
        ref: CommandRef = claimed
        try:
            try:
                chosen = plan()
            except Problem as problem:
                return self.writer.refuse(ref, problem)
            except ContractRevert as exc:
                return self.writer.refuse(ref, problem_from_revert(exc))
            if chosen.command is not command:
                raise TypeError(f"a plan of {chosen.command.action} run as {command.action}")
            waiting = self.approvals.park_if_needed(ref, ctx.principal, chosen)
            if waiting is not None:
                return waiting
            return self.send(ref, chosen, params)
        except KeyTaken:  # a concurrent request with the same key stored its row first
            again = self.claims.claim(ctx, command.action, target, params, store=False)
            if isinstance(again, CommandResult):
                return again
            if isinstance(again, int):  # re-took a row that aborted meanwhile: leave it
                self.journal.set_status(again, "aborted")
                self.journal.running.done(again)
            raise in_progress() from None
        finally:
            if isinstance(ref, int):
                self.journal.running.done(ref)

    def send(self, ref: CommandRef, chosen: ChainPlan, params: dict[str, Any]) -> CommandResult:
        """Journal and broadcast the planned command's transaction, then wait and finish
        (:meth:`run_chain`'s second half; also where a checker's approval resumes a
        command). ``ref``: the fields of a row not stored yet, or the id of a ``pending``
        row this process runs.

        A sender that signs its own transactions (custody ``self``) gets the transaction
        prepared instead, its row left ``awaiting_signature`` (202): its signed bytes come
        back through :meth:`Signatures.submit <api.commands.signatures.Signatures.submit>`,
        which journals and finishes it as below."""
        command = chosen.command
        journaled: list[int] = []  # the row id, once the journal commit stored it
        sent: list[SignedTx] = []  # what it stored (again if the nonce was taken)
        try:
            if isinstance(self.gateway.account(chosen.sender), OwnSigner):
                return self.signatures.prepare(ref, chosen)
            call = chosen.ledger_call(self.gateway.ledger.calls)
            spec = chosen.spec()

            def on_signed(signed: SignedTx) -> None:  # again if the nonce was taken: same row
                row = journaled[-1] if journaled else ref
                journaled.append(self.journal.record_signed(row, signed, spec))
                sent.append(signed)

            try:
                signed = self.gateway.send_journaled(chosen.sender, call, on_signed)
            except ContractRevert as exc:  # refused at estimation: nothing was signed
                return self.writer.refuse(ref, problem_from_revert(exc))
            except Exception as exc:
                if not (node_down(exc) or isinstance(exc, TransactionError)):
                    raise  # KeyTaken, or a failure of ours (a journaled row is resumed)
                if not node_down(exc):  # the node refused the bytes and holds nothing of them
                    if journaled:
                        self.journal.set_status(journaled[-1], "aborted")
                    raise rejected(exc) from exc
                if not journaled:  # nothing signed: nothing can have been sent
                    raise node_unavailable(exc) from exc
                # The node went down as the bytes went out and may have them: wait for them
                # as if they had been sent (the wait sends them again), rather than abort
                # and let a retry sign a second transaction.
                signed = sent[-1]
                log.warning("broadcast of %s failed (%r); waiting for it", signed.tx_hash, exc)
            ref = journaled[-1]
            # the request as stored (through JSON), so a resumed command answers the same
            request = json.loads(json.dumps(params, default=str))
            return self.completion.complete(ref, signed, call, command, request)
        except KeyTaken:
            raise  # another process has the row: it is not ours to abort
        except BaseException:
            if not journaled and isinstance(ref, int):  # a re-taken row that sent nothing
                self.journal.set_status(ref, "aborted")
            raise
        finally:
            self.journal.running.done(*journaled, *([ref] if isinstance(ref, int) else []))

    def run_local(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        params: dict[str, Any],
        work: Callable[[], tuple[int, dict[str, Any]]],
        redact: tuple[str, ...] = (),
        *,
        rerun_on_failure: bool = False,
        duty: str = MAKER,
    ) -> CommandResult:
        """Run a command whose effects are in the database (or state-checked chain steps):
        ``work`` returns (status, body) and must be safe to re-run after a crash.
        ``redact``: fields answered once but never stored (a new API key): a replay shows
        them as withheld. ``rerun_on_failure``: ``work`` failing half way (the node down, a
        5xx problem) aborts the row instead of leaving it ``pending`` until a restart, so
        a retry with the same Idempotency-Key runs ``work`` again at once (it finishes
        what was started: a command of many chain steps, the key rotation). ``duty``: what
        the caller's key must carry (403 ``wrong_duty``, nothing recorded): a maker's by
        default, an admin's for keys and the approval policy."""
        require_duty(duty, ctx.principal)
        claimed = self.claims.claim(ctx, action, target, params)
        if isinstance(claimed, CommandResult):
            return claimed
        assert isinstance(claimed, int)  # stored at once
        command_id = claimed
        try:
            try:
                status, body = work()
            except Problem as problem:
                if rerun_on_failure and problem.status >= 500:
                    self.journal.set_status(command_id, "aborted")
                    raise
                return self.writer.refuse(command_id, problem)
            except ContractRevert as exc:
                return self.writer.refuse(command_id, problem_from_revert(exc))
            except Exception:
                if rerun_on_failure:
                    self.journal.set_status(command_id, "aborted")
                raise
            stored = {
                k: ("(withheld: shown only once)" if k in redact else v) for k, v in body.items()
            }
            result = self.writer.finish(command_id, status, stored, "succeeded", None)
            if redact:
                return CommandResult(status, body)
            return result
        finally:
            self.journal.running.done(command_id)
