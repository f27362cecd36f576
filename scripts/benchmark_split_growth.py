"""Split rate on one certificate as it grows, through the API and through chain_client.

Run: .venv/bin/python scripts/benchmark_split_growth.py [--sizes 100,5000,20000]
        [--splits 100] [--db sqlite] [--workers 2] [--anvil-args "..."]

One anvil node (automine, gas price 0, base fee 0: how ``scf up`` runs it) and on it the API
(``python -m api``, as :mod:`benchmark_api` starts it, background jobs on, rate limits off:
a split-heavy benchmark would otherwise measure the limiter). One certificate; supplier A
holds its root through the API, supplier B a piece of it that B splits through chain_client.
For each size in ``--sizes``:

1. grow the certificate to that many fragments quickly: B's splits signed here with a fixed
   gas limit, sent in JSON-RPC batches with automine off and mined a block at a time (one
   block per split would take minutes at 20,000), then wait until the API's indexer has
   them all (its read model holds every fragment);
2. ``--splits`` rounds of one API split of 1 fen off A's root (answered only once the read
   model covers its block: read-your-writes, as a user of the API sees it) then one
   chain_client split by B, waited for (the peer: what the node alone costs per split at
   that size). Interleaved, so that both paths meet the same node and the same load;
3. the node's time to mine an empty block (``evm_mine``): its own cost per block.

Why one split after another: a lone user splitting is where a cost per split shows whole
(concurrent splits share blocks: automine puts every ready transaction into the next one).

Prints a markdown table: per size, both rates and their ratios to the first size (target:
the API flat within 20 %), the API's own milliseconds per split (the median of its
latencies minus chain_client's: what the API adds to the node) and the empty block.

Why the node matters here: anvil 1.7.1 rebuilds its state root from every storage slot and
copies the whole state for its block history on every block it mines, so a block costs
time in proportion to everything the chain holds (docs/benchmarks.md). ``--anvil-args
"--prune-history 500"`` keeps 500 states in memory and none on disk (by default anvil
writes a whole state to disk for every block past its 500th).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from benchmark_api import ApiWorld, api_setup
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from chain_client.connection import connect
from chain_client.keystore import KeyStore
from chain_client.ledger import Ledger
from chain_client.manifest import load_manifest
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender

SPLIT_GAS = 150_000  # a split to an existing holder uses about 90,000
SEND_BATCH = 500  # raw transactions per JSON-RPC batch


@dataclass
class Point:
    """One size's measurements (latencies in seconds)."""

    fragments: int
    api: list[float]
    client: list[float]
    empty_block_ms: float

    @property
    def api_rate(self) -> float:
        return len(self.api) / sum(self.api)

    @property
    def client_rate(self) -> float:
        return len(self.client) / sum(self.client)

    @property
    def api_own_ms(self) -> float:
        """What the API adds to a split: the median of its latencies minus chain_client's
        (the node's share, mining included, is in both)."""
        return (statistics.median(self.api) - statistics.median(self.client)) * 1000


@dataclass
class Scene:
    """The running server, the certificate and who holds what of it."""

    world: ApiWorld
    node: AnvilNode
    certificate_id: int
    api_root: str  # supplier A's fragment, split through the API
    grower: Ledger  # supplier B through chain_client
    grower_fragment: int

    @property
    def supplier_a(self) -> tuple[int, dict[str, str]]:
        return self.world.suppliers[0]


def member_account(world: ApiWorld, org_id: int) -> LocalAccount:
    """A member's signing key from the server's key store (the benchmark started the
    server, so it holds the passphrase, as the service's operator does)."""
    server = world.server
    op_h = {"Authorization": f"Bearer {server.operator_api_key}"}
    org = httpx.get(f"{server.url}/v1/organizations/{org_id}", headers=op_h, timeout=30)
    org.raise_for_status()
    keys = KeyStore(server.data_dir / "keys")
    return keys.load(org.json()["address"], server.master_passphrase)


