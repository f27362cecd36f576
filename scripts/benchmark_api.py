"""Throughput and latency of the HTTP API next to the same operations through chain_client.

Run: .venv/bin/python scripts/benchmark_api.py [--scenarios 50x2,50x10,1x1:20]
                                                [--db sqlite,postgres] [--workers 2]

Anvil nodes (automine, gas price 0, base fee 0: how ``scf up`` runs it), and on them:

* the API (``python -m api`` in a subprocess with ``--workers`` worker processes, as a
  server on this 2-core machine would run, uvicorn on a loopback port, background jobs
  on: the indexer every 1 s and the maturity job every 5 s, as in production), once per
  database (SQLite file by default; PostgreSQL 127.0.0.1:5432/test in its own schema);
  ``--clients`` concurrent users on one asyncio loop (aiohttp; set-up uses httpx), each
  with its own supplier organization and API key;
* the same operations through ``chain_client.Ledger`` on its own deployment, one thread
  per client, each with its own supplier account.

The same shape on both sides: one core enterprise, B banks (client i sells to bank
i % B), a certificate per supplier. ``--scenarios`` lists the shapes measured, each as
CLIENTSxBANKS[@RATE][:ROUNDS] on a fresh deployment and a fresh API server: by default 50
clients over 2 banks (the issue's setting: 25 clients per bank, whose accepts queue on
the one signing account's nonce, on both paths), 50 clients over 10 banks (5 per bank,
a realistic per-bank concurrency), the same 50x2 paced at 10 financings a second (what a
financing costs while 50 clients are at work without saturating the machine; see
:func:`intended_starts`), and 1 client (a financing's latency alone, 20 rounds).
Measured, each client working in a closed loop (next request after the previous answer)
unless paced, ROUNDS times, never starting a new round after ``--time-limit`` seconds of a
phase:

1. financing: supplier offers 1,000 fen of its fragment to its bank; the bank asks the
   quote; the bank accepts (= settle: the DvP acceptOffer pays the supplier and moves the
   fragment in one transaction). A financing's latency is the three together.
2. split/transfer: the supplier splits 1 fen off its fragment, then transfers the new
   fragment to the next supplier.

Each path runs ``--repeat`` times, every run on a fresh anvil node with its own set-up and
two warm-up rounds of both phases (not measured; an API worker decrypts each member's
signing key the first time it signs for it). Why a fresh node per run: anvil slows down
as its chain grows, so runs on one long-lived node were not comparable. The paths
alternate run by run (chain_client, API on SQLite, API on PostgreSQL, then the reverse
order), so that a slow stretch of a shared machine hits every path; throughput is the
median of the runs, latencies pool every run's requests.

Why aiohttp for the measured requests: the 50 users share the machine's two cores with
the server they measure (in production they are elsewhere), and httpx spent about a
quarter of a core on them; aiohttp does the same requests for less.

Commands carry an Idempotency-Key, as the CLI sends. Prints a markdown table per scenario:
throughput (financings/s, split+transfer ops/s) and p50/p99 per operation, the API/client
ratios (target >= 0.7) and the p99 of a financing through the API (target < 1 s), the
latter next to the same p99 through chain_client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
from eth_account import Account
from eth_utils import keccak

from api.cli.health import interrupt, wait_until_serving
from api.db import database_reachable, drop_schema
from chain_client.connection import connect
from chain_client.deployment import deploy_ledger
from chain_client.identity import uscc_check_digit
from chain_client.ledger import Ledger
from chain_client.ledger_types import Role
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender

DAY = 86_400
ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("SCF_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FACE_VALUE = 10**10  # fen per supplier certificate (100m CNY): never runs out
OFFER_FEN = 1_000
RATE_BPS = 500
MAX_UINT256 = 2**256 - 1


# -- measurements ---------------------------------------------------------------------------


def intended_starts(i: int, args: argparse.Namespace, start: float) -> list[float] | None:
    """When client ``i`` should start each round in a paced scenario (``@RATE``): the
    clients' starts spread evenly, ``RATE`` per second in all (each client every
    ``clients / RATE`` seconds). None: a closed loop (each round starts when the last
    one ended).

    Why both: a closed loop of 50 clients measures the most the path can do, and its
    latency is then mostly queueing (Little's law: 50 clients at 18 financings/s wait
    about 2.8 s each, on either path). A paced load below that measures what one
    financing costs while 50 clients are at work, the figure a disbursement promise is
    about. A paced round's latency counts from its intended start, so a path that falls
    behind is charged for the wait (no coordinated omission)."""
    if not getattr(args, "rate", 0):
        return None
    interval = args.clients / args.rate
    return [start + i / args.rate + k * interval for k in range(args.rounds)]


@dataclass
class Phase:
    """Latencies (seconds) per operation name, and the wall time of the phase."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, op: str, seconds: float) -> None:
        self.latencies[op].append(seconds)

    def count(self, op: str) -> int:
        return len(self.latencies.get(op, []))

    def rate(self, op: str) -> float:
        return self.count(op) / self.wall if self.wall else 0.0

    def pct(self, op: str, q: float) -> float:
        values = sorted(self.latencies.get(op, []))
        if not values:
            return float("nan")
        rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
        return values[rank]


