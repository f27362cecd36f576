"""A test signer service: JSON-RPC over HTTP, ``eth_signTransaction`` and ``eth_accounts``
as clef and web3signer speak them, holding keys the process that asks never sees.

Run it as a process (what the tests do, through :func:`running_signer`)::

    python -m tests.signer_server --keys-file KEYS [--port N] [--mode honest] [--style clef]

``KEYS``: a file of private keys, one hex key a line. The process prints
``listening on http://127.0.0.1:PORT`` once it serves. ``--style`` is the answer's shape:
``clef`` (``{"raw": "0x..", "tx": {...}}``) or ``web3signer`` (the raw hex string).

``--mode`` makes it misbehave, for the tests of the side that must not trust it:

* ``honest``: signs what it is asked, with the key of ``from``;
* ``other-key``: signs it with a key it was not asked for (a fresh one);
* ``altered``: signs, with the right key, the transaction with ``value`` raised by one wei;
* ``garbage``: returns bytes that are no transaction;
* ``refuse``: answers a JSON-RPC error (as clef does when its user declines);
* ``slow``: answers after ``--delay`` seconds (a signer waiting for a person).

``test_setMode`` / ``test_setStyle`` (JSON-RPC, params ``[name]``) change them while it
runs; ``test_signed`` returns how many transactions it has signed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

MODES = ("honest", "other-key", "altered", "garbage", "refuse", "slow")
STYLES = ("clef", "web3signer")
_QUANTITIES = (
    "gas",
    "nonce",
    "value",
    "chainId",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "gasPrice",
)


class Signer:
    """The keys and the behaviour: what the HTTP handler calls."""

    def __init__(
        self, keys: list[str], mode: str = "honest", style: str = "clef", delay: float = 5.0
    ) -> None:
        self.accounts: dict[str, LocalAccount] = {}
        for key in keys:
            account = Account.from_key(key)
            self.accounts[account.address] = account
        self.mode = mode
        self.style = style
        self.delay = delay
        self.signed = 0
        self._lock = threading.Lock()

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_accounts":
            return list(self.accounts)
        if method == "test_setMode":
            if params[0] not in MODES:
                raise RpcError(-32602, f"unknown mode {params[0]!r}")
            self.mode = params[0]
            return True
        if method == "test_setStyle":
            if params[0] not in STYLES:
                raise RpcError(-32602, f"unknown style {params[0]!r}")
            self.style = params[0]
            return True
        if method == "test_signed":
            return self.signed
        if method == "eth_signTransaction":
            return self.sign(params[0])
        raise RpcError(-32601, f"the method {method} does not exist/is not available")

    def sign(self, request: dict[str, Any]) -> Any:
        mode = self.mode
        if mode == "refuse":
            raise RpcError(-32000, "Request denied")
        if mode == "slow":
            time.sleep(self.delay)
        sender = to_checksum_address(request["from"])
        account = self.accounts.get(sender)
        if account is None:
            raise RpcError(-32000, f"no key for account {sender}")
        tx: dict[str, Any] = {
            name: int(request[name], 16) for name in _QUANTITIES if name in request
        }
        if request.get("to"):
            tx["to"] = to_checksum_address(request["to"])
        tx["data"] = request.get("input") or request.get("data") or "0x"
        if "maxFeePerGas" in tx:
            tx["type"] = 2
        if mode == "altered":
            tx["value"] = tx.get("value", 0) + 1
        if mode == "other-key":
            account = Account.create()
        if mode == "garbage":
            raw = "0x" + os.urandom(120).hex()
        else:
            raw = "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()
        with self._lock:
            self.signed += 1
        if self.style == "web3signer":
            return raw
        return {"raw": raw, "tx": {**request, "hash": None}}


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def make_server(signer: Signer, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32700, "message": "parse error"},
                    }
                )
                return
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
            try:
                answer["result"] = signer.handle(request["method"], request.get("params") or [])
            except RpcError as exc:
                answer["error"] = {"code": exc.code, "message": exc.message}
            with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self._send(answer)

        def _send(self, answer: dict[str, Any]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


@contextmanager
def running_signer(
    keys: list[str],
    tmp: Path,
    *,
    mode: str = "honest",
    style: str = "clef",
    delay: float = 5.0,
) -> Iterator[SignerProcess]:
    """A signer process holding ``keys`` (written to a 0600 file in ``tmp``), stopped
    on leaving."""
    keys_file = tmp / f"signer-keys-{os.getpid()}-{time.monotonic_ns()}.txt"
    keys_file.touch(mode=0o600)
    keys_file.write_text("\n".join(keys) + "\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.signer_server",
            "--keys-file",
            str(keys_file),
            "--mode",
            mode,
            "--style",
            style,
            "--delay",
            str(delay),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the test signer did not start: {line!r}")
        yield SignerProcess(line.removeprefix("listening on ").strip(), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        keys_file.unlink(missing_ok=True)


class SignerProcess:
    """A running test signer: its URL, and its JSON-RPC test methods."""

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.process = process

    def rpc(self, method: str, *params: Any) -> Any:
        import requests

        answer = requests.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=10,
        ).json()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    def set_mode(self, mode: str) -> None:
        self.rpc("test_setMode", mode)

    def set_style(self, style: str) -> None:
        self.rpc("test_setStyle", style)

    def signed(self) -> int:
        return int(self.rpc("test_signed"))

    def stop(self) -> None:
        """Stop it now (a signer down); leaving :func:`running_signer` is then quiet."""
        self.process.terminate()
        self.process.wait(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="honest")
    parser.add_argument("--style", choices=STYLES, default="clef")
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args(argv)
    keys = [line.strip() for line in args.keys_file.read_text().splitlines() if line.strip()]
    server = make_server(Signer(keys, args.mode, args.style, args.delay), args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    with suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
