"""A JSON-RPC proxy in front of a node, which a test can cut (the node looks down) and
restore on the same port, and which can answer some requests itself.

Why a proxy rather than stopping anvil: anvil restarted from a dumped state loses its
transaction pool and takes seconds to dump and load; behind the proxy the chain goes on
(its clock, its pool, a transaction sent just before the cut) while the service sees what
it sees when its node is down: connections refused. The port stays the same across a
cut, so the service's configured URL works again once the node is "back".

One request per connection (HTTP/1.0), so a cut leaves no kept-alive connection that
would still reach the node.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from chain_client.node import free_port

#: a request (one JSON-RPC object) and how to send it to the node -> the answer to give
#: instead, or None to forward it
Intercept = Callable[[dict[str, Any], Callable[[], dict[str, Any]]], dict[str, Any] | None]


class RpcProxy:
    """Forwards ``http://127.0.0.1:port`` to ``upstream`` until :meth:`cut`."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.intercept: Intercept | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> RpcProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = proxy._answer(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def cut(self) -> None:
        """The node is down: connections are refused until :meth:`restore`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def restore(self) -> None:
        """The node is back, on the same port."""
        if self._server is None:
            self.start()

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cut()

    def forward(self, body: bytes) -> bytes:
        request = urllib.request.Request(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def _answer(self, body: bytes) -> bytes:
        intercept = self.intercept
        if intercept is not None:
            request = json.loads(body)
            if isinstance(request, dict):  # batches go through as they are

                def forward() -> dict[str, Any]:
                    return dict(json.loads(self.forward(body)))

                own = intercept(request, forward)
                if own is not None:
                    return json.dumps(own).encode()
        return self.forward(body)