@dataclass
class Result:
    """One path's runs of both phases; rates are medians over runs, percentiles pool
    every run's latencies."""

    label: str
    financing_runs: list[Phase] = field(default_factory=list)
    moves_runs: list[Phase] = field(default_factory=list)
    setup_seconds: float = 0.0

    def add(self, financing: Phase, moves: Phase) -> None:
        self.financing_runs.append(financing)
        self.moves_runs.append(moves)

    @property
    def financing(self) -> Phase:
        return _pooled(self.financing_runs)

    @property
    def moves(self) -> Phase:
        return _pooled(self.moves_runs)

    @property
    def financing_rates(self) -> list[float]:
        return [p.rate("financing") for p in self.financing_runs]

    @property
    def moves_rates(self) -> list[float]:
        return [
            (p.count("split") + p.count("transfer")) / p.wall if p.wall else 0.0
            for p in self.moves_runs
        ]

    @property
    def financing_rate(self) -> float:
        return statistics.median(self.financing_rates)

    @property
    def moves_rate(self) -> float:
        return statistics.median(self.moves_rates)


def _pooled(runs: list[Phase]) -> Phase:
    pooled = Phase()
    for run in runs:
        for op, values in run.latencies.items():
            pooled.latencies[op].extend(values)
        pooled.wall += run.wall
        pooled.errors += run.errors
    return pooled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uscc(seed: int) -> str:
    body = f"9144030{seed:010d}"[:17]
    return body + uscc_check_digit(body)


# -- the API side ---------------------------------------------------------------------------


class ApiServer:
    """``python -m api`` in a subprocess, configured through SCF_* variables."""

    def __init__(
        self, node: AnvilNode, operator_key: str, data_dir: Path, db: str, workers: int
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.operator_api_key = "scf_bench_" + secrets.token_hex(16)
        #: unlocks the members' keys in ``data_dir/keys`` (a benchmark may sign as a member
        #: through chain_client, as the service's operator could)
        self.master_passphrase = "bench " + secrets.token_hex(8)
        self.data_dir = data_dir
        self.schema: str | None = None
        env = dict(os.environ)
        env.update(
            SCF_DATA_DIR=str(data_dir),
            SCF_RPC_URL=node.rpc_url,
            SCF_MASTER_PASSPHRASE=self.master_passphrase,
            SCF_OPERATOR_PRIVATE_KEY=operator_key,
            SCF_OPERATOR_API_KEY=self.operator_api_key,
            SCF_INVOICE_SECRET="bench-invoice-secret-" + secrets.token_hex(8),
            SCF_HOST="127.0.0.1",
            SCF_PORT=str(self.port),
            SCF_WORKERS=str(workers),
            # a few organizations (the core enterprise at set-up, each bank) send far more
            # commands a second than a member would: the per-organization limit (whose
            # check still runs on every command) is raised out of the way
            SCF_RATE_LIMIT="100000",
            SCF_RATE_BURST="100000",
        )
        if db == "postgres":
            self.schema = "bench_" + uuid.uuid4().hex[:16]
            env.update(SCF_DATABASE_URL=PG_URL, SCF_DATABASE_SCHEMA=self.schema)
        self.log_path = data_dir / "api.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        failure = wait_until_serving(self.url, timeout, lambda: self.proc.poll() is None)
        if failure == "stopped":
            raise RuntimeError(f"API exited: {self.log_path.read_text()[-3000:]}")
        if failure is not None:
            raise RuntimeError("API did not start in time")

    def profile(self, out: Path) -> None:
        """Sample the server with py-spy (collapsed stacks, idle threads excluded)."""
        self._spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(self.proc.pid),
                "--subprocesses",
                "-o",
                str(out),
                "-f",
                "raw",
                "-r",
                "50",
                "--nonblocking",
                *os.environ.get("BENCH_PY_SPY_ARGS", "").split(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        spy = getattr(self, "_spy", None)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        if self.proc.poll() is None:
            interrupt(self.proc, timeout=20)
        self._log.close()
        if self.schema:
            drop_schema(PG_URL, self.schema)


class ApiError(Exception):
    pass


def _ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    if r.status_code not in (codes or (200, 201)):
        raise ApiError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    return r.json()  # type: ignore[no-any-return]


def _idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@dataclass
class ApiWorld:
    """A running API server and the organizations of one scenario."""

    server: ApiServer
    limits: httpx.Limits
    suppliers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    banks: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    expires: int = 0

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url + "/v1", timeout=120, limits=self.limits)


def api_setup(
    node: AnvilNode,
    operator_key: str,
    db: str,
    data_dir: Path,
    args: argparse.Namespace,
    now: Callable[[], int],
) -> ApiWorld:
    """Start the server and onboard the scenario's organizations (not measured)."""
    server = ApiServer(node, operator_key, data_dir, db, args.workers)
    server.wait_ready()
    world = ApiWorld(
        server,
        httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients * 2),
    )

    async def setup() -> None:
        async with world.client() as http:
            await _api_setup(http, world, args, now)

    asyncio.run(setup())
    return world


