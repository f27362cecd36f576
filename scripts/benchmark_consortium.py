"""Financings per second and time to cash on the consortium network (issue 12).

Run: nice -n 5 .venv/bin/python scripts/benchmark_consortium.py [--clients 4] [--rounds 4]
        [--block-period 2] [--workers 2] [--retries 1] [--keep FOLDER] [--dump FILE]

One run, on a fresh network it starts itself in a temporary folder
(:class:`chain_client.consortium.ConsortiumNetwork`: four @ethereumjs/client nodes on
loopback, Clique; "operator", "bank-a", "bank-b" seal, "core" reads), with the block
period given (default 2 s, the network's default). Every timed transaction is sent to the
operator's node, where the API runs; the cash is read on bank-a's node.

A financing is a bank accepting a supplier's open offer (``acceptOffer``, delivery versus
payment: the bank's settlement tokens go to the supplier and part of the fragment to the
bank, in one transaction). The offers are made before each timed phase (not timed); only
the accept is timed. Each path has ``--clients`` financings in flight, each client its own
seller, ``--rounds`` each, in a closed loop (a client starts its next financing when the
previous one answered):

(a) the API (``python -m api``: ``--workers`` HTTP workers and the indexing process, on the
    operator's node): ``POST /v1/offers/{id}/accept`` by one bank, retried with the same
    Idempotency-Key on a 503 as api.md says. With the API's confirmations left to the block
    period (1 + ceil(3 s / period): 3 at 2 s); the same with each client starting its next
    financing once the previous one's cash shows on bank-a, the answer left to come in the
    background ("next financing on cash": the rate the cash allows, whatever the answer
    waits for); and with ``SCF_CONFIRMATIONS=1`` (the server restarted on the same data),
    to show what the confirmations cost;
(b) ``chain_client.Ledger`` directly, on a deployment of its own on the same network: the
    same call (``Calls.accept_offer``, as the API's catalogue sends it) signed by its
    bank's key and waited for by a ``TransactionSender`` set up as the API's gateway sets
    it (20 ms polls, confirmations by the block period);
(c) the peer: the project's ERC-20 (``SettlementToken.transfer``) from ``--clients``
    accounts to as many recipients, signed locally with fixed gas and fees and a nonce
    counted here, ``eth_sendRawTransaction``, and the receipt asked for only once the node
    has a newer block: the least a client can do and ask per transaction, the ceiling. Run
    first and last.

Time to cash: from the request sent to the moment a read of the seller's settlement-token
balance on bank-a's node returns it with the payment. A watcher polls bank-a's head every
0.1 s and, on each new block, reads every seller's balance at that block (one JSON-RPC
batch); a financing's cash is the first reading at or above the seller's balance before
the phase plus the payments of its financings so far (a client has one financing unpaid at
a time, so this is exact). The answer time (what the caller waits for) is reported next to
it.

Where the time goes: a second watcher records when each block appears on the operator's
node, which splits a financing into send -> its block seen on the operator's node, that
block seen on bank-a, the confirmations, and the last confirming block -> the answer (for
the API: its read-your-writes wait, storing the answer, HTTP). CPU seconds of the four
nodes, the API's processes, this script and the rest of the machine (psutil) say what was
busy, and a polling probe at the end (no transaction in flight) measures what the send
path's 20 ms polls cost the operator's node.

A node that dies is started again by a watchdog, and a phase during which one died (or
that had errors) is run again, up to ``--retries`` times; every death is listed with the
node's own last error (docs/benchmarks.md, "The consortium network", says why they die).
The chain_client world is set up through the core's node (which never seals); the API's
set-up retries a command with the same Idempotency-Key, as a client should.

Prints markdown tables: rate (financings or transfers per second), p50/p99 time to cash
and answer, ratios to the raw rate, the issue's targets (API >= 0.8 of raw; time to cash
<= one block period + 0.5 s at p50), the breakdown, the CPU and the polling probe.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psutil
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils import keccak

from api.cli.health import interrupt, wait_until_serving
from chain_client.connection import connect
from chain_client.consortium import ConsortiumNetwork
from chain_client.deployment import deploy_ledger
from chain_client.errors import NodeError, TransactionRejected
from chain_client.events import FinancingAccepted
from chain_client.head import block_period
from chain_client.identity import uscc_check_digit
from chain_client.ledger import Ledger, LedgerCall, PendingOutcome
from chain_client.ledger_types import Role
from chain_client.manifest import DeploymentManifest
from chain_client.node import free_port
from chain_client.transactions import TransactionSender, pacing

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400
FRAGMENT_FEN = 10**9  # what each supplier holds (10m CNY): never runs out
OFFER_FEN = 1_000_000  # 10,000 CNY per financing
RATE_BPS = 500
TRANSFER_FEN = 1_000  # the raw path's transfer
MAX_UINT256 = 2**256 - 1
BALANCE_OF = keccak(text="balanceOf(address)")[:4].hex()
TRANSFER = keccak(text="transfer(address,uint256)")[:4].hex()
POLL = 0.02  # receipt polls of every path, as the API's gateway polls (api/chain.py)
PROBE_CALLS = 200  # requests of each kind in request_costs
RETRIES = 5  # a refused send is made again this many times at most, on every path
#: API commands at once in the set-up: each polls the operator's node every 20 ms while it
#: waits, and a node kept that busy falls behind (see the module docstring)
SETUP_CONCURRENCY = 4


def now() -> float:
    return time.perf_counter()


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the rule of benchmark_api.py)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def word(address: str) -> str:
    return address.lower().removeprefix("0x").rjust(64, "0")


# -- watching the nodes ------------------------------------------------------------------


class Rpc:
    """Plain JSON-RPC over one keep-alive connection (one per thread)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.http = httpx.Client(timeout=timeout)

    def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = self.http.post(self.url, json=body).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = {a["id"]: a for a in self.http.post(self.url, json=body).json()}
        out = []
        for i, (method, _) in enumerate(calls):
            if "error" in answers[i]:
                raise RuntimeError(f"{method}: {answers[i]['error']}")
            out.append(answers[i]["result"])
        return out


