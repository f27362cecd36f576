"""Background work of a server: one process indexes the chain, runs the maturity job and
finishes commands a dead worker left half done.

Why a lock file: a server may run several worker processes (``SCF_WORKERS``), each a full
copy of the app. The read model must have one writer (two indexers would race on the same
rows) and a payout page should be sent once. The first process to hold an exclusive
``flock`` on ``<data dir>/background.lock`` does that work; the others watch its checkpoint
in the database, so their commands still answer only once the read model covers their
block, and try for the lock every few seconds: if the indexing process dies, the kernel
releases its lock and another worker takes over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO

from api.runtime import Runtime

log = logging.getLogger(__name__)


class ProcessLock:
    """An exclusive, non-blocking ``flock`` on a file, held until :meth:`release` or the
    process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class BackgroundWork:
    """Indexer and maturity job if this process holds the lock; a checkpoint watcher
    (and another try for the lock every ``claim_interval`` seconds) otherwise."""

    def __init__(
        self,
        runtime: Runtime,
        lock_path: Path,
        claim_interval: float = 2.0,
        first_claim_after: float = 0.0,
    ) -> None:
        """``first_claim_after``: watch only, for that long, before the first try for the
        lock (a server's worker processes leave it to its dedicated indexing process,
        which starts at the same time, and take over only if that one is gone)."""
        self.runtime = runtime
        self.lock = ProcessLock(lock_path)
        self.claim_interval = claim_interval
        self.first_claim_after = first_claim_after
        self._stop = threading.Event()
        self._stop_watching = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def indexing(self) -> bool:
        return self.lock.held

    def start(self) -> None:
        self._spawn("background-claim", self._claim)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._stop_watching.set()
        for thread in self._threads:
            thread.join(timeout)
        self.lock.release()

    # -- threads ------------------------------------------------------------------------------

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _claim(self) -> None:
        watching = False
        if self.first_claim_after > 0:
            self._spawn("indexer-watch", self.runtime.indexer.watch, self._stop_watching)
            watching = True
            if self._stop.wait(self.first_claim_after):
                return
        while not self._stop.is_set():
            if self.lock.try_acquire():
                self._stop_watching.set()  # the watcher ends; this process indexes now
                settings = self.runtime.settings
                self._spawn(
                    "indexer", self.runtime.indexer.follow, self._stop, settings.indexer_interval
                )
                self._spawn("maturity-job", self._maturity, settings.maturity_interval)
                log.info(
                    "this process (%d) indexes the chain and runs the maturity job", os.getpid()
                )
                return
            if not watching:
                self._spawn("indexer-watch", self.runtime.indexer.watch, self._stop_watching)
                watching = True
            self._stop.wait(self.claim_interval)

    def _maturity(self, interval: float) -> None:
        """The maturity job, and commands a dead worker left half done."""
        while not self._stop.is_set():
            try:
                self.runtime.maturity.step()
            except Exception:  # keep the loop alive; the next pass retries
                log.exception("maturity job step failed")
            try:
                self.runtime.runner.reconcile_abandoned()
            except Exception:
                log.exception("reconciling abandoned commands failed")
            self._stop.wait(interval)
