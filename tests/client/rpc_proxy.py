"""A JSON-RPC proxy in front of anvil that answers like another node would.

Why: the send path must work against nodes that behave otherwise than anvil, and the only
full client that installs here (@ethereumjs/client) takes minutes to set up as a network.
What those nodes do differently is in their answers, so a test puts this proxy between
the client and anvil and rewrites them: pooled transactions invisible to
``eth_getTransactionByHash``, a resend refused in ethereumjs's words, -32603 "value for
0x.. not found in DB" for the first receipt polls, or no node at all for a while
(:meth:`JsonRpcProxy.down`: connections refused, as from a node that is restarting).

A rule is a function ``(request, forward) -> response or None``: ``request`` is one
JSON-RPC request object, ``forward(request)`` asks anvil, and None lets the next rule (in
the end, anvil) answer. Batches are split and each request goes through the rules.
``calls`` counts the requests per method that reached the proxy.

(tests/api/rpc_proxy.py is a TCP proxy that can only cut the connection; this one speaks
HTTP so that it can change what is said.)
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests
from eth_utils import keccak

from chain_client.node import free_port

Request = dict[str, Any]
Response = dict[str, Any]
Forward = Callable[[Request], Response]
Rule = Callable[[Request, Forward], Response | None]

#: The words @ethereumjs/client 0.10.x answers a resend of a pooled transaction with
#: (service/txpool.js), and its JSON-RPC code for it (INVALID_PARAMS).
ETHEREUMJS_ALREADY_POOLED = "{hash}: this transaction is already in the TxPool"
ETHEREUMJS_NOT_IN_DB = "value for {hash} not found in DB"


class JsonRpcProxy:
    """Forwards JSON-RPC over HTTP from ``url`` to ``upstream``, through ``rules``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.rules: list[Rule] = []
        self.calls: Counter[str] = Counter()
        self._session = requests.Session()
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, rule: Rule) -> Rule:
        """Apply ``rule`` (before anvil, after the rules added earlier); usable as a
        decorator."""
        self.rules.append(rule)
        return rule

    # -- the node's availability -------------------------------------------------------

    def up(self) -> JsonRpcProxy:
        """Listen (again) on the same port."""
        with self._lock:
            if self._server is None:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
                server.daemon_threads = True
                threading.Thread(target=server.serve_forever, daemon=True).start()
                self._server = server
        return self

    def down(self) -> None:
        """Stop listening: connections are refused, as by a node that is down."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> JsonRpcProxy:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()
        self._session.close()

    # -- answering -----------------------------------------------------------------------

    def forward(self, request: Request) -> Response:
        answer: Response = self._session.post(self.upstream, json=request, timeout=30).json()
        return answer

    def answer(self, request: Request) -> Response:
        self.calls[str(request.get("method"))] += 1
        for rule in list(self.rules):
            response = rule(request, self.forward)
            if response is not None:
                return {"jsonrpc": "2.0", "id": request.get("id"), **response}
        return self.forward(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if isinstance(body, list):
                    answer: Any = [proxy.answer(r) for r in body]
                else:
                    answer = proxy.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the test's output is for the test

        return Handler


# -- rules: how other nodes answer ---------------------------------------------------------


def error(code: int, message: str) -> Response:
    return {"error": {"code": code, "message": message}}


def raw_hash(request: Request) -> str:
    """The hash of the transaction an ``eth_sendRawTransaction`` request carries."""
    return "0x" + keccak(hexstr=request["params"][0]).hex()


def hide_pooled_transactions(request: Request, forward: Forward) -> Response | None:
    """@ethereumjs/client: ``eth_getTransactionByHash`` finds mined transactions only."""
    if request.get("method") != "eth_getTransactionByHash":
        return None
    answer = forward(request)
    found = answer.get("result")
    if found is not None and found.get("blockNumber") is None:
        return {"result": None}
    return answer


def ethereumjs_refusals(request: Request, forward: Forward) -> Response | None:
    """@ethereumjs/client's words for a resend: anvil's "transaction already imported"
    becomes "0x..: this transaction is already in the TxPool" (code -32602)."""
    if request.get("method") != "eth_sendRawTransaction":
        return None
    answer = forward(request)
    message = str((answer.get("error") or {}).get("message", ""))
    if "already imported" in message:
        return error(-32602, ETHEREUMJS_ALREADY_POOLED.format(hash=raw_hash(request)))
    return answer


def refuse_sends(message: str, code: int = -32000) -> Rule:
    """Every ``eth_sendRawTransaction`` is refused with ``message`` (``{hash}`` filled in),
    without reaching anvil: a node whose words for a refusal no list knows."""

    def rule(request: Request, forward: Forward) -> Response | None:
        if request.get("method") != "eth_sendRawTransaction":
            return None
        return error(code, message.format(hash=raw_hash(request)))

    return rule


def fail_first(method: str, count: int, code: int, message: str) -> Rule:
    """The first ``count`` requests of ``method`` answer an error (``{hash}``: the first
    parameter), as ethereumjs answers receipt reads for a moment after each block."""
    failed = 0
    lock = threading.Lock()

    def rule(request: Request, forward: Forward) -> Response | None:
        nonlocal failed
        if request.get("method") != method:
            return None
        with lock:
            if failed >= count:
                return None
            failed += 1
        params = request.get("params") or [""]
        return error(code, message.format(hash=params[0]))

    return rule