def set_up(node: AnvilNode, operator_key: str, data_dir: Path, args: argparse.Namespace) -> Scene:
    w3 = connect(node.rpc_url)

    def now() -> int:
        return int(w3.eth.get_block("latest")["timestamp"])

    # two suppliers (each gets a certificate; A's is the one measured), one bank
    shape = argparse.Namespace(clients=2, banks=1, workers=args.workers)
    world = api_setup(node, operator_key, args.db, data_dir, shape, now)
    (_, a_h), (b_id, _) = world.suppliers
    root = world.roots[0]
    http = httpx.Client(base_url=world.server.url + "/v1", timeout=120)
    piece = http.post(
        f"/fragments/{root}/split",
        json={"to_org_id": b_id, "amount": str(10**9)},
        headers=a_h | {"Idempotency-Key": uuid.uuid4().hex},
    )
    piece.raise_for_status()
    manifest = load_manifest(data_dir / "manifest.json", w3)
    account = member_account(world, b_id)
    # gas money for B's own sending (the API funds members only when gas costs something,
    # and the fee strategy may still ask for a priority fee)
    node.rpc("anvil_setBalance", [account.address, hex(10**21)])
    grower = Ledger(w3, manifest, TransactionSender(w3, account, poll_interval=0.02))
    certificate_id = int(http.get(f"/fragments/{root}", headers=a_h).json()["certificate_id"])
    http.close()
    return Scene(world, node, certificate_id, root, grower, int(piece.json()["fragment_id"]))


def grow(scene: Scene, target: int) -> None:
    """Split B's piece until the certificate has ``target`` fragments: signed here, sent in
    batches, mined a block at a time with automine off."""
    ledger, node = scene.grower, scene.node
    w3 = ledger.w3
    have = ledger.certificate(scene.certificate_id).fragment_count
    missing = target - have
    if missing <= 0:
        return
    sender = ledger.sender
    assert sender is not None
    account = sender.account
    data = HexBytes(ledger.ledger.encode("split", scene.grower_fragment, account.address, 1))
    fees = sender.fee_strategy.fees(w3)
    nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
    fields: dict[str, Any] = {
        "to": ledger.address,
        "data": data,
        "value": 0,
        "gas": SPLIT_GAS,
        "chainId": sender.chain_id,
        **fees,
    }
    if "maxFeePerGas" in fees:
        fields["type"] = 2
    node.rpc("evm_setAutomine", [False])
    try:
        for start in range(0, missing, SEND_BATCH):
            raws = []
            for i in range(start, min(missing, start + SEND_BATCH)):
                signed = account.sign_transaction({**fields, "nonce": nonce + i})
                raw = "0x" + bytes(signed.raw_transaction).hex()
                raws.append(("eth_sendRawTransaction", [raw]))
            answers = w3.provider.make_batch_request(raws)  # type: ignore[attr-defined]
            refused = [a for a in answers if "error" in a]
            if refused:
                raise RuntimeError(f"node refused {len(refused)} splits: {refused[0]['error']}")
            while int(node.rpc("txpool_status", [])["pending"], 16):
                node.rpc("evm_mine", [])
    finally:
        node.rpc("evm_setAutomine", [True])
    count = ledger.certificate(scene.certificate_id).fragment_count
    if count < target:
        raise RuntimeError(f"certificate has {count} fragments, wanted {target}")
    # the grower's nonce counter moved on the chain behind its sender's back
    scene.grower = Ledger(w3, ledger.manifest, TransactionSender(w3, account, poll_interval=0.02))


def wait_indexed(scene: Scene, timeout: float = 600) -> int:
    """Until the API's read model has every fragment the chain has."""
    want = scene.grower.certificate(scene.certificate_id).fragment_count
    _, a_h = scene.supplier_a
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=scene.world.server.url + "/v1", timeout=120) as http:
        while True:
            got = http.get(f"/certificates/{scene.certificate_id}", headers=a_h).json()
            if int(got["fragment_count"]) >= want:
                return want
            if time.monotonic() > deadline:
                raise RuntimeError(f"read model at {got['fragment_count']} of {want} fragments")
            time.sleep(0.5)


