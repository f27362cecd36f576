"""Sign, send and track transactions from one local account.

Why local signing: the API holds organizations' keys (see keystore.py) and nodes of a
consortium chain hold none, so we never use ``eth_sendTransaction``. Why so much logic in
one place: each piece (nonces, fees, gas, receipts, resubmission, revert decoding) is
simple, but their order matters for correctness, and the typed ledger client should get
all of it by calling :meth:`TransactionSender.send`.

Life of a transaction here (each step a public method, so a caller that must record the
signed bytes first, like the API's journal, uses the same path as everyone else):
1. :meth:`~TransactionSender.prepare`: gas is estimated (a revert at this point raises the
   decoded custom error, nothing is signed) with a safety margin, and fees come from the
   :class:`~chain_client.fees.FeeStrategy`: a :class:`PreparedTransaction`;
2. :meth:`~TransactionSender.submit_prepared`: under the account's nonce lock, sign
   (:meth:`~TransactionSender.sign`, a :class:`SignedTransaction`), hand the signed
   transaction to the caller's ``before_broadcast`` hook, broadcast, and on "nonce too
   low" sign again with the next nonce (:meth:`~TransactionSender.submit` is 1 then 2);
3. :meth:`wait` polls for a receipt with N confirmations, rebroadcasts the raw transaction
   if the node dropped it from its mempool (bumping fees if the node wants a replacement),
   and for a mined failure replays the call at its block to decode the revert;
   :meth:`wait_many` does the same for many transactions, polling their receipts in one
   JSON-RPC batch per round. Their reads retry transient node errors
   (:mod:`chain_client.retry`) until the wait's timeout, so a node that is down for a while
   delays the answer instead of failing it: the same bytes are sent again once it is back.

What a node's refusal of a broadcast means is decided by meaning, not by one node's
wording: nodes word "I already have this transaction" and "this nonce is used" in as many
ways as there are clients (:data:`REFUSAL_WORDINGS` lists the ones we know, a fast path),
and some (@ethereumjs/client) do not even show pooled transactions to
``eth_getTransactionByHash``. When our own bytes are refused, the chain is asked what is
true (:meth:`~TransactionSender._fate`): a receipt means mined; the account's mined nonce
still at or below ours and a pending nonce above it, or the hash visible, means the pool
holds it; a mined nonce past ours with no receipt of ours means another transaction took it.

Pacing follows the chain's block period (:func:`pacing`, measured by
:func:`chain_client.head.block_period`): how often a missing transaction is looked for and
sent again, and how many blocks confirm a transaction by default.

Round trips per transaction (they dominate the client's CPU time when many members send
at once): ``eth_estimateGas``, ``eth_sendRawTransaction`` and the receipt (batched by
:meth:`wait_many`). The block gas limit, the base fee and the fee mode come from a latest
block shared for ``head_max_age`` seconds (:mod:`chain_client.head`), the nonce from the
local counter of the :class:`~chain_client.nonces.NonceManager`, the chain id from a cache.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from eth_typing import HexStr
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.datastructures import AttributeDict
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import BlockParams, TxReceipt

from chain_client import retry
from chain_client.addresses import checksum as to_checksum_address
from chain_client.encoding import to_hex
from chain_client.errors import (
    ContractRevert,
    NodeUnavailable,
    TransactionFailed,
    TransactionRejected,
    TransactionReplaced,
    TransactionTimeout,
)
from chain_client.fees import AutoFees, Fees, FeeStrategy, is_legacy
from chain_client.head import DEFAULT_MAX_AGE, block_period, latest_block
from chain_client.nonces import NonceManager
from chain_client.reverts import error_decoder
from chain_client.signers import Signer

try:  # what LocalAccount.sign_transaction does after re-deriving the key (see _sign)
    from eth_account._utils.signing import sign_transaction_dict as _sign_transaction_dict
except ImportError:  # pragma: no cover - another eth_account layout: use the public API
    _sign_transaction_dict = None  # type: ignore[assignment]
try:  # how web3 formats eth_getTransactionReceipt results (for batched receipt polls)
    from web3._utils.method_formatters import receipt_formatter as _receipt_formatter
except ImportError:  # pragma: no cover - another web3 layout: poll one by one
    _receipt_formatter = None

log = logging.getLogger(__name__)

#: Receipts asked for in one JSON-RPC batch by :meth:`TransactionSender.wait_many`.
RECEIPT_BATCH = 200
#: Broadcast hashes a sender remembers to recognize its own bytes.
_REMEMBERED = 4096
#: Seconds a broadcast keeps trying a node it cannot reach before it gives up
#: (NodeUnavailable): a caller that is sending wants to know soon; one that is waiting
#: (wait, wait_many) tries again at its next resubmit check.
BROADCAST_BUDGET = 2.0


class Refusal(Enum):
    """What a node's refusal of ``eth_sendRawTransaction`` says, as far as its words go."""

    KNOWN = "the node already has these bytes"
    NONCE = "the nonce is used (or, for FISCO, the bytes are on chain)"
    UNDERPRICED = "another transaction with this nonce pays more, or the price is too low"
    OTHER = "words we do not know: the chain is asked what they mean"


