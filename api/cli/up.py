"""`scf up`: a whole supply-chain finance network on one machine.

A local anvil node whose state persists across restarts, the contracts deployed when the
manifest does not match the chain (the API does that on start), the API on SQLite, and on
first start a seeded network with API keys. Everything lives in one data folder, 0700,
every file in it 0600 (the process umask is 077 while it runs; a folder an older version
left open is tightened on start):

    <data>/master-passphrase  demo mode only: the generated master passphrase (see below)
    <data>/secrets.json       the bootstrap operator API key (older folders: also the
                              passphrase, document key and invoice secret they were made with)
    <data>/keys/              every signing key, the operator's included (label "operator"),
                              encrypted with the master passphrase
    <data>/chain/state.json   the chain (anvil dumps it every 30 s and on stop)
    <data>/chain/dev-accounts.json  this chain's funded development accounts (random keys)
    <data>/manifest.json      where the contracts are
    <data>/scf-api.sqlite3    the API's database (document key and invoice secret are derived
                              from the master passphrase)
    <data>/api-keys.json      the seeded organizations' API keys
    <data>/bank-signer/       the demo bank's own key (it keeps its key: custody self) in a
                              key store of its own, and its generated passphrase
                              (api.cli.own_signer says why there); never in keys/

The master passphrase comes from SCF_MASTER_PASSPHRASE_FILE (a file the operator names, 0600)
or SCF_MASTER_PASSPHRASE. Without either, `scf up` is in demo mode: it generates one and
keeps it in ``master-passphrase`` beside the keys it opens, so whoever can read the folder
holds every key. It says so on start. The same folder serves ``python -m api`` (nothing in
it but the passphrase is needed: the operator key is in the key store).

With ``--consortium`` the chain is instead a consortium network of real nodes, one per
organization (chain_client/consortium.py: the operator's, two banks', all three sealing, and
a core enterprise's that only reads; Clique, a block every 2 s), kept in
``<data>/consortium/`` (genesis, each node's data folder and keys, network.json). The API
uses the operator's node; the banks' nodes are where a bank verifies from. The chain's clock
is real there: nothing moves it, so maturity comes when it comes.

Why one process runs both: Ctrl-C must stop the API and then the node, in that order, and
a restart must find everything where it was.
"""

from __future__ import annotations

import ipaddress
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
from api.cli.own_signer import SIGNER_DIR, OwnSigner
from api.cli.seed import (
    BANK_A,
    SEED_PEOPLE,
    seed_network,
    seed_people,
    write_accounts_file,
    write_keys_file,
)
from api.private_files import read_secret_file, restrict_new_files, secure_folder
from api.server import KEEP_ALIVE
from api.settings import Settings
from chain_client import AnvilNode, KeyStore, WrongPassphrase, connect
from chain_client.consortium import ConsortiumNetwork
from chain_client.errors import ChainClientError, PortInUse
from chain_client.files import atomic_write_text
from chain_client.manifest import DeploymentManifest, mismatches

#: what secrets.json must hold; older folders also hold LEGACY_FIELDS, used as they are
SECRET_FIELDS = ("operator_api_key",)
LEGACY_FIELDS = ("master_passphrase", "document_key", "invoice_secret")
#: demo mode's generated passphrase, in the data folder
DEMO_PASSPHRASE_FILE = "master-passphrase"
OPERATOR_LABEL = "operator"  # how api.chain.ChainGateway finds the operator's key


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
    #: the master passphrase (SCF_MASTER_PASSPHRASE), or the file holding it
    #: (SCF_MASTER_PASSPHRASE_FILE); neither: demo mode, generated into the data folder
    passphrase: SecretStr | None = None
    passphrase_file: Path | None = None
    #: a consortium network of real nodes instead of one anvil node; its nodes' RPC ports
    #: are chain_port (the operator's, which the API uses) and the next three
    consortium: bool = False


