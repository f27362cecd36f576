"""Response headers that keep browsers and proxies on the safe side.

Why a file name needs care: HTTP header values are bytes that Starlette encodes as Latin-1,
so a name such as ``发票.pdf`` copied into ``Content-Disposition`` could not be sent at all
(every download of that document answered 500), and a quote, a semicolon or a line break
copied in would change the header's meaning. The header therefore carries two names
(RFC 6266): ``filename`` is a plain-ASCII stand-in for old clients, ``filename*`` the real
name in UTF-8, percent-encoded (RFC 8187), which every current browser prefers.

Why ``nosniff`` on every answer: documents come from members and are served back with
the content type their uploader declared; without it a browser may guess "HTML" from the
bytes and run a script in the API's origin. The JSON answers get it too: it costs one
header and nothing can then be sniffed by mistake.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: what a name falls back to when nothing of it is ASCII (``发票.pdf`` -> ``document.pdf``)
FALLBACK_STEM = "document"
#: characters RFC 8187 lets stand unencoded in ``filename*`` (attr-char, beyond [A-Za-z0-9])
_ATTR_CHARS = "!#$&+-.^_`|~"
#: characters kept as they are in the ASCII ``filename`` (no quote, backslash, ``;``,
#: ``,`` or ``%``: naive parsers split on the first two, some browsers decode the last)
_PLAIN = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._-()[]+=@~!#$&'"
)
#: header lines every response gets (see the module docstring)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)


#: ``type/subtype`` in RFC 9110 token characters (parameters are not kept)
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,40}/[a-z0-9!#$&^_.+-]{1,58}")
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


def media_type(declared: str | None) -> str:
    """The content type a document is stored and served with: the uploader's
    ``type/subtype`` if it is well formed, else ``application/octet-stream`` (it goes
    back out as a header, so no control character or stray byte may stay in it)."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.fullmatch(value) else UNKNOWN_MEDIA_TYPE


def clean_filename(name: str, limit: int = 255) -> str:
    """The name a document is stored and offered under: control and format characters
    removed (line breaks, NUL, the right-to-left override that turns ``gpj.exe`` into a
    seeming ``exe.jpg``), path separators replaced, at most ``limit`` characters."""
    kept = "".join(
        "_" if c in "/\\" else c for c in name if unicodedata.category(c) not in ("Cc", "Cf")
    ).strip()
    return kept[:limit] or FALLBACK_STEM


def ascii_filename(name: str) -> str:
    """A plain-ASCII stand-in: accents dropped (``Fāpiào`` -> ``Fapiao``), anything else
    outside a small safe set as ``_``; a name with no ASCII letter or digit left becomes
    ``document`` with the extension it had, if that one is ASCII."""
    decomposed = unicodedata.normalize("NFKD", name)
    out = "".join(c if c in _PLAIN else "_" for c in decomposed if not unicodedata.combining(c))
    stem, dot, ext = out.rpartition(".")
    if not dot:
        stem, ext = out, ""
    if not any(c.isascii() and c.isalnum() for c in stem):
        stem = FALLBACK_STEM
    if ext and not (ext.isascii() and ext.isalnum()):
        ext = ""
    return stem + ("." + ext if ext else "")


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded UTF-8>``: pure
    ASCII, so any stored name can be sent, and no character of the name can end the
    quoted string or the header."""
    offered = clean_filename(name)
    encoded = quote(offered, safe=_ATTR_CHARS, encoding="utf-8")
    return f"{disposition}; filename=\"{ascii_filename(offered)}\"; filename*=UTF-8''{encoded}"


def allowed_methods(app: ASGIApp, path: str) -> str:
    """``Allow`` for a 405: the methods of every route of ``path``. Why not the router's
    own header: GET and POST of one path are two routes, and the router names only the
    methods of the first it matched (``OPTIONS /v1/organizations`` said ``Allow: POST``)."""
    methods: set[str] = set()
    for route in iter_route_contexts(getattr(app, "routes", [])):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(route.methods or ())
    return ", ".join(sorted(methods))


class SecurityHeaders:
    """ASGI middleware: adds :data:`SECURITY_HEADERS` to every HTTP response (refusals
    and errors included) unless the endpoint set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