#: How nodes word their refusals, after :func:`_words` (lower case, CamelCase and
#: snake_case split into words: Besu's ``TRANSACTION_ALREADY_KNOWN`` and Nethermind's
#: ``AlreadyKnown`` both read "already known"). The one place these wordings live. They are
#: only a fast path: a refusal of our own bytes in words not listed here is judged by what
#: the chain says (:meth:`TransactionSender._fate`).
REFUSAL_WORDINGS: Mapping[Refusal, tuple[str, ...]] = {
    Refusal.KNOWN: (
        # geth, erigon "already known"; Besu TRANSACTION_ALREADY_KNOWN; Nethermind AlreadyKnown
        "already known",
        # Besu "Known transaction"; older geth "known transaction: 0x.."
        "known transaction",
        # anvil "transaction already imported"
        "already imported",
        # @ethereumjs/client "0x..: this transaction is already in the TxPool"
        "already in the tx pool",
        # FISCO BCOS AlreadyInTxPool
        "already in tx pool",
        # erigon "INTERNAL_ERROR: existing tx with same hash"
        "existing tx with same hash",
    ),
    Refusal.NONCE: (
        # geth, anvil; Besu "Nonce too low", NONCE_TOO_LOW; ethereumjs "(tx nonce too low)"
        "nonce too low",
        # OpenEthereum "Transaction nonce is too low"
        "nonce is too low",
        # Nethermind OldNonce
        "old nonce",
        # FISCO BCOS NonceCheckFail
        "nonce check fail",
        # FISCO BCOS TxAlreadyInChain: these very bytes are mined
        "tx already in chain",
        # geth, Besu: a gap below this nonce; the local counter is off either way
        "nonce too high",
    ),
    Refusal.UNDERPRICED: (
        "underpriced",  # geth, Besu "Replacement transaction underpriced"
        "fee too low",  # Nethermind FeeTooLow, FeeTooLowToCompete
        "replacement fee",  # anvil, erigon
    ),
}


def refusal_of(message: str) -> Refusal:
    """What a node's refusal says by its words (:data:`REFUSAL_WORDINGS`), or OTHER."""
    words = _words(message)
    for refusal, wordings in REFUSAL_WORDINGS.items():
        if any(wording in words for wording in wordings):
            return refusal
    return Refusal.OTHER


