"""Servers started as child processes (the runner, scripts and tests): waiting until one
answers its health check, or knowing why it never will, and stopping one the way Ctrl-C
would, with a kill only for one that does not stop in time."""

from __future__ import annotations

import signal
import subprocess
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


def interrupt(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> None:
    """Send SIGINT (a server's clean shutdown) and wait ``timeout`` s; kill if still up."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
