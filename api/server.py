"""Run the service: ``serve(settings)`` (the run command calls it) or ``python -m api``.

With ``settings.workers`` > 1 the service runs as several processes on one machine. Why
processes: a command spends most of its CPU in Python (HTTP, the database, signing, ABI
encoding), and one process runs Python on one core at a time. The parent first does the
start-up work once (:func:`api.app.prepare`: migrations, deployment, reconciliation), then
starts, with its settings in their environment:

* ``workers`` HTTP worker processes (:func:`run_worker`), each listening on the port with
  its own ``SO_REUSEPORT`` socket, so the kernel spreads connections evenly over them
  (with one shared socket, whichever process woke first took the connection, and one
  worker ended up with twice the other's load);
* one indexing process (:func:`run_background`) for the indexer and the maturity job: in
  a worker they would share one interpreter lock with fifty request threads, and every
  command waits for the indexer. If it dies, a worker takes its lock over
  (:mod:`api.background`).

The workers share each account's nonce counter through lock files
(:class:`chain_client.nonces.NonceManager`) and SQLite's write queue through a lock file
(:class:`api.db.SqliteWriteQueue`). The parent restarts a process that dies and stops them
all on SIGINT or SIGTERM.

On PostgreSQL the same server may be one of several instances, on several machines, each
with a data folder of its own: what the processes of one machine share through the data
folder (nonce counters, keys, the indexing election, signals, rate limits) they then share
through the database, chosen by the database URL alone (docs/architecture.md, "The
processes of a server"), so one instance's indexing process indexes for all of them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvicorn

from api.app import build_runtime, create_app, prepare
from api.background import BackgroundWork
from api.private_files import restrict_new_files, secure_file, secure_folder
from api.settings import Settings

log = logging.getLogger(__name__)

#: seconds an idle keep-alive connection stays open. uvicorn's default (5 s) equals
#: httpx's and requests' pool expiry, so a client could send on a connection at the moment
#: the server closed it (the request fails with a read error; the benchmark saw it). Longer
#: than the clients' expiry, the client always closes first.
KEEP_ALIVE = 30


def serve(settings: Settings | None = None) -> None:
    """Serve the API on settings.host:settings.port until SIGINT or SIGTERM (blocking)."""
    restrict_new_files()  # before anything is created: this process and its children
    settings = settings or Settings.from_env()
    make_data_private(settings)
    if not settings.several_workers:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE,
        )
        return
    _listening_socket(settings).close()  # a taken port fails here, clearly, not in a worker
    prepare(settings).engine.dispose()
    os.environ.update(settings.to_env())  # the spawned processes read their settings here
    targets: list[Callable[[], None]] = [run_worker] * settings.workers
    if settings.background:
        targets.append(run_background)
    Supervisor(targets).run()


def make_data_private(settings: Settings) -> None:
    """The data folder 0700 and everything in it owner-only (:mod:`api.private_files`),
    and a SQLite database kept elsewhere too; says so when an older version left it open."""
    tightened = secure_folder(settings.data_dir)
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if secure_file(path):
                tightened.append(path)
    if tightened:
        log.warning(
            "took group and other permissions off %d files and folders of %s "
            "(made by an older version or by hand)",
            len(tightened),
            settings.data_dir,
        )


class Supervisor:
    """Start the processes, restart any that dies, stop them all on a signal. A process
    that keeps dying right after its start (``max_quick_exits`` times in a row, each
    within ``quick`` seconds) stops the server instead of being restarted forever."""

    def __init__(
        self,
        targets: list[Callable[[], None]],
        stop_timeout: float = 30.0,
        quick: float = 10.0,
        max_quick_exits: int = 3,
    ) -> None:
        self.targets = targets
        self.stop_timeout = stop_timeout
        self.quick = quick
        self.max_quick_exits = max_quick_exits
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()

    def run(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())
        processes = [self._start(target) for target in self.targets]
        started = [time.monotonic()] * len(processes)
        quick_exits = [0] * len(processes)
        try:
            while not self._stop.wait(1.0):
                for k, process in enumerate(processes):
                    if process.is_alive():
                        continue
                    quick_exits[k] = (
                        quick_exits[k] + 1 if time.monotonic() - started[k] < self.quick else 0
                    )
                    if quick_exits[k] >= self.max_quick_exits:
                        raise SystemExit(
                            f"{process.name} exited {quick_exits[k]} times right "
                            f"after starting (last exit code "
                            f"{process.exitcode}); stopping the server"
                        )
                    log.warning(
                        "%s (pid %s) exited with %s; starting another",
                        process.name,
                        process.pid,
                        process.exitcode,
                    )
                    processes[k] = self._start(self.targets[k])
                    started[k] = time.monotonic()
        finally:
            for process in processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)
            for process in processes:
                process.join(self.stop_timeout)
                if process.is_alive():
                    process.kill()
                    process.join()

    def _start(self, target: Callable[[], None]) -> BaseProcess:
        process = self._context.Process(target=target, name=f"scf-{target.__name__}")
        process.start()
        return process


def _listening_socket(settings: Settings) -> socket.socket:
    """A socket bound to the service's port that other workers may bind too."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    return sock


def run_worker() -> None:
    """An HTTP worker process: its own listening socket on the shared port."""
    settings = Settings.from_env()
    sock = _listening_socket(settings)
    sock.listen(2048)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE,
    )
    uvicorn.Server(config).run(sockets=[sock])


def run_background() -> None:
    """The indexing process: background work until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = build_runtime(settings)
    work = BackgroundWork(runtime)
    work.start()
    try:
        stop.wait()
    finally:
        work.stop()
        runtime.engine.dispose()
