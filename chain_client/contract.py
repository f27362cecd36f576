"""A contract bound to an ABI + address, sending through a TransactionSender.

Why: this is the seam for the typed ledger client. It knows nothing about any particular
contract; a typed client wraps a :class:`ContractHandle` and turns method calls into
``handle.transact("split", ...)`` / ``handle.call("fragmentOf", ...)``, getting gas,
nonces, confirmations and decoded custom errors from the layers below.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from eth_typing import HexStr
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockParams, TxParams, TxReceipt

from chain_client.errors import TransactionFailed
from chain_client.reverts import ErrorDecoder, error_decoder
from chain_client.transactions import PendingTransaction, TransactionSender

ABI = Sequence[Mapping[str, Any]]


class ContractHandle:
    """``address`` + ``abi``; reads need only ``w3``, writes need a ``sender``."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        abi: ABI,
        *,
        sender: TransactionSender | None = None,
    ) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.abi = [dict(entry) for entry in abi]
        self.sender = sender
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.abi)

    @property
    def errors(self) -> Any:
        """The ABI's custom-error exception classes: ``handle.errors.TooLarge``."""
        return self.decoder.errors

    @property
    def decoder(self) -> ErrorDecoder:
        return error_decoder(self.abi)

    def with_sender(self, sender: TransactionSender) -> ContractHandle:
        """The same contract, sending as another account. Shares the parsed web3
        contract (building one hashes every ABI entry: milliseconds per account)."""
        twin = copy.copy(self)
        twin.sender = sender
        return twin

    def encode(self, function: str, *args: Any) -> str:
        """Calldata for ``function(*args)``."""
        return str(self.contract.encode_abi(function, args=list(args)))

    def call(
        self,
        function: str,
        *args: Any,
        block: int | BlockParams = "latest",
        from_: str | None = None,
    ) -> Any:
        """Read-only call; a revert raises the decoded custom error."""
        fn = self.contract.functions[function](*args)
        sender = from_ or (self.sender.address if self.sender else None)
        with self.decoder.raising():
            return fn.call({"from": sender} if sender else {}, block_identifier=block)

    def call_data(self, calldata: str, *, block: int | BlockParams = "latest") -> bytes:
        """Read-only call with calldata built by the caller: the raw return data, for the
        fixed-layout decoders that skip web3's (a revert raises the decoded error)."""
        params: TxParams = {"to": self.address, "data": HexStr(calldata)}
        with self.decoder.raising():
            return bytes(self.w3.eth.call(params, block))

    def transaction(
        self, function: str, *args: Any, value: int = 0, gas: int | None = None
    ) -> dict[str, Any]:
        """The unsigned ``{"to", "data", "value"[, "gas"]}`` for a call."""
        tx: dict[str, Any] = {
            "to": self.address,
            "data": self.encode(function, *args),
            "value": value,
        }
        if gas is not None:
            tx["gas"] = gas
        return tx

    def submit(
        self, function: str, *args: Any, value: int = 0, gas: int | None = None
    ) -> PendingTransaction:
        """Broadcast without waiting (see :meth:`TransactionSender.submit`)."""
        return self._require_sender().submit(
            self.transaction(function, *args, value=value, gas=gas), abi=self.abi
        )

    def transact(
        self,
        function: str,
        *args: Any,
        value: int = 0,
        gas: int | None = None,
        confirmations: int | None = None,
        timeout: float | None = None,
    ) -> TxReceipt:
        """Send and wait; a revert (at estimation or mined) raises the decoded error."""
        return self._require_sender().send(
            self.transaction(function, *args, value=value, gas=gas),
            abi=self.abi,
            confirmations=confirmations,
            timeout=timeout,
        )

    def _require_sender(self) -> TransactionSender:
        if self.sender is None:
            raise ValueError("this ContractHandle is read-only: pass sender=")
        return self.sender


def deploy(
    sender: TransactionSender,
    abi: ABI,
    bytecode: str,
    *args: Any,
    value: int = 0,
    confirmations: int | None = None,
    timeout: float | None = None,
) -> ContractHandle:
    """Deploy a contract and return a handle bound to ``sender``."""
    factory = sender.w3.eth.contract(abi=[dict(e) for e in abi], bytecode=bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = sender.send(
        {"data": data, "value": value}, abi=abi, confirmations=confirmations, timeout=timeout
    )
    address = receipt.get("contractAddress")
    if not address:
        raise TransactionFailed("deployment receipt has no contract address", None, receipt)
    return ContractHandle(sender.w3, address, abi, sender=sender)
