"""Background work of a server: one process indexes the chain, runs the maturity job,
finishes commands a dead worker left half done, and makes notifications and delivers
their webhooks.

Why one process: the read model must have one writer (two indexers would race on the same
rows) and a payout page should be sent once. The process that holds the *election* does
that work; the others watch its checkpoint in the database, so their commands still answer
only once the read model covers their block, and try for the election every few seconds:
if the indexing process dies, its hold is released and another takes over.

The election is chosen by the database:

* SQLite (the processes of one machine): an exclusive ``flock`` on
  ``<data dir>/background.lock`` (:class:`ProcessLock`); the kernel releases it when its
  holder dies.
* PostgreSQL (instances that may run on several machines, each with a data folder of its
  own): a session advisory lock, ``pg_try_advisory_lock``, held on a dedicated connection
  (:class:`AdvisoryLock`); PostgreSQL releases it when that connection closes, which the
  holder's death closes. The holder checks its connection every few seconds and stops
  indexing when it is lost: a connection cut without a close (a partition, a machine
  gone) is given up by the holder (``tcp_user_timeout``) before the server drops the
  session and the lock passes on (its TCP keep-alive; :func:`api.db.dedicated_connection`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, Protocol

import psycopg

from api.db import dedicated_connection, is_postgres
from api.runtime import Runtime
from api.settings import Settings

log = logging.getLogger(__name__)


class Election(Protocol):
    """A hold that one process of all those serving a database has at a time, released
    when its holder dies."""

    def try_acquire(self) -> bool:
        """Take the hold if nobody has it (True also if this process has it)."""
        ...

    @property
    def held(self) -> bool: ...

    def still_held(self) -> bool:
        """Whether the hold is still this process's (checked by its holder every few
        seconds; False: it was lost and the holder must stop)."""
        ...

    def release(self) -> None: ...


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

    def still_held(self) -> bool:
        return self._file is not None  # only release() gives an flock up

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLock:
    """A PostgreSQL session advisory lock named ``name`` in the service's schema (tests
    and several services may share one database), held on a connection of its own."""

    def __init__(self, settings: Settings, name: str = "background") -> None:
        self.settings = settings
        self.name = name
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _key_sql(self) -> str:
        return "hashtext('scf-api:' || %s || ':' || coalesce(current_schema(), ''))"

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        try:
            conn = dedicated_connection(self.settings)
        except psycopg.Error as exc:
            log.warning("election %s: cannot reach the database: %r", self.name, exc)
            return False
        try:
            row = conn.execute(
                f"SELECT pg_try_advisory_lock({self._key_sql()})",
                (self.name,),
            ).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if not (row and row[0]):
            conn.close()
            return False
        self._conn = conn
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None

    def still_held(self) -> bool:
        """The session lives, so its lock does (a session lock is only given up by its
        session or an explicit unlock)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error as exc:
            log.warning("election %s: lost the database connection (%r)", self.name, exc)
            self._drop()
            return False

    def holder(self) -> int | None:
        """The server process id of the session holding the lock, if any (for tests and
        operators)."""
        with dedicated_connection(self.settings) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                f"AND objsubid = 1 AND objid = ({self._key_sql()})::oid",
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else None  # type: ignore[call-overload]

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def release(self) -> None:
        self._drop()  # closing the session releases its lock


def election_for(settings: Settings, runtime: Runtime | None = None) -> Election:
    """The indexing election of a server: an advisory lock on PostgreSQL, the data
    folder's lock file on SQLite."""
    engine = runtime.engine if runtime is not None else None
    postgres = (
        is_postgres(engine)
        if engine is not None
        else settings.resolved_database_url.startswith("postgresql")
    )
    if postgres:
        return AdvisoryLock(settings)
    return ProcessLock(settings.background_lock)


