"""The declared Content-Length is read as ASCII digits only (api.body_limits).

``str.isdigit`` is true for superscripts and other scripts' digits that ``int`` refuses or
reads as a number: a ``Content-Length: ²`` (byte 0xB2, which ASGI hands over as Latin-1)
raised ValueError inside the middleware, a 500. Such a header is not a length, as
``Content-Length: abc`` is not: the body is counted as it is read, like a chunked one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from api.body_limits import BodyLimits
from api.settings import Settings

LIMIT = 64 * 1024


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the middleware: reads the whole body, answers its length."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.dumps({"read": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


def _post(content_length: bytes, body: bytes = b"{}") -> tuple[int, dict[str, Any]]:
    middleware = BodyLimits(_echo_length, Settings(master_passphrase="x", max_json_bytes=LIMIT))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/certificates",
        "headers": [(b"authorization", b"Bearer scf_key"), (b"content-length", content_length)],
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    status = sent[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, problem = _post(str(LIMIT + 1).encode())
    assert (status, problem["code"]) == (413, "too_large")


@pytest.mark.parametrize("declared", ["²", "³", "¹²"])
def test_digits_outside_ascii_are_no_length(declared: str) -> None:
    assert _post(declared.encode("latin-1")) == _post(b"abc") == (200, {"read": 2})
