"""The indexer of one process: the read model kept up with the chain, and requests that
wait until it covers a block (read-your-writes).

Read-your-writes: a command answers only once the read model covers the block that mined
its transaction (:meth:`Indexer.wait_indexed`); a report waits until it covers the chain's
head (:meth:`Indexer.wait_for_head`). The projector (:mod:`api.read_model.projector`) is
the read model's only writer, in one process of a server: that process follows the chain
(:meth:`Indexer.follow`), stepping at once when a request waits (several waiting requests
ride on one step, which reads their blocks in one page and their state in batched calls)
and every ``interval`` otherwise. The other worker processes of the server watch its
checkpoint in the database (:meth:`Indexer.watch`) and tell it what they wait for
(:mod:`api.wakeup`). Why not let each command apply its own receipt: it cost two chain
reads and a write transaction per command that the indexer then did again, and with
several worker processes the check "is the indexer past this block" under one lock is no
longer possible without a database lock shared by every writer.

Without a background loop in the process (tests, scripts, ``background=False``) there is
no indexing process: a waiting request steps the projector in its own thread (the
projector's lock keeps one step at a time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select

from api import wakeup
from api.models import IndexerCheckpoint
from api.read_model.progress import IndexProgress
from api.read_model.projector import Projector
from chain_client.ledger import Ledger

log = logging.getLogger(__name__)

#: seconds a read that must see everything mined so far (a report, a pass of the maturity
#: job) waits for the read model to cover the chain's head before it goes on with what is
#: indexed
HEAD_WAIT_TIMEOUT = 10.0


class Indexer:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        *,
        page_size: int = 2_000,
        wakeup_path: Path | None = None,
        read_engine: Engine | None = None,
        signals: wakeup.Signals | None = None,
    ) -> None:
        """``signals``: how the indexing process hears that a request of another process
        waits, and tells the others how far the read model is (:mod:`api.wakeup`);
        ``wakeup_path``: datagram signals through that socket. ``read_engine``: for the
        checkpoint reads of :meth:`watch` (see :func:`api.db.read_only`)."""
        self.read_engine = read_engine or engine
        self.signals = signals or wakeup.DatagramSignals.at(wakeup_path)
        self.projector = Projector(engine, ledger, page_size=page_size, on_indexed=self._indexed)
        self.progress = IndexProgress(self.projector.indexed_block)
        self._following = False  # this process runs the follower
        #: how many of :meth:`follow` and :meth:`watch` run in this process; without
        #: either (tests, scripts) :meth:`wait_indexed` steps in the caller's thread
        self._background = 0
        self._background_lock = threading.Lock()

    @property
    def in_background(self) -> bool:
        """Whether :meth:`follow` or :meth:`watch` runs in this process (else a waiting
        request steps the projector itself)."""
        with self._background_lock:
            return self._background > 0

    @property
    def indexed_block(self) -> int:
        """The newest block the read model covers, as this process knows it."""
        return self.progress.indexed_block

    # -- the projector, driven from this thread -----------------------------------------------

    def step(self, *, unless_indexed: int | None = None) -> int:
        """Index at most one page (:meth:`Projector.step`)."""
        return self.projector.step(unless_indexed=unless_indexed)

    def catch_up(self, max_pages: int = 1_000) -> int:
        """Index until the chain head, or the block a request waits for if that is later;
        returns how many events were stored. For the indexing process and for start-up
        (:func:`api.app.prepare`, before any other process runs)."""
        return self.projector.catch_up(max_pages, until=self.progress.wanted)

    def _indexed(self, block: int) -> None:
        self.progress.moved_to(block)
        if self.signals is not None and block >= 0:
            self.signals.publish(block)

    # -- read-your-writes -------------------------------------------------------------------

    def wait_indexed(self, block: int, timeout: float) -> bool:
        """Wait until the read model covers ``block``; False if ``timeout`` passed first
        (the command's answer does not depend on it: the rows follow a moment later)."""
        if self.indexed_block >= block:
            return True
        if not self._background:
            self.projector.sync_to(block)
            return self.indexed_block >= block
        reached = self.progress.waiter(block)
        if reached is None:
            return True
        if self.signals is not None and not self._following:
            self.signals.want(block)  # the indexer runs in another process
        return reached.wait(timeout) or self.indexed_block >= block

    def wait_for_head(self, timeout: float) -> bool:
        """Wait until the read model covers the newest block the chain has now (as far
        as confirmations allow); False if ``timeout`` passed first. For reads that must
        see everything mined so far (a report checked against the chain)."""
        return self.wait_indexed(self.projector.reader.safe_head(), timeout)

    def cover_head(self, what: str) -> None:
        """Wait, at most :data:`HEAD_WAIT_TIMEOUT`, until the read model covers the chain's
        head, for a read that must count everything mined so far (a report, a bid's use);
        past the bound ``what`` is answered from what is indexed, and the log says so."""
        if not self.wait_for_head(HEAD_WAIT_TIMEOUT):
            log.warning(
                "%s answered from the read model at block %d: the chain's head was not "
                "indexed within %.0f s",
                what,
                self.indexed_block,
                HEAD_WAIT_TIMEOUT,
            )

    # -- the background loops -----------------------------------------------------------------

    def follow(self, stop: threading.Event, interval: float, retry: float = 0.02) -> None:
        """The indexing process's loop: step as soon as a request waits for a block not
        indexed yet (here, or in another process: :mod:`api.wakeup`), else every
        ``interval`` seconds, until ``stop`` is set."""
        listener = None
        if self.signals is not None:
            listener = threading.Thread(
                target=self.signals.hear_wanted,
                name="indexer-wakeup",
                args=(self.progress.want, stop),
                daemon=True,
            )
            listener.start()
        self._following = True
        try:
            self._run_background(stop, interval, retry, self.catch_up)
        finally:
            self._following = False
            if listener is not None:
                listener.join(2.0)

    def watch(self, stop: threading.Event, poll: float = 0.01, poll_when_told: float = 0.2) -> None:
        """The other processes' loop: hear from the indexing process how far the read
        model is (:meth:`api.wakeup.Signals.hear_indexed`) and, while a request waits, read
        its checkpoint from the database every ``poll_when_told`` seconds (a lost
        datagram, a reorg), or every ``poll`` seconds if this process cannot listen."""
        query = sa_select(func.max(IndexerCheckpoint.block_number))

        def read_checkpoint() -> None:
            with self.read_engine.connect() as conn:
                newest = conn.execute(query).scalar()
            self.progress.moved_to(-1 if newest is None else int(newest))

        listener = None
        if self.signals is not None and self.signals.hears_indexed():
            listener = threading.Thread(
                target=self.signals.hear_indexed,
                name="indexed-listener",
                args=(self.progress.advanced_to, stop),
                daemon=True,
            )
            listener.start()
            poll = poll_when_told
        try:
            self._run_background(stop, 1.0, poll, read_checkpoint)
        finally:
            if listener is not None:
                listener.join(2.0)

    def _run_background(
        self, stop: threading.Event, interval: float, retry: float, advance: Callable[[], object]
    ) -> None:
        with self._background_lock:
            self._background += 1
        try:
            while not stop.is_set():
                self.progress.wait_for_demand(stop, interval)
                if stop.is_set():
                    return
                try:
                    advance()
                except Exception:  # keep following; the next pass retries
                    log.exception("indexer: could not advance")
                    stop.wait(min(interval, 1.0))
                    continue
                if self.progress.behind:
                    stop.wait(retry)  # the block is not readable yet (confirmations)
        finally:
            with self._background_lock:
                self._background -= 1
