"""Sign, send and track transactions from one local account.

Why local signing: the API holds organizations' keys (see keystore.py) and nodes of a
consortium chain hold none, so we never use ``eth_sendTransaction``. Why so much logic in
one place: each piece (nonces, fees, gas, receipts, resubmission, revert decoding) is
simple, but their order matters for correctness, and the typed ledger client should get
all of it by calling :meth:`TransactionSender.send`.

Life of a transaction here:
1. gas is estimated (a revert at this point raises the decoded custom error, nothing is
   signed), with a safety margin;
2. fees come from the :class:`~chain_client.fees.FeeStrategy`;
3. under the account's nonce lock: sign, broadcast, retry on "nonce too low";
4. :meth:`wait` polls for a receipt with N confirmations, rebroadcasts the raw transaction
   if the node dropped it from its mempool (bumping fees if the node wants a replacement),
   and for a mined failure replays the call at its block to decode the revert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from chain_client.errors import (
    ContractRevert,
    TransactionFailed,
    TransactionRejected,
    TransactionReplaced,
    TransactionTimeout,
)
from chain_client.fees import AutoFees, Fees, FeeStrategy, is_legacy
from chain_client.nonces import NonceManager
from chain_client.reverts import error_decoder

log = logging.getLogger(__name__)

_NONCE_CONFLICT = ("nonce too low", "nonce is too low", "oldnonce", "nonce too high")
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")
_UNDERPRICED = ("underpriced", "fee too low", "replacement fee")


@dataclass
class PendingTransaction:
    """A broadcast transaction we are tracking. ``hashes`` grows with each replacement."""

    sender: str
    nonce: int
    tx: dict[str, Any]  # the unsigned fields as last signed
    raw: bytes
    tx_hash: str
    abi: Sequence[Mapping[str, Any]] | None = None
    hashes: list[str] = field(default_factory=list)
    broadcast_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tx_hash not in self.hashes:
            self.hashes.append(self.tx_hash)


class TransactionSender:
    """Sends transactions signed by ``account`` through ``w3``.

    ``gas_margin_percent``: added to every estimate (state can change between estimate and
    inclusion). ``confirmations``: blocks that must include-or-follow the tx before
    :meth:`wait` returns (1 = mined). ``resubmit_interval``: how often :meth:`wait` checks
    whether the node still knows the tx. ``bump_after``: if set, a tx still pending after
    that many seconds is replaced with bumped fees (never on a zero-price chain).
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        fee_strategy: FeeStrategy | None = None,
        nonce_manager: NonceManager | None = None,
        gas_margin_percent: int = 20,
        confirmations: int = 1,
        timeout: float = 120.0,
        poll_interval: float = 0.1,
        resubmit_interval: float = 3.0,
        bump_after: float | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1")
        self.w3 = w3
        self.account = account
        self.fee_strategy: FeeStrategy = fee_strategy or AutoFees()
        self.nonces = nonce_manager or NonceManager(w3)
        self.gas_margin_percent = gas_margin_percent
        self.confirmations = confirmations
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.resubmit_interval = resubmit_interval
        self.bump_after = bump_after
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    # -- reading -------------------------------------------------------------------------

    def call(
        self,
        tx: Mapping[str, Any],
        *,
        abi: Sequence[Mapping[str, Any]] | None = None,
        block: int | str = "latest",
    ) -> bytes:
        """eth_call ``tx`` from this account; a revert raises the decoded error."""
        params = self._call_params(tx)
        try:
            return bytes(self.w3.eth.call(params, block_identifier=block))  # type: ignore[arg-type]
        except Exception as exc:
            revert = error_decoder(abi or []).from_exception(exc)
            if revert is None:
                raise
            raise revert from None

    def estimate_gas(
        self, tx: Mapping[str, Any], *, abi: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Node estimate plus the safety margin, capped at the block gas limit."""
        params = self._call_params(tx)
        try:
            estimate = int(self.w3.eth.estimate_gas(params))  # type: ignore[arg-type]
        except Exception as exc:
            revert = error_decoder(abi or []).from_exception(exc)
            if revert is None:
                raise
            raise revert from None
        with_margin = estimate * (100 + self.gas_margin_percent) // 100
        block_limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        return min(with_margin, block_limit)

    # -- sending -------------------------------------------------------------------------

    def submit(
        self,
        tx: Mapping[str, Any],
        *,
        abi: Sequence[Mapping[str, Any]] | None = None,
        fees: Fees | None = None,
    ) -> PendingTransaction:
        """Estimate, sign and broadcast; returns without waiting for inclusion.

        ``tx`` holds ``to`` (omit for a deployment), ``data``, ``value`` and optionally
        ``gas`` (a fixed gas limit skips estimation, so a reverting call gets mined).
        """
        fields: dict[str, Any] = {
            "value": int(tx.get("value", 0)),
            "data": HexBytes(tx.get("data", b"")),
            "chainId": self.chain_id,
        }
        if tx.get("to"):
            fields["to"] = to_checksum_address(tx["to"])
        fields["gas"] = int(tx["gas"]) if tx.get("gas") else self.estimate_gas(fields, abi=abi)
        fields.update(fees or self.fee_strategy.fees(self.w3))
        if not is_legacy(fields):
            fields["type"] = 2
        with self.nonces.reserve(self.address) as slot:
            for _attempt in range(5):
                fields["nonce"] = slot.nonce
                signed = self.account.sign_transaction(fields)
                raw, tx_hash = bytes(signed.raw_transaction), _hex(signed.hash)
                outcome = self._broadcast(raw, tx_hash)
                if outcome == "sent":
                    slot.consume()
                    return PendingTransaction(
                        self.address, slot.nonce, dict(fields), raw, tx_hash, abi=abi
                    )
                slot.resync()  # "nonce too low": someone else used it; take the next one
                log.info("nonce conflict for %s, resynced to %d", self.address, slot.nonce)
        raise TransactionRejected(f"could not find a free nonce for {self.address}")

    def send(
        self,
        tx: Mapping[str, Any],
        *,
        abi: Sequence[Mapping[str, Any]] | None = None,
        confirmations: int | None = None,
        timeout: float | None = None,
    ) -> TxReceipt:
        """:meth:`submit` then :meth:`wait`: the receipt of a successful transaction."""
        return self.wait(self.submit(tx, abi=abi), confirmations=confirmations, timeout=timeout)

    def wait(
        self,
        pending: PendingTransaction,
        *,
        confirmations: int | None = None,
        timeout: float | None = None,
        raise_on_failure: bool = True,
    ) -> TxReceipt:
        """Wait until the tx has ``confirmations`` blocks; resubmit it if dropped.

        A mined failure raises the decoded :class:`ContractRevert` (or
        :class:`TransactionFailed` if no reason can be recovered), unless
        ``raise_on_failure`` is False.
        """
        needed = confirmations or self.confirmations
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        last_check = time.monotonic()
        while True:
            receipt = self._find_receipt(pending)
            if receipt is not None:
                head = int(self.w3.eth.block_number)
                if head - int(receipt["blockNumber"]) + 1 >= needed and self._canonical(receipt):
                    if receipt["status"] == 1 or not raise_on_failure:
                        return receipt
                    raise self.failure_reason(pending, receipt)
            elif time.monotonic() - last_check >= self.resubmit_interval:
                last_check = time.monotonic()
                self._keep_alive(pending)
            if time.monotonic() >= deadline:
                raise TransactionTimeout(
                    f"no receipt with {needed} confirmation(s) for {pending.tx_hash} "
                    f"(nonce {pending.nonce}) in time; it may still be mined",
                    pending.tx_hash,
                )
            time.sleep(self.poll_interval)

    def rebroadcast(self, pending: PendingTransaction) -> PendingTransaction:
        """Send the same raw tx again (a node that dropped it takes it back as is).

        If the node wants a replacement (its pool holds our nonce at a price it prefers,
        or its minimum price rose), the tx is re-signed with bumped fees.
        """
        try:
            self._broadcast(pending.raw, pending.tx_hash, replacing=True)
            pending.broadcast_at = time.monotonic()
            log.info("rebroadcast %s (nonce %d)", pending.tx_hash, pending.nonce)
            return pending
        except TransactionRejected as exc:
            if not any(m in str(exc).lower() for m in _UNDERPRICED):
                raise
        return self.replace(pending)

    def replace(self, pending: PendingTransaction, fees: Fees | None = None) -> PendingTransaction:
        """Re-sign the same nonce and call with higher fees (speed-up)."""
        fields = dict(pending.tx)
        for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
            fields.pop(key, None)
        old_fees = {
            k: v
            for k, v in pending.tx.items()
            if k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
        }
        fields.update(fees or self.fee_strategy.bump(old_fees))
        signed = self.account.sign_transaction(fields)
        raw, tx_hash = bytes(signed.raw_transaction), _hex(signed.hash)
        self._broadcast(raw, tx_hash, replacing=True)
        pending.tx, pending.raw, pending.tx_hash = fields, raw, tx_hash
        pending.broadcast_at = time.monotonic()
        if tx_hash not in pending.hashes:
            pending.hashes.append(tx_hash)
        log.info("replaced nonce %d of %s with %s", pending.nonce, self.address, tx_hash)
        return pending

    def failure_reason(
        self, pending: PendingTransaction | None, receipt: Mapping[str, Any]
    ) -> ContractRevert | TransactionFailed:
        """Why a mined tx failed: replay it with eth_call at its block and decode."""
        tx_hash = _hex(receipt["transactionHash"])
        original = self.w3.eth.get_transaction(tx_hash)
        params: dict[str, Any] = {
            "from": original["from"],
            "data": original["input"],
            "value": original["value"],
            "gas": original["gas"],
        }
        if original.get("to"):
            params["to"] = original["to"]
        decoder = error_decoder((pending.abi if pending else None) or [])
        block = int(receipt["blockNumber"])
        # State after the block first, then before it (a tx earlier in the same block may
        # be what made ours fail, or what makes the replay pass).
        for at in (block, block - 1):
            try:
                self.w3.eth.call(params, block_identifier=at)  # type: ignore[arg-type]
            except Exception as exc:
                revert = decoder.from_exception(exc, tx_hash=tx_hash)
                if revert is not None:
                    return revert
        hint = " (all gas used: out of gas?)" if receipt["gasUsed"] >= original["gas"] else ""
        return TransactionFailed(
            f"transaction {tx_hash} failed without a recoverable reason{hint}",
            tx_hash,
            receipt,
        )

    # -- internals -----------------------------------------------------------------------

    def _call_params(self, tx: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"from": self.address}
        for key in ("to", "data", "value", "gas"):
            if tx.get(key) is not None:
                params[key] = tx[key]
        if "to" in params:
            params["to"] = to_checksum_address(params["to"])
        return params

    def _broadcast(self, raw: bytes, tx_hash: str, *, replacing: bool = False) -> str:
        """Send raw bytes. Returns "sent" or "nonce" (nonce already used by another tx)."""
        for attempt in range(3):
            try:
                self.w3.eth.send_raw_transaction(raw)
                return "sent"
            except Web3RPCError as exc:
                message = _rpc_message(exc).lower()
                if any(m in message for m in _ALREADY_KNOWN):
                    return "sent"  # it is ours, byte for byte: the pool already holds it
                if any(m in message for m in _NONCE_CONFLICT):
                    if self._known(tx_hash):
                        return "sent"  # an earlier attempt of ours got in and was mined
                    if replacing:
                        raise TransactionReplaced(
                            f"nonce of {tx_hash} was used by another transaction", tx_hash
                        ) from None
                    return "nonce"
                if not replacing and any(m in message for m in _UNDERPRICED):
                    return "nonce"  # a foreign tx holds this nonce in the pool
                raise TransactionRejected(
                    f"node rejected {tx_hash}: {_rpc_message(exc)}", tx_hash
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                # We cannot know if the node got it; the same bytes are safe to resend.
                if self._known(tx_hash):
                    return "sent"
                if attempt == 2:
                    raise TransactionRejected(f"could not reach the node: {exc}", tx_hash) from exc
                time.sleep(0.5 * (attempt + 1))
        raise TransactionRejected(f"could not broadcast {tx_hash}", tx_hash)

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    def _find_receipt(self, pending: PendingTransaction) -> TxReceipt | None:
        for tx_hash in reversed(pending.hashes):
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                continue
            if receipt is not None and receipt.get("blockNumber") is not None:
                if tx_hash != pending.tx_hash:
                    pending.tx_hash = tx_hash  # an earlier version won the race
                return receipt
        return None

    def _canonical(self, receipt: Mapping[str, Any]) -> bool:
        """False if the receipt's block was reorganized away meanwhile."""
        block = self.w3.eth.get_block(int(receipt["blockNumber"]))
        return bool(block["hash"] == receipt["blockHash"])

    def _keep_alive(self, pending: PendingTransaction) -> None:
        """Called while no receipt exists: resubmit if dropped, bump if stuck."""
        if any(self._known(h) for h in pending.hashes):
            stuck_for = time.monotonic() - pending.broadcast_at
            if self.bump_after is not None and stuck_for >= self.bump_after:
                old = {k: v for k, v in pending.tx.items() if k.endswith(("Price", "PerGas"))}
                if any(old.values()):  # nothing to bump on a zero-price chain
                    self.replace(pending)
            return
        mined_nonce = int(self.w3.eth.get_transaction_count(pending.sender, "latest"))
        if mined_nonce > pending.nonce:
            if self._find_receipt(pending) is not None:
                return  # mined between our two queries
            raise TransactionReplaced(
                f"nonce {pending.nonce} of {pending.sender} was used by another transaction",
                pending.tx_hash,
            )
        log.warning("transaction %s was dropped by the node; resubmitting", pending.tx_hash)
        self.rebroadcast(pending)


def _hex(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _rpc_message(exc: Web3RPCError) -> str:
    error = (exc.rpc_response or {}).get("error")
    if isinstance(error, Mapping) and error.get("message"):
        return str(error["message"])
    return str(exc.message or exc)