class Watcher(threading.Thread):
    """Polls a node's head every ``poll`` s; records when each block number first appeared
    and, on each new head, the balances of the watched (token, holder) pairs at it, timed
    when that read returned (a node serves a new head a moment before it has executed it,
    and a read of its state waits for the execution: patch 016)."""

    def __init__(self, url: str, poll: float = 0.1) -> None:
        super().__init__(name=f"watch-{url}", daemon=True)
        self.rpc = Rpc(url, timeout=10)
        self.caller = Rpc(url, timeout=10)  # for watch(), called from another thread
        self.poll = poll
        self.seen: dict[int, float] = {}
        self.pairs: list[tuple[str, str]] = []
        self.readings: list[tuple[float, int, list[int]]] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def watch(self, pairs: list[tuple[str, str]]) -> list[int]:
        """Watch ``pairs`` from now on; returns their balances at the current head (waits
        for a node that is being started again)."""
        deadline = now() + 240
        while True:
            try:
                head = int(self.caller.call("eth_blockNumber"), 16)
                balances = self._balances(pairs, hex(head), self.caller)
                break
            except (httpx.TransportError, RuntimeError):
                if now() > deadline:
                    raise
                time.sleep(1)
        with self.lock:
            self.pairs, self.readings = pairs, [(now(), head, balances)]
        return balances

    @staticmethod
    def _balances(pairs: list[tuple[str, str]], block: str, rpc: Rpc) -> list[int]:
        if not pairs:
            return []
        calls = [
            ("eth_call", [{"to": token, "data": "0x" + BALANCE_OF + word(holder)}, block])
            for token, holder in pairs
        ]
        return [int(v, 16) for v in rpc.batch(calls)]

    def run(self) -> None:
        last = -1
        while not self.stop.is_set():
            try:
                head = int(self.rpc.call("eth_blockNumber"), 16)
                seen_at = now()
                if head > last:
                    for number in range(last + 1 if last >= 0 else head, head + 1):
                        self.seen.setdefault(number, seen_at)
                    with self.lock:
                        pairs = self.pairs
                    balances = self._balances(pairs, hex(head), self.rpc)
                    read_at = now()  # the cash is visible once a read returns it
                    with self.lock:
                        if pairs is self.pairs:
                            self.readings.append((read_at, head, balances))
                    last = head
            except Exception:  # a node busy or restarting: the next poll sees the block
                self.errors += 1
            self.stop.wait(self.poll)

    def latest(self) -> int:
        return max(list(self.seen), default=-1)

    def head_at(self, moment: float) -> int:
        """The newest block this node had shown by ``moment``."""
        return max((n for n, t in self.seen.items() if t <= moment), default=-1)


@dataclass
class Crash:
    node: str
    at: float
    error: str
    back_after: float = math.nan


class Watchdog(threading.Thread):
    """Starts again a node that died (the benchmark stops none before the end), and keeps
    what it said last."""

    def __init__(self, network: ConsortiumNetwork) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.network = network
        self.crashes: list[Crash] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for node in self.network:
                if node.running or self.stop.is_set():
                    continue
                lines = node.log_tail(4000).splitlines()
                errors = [line for line in lines if "ERROR" in line]
                crash = Crash(node.name, now(), (errors or lines[-1:] or ["(no log)"])[0])
                self.crashes.append(crash)
                print(f"!! node {node.name} died: {crash.error}", file=sys.stderr, flush=True)
                try:
                    node.start(timeout=120)
                    self.network.wait_until_in_sync(timeout=120)
                    crash.back_after = now() - crash.at
                except (NodeError, OSError) as exc:
                    print(f"!! node {node.name} did not come back: {exc}", file=sys.stderr)

    def deaths(self) -> int:
        """How many times the nodes' logs say a node died, so far: a node takes seconds to
        exit after its error, so the logs know before :meth:`run` does."""
        return sum(node.log_tail(10**9).count("Uncaught error") for node in self.network)


# -- CPU accounting ----------------------------------------------------------------------


