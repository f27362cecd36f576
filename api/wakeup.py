"""Signals between a server's processes over UNIX datagram sockets in the data directory.

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
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

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