async def _api_setup(
    http: httpx.AsyncClient, world: ApiWorld, args: argparse.Namespace, now: Callable[[], int]
) -> None:
    server = world.server
    op_h = {"Authorization": f"Bearer {server.operator_api_key}"}
    seed = secrets.randbelow(10**7) * 1000
    gate = asyncio.Semaphore(10)

    async def onboard(name: str, role: str, n: int) -> tuple[int, dict[str, str]]:
        async with gate:
            org = _ok(
                await http.post(
                    "/organizations",
                    json={"name": name, "uscc": uscc(seed + n), "role": role},
                    headers=op_h | _idem(),
                )
            )
            key = _ok(
                await http.post(
                    f"/organizations/{org['id']}/api-keys",
                    json={"label": "bench"},
                    headers=op_h | _idem(),
                )
            )
            return int(org["id"]), {"Authorization": f"Bearer {key['api_key']}"}

    core_id, core_h = await onboard("Bench core", "core_enterprise", 1)
    world.banks = list(
        await asyncio.gather(
            *(onboard(f"Bench bank {b}", "financier", 10 + b) for b in range(args.banks))
        )
    )
    world.suppliers = list(
        await asyncio.gather(
            *(onboard(f"Bench supplier {i}", "supplier", 100 + i) for i in range(args.clients))
        )
    )
    for bank_id, bank_h in world.banks:
        _ok(
            await http.put(
                "/credit-lines",
                json={"core_enterprise_id": core_id, "limit": str(10**15)},
                headers=bank_h | _idem(),
            )
        )
        _ok(
            await http.post(
                f"/organizations/{bank_id}/settlement-funds",
                json={"amount": str(10**13)},
                headers=op_h | _idem(),
            )
        )

    async def certificate(i: int) -> str:
        async with gate:
            doc = _ok(
                await http.post(
                    "/documents",
                    files={
                        "file": (
                            "inv.pdf",
                            f"bench invoice {uuid.uuid4()}".encode(),
                            "application/pdf",
                        )
                    },
                    data={"kind": "invoice"},
                    headers=core_h,
                )
            )
            bank_id = world.banks[i % args.banks][0]
            cert = _ok(
                await http.post(
                    "/certificates",
                    json={
                        "beneficiary_id": world.suppliers[i][0],
                        "credit_provider_id": bank_id,
                        "face_value": str(FACE_VALUE),
                        "maturity": now() + 180 * DAY,
                        "document_id": doc["id"],
                        "invoice_number": "INV-" + uuid.uuid4().hex[:16],
                    },
                    headers=core_h | _idem(),
                )
            )
            acc = _ok(
                await http.post(
                    f"/certificates/{cert['certificate_id']}/accept",
                    headers=world.suppliers[i][1] | _idem(),
                )
            )
            return str(acc["root_fragment_id"])

    world.roots = list(await asyncio.gather(*(certificate(i) for i in range(args.clients))))
    world.expires = now() + 30 * DAY


