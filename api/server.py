"""Run the service: ``serve(settings)`` (the run command calls it) or ``python -m api``."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import Settings


def serve(settings: Settings | None = None) -> None:
    """Serve the API with uvicorn on settings.host:settings.port (blocking)."""
    settings = settings or Settings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False)
