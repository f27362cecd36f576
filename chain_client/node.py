"""Start and stop a local anvil node (tests, scripts, the API's local run command).

Why launch the platform binary directly: the npm package's ``anvil`` entry is a node.js
wrapper that spawns the real binary; terminating the wrapper can leave the node running
and holding its port. We resolve the binary itself, so stopping our process stops the node.

Two kinds of funded accounts: by default anvil's own, derived from its public mnemonic
(tests and throw-away nodes, where everybody knowing the keys is the point); with
``accounts_file`` random keys created once and kept in that file (a node whose state
lives on, like `scf up`'s). anvil can only take a mnemonic on its command line, which every
local user can read in ``/proc/<pid>/cmdline``, so such a node starts with no accounts of
its own and the keys never reach anvil: their balances are set over RPC once, on the empty
chain, and afterwards live in the dumped state like any other balance.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account import Account

from chain_client.encoding import to_hex
from chain_client.errors import NodeBinaryNotFound, NodeError, NodeStartTimeout, PortInUse
from chain_client.files import PRIVATE_UMASK, atomic_write_text

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: anvil's default mnemonic; accounts derived from it are funded at startup.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


def find_anvil(binary: str | os.PathLike[str] | None = None) -> Path:
    """Locate the anvil executable: argument, $ANVIL_BINARY, node_modules, then PATH."""
    candidates: list[Path] = []
    if binary:
        candidates.append(Path(binary))
    elif os.environ.get("ANVIL_BINARY"):
        candidates.append(Path(os.environ["ANVIL_BINARY"]))
    else:
        system = platform.system().lower()
        machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine().lower(), "")
        package = PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{machine}"
        candidates.append(package / "bin" / "anvil")
        on_path = shutil.which("anvil")
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates) or "(nothing)"
    raise NodeBinaryNotFound(f"anvil not found (tried {tried}); run tools/bootstrap.sh")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now. SO_REUSEADDR as servers set it, so a
    port left in TIME_WAIT by a node that was just stopped counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def dev_accounts(count: int = 10, mnemonic: str = DEFAULT_MNEMONIC) -> list[Any]:
    """The funded accounts of an anvil started with ``mnemonic`` (LocalAccount objects)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    ]


