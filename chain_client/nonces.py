"""Per-account nonce allocation that stays correct under many threads.

Why not ask the node each time: two threads that both read ``pending`` count N before
either broadcast would both sign nonce N, and one transaction would be lost. We hold a
lock per address from "pick the nonce" to "the node accepted the raw transaction", and
keep a local counter. Each allocation still takes ``max(local, node pending count)`` so
another process sending from the same account moves us forward rather than into
"nonce too low"; when the node still says "nonce too low", the sender calls
:meth:`NonceSlot.resync`.

Senders of the same account in one process must share one :class:`NonceManager`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eth_utils import to_checksum_address
from web3 import Web3


class NonceSlot:
    """The nonce reserved for one send. Valid only inside :meth:`NonceManager.reserve`."""

    def __init__(self, manager: NonceManager, address: str, nonce: int) -> None:
        self._manager = manager
        self.address = address
        self.nonce = nonce
        self.consumed = False

    def consume(self) -> None:
        """Mark the nonce as used (the node accepted a transaction with it)."""
        self.consumed = True

    def resync(self) -> int:
        """Re-read the node's pending count and take that as the nonce."""
        self.nonce = self._manager._pending_count(self.address)
        return self.nonce


class NonceManager:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, address: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(address, threading.Lock())

    def _pending_count(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))

    @contextmanager
    def reserve(self, address: str) -> Iterator[NonceSlot]:
        """Hold ``address``'s lock and yield its next nonce.

        If the block ends with ``slot.consume()`` called, the counter moves past the slot's
        nonce; otherwise (an exception, or a send that was refused) it is not used up.
        """
        address = to_checksum_address(address)
        with self._lock_for(address):
            slot = NonceSlot(
                self, address, max(self._next.get(address, 0), self._pending_count(address))
            )
            yield slot
            if slot.consumed:
                self._next[address] = slot.nonce + 1

    def peek(self, address: str) -> int | None:
        """The locally expected next nonce (None before the first send)."""
        return self._next.get(to_checksum_address(address))

    def reset(self, address: str | None = None) -> None:
        """Forget local counters (e.g. after the node was restarted or reset)."""
        with self._guard:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(to_checksum_address(address), None)
