"""How far the read model is, as one process knows it, and the requests of that process
waiting for it to cover a block (read-your-writes, docs/design.md).

Why each waiter has its own event, woken only when the read model reaches its own block:
waking every waiting request on every step of the projector cost CPU for nothing.
"""

from __future__ import annotations

import heapq
import itertools
import threading


class IndexProgress:
    """The newest block the read model covers (``indexed_block``), the highest block a
    request of this process waits for (``wanted``), and the waiting requests."""

    def __init__(self, indexed_block: int) -> None:
        self.indexed_block = indexed_block
        self.wanted = -1
        self._changed = threading.Condition()
        #: (block, ticket, event): a heap, the lowest block first
        self._waiters: list[tuple[int, int, threading.Event]] = []
        self._tickets = itertools.count()

    @property
    def behind(self) -> bool:
        """A request waits for a block the read model does not cover yet."""
        return self.wanted > self.indexed_block

    def moved_to(self, block: int) -> None:
        """The read model covers ``block`` now (lower than before after a reorg)."""
        with self._changed:
            self.indexed_block = block
            while self._waiters and self._waiters[0][0] <= block:
                heapq.heappop(self._waiters)[2].set()

    def advanced_to(self, block: int) -> None:
        """Told by another process (datagrams may arrive late: never move back)."""
        with self._changed:
            if block > self.indexed_block:
                self.moved_to(block)

    def want(self, block: int) -> None:
        """A request needs ``block``: wake whoever advances the read model."""
        with self._changed:
            if block > self.wanted:
                self.wanted = block
                self._changed.notify_all()

    def waiter(self, block: int) -> threading.Event | None:
        """An event set once the read model covers ``block`` (None: it does already)."""
        with self._changed:
            if self.indexed_block >= block:
                return None
            reached = threading.Event()
            heapq.heappush(self._waiters, (block, next(self._tickets), reached))
            self.want(block)
            return reached

    def wait_for_demand(self, stop: threading.Event, timeout: float) -> None:
        """Until a request waits for a block not covered yet, ``stop`` is set, or
        ``timeout`` seconds passed."""
        with self._changed:
            self._changed.wait_for(lambda: self.behind or stop.is_set(), timeout)