def private_accounts(path: str | os.PathLike[str], count: int) -> list[Any]:
    """The accounts kept in ``path``, created there with ``count`` random keys if missing.

    The file is the owner's only (0600, from the first byte; a looser mode found later is
    tightened): it holds private keys in clear, which is fine for a development chain whose
    node anyone with access could rewrite anyway, but not for other users of the machine.
    """
    file = Path(path)
    if not file.exists():
        keys = [Account.from_key(secrets.token_bytes(32)) for _ in range(count)]
        document = {
            "about": "development accounts of this data folder's local chain; never use "
            "them anywhere else",
            "accounts": [{"address": k.address, "private_key": to_hex(k.key)} for k in keys],
        }
        atomic_write_text(file, json.dumps(document, indent=2), private=True)
    elif file.stat().st_mode & 0o077:
        os.chmod(file, 0o600)
    try:
        entries = json.loads(file.read_text())["accounts"]
        return [Account.from_key(entry["private_key"]) for entry in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise NodeError(
            f"{file} does not hold development accounts ({type(exc).__name__})"
        ) from None


class AnvilNode:
    """A local anvil process, as a context manager.

    ``port=None`` picks a free port. ``block_time=None`` means automine (one block per
    transaction); a number gives real interval mining like a consortium chain.
    ``state_path`` loads the chain state from that file if it exists and dumps it on stop.
    ``accounts_file``: the funded accounts are random keys kept in that file (created on
    first use) instead of the public mnemonic's; see the module docstring.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        block_time: float | None = None,
        state_path: str | os.PathLike[str] | None = None,
        chain_id: int = 31337,
        host: str = "127.0.0.1",
        accounts: int = 10,
        balance_eth: int = 1_000_000,
        mnemonic: str = DEFAULT_MNEMONIC,
        gas_limit: int | None = 30_000_000,
        hardfork: str | None = None,
        gas_price: int | None = None,
        base_fee: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 15.0,
        accounts_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.requested_port = port
        self.port: int | None = port
        self.block_time = block_time
        self.state_path = Path(state_path) if state_path else None
        self.chain_id = chain_id
        self.host = host
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.mnemonic = mnemonic
        self.gas_limit = gas_limit
        self.hardfork = hardfork
        self.gas_price = gas_price
        self.base_fee = base_fee
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.accounts_file = Path(accounts_file) if accounts_file else None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise NodeError("node not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> AnvilNode:
        if self.running:
            return self
        binary = find_anvil(self.binary)
        attempts = 1 if self.requested_port is not None else 3
        for attempt in range(attempts):
            port = self.requested_port if self.requested_port is not None else free_port(self.host)
            if not port_is_free(port, self.host):
                if self.requested_port is not None:
                    raise PortInUse(f"port {port} on {self.host} is already in use")
                continue
            self.port = port
            try:
                self._launch(binary, port)
            except PortInUse:
                # lost a race for an OS-chosen port: pick another one
                if attempt == attempts - 1 or self.requested_port is not None:
                    raise
                continue
            try:
                self._fund_private_accounts()
            except BaseException:
                self.stop()
                raise
            return self
        raise PortInUse("could not find a free port")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the node (SIGINT first so ``state_path`` gets dumped), then clean up."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                process.send_signal(sig)
                try:
                    process.wait(timeout=timeout if sig == signal.SIGINT else 3)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- RPC conveniences (anvil / hardhat-style test methods) ----------------------------

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One raw JSON-RPC call; raises NodeError on an RPC error."""
        response = _post(self.rpc_url, method, params or [], timeout=30)
        if "error" in response:
            raise NodeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", [enabled])

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", [snapshot_id]))

    def dev_accounts(self, count: int | None = None) -> list[Any]:
        """Funded LocalAccounts of this node (all of them, or the first ``count``)."""
        if self.accounts_file is not None:
            return private_accounts(self.accounts_file, self.accounts)[:count]
        return dev_accounts(self.accounts if count is None else count, self.mnemonic)

    def log_text(self) -> str:
        """What the node printed so far (for diagnostics)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    # -- internals -----------------------------------------------------------------------

    def _command(self, binary: Path, port: int) -> list[str]:
        cmd = [
            str(binary),
            "--host",
            self.host,
            "--port",
            str(port),
            "--chain-id",
            str(self.chain_id),
        ]
        if self.accounts_file is None:
            cmd += [
                "--accounts",
                str(self.accounts),
                "--balance",
                str(self.balance_eth),
                "--mnemonic",
                self.mnemonic,
            ]
        else:
            cmd += ["--accounts", "0"]  # ours are funded over RPC: no key in argv
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        if self.hardfork is not None:
            cmd += ["--hardfork", self.hardfork]
        if self.gas_price is not None:
            cmd += ["--gas-price", str(self.gas_price)]
        if self.base_fee is not None:
            cmd += ["--base-fee", str(self.base_fee)]
        if self.state_path is not None:
            cmd += ["--state", str(self.state_path)]
        return cmd + list(self.extra_args)

    def _launch(self, binary: Path, port: int) -> None:
        # Output goes to a temp file, never a pipe: anvil logs every request, and a full
        # pipe nobody reads would block the node.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the node
        self._process = subprocess.Popen(
            self._command(binary, port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            umask=PRIVATE_UMASK,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            returncode = self._process.poll()
            if returncode is not None:
                output = self.log_text()
                self.stop()
                if "address already in use" in output.lower():
                    raise PortInUse(f"port {port} is already in use")
                raise NodeError(f"anvil exited with code {returncode}: {output[-2000:]}")
            try:
                response = _post(self.rpc_url, "eth_chainId", [], timeout=1)
                if int(response["result"], 16) == self.chain_id:
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        output = self.log_text()
        self.stop()
        raise NodeStartTimeout(
            f"anvil did not answer on {self.host}:{port} within {self.startup_timeout}s: "
            f"{output[-2000:]}"
        )

    def _fund_private_accounts(self) -> None:
        """Give the accounts of ``accounts_file`` their balance once, on the empty chain
        (block 0): after that the balances are state, dumped and reloaded with the rest, and
        funding again on a restart would undo what was spent."""
        if self.accounts_file is None:
            return
        accounts = private_accounts(self.accounts_file, self.accounts)
        if int(self.rpc("eth_blockNumber"), 16) != 0:
            return
        for account in accounts:
            self.rpc("anvil_setBalance", [account.address, hex(self.balance_eth * 10**18)])


def _post(url: str, method: str, params: list[Any], *, timeout: float) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.loads(response.read()))
    except urllib.error.URLError as exc:
        raise OSError(str(exc)) from exc