class LoadClient:
    """The measured users' HTTP client: JSON in, JSON out, an unexpected status raises."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def request(
        self, method: str, path: str, headers: dict[str, str], json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        async with self.session.request(
            method, self.base_url + path, json=json, headers=headers
        ) as r:
            if r.status not in (200, 201):
                raise ApiError(f"{method} {path}: {r.status} {(await r.text())[:300]}")
            return await r.json()  # type: ignore[no-any-return]

    async def post(
        self, path: str, headers: dict[str, str], json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self.request("POST", path, headers, json)

    async def get(self, path: str, headers: dict[str, str]) -> dict[str, Any]:
        return await self.request("GET", path, headers)


def api_phases(world: ApiWorld, args: argparse.Namespace) -> tuple[Phase, Phase]:
    """One measured run of both phases through the API."""

    async def run() -> tuple[Phase, Phase]:
        connector = aiohttp.TCPConnector(limit=args.clients * 2, keepalive_timeout=20)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        ) as session:
            return await _api_phases(LoadClient(session, world.server.url + "/v1"), world, args)

    return asyncio.run(run())


async def _api_phases(
    http: LoadClient, world: ApiWorld, args: argparse.Namespace
) -> tuple[Phase, Phase]:
    suppliers, banks, roots = world.suppliers, world.banks, world.roots

    async def financing_client(i: int, phase: Phase, deadline: float) -> None:
        sup_h = suppliers[i][1]
        bank_id, bank_h = banks[i % args.banks]
        starts = intended_starts(i, args, deadline - args.time_limit)
        for k in range(args.rounds):
            if starts:
                await asyncio.sleep(max(0.0, starts[k] - time.perf_counter()))
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            offer = await http.post(
                "/offers",
                json={
                    "fragment_id": roots[i],
                    "financier_id": bank_id,
                    "amount": str(OFFER_FEN),
                    "rate_bps": RATE_BPS,
                    "expires_at": world.expires,
                },
                headers=sup_h | _idem(),
            )
            t1 = time.perf_counter()
            quote = await http.get(f"/offers/{offer['offer_id']}/quote", headers=bank_h)
            assert quote["agrees_with_chain"], quote
            t2 = time.perf_counter()
            accepted = await http.post(
                f"/offers/{offer['offer_id']}/accept", headers=bank_h | _idem()
            )
            assert accepted["status"] == "accepted", accepted
            t3 = time.perf_counter()
            phase.add("offer", t1 - t0)
            phase.add("quote", t2 - t1)
            phase.add("accept", t3 - t2)
            phase.add("financing", t3 - (starts[k] if starts else t0))

    async def moves_client(i: int, phase: Phase, deadline: float) -> None:
        sup_id, sup_h = suppliers[i]
        neighbour = suppliers[(i + 1) % args.clients][0]
        starts = intended_starts(i, args, deadline - args.time_limit)
        for k in range(args.rounds):
            if starts:
                await asyncio.sleep(max(0.0, starts[k] - time.perf_counter()))
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            split = await http.post(
                f"/fragments/{roots[i]}/split",
                json={"to_org_id": sup_id, "amount": "1"},
                headers=sup_h | _idem(),
            )
            t1 = time.perf_counter()
            await http.post(
                f"/fragments/{split['fragment_id']}/transfer",
                json={"to_org_id": neighbour},
                headers=sup_h | _idem(),
            )
            t2 = time.perf_counter()
            phase.add("split", t1 - (starts[k] if starts else t0))
            phase.add("transfer", t2 - t1)

    async def run_phase(client: Callable[[int, Phase, float], Any]) -> Phase:
        phase = Phase()
        start = time.perf_counter()
        outcomes = await asyncio.gather(
            *(client(i, phase, start + args.time_limit) for i in range(args.clients)),
            return_exceptions=True,
        )
        phase.wall = time.perf_counter() - start
        phase.errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
        return phase

    return await run_phase(financing_client), await run_phase(moves_client)


# -- the chain_client side ------------------------------------------------------------------


@dataclass
class ClientWorld:
    """The scenario's members as chain_client ledgers on their own deployment."""

    suppliers: list[Ledger]
    banks: list[Ledger]
    roots: list[int]
    expires: int


