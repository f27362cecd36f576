"""Run the service: ``serve(settings)`` (the run command calls it) or ``python -m api``.

With ``settings.workers`` > 1, uvicorn starts that many worker processes on one socket.
Why processes: a command spends most of its CPU in Python (HTTP, the database, signing,
ABI encoding), and one process runs Python on one core at a time. The parent first does the
start-up work once (:func:`api.app.prepare`: migrations, deployment, reconciliation), then
hands its settings to the workers through the environment. The workers share each
account's nonce counter through lock files (:class:`chain_client.nonces.NonceManager`).
The indexer and the maturity job run in one more process that serves no requests
(:func:`run_background`): in a worker they would share one interpreter lock with fifty
request threads, and every command waits for the indexer. If that process dies, a worker
takes its lock over (:mod:`api.background`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

import uvicorn

from api.app import build_runtime, create_app, prepare
from api.background import BackgroundWork
from api.settings import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings | None = None) -> None:
    """Serve the API with uvicorn on settings.host:settings.port (blocking)."""
    settings = settings or Settings.from_env()
    if not settings.several_workers:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", access_log=False)
        return
    prepare(settings).engine.dispose()
    os.environ.update(settings.to_env())  # the spawned processes read their settings here
    indexing = None
    if settings.background:
        indexing = multiprocessing.get_context("spawn").Process(
            target=run_background, name="scf-indexer", daemon=True)
        indexing.start()
    try:
        uvicorn.run("api.app:create_app", factory=True, workers=settings.workers,
                    host=settings.host, port=settings.port, log_level="info",
                    access_log=False)
    finally:
        if indexing is not None and indexing.is_alive():
            indexing.terminate()  # SIGTERM: it stops its threads and releases the lock
            indexing.join(30)


def run_background() -> None:
    """The dedicated indexing process: background work until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = build_runtime(settings)
    work = BackgroundWork(runtime, settings.background_lock)
    work.start()
    try:
        stop.wait()
    finally:
        work.stop()
        runtime.engine.dispose()
