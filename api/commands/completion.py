"""From a journaled transaction to the command's stored answer: wait until it is mined,
build the answer from the outcome, wait for the read model to cover its block
(read-your-writes), store. The same steps finish a command just sent and one resumed
after a crash, so both answer alike.

A command whose transaction is journaled is never given up while it can still be mined:
the wait sends the stored bytes again while the node has lost them, and if the node stays
down (or the transaction is not mined) until the wait's timeout the command answers 503
(``node_unavailable`` or ``transaction_pending``, with ``tx_hash`` and Retry-After) and
its row stays ``signed``, so a retry with the same Idempotency-Key, or recovery, finishes
*that* transaction and answers with its result. Only a transaction that can no longer be
mined (its nonce went to another) aborts the command."""

from __future__ import annotations

import logging
from typing import Any

from api.chain import ChainGateway, SignedTx
from api.commands.catalogue import ChainCommand, bound_effect
from api.commands.journal import Journal
from api.commands.replay import CommandResult
from api.commands.writer import CommandWriter
from api.indexer import Indexer
from api.problems import Problem, node_down, node_unavailable, problem_from_revert
from api.services.responders import Mined
from chain_client.errors import ContractRevert, TransactionReplaced, TransactionTimeout
from chain_client.ledger import LedgerCall

log = logging.getLogger(__name__)


def replaced() -> Problem:
    """A journaled transaction that can never be mined: its command is aborted, and a
    retry with the same Idempotency-Key runs it anew."""
    return Problem(
        409,
        "transaction_replaced",
        "The transaction was superseded",
        "The stored transaction can no longer be mined; retry the request.",
    )


class Completion:
    def __init__(
        self,
        gateway: ChainGateway,
        writer: CommandWriter,
        indexer: Indexer | None,
        read_model_timeout: float,
        journal: Journal,
    ) -> None:
        self.gateway = gateway
        self.writer = writer
        self.indexer = indexer
        self.read_model_timeout = read_model_timeout
        self.journal = journal

    def complete(
        self,
        command_id: int,
        signed: SignedTx,
        call: LedgerCall,
        command: ChainCommand[...],
        request: dict[str, Any],
    ) -> CommandResult:
        try:
            outcome = self.gateway.wait(signed, call)
        except ContractRevert as exc:  # mined and reverted: a refusal, recorded
            return self.writer.refuse(command_id, problem_from_revert(exc), signed.tx_hash)
        except TransactionReplaced as exc:  # its nonce went to another transaction
            self.journal.set_status(command_id, "aborted")
            raise replaced() from exc
        except Exception as exc:
            problem = self.unfinished(signed, exc)
            if problem is None:
                raise
            raise problem from exc
        body = command.respond(Mined(command.action, outcome, request, self.gateway))
        body.setdefault("tx_hash", outcome.tx_hash)
        body.setdefault("block_number", outcome.block_number)
        if not self._read_model_covers(outcome.block_number):
            log.warning(
                "read model not at block %d after %.0f s; answering command %s",
                outcome.block_number,
                self.read_model_timeout,
                command_id,
            )
        return self.writer.finish(
            command_id,
            command.status_code,
            body,
            "succeeded",
            outcome,
            bound_effect(command, request, body),
        )

    def unfinished(self, signed: SignedTx, exc: BaseException) -> Problem | None:
        """The 503 for a journaled transaction not known to be mined, its row left
        ``signed`` (None: ``exc`` is neither the node down nor the wait's timeout).

        A timeout is the node's fault when the node was unreachable, by what the wait
        raised or by asking the node now: a node that answers has the transaction and
        has not mined it (``transaction_pending``; on a consortium chain, its sealers
        may be down while it still answers)."""
        if node_down(exc) or (isinstance(exc, TransactionTimeout) and not self._reachable()):
            return node_unavailable(
                exc,
                f"Transaction {signed.tx_hash} is stored, but the blockchain node did not "
                f"answer ({type(exc).__name__}) before it was mined; it is sent again while "
                "the node lacks it. Retry with the same Idempotency-Key to get its result "
                "(it will not be sent twice).",
                tx_hash=signed.tx_hash,
            )
        if isinstance(exc, TransactionTimeout):
            return Problem(
                503,
                "transaction_pending",
                "The transaction is not mined yet",
                f"Transaction {signed.tx_hash} was sent but is not mined yet; retry with the "
                "same Idempotency-Key to get its result (it will not be sent twice).",
                tx_hash=signed.tx_hash,
            )
        return None

    def _reachable(self) -> bool:
        try:
            self.gateway.head()
        except Exception as exc:
            if node_down(exc):
                return False
            raise
        return True

    def _read_model_covers(self, block: int) -> bool:
        """Whether the read model covers the command's block in time. The answer does not
        depend on it (the rows follow a moment later), so a node gone down since the
        transaction was mined does not keep the command from finishing."""
        if self.indexer is None:
            return True
        try:
            return self.indexer.wait_indexed(block, self.read_model_timeout)
        except Exception as exc:
            if not node_down(exc):
                raise
            log.warning("read model not updated to block %d: node unreachable (%r)", block, exc)
            return False
