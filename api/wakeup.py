"""Signals between a server's processes: "block N is wanted" and "the read model covers
N". On SQLite (one machine) over UNIX datagram sockets in the data directory
(:class:`DatagramSignals`); on PostgreSQL, where the instances of a service may run on
several machines, by LISTEN/NOTIFY (:class:`PgSignals`, below).

* Worker -> indexing process, "block N is wanted" (:class:`WakeupSender`, :func:`listen`).
* Indexing process -> every worker, "the read model covers block N"
  (:class:`IndexedPublisher`; each worker listens on ``indexed-<pid>.sock``).

Why the first: with several worker processes the indexer runs in a process of its own, which cannot
see the commands waiting in the others. Without a signal it stepped once per interval, and
every command waited half an interval (a second, under no load) for its read model. A
UNIX datagram socket in the data directory carries "block N is wanted": the sender never
blocks (a lost datagram only means the next interval's step covers it), and nothing has
to poll the chain or the database while the service is idle.

Why the second: a worker's waiting commands used to learn that the indexer had moved by
reading its checkpoint from the database every 10 ms: a hundred queries a second per
worker under load (three round trips each on PostgreSQL), and up to 10 ms of added
latency. The worker still reads the checkpoint, rarely, in case a datagram was lost or
the read model moved back (a reorg).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from api.db import dedicated_connection, is_postgres
from api.settings import Settings

log = logging.getLogger(__name__)

#: what a listener calls with each block number it hears
OnBlock = Callable[[int], None]

#: sun_path is 108 bytes on Linux; longer paths cannot be bound
MAX_PATH = 100


def usable(path: Path | None) -> Path | None:
    if path is None or len(os.fsencode(path)) > MAX_PATH:
        if path is not None:
            log.warning(
                "%s is too long for a UNIX socket: the indexing process is not "
                "woken by waiting commands (it steps every interval)",
                path,
            )
        return None
    return path


class WakeupSender:
    """Sends wanted block numbers to whoever listens on ``path`` (if anyone)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def want(self, block: int) -> None:
        with contextlib.suppress(OSError):  # nobody listening, or its queue is full
            self._sock.sendto(str(block).encode(), self.path)


