"""Run the service: ``serve(settings)`` (the run command calls it) or ``python -m api``.

With ``settings.workers`` > 1, uvicorn starts that many worker processes on one socket.
Why processes: a command spends most of its CPU in Python (HTTP, the database, signing,
ABI encoding), and one process runs Python on one core at a time. The parent first does the
start-up work once (:func:`api.app.prepare`: migrations, deployment, reconciliation), then
hands its settings to the workers through the environment. The workers share each
account's nonce counter through lock files (:class:`chain_client.nonces.NonceManager`) and
elect one of them to index and run the maturity job (:mod:`api.background`).
"""

from __future__ import annotations

import os

import uvicorn

from api.app import create_app, prepare
from api.settings import Settings


def serve(settings: Settings | None = None) -> None:
    """Serve the API with uvicorn on settings.host:settings.port (blocking)."""
    settings = settings or Settings.from_env()
    if not settings.several_workers:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", access_log=False)
        return
    prepare(settings).engine.dispose()
    os.environ.update(settings.to_env())  # the spawned workers read their settings here
    uvicorn.run("api.app:create_app", factory=True, workers=settings.workers,
                host=settings.host, port=settings.port, log_level="info", access_log=False)
