"""Per-account nonce allocation that stays correct under many threads.

Why not ask the node each time: two threads that both read ``pending`` count N before
either broadcast would both sign nonce N, and one transaction would be lost; and the query
is one more round trip per transaction. We hold a lock per address from "pick the nonce"
to "the node accepted the raw transaction", and keep a local counter:

* the first allocation for an address reads the node's ``pending`` transaction count;
  later ones take the local counter, which moves past every nonce the node accepted;
* the counter is re-read from the node only when the node says the nonce is wrong
  ("nonce too low"/"too high", or a pool slot held by a transaction that is not ours):
  the sender then calls :meth:`NonceSlot.resync`. That covers another process sending
  from the same account (its transactions move the node's count ahead of ours: our next
  send is refused once, resyncs, and goes out with the next free nonce) and a node that
  was reset or restarted without its pool (our count is ahead: "nonce too high" resyncs
  down). :meth:`NonceManager.reset` forgets the counter explicitly;
* a transaction the node *dropped* from its pool keeps its nonce: the counter does not
  move back, because the dropped transaction is still ours and :meth:`TransactionSender.wait
  <chain_client.transactions.TransactionSender.wait>` rebroadcasts it. Until then later
  transactions wait behind the gap (as they would on any node).

One process should send from one account through one :class:`NonceManager` (senders of
the same account in one process must share it); a second process using the same key is
survivable as described above, not a supported way to run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from web3 import Web3

from chain_client.addresses import checksum


class NonceSlot:
    """The nonce reserved for one send. Valid only inside :meth:`NonceManager.reserve`."""

    def __init__(self, manager: NonceManager, address: str, nonce: int) -> None:
        self._manager = manager
        self.address = address
        self.nonce = nonce
        self.consumed = False
        self.resynced = False

    def consume(self) -> None:
        """Mark the nonce as used (the node accepted a transaction with it)."""
        self.consumed = True

    def resync(self) -> int:
        """Re-read the node's pending count and take that as the nonce."""
        self.nonce = self._manager._pending_count(self.address)
        self.resynced = True
        return self.nonce


class NonceManager:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, address: str) -> threading.Lock:
        lock = self._locks.get(address)
        if lock is None:
            with self._guard:
                lock = self._locks.setdefault(address, threading.Lock())
        return lock

    def _pending_count(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]

    @contextmanager
    def reserve(self, address: str) -> Iterator[NonceSlot]:
        """Hold ``address``'s lock and yield its next nonce.

        If the block ends with ``slot.consume()`` called, the counter moves past the slot's
        nonce. Otherwise (an exception, or a send that was refused) the nonce is not used
        up; if the slot was resynced meanwhile, the node's count is kept as the counter.
        """
        address = checksum(address)
        with self._lock_for(address):
            known = self._next.get(address)
            slot = NonceSlot(
                self, address, known if known is not None else self._pending_count(address)
            )
            try:
                yield slot
            finally:
                if slot.consumed:
                    self._next[address] = slot.nonce + 1
                elif slot.resynced:
                    self._next[address] = slot.nonce

    def peek(self, address: str) -> int | None:
        """The locally expected next nonce (None before the first send)."""
        return self._next.get(checksum(address))

    def reset(self, address: str | None = None) -> None:
        """Forget local counters: the next send reads the node's count again."""
        with self._guard:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(checksum(address), None)