def client_setup(
    node: AnvilNode, operator_key: str, args: argparse.Namespace, now: Callable[[], int]
) -> ClientWorld:
    w3 = connect(node.rpc_url)

    def sender(account: Any) -> TransactionSender:
        return TransactionSender(w3, account, poll_interval=0.02)  # as the API's gateway

    with tempfile.TemporaryDirectory(prefix="scf-bench-client-") as tmp:
        op_sender = sender(Account.from_key(operator_key))
        manifest = deploy_ledger(w3, op_sender, manifest_path=Path(tmp) / "manifest.json")
    operator = Ledger(w3, manifest, op_sender)
    core = operator.as_member(sender(Account.create()))
    banks = [operator.as_member(sender(Account.create())) for _ in range(args.banks)]
    suppliers = [operator.as_member(sender(Account.create())) for _ in range(args.clients)]
    for member in (core, *banks, *suppliers):  # gas money, as API onboarding sends it
        node.rpc("anvil_setBalance", [member.account, hex(10**21)])
    regs = [operator.calls.register_member(core.account, keccak(text="core"), Role.CORE_ENTERPRISE)]
    regs += [
        operator.calls.register_member(b.account, keccak(text=f"bank{k}"), Role.FINANCIER)
        for k, b in enumerate(banks)
    ]
    regs += [
        operator.calls.register_member(s.account, keccak(text=f"s{k}"), Role.SUPPLIER)
        for k, s in enumerate(suppliers)
    ]
    Ledger.wait_all(operator.submit_many(regs))
    for bank in banks:  # as API onboarding does: a standing allowance, funds, a credit line
        bank.set_credit_line(core.account, 10**15)
        operator.mint_settlement(bank.account, 10**13)
        bank.approve_settlement(MAX_UINT256)
    issued = Ledger.wait_all(
        core.submit_many(
            [
                core.calls.issue(
                    banks[i % args.banks].account,
                    s.account,
                    FACE_VALUE,
                    now() + 180 * DAY,
                    keccak(text=f"inv{i}-{uuid.uuid4()}"),
                    keccak(text=f"doc{i}-{uuid.uuid4()}"),
                )  # one document, one certificate
                for i, s in enumerate(suppliers)
            ]
        )
    )
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        roots = list(
            pool.map(lambda i: suppliers[i].accept(issued[i].value).value, range(args.clients))
        )
    return ClientWorld(suppliers, banks, roots, now() + 30 * DAY)


def client_phases(world: ClientWorld, args: argparse.Namespace) -> tuple[Phase, Phase]:
    """One measured run of both phases through chain_client."""
    suppliers, banks, roots, expires = world.suppliers, world.banks, world.roots, world.expires

    def financing_client(i: int, phase: Phase, deadline: float) -> None:
        s, bank = suppliers[i], banks[i % args.banks]
        starts = intended_starts(i, args, deadline - args.time_limit)
        for k in range(args.rounds):
            if starts:
                time.sleep(max(0.0, starts[k] - time.perf_counter()))
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            offer_id = s.offer_financing(roots[i], bank.account, OFFER_FEN, RATE_BPS, expires).value
            t1 = time.perf_counter()
            bank.quote(offer_id)
            t2 = time.perf_counter()
            bank.accept_offer(offer_id)
            t3 = time.perf_counter()
            phase.add("offer", t1 - t0)
            phase.add("quote", t2 - t1)
            phase.add("accept", t3 - t2)
            phase.add("financing", t3 - (starts[k] if starts else t0))

    def moves_client(i: int, phase: Phase, deadline: float) -> None:
        s, neighbour = suppliers[i], suppliers[(i + 1) % args.clients].account
        starts = intended_starts(i, args, deadline - args.time_limit)
        for k in range(args.rounds):
            if starts:
                time.sleep(max(0.0, starts[k] - time.perf_counter()))
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            fragment = s.split(roots[i], s.account, 1).value
            t1 = time.perf_counter()
            s.transfer_fragment(fragment, neighbour)
            t2 = time.perf_counter()
            phase.add("split", t1 - (starts[k] if starts else t0))
            phase.add("transfer", t2 - t1)

    def run_phase(client: Callable[[int, Phase, float], None]) -> Phase:
        phase = Phase()
        start = time.perf_counter()
        deadline = start + args.time_limit
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            futures = [pool.submit(client, i, phase, deadline) for i in range(args.clients)]
            errors = [f.exception() for f in futures]
        phase.wall = time.perf_counter() - start
        phase.errors = [repr(e) for e in errors if e is not None]
        return phase

    return run_phase(financing_client), run_phase(moves_client)