class Cpu:
    """CPU seconds of the nodes, the API's process tree, this script and the machine."""

    def __init__(self, network: ConsortiumNetwork) -> None:
        self.network = network
        self.api_pid: int | None = None

    @staticmethod
    def _seconds(pid: int | None, tree: bool = False) -> float:
        if pid is None:
            return 0.0
        try:
            root = psutil.Process(pid)
            procs = [root, *(root.children(recursive=True) if tree else [])]
        except psutil.Error:
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def snapshot(self) -> dict[str, float]:
        snap = {f"node {n.name}": self._seconds(n.pid) for n in self.network}
        pids = {f"pid {n.name}": float(n.pid or 0) for n in self.network}
        snap["API"] = self._seconds(self.api_pid, tree=True)
        snap["this script"] = self._seconds(os.getpid())
        machine = psutil.cpu_times()
        snap["machine busy"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        snap["wall"] = now()
        return snap | pids

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """After minus before; a node started again meanwhile counts its new process's
        whole time (the old one's last seconds are lost) and ``restarted`` says so."""
        d = {k: after[k] - before[k] for k in before if not k.startswith("pid ")}
        d["restarted"] = 0.0
        for key in [k for k in before if k.startswith("pid ")]:
            if before[key] != after[key]:
                d["node " + key.removeprefix("pid ")] = after["node " + key.removeprefix("pid ")]
                d["restarted"] += 1
        ours = sum(v for k, v in d.items() if k not in ("machine busy", "wall", "restarted"))
        d["others"] = max(0.0, d["machine busy"] - ours)
        return d


# -- one measured phase ----------------------------------------------------------------------


@dataclass
class Done:
    """One financing (or transfer) as its client saw it."""

    client: int
    sent: float
    answered: float
    amount: int  # what the seller received
    block: int
    cash: float | None = None
    retries: int = 0  # sends the node refused for a moment, and the client made again
    tx_hash: str = ""


@dataclass
class Phase:
    label: str
    confirmations: int
    done: list[Done] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # number, time, txs
    crashes: int = 0  # nodes that died during the phase
    attempt: int = 1
    on_cash: bool = False

    @property
    def rate(self) -> float:
        return len(self.done) / (self.end - self.start) if self.end > self.start else 0.0

    def cash_times(self) -> list[float]:
        return [d.cash - d.sent for d in self.done if d.cash is not None]

    def answer_times(self) -> list[float]:
        return [d.answered - d.sent for d in self.done]


@dataclass
class Bench:
    """What every phase needs: the watchers, the CPU meter, the watchdog."""

    clients: int
    op_watch: Watcher
    bank_watch: Watcher
    bank_rpc: Rpc
    cpu: Cpu
    watchdog: Watchdog

    def run(
        self,
        label: str,
        confirmations: int,
        rounds: int,
        one: Callable[[int, int], Done],
        pairs: list[tuple[str, str]],
        on_cash: bool = False,
    ) -> Phase:
        """``clients`` threads, each doing ``rounds`` of ``one(client, round)`` one after
        the other; then each one's cash found in bank-a's balance readings.

        ``on_cash``: a client starts its next financing as soon as the previous one's cash
        shows on bank-a, without waiting for its answer (which comes in the background):
        the rate of financings when the caller follows the cash rather than the answer.
        The phase then ends at the last cash seen, not at the last answer."""
        phase = Phase(label, confirmations, on_cash=on_cash)
        deaths = self.watchdog.deaths()
        initial = self.bank_watch.watch(pairs)
        before = self.cpu.snapshot()
        lock = threading.Lock()
        background = ThreadPoolExecutor(max_workers=self.clients * rounds)

        def cash_above(i: int, level: int, pending: Any) -> int:
            while True:
                with self.bank_watch.lock:
                    balance = self.bank_watch.readings[-1][2][i]
                if balance > level:
                    return balance
                if pending.done() and pending.exception() is not None:
                    raise pending.exception()
                time.sleep(POLL)

        def client(i: int) -> None:
            level, pending = initial[i], []
            for k in range(rounds):
                if on_cash:
                    pending.append(background.submit(one, i, k))
                    level = cash_above(i, level, pending[-1])
                    continue
                d = one(i, k)
                with lock:
                    phase.done.append(d)
            for future in pending:
                with lock:
                    phase.done.append(future.result())

        phase.start = now()
        with ThreadPoolExecutor(max_workers=self.clients) as pool:
            futures = [pool.submit(client, i) for i in range(self.clients)]
            phase.errors = [repr(f.exception()) for f in futures if f.exception() is not None]
        background.shutdown()
        phase.end = now()
        phase.cpu = Cpu.delta(before, self.cpu.snapshot())
        # every payment is on the chain by now (the answers say so): wait until bank-a
        # shows them all, then find each one's cash in the readings
        targets = dict(enumerate(initial))
        wanted: dict[int, int] = {}
        for d in sorted(phase.done, key=lambda d: (d.client, d.sent)):
            targets[d.client] += d.amount
            wanted[id(d)] = targets[d.client]
        deadline = now() + 60
        readings = []
        while now() < deadline:
            with self.bank_watch.lock:
                readings = list(self.bank_watch.readings)
            if readings and all(readings[-1][2][i] >= t for i, t in targets.items()):
                break
            time.sleep(0.1)
        for d in phase.done:
            d.cash = next((t for t, _, bal in readings if bal[d.client] >= wanted[id(d)]), None)
        if on_cash and phase.done:
            phase.end = max((d.cash for d in phase.done if d.cash is not None), default=phase.end)
        if phase.done:
            first = min(d.block for d in phase.done)
            last = max(d.block for d in phase.done)
            numbers = range(first - 1, last + 1)
            try:
                blocks = self.bank_rpc.batch(
                    [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
                )
                phase.blocks = [
                    (int(b["number"], 16), int(b["timestamp"], 16), len(b["transactions"]))
                    for b in blocks
                    if b is not None  # bank-a started again and not there yet
                ]
            except (httpx.TransportError, RuntimeError):  # bank-a down: no block list
                pass
        phase.crashes = self.watchdog.deaths() - deaths
        return phase


# -- the API -------------------------------------------------------------------------------


class ApiServer:
    """``python -m api`` on the operator's node, configured through SCF_* variables;
    restarted on the same data folder with other confirmations."""

    def __init__(self, rpc_url: str, operator_key: str, data_dir: Path, workers: int) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.operator_api_key = "scf_bench_" + secrets.token_hex(16)
        self.data_dir = data_dir
        self.env = dict(os.environ)
        self.env.update(
            SCF_DATA_DIR=str(data_dir),
            SCF_RPC_URL=rpc_url,
            SCF_MASTER_PASSPHRASE="bench " + secrets.token_hex(8),
            SCF_OPERATOR_PRIVATE_KEY=operator_key,
            SCF_OPERATOR_API_KEY=self.operator_api_key,
            SCF_HOST="127.0.0.1",
            SCF_PORT=self.url.rsplit(":", 1)[1],
            SCF_WORKERS=str(workers),
            SCF_TX_TIMEOUT="120",
            # one bank accepts many financings a second: the per-organization limit (whose
            # check still runs on every command) is raised out of the way
            SCF_RATE_LIMIT="100000",
            SCF_RATE_BURST="100000",
        )
        self.env.pop("SCF_CONFIRMATIONS", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, confirmations: int | None) -> None:
        env = dict(self.env)
        if confirmations is not None:
            env["SCF_CONFIRMATIONS"] = str(confirmations)
        with open(self.data_dir / "api.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc
        failure = wait_until_serving(self.url, 180, lambda: proc.poll() is None)
        if failure is not None:
            tail = (self.data_dir / "api.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"API did not start ({failure}): {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            interrupt(self.proc, timeout=30)
        self.proc = None


class Http:
    """The API's JSON over one keep-alive connection. ``send`` answers or raises;
    ``command`` retries a command with the same Idempotency-Key while the node is away or
    refused the transaction for a moment (503), its transaction was superseded (409
    transaction_replaced) or the service failed (500, which says to), as a client should:
    for the set-up, which must survive a node's restart."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base + "/v1", timeout=180)

    def send(
        self, method: str, path: str, key: str, body: Any = None, *, idem: str = "", **extra: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idem or uuid.uuid4().hex}
        r = self.http.request(method, path, json=body, headers=headers, **extra)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:400]}")
        answer: dict[str, Any] = r.json()
        return answer

    def command(
        self, method: str, path: str, key: str, body: Any = None, **extra: Any
    ) -> dict[str, Any]:
        idem, deadline = uuid.uuid4().hex, now() + 300
        while True:
            try:
                return self.send(method, path, key, body, idem=idem, **extra)
            except (RuntimeError, httpx.TransportError) as exc:
                again = isinstance(exc, httpx.TransportError) or any(
                    f": {code} " in str(exc) for code in (500, 503, 409)
                )
                if not again or now() > deadline:
                    raise
                time.sleep(2)


def uscc(n: int, seed: int) -> str:
    body = f"9144030{seed + n:010d}"[:17]
    return body + uscc_check_digit(body)


@dataclass
class ApiWorld:
    server: ApiServer
    bank_id: int = 0
    bank_key: str = ""
    suppliers: list[tuple[int, str, str]] = field(default_factory=list)  # id, key, address
    fragments: list[str] = field(default_factory=list)
    offers: list[list[int]] = field(default_factory=list)  # per supplier, unused offer ids
    expires: int = 0
    token: str = ""
    local: threading.local = field(default_factory=threading.local)

    def http(self) -> Http:
        if not hasattr(self.local, "http"):
            self.local.http = Http(self.server.url)
        http: Http = self.local.http
        return http


def api_setup(world: ApiWorld, clients: int, chain_time: int) -> None:
    """Onboard a core enterprise, a bank and ``clients`` suppliers; one certificate to the
    first supplier, split to the others. Through the API, concurrently (not timed)."""
    op = world.server.operator_api_key
    seed = secrets.randbelow(10**6) * 1000

    def onboard(n: int, name: str, role: str) -> tuple[int, str, str]:
        org = world.http().command(
            "POST", "/organizations", op, {"name": name, "uscc": uscc(n, seed), "role": role}
        )
        key = world.http().command(
            "POST", f"/organizations/{org['id']}/api-keys", op, {"label": "bench"}
        )
        return int(org["id"]), str(key["api_key"]), str(org["address"])

    with ThreadPoolExecutor(max_workers=SETUP_CONCURRENCY) as pool:
        core_f = pool.submit(onboard, 0, "Bench core", "core_enterprise")
        bank_f = pool.submit(onboard, 1, "Bench bank", "financier")
        world.suppliers = list(
            pool.map(lambda i: onboard(100 + i, f"Bench supplier {i}", "supplier"), range(clients))
        )
        core_id, core_key, _ = core_f.result()
        world.bank_id, world.bank_key, _ = bank_f.result()
        line = pool.submit(
            lambda: world.http().command(
                "PUT",
                "/credit-lines",
                world.bank_key,
                {"core_enterprise_id": core_id, "limit": str(10**15)},
            )
        )
        world.http().command(
            "POST", f"/organizations/{world.bank_id}/settlement-funds", op, {"amount": str(10**13)}
        )
        line.result()
        doc = world.http().send(
            "POST",
            "/documents",
            core_key,
            files={
                "file": ("inv.pdf", f"bench invoice {uuid.uuid4()}".encode(), "application/pdf")
            },
            data={"kind": "invoice"},
        )
        cert = world.http().command(
            "POST",
            "/certificates",
            core_key,
            {
                "beneficiary_id": world.suppliers[0][0],
                "credit_provider_id": world.bank_id,
                "face_value": str(FRAGMENT_FEN * clients),
                "maturity": chain_time + 180 * DAY,
                "document_id": doc["id"],
                "invoice_number": "INV-" + uuid.uuid4().hex[:16],
            },
        )
        first_key = world.suppliers[0][1]
        root = world.http().command(
            "POST", f"/certificates/{cert['certificate_id']}/accept", first_key
        )["root_fragment_id"]

        def split(i: int) -> str:
            to = world.suppliers[i][0]
            body = {"to_org_id": to, "amount": str(FRAGMENT_FEN)}
            return str(
                world.http().command("POST", f"/fragments/{root}/split", first_key, body)[
                    "fragment_id"
                ]
            )

        world.fragments = [root, *pool.map(split, range(1, clients))]
    world.expires = chain_time + 30 * DAY
    world.token = DeploymentManifest.read(world.server.data_dir / "manifest.json").token_address


def api_offers(world: ApiWorld, rounds: int) -> None:
    """``rounds`` open offers per supplier to the bank (not timed), a round at a time."""

    def offer(i: int) -> int:
        body = {
            "fragment_id": world.fragments[i],
            "financier_id": world.bank_id,
            "amount": str(OFFER_FEN),
            "rate_bps": RATE_BPS,
            "expires_at": world.expires,
        }
        return int(world.http().command("POST", "/offers", world.suppliers[i][1], body)["offer_id"])

    world.offers = [[] for _ in world.suppliers]
    with ThreadPoolExecutor(max_workers=len(world.suppliers)) as pool:
        for _ in range(rounds):  # a round at a time: a block no fuller than the phase's own
            for i, offer_id in enumerate(pool.map(offer, range(len(world.suppliers)))):
                world.offers[i].append(offer_id)


def api_accepts(world: ApiWorld) -> Callable[[int, int], Done]:
    """The API path's financing: the bank accepts the client's next offer. A 503 (the
    node refused the transaction for a moment, or was away) is retried with the same
    Idempotency-Key after its Retry-After, as api.md tells a client to, at most
    :data:`RETRIES` times; the time to cash includes it."""

    def one(i: int, _k: int) -> Done:
        offer_id = world.offers[i].pop()
        http, idem, retries = world.http().http, uuid.uuid4().hex, 0
        headers = {"Authorization": f"Bearer {world.bank_key}", "Idempotency-Key": idem}
        sent = now()
        while True:
            r = http.post(f"/offers/{offer_id}/accept", headers=headers)
            if r.status_code != 503 or retries >= RETRIES:
                break
            retries += 1
            after = r.headers.get("Retry-After", "1")
            time.sleep(float(after) if after.replace(".", "", 1).isdigit() else 1.0)
        answered = now()
        if r.status_code != 200:
            raise RuntimeError(f"accept {offer_id}: {r.status_code} {r.text[:300]}")
        answer = r.json()
        return Done(
            i,
            sent,
            answered,
            int(answer["payment"]),
            int(answer["block_number"]),
            None,
            retries,
            str(answer["tx_hash"]),
        )

    return one


# -- chain_client ---------------------------------------------------------------------------


@dataclass
class ClientWorld:
    manifest: DeploymentManifest
    bank: LocalAccount
    suppliers: list[Ledger]  # on the core's node
    fragments: list[int]
    expires: int
    offers: list[list[int]] = field(default_factory=list)


def client_setup(
    url: str,
    folder: Path,
    operator: LocalAccount,
    core: LocalAccount,
    bank: LocalAccount,
    suppliers: Sequence[LocalAccount],
    raw_senders: Sequence[LocalAccount],
) -> ClientWorld:
    """chain_client's own deployment, through ``url`` (the core's node, which never
    seals): its members, settlement tokens for its bank and the raw senders, one
    certificate split to the suppliers (not timed; one confirmation)."""
    w3 = connect(url)

    def sender(account: LocalAccount) -> TransactionSender:
        return TransactionSender(w3, account, poll_interval=0.1, confirmations=1)

    manifest = deploy_ledger(w3, sender(operator), manifest_path=folder / "manifest.json")
    op = Ledger(w3, manifest, sender(operator))
    core_l, bank_l = op.as_member(sender(core)), op.as_member(sender(bank))
    sup_l = [op.as_member(sender(s)) for s in suppliers]
    calls = [op.calls.register_member(core.address, keccak(text="core"), Role.CORE_ENTERPRISE)]
    calls.append(op.calls.register_member(bank.address, keccak(text="bank"), Role.FINANCIER))
    calls += [
        op.calls.register_member(s.address, keccak(text=f"s{i}"), Role.SUPPLIER)
        for i, s in enumerate(suppliers)
    ]
    calls.append(op.calls.mint_settlement(bank.address, 10**13))
    calls += [op.calls.mint_settlement(a.address, 10**12) for a in raw_senders]
    for start in range(0, len(calls), len(suppliers)):  # blocks no fuller than a phase's
        Ledger.wait_all(op.submit_many(calls[start : start + len(suppliers)]))
    Ledger.wait_all(
        [
            bank_l.submit(bank_l.calls.set_credit_line(core.address, 10**15)),
            bank_l.submit(bank_l.calls.approve_settlement(MAX_UINT256)),  # as onboarding does
        ]
    )
    chain_time = int(w3.eth.get_block("latest")["timestamp"])
    cid = core_l.issue(
        bank.address,
        suppliers[0].address,
        FRAGMENT_FEN * len(suppliers),
        chain_time + 180 * DAY,
        keccak(text=f"inv-{uuid.uuid4()}"),
        keccak(text=f"doc-{uuid.uuid4()}"),
    ).value
    assert cid is not None
    root = sup_l[0].accept(cid).value
    assert root is not None
    splits = Ledger.wait_all(
        sup_l[0].submit_many(
            sup_l[0].calls.split(root, s.address, FRAGMENT_FEN) for s in suppliers[1:]
        )
    )
    fragments = [root, *(int(o.value or 0) for o in splits)]
    return ClientWorld(manifest, bank, sup_l, fragments, chain_time + 30 * DAY)


def submit_again(ledger: Ledger, call: LedgerCall) -> tuple[PendingOutcome, int]:
    """``ledger.submit(call)``, made again after 0.2 s while the node refuses it for a
    moment (at most :data:`RETRIES` times); with the number of times it was."""
    for retries in range(RETRIES + 1):
        try:
            return ledger.submit(call), retries
        except TransactionRejected:
            if retries == RETRIES:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def client_offers(world: ClientWorld, rounds: int) -> None:
    """``rounds`` open offers per supplier to the bank (not timed), a round at a time: a
    block no fuller than the phase's own."""
    bank = world.bank.address
    world.offers = [[] for _ in world.suppliers]
    for _ in range(rounds):
        pending = [
            submit_again(
                s,
                s.calls.offer_financing(
                    world.fragments[i], bank, OFFER_FEN, RATE_BPS, world.expires
                ),
            )[0]
            for i, s in enumerate(world.suppliers)
        ]
        for i, outcome in enumerate(Ledger.wait_all(pending)):
            world.offers[i].append(int(outcome.value or 0))


def client_accepts(
    world: ClientWorld, url: str, confirmations: int | None
) -> Callable[[int, int], Done]:
    """chain_client's financing through the operator's node: the bank's Ledger submits the
    accept and waits as the API's gateway does (20 ms polls; confirmations as given, None:
    by the block period). A send the node refuses (TransactionRejected) is made again
    after 0.2 s, at most :data:`RETRIES` times."""
    w3 = connect(url)
    sender = TransactionSender(w3, world.bank, confirmations=confirmations, poll_interval=POLL)
    bank = Ledger(w3, world.manifest, sender)

    def one(i: int, _k: int) -> Done:
        offer_id = world.offers[i].pop()
        sent = now()
        pending, retries = submit_again(bank, bank.calls.accept_offer(offer_id))
        receipt = pending.receipt()
        answered = now()
        (record,) = bank.receipt_records(receipt, FinancingAccepted)
        block, tx_hash = int(receipt["blockNumber"]), pending.tx_hash
        return Done(i, sent, answered, record.payment, block, None, retries, tx_hash)

    return one


# -- raw ERC-20 transfers ---------------------------------------------------------------------


def raw_transfers(
    url: str,
    chain_id: int,
    token: str,
    senders: Sequence[LocalAccount],
    recipients: Sequence[str],
    gas: int,
    fees: dict[str, int],
    heads: Watcher,
) -> Callable[[int, int], Done]:
    """The peer: sign locally (nonce counted here, gas and fees fixed), send, and ask for
    the receipt only once the node has a block after the send (``heads``, the watcher of
    the same node, says when), then every 0.1 s until it has it (a node serves a receipt
    once it has executed the block): the least a client can ask of the node. A send the
    node refuses is made again with the same bytes after 0.2 s, at most :data:`RETRIES`
    times."""
    local = threading.local()
    first = Rpc(url)
    nonces = {
        i: int(first.call("eth_getTransactionCount", s.address, "pending"), 16)
        for i, s in enumerate(senders)
    }

    def one(i: int, _k: int) -> Done:
        if not hasattr(local, "rpc"):
            local.rpc = Rpc(url)
        data = "0x" + TRANSFER + word(recipients[i]) + hex(TRANSFER_FEN)[2:].rjust(64, "0")
        tx: dict[str, Any] = {"to": token, "data": data, "value": 0, "gas": gas}
        tx["nonce"] = nonces[i]
        tx |= {"chainId": chain_id, "type": 2, **fees}
        raw = "0x" + bytes(senders[i].sign_transaction(tx).raw_transaction).hex()
        sent, retries = now(), 0
        head = heads.latest()
        while True:
            try:
                tx_hash = local.rpc.call("eth_sendRawTransaction", raw)
                break
            except RuntimeError:  # the node's refusal of a moment: the same bytes again
                if retries >= RETRIES:
                    raise
                retries += 1
                time.sleep(0.2)
        nonces[i] += 1
        deadline = sent + 120
        while heads.latest() <= head and now() < deadline:
            time.sleep(0.01)  # no request: the watcher polls the head anyway
        while (receipt := local.rpc.call("eth_getTransactionReceipt", tx_hash)) is None:
            if now() > deadline:
                raise TimeoutError(f"no receipt for {tx_hash}")
            time.sleep(0.1)
        answered = now()
        assert int(receipt["status"], 16) == 1, receipt
        block = int(receipt["blockNumber"], 16)
        return Done(i, sent, answered, TRANSFER_FEN, block, None, retries, tx_hash)

    return one


# -- report ----------------------------------------------------------------------------------


def f2(seconds: float) -> str:
    return f"{seconds:.2f}"


def ms(value: float) -> str:
    """A CPU cost in ms; below the noise of the idle CPU taken off, "< 0.5"."""
    return f"{value:.1f}" if value >= 0.5 else "< 0.5"


def breakdown(phase: Phase, op_watch: Watcher, bank_watch: Watcher) -> dict[str, float]:
    """Medians (s) of: send -> its block seen on the operator's node, that block seen on
    bank-a after it, the confirmations (first to last confirming block seen on the
    operator's node), the last confirming block -> the answer; and the share of
    transactions that were not in the first block after they were sent."""
    inc, prop, conf, after, missed = [], [], [], [], 0
    for d in phase.done:
        seen_op = op_watch.seen.get(d.block)
        if seen_op is None:
            continue
        inc.append(seen_op - d.sent)
        if (seen_bank := bank_watch.seen.get(d.block)) is not None:
            prop.append(seen_bank - seen_op)
        if (last := op_watch.seen.get(d.block + phase.confirmations - 1)) is not None:
            conf.append(last - seen_op)
            after.append(d.answered - last)
        if d.block > op_watch.head_at(d.sent) + 1:
            missed += 1

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else math.nan

    return {
        "included": med(inc),
        "to bank-a": med(prop),
        "confirmations": med(conf),
        "to answer": med(after),
        "missed": missed / len(phase.done) if phase.done else math.nan,
    }


def report(
    phases: list[Phase],
    raw: list[Phase],
    discarded: list[Phase],
    args: argparse.Namespace,
    measured_period: float,
    bench: Bench,
    loads: list[str],
    costs: dict[str, float],
) -> str:
    raw_rate = statistics.mean(p.rate for p in raw)
    target_cash = args.block_period + 0.5
    everything = [*phases, *raw]
    lines = [
        f"### {args.clients} financings in flight x {args.rounds} rounds, Clique period "
        f"{args.block_period} s (measured {measured_period:.2f} s a block), API with "
        f"{args.workers} workers",
        "",
        "| path | confirmations | rate /s | time to cash p50 / p99 (s) | answer p50 / p99 (s) "
        "| rate / raw | cash p50 <= period + 0.5 s | sends refused, made again |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for p in everything:
        cash, answer = p.cash_times(), p.answer_times()
        lines.append(
            f"| {p.label} | {p.confirmations} | {p.rate:.2f} | "
            f"{f2(pct(cash, 50))} / {f2(pct(cash, 99))} | {f2(pct(answer, 50))} / "
            f"{f2(pct(answer, 99))} | {p.rate / raw_rate:.2f} | "
            f"{'met' if pct(cash, 50) <= target_cash else 'MISSED'} | "
            f"{sum(d.retries for d in p.done)} of {len(p.done)} |"
        )
    api = phases[0]
    api_ratio, api_cash = api.rate / raw_rate, pct(api.cash_times(), 50)
    lines += [
        "",
        f"Raw rate (the ceiling): the mean of {' and '.join(f'{p.rate:.2f}' for p in raw)}.",
        "",
        "Targets (issue 12), the API with its default confirmations:",
        f"- throughput >= 0.8 of raw: {api_ratio:.2f} ({'met' if api_ratio >= 0.8 else 'MISSED'})",
        f"- time to cash <= {target_cash:.1f} s at p50: {api_cash:.2f} s "
        f"({'met' if api_cash <= target_cash else 'MISSED'})",
        "",
        "Where the time goes (medians, s): send -> its block seen on the operator's node; "
        "that block seen on bank-a after it; the confirmations (first to last confirming "
        "block seen on the operator's node); last confirming block -> answer; share not in "
        "the first block after the send; the phase's blocks:",
        "",
        "| path | send -> included | -> bank-a | confirmations | -> answer | not in the next "
        "block | blocks (apart, txs each) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for p in everything:
        b = breakdown(p, bench.op_watch, bench.bank_watch)
        gaps = [b2[1] - b1[1] for b1, b2 in zip(p.blocks, p.blocks[1:], strict=False)]
        txs = [t for _, _, t in p.blocks[1:]]
        blocks = (
            f"{len(txs)}, {statistics.mean(gaps):.2f} s, {statistics.mean(txs):.1f}" if gaps else ""
        )
        lines.append(
            f"| {p.label} | {f2(b['included'])} | {f2(b['to bank-a'])} | "
            f"{f2(b['confirmations'])} | {f2(b['to answer'])} | {b['missed']:.0%} | {blocks} |"
        )
    cores = psutil.cpu_count() or 1
    lines += [
        "",
        f"CPU seconds in each phase (per financing), {cores} cores:",
        "",
        "| path | wall s | operator's node | the other 3 nodes | API | this script | "
        "everything else | machine busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in everything:
        c, n = p.cpu, max(1, len(p.done))
        op_node = c["node operator"]
        others = sum(v for k, v in c.items() if k.startswith("node ")) - op_node
        restarted = f" ({int(c['restarted'])} restarted)" if c.get("restarted") else ""
        lines.append(
            f"| {p.label}{restarted} | {c['wall']:.1f} | {op_node:.1f} "
            f"({op_node / n * 1000:.0f} ms) | "
            f"{others:.1f} ({others / n * 1000:.0f} ms) | {c['API']:.1f} "
            f"({c['API'] / n * 1000:.0f} ms) | {c['this script']:.1f} | {c['others']:.1f} | "
            f"{c['machine busy'] / c['wall'] / cores:.0%} |"
        )
    c = costs
    polls = 1000 / (POLL * 1000 + c["accept wall"] + c["head wall"])
    load = polls * (c["accept cpu"] + c["head cpu"]) / 1000
    lines += [
        "",
        f"What a poll costs the operator's node ({PROBE_CALLS} requests of each kind, one "
        "after the other, no transaction in flight; its CPU with nothing asked, "
        f"{c['idle']:.0%} of a core with the API serving (at the start, before the API: "
        f"{c['idle alone']:.0%}), taken off), ms of its CPU (ms wall): eth_blockNumber "
        f"{ms(c['head cpu'])} ({c['head wall']:.1f}), eth_getBlockByNumber "
        f"{ms(c['block cpu'])} ({c['block wall']:.1f}), eth_getTransactionReceipt of a "
        f"transaction not mined {ms(c['missing cpu'])} ({c['missing wall']:.1f}), of a "
        f"transfer {ms(c['transfer cpu'])} ({c['transfer wall']:.1f}), of an acceptOffer in a "
        f"block of {c['accept block txs']:.0f} transactions {ms(c['accept cpu'])} "
        f"({c['accept wall']:.1f}): @ethereumjs/client runs the receipt's whole block again "
        "to answer. A command waiting for its confirmations with the API's 20 ms polls "
        f"(from its block until the last confirming one) asks its receipt and the head "
        f"{polls:.0f} times a second: {load:.0%} of a core of the node per command; with "
        "one confirmation it stops at the first receipt.",
    ]
    missing = sum(1 for p in everything for d in p.done if d.cash is None)
    lines += ["", f"Financings whose cash was never seen on bank-a: {missing}."]
    crashes = bench.watchdog.crashes
    lines.append(f"Nodes that died during the run: {len(crashes)}.")
    for crash in crashes:
        lines.append(
            f"- {crash.node}, back after {crash.back_after:.0f} s: {crash.error.strip()[:160]}"
        )
    for p in discarded:
        lines.append(
            f"- run again: {p.label}, attempt {p.attempt} ({p.crashes} node crash(es), "
            f"{len(p.errors)} error(s){': ' + p.errors[0][:200] if p.errors else ''})"
        )
    lines += ["", "Load (uptime): at the start, before the API phase, at the end:"]
    lines += [f"- {load}" for load in loads]
    return "\n".join(lines)


def request_costs(
    network: ConsortiumNetwork, receipts: dict[str, str], cpu: Cpu
) -> dict[str, float]:
    """What one request of each kind a TransactionSender's wait makes costs the operator's
    node, in ms of its CPU and of wall time, asked one after the other with no transaction
    in flight (the node's idle CPU, measured first, taken off): the price of a poll.
    ``receipts``: a transaction hash for each kind of receipt to price (@ethereumjs/client
    runs the receipt's whole block again to answer, so its price follows the block)."""
    node = network.node("operator")
    rpc = Rpc(node.rpc_url)

    def used() -> float:
        return cpu._seconds(node.pid)

    start, spent = now(), used()
    time.sleep(3)
    idle = (used() - spent) / (now() - start)
    costs = {"idle": idle}
    kinds = [("head", "eth_blockNumber", []), ("block", "eth_getBlockByNumber", ["latest", False])]
    kinds += [(name, "eth_getTransactionReceipt", [h]) for name, h in receipts.items()]
    for name, method, params in kinds:
        start, spent = now(), used()
        for _ in range(PROBE_CALLS):
            rpc.call(method, *params)
        wall = now() - start
        costs[f"{name} cpu"] = (used() - spent - idle * wall) / PROBE_CALLS * 1000
        costs[f"{name} wall"] = wall / PROBE_CALLS * 1000
    return costs


def dump(path: Path, phases: list[Phase], bench: Bench) -> None:
    """Every financing's times (s from its phase's start) and its block's, for a closer look."""
    out = []
    for p in phases:
        rows = []
        for d in sorted(p.done, key=lambda d: d.sent):
            op_seen = bench.op_watch.seen.get(d.block)
            bank_seen = bench.bank_watch.seen.get(d.block)
            rows.append(
                {
                    "client": d.client,
                    "block": d.block,
                    "amount": d.amount,
                    "retries": d.retries,
                    **{
                        k: None if v is None else round(v - p.start, 3)
                        for k, v in (
                            ("sent", d.sent),
                            ("answered", d.answered),
                            ("cash", d.cash),
                            ("block_on_operator", op_seen),
                            ("block_on_bank_a", bank_seen),
                        )
                    },
                }
            )
        out.append({"label": p.label, "attempt": p.attempt, "blocks": p.blocks, "done": rows})
    path.write_text(json.dumps(out, indent=1))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


@contextmanager
def work_folder(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="scf-bench-consortium-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4, help="financings in flight")
    parser.add_argument("--rounds", type=int, default=4, help="financings per client per phase")
    parser.add_argument("--block-period", type=int, default=2, help="Clique period, seconds")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument(
        "--retries", type=int, default=1, help="runs again of a phase a node crash or an error hit"
    )
    parser.add_argument("--keep", metavar="FOLDER", help="work in FOLDER and keep it")
    parser.add_argument("--dump", metavar="FILE", help="every financing's times, as JSON")
    args = parser.parse_args()
    clients, rounds = args.clients, args.rounds
    started = now()
    loads = [uptime()]

    def note(text: str) -> None:
        print(f"[{now() - started:5.0f} s] {text}", file=sys.stderr, flush=True)

    api_operator = Account.create()
    cc_operator, cc_core, cc_bank = Account.create(), Account.create(), Account.create()
    cc_suppliers = [Account.create() for _ in range(clients)]
    raw_senders = [Account.create() for _ in range(clients)]
    raw_recipients = [Account.create().address for _ in range(clients)]
    funded = [a.address for a in (api_operator, cc_operator, cc_core, cc_bank)]
    funded += [a.address for a in (*cc_suppliers, *raw_senders)]

    with work_folder(args.keep) as work:
        network = ConsortiumNetwork.create(
            work / "network", block_period=args.block_period, funded=funded
        )
        server: ApiServer | None = None
        watchers: list[Watcher] = []
        watchdog = Watchdog(network)
        try:
            network.start()
            watchdog.start()
            note("network up: " + ", ".join(f"{n.name} {n.rpc_url}" for n in network))
            op_url = network.node("operator").rpc_url
            bank_url, core_url = network.node("bank-a").rpc_url, network.node("core").rpc_url
            watchers = [Watcher(op_url), Watcher(bank_url)]
            for w in watchers:
                w.start()
            cpu = Cpu(network)
            alone = cpu.snapshot()
            time.sleep(3)
            idle_alone = Cpu.delta(alone, cpu.snapshot())
            bench = Bench(clients, watchers[0], watchers[1], Rpc(bank_url), cpu, watchdog)
            server = ApiServer(
                op_url, "0x" + bytes(api_operator.key).hex(), work / "api", args.workers
            )
            server.start(confirmations=1)  # the set-up at one confirmation: it is not timed
            cpu.api_pid = server.proc.pid if server.proc else None
            note("API serving; setting up the API's world and chain_client's")
            w3 = connect(op_url)
            chain_time = int(w3.eth.get_block("latest")["timestamp"])
            api_world = ApiWorld(server)
            with ThreadPoolExecutor(max_workers=2) as pool:
                api_f = pool.submit(api_setup, api_world, clients, chain_time)
                client_f = pool.submit(
                    client_setup,
                    core_url,
                    work,
                    cc_operator,
                    cc_core,
                    cc_bank,
                    cc_suppliers,
                    raw_senders,
                )
                api_f.result()
                client_world = client_f.result()
            note("set-up done")
            default_conf = pacing(block_period(w3))[0]
            token = client_world.manifest.token_address
            fees = client_world.suppliers[0].require_sender().fee_strategy.fees(w3)
            probe = "0x" + TRANSFER + word(raw_recipients[0]) + "1".rjust(64, "0")
            estimate = w3.eth.estimate_gas(
                {"from": raw_senders[0].address, "to": token, "data": HexStr(probe)}
            )
            raw_pairs = [(token, r) for r in raw_recipients]
            client_pairs = [(token, str(s.account)) for s in client_world.suppliers]
            api_pairs = [(api_world.token, a) for _, _, a in api_world.suppliers]
            discarded: list[Phase] = []

            def phase(
                label: str,
                conf: int,
                prepare: Callable[[int], None],
                one: Callable[[], Callable[[int, int], Done]],
                pairs: list[tuple[str, str]],
                n_rounds: int = rounds,
                on_cash: bool = False,
                warm_up: bool = False,
            ) -> Phase:
                """The phase measured, run again if a node died or a request failed in it
                (``--retries``); ``warm_up``: one round first, not measured (each API
                worker decrypts the bank's key the first time it signs with it)."""
                attempt = failed = 0
                while True:
                    try:
                        settle()
                        warm = warm_up and attempt == 0
                        prepare(n_rounds + int(warm))
                        runner = one()
                        settle()  # a node that died in the preparation is back
                        if warm:
                            bench.run(f"{label} (warm-up)", conf, 1, runner, pairs)
                            settle()
                    except Exception as exc:  # a node died in the (untimed) preparation
                        failed += 1
                        note(f"{label}: preparation failed ({exc!r:.200})")
                        if failed > 3:
                            raise
                        continue
                    attempt += 1
                    p = bench.run(label, conf, n_rounds, runner, pairs, on_cash)
                    p.attempt = attempt
                    note(
                        f"{label}: {p.rate:.2f}/s, cash p50 {pct(p.cash_times(), 50):.2f} s, "
                        f"answer p50 {pct(p.answer_times(), 50):.2f} s, errors "
                        f"{len(p.errors)}, node crashes {p.crashes}"
                    )
                    if not (p.errors or p.crashes) or attempt > args.retries:
                        return p
                    discarded.append(p)

            def settle() -> None:
                """Every node up (the watchdog starts a dead one) and in agreement."""
                deadline = now() + 240
                while not all(n.running for n in network) and now() < deadline:
                    time.sleep(1)
                network.wait_until_in_sync(timeout=120)

            def nothing(_rounds: int) -> None:
                return None

            def raw_one() -> Callable[[int, int], Done]:
                return raw_transfers(
                    op_url,
                    network.chain_id,
                    token,
                    raw_senders,
                    raw_recipients,
                    int(estimate * 1.2),
                    {k: int(v) for k, v in fees.items()},
                    bench.op_watch,
                )

            def client_prepare(n: int) -> None:
                client_offers(client_world, n)

            def api_prepare(n: int) -> None:
                api_offers(api_world, n)

            def api_one() -> Callable[[int, int], Done]:
                return api_accepts(api_world)

            raw = [phase("raw ERC-20 transfer (first)", 1, nothing, raw_one, raw_pairs)]
            api_one_conf = phase(
                "API, SCF_CONFIRMATIONS=1", 1, api_prepare, api_one, api_pairs, warm_up=True
            )
            server.stop()
            server.start(confirmations=None)
            cpu.api_pid = server.proc.pid if server.proc else None
            default_conf = pacing(block_period(w3))[0]
            loads.append(uptime())
            phases = [
                phase("API", default_conf, api_prepare, api_one, api_pairs, warm_up=True),
                phase(
                    "API, next financing on cash",
                    default_conf,
                    api_prepare,
                    api_one,
                    api_pairs,
                    on_cash=True,
                ),
                phase(
                    "chain_client",
                    default_conf,
                    client_prepare,
                    lambda: client_accepts(client_world, op_url, None),
                    client_pairs,
                ),
                api_one_conf,
            ]
            raw.append(phase("raw ERC-20 transfer (last)", 1, nothing, raw_one, raw_pairs))
            loads.append(uptime())
            settle()
            accept = phases[0].done[0]
            receipts = {
                "missing": "0x" + secrets.token_hex(32),  # what a wait asks before its block
                "transfer": raw[-1].done[0].tx_hash,
                "accept": accept.tx_hash,
            }
            costs = request_costs(network, receipts, cpu)
            costs["idle alone"] = idle_alone["node operator"] / idle_alone["wall"]
            costs["accept block txs"] = next(
                (t for n, _, t in phases[0].blocks if n == accept.block), math.nan
            )
            note(f"request costs: {costs}")
            measured = block_period(w3) or float(args.block_period)
            text = report(phases, raw, discarded, args, measured, bench, loads, costs)
            if args.dump:
                dump(Path(args.dump), [*phases, *raw, *discarded], bench)
        finally:
            watchdog.stop.set()
            for w in watchers:
                w.stop.set()
            if server is not None:
                server.stop()
            network.stop()
    print(text)
    print(f"\n(total {now() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