def measure(scene: Scene, count: int) -> tuple[list[float], list[float]]:
    """``count`` rounds of one API split then one chain_client split, each timed (seconds):
    interleaved, so that both paths meet the same node (its cost per block grows with
    every split) and the same load on a shared machine."""
    _, a_h = scene.supplier_a
    to = scene.world.suppliers[1][0]
    ledger = scene.grower

    async def run() -> tuple[list[float], list[float]]:
        api: list[float] = []
        client: list[float] = []
        async with scene.world.client() as http:
            for _ in range(count):
                t0 = time.perf_counter()
                r = await http.post(
                    f"/fragments/{scene.api_root}/split",
                    json={"to_org_id": to, "amount": "1"},
                    headers=a_h | {"Idempotency-Key": uuid.uuid4().hex},
                )
                if r.status_code != 201:
                    raise RuntimeError(f"split: {r.status_code} {r.text[:300]}")
                t1 = time.perf_counter()
                ledger.split(scene.grower_fragment, ledger.account, 1)
                t2 = time.perf_counter()
                api.append(t1 - t0)
                client.append(t2 - t1)
        return api, client

    return asyncio.run(run())


def empty_block_ms(node: AnvilNode, blocks: int = 5) -> float:
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        node.rpc("evm_mine", [])
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def table(points: list[Point], args: argparse.Namespace, seconds: float) -> str:
    base = points[0]
    lines = [
        f"### One certificate, {args.splits} sequential splits per size (API: {args.db}, "
        f"{args.workers} worker processes; anvil automine"
        + (f" {args.anvil_args}" if args.anvil_args else "")
        + ")",
        "",
        "| fragments | API splits/s | vs first | chain_client splits/s | vs first "
        "| API / chain_client | API's own ms per split | vs first | empty block (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.fragments:,} | {p.api_rate:.1f} | {p.api_rate / base.api_rate:.2f} "
            f"| {p.client_rate:.1f} | {p.client_rate / base.client_rate:.2f} "
            f"| {p.api_rate / p.client_rate:.2f} | {p.api_own_ms:.1f} "
            f"| {p.api_own_ms / base.api_own_ms:.2f} | {p.empty_block_ms:.1f} |"
        )
    last = points[-1]
    flat = abs(last.api_rate / base.api_rate - 1) <= 0.2
    own_flat = abs(last.api_own_ms / base.api_own_ms - 1) <= 0.2
    lines += [
        "",
        f"Target (API splits/s flat within 20 % from {base.fragments:,} to "
        f"{last.fragments:,} fragments): {'met' if flat else 'MISSED'}; the API's own cost per "
        f"split: {'flat' if own_flat else 'NOT flat'} within 20 %. Total {seconds:.0f} s.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes",
        default="100,5000,20000",
        help="comma-separated certificate sizes (fragments), increasing",
    )
    parser.add_argument(
        "--splits", type=int, default=100, help="measured splits per size on each path"
    )
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument(
        "--anvil-args", default="", help="extra anvil options, e.g. '--prune-history 128'"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ["SCF_RATE_LIMIT"] = "0"  # off: the API server inherits the environment
    started = time.perf_counter()

    def note(text: str) -> None:
        print(f"{text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    points: list[Point] = []
    with (
        tempfile.TemporaryDirectory(prefix="scf-bench-growth-") as tmp,
        AnvilNode(
            accounts=1, gas_price=0, base_fee=0, extra_args=tuple(args.anvil_args.split())
        ) as node,
    ):
        key = "0x" + bytes(node.dev_accounts(1)[0].key).hex()
        scene = set_up(node, key, Path(tmp) / "api", args)
        try:
            measure(scene, 5)  # warm-up: each worker decrypts A's key once
            for size in sizes:
                grow(scene, size)
                fragments = wait_indexed(scene)
                note(f"certificate at {fragments:,} fragments, indexed")
                point = Point(fragments, *measure(scene, args.splits), empty_block_ms(node))
                points.append(point)
                note(
                    f"{fragments:,}: API {point.api_rate:.1f}/s, chain_client "
                    f"{point.client_rate:.1f}/s"
                )
        except BaseException:
            print(scene.world.server.log_path.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            scene.world.server.stop()
    print(table(points, args, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