class IndexedPublisher:
    """Tells every worker listening in ``directory`` which block the read model covers.

    A socket file nobody listens on any more (its worker died) is removed on the first
    send that finds it dead."""

    PATTERN = "indexed-*.sock"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    @staticmethod
    def path_for(directory: Path, pid: int) -> Path:
        return directory / f"indexed-{pid}.sock"

    def publish(self, block: int) -> None:
        data = str(block).encode()
        for path in self.directory.glob(self.PATTERN):
            try:
                self._sock.sendto(data, str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()
            except OSError:  # its queue is full: it reads the checkpoint meanwhile
                pass


def listen(path: Path, on_wanted: Callable[[int], None], stop: threading.Event) -> None:
    """Receive block numbers until ``stop`` (run in a thread; a stale socket file of a
    dead predecessor is replaced)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                data = sock.recv(64)
            except TimeoutError:
                continue
            with contextlib.suppress(ValueError):
                on_wanted(int(data))
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class Signals(Protocol):
    """How the processes of a service tell each other about blocks (see the module
    text). Losing a signal only costs time: the indexer steps every interval anyway and
    a waiting process reads the checkpoint every few tenths of a second."""

    def want(self, block: int) -> None:
        """To the indexing process: a request waits for ``block``."""
        ...

    def publish(self, block: int) -> None:
        """From the indexing process, to every other: the read model covers ``block``."""
        ...

    def hear_wanted(self, on_wanted: OnBlock, stop: threading.Event) -> None:
        """The indexing process: call ``on_wanted`` with each wanted block until
        ``stop`` (blocks: run it in a thread)."""
        ...

    def hears_indexed(self) -> bool:
        """Whether this process can hear :meth:`publish` (else it polls the
        checkpoint)."""
        ...

    def hear_indexed(self, on_indexed: OnBlock, stop: threading.Event) -> None:
        """Any other process: call ``on_indexed`` with each published block until
        ``stop`` (blocks: run it in a thread)."""
        ...


class DatagramSignals:
    """The processes of one machine: datagrams to ``<data>/indexer.sock`` and to each
    process's ``indexed-<pid>.sock`` beside it."""

    def __init__(self, wakeup_path: Path) -> None:
        self.wakeup_path = wakeup_path
        self._sender = WakeupSender(wakeup_path)
        self._publisher = IndexedPublisher(wakeup_path.parent)

    @classmethod
    def at(cls, path: Path | None) -> DatagramSignals | None:
        """The signals through ``path``, or None if it cannot be a socket (too long)."""
        usable_path = usable(path)
        return cls(usable_path) if usable_path is not None else None

    def want(self, block: int) -> None:
        self._sender.want(block)

    def publish(self, block: int) -> None:
        self._publisher.publish(block)

    def hear_wanted(self, on_wanted: OnBlock, stop: threading.Event) -> None:
        listen(self.wakeup_path, on_wanted, stop)

    def _indexed_path(self) -> Path | None:
        return usable(IndexedPublisher.path_for(self.wakeup_path.parent, os.getpid()))

    def hears_indexed(self) -> bool:
        return self._indexed_path() is not None

    def hear_indexed(self, on_indexed: OnBlock, stop: threading.Event) -> None:
        path = self._indexed_path()
        if path is not None:
            listen(path, on_indexed, stop)


class PgSignals:
    """Instances on several machines, which share the database: NOTIFY on two channels
    of the service's schema, heard by LISTEN on a connection of each listening process.

    Why not the datagrams: a worker of one machine waiting for its command's block cannot
    reach the indexing process of another by a UNIX socket. Why NOTIFY rather than only a
    tighter poll of the checkpoint: each waiting command would add a query every few
    milliseconds on every instance; a notification is one statement from the sender and
    nothing while idle. A notification sent while a listener reconnects is lost: the
    checkpoint poll of :meth:`api.indexer.Indexer.watch` and the indexer's interval cover
    it. The channels carry block numbers only."""

    def __init__(self, settings: Settings, engine: Engine, reconnect_after: float = 1.0) -> None:
        """``engine``: an autocommit engine (:func:`api.db.read_only`), so a notification
        is one statement sent at once."""
        self.settings = settings
        self.engine = engine
        self.reconnect_after = reconnect_after
        schema = settings.database_schema or "public"
        self.wanted_channel = _channel("scf_wanted", schema)
        self.indexed_channel = _channel("scf_indexed", schema)

    def _notify(self, channel: str, block: int) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": str(block)})
                conn.commit()
        except Exception as exc:  # a lost signal costs time, not correctness
            log.debug("could not notify %s of block %d: %r", channel, block, exc)

    def want(self, block: int) -> None:
        self._notify(self.wanted_channel, block)

    def publish(self, block: int) -> None:
        self._notify(self.indexed_channel, block)

    def hears_indexed(self) -> bool:
        return True

    def hear_wanted(self, on_wanted: OnBlock, stop: threading.Event) -> None:
        self._listen(self.wanted_channel, on_wanted, stop)

    def hear_indexed(self, on_indexed: OnBlock, stop: threading.Event) -> None:
        self._listen(self.indexed_channel, on_indexed, stop)

    def _listen(self, channel: str, on_block: OnBlock, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with dedicated_connection(self.settings) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            with contextlib.suppress(ValueError):
                                on_block(int(note.payload))
            except psycopg.Error as exc:
                log.warning("listening on %s: %r; listening again", channel, exc)
                stop.wait(self.reconnect_after)


def _channel(kind: str, schema: str) -> str:
    """A channel name of at most 63 bytes (PostgreSQL's identifier limit), one per schema
    (tests run many schemas in one database)."""
    name = f"{kind}_{schema}"
    if len(name.encode()) <= 63:
        return name
    return f"{kind}_{hashlib.sha256(schema.encode()).hexdigest()[:32]}"


def signals_for(settings: Settings, engine: Engine, read_engine: Engine) -> Signals | None:
    """The signals of a service: by NOTIFY on PostgreSQL, by datagrams in the data folder
    on SQLite (None if its path is too long for a socket)."""
    if is_postgres(engine):
        return PgSignals(settings, read_engine)
    return DatagramSignals.at(settings.indexer_wakeup)