@dataclass
class LocalNetwork:
    """Starts and stops the node and the API; use as a context manager."""

    options: UpOptions
    node: AnvilNode | None = None
    consortium: ConsortiumNetwork | None = None
    settings: Settings | None = None
    keys_file: Path | None = None
    first_start: bool = False
    #: the portal's seeded accounts (portal-accounts.json), and whether this start made them
    accounts_file: Path | None = None
    accounts_made: bool = False
    #: where the master passphrase came from (shown on start): the demo file's path, or
    #: the variable that gave it
    passphrase_source: str = ""
    demo_mode: bool = False
    #: files of the folder that hold the master passphrase (demo mode: at least one)
    passphrase_copies: list[Path] = field(default_factory=list)
    tightened: list[Path] = field(default_factory=list)
    #: the signer of the bank that keeps its own key (seeded on first start)
    bank_signer: OwnSigner | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _secrets: dict[str, str] = field(default_factory=dict)
    _umask: int | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.options.api_port}"

    @property
    def rpc_url(self) -> str:
        """The API's node: the anvil node, or the operator's node of the consortium."""
        if self.consortium is not None:
            return self.consortium.node("operator").rpc_url
        return f"http://{self.options.host}:{self.options.chain_port}"

    def __enter__(self) -> LocalNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything; on failure, stop what was started (and restore the umask)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        data = self.options.data_dir
        self._check_loopback()
        self._check_ports()
        if self._umask is None:
            self._umask = restrict_new_files()
        self.tightened = secure_folder(data)
        (data / "chain").mkdir(exist_ok=True)
        self._secrets = self._load_or_create_secrets(data / "secrets.json")
        passphrase = self._passphrase(data)
        operator_address = self._operator_key(data, passphrase)
        self.passphrase_copies = self._stored_copies(data)
        if self.options.consortium:
            self._start_consortium(data / "consortium", operator_address)
        else:
            self._start_node(data / "chain")
            # a dev chain: the operator pays gas for deployment and onboarding from here
            assert self.node is not None
            self.node.rpc("anvil_setBalance", [operator_address, hex(10**24)])
        self._check_chain_matches_data(data)
        self.settings = Settings(
            data_dir=data.resolve(),
            rpc_url=self.rpc_url,
            master_passphrase=SecretStr(passphrase),
            # older folders keep the random ones they were made with; new ones derive both
            # from the passphrase, so that nothing but it is needed to serve the folder
            document_key=_secret(self._secrets.get("document_key")),
            invoice_secret=_secret(self._secrets.get("invoice_secret")),
            bootstrap_operator_api_key=SecretStr(self._secrets["operator_api_key"]),
            keystore_scrypt_n=self.options.keystore_scrypt_n,
            host=self.options.host,
            port=self.options.api_port,
            # a network on this machine: its members' webhooks may be local receivers
            webhook_allow_private=True,
        )
        self._start_api(self.settings)
        self.keys_file = data / "api-keys.json"
        if self.options.seed and not self.keys_file.exists():
            self.first_start = True
            self.bank_signer = OwnSigner.create(
                data / SIGNER_DIR, scrypt_n=self.options.keystore_scrypt_n
            )
            operator = ApiClient(self.api_url, self._secrets["operator_api_key"])
            try:
                keys = seed_network(operator, own_signers={BANK_A: self.bank_signer})
                write_keys_file(self.keys_file, keys)
            finally:
                operator.close()
        else:
            self.bank_signer = OwnSigner.open(data / SIGNER_DIR)
        # the portal's people: made at first start, or at the first start of a folder made
        # before the portal existed
        self.accounts_file = data / "portal-accounts.json"
        if self.options.seed and not self.accounts_file.exists():
            operator = ApiClient(self.api_url, self._secrets["operator_api_key"])
            try:
                passwords = {name: secrets.token_urlsafe(12) for name in SEED_PEOPLE}
                keys = json.loads(self.keys_file.read_text())
                write_accounts_file(self.accounts_file, seed_people(operator, keys, passwords))
                self.accounts_made = True
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
        if self.consortium is not None:
            self.consortium.stop()
            self.consortium = None
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    def wait(self) -> None:
        """Blocks until Ctrl-C (KeyboardInterrupt) or the API thread dies."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    # -- steps -------------------------------------------------------------------------

    def _check_loopback(self) -> None:
        """The development node answers anvil's cheat methods (anvil_setBalance,
        anvil_impersonateAccount, ...), which cannot be turned off: whoever reaches it can
        rewrite the chain. So it listens on this machine's loopback only."""
        try:
            loopback = (
                self.options.host == "localhost"
                or ipaddress.ip_address(self.options.host).is_loopback
            )
        except ValueError:
            loopback = False
        if not loopback:
            raise UpError(
                f"{self.options.host} is not a loopback address: the development "
                "chain lets anyone who reaches it rewrite its state, so `scf up` "
                "serves on this machine only (127.0.0.1)"
            )

    def _check_ports(self) -> None:
        nodes = 4 if self.options.consortium else 1
        for port, what, flag in (
            *((self.options.chain_port + k, "chain node", "--chain-port") for k in range(nodes)),
            (self.options.api_port, "API", "--api-port"),
        ):
            if _someone_listens(self.options.host, port):
                raise UpError(
                    f"port {port} for the {what} is taken: stop what uses it or "
                    f"choose another with {flag}"
                )

    def _load_or_create_secrets(self, path: Path) -> dict[str, str]:
        if path.exists():
            try:
                values = json.loads(path.read_text())
                missing = [f for f in SECRET_FIELDS if not values.get(f)]
                if missing:
                    raise ValueError(f"missing {', '.join(missing)}")
                return {
                    f: str(values[f]) for f in (*SECRET_FIELDS, *LEGACY_FIELDS) if values.get(f)
                }
            except (ValueError, OSError, AttributeError) as exc:
                raise UpError(_corrupt(path.parent, f"{path.name} is unreadable ({exc})")) from exc
        values = {"operator_api_key": "scf_" + secrets.token_urlsafe(32)}
        _write_private(path, json.dumps(values, indent=2))
        return values

    def _passphrase(self, data: Path) -> str:
        """The operator's passphrase if one is given, else (demo mode) the one kept in the
        folder: an older folder's secrets.json, or the generated ``master-passphrase``."""
        self.demo_mode = False
        if self.options.passphrase_file is not None:
            self.passphrase_source = f"SCF_MASTER_PASSPHRASE_FILE ({self.options.passphrase_file})"
            try:
                return read_secret_file(
                    self.options.passphrase_file.expanduser(), "SCF_MASTER_PASSPHRASE_FILE"
                )
            except ValueError as exc:
                raise UpError(str(exc)) from None
        if self.options.passphrase is not None and self.options.passphrase.get_secret_value():
            self.passphrase_source = "SCF_MASTER_PASSPHRASE"
            return self.options.passphrase.get_secret_value()
        self.demo_mode = True
        if "master_passphrase" in self._secrets:
            self.passphrase_source = str(data / "secrets.json")
            return self._secrets["master_passphrase"]
        demo = data / DEMO_PASSPHRASE_FILE
        self.passphrase_source = str(demo)
        if not demo.exists():
            if _operator_keys_exist(data):
                raise UpError(
                    f"the keys in {data} were made with a master passphrase this "
                    "folder does not keep: set SCF_MASTER_PASSPHRASE_FILE"
                )
            _write_private(demo, secrets.token_urlsafe(32) + "\n")
        try:
            return read_secret_file(demo, "the demo passphrase file")
        except ValueError as exc:
            raise UpError(_corrupt(data, str(exc))) from None

    def _operator_key(self, data: Path, passphrase: str) -> str:
        """The operator's address. Its key is in the API's key store (where
        ``python -m api`` finds it); an older folder's separate ``operator/`` store is
        imported there once; a new folder gets a new key. Opened here so that a wrong
        passphrase is a clear error before anything starts."""
        store = KeyStore(data / "keys", scrypt_n=self.options.keystore_scrypt_n)
        try:
            found = [i for i in store.list() if i.label == OPERATOR_LABEL]
            if found:
                return store.load(found[0].id, passphrase).address
            legacy = KeyStore(data / "operator", scrypt_n=self.options.keystore_scrypt_n)
            old = legacy.list() if (data / "operator").is_dir() else []
            if old:
                account = legacy.load(old[0].id, passphrase)
                return store.import_key(account.key, passphrase, label=OPERATOR_LABEL).address
            return store.create(passphrase, label=OPERATOR_LABEL).address
        except WrongPassphrase as exc:
            raise UpError(
                _corrupt(
                    data,
                    "the operator key does not open with the master "
                    f"passphrase from {self.passphrase_source}",
                )
            ) from exc
        except ChainClientError as exc:
            raise UpError(_corrupt(data, f"the operator key store: {exc}")) from exc

    def _stored_copies(self, data: Path) -> list[Path]:
        """The files of the folder that hold the master passphrase, to be shown on start.
        Never deleted here, even when the passphrase now comes from outside: that could
        lose its only copy (one given in a shell variable, say); the user deletes them
        once the passphrase is kept safe elsewhere."""
        copies = [data / DEMO_PASSPHRASE_FILE] if (data / DEMO_PASSPHRASE_FILE).exists() else []
        if "master_passphrase" in self._secrets:
            copies.append(data / "secrets.json")
        given = self.options.passphrase_file
        if given is not None:
            given = given.expanduser().resolve()
            if given.is_relative_to(data.resolve()) and given not in {c.resolve() for c in copies}:
                copies.append(given)
        return copies

    def _start_node(self, chain_dir: Path) -> None:
        self.node = AnvilNode(
            self.options.chain_port,
            host=self.options.host,
            block_time=self.options.block_time,
            state_path=chain_dir / "state.json",
            accounts_file=chain_dir / "dev-accounts.json",  # never the public mnemonic's
            gas_price=0,
            base_fee=0,
            # no CORS headers: otherwise any web page open in this user's browser could
            # drive the node's cheat methods through fetch()
            extra_args=("--state-interval", "30", "--no-cors"),
        )
        try:
            self.node.start()
        except PortInUse as exc:
            self.node = None
            raise UpError(f"{exc}: stop what uses it or choose another --chain-port") from exc
        except ChainClientError as exc:
            log_text = self.node.log_text()[-2000:] if self.node else ""
            self.node = None
            raise UpError(
                f"the local chain did not start: {exc}\n{log_text}\n"
                + _corrupt(chain_dir.parent, "if chain/state.json is damaged")
            ) from exc
        self._keep_time_monotonic()

    def _start_consortium(self, folder: Path, operator_address: str) -> None:
        """The consortium network of ``folder``, made there on first start with the
        operator's account funded at genesis (a real chain has no anvil_setBalance): it
        pays the gas of deployment and of funding each member it onboards."""
        ports = [self.options.chain_port + k for k in range(4)]
        try:
            if (folder / "network.json").exists():
                network = ConsortiumNetwork.open(folder)
            else:
                network = ConsortiumNetwork.create(
                    folder, rpc_ports=ports, funded=[operator_address]
                )
            self.consortium = network
            network.start()
        except PortInUse as exc:
            raise UpError(f"{exc}: stop what uses it or choose another --chain-port") from exc
        except ChainClientError as exc:
            nodes = self.consortium.nodes if self.consortium is not None else []
            tails = "".join(f"\n--- {node.name} ---\n{node.log_tail(1500)}" for node in nodes)
            raise UpError(
                f"the consortium network did not start: {exc}{tails}\n"
                + _corrupt(folder.parent, "if consortium/ is damaged")
            ) from exc

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
            raise UpError(
                _corrupt(
                    data,
                    "the chain state no longer holds the contracts this "
                    "database was built on: " + "; ".join(problems),
                )
            )

    def _start_api(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE,
        )
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


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def _write_private(path: Path, text: str) -> None:
    atomic_write_text(path, text, private=True)


def _operator_keys_exist(data: Path) -> bool:
    return any(
        folder.is_dir() and any(folder.glob("*.json"))
        for folder in (data / "keys", data / "operator")
    )


def _corrupt(data_dir: Path, what: str) -> str:
    return (
        f"the data folder {data_dir} looks corrupt: {what}. Move it aside (or delete it) "
        "to start a fresh network."
    )
