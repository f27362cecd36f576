"""Four-eyes approval: an organization's commands that its policy names wait for a second
person (a key with the checker duty, not the maker's own) before anything is signed.

China's certificate platforms ask a second clerk with a USB key (审核岗 + UKey) to approve
each transfer; a bank will not let one employee move money alone. Here an organization
keeps a policy (:class:`~api.models.ApprovalRule`: which commands, from which amount), and
a command it names is checked and planned as usual, then parked as ``pending_approval``:
its row holds the plan (the ledger call's arguments, as a signed row does), what it does in
words and the fen at stake. The maker gets ``202`` with the command's id; a replay of its
Idempotency-Key answers the command's state. A checker lists the waiting commands, sees
exactly what each does, and approves (only then is the transaction planned against the
chain again, estimated, signed and sent, as a new command would be) or rejects it with a
reason. Every step is an audit entry. A waiting command expires after
``SCF_APPROVAL_WINDOW`` seconds.

Each decision is a compare-and-set of the row's status, so two checkers approving at once
send one transaction, and a rejection racing an approval loses or wins as a whole.
An approved command runs like a re-taken row (``pending``, then ``signed``): a crash
between the approval and the journal commit leaves it ``pending``, start-up aborts it, and
the maker's retry with the same key asks for an approval again (nothing was sent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from api.auth import Principal
from api.chain import ChainGateway
from api.commands.catalogue import ChainPlan
from api.commands.explain import Facts
from api.commands.journal import CommandRef, Running
from api.commands.replay import CommandResult, replay
from api.commands.waits import (
    PENDING_APPROVAL,
    audit_step,
    own_command,
    park,
    refuse_waiting,
    waiting,
)
from api.models import ApiKey, ApprovalRule, Command, Organization
from api.problems import Problem
from api.timeutil import aware, utcnow

log = logging.getLogger(__name__)

#: the commands a policy may name (those that move money or commit the organization)
APPROVABLE = (
    "issue",
    "accept",
    "split",
    "transfer",
    "offer",
    "accept_offer",
    "repay",
    "set_credit_line",
    "post_bid",
    "change_bid_budget",
    "sell_to_bid",
)

#: runs an approved command's transaction (CommandRunner.send)
Send = Callable[[CommandRef, ChainPlan, dict[str, Any]], CommandResult]


def not_waiting(row: Command) -> Problem:
    return Problem(
        409,
        "command_not_pending",
        "The command does not wait for approval",
        f"Command {row.id} is {row.status}: it was approved, rejected or expired already.",
    )


class Approvals:
    def __init__(
        self,
        engine: Engine,
        read_engine: Engine,
        gateway: ChainGateway,
        running: Running,
        window: float,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.gateway = gateway
        self.running = running
        self.window = timedelta(seconds=window)
        self.send: Send | None = None  # set by the runner

    # -- facts ------------------------------------------------------------------------------

    def facts(self) -> Facts:
        def name_of(address: str) -> str:
            with Session(self.read_engine) as session:
                name = session.execute(
                    select(col(Organization.name)).where(col(Organization.address) == address)
                ).scalar()
            return str(name) if name else address

        return Facts(name_of, self.gateway.ledger)

    # -- the maker's side -------------------------------------------------------------------

    def rule_for(self, org_id: int, action: str) -> ApprovalRule | None:
        with Session(self.read_engine) as session:
            return session.execute(
                select(ApprovalRule)
                .where(col(ApprovalRule.org_id) == org_id)
                .where(col(ApprovalRule.action) == action)
            ).scalar()

    def park_if_needed(
        self, ref: CommandRef, principal: Principal, chosen: ChainPlan
    ) -> CommandResult | None:
        """None when the command may run at once; else its row parked for a checker and
        the 202 answer."""
        rule = self.rule_for(principal.org_id, chosen.command.action)
        if rule is None:
            return None
        facts = self.facts()
        stake = chosen.stake(facts)
        if rule.min_amount is not None and (stake is None or stake < int(rule.min_amount)):
            return None
        return self._park(ref, chosen, chosen.summary(facts), stake)

    def _park(
        self, ref: CommandRef, chosen: ChainPlan, summary: str, stake: int | None
    ) -> CommandResult:
        now = utcnow()
        values: dict[str, Any] = dict(
            status=PENDING_APPROVAL,
            summary=summary,
            stake=None if stake is None else str(stake),
            expires_at=now + self.window,
            updated_at=now,
        )
        return waiting(park(self.engine, ref, chosen, values, "pending_approval"))

    # -- the checker's side -----------------------------------------------------------------

    def pending(self, org_id: int, *, limit: int = 200) -> list[Command]:
        """The organization's commands waiting for a checker, oldest first (expired ones
        are marked so first)."""
        self.expire(org_id)
        with Session(self.read_engine) as session:
            return list(
                session.execute(
                    select(Command)
                    .where(col(Command.org_id) == org_id)
                    .where(col(Command.status) == PENDING_APPROVAL)
                    .order_by(col(Command.id))
                    .limit(limit)
                ).scalars()
            )

    def get(self, principal: Principal, command_id: int) -> Command:
        """One of the caller's organization's commands (404 for another's)."""
        return own_command(self.read_engine, principal, command_id)

    def approve(self, checker: Principal, command_id: int) -> CommandResult:
        """The checker's approval: the command is planned again against the chain, signed
        and sent; the answer is the command's own (also stored for the maker's replay)."""
        row = self._decidable(checker, command_id)
        now = utcnow()
        with Session(self.engine) as session:
            moved = session.exec(
                update(Command)
                .where(col(Command.id) == command_id)
                .where(col(Command.status) == PENDING_APPROVAL)
                .values(
                    status="pending",
                    checker_key_id=checker.api_key_id,
                    decided_at=now,
                    updated_at=now,  # a fresh pending row: not one left by a dead process
                )
            )
            if moved.rowcount != 1:
                session.rollback()
                raise not_waiting(self.get(checker, command_id))
            audit_step(session, row, "approved", None, now, checker)
            session.commit()
        self.running.add(command_id)
        params = json.loads(row.params)
        chosen = ChainPlan.from_spec(row.action, params["call"])
        assert self.send is not None
        return self.send(command_id, chosen, params["request"])

    def reject(self, checker: Principal, command_id: int, reason: str) -> CommandResult:
        """The checker's refusal, with its reason: the maker's replay answers it (409
        ``command_rejected``); nothing was signed."""
        self._decidable(checker, command_id)
        problem = Problem(
            409,
            "command_rejected",
            "A checker rejected the command",
            f"Rejected by a checker of your organization: {reason}",
        )
        return self._close(command_id, problem, "rejected", checker, reason)

    def expire(self, org_id: int | None = None) -> int:
        """Close every waiting command past its expiry (410 ``command_expired`` for its
        maker's replay); returns how many. Runs before a checker's list and
        decisions, and with the server's recovery pass."""
        now = utcnow()
        query = (
            select(col(Command.id))
            .where(col(Command.status) == PENDING_APPROVAL)
            .where(col(Command.expires_at) <= now)
        )
        if org_id is not None:
            query = query.where(col(Command.org_id) == org_id)
        with Session(self.read_engine) as session:
            ids = list(session.execute(query).scalars())
        closed = 0
        for command_id in ids:
            problem = Problem(
                410,
                "command_expired",
                "The command expired",
                f"Command {command_id} waited for a checker longer than "
                f"{int(self.window.total_seconds())} s; nothing was sent. Send it again.",
            )
            try:
                self._close(command_id, problem, "expired", None, None)
                closed += 1
            except Problem:  # decided meanwhile
                continue
        return closed

    def _decidable(self, checker: Principal, command_id: int) -> Command:
        row = self.get(checker, command_id)
        if row.status == PENDING_APPROVAL and row.expires_at and aware(row.expires_at) <= utcnow():
            self.expire(checker.org_id)
            row = self.get(checker, command_id)
        if row.status != PENDING_APPROVAL:
            raise not_waiting(row)
        if row.api_key_id is not None and row.api_key_id in self._makers_of(checker):
            raise Problem(
                403,
                "own_command",
                "You may not approve your own command",
                "Four eyes: a checker other than the command's maker must decide it, with a "
                "key the maker's key did not make.",
            )
        return row

    def _makers_of(self, checker: Principal) -> set[int]:
        """The checker's key and every key that made it, up its line: a maker who made
        itself a checker key (an admin maker can) is still one person."""
        line: set[int] = set()
        key_id = checker.api_key_id
        with Session(self.read_engine) as session:
            while key_id is not None and key_id not in line:
                line.add(key_id)
                key_id = session.execute(
                    select(col(ApiKey.created_by_key_id)).where(col(ApiKey.id) == key_id)
                ).scalar()
        return line

    def _close(
        self,
        command_id: int,
        problem: Problem,
        outcome: str,
        checker: Principal | None,
        reason: str | None,
    ) -> CommandResult:
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(Command, command_id)
            assert row is not None
            if row.status != PENDING_APPROVAL or not refuse_waiting(
                session,
                row,
                problem,
                outcome,
                now,
                checker,
                checker_key_id=checker.api_key_id if checker else None,
                decided_at=now,
                decision_reason=reason,
            ):
                session.rollback()
                raise not_waiting(row)
            session.commit()
            session.refresh(row)
        return replay(row)