def _words(message: str) -> str:
    """``message`` as lower-case words: "AlreadyInTxPool" and "ALREADY_IN_TX_POOL" both
    become "already in tx pool"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[_\-]+", " ", message)
    return " ".join(spaced.lower().split())


#: Pacing where the chain has no block period (a development chain mining on demand).
NO_PERIOD_RESUBMIT_INTERVAL = 3.0
NO_PERIOD_CONFIRMATIONS = 1
#: How long (seconds) a fork of a proof-of-authority network lasts at most in practice: a
#: block reaches every sealer within it (network latency plus Clique's out-of-turn delay).
FORK_SECONDS = 3.0
#: Bounds of the derived values: 1 s floor (a node is not asked more often than that about
#: a missing transaction), 30 s ceiling (a halted chain measures an absurd period), and no
#: more than 12 confirmations however short the blocks.
RESUBMIT_BOUNDS = (1.0, 30.0)
MAX_CONFIRMATIONS = 12


def pacing(period: float | None) -> tuple[int, float]:
    """(default confirmations, resubmit interval) for a chain sealing a block every
    ``period`` seconds (None: no period). The one place the rule is written:

    - resubmit interval: two block periods, within :data:`RESUBMIT_BOUNDS`. A healthy node
      includes a pooled transaction in the next block or the one after; looking for it
      more often only costs the node reads, and less often delays a dropped transaction.
    - confirmations: the transaction's block plus enough blocks to cover
      :data:`FORK_SECONDS`, at most :data:`MAX_CONFIRMATIONS`: a fork lasts a time, not a
      number of blocks, so a 1 s chain needs 4 blocks to be as sure as a 3 s chain with 2.
    - no period (a development chain: :func:`chain_client.head.block_period`): 1
      confirmation and 3 s, as before the period was measured.

    A :class:`TransactionSender` given ``confirmations`` or ``resubmit_interval`` uses those
    instead.
    """
    if period is None or period <= 0:
        return NO_PERIOD_CONFIRMATIONS, NO_PERIOD_RESUBMIT_INTERVAL
    low, high = RESUBMIT_BOUNDS
    resubmit = min(high, max(low, 2 * period))
    confirmations = min(MAX_CONFIRMATIONS, 1 + math.ceil(FORK_SECONDS / period))
    return confirmations, resubmit


#: What the chain says became of a transaction (TransactionSender._fate).
Fate = Literal["held", "mined", "taken", "absent"]


@dataclass(frozen=True)
class PreparedTransaction:
    """A transaction ready to be signed but for its nonce.

    The nonce is left out because it is the one field that must be chosen under the
    account's lock, right before the broadcast (:meth:`TransactionSender.submit_prepared`);
    everything else (gas, fees, chain id) is settled here, outside the lock. This is what
    a signer other than the service's key store would be given to sign.
    """

    sender: str
    fields: Mapping[str, Any]  # to, data, value, gas, chainId, fees, type
    abi: Sequence[Mapping[str, Any]] | None = None

    def with_nonce(self, nonce: int) -> dict[str, Any]:
        """The unsigned transaction a signer signs."""
        return {**self.fields, "nonce": nonce}


@dataclass(frozen=True)
class SignedTransaction:
    """Signed bytes and their hash: what a journal stores before the broadcast.

    ``fields`` are the unsigned fields that were signed; they are empty for a transaction
    known only by its bytes (read back from a journal), which can be sent again and waited
    for but not re-priced.
    """

    sender: str
    nonce: int
    tx_hash: str
    raw: bytes
    fields: Mapping[str, Any] = field(default_factory=dict)
    abi: Sequence[Mapping[str, Any]] | None = None


#: called with each signed transaction before it is broadcast (see submit_prepared)
BeforeBroadcast = Callable[[SignedTransaction], None]


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

    @classmethod
    def of(cls, signed: SignedTransaction) -> PendingTransaction:
        """Track ``signed`` (just broadcast, or broadcast by an earlier process)."""
        return cls(
            signed.sender, signed.nonce, dict(signed.fields), signed.raw, signed.tx_hash, signed.abi
        )


class TransactionSender:
    """Sends transactions signed by ``account`` through ``w3``.

    ``gas_margin_percent``: added to every estimate (state can change between estimate and
    inclusion). ``confirmations``: blocks that must include-or-follow the tx before
    :meth:`wait` returns (1 = mined). ``resubmit_interval``: how often :meth:`wait` checks
    whether the node still knows the tx. Left None, both follow the chain's block period
    (:func:`pacing`). ``bump_after``: if set, a tx still pending after that many seconds is
    replaced with bumped fees (never on a zero-price chain). ``head_max_age``: how old
    (seconds) the latest block used for the gas limit cap may be.
    """

    def __init__(
        self,
        w3: Web3,
        account: Signer,
        *,
        fee_strategy: FeeStrategy | None = None,
        nonce_manager: NonceManager | None = None,
        gas_margin_percent: int = 20,
        confirmations: int | None = None,
        timeout: float = 120.0,
        poll_interval: float = 0.1,
        resubmit_interval: float | None = None,
        bump_after: float | None = None,
        head_max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.fee_strategy: FeeStrategy = fee_strategy or AutoFees()
        self.nonces = nonce_manager or NonceManager(w3)
        self.gas_margin_percent = gas_margin_percent
        self.confirmations = confirmations  # None: by the block period
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.resubmit_interval = resubmit_interval
        self.bump_after = bump_after
        self.head_max_age = head_max_age
        self._chain_id: int | None = None
        # Hashes of the raw transactions this sender broadcast lately (see _broadcast).
        self._broadcasted: OrderedDict[str, None] = OrderedDict()
        self._broadcasted_lock = threading.Lock()

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def confirmations(self) -> int:
        """Blocks :meth:`wait` wants by default: as set, or by the block period (:func:`pacing`)."""
        if self._confirmations is not None:
            return self._confirmations
        return pacing(block_period(self.w3))[0]

    @confirmations.setter
    def confirmations(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError("confirmations must be >= 1")
        self._confirmations = value

    @property
    def resubmit_interval(self) -> float:
        """Seconds between checks that the node still has a missing transaction: as set,
        or by the block period (:func:`pacing`)."""
        if self._resubmit_interval is not None:
            return self._resubmit_interval
        return pacing(block_period(self.w3))[1]

    @resubmit_interval.setter
    def resubmit_interval(self, value: float | None) -> None:
        self._resubmit_interval = value

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
        block: int | BlockParams = "latest",
    ) -> bytes:
        """eth_call ``tx`` from this account; a revert raises the decoded error."""
        params = self._call_params(tx)
        with error_decoder(abi or []).raising():
            return bytes(self.w3.eth.call(params, block_identifier=block))  # type: ignore[arg-type]

    def estimate_gas(
        self, tx: Mapping[str, Any], *, abi: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Node estimate plus the safety margin, capped at the block gas limit."""
        params = self._call_params(tx)
        with error_decoder(abi or []).raising():
            estimate = int(self.w3.eth.estimate_gas(params))  # type: ignore[arg-type]
        with_margin = estimate * (100 + self.gas_margin_percent) // 100
        block_limit = int(latest_block(self.w3, self.head_max_age)["gasLimit"])
        if with_margin * 2 > block_limit:
            # Near the limit the cap matters: use the limit of the block that is latest now
            # (a cached one is at most head_max_age old; the limit moves 1/1024 a block).
            block_limit = int(latest_block(self.w3, 0)["gasLimit"])
        return min(with_margin, block_limit)

    # -- sending -------------------------------------------------------------------------

    def prepare(
        self,
        tx: Mapping[str, Any],
        *,
        abi: Sequence[Mapping[str, Any]] | None = None,
        fees: Fees | None = None,
    ) -> PreparedTransaction:
        """Everything a signer needs but the nonce: gas estimated, fees priced, chain id.

        ``tx`` holds ``to`` (omit for a deployment), ``data``, ``value`` and optionally
        ``gas`` (a fixed gas limit skips estimation, so a reverting call gets mined).
        Estimation is where a call that would revert now raises its decoded custom error,
        before anything is signed.
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
        return PreparedTransaction(self.address, fields, abi)

    def sign(self, prepared: PreparedTransaction, nonce: int) -> SignedTransaction:
        """``prepared`` with ``nonce``, signed by this sender's key."""
        if prepared.sender != self.address:
            raise ValueError(f"{prepared.sender}'s transaction given to {self.address}'s signer")
        fields = prepared.with_nonce(nonce)
        raw, tx_hash = _sign(self.account, fields)
        return SignedTransaction(self.address, nonce, tx_hash, raw, fields, prepared.abi)

    def submit_prepared(
        self,
        prepared: PreparedTransaction,
        *,
        before_broadcast: BeforeBroadcast | None = None,
    ) -> PendingTransaction:
        """Under the account's nonce lock: take the next nonce, sign, hand the signed
        transaction to ``before_broadcast``, broadcast; returns without waiting.

        ``before_broadcast`` is how a caller records the signed bytes and their hash
        before the node can have them (the API's journal commits them to its database, so
        a crash after the broadcast leaves it knowing what to look for and what to send
        again). If the nonce turns out taken (another process sent with it), the call is
        signed again with the next one and the hook sees the new transaction too; if the
        hook raises, nothing of that attempt is broadcast and the nonce is not used up.

        A broadcast that cannot reach the node (:class:`NodeUnavailable`) after the hook
        recorded the bytes uses the nonce up: the node may have read them, and the caller
        holds them and sends them again (the API waits for its journaled transaction),
        so the account's next transaction must not be signed with the same nonce. Without
        the hook nobody will send them again, and the nonce stays free.
        """
        with self.nonces.reserve(self.address) as slot:
            for _attempt in range(5):
                signed = self.sign(prepared, slot.nonce)
                if before_broadcast is not None:
                    before_broadcast(signed)
                try:
                    outcome = self._broadcast(signed.raw, signed.tx_hash, signed.nonce)
                except NodeUnavailable:
                    if before_broadcast is not None:
                        slot.consume()
                    raise
                if outcome == "sent":
                    slot.consume()
                    return PendingTransaction.of(signed)
                slot.resync()  # "nonce too low": someone else used it; take the next one
                log.info("nonce conflict for %s, resynced to %d", self.address, slot.nonce)
        raise TransactionRejected(f"could not find a free nonce for {self.address}")

    def submit(
        self,
        tx: Mapping[str, Any],
        *,
        abi: Sequence[Mapping[str, Any]] | None = None,
        fees: Fees | None = None,
        before_broadcast: BeforeBroadcast | None = None,
    ) -> PendingTransaction:
        """:meth:`prepare` then :meth:`submit_prepared`: estimated, signed and broadcast,
        without waiting for inclusion."""
        return self.submit_prepared(
            self.prepare(tx, abi=abi, fees=fees), before_broadcast=before_broadcast
        )

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

        With one confirmation the receipt itself is the answer: a node serves receipts
        from its canonical chain only, so neither the head nor the block hash is read
        again (a reorg can undo a 1-confirmation transaction after this returns either
        way; ask for more confirmations when that matters). With more, the head must be
        far enough and the receipt's block still canonical.

        Transient node errors (:mod:`chain_client.retry`: the node down, restarting,
        answering 5xx or -32603) are retried until ``timeout``: a node that is down meanwhile
        delays the answer, and once it is back the transaction is looked for and, if the
        node lost it, sent again byte for byte. If the node is still unreachable at the
        timeout, :class:`~chain_client.errors.NodeUnavailable` (a TransactionTimeout) says so.
        """
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        last_check = time.monotonic()
        needed = self._needed(confirmations, deadline, pending)
        while True:
            with self._until(deadline, pending):
                receipt = self._find_receipt(pending)
                if receipt is not None:
                    if self._settled(receipt, needed):
                        if receipt["status"] == 1 or not raise_on_failure:
                            return receipt
                        raise self.failure_reason(pending, receipt)
                elif time.monotonic() - last_check >= self.resubmit_interval:
                    last_check = time.monotonic()
                    self._keep_alive(pending)
            if time.monotonic() >= deadline:
                raise _timeout(pending, needed)
            time.sleep(self.poll_interval)

    def wait_many(
        self,
        pendings: Sequence[PendingTransaction],
        *,
        confirmations: int | None = None,
        timeout: float | None = None,
        raise_on_failure: bool = True,
    ) -> list[TxReceipt]:
        """:meth:`wait` for each of ``pendings``, in order, polling receipts in batches.

        Same outcome as ``[self.wait(p, ...) for p in pendings]``: receipts in order, the
        first failure in that order raises, dropped transactions are rebroadcast, and each
        transaction gets ``timeout`` seconds from when the ones before it were done. Each
        poll round asks for every receipt still missing in one JSON-RPC batch instead of
        one request per transaction. With more than one confirmation each is waited for
        one by one (the confirmation checks are per block anyway). Transient node errors
        are retried as in :meth:`wait`.
        """
        limit = timeout if timeout is not None else self.timeout
        if not pendings:
            return []
        needed = self._needed(confirmations, time.monotonic() + limit, pendings[0])
        if needed > 1 or len(pendings) <= 1:
            return [
                self.wait(
                    p, confirmations=needed, timeout=timeout, raise_on_failure=raise_on_failure
                )
                for p in pendings
            ]
        receipts: list[TxReceipt | None] = [None] * len(pendings)
        done = 0  # receipts[:done] are settled and returned in order
        deadline = time.monotonic() + limit
        last_check = time.monotonic()
        # A later transaction found replaced raises only when its turn comes (an earlier
        # failure goes first, as with one wait() after the other).
        deferred: dict[int, Exception] = {}
        while True:
            with self._until(deadline, pendings[done]):
                missing = [k for k in range(done, len(pendings)) if receipts[k] is None]
                for k, receipt in zip(
                    missing, self._find_receipts([pendings[k] for k in missing]), strict=True
                ):
                    receipts[k] = receipt
                while done < len(pendings) and receipts[done] is not None:
                    receipt = receipts[done]
                    assert receipt is not None
                    if receipt["status"] != 1 and raise_on_failure:
                        raise self.failure_reason(pendings[done], receipt)
                    done += 1
                    deadline = time.monotonic() + limit
                if done == len(pendings):
                    return [r for r in receipts if r is not None]  # every one is, by now
                if done in deferred:
                    raise deferred[done]
                if time.monotonic() - last_check >= self.resubmit_interval:
                    last_check = time.monotonic()
                    for k in range(done, len(pendings)):
                        if receipts[k] is None and k not in deferred:
                            try:
                                self._keep_alive(pendings[k])
                            except (TransactionReplaced, TransactionRejected) as exc:
                                if k == done:
                                    raise
                                deferred[k] = exc
            if time.monotonic() >= deadline:
                raise _timeout(pendings[done], needed)
            time.sleep(self.poll_interval)

    def rebroadcast(self, pending: PendingTransaction) -> PendingTransaction:
        """Send the same raw tx again (a node that dropped it takes it back as is).

        If the node wants a replacement (its pool holds our nonce at a price it prefers,
        or its minimum price rose), the tx is re-signed with bumped fees.
        """
        try:
            self._broadcast(pending.raw, pending.tx_hash, pending.nonce, replacing=True)
            pending.broadcast_at = time.monotonic()
            log.info("rebroadcast %s (nonce %d)", pending.tx_hash, pending.nonce)
            return pending
        except TransactionRejected as exc:
            if refusal_of(str(exc)) is not Refusal.UNDERPRICED:
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
        raw, tx_hash = _sign(self.account, fields)
        self._broadcast(raw, tx_hash, pending.nonce, replacing=True)
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
        tx_hash = to_hex(receipt["transactionHash"])
        original = retry.call(self.w3.eth.get_transaction, HexStr(tx_hash))
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

    def _broadcast(self, raw: bytes, tx_hash: str, nonce: int, *, replacing: bool = False) -> str:
        """Send raw bytes. Returns "sent" or "nonce" (nonce already used by another tx).

        The node holding these very bytes (pooled or mined) counts as sent only if they are
        ours: a transaction being rebroadcast/replaced, or bytes this sender broadcast
        before (a retry after a lost connection). Otherwise another process signed the
        identical call with the same nonce and fees (our local nonce counter was behind);
        that one is theirs, so we take the next nonce rather than count their transaction
        as ours. A node that cannot be reached within :data:`BROADCAST_BUDGET` raises
        :class:`NodeUnavailable` (the bytes may have got there: they are safe to send again).
        """
        ours = replacing or tx_hash in self._broadcasted
        self._remember(tx_hash)
        try:
            for attempt in retry.retrying(BROADCAST_BUDGET, when=retry.is_transient_send):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        ours = True  # the lost attempt may have reached the node
                    self.w3.eth.send_raw_transaction(raw)
                    return "sent"
        except Web3RPCError as exc:
            if not retry.is_transient_send(exc):
                return self._refused(exc, tx_hash, nonce, ours=ours, replacing=replacing)
            raise NodeUnavailable(
                f"the node failed to take {tx_hash}: {_rpc_message(exc)}", tx_hash
            ) from exc
        except Exception as exc:
            if not retry.is_transient_send(exc):
                raise
            raise NodeUnavailable(f"could not reach the node: {exc}", tx_hash) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _refused(
        self, exc: Web3RPCError, tx_hash: str, nonce: int, *, ours: bool, replacing: bool
    ) -> str:
        """What a refusal of ``tx_hash`` means: "sent", "nonce", or an exception.

        Known wordings (:data:`REFUSAL_WORDINGS`) decide at once; for others the chain is
        asked (:meth:`_fate`). Bytes of ours that the node refuses in words we do not know,
        while our nonce is still open on chain and nobody took it, count as held by the
        node: it took these very bytes before, and a refusal that was about price or nonce
        would have said so in the words above.
        """
        message = _rpc_message(exc)
        refusal = refusal_of(message)
        if refusal is Refusal.UNDERPRICED:
            if replacing:  # rebroadcast() re-signs with bumped fees
                raise TransactionRejected(f"node rejected {tx_hash}: {message}", tx_hash)
            return "nonce"  # a foreign tx holds this nonce in the pool
        if refusal is Refusal.KNOWN:
            return "sent" if ours else "nonce"  # ours, byte for byte: the pool has it
        if refusal is Refusal.NONCE and not ours:
            return "nonce"  # another process used it: take the next one
        fate = self._fate([tx_hash], nonce)
        if fate in ("held", "mined"):
            return "sent" if ours else "nonce"
        if fate == "taken" or refusal is Refusal.NONCE:
            if replacing:
                raise TransactionReplaced(
                    f"nonce of {tx_hash} was used by another transaction", tx_hash
                )
            return "nonce"
        if ours:
            log.info(
                "node refused our own %s (%s): its nonce is open, taken as held", tx_hash, message
            )
            return "sent"
        raise TransactionRejected(f"node rejected {tx_hash}: {message}", tx_hash)

    def _remember(self, tx_hash: str) -> None:
        with self._broadcasted_lock:
            self._broadcasted[tx_hash] = None
            self._broadcasted.move_to_end(tx_hash)
            while len(self._broadcasted) > _REMEMBERED:
                self._broadcasted.popitem(last=False)

    def _fate(self, hashes: Sequence[str], nonce: int, sender: str | None = None) -> Fate:
        """What the chain says became of ``sender``'s (default: ours) transaction with
        ``nonce``, any of ``hashes``.

        "held": the node shows one of the hashes (pooled or mined), or the account's
        pending nonce is past ours while its mined nonce is not (the pool holds a
        transaction with our nonce: nodes like @ethereumjs/client show pooled transactions
        to no ``eth_getTransactionByHash``); "mined": a receipt of ours; "taken": the mined
        nonce is past ours and no receipt is ours; "absent": none of these.
        """
        if any(self._visible(h) for h in hashes):
            return "held"
        sender = to_checksum_address(sender or self.address)
        if retry.call(self.w3.eth.get_transaction_count, sender, "latest") > nonce:
            for tx_hash in hashes:
                if self._receipt(tx_hash) is not None:
                    return "mined"
            return "taken"
        if retry.call(self.w3.eth.get_transaction_count, sender, "pending") > nonce:
            return "held"
        return "absent"

    def _visible(self, tx_hash: str) -> bool:
        """Whether ``eth_getTransactionByHash`` shows the transaction (pooled or mined)."""
        try:
            return retry.call(self.w3.eth.get_transaction, HexStr(tx_hash)) is not None
        except TransactionNotFound:
            return False

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of a mined ``tx_hash``, or None."""
        try:
            receipt = retry.call(self.w3.eth.get_transaction_receipt, HexStr(tx_hash))
        except TransactionNotFound:
            return None
        if receipt is None or receipt.get("blockNumber") is None:
            return None
        return receipt

    def _find_receipt(self, pending: PendingTransaction) -> TxReceipt | None:
        for tx_hash in reversed(pending.hashes):
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                if tx_hash != pending.tx_hash:
                    pending.tx_hash = tx_hash  # an earlier version won the race
                return receipt
        return None

    def _find_receipts(self, pendings: Sequence[PendingTransaction]) -> list[TxReceipt | None]:
        """:meth:`_find_receipt` for many, as JSON-RPC batches (falls back to one by one)."""
        if len(pendings) <= 1 or _receipt_formatter is None:
            return [self._find_receipt(p) for p in pendings]
        found: list[TxReceipt | None] = []
        for start in range(0, len(pendings), RECEIPT_BATCH):
            chunk = pendings[start : start + RECEIPT_BATCH]
            asked = [(i, h) for i, p in enumerate(chunk) for h in reversed(p.hashes)]
            answers = self._batch_receipts([h for _i, h in asked])
            if answers is None:
                found += [self._find_receipt(p) for p in chunk]
                continue
            best: list[TxReceipt | None] = [None] * len(chunk)
            unsure: set[int] = set()
            for (i, tx_hash), answer in zip(asked, answers, strict=True):
                if best[i] is not None:
                    continue  # a later version of this transaction already has a receipt
                if answer is _ERROR:
                    unsure.add(i)  # let the one-by-one path raise the node's error
                elif answer is not None and answer.get("blockNumber") is not None:
                    if tx_hash != chunk[i].tx_hash:
                        chunk[i].tx_hash = tx_hash  # an earlier version won the race
                    best[i] = answer
            for i in unsure:
                if best[i] is None:
                    best[i] = self._find_receipt(chunk[i])
            found += best
        return found

    def _batch_receipts(self, hashes: Sequence[str]) -> list[Any] | None:
        """Formatted receipts (None: not found, _ERROR: the node answered an error) for
        ``hashes`` in one batch, or None if the batch itself failed."""
        provider: Any = self.w3.provider
        try:
            responses = provider.make_batch_request(
                [("eth_getTransactionReceipt", [h]) for h in hashes]
            )
        except Exception as exc:  # e.g. a node without batch support: poll one by one
            log.debug("batched receipt poll failed (%s); polling one by one", exc)
            return None
        if not isinstance(responses, list) or len(responses) != len(hashes):
            return None
        answers: list[Any] = []
        for response in sorted(responses, key=lambda r: int(r.get("id", 0))):
            if response.get("error") is not None or "result" not in response:
                answers.append(_ERROR)
            elif response["result"] is None:
                answers.append(None)
            else:
                answers.append(AttributeDict.recursive(_receipt_formatter(response["result"])))
        return answers

    def _settled(self, receipt: Mapping[str, Any], needed: int) -> bool:
        """Enough confirmations (see :meth:`wait` for why one needs no further reads)."""
        if needed <= 1:
            return True
        head = int(retry.call(lambda: self.w3.eth.block_number))
        return head - int(receipt["blockNumber"]) + 1 >= needed and self._canonical(receipt)

    def _canonical(self, receipt: Mapping[str, Any]) -> bool:
        """False if the receipt's block was reorganized away meanwhile."""
        block = retry.call(self.w3.eth.get_block, int(receipt["blockNumber"]))
        return bool(block["hash"] == receipt["blockHash"])

    def _keep_alive(self, pending: PendingTransaction) -> None:
        """Called while no receipt exists: resubmit if dropped, bump if stuck.

        Dropped means the chain shows no sign of it (:meth:`_fate` "absent"), not merely
        that ``eth_getTransactionByHash`` says null: some nodes never show pooled
        transactions there, and resending to them was refused as "already in the TxPool".
        """
        fate = self._fate(pending.hashes, pending.nonce, pending.sender)
        if fate == "mined":
            return  # mined meanwhile: the next poll finds the receipt
        if fate == "taken":
            raise TransactionReplaced(
                f"nonce {pending.nonce} of {pending.sender} was used by another transaction",
                pending.tx_hash,
            )
        if fate == "held":
            stuck_for = time.monotonic() - pending.broadcast_at
            if self.bump_after is not None and stuck_for >= self.bump_after:
                old = {k: v for k, v in pending.tx.items() if k.endswith(("Price", "PerGas"))}
                if any(old.values()):  # nothing to bump on a zero-price chain
                    self.replace(pending)
            return
        log.warning("transaction %s was dropped by the node; resubmitting", pending.tx_hash)
        self.rebroadcast(pending)

    def _needed(
        self, confirmations: int | None, deadline: float, pending: PendingTransaction
    ) -> int:
        """The confirmations a wait wants (the default may need the chain: its period)."""
        while True:
            with self._until(deadline, pending):
                return confirmations or self.confirmations
            time.sleep(self.poll_interval)

    @contextmanager
    def _until(self, deadline: float, pending: PendingTransaction) -> Iterator[None]:
        """The reads inside retry transient node errors until ``deadline``
        (:func:`chain_client.retry.patience`). One that still fails at the deadline raises
        :class:`NodeUnavailable`; one that gave up sooner (a broadcast, which has a budget
        of its own) is let go, and the wait goes on: the next round tries again."""
        try:
            with retry.patience(deadline):
                yield
        except Exception as exc:
            if not retry.is_transient(exc):
                raise
            if time.monotonic() < deadline:
                log.info("node error while waiting for %s (%s); waiting on", pending.tx_hash, exc)
                return
            if isinstance(exc, NodeUnavailable):
                raise
            raise NodeUnavailable(
                f"the node was unreachable until the timeout while waiting for "
                f"{pending.tx_hash} (nonce {pending.nonce}); it may still be mined: {exc}",
                pending.tx_hash,
            ) from exc


_ERROR = object()


def _timeout(pending: PendingTransaction, needed: int) -> TransactionTimeout:
    return TransactionTimeout(
        f"no receipt with {needed} confirmation(s) for {pending.tx_hash} "
        f"(nonce {pending.nonce}) in time; it may still be mined",
        pending.tx_hash,
    )


def _sign(account: Signer, fields: Mapping[str, Any]) -> tuple[bytes, str]:
    """(raw signed transaction, 0x hash), as ``account.sign_transaction(fields)`` gives.

    ``LocalAccount.sign_transaction`` re-parses the private key and re-derives the public
    key (an elliptic-curve multiplication in pure Python) on every call; the account
    already holds the parsed key, so we sign with it directly when we can.
    """
    key = getattr(account, "_key_obj", None)
    if _sign_transaction_dict is None or key is None or "from" in fields:
        signed = account.sign_transaction(dict(fields))
        return bytes(signed.raw_transaction), to_hex(signed.hash)
    _v, _r, _s, encoded = _sign_transaction_dict(key, dict(fields))
    raw = bytes(encoded)
    return raw, to_hex(keccak(raw))


def _rpc_message(exc: Web3RPCError) -> str:
    return retry.rpc_error(exc)[1]
