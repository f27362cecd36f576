"""A small HTTP client of the API for the CLI, the seeding of a new network and the demo.

Why its own class rather than raw HTTP calls: every caller needs the same three things —
the bearer key, an Idempotency-Key on every command (so a retried command never runs
twice), and refusals turned into one exception that carries the problem document.

Why on the standard library's http.client rather than httpx: every `scf` call is a fresh
process, and importing httpx (httpcore, anyio, h11, and for its own command line click,
pygments and rich.syntax) cost a read command more time than the command itself
(docs/benchmarks.md, "The CLI's start-up time"). What the CLI needs is small: JSON in and
out, one file upload, one kept-alive connection per client.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.client

#: a file to upload: (file name, content, content type), as ``files={"file": ...}``
UploadFile = tuple[str, bytes, str]


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


class ApiUrlError(ValueError):
    """A base URL that names no HTTP server (no http:// or https://, no host, a bad port)."""


@dataclass(frozen=True)
class Reply:
    """What the server answered, read in full (so the connection can serve the next call)."""

    status: int
    reason: str
    content_type: str
    content: bytes


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.base_url)
        try:
            port = parts.port
        except ValueError as exc:
            raise ApiUrlError(f"{base_url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiUrlError(f"{base_url!r} is not an http:// or https:// URL of a server")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, port
        self._prefix = parts.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()  # one request at a time on the one connection
        #: called with every command's answer, returning what the caller gets: `scf`
        #: turns a 202 that waits (for a checker, for the organization's signature) into
        #: its outcome there (api.cli.commands_base.waiting_answer)
        self.after_command: Callable[[Any], Any] | None = None

    def as_key(self, api_key: str) -> ApiClient:
        """The same API, called with another organization's key."""
        return ApiClient(self.base_url, api_key, timeout=self.timeout)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

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
        files: dict[str, UploadFile] | None = None,
    ) -> Any:
        """A state-changing call, always with an Idempotency-Key (fresh unless given)."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        answer = self._request(method, path, json_body=body, files=files, headers=headers)
        return self.after_command(answer) if self.after_command is not None else answer

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.command("POST", path, body, **kwargs)

    def put(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.command("PUT", path, body, **kwargs)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        files: dict[str, UploadFile] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.api_key:
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        content = b""
        if files:
            content, all_headers["Content-Type"] = _multipart(files)
        elif json_body is not None:
            content = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        target = f"{self._prefix}/v1{path}"
        if params:
            target += "?" + urllib.parse.urlencode({k: _query_value(v) for k, v in params.items()})
        try:
            reply = self._exchange(method, target, all_headers, content)
        except OSError as exc:  # refused, reset, timed out, name not resolved, TLS
            raise ApiUnreachableError(f"the API at {self.base_url} did not answer: {exc}") from exc
        if reply.status >= 400:
            raise _problem(reply)
        if not reply.content:
            return None
        if reply.content_type.startswith("application/json"):
            return json.loads(reply.content)
        return reply.content

    def _exchange(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """One request and its whole reply, on the kept-alive connection. A connection the
        server closed while idle fails on reuse before any reply: sent again once on a new
        one (a command carries its Idempotency-Key, so even a resent command acts once)."""
        import http.client

        with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                connection = self._connect()
                try:
                    connection.request(method, target, body=body or None, headers=headers)
                    response = connection.getresponse()
                    reply = Reply(
                        status=response.status,
                        reason=response.reason,
                        content_type=response.getheader("Content-Type", ""),
                        content=response.read(),
                    )
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    self._drop_connection()
                    if reused and attempt == 1:
                        continue
                    raise
                except (OSError, http.client.HTTPException) as exc:
                    self._drop_connection()
                    if isinstance(exc, OSError):
                        raise
                    raise OSError(f"bad HTTP reply: {exc!r}") from exc
                if response.will_close:
                    self._drop_connection()
                return reply
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _connect(self) -> http.client.HTTPConnection:
        import http.client

        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._host, self._port, timeout=self.timeout)
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _query_value(value: Any) -> str:
    """Query values as the API reads them: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _multipart(files: dict[str, UploadFile]) -> tuple[bytes, str]:
    """A multipart/form-data body of the files and its Content-Type (RFC 7578)."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for field_name, (filename, content, content_type) in files.items():
        parts += [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{_form_quote(field_name)}"; '
            f'filename="{_form_quote(filename)}"\r\n'.encode(),
            f"Content-Type: {content_type}\r\n\r\n".encode(),
            content,
            b"\r\n",
        ]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _form_quote(text: str) -> str:
    """A form field's name or file name inside quotes, escaped as HTML5 forms do it: the
    quote, and control characters, percent-encoded (a file name is the user's)."""
    return "".join(
        f"%{ord(c):02X}" if c == '"' or (ord(c) < 0x20 and c != "\x1b") else c for c in text
    )


def _problem(reply: Reply) -> ApiRefusedError:
    try:
        body = json.loads(reply.content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"detail": body}
    return ApiRefusedError(
        status=reply.status,
        code=str(body.get("code", "http_error")),
        title=str(body.get("title", reply.reason)),
        detail=str(body.get("detail", reply.content.decode(errors="replace")[:500])),
        body=body,
    )