# -- report ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def table(results: list[Result], client: Result, args: argparse.Namespace) -> str:
    ops = ("offer", "quote", "accept", "financing", "split", "transfer")
    head = ["path", "financings/s", "split+transfer ops/s"]
    head += [f"{op} p50/p99 ms" for op in ops]
    head += ["API/client financing", "API/client split+transfer"]
    pace = (
        f", paced: {args.rate:g} financings/s and {args.rate:g} split+transfer pairs/s offered"
        if args.rate
        else ""
    )
    lines = [
        f"### {args.clients} clients, {args.banks} banks, {args.rounds} rounds{pace}, "
        f"{args.repeat} runs per path (API: {args.workers} worker processes)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in (client, *results):
        row = [r.label, f"{r.financing_rate:.1f}", f"{r.moves_rate:.1f}"]
        for op in ops:
            phase = r.financing if op in ops[:4] else r.moves
            row.append(f"{ms(phase.pct(op, 50))} / {ms(phase.pct(op, 99))}")
        if r is client:
            row += ["", ""]
        else:
            row += [
                f"{r.financing_rate / client.financing_rate:.2f}",
                f"{r.moves_rate / client.moves_rate:.2f}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Throughput: median of the runs; latencies: every run's requests together. "
        "Per run (financings/s; split+transfer ops/s):"
    )
    for r in (client, *results):
        lines.append(
            f"- {r.label}: "
            + ", ".join(f"{f:.1f}" for f in r.financing_rates)
            + "; "
            + ", ".join(f"{m:.1f}" for m in r.moves_rates)
            + ". "
            f"{r.financing.count('financing')} financings in "
            f"{r.financing.wall:.1f} s, {r.moves.count('split')} splits + "
            f"{r.moves.count('transfer')} transfers in {r.moves.wall:.1f} s "
            f"(set-ups, not measured: {r.setup_seconds:.0f} s); errors: "
            f"{len(r.financing.errors) + len(r.moves.errors)}"
            + "".join(f"\n    {e[:300]}" for e in (r.financing.errors + r.moves.errors)[:3])
        )
    lines.append("")
    client_p99 = client.financing.pct("financing", 99)
    if args.rate:
        lines.append(
            "Paced: throughput is what was offered if the path kept up; a "
            "financing's latency counts from its intended start."
        )
    lines.append(
        f"Targets ({args.clients} clients, {args.banks} banks{pace}): "
        "API/client throughput >= 0.7; financing p99 through the API < 1 s "
        f"(chain_client alone: {client_p99:.2f} s)."
    )
    for r in results:
        ratio = min(r.financing_rate / client.financing_rate, r.moves_rate / client.moves_rate)
        p99 = r.financing.pct("financing", 99)
        lines.append(
            f"- {r.label}: min ratio {ratio:.2f} "
            f"({'met' if ratio >= 0.7 else 'MISSED'}); financing p99 "
            f"{p99:.2f} s ({'met' if p99 < 1 else 'MISSED'}; "
            f"{p99 - client_p99:+.2f} s over chain_client)"
        )
    return "\n".join(lines)


def parse_scenarios(text: str, rounds: int) -> list[tuple[int, int, int, float]]:
    """ "50x2,50x10,1x1:20,50x2@8:6" -> [(clients, banks, rounds, rate), ...]; rate 0 is
    a closed loop, else financings (and split+transfer pairs) started per second."""
    found = []
    for item in text.split(","):
        shape, _, r = item.strip().partition(":")
        shape, _, rate = shape.partition("@")
        clients, _, banks = shape.partition("x")
        found.append(
            (int(clients), int(banks or 1), int(r) if r else rounds, float(rate) if rate else 0.0)
        )
    return found


def pg_available() -> bool:
    return database_reachable(PG_URL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--scenarios",
        default="50x2,50x10,50x2@10:4,1x1:20",
        help="comma-separated CLIENTSxBANKS[@RATE][:ROUNDS], each measured "
        "on both paths (client i sells to bank i %% BANKS); @RATE: "
        "paced, RATE financings (and split+transfer pairs) started "
        "per second in all, else a closed loop",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="financings, and split+transfer pairs, per client (default of "
        "a scenario without :ROUNDS)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="no new round starts after this many seconds of a phase",
    )
    parser.add_argument(
        "--db",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (skipped if unreachable)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measured runs per path, alternating (rates: the median)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="API worker processes (SCF_WORKERS; default 2, one per core)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="OUT",
        help="profile each API server during its measured run (raw stacks "
        "in OUT.<scenario>-<run>-<db>)",
    )
    args = parser.parse_args()
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    if "postgres" in dbs and not pg_available():
        print(f"(PostgreSQL at {PG_URL} unreachable: skipped)", file=sys.stderr)
        dbs.remove("postgres")

    started = time.perf_counter()
    scenarios = parse_scenarios(args.scenarios, args.rounds)
    tables = []

    def note(text: str) -> None:
        print(f"{text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="scf-bench-api-") as tmp:
        for clients, banks, rounds, rate in scenarios:
            shape = replace_args(args, clients=clients, banks=banks, rounds=rounds, rate=rate)
            name = f"{clients}x{banks}" + (f"at{rate:g}" if rate else "")
            client = Result("chain_client")
            results = {db: Result(f"API ({db})") for db in dbs}
            paths: list[str | None] = [None, *dbs]  # None: chain_client
            # Every run of every path on a node of its own, set up afresh (not measured):
            # anvil slows down as its chain grows (about 40 % per transaction after 5,000
            # blocks), which made later runs on one shared node incomparable. The paths
            # alternate, and their order is reversed every other round.
            for run in range(args.repeat):
                for db in paths if run % 2 == 0 else paths[::-1]:
                    result = client if db is None else results[db]
                    _one_run(result, db, shape, Path(tmp) / f"{name}-{run}-{db}", args)
                    note(f"{name}: {result.label} run {run + 1}")
            tables.append(table(list(results.values()), client, shape))
            print(tables[-1] + "\n", file=sys.stderr)
    print("\n\n".join(tables))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


def _one_run(
    result: Result,
    db: str | None,
    shape: argparse.Namespace,
    data_dir: Path,
    args: argparse.Namespace,
) -> None:
    """A fresh node, the path set up on it, both phases measured once."""
    with AnvilNode(accounts=1, gas_price=0, base_fee=0) as node:
        key = "0x" + bytes(node.dev_accounts(1)[0].key).hex()
        w3 = connect(node.rpc_url)

        def now() -> int:
            return int(w3.eth.get_block("latest")["timestamp"])

        t0 = time.perf_counter()
        # warm-up, not measured: two rounds of both phases, so that what a long-running
        # service does once (each worker decrypting each member's signing key: scrypt,
        # tens of ms; connections; caches) is not in the numbers of a 20-second run
        warm = replace_args(shape, rounds=2, rate=0.0)  # as fast as it goes
        if db is None:
            world: Any = client_setup(node, key, shape, now)
            client_phases(world, warm)
            result.setup_seconds += time.perf_counter() - t0
            result.add(*client_phases(world, shape))
            return
        world = api_setup(node, key, db, data_dir, shape, now)
        try:
            api_phases(world, warm)
            result.setup_seconds += time.perf_counter() - t0
            if args.py_spy:
                world.server.profile(Path(f"{args.py_spy}.{data_dir.name}"))
            result.add(*api_phases(world, shape))
        finally:
            world.server.stop()
            if result.financing_runs and (
                result.financing_runs[-1].errors or result.moves_runs[-1].errors
            ):
                print(
                    f"{result.label}: errors; the server's log ends with:\n"
                    + world.server.log_path.read_text()[-4000:],
                    file=sys.stderr,
                )


def replace_args(args: argparse.Namespace, **values: Any) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **values})


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
