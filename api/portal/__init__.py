"""The web portal: static pages served by the API service, at ``/portal/``.

Why a front end without a build step: the portal is a client of the same JSON API as
every program (the same endpoints, rules, idempotency, audit and problem documents: a
person's request is a request of its user's key row, :mod:`api.people`), so the server
renders nothing and keeps no second copy of any rule. Its pages are ES modules a browser
loads as they are (``static/js``), with no framework, bundler or npm package to keep up
to date, and nothing fetched from anywhere at run time. They build the page with DOM
calls, never ``innerHTML``, and the Content-Security-Policy below allows scripts, styles
and connections from this origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
PREFIX = "/portal"
#: the portal's pages may load and call this origin only, and nobody may frame them
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", POLICY.encode()),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class PortalHeaders:
    """ASGI middleware: the portal's answers carry :data:`PAGE_HEADERS`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *PAGE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install(app: FastAPI) -> None:
    """Serve the portal at ``/portal/`` and send ``/`` there."""
    app.mount(PREFIX, StaticFiles(directory=STATIC, html=True), name="portal")
    app.add_middleware(PortalHeaders)

    @app.get("/", include_in_schema=False)
    def portal_home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")
