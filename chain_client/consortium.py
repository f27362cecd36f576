"""A consortium test network: one @ethereumjs/client node per organization, Clique PoA.

Why this exists: the ledger is built for a permissioned chain that several organizations
run together (the operator and every bank, each on its own node), and behaviour that a
single anvil node never shows (block periods, forks between sealers, a node that is down or
behind, receipts that appear a moment after the block) must be met in tests and demos, not
first in production. The only full Ethereum client that installs here is the npm package
``@ethereumjs/client`` (no geth, Besu or FISCO binary is on PyPI, npm or Debian), pinned in
package-lock.json and patched at install by ``patches/`` (see ``patches/README.md``: each
patch is one fix this network needs, with the test that fails without it).

The shape: every organization's node keeps its own data folder and RPC port, all peer over
devp2p on loopback, and a generated genesis names the sealers. With three sealers Clique
lets each seal at most one block of every two, so losing any one sealer keeps the chain
going; a fourth, non-sealing node stands for an organization that only reads (a core
enterprise, an auditor). Production runs Besu (QBFT) or geth (Clique) instead:
docs/consortium.md and deploy/consortium/.

A network lives in one folder::

    network.json        chain id, block period, nodes (ports, sealer address, enode)
    genesis.json        geth-format genesis (Clique extraData names the sealers)
    accounts.json       funded development accounts, private keys in clear (0600)
    <node>/             the node's data folder (chain database, node key)
    <node>/sealer.key   the sealer's signing key (0600): @ethereumjs/client's --unlock
                        reads a plain key file
    <node>/node.log     the node's output

Everything here is for a test network on one machine: keys in clear, no permissioning,
loopback only. ``ConsortiumNetwork.open(folder)`` resumes a folder made before.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from eth_account import Account

from chain_client.encoding import to_hex
from chain_client.errors import NodeBinaryNotFound, NodeError, NodeStartTimeout, PortInUse
from chain_client.files import PRIVATE_UMASK, atomic_write_text
from chain_client.node import PROJECT_ROOT, _post, free_port, port_is_free

#: the organizations of the default network: three sealers, then a node that only reads
DEFAULT_NODES: tuple[tuple[str, bool], ...] = (
    ("operator", True),
    ("bank-a", True),
    ("bank-b", True),
    ("core", False),
)
logger = logging.getLogger(__name__)

#: seconds between blocks; short, so that tests run in reasonable time, and long enough for
#: the in-turn block to reach every node of a busy 2-core machine before anyone steps in
DEFAULT_BLOCK_PERIOD = 2
DEFAULT_CHAIN_ID = 47017
#: wei each funded account starts with (gas is cheap: the base fee starts at 7 wei)
FUNDING_WEI = 10**24
#: a Clique epoch: votes are reset and the signer list checkpointed this often
CLIQUE_EPOCH = 30_000
GAS_LIMIT = 30_000_000
#: blocks the nodes' heads may differ by and still count as the same head: heads are read
#: one node after the other, and a new block may land, or reach one node a moment before
#: another, between two reads
SYNC_SPREAD_BLOCKS = 1
#: seconds a node may stay behind without importing a block before the network's own
#: start restarts it (:meth:`ConsortiumNetwork.wait_until_in_sync`): many block periods
STALL_RESTART_SECONDS = 30.0


def find_ethereumjs(cli: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """(node.js, the client's cli.js): argument or $ETHEREUMJS_CLI, else node_modules."""
    node = shutil.which("node")
    if node is None:
        raise NodeBinaryNotFound("node.js not found on PATH (the consortium nodes need it)")
    chosen = cli or os.environ.get("ETHEREUMJS_CLI")
    script = (
        Path(chosen)
        if chosen
        else PROJECT_ROOT / "node_modules/@ethereumjs/client/dist/esm/bin/cli.js"
    )
    if not script.is_file():
        raise NodeBinaryNotFound(
            f"@ethereumjs/client not found at {script}; run tools/bootstrap.sh"
        )
    return Path(node), script


def clique_extra_data(sealers: Iterable[str]) -> str:
    """Clique's genesis extraData: 32 vanity bytes, the sealers' addresses in ascending
    order (the order Clique's in-turn rotation uses), 65 bytes of empty seal."""
    addresses = sorted(bytes.fromhex(a.removeprefix("0x")) for a in sealers)
    return to_hex(bytes(32) + b"".join(addresses) + bytes(65))


def make_genesis(
    chain_id: int, block_period: int, sealers: Sequence[str], funded: Iterable[str]
) -> dict[str, Any]:
    """A geth-format genesis for a Clique chain with every fork up to London at block 0.

    London, not later: Clique ends at the Merge, and the contracts are compiled for the
    paris EVM (no PUSH0), which London-era nodes run. The base fee starts at 7 wei, its
    floor on an idle chain, so gas costs almost nothing and yet fees are real.
    """
    forks: tuple[str, ...] = ("homestead", "eip150", "eip155", "eip158", "byzantium")
    forks += ("constantinople", "petersburg", "istanbul", "berlin", "london")
    config: dict[str, Any] = {"chainId": chain_id}
    config.update({f"{fork}Block": 0 for fork in forks})
    config["clique"] = {"period": block_period, "epoch": CLIQUE_EPOCH}
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(int(time.time())),
        "difficulty": "0x1",
        "gasLimit": hex(GAS_LIMIT),
        "extraData": clique_extra_data(sealers),
        "coinbase": "0x" + "00" * 20,
        "mixHash": "0x" + "00" * 32,
        "parentHash": "0x" + "00" * 32,
        "baseFeePerGas": "0x7",
        "alloc": {address: {"balance": hex(FUNDING_WEI)} for address in funded},
    }


