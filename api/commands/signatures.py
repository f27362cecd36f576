"""Self-custody: the commands of an organization that signs with its own key (an HSM, a
hardware token, its own signing service), prepared here, signed there, sent here.

For an organization whose custody is ``self`` (:attr:`api.models.Organization.custody`) a
command is claimed, planned and, if its policy says so, approved as any other; then
:meth:`Signatures.prepare` takes the place of signing (:meth:`CommandRunner.send
<api.commands.runner.CommandRunner.send>` branches here): the ledger call is estimated and
priced as the organization's address, a nonce is reserved for it, and the row is stored
``awaiting_signature`` with the unsigned transaction (:mod:`chain_client.unsigned`'s JSON),
what it does in words and the fen at stake, expiring ``SCF_SIGNATURE_WINDOW`` seconds
later. The maker gets ``202`` (:func:`api.commands.waits.waiting`, with the
transaction and the hash to sign); its Idempotency-Key replays that until the command is
finished, then the command's own answer.

The organization signs with its own tool and submits the bytes
(:meth:`Signatures.submit`, ``POST /v1/commands/{id}/signature``). They are checked before
anything is stored or sent (:func:`chain_client.unsigned.check_signed`: the prepared
transaction field for field, signed by the organization's address; a refusal is 422
``signature_mismatch`` naming the field, audited, and the command still waits). Then the
row moves ``awaiting_signature`` -> ``signed`` with the bytes and their hash in one
compare-and-set (two submissions racing: one wins, the other answers as a retry would;
nothing is broadcast twice) and from there on the command is any journaled command: it is
broadcast, waited for and finished by :class:`~api.commands.completion.Completion`, and a
crash after that commit is finished by :mod:`api.commands.recovery` from the stored bytes.
The same bytes submitted again (a retry after a timeout) answer like a replay.

Nonces. The service reserves the nonce when it prepares, under the account's nonce lock
(:class:`chain_client.nonces.NonceManager`: a locked row on PostgreSQL, an ``flock``-ed
file on SQLite, so two instances never prepare one nonce): the next nonce is the lowest
at or past the node's pending count for the address that none of its
``awaiting_signature`` and ``signed`` rows holds. A node mines only contiguous nonces, so:

* a submission is refused while a lower nonce is neither on the node nor journaled (409
  ``nonce_gap``, naming the earlier command when one still unsigned holds it; nothing is
  stored, the command still waits): sign them in order. Holding it unbroadcast until the
  gap fills would leave a signed row that a restart cannot tell from one that was sent,
  for no gain: the signer can submit it again a moment later.
* a prepared transaction that expires unsigned releases its nonce, and every later
  still-unsigned transaction of the same address expires with it (they could never be
  mined), and the next prepared command takes the lowest free nonce again
  (:meth:`Signatures.expire`, :meth:`Signatures._next_nonce`). Each is stored
  refused, 410 ``signature_expired``, which its Idempotency-Key replays.
* the organization may also send a transaction of its own outside the service, taking a
  reserved nonce: the submission's broadcast then finds the nonce used by another
  transaction, and the command's answer is 409 ``nonce_taken``, stored: that transaction
  may be this very command signed twice (a signer gives other bytes each time) and sent by
  the organization, so only a new Idempotency-Key, the organization's decision, runs it
  again.

Allowances. ``accept_offer`` and ``repay`` raise the settlement-token allowance first,
with a transaction the sender signs (:meth:`chain_client.ledger.Ledger._ensure_allowance`);
the service cannot sign that for a self-custody organization. So the step is skipped: an
allowance short of what the call will draw is refused, 409 ``allowance_too_low`` with the
amount needed, and the organization raises it with ``POST
/v1/organizations/me/settlement-allowance`` (the catalogue's ``approve_settlement``),
itself prepared for its signature like any other command.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from api.auth import Principal
from api.chain import ChainGateway, SignedTx
from api.commands.catalogue import ChainPlan
from api.commands.claims import in_progress
from api.commands.completion import Completion
from api.commands.explain import Facts, cny
from api.commands.journal import CommandRef, Running
from api.commands.recovery import Recovery
from api.commands.replay import CommandResult, audit_fields, replay
from api.commands.waits import (
    AWAITING_SIGNATURE,
    audit_step,
    own_command,
    park,
    refuse_waiting,
    waiting,
)
from api.commands.writer import CommandWriter
from api.models import Command
from api.problems import Problem, node_down, node_unavailable, problem_from_revert
from api.timeutil import aware, utcnow
from chain_client import retry, unsigned
from chain_client.encoding import to_hex
from chain_client.errors import ContractRevert
from chain_client.ledger import Ledger, LedgerCall

log = logging.getLogger(__name__)


class _NonceTaken(Exception):  # noqa: N818 - control flow
    """Another transaction of the address was mined with the prepared nonce."""


class _Refused(Exception):  # noqa: N818 - control flow
    """The node refused the signed bytes and holds nothing of them."""


def allowance_too_low(needed: int, have: int, spender: str = "ledger") -> Problem:
    whom = "the ledger" if spender == "ledger" else "the ledger's bid book"
    return Problem(
        409,
        "allowance_too_low",
        "The settlement allowance is too low",
        f"This command draws up to {cny(needed)} of settlement cash, and your organization "
        f"allows {whom} {cny(have)}. Raise it first with POST "
        f'/v1/organizations/me/settlement-allowance (amount in fen, "spender": "{spender}"), '
        "then send the command again with a new Idempotency-Key.",
        needed=str(needed),
        allowance=str(have),
        spender=spender,
    )


class Signatures:
    def __init__(
        self,
        engine: Engine,
        read_engine: Engine,
        gateway: ChainGateway,
        running: Running,
        writer: CommandWriter,
        completion: Completion,
        recovery: Recovery,
        facts: Callable[[], Facts],
        window: float,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.gateway = gateway
        self.running = running
        self.writer = writer
        self.completion = completion
        self.recovery = recovery
        self.facts = facts
        self.window = timedelta(seconds=window)

    # -- preparing ----------------------------------------------------------------------------

    def prepare(self, ref: CommandRef, chosen: ChainPlan) -> CommandResult:
        """The planned command's transaction prepared for its sender's own signer, its
        nonce reserved, its row stored ``awaiting_signature``: the 202 answer. A call that
        would revert now, or an allowance too low, is refused and stored as any command's
        refusal; the node down is 503 with nothing stored."""
        sender = to_checksum_address(chosen.sender)
        ledger = self.gateway.ledger_as(sender)
        try:
            call = self._without_allowance_step(ledger, chosen.ledger_call(ledger.calls))
            prepared = ledger.prepare(call)
        except Problem as problem:
            return self.writer.refuse(ref, problem)
        except ContractRevert as exc:
            return self.writer.refuse(ref, problem_from_revert(exc))
        except Exception as exc:
            if node_down(exc):
                raise node_unavailable(exc) from exc
            raise
        facts = self.facts()
        summary, stake = chosen.summary(facts), chosen.stake(facts)
        with self.gateway.nonces.reserve(sender) as slot:
            slot.nonce = self._next_nonce(sender)
            fields = prepared.with_nonce(slot.nonce)
            row = self._store(ref, chosen, sender, slot.nonce, fields, summary, stake)
            slot.consume()
        log.info("command %s prepared for %s's signature (nonce %d)", row.id, sender, row.nonce)
        return waiting(row)

    def _without_allowance_step(self, ledger: Ledger, call: LedgerCall) -> LedgerCall:
        """``call`` without its ``before_signing`` allowance top-up, which would be a
        transaction of the organization's own (see the module text); 409
        ``allowance_too_low`` if what it draws is not allowed already."""
        if call.before_signing is None:
            return call
        spender = None  # the ledger
        if call.function == "acceptOffer":
            needed = ledger._payment_bound(int(call.args[0]))
        elif call.function == "repay":
            needed = int(call.args[1])
        elif call.function == "postBid":  # the budget, escrowed by the bid book
            needed, spender = int(call.args[2]), ledger.bid_book_address
        elif call.function == "changeBidBudget":  # a top-up of the escrow
            expected, remaining = int(call.args[1]), int(call.args[2])
            needed, spender = remaining - expected, ledger.bid_book_address
        else:  # a step this module does not know: refuse rather than sign it unseen
            raise TypeError(f"{call.function} has a step before signing that needs a key")
        have = ledger.allowance(spender=spender)
        if have < needed:
            raise allowance_too_low(needed, have, "bid_book" if spender else "ledger")
        return replace(call, before_signing=None)

    def _next_nonce(self, sender: str) -> int:
        """Under the account's lock: the lowest nonce at or past the node's pending count
        that no prepared or journaled, unfinished transaction of the address holds (a
        nonce freed by an aborted or expired command is used again, so no hole is left
        for the node to wait on)."""
        pending = self._pending_count(sender)
        held = self._held_nonces(sender, pending)
        nonce = pending
        while nonce in held:
            nonce += 1
        return nonce

    def _pending_count(self, sender: str) -> int:
        return int(self.gateway.w3.eth.get_transaction_count(sender, "pending"))  # type: ignore[arg-type]

    def _held_nonces(self, sender: str, since: int, *, signed_only: bool = False) -> set[int]:
        statuses = ("signed",) if signed_only else (AWAITING_SIGNATURE, "signed")
        with Session(self.engine) as session:
            return {
                int(n)
                for n in session.execute(
                    select(col(Command.nonce))
                    .where(col(Command.sender) == sender)
                    .where(col(Command.status).in_(statuses))
                    .where(col(Command.nonce) >= since)
                ).scalars()
                if n is not None
            }

    def _store(
        self,
        ref: CommandRef,
        chosen: ChainPlan,
        sender: str,
        nonce: int,
        fields: dict[str, Any],
        summary: str,
        stake: int | None,
    ) -> Command:
        now = utcnow()
        values: dict[str, Any] = dict(
            status=AWAITING_SIGNATURE,
            sender=sender,
            nonce=nonce,
            tx_hash=None,  # a row prepared again (its earlier transaction aborted)
            raw_tx=None,
            summary=summary,
            stake=None if stake is None else str(stake),
            unsigned_tx=json.dumps(unsigned.to_json(fields), sort_keys=True),
            expires_at=now + self.window,
            updated_at=now,
        )
        return park(self.engine, ref, chosen, values, "prepared")

    # -- the organization's signature ---------------------------------------------------------

    def get(self, principal: Principal, command_id: int) -> Command:
        """One of the caller's organization's commands (404 for another's)."""
        return own_command(self.read_engine, principal, command_id)

    def submit(self, principal: Principal, command_id: int, raw_text: str) -> CommandResult:
        """The organization's signed bytes for a prepared command: checked, journaled,
        broadcast, waited for; the command's own answer (see the module text)."""
        row = self.get(principal, command_id)
        try:
            raw = bytes(HexBytes(raw_text))
        except ValueError:
            raw = b""
        raw_hex = to_hex(raw)
        if (
            row.status == AWAITING_SIGNATURE
            and row.expires_at
            and aware(row.expires_at) <= utcnow()
        ):
            self.expire(sender=row.sender)
            row = self.get(principal, command_id)
        if row.status != AWAITING_SIGNATURE:
            return self._not_awaiting(row, raw_hex)
        assert row.id is not None and row.sender and row.unsigned_tx and row.nonce is not None
        prepared = unsigned.from_json(json.loads(row.unsigned_tx))
        try:
            facts = unsigned.check_signed(raw, prepared, row.sender)
        except unsigned.SignedMismatch as mismatch:
            self._audit_step(row, "sig_refused", "signature_mismatch", principal)
            raise Problem(
                422,
                "signature_mismatch",
                "The signed transaction is not the prepared one",
                f"{mismatch} Nothing was sent; command {row.id} still awaits its signature "
                f"until {aware(row.expires_at or utcnow()).isoformat()}.",
                field=mismatch.field,
            ) from None
        gap = self._first_gap(row)
        if gap is not None:
            earlier = self._earlier_unsigned(row)
            self._audit_step(row, "sig_refused", "nonce_gap", principal)
            if earlier is None:  # a freed nonce nobody holds: the next command takes it
                raise Problem(
                    409,
                    "nonce_gap",
                    "An earlier nonce is not taken yet",
                    f"Nonce {gap} of {row.sender} is free (its command was aborted or "
                    f"expired); a node mines nonce {row.nonce} only after it. Send another "
                    "command (it takes that nonce) or let this one expire and send it "
                    "again; nothing was sent.",
                )
            raise Problem(
                409,
                "nonce_gap",
                "An earlier prepared transaction is not signed yet",
                f"Command {earlier.id} holds nonce {earlier.nonce} of {row.sender} and is not "
                f"signed; a node mines nonce {row.nonce} only after it. Submit command "
                f"{earlier.id} first, then this one again (nothing was sent).",
                command_id=str(earlier.id),
            )
        signed = SignedTx(row.sender, int(row.nonce), facts.tx_hash, raw_hex)
        if not self._journal(row, signed, principal):
            return self._not_awaiting(self.get(principal, command_id), raw_hex)
        try:
            return self._send(row, signed)
        finally:
            self.running.done(row.id)

    def _journal(self, row: Command, signed: SignedTx, principal: Principal) -> bool:
        """``awaiting_signature`` -> ``signed`` with the bytes, one compare-and-set (False:
        another submission, or the expiry, moved the row first)."""
        assert row.id is not None
        now = utcnow()
        with Session(self.engine) as session:
            moved = session.execute(
                update(Command)
                .where(col(Command.id) == row.id)
                .where(col(Command.status) == AWAITING_SIGNATURE)
                .values(status="signed", tx_hash=signed.tx_hash, raw_tx=signed.raw, updated_at=now)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return False
            audit_step(session, row, "submitted", None, now, principal, signed.tx_hash)
            # before the commit: a same-key retry must see it running
            self.running.add(row.id, audit_fields(row))
            self.running.stamp(row.id, now)
            session.commit()
        return True

    def _send(self, row: Command, signed: SignedTx) -> CommandResult:
        assert row.id is not None
        params = json.loads(row.params)
        plan = ChainPlan.from_spec(row.action, params["call"])
        call = plan.ledger_call(self.gateway.ledger.calls)
        try:
            self._broadcast(signed)
        except _NonceTaken:
            # Stored, not aborted: the other transaction may be this very command signed a
            # second time (a signer that signs again gives other bytes) and sent by the
            # organization itself; a same-key retry preparing it anew could run it twice.
            assert row.id is not None
            return self.writer.refuse(
                row.id,
                Problem(
                    409,
                    "nonce_taken",
                    "The nonce was used by another transaction",
                    f"Another transaction of {signed.sender} was mined with nonce "
                    f"{signed.nonce}: these bytes can never be mined. If that transaction was "
                    "this command signed a second time and sent by your organization, the "
                    "command is done; otherwise send it again with a new Idempotency-Key.",
                ),
            )
        except _Refused as exc:
            self._abort(row, "transaction_rejected")
            raise Problem(
                503,
                "transaction_rejected",
                "The node did not take the transaction",
                f"{exc}. Nothing was recorded; retry the command with the same "
                "Idempotency-Key: it is prepared again.",
            ) from exc
        except Exception as exc:
            if not node_down(exc):
                raise
            # the node may have read the bytes: wait for them as if sent (the wait sends
            # them again), as for a command signed here
            log.warning("broadcast of %s failed (%r); waiting for it", signed.tx_hash, exc)
        return self.completion.complete(row.id, signed, call, plan.command, params["request"])

    def _broadcast(self, signed: SignedTx) -> None:
        """Send the submitted bytes; a refusal is judged by what the chain says (the
        sender's :meth:`~chain_client.transactions.TransactionSender._fate`): the node
        holds or mined them (the organization sent them itself too): sent; their nonce
        mined by another transaction: :class:`_NonceTaken`; else :class:`_Refused`."""
        try:
            self.gateway.w3.eth.send_raw_transaction(HexBytes(signed.raw))
            return
        except Exception as exc:
            if node_down(exc) or retry.is_transient_send(exc):
                raise
            refusal = exc
        fate = self.gateway.sender_for(signed.sender)._fate([signed.tx_hash], signed.nonce)
        if fate in ("held", "mined"):
            return
        if fate == "taken":
            raise _NonceTaken()
        raise _Refused(f"the node refused {signed.tx_hash}: {refusal}")

    def _abort(self, row: Command, code: str) -> None:
        """The submitted row can never be mined: ``aborted`` (a retry prepares it again)."""
        assert row.id is not None
        now = utcnow()
        with Session(self.engine) as session:
            session.execute(
                update(Command)
                .where(col(Command.id) == row.id)
                .where(col(Command.status) == "signed")
                .values(status="aborted", updated_at=now)
            )
            audit_step(session, row, "aborted", code, now)
            session.commit()

    def _first_gap(self, row: Command) -> int | None:
        """The first nonce below ``row``'s that neither the node has (mined or pending)
        nor a journaled transaction of the address holds: broadcasting ``row`` above it
        would leave it queued behind a hole (None: no such nonce)."""
        assert row.sender is not None and row.nonce is not None
        pending = self._pending_count(row.sender)
        signed = self._held_nonces(row.sender, pending, signed_only=True)
        return next((n for n in range(pending, int(row.nonce)) if n not in signed), None)

    def _earlier_unsigned(self, row: Command) -> Command | None:
        with Session(self.read_engine) as session:
            return session.execute(
                select(Command)
                .where(col(Command.sender) == row.sender)
                .where(col(Command.status) == AWAITING_SIGNATURE)
                .where(col(Command.nonce) < row.nonce)
                .order_by(col(Command.nonce))
                .limit(1)
            ).scalar()

    def _not_awaiting(self, row: Command, raw_hex: str) -> CommandResult:
        """A submission to a command that does not wait (any more): the same bytes again
        answer as a replay would (the stored answer, or 409 while it runs, or the signed
        row finished here if its process died); an expired or refused command answers its
        stored refusal; anything else is 409 ``not_awaiting_signature``."""
        assert row.id is not None
        same = bool(row.raw_tx) and str(row.raw_tx).lower() == raw_hex.lower()
        if row.status in ("succeeded", "refused") and (same or not row.raw_tx):
            return replay(row)
        if same and row.status == "signed":
            if row.id not in self.running and self.recovery.abandoned(row):
                resumed = self.recovery.resume_abandoned(row)
                if resumed is not None:
                    return resumed
            raise in_progress()
        raise Problem(
            409,
            "not_awaiting_signature",
            "The command does not await a signature",
            f"Command {row.id} is {row.status}"
            + (
                " with other signed bytes."
                if row.raw_tx
                else "; it was never prepared for your signature."
            ),
        )

    # -- expiry -------------------------------------------------------------------------------

    def expire(self, org_id: int | None = None, sender: str | None = None) -> int:
        """Close every prepared transaction past its expiry, and with each every later
        still-unsigned one of the same address (410 ``signature_expired`` for their
        replays); their nonces are free again (:meth:`_next_nonce` takes the lowest free
        one). Returns how many were closed. Runs with the server's periodic pass, and
        before a submission to an expired command."""
        now = utcnow()
        query = (
            select(col(Command.sender), func.min(col(Command.nonce)))
            .where(col(Command.status) == AWAITING_SIGNATURE)
            .where(col(Command.expires_at) <= now)
            .group_by(col(Command.sender))
        )
        if org_id is not None:
            query = query.where(col(Command.org_id) == org_id)
        if sender is not None:
            query = query.where(col(Command.sender) == sender)
        with Session(self.read_engine) as session:
            firsts = [(str(s), int(n)) for s, n in session.execute(query).all() if s]
        closed = 0
        for address, first in firsts:
            with self.gateway.nonces.reserve(address):  # not while one is prepared
                closed += self._expire_from(address, first, now)
        if closed:
            log.info("expired %d prepared transaction(s) never signed", closed)
        return closed

    def _expire_from(self, sender: str, first: int, now: datetime) -> int:
        window = int(self.window.total_seconds())
        closed = 0
        with Session(self.engine, expire_on_commit=False) as session:
            rows: list[Command] = list(
                session.execute(
                    select(Command)
                    .where(col(Command.sender) == sender)
                    .where(col(Command.status) == AWAITING_SIGNATURE)
                    .where(col(Command.nonce) >= first)
                    .order_by(col(Command.nonce))
                ).scalars()
            )
            # the first row must still be the expired one the caller saw: submitted (and
            # journaled) meanwhile, it is no hole, and nothing after it may expire for it
            if not rows or rows[0].nonce != first or aware(rows[0].expires_at or now) > now:
                return 0
            for row in rows:
                head = rows[0]
                if row is head:
                    detail = (
                        f"Command {row.id}'s transaction (nonce {row.nonce} of {sender}) was "
                        f"not signed within {window} s; nothing was sent and its nonce is "
                        "free again. Send the command again with a new Idempotency-Key."
                    )
                else:
                    detail = (
                        f"Command {row.id}'s transaction (nonce {row.nonce}) expired with "
                        f"command {head.id} (nonce {head.nonce}), which was never signed: a "
                        "transaction cannot be mined above an unused nonce. Nothing was sent; "
                        "send the command again with a new Idempotency-Key."
                    )
                problem = Problem(
                    410, "signature_expired", "The prepared transaction expired unsigned", detail
                )
                closed += refuse_waiting(session, row, problem, "expired", now, decided_at=now)
            session.commit()
        return closed

    # -- audit --------------------------------------------------------------------------------

    def _audit_step(
        self, row: Command, outcome: str, code: str | None, principal: Principal | None
    ) -> None:
        with Session(self.engine) as session:
            audit_step(session, row, outcome, code, utcnow(), principal)
            session.commit()
