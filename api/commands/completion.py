"""From a journaled transaction to the command's stored answer: wait until it is mined,
build the answer from the outcome, wait for the read model to cover its block
(read-your-writes), store. The same steps finish a command just sent and one resumed
after a crash, so both answer alike."""

from __future__ import annotations

import logging
from typing import Any

from api.chain import ChainGateway, SignedTx
from api.commands.catalogue import ChainCommand, bound_effect
from api.commands.replay import CommandResult
from api.commands.writer import CommandWriter
from api.indexer import Indexer
from api.problems import Problem, problem_from_revert
from api.services.responders import Mined
from chain_client.errors import ContractRevert, TransactionTimeout
from chain_client.ledger import LedgerCall

log = logging.getLogger(__name__)


class Completion:
    def __init__(
        self,
        gateway: ChainGateway,
        writer: CommandWriter,
        indexer: Indexer | None,
        read_model_timeout: float,
    ) -> None:
        self.gateway = gateway
        self.writer = writer
        self.indexer = indexer
        self.read_model_timeout = read_model_timeout

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
        except TransactionTimeout as exc:
            raise Problem(
                503,
                "transaction_pending",
                "The transaction is not mined yet",
                f"Transaction {signed.tx_hash} was sent but is not mined yet; retry with the "
                "same Idempotency-Key to get its result (it will not be sent twice).",
                tx_hash=signed.tx_hash,
            ) from exc
        body = command.respond(Mined(command.action, outcome, request, self.gateway))
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
        return self.writer.finish(
            command_id,
            command.status_code,
            body,
            "succeeded",
            outcome,
            bound_effect(command, request, body),
        )
