"""Waiting for an API to answer its health check (the runner, scripts and tests start
servers and must know when they serve, or why they never will)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_until_serving(base_url: str, timeout: float, alive: Callable[[], bool]) -> str | None:
    """Poll ``base_url``/v1/health until it answers 200. Returns None once it does, or
    why not: "stopped" (``alive()`` turned false) or "timeout"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return "stopped"
        try:
            if httpx.get(f"{base_url}/v1/health", timeout=2).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return "timeout"
