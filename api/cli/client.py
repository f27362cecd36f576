"""A small HTTP client of the API for the CLI, the seeding of a new network and the demo.

Why its own class rather than raw httpx calls: every caller needs the same three things —
the bearer key, an Idempotency-Key on every command (so a retried command never runs
twice), and refusals turned into one exception that carries the problem document.

httpx is imported when a client is made, not with the module: `scf --help` loads this
module (through the commands) and needs no HTTP (docs/benchmarks.md, "The CLI's start-up
time").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


@dataclass
class ApiRefusedError(Exception):
    """A refusal of the API: an RFC 9457 problem document."""

    status: int
    code: str
    title: str
    detail: str
    body: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.title} ({self.code}, HTTP {self.status}): {self.detail}"


class ApiUnreachableError(Exception):
    """The API did not answer (not running, wrong URL, timeout)."""


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        import httpx

        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def as_key(self, api_key: str) -> ApiClient:
        """The same API, called with another organization's key."""
        return ApiClient(self.base_url, api_key, timeout=self._http.timeout.read or 60.0)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", path, params=clean)

    def command(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        files: Any = None,
    ) -> Any:
        """A state-changing call, always with an Idempotency-Key (fresh unless given)."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return self._request(method, path, json=body, files=files, headers=headers)

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.command("POST", path, body, **kwargs)

    def put(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.command("PUT", path, body, **kwargs)

    def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        import httpx

        all_headers = dict(headers or {})
        if self.api_key:
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = self._http.request(method, f"/v1{path}", headers=all_headers, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachableError(f"the API at {self.base_url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            raise _problem(response)
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content


def _problem(response: httpx.Response) -> ApiRefusedError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"detail": body}
    return ApiRefusedError(
        status=response.status_code,
        code=str(body.get("code", "http_error")),
        title=str(body.get("title", response.reason_phrase)),
        detail=str(body.get("detail", response.text[:500])),
        body=body,
    )
