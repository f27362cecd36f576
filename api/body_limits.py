"""Request bodies: bounded before they are read, and read only from a caller with a key.

Why an ASGI middleware in front of the app: FastAPI reads a request's whole body (and
spools an upload to disk) before any dependency runs, authentication included, so a 300 MB
upload or a 50 MB JSON body used to be taken in full before its 401, and the upload limit
was checked on what had already been spooled. :class:`BodyLimits` looks at the headers
first:

* a body with no ``Authorization: Bearer`` key and no portal session cookie: 401,
  nothing of the body read (but the sign-in's own, bounded to :data:`SIGN_IN_BYTES`);
* a declared ``Content-Length`` over the route's limit: 413, nothing of it read;
* any other body (a chunked one has no length) is counted as the app reads it, and the
  read that crosses the limit fails with 413: the app never holds more than the limit.

Both refusals close the connection (``Connection: close``): to keep it the server would
have to read and discard the rest of the body to find the next request.

The key itself is checked by :func:`api.auth.authenticate`. The upload endpoint runs it
before it reads a byte of its body (:mod:`api.routes.documents`); a JSON body is parsed by
FastAPI before the check, so a caller with a wrong key can make the server read at most
``max_json_bytes`` (64 KiB by default: the largest command is a few hundred bytes).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer_token, missing_key
from api.people import SESSION_COOKIE
from api.problems import Problem
from api.settings import Settings
from chain_client.ledger_types import is_ascii_decimal

#: room for a multipart body's framing around the file: boundaries, part headers (a long
#: file name), the ``kind`` field
MULTIPART_OVERHEAD = 64 * 1024
#: routes whose body is a file upload; every other body is JSON
UPLOAD_ROUTES = frozenset({("POST", "/v1/documents"), ("POST", "/v1/payables/preview")})
#: the one body read from a caller without credentials: a login and a password
SIGN_IN_ROUTE = ("POST", "/v1/session")
SIGN_IN_BYTES = 1024
_CLOSE = {"Connection": "close"}


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "too_large",
        "Request body too large",
        f"A request body to this endpoint may have at most {limit} bytes.",
        limit_bytes=limit,
        headers=_CLOSE,
    )


class BodyTooLarge(StarletteHTTPException):
    """Raised by the counting ``receive`` when a body crosses its limit. An HTTPException,
    because FastAPI passes those through from its body parsing (anything else there
    becomes a 400 "error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, headers=_CLOSE)
        self.problem = too_large(limit)


def _is_length(declared: str) -> bool:
    """A Content-Length value: ASCII digits (``str.isdigit`` alone also takes ``²`` and
    other scripts' digits, which ``int`` refuses). Anything else is no declared length:
    the body is counted as it is read."""
    return is_ascii_decimal(declared.strip())


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request body to this route may have."""
    if (method, path) in UPLOAD_ROUTES:
        return settings.max_upload_bytes + MULTIPART_OVERHEAD
    if (method, path) == SIGN_IN_ROUTE:
        return SIGN_IN_BYTES
    return settings.max_json_bytes


def _has_credentials(headers: Headers) -> bool:
    """A bearer key or a portal session cookie is presented (checked later, by
    :func:`api.auth.authenticate`)."""
    if bearer_token(headers.get("authorization")) is not None:
        return True
    return bool(cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE))


class BodyLimits:
    """ASGI middleware enforcing :func:`body_limit` (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not chunked and (declared is None or declared.strip() == "0"):
            await self.app(scope, receive, send)  # no body
            return
        if not _has_credentials(headers) and (scope["method"], scope["path"]) != SIGN_IN_ROUTE:
            await self._refuse(scope, receive, send, missing_key(), close=True)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        if declared is not None and _is_length(declared) and int(declared) > limit:
            await self._refuse(scope, receive, send, too_large(limit))
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # read outside the app's exception handlers
            if started:
                raise
            await self._refuse(scope, receive, send, exc.problem)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, problem: Problem, close: bool = False
    ) -> None:
        if close:
            problem.headers.update(_CLOSE)
        await problem.response(scope.get("path"))(scope, receive, send)


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return exc.problem.response(request.url.path)


def install(app: FastAPI, settings: Settings) -> None:
    """Bound the app's request bodies by ``settings`` (call before the outer middleware
    that should see these refusals, e.g. the refusal audit, is added)."""
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_middleware(BodyLimits, settings=settings)