@dataclass(frozen=True)
class NodeConfig:
    """One organization's node as network.json records it."""

    name: str
    sealer: str | None  # the sealer's address, None for a node that only reads
    rpc_port: int
    p2p_port: int
    enode: str | None = None  # known once the node first ran (its key then stays)


class ConsortiumNode:
    """One @ethereumjs/client process of the network."""

    def __init__(self, network: ConsortiumNetwork, config: NodeConfig) -> None:
        self.network = network
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def folder(self) -> Path:
        return self.network.folder / self.name

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.config.rpc_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self, timeout: float = 60.0) -> ConsortiumNode:
        """Start the process and wait until its RPC answers with the network's chain id."""
        if self.running:
            return self
        for port in (self.config.rpc_port, self.config.p2p_port):
            if not port_is_free(port):
                raise PortInUse(f"port {port} (node {self.name}) is already in use")
        node, cli = find_ethereumjs(self.network.cli)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self._log = (self.folder / "node.log").open("ab")
        self._process = subprocess.Popen(
            [str(node), str(cli), *self._arguments()],
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            umask=PRIVATE_UMASK,
            start_new_session=True,  # a Ctrl-C in the terminal is for the supervisor
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self.log_tail()
                self._close_log()
                self._process = None
                raise NodeError(f"node {self.name} exited at start: {output}")
            try:
                if int(self.rpc("eth_chainId"), 16) == self.network.chain_id:
                    return self
            except (OSError, NodeError, ValueError):
                pass
            time.sleep(0.2)
        self.kill()
        raise NodeStartTimeout(f"node {self.name} did not answer within {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        """A clean shutdown (SIGINT, as Ctrl-C): the client closes its databases, which
        takes a few seconds; SIGKILL after ``timeout``."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._process = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: the node dies as in a power cut, mid-write if it was writing."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._process = None
        self._close_log()

    def rpc(self, method: str, params: list[Any] | None = None, timeout: float = 10) -> Any:
        """One raw JSON-RPC call; NodeError on an RPC error, OSError if unreachable."""
        response = _post(self.rpc_url, method, params or [], timeout=timeout)
        if "error" in response:
            raise NodeError(f"{self.name}: {method} failed: {response['error']}")
        return response.get("result")

    def head(self) -> tuple[int, str]:
        """(number, hash) of the node's latest block."""
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["number"], 16), str(block["hash"])

    def peer_count(self) -> int:
        return int(self.rpc("net_peerCount"), 16)

    def enode(self) -> str:
        return str(self.rpc("admin_nodeInfo")["enode"])

    def log_tail(self, characters: int = 3000) -> str:
        path = self.folder / "node.log"
        return path.read_text(errors="replace")[-characters:] if path.exists() else ""

    def _arguments(self) -> list[str]:
        peers = [n.config.enode for n in self.network.nodes if n is not self and n.config.enode]
        args = [
            f"--gethGenesis={self.network.folder / 'genesis.json'}",
            f"--dataDir={self.folder / 'data'}",
            f"--port={self.config.p2p_port}",
            "--extIP=127.0.0.1",  # the address peers are told to dial
            "--rpc",
            "--rpcAddr=127.0.0.1",
            f"--rpcPort={self.config.rpc_port}",
            # no web page may drive the node from a browser (the header names no real origin)
            "--rpcCors=http://127.0.0.1:0",
            "--discDns=false",  # never ask the public DNS for peers
            "--discV4=true",  # finds the others again after a restart
            "--logLevel=info",
            "--logFile=false",  # stdout goes to node.log; the client's own file logs debug
            "--maxPeers=25",
        ]
        if peers:
            args.append("--bootnodes=" + ",".join(peers))
        if self.config.sealer is not None:
            args += ["--mine", f"--unlock={self.folder / 'sealer.key'}"]
        return args

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class ConsortiumNetwork:
    """The whole network: create or open its folder, start, stop, and wait for agreement."""

    folder: Path
    chain_id: int
    block_period: int
    configs: list[NodeConfig]
    cli: Path | None = None
    nodes: list[ConsortiumNode] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.nodes = [ConsortiumNode(self, config) for config in self.configs]

    # -- making and opening a network folder -------------------------------------------

    @classmethod
    def create(
        cls,
        folder: str | os.PathLike[str],
        *,
        nodes: Sequence[tuple[str, bool]] = DEFAULT_NODES,
        block_period: int = DEFAULT_BLOCK_PERIOD,
        chain_id: int = DEFAULT_CHAIN_ID,
        rpc_ports: Sequence[int] | None = None,
        p2p_ports: Sequence[int] | None = None,
        funded: Iterable[str] = (),
        accounts: int = 10,
        cli: Path | None = None,
    ) -> ConsortiumNetwork:
        """A new network in ``folder`` (which must not hold one). ``funded``: addresses
        given ether at genesis besides ``accounts`` development accounts (the operator's
        deployment key, say). Ports not given are picked free."""
        root = Path(folder)
        if (root / "network.json").exists():
            raise NodeError(f"{root} already holds a network; open it instead")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        configs: list[NodeConfig] = []
        sealer_keys: dict[str, str] = {}
        for index, (name, seals) in enumerate(nodes):
            sealer = None
            if seals:
                key = Account.from_key(secrets.token_bytes(32))
                sealer = str(key.address)
                sealer_keys[name] = to_hex(key.key).removeprefix("0x")
            configs.append(
                NodeConfig(
                    name=name,
                    sealer=sealer,
                    rpc_port=rpc_ports[index] if rpc_ports else free_port(),
                    p2p_port=p2p_ports[index] if p2p_ports else free_port(),
                )
            )
        if not sealer_keys:
            raise NodeError("a Clique network needs at least one sealer")
        dev = [Account.from_key(secrets.token_bytes(32)) for _ in range(accounts)]
        atomic_write_text(
            root / "accounts.json",
            json.dumps(
                {
                    "about": "development accounts of this test network; never use them "
                    "anywhere else",
                    "accounts": [{"address": a.address, "private_key": to_hex(a.key)} for a in dev],
                },
                indent=2,
            ),
            private=True,
        )
        sealers = [c.sealer for c in configs if c.sealer is not None]
        genesis = make_genesis(
            chain_id, block_period, sealers, [*sealers, *(a.address for a in dev), *funded]
        )
        atomic_write_text(root / "genesis.json", json.dumps(genesis, indent=2))
        for name, key in sealer_keys.items():
            atomic_write_text(root / name / "sealer.key", key, private=True)
        network = cls(root, chain_id, block_period, configs, cli)
        network.save()
        return network

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, cli: Path | None = None) -> ConsortiumNetwork:
        root = Path(folder)
        try:
            document = json.loads((root / "network.json").read_text())
            configs = [NodeConfig(**entry) for entry in document["nodes"]]
            return cls(root, int(document["chain_id"]), int(document["block_period"]), configs, cli)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NodeError(f"{root} does not hold a consortium network: {exc}") from exc

    @classmethod
    def open_or_create(cls, folder: str | os.PathLike[str], **options: Any) -> ConsortiumNetwork:
        if (Path(folder) / "network.json").exists():
            return cls.open(folder, cli=options.get("cli"))
        return cls.create(folder, **options)

    def save(self) -> None:
        document = {
            "chain_id": self.chain_id,
            "block_period": self.block_period,
            "nodes": [asdict(node.config) for node in self.nodes],
        }
        atomic_write_text(self.folder / "network.json", json.dumps(document, indent=2))

    # -- running it ----------------------------------------------------------------------

    def node(self, name: str) -> ConsortiumNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def __iter__(self) -> Iterator[ConsortiumNode]:
        return iter(self.nodes)

    @property
    def sealers(self) -> list[ConsortiumNode]:
        return [node for node in self.nodes if node.config.sealer is not None]

    def dev_accounts(self) -> list[Any]:
        """The funded development accounts (LocalAccount objects)."""
        entries = json.loads((self.folder / "accounts.json").read_text())["accounts"]
        return [Account.from_key(entry["private_key"]) for entry in entries]

    def start(self, timeout: float = 120.0) -> ConsortiumNetwork:
        """Start every node and wait until they peer and agree on a head past genesis.

        On a new network the nodes' enodes are unknown until each has run once (the node
        key is made at first start), so the first node starts alone and the others are
        given its enode; every enode is then recorded, and later starts give each node all
        the others'.
        """
        try:
            for node in self.nodes:
                node.start()
                if node.config.enode is None:
                    self._record_enode(node)
            self.wait_until_in_sync(timeout=timeout, restart_stalled_after=STALL_RESTART_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str, *, kill: bool = False) -> ConsortiumNode:
        """Stop (or kill) one node and start it again with the others as its peers."""
        node = self.node(name)
        if kill:
            node.kill()
        else:
            node.stop()
        return node.start()

    def stop(self) -> None:
        """Stop every node; they shut down in parallel (each takes a few seconds)."""
        running = [n for n in self.nodes if n.running]
        for node in running:
            if node._process is not None:
                node._process.send_signal(signal.SIGINT)
        for node in running:
            node.stop()

    def __enter__(self) -> ConsortiumNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def heads(self, nodes: Iterable[ConsortiumNode] | None = None) -> dict[str, tuple[int, str]]:
        """Each running node's head (unreachable nodes left out)."""
        found: dict[str, tuple[int, str]] = {}
        for node in nodes if nodes is not None else self.nodes:
            if not node.running:
                continue
            try:
                found[node.name] = node.head()
            except (OSError, NodeError):
                continue
        return found

    def wait_until_in_sync(
        self,
        nodes: Iterable[ConsortiumNode] | None = None,
        *,
        past: int = 0,
        timeout: float = 120.0,
        restart_stalled_after: float | None = None,
    ) -> tuple[int, str]:
        """Wait until the given (default: all running) nodes report the same head, above
        ``past``, and each has a peer and is synchronized. Returns that head. Heads are read
        one node after the other, so they may be :data:`SYNC_SPREAD_BLOCKS` apart, and
        agreement is checked on a block every node has: the lowest head's number, whose
        hash must be the same everywhere.

        The heads' numbers are compared because a node's word that it is synchronized is
        not enough: @ethereumjs/client calls a sealer synchronized while its head is less
        than a minute old, so a sealer restarted after a short outage says so (and has the
        others' blocks up to its head) while it is still blocks behind.

        With ``restart_stalled_after`` (seconds), a node that stays behind the highest head
        without importing a block for that long is restarted, once per wait. Why: now and
        then an @ethereumjs/client node stops importing after a restart while it still
        logs each new sync target from its peers (seen on CI: the core's node stayed at
        block 182 for a minute while the others reached 192); a fresh start syncs it. Only
        the supervisor that started the network (:meth:`start`) asks for this; a test of
        a fault waits without it, so that a node that cannot catch up is seen."""
        chosen = [n for n in (nodes if nodes is not None else self.nodes) if n.running]
        deadline = time.monotonic() + timeout
        last: dict[str, tuple[int, str]] = {}
        progress: dict[str, tuple[int, float]] = {}  # name -> (head, when it last moved)
        restarted: set[str] = set()
        while time.monotonic() < deadline:
            last = self.heads(chosen)
            if len(last) == len(chosen) and chosen:
                numbers = [number for number, _ in last.values()]
                lowest = min(numbers)
                close = max(numbers) - lowest <= SYNC_SPREAD_BLOCKS
                agreed = self._common_hash(chosen, lowest) if lowest > past and close else None
                if agreed is not None and self._all_ready(chosen):
                    return lowest, agreed
            if restart_stalled_after is not None and last:
                highest = max(number for number, _ in last.values())
                now = time.monotonic()
                for name, (number, _hash) in last.items():
                    seen, since = progress.get(name, (-1, now))
                    if number != seen:
                        progress[name] = (number, now)
                    elif (
                        highest - number > SYNC_SPREAD_BLOCKS
                        and now - since >= restart_stalled_after
                        and name not in restarted
                    ):
                        restarted.add(name)
                        logger.warning(
                            "node %s stalled at block %d (the others at %d): restarting it",
                            name,
                            number,
                            highest,
                        )
                        self.restart(name)
                        progress.pop(name, None)
            time.sleep(0.5)
        detail = ", ".join(
            f"{name} at {number} {hash_[:10]}" for name, (number, hash_) in last.items()
        )
        raise NodeError(f"the nodes did not agree within {timeout}s ({detail or 'none answered'})")

    def _common_hash(self, nodes: Sequence[ConsortiumNode], number: int) -> str | None:
        """The hash every node has at height ``number``, or None if they differ."""
        hashes = set()
        for node in nodes:
            try:
                block = node.rpc("eth_getBlockByNumber", [hex(number), False])
            except (OSError, NodeError):
                return None
            if block is None:
                return None
            hashes.add(str(block["hash"]))
        return hashes.pop() if len(hashes) == 1 else None

    def _all_ready(self, nodes: Sequence[ConsortiumNode]) -> bool:
        """Each node has a peer and calls itself synchronized (``eth_syncing`` false): a
        node that does not seal refuses transactions until it is."""
        try:
            return all(
                (len(self.nodes) < 2 or node.peer_count() > 0) and node.rpc("eth_syncing") is False
                for node in nodes
            )
        except (OSError, NodeError):
            return False

    def _record_enode(self, node: ConsortiumNode) -> None:
        index = self.nodes.index(node)
        self.configs[index] = replace(self.configs[index], enode=node.enode())
        node.config = self.configs[index]
        self.save()
