"""Wake the indexing process when a worker's command waits for a block.

Why: with several worker processes the indexer runs in a process of its own, which cannot
see the commands waiting in the others. Without a signal it stepped once per interval, and
every command waited half an interval (a second, under no load) for its read model. A
UNIX datagram socket in the data directory carries "block N is wanted": the sender never
blocks (a lost datagram only means the next interval's step covers it), and nothing has
to poll the chain or the database while the service is idle.
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
            log.warning("%s is too long for a UNIX socket: the indexing process is not "
                        "woken by waiting commands (it steps every interval)", path)
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


def listen(path: Path, on_wanted: Callable[[int], None], stop: threading.Event) -> None:
    """Receive wanted block numbers until ``stop`` (run in a thread of the indexing
    process; a stale socket file of a dead predecessor is replaced)."""
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