class BackgroundWork:
    """Indexer and maturity job if this process holds the election; a checkpoint watcher
    (and another try for the election every ``claim_interval`` seconds) otherwise."""

    def __init__(
        self,
        runtime: Runtime,
        election: Election | Path | None = None,
        claim_interval: float = 2.0,
        first_claim_after: float = 0.0,
    ) -> None:
        """``election``: by default the database's (:func:`election_for`); a path: a lock
        file there. ``first_claim_after``: watch only, for that long, before the first try
        for the election (a server's worker processes leave it to its dedicated indexing
        process, which starts at the same time, and take over only if that one is gone)."""
        self.runtime = runtime
        if election is None:
            election = election_for(runtime.settings, runtime)
        elif isinstance(election, Path):
            election = ProcessLock(election)
        self.lock: Election = election
        self.claim_interval = claim_interval
        self.first_claim_after = first_claim_after
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def indexing(self) -> bool:
        return self.lock.held

    def start(self) -> None:
        """Index, or watch, from now on: a request served after this returns never steps
        the projector itself (a second writer)."""
        watching = None
        if self.first_claim_after > 0 or not self.lock.try_acquire():
            watching = self._watch()
        self._spawn("background-claim", self._claim, watching)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout)
        self.lock.release()

    # -- threads ------------------------------------------------------------------------------

    def _spawn(self, name: str, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()
        return thread

    def _watch(self) -> threading.Event:
        """Start watching the indexing process's checkpoint; set the event to stop."""
        stop_watching = threading.Event()
        thread = self._spawn("indexer-watch", self.runtime.indexer.watch, stop_watching)
        deadline = time.monotonic() + 1.0
        while not self.runtime.indexer.in_background and thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        return stop_watching

    def _claim(self, watching: threading.Event | None) -> None:
        try:
            if self.first_claim_after > 0 and self._stop.wait(self.first_claim_after):
                return
            while not self._stop.is_set():
                if self.lock.try_acquire():
                    if watching is not None:
                        watching.set()  # the watcher ends; this process indexes now
                        watching = None
                    watching = self._work_while_held()
                    continue
                if watching is None:
                    watching = self._watch()
                self._stop.wait(self.claim_interval)
        finally:
            if watching is not None:
                watching.set()

    def _work_while_held(self) -> threading.Event | None:
        """Index and run the maturity job until this process stops or loses the
        election; then they stop, and (unless stopping) this process watches again and
        tries for the election again. Returns the watcher's stop event."""
        settings = self.runtime.settings
        done = threading.Event()
        workers = [
            self._spawn("indexer", self.runtime.indexer.follow, done, settings.indexer_interval),
            self._spawn("maturity-job", self._maturity, settings.maturity_interval, done),
            self._spawn("notifications", self._notify, settings.indexer_interval, done),
        ]
        log.info("this process (%d) indexes the chain and runs the maturity job", os.getpid())
        try:
            while not self._stop.wait(self.claim_interval):
                if not self.lock.still_held():
                    log.warning(
                        "this process (%d) lost the indexing election; it stops indexing",
                        os.getpid(),
                    )
                    break
        finally:
            # watching before the follower stops: a request never steps the projector
            watching = None if self._stop.is_set() else self._watch()
            done.set()
            for thread in workers:
                thread.join(30.0)
                if thread in self._threads:
                    self._threads.remove(thread)
            if not self._stop.is_set():
                self.lock.release()
        return watching

    def _notify(self, interval: float, done: threading.Event) -> None:
        """Notifications from what the indexer read, and the webhook deliveries due (a
        thread of their own: an endpoint that answers slowly delays nothing else)."""
        while not done.is_set():
            try:
                self.runtime.notifier.step()
            except Exception:
                log.exception("making notifications failed")
            try:
                self.runtime.webhooks.deliver_due()
            except Exception:
                log.exception("delivering webhooks failed")
            done.wait(max(interval, 0.2))

    def _maturity(self, interval: float, done: threading.Event) -> None:
        """The maturity job, commands a dead worker left half done, and waiting commands
        past their expiry."""
        while not done.is_set():
            try:
                self.runtime.maturity.step()
            except Exception:  # keep the loop alive; the next pass retries
                log.exception("maturity job step failed")
            try:
                self.runtime.runner.reconcile_abandoned()
            except Exception:
                log.exception("reconciling abandoned commands failed")
            try:
                self.runtime.runner.approvals.expire()
            except Exception:
                log.exception("expiring waiting commands failed")
            try:  # prepared transactions never signed release their nonces
                self.runtime.runner.signatures.expire()
            except Exception:
                log.exception("expiring prepared transactions failed")
            done.wait(interval)
