"""`scf up`: a whole supply-chain finance network on one machine.

A local anvil node whose state persists across restarts, the contracts deployed when the
manifest does not match the chain (the API does that on start), the API on SQLite, and on
first start a seeded network with API keys. Everything lives in one data folder:

    <data>/secrets.json     generated secrets (0600): master passphrase, document key, ...
    <data>/operator/        the operator's signing key, encrypted with the master passphrase
    <data>/chain/state.json the chain (anvil dumps it every 30 s and on stop)
    <data>/manifest.json    where the contracts are
    <data>/scf-api.sqlite3  the API's database; <data>/keys/ the members' encrypted keys
    <data>/api-keys.json    the seeded organizations' API keys (0600)

Why one process runs both: Ctrl-C must stop the API and then the node, in that order, and
a restart must find everything where it was.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.cli.client import ApiClient
from api.cli.health import wait_until_serving
from api.cli.seed import seed_network, write_keys_file
from api.server import KEEP_ALIVE
from api.settings import Settings
from chain_client import AnvilNode, KeyStore, WrongPassphrase, connect
from chain_client.errors import ChainClientError, PortInUse
from chain_client.manifest import DeploymentManifest, mismatches

SECRET_FIELDS = ("master_passphrase", "document_key", "invoice_secret", "operator_api_key")


class UpError(Exception):
    """Something the user must fix before the network can start; the message says what."""


@dataclass
class UpOptions:
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    chain_port: int = 8545
    api_port: int = 8000
    block_time: int | None = None  # None: a block per transaction (automine)
    seed: bool = True
    keystore_scrypt_n: int = 2**15


@dataclass
class LocalNetwork:
    """Starts and stops the node and the API; use as a context manager."""

    options: UpOptions
    node: AnvilNode | None = None
    settings: Settings | None = None
    keys_file: Path | None = None
    first_start: bool = False
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _secrets: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.options.api_port}"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.options.host}:{self.options.chain_port}"

    def __enter__(self) -> LocalNetwork:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        data = self.options.data_dir
        self._check_ports()
        data.mkdir(parents=True, exist_ok=True)
        (data / "chain").mkdir(exist_ok=True)
        self._secrets = self._load_or_create_secrets(data / "secrets.json")
        operator_key, operator_address = self._operator_key(data / "operator")
        self._start_node(data / "chain")
        # a dev chain: the operator pays gas for deployment and onboarding from here
        assert self.node is not None
        self.node.rpc("anvil_setBalance", [operator_address, hex(10**24)])
        self._check_chain_matches_data(data)
        self.settings = Settings(
            data_dir=data.resolve(),
            rpc_url=self.rpc_url,
            master_passphrase=SecretStr(self._secrets["master_passphrase"]),
            document_key=SecretStr(self._secrets["document_key"]),
            invoice_secret=SecretStr(self._secrets["invoice_secret"]),
            operator_private_key=SecretStr(operator_key),
            bootstrap_operator_api_key=SecretStr(self._secrets["operator_api_key"]),
            keystore_scrypt_n=self.options.keystore_scrypt_n,
            host=self.options.host,
            port=self.options.api_port,
        )
        self._start_api(self.settings)
        self.keys_file = data / "api-keys.json"
        if self.options.seed and not self.keys_file.exists():
            self.first_start = True
            operator = ApiClient(self.api_url, self._secrets["operator_api_key"])
            try:
                write_keys_file(self.keys_file, seed_network(operator))
            finally:
                operator.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=15)
            self._server = None
        if self.node is not None:
            self.node.stop()
            self.node = None

    def wait(self) -> None:
        """Blocks until Ctrl-C (KeyboardInterrupt) or the API thread dies."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    # -- steps -------------------------------------------------------------------------

    def _check_ports(self) -> None:
        for port, what, flag in ((self.options.chain_port, "chain node", "--chain-port"),
                                 (self.options.api_port, "API", "--api-port")):
            if _someone_listens(self.options.host, port):
                raise UpError(f"port {port} for the {what} is taken: stop what uses it or "
                              f"choose another with {flag}")

    def _load_or_create_secrets(self, path: Path) -> dict[str, str]:
        if path.exists():
            try:
                values = json.loads(path.read_text())
                missing = [f for f in SECRET_FIELDS if not values.get(f)]
                if missing:
                    raise ValueError(f"missing {', '.join(missing)}")
                return {f: str(values[f]) for f in SECRET_FIELDS}
            except (ValueError, OSError) as exc:
                raise UpError(_corrupt(path.parent, f"{path.name} is unreadable ({exc})")) \
                    from exc
        values = {
            "master_passphrase": secrets.token_urlsafe(32),
            "document_key": secrets.token_hex(32),
            "invoice_secret": secrets.token_urlsafe(32),
            "operator_api_key": "scf_" + secrets.token_urlsafe(32),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle, indent=2)
        return values

    def _operator_key(self, directory: Path) -> tuple[str, str]:
        """The operator's private key, kept encrypted in its own key store."""
        store = KeyStore(directory, scrypt_n=self.options.keystore_scrypt_n)
        passphrase = self._secrets["master_passphrase"]
        try:
            existing = store.list()
            info = existing[0] if existing else store.create(passphrase, label="operator")
            account = store.load(info.id, passphrase)
        except WrongPassphrase as exc:
            raise UpError(_corrupt(directory.parent, "the operator key does not open with "
                                   "the passphrase in secrets.json")) from exc
        except ChainClientError as exc:
            raise UpError(_corrupt(directory.parent, f"the operator key store: {exc}")) from exc
        return account.key.hex(), account.address

    def _start_node(self, chain_dir: Path) -> None:
        self.node = AnvilNode(
            self.options.chain_port,
            host=self.options.host,
            block_time=self.options.block_time,
            state_path=chain_dir / "state.json",
            gas_price=0,
            base_fee=0,
            extra_args=("--state-interval", "30"),
        )
        try:
            self.node.start()
        except PortInUse as exc:
            self.node = None
            raise UpError(f"{exc}: stop what uses it or choose another --chain-port") from exc
        except ChainClientError as exc:
            log_text = self.node.log_text()[-2000:] if self.node else ""
            self.node = None
            raise UpError(f"the local chain did not start: {exc}\n{log_text}\n"
                          + _corrupt(chain_dir.parent, "if chain/state.json is damaged")) from exc
        self._keep_time_monotonic()

    def _keep_time_monotonic(self) -> None:
        """anvil reloads blocks but not the clock offset that moved them forward (the demo
        moves time to maturity): without this, new blocks would be stamped before old ones
        and matured certificates would become immature again."""
        assert self.node is not None
        latest = int(self.node.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        lag = latest - int(time.time())
        if lag >= 0:
            self.node.rpc("evm_increaseTime", [lag + 1])
            self.node.rpc("evm_mine", [])

    def _check_chain_matches_data(self, data: Path) -> None:
        """A database of one chain must never be served against another."""
        manifest_path = data / "manifest.json"
        if not manifest_path.exists() or not (data / "api-keys.json").exists():
            return
        try:
            problems = mismatches(DeploymentManifest.read(manifest_path), connect(self.rpc_url))
        except (ChainClientError, ValueError, OSError) as exc:
            raise UpError(_corrupt(data, f"manifest.json is unreadable ({exc})")) from exc
        if problems:
            raise UpError(_corrupt(data, "the chain state no longer holds the contracts this "
                                   "database was built on: " + "; ".join(problems)))

    def _start_api(self, settings: Settings) -> None:
        config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                log_level="warning", access_log=False,
                                timeout_keep_alive=KEEP_ALIVE)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="scf-api", daemon=True)
        self._thread.start()
        failure = wait_until_serving(self.api_url, 60, self._thread.is_alive)
        if failure is None:
            return
        if failure == "stopped":
            raise UpError("the API stopped during start-up (see the messages above)")
        raise UpError("the API did not answer within 60 s")


def _someone_listens(host: str, port: int) -> bool:
    """A connect test, not a bind test: a port in TIME_WAIT after a clean stop is free."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _corrupt(data_dir: Path, what: str) -> str:
    return (f"the data folder {data_dir} looks corrupt: {what}. Move it aside (or delete it) "
            "to start a fresh network.")
