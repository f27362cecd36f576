"""Financing without people (issue 14): time to cash with standing bids, next to today's
offer -> accept flow, for many sellers at once.

Run: nice -n 5 .venv/bin/python scripts/benchmark_bids.py [--sellers 50] [--bids 5]
        [--rounds 4] [--workers 2]

One anvil node (automine, gas price 0: how ``scf up`` runs it), one API server on it
(``python -m api``, SQLite, ``--workers`` workers and its indexer, as :mod:`benchmark_api`
starts it). ``--sellers`` suppliers each hold a certificate of their own; ``--bids`` banks
each post a standing bid for the core enterprise's certificates, at rates 3.00%, 3.25%, ...
Then every seller, all at once (one thread each), finances ``--rounds`` times 10,000 fen
of its fragment (a split sale), in four ways, one phase after the other:

* API, bids: ``POST /v1/fragments/{f}/finance`` with ``"bid": "best"``: one call, the API
  asks every bid's price in one batch and sells to the best in one transaction;
* chain_client, bids: ``Ledger.quote_bids`` over the open bids, then ``sell_to_bid`` to
  the best, as a supplier's own program would (its own deployment on the same node, its
  members signing with their own keys);
* API, offer -> accept: ``POST /v1/offers`` by the seller, then ``POST /v1/offers/{id}/accept``
  by its bank's key at once (a bank that never keeps anyone waiting: the floor of today's
  flow, two transactions);
* chain_client, offer -> accept: ``offer_financing`` then the bank's ``accept_offer``.

Time to cash is from the seller's first request to the answer that the transaction paying
it is mined (the API answers a command once its receipt is in; chain_client waits for
it): from then the cash is on its balance. Each phase's transactions are counted in the
blocks it mined and divided by its financings.

Prints a markdown table: per way, financings, p50 / p99 / mean time to cash, transactions
per financing, and the p50 against the offer flow's on the same path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark_api
import httpx
from benchmark_api import ApiServer, Phase, _idem, _ok, uscc

from chain_client.bids import BidTerms, RateBand
from chain_client.connection import connect
from chain_client.ledger import Ledger
from chain_client.ledger_types import certificate_id_of
from chain_client.node import AnvilNode

DAY = 86_400
FACE_VALUE = 10**10  # fen per certificate: never runs out
PIECE = 10_000  # fen sold per financing
WAYS = (
    "API, bids (one call)",
    "chain_client, bids",
    "API, offer -> accept",
    "chain_client, offer -> accept",
)
RATES = [300 + 25 * k for k in range(20)]


@dataclass
class ApiSide:
    http: Callable[[], httpx.Client]
    sellers: list[tuple[int, dict[str, str]]]  # org id, headers
    roots: list[str]
    banks: list[tuple[int, dict[str, str]]]
    expires: int


@dataclass
class ClientSide:
    sellers: list[Ledger]
    roots: list[int]
    banks: list[Ledger]
    bid_ids: list[int]
    expires: int


def api_setup(server: ApiServer, now: int, sellers: int, bids: int) -> ApiSide:
    operator = {"Authorization": f"Bearer {server.operator_api_key}"}
    seed = int(uuid.uuid4().int % 10**7) * 1000

    def http() -> httpx.Client:
        return httpx.Client(base_url=server.url + "/v1", timeout=120)

    with http() as c:

        def onboard(n: int, role: str) -> tuple[int, dict[str, str]]:
            body = {"name": f"Bench {role} {n}", "uscc": uscc(seed + n), "role": role}
            org = _ok(c.post("/organizations", json=body, headers=operator | _idem()))
            key = _ok(
                c.post(
                    f"/organizations/{org['id']}/api-keys", json={"label": "b"}, headers=operator
                )
            )
            return int(org["id"]), {"Authorization": f"Bearer {key['api_key']}"}

        core = onboard(0, "core_enterprise")
        banks = [onboard(1 + k, "financier") for k in range(bids)]
        for bank_id, headers in banks:
            _ok(
                c.post(
                    f"/organizations/{bank_id}/settlement-funds",
                    json={"amount": str(10**14)},
                    headers=operator | _idem(),
                )
            )
            _ok(
                c.put(
                    "/credit-lines",
                    json={"core_enterprise_id": core[0], "limit": str(10**15)},
                    headers=headers | _idem(),
                )
            )
        supplier_orgs = [onboard(100 + k, "supplier") for k in range(sellers)]
        roots = []
        for k, (org_id, headers) in enumerate(supplier_orgs):
            doc = _ok(
                c.post(
                    "/documents",
                    files={
                        "file": ("inv.pdf", f"bench {uuid.uuid4()}".encode(), "application/pdf")
                    },
                    data={"kind": "invoice"},
                    headers=core[1],
                )
            )
            cert = _ok(
                c.post(
                    "/certificates",
                    json={
                        "beneficiary_id": org_id,
                        "credit_provider_id": banks[k % bids][0],
                        "face_value": str(FACE_VALUE),
                        "maturity": now + 120 * DAY,
                        "document_id": doc["id"],
                        "invoice_number": "INV-" + uuid.uuid4().hex[:16],
                    },
                    headers=core[1] | _idem(),
                )
            )
            accepted = _ok(
                c.post(f"/certificates/{cert['certificate_id']}/accept", headers=headers | _idem())
            )
            roots.append(str(accepted["root_fragment_id"]))
        for k, (_bank_id, headers) in enumerate(banks):
            _ok(
                c.post(
                    "/bids",
                    json={
                        "bands": [{"up_to_days": 366, "rate_bps": RATES[k]}],
                        "max_amount": str(10**12),
                        "expires_at": now + 30 * DAY,
                        "issuer_ids": [core[0]],
                        "budget": str(10**13),
                    },
                    headers=headers | _idem(),
                )
            )
    return ApiSide(http, supplier_orgs, roots, banks, now + 30 * DAY)


def client_setup(
    node: AnvilNode, operator_key: str, now: int, sellers: int, bids: int
) -> ClientSide:
    """benchmark_api's chain_client world (its own deployment: members registered, each
    seller's certificate accepted, the banks funded with a standing allowance for offers),
    and a standing bid of each bank's."""
    world = benchmark_api.client_setup(
        node, operator_key, argparse.Namespace(banks=bids, clients=sellers), lambda: now
    )
    core = world.suppliers[0].certificate(certificate_id_of(world.roots[0])).issuer
    bid_ids = []
    for k, bank in enumerate(world.banks):
        terms = BidTerms((RateBand(366, RATES[k]),), 0, 1, 10**12, 0, now + 30 * DAY)
        bid_ids.append(bank.post_bid(terms, [core], 10**12).value)
    return ClientSide(world.suppliers, world.roots, world.banks, bid_ids, world.expires)


def transactions_since(node: AnvilNode, block: int) -> int:
    """Transactions mined after ``block`` (anvil may put several in one block when they
    arrive together, so blocks are not counted)."""
    last = int(node.rpc("eth_blockNumber"), 16)
    return sum(
        len(node.rpc("eth_getBlockByNumber", [hex(n), False])["transactions"])
        for n in range(block + 1, last + 1)
    )


def run_phase(sellers: int, rounds: int, once: Callable[[int], None]) -> Phase:
    """Every seller at once (a thread each), ``rounds`` financings one after the other."""
    phase = Phase()
    lock = threading.Lock()

    def seller(i: int) -> None:
        for _ in range(rounds):
            started = time.perf_counter()
            try:
                once(i)
            except Exception as exc:  # counted, shown, not timed
                with lock:
                    phase.errors.append(repr(exc)[:300])
                continue
            with lock:
                phase.add("financing", time.perf_counter() - started)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sellers) as pool:
        list(pool.map(seller, range(sellers)))
    phase.wall = time.perf_counter() - began
    return phase


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sellers", type=int, default=50)
    parser.add_argument("--bids", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4, help="financings per seller and way")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    args = parser.parse_args()
    started = time.perf_counter()

    def note(text: str) -> None:
        print(f"{text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="scf-bench-bids-") as tmp,
        AnvilNode(accounts=1, gas_price=0, base_fee=0) as node,
    ):
        key = "0x" + bytes(node.dev_accounts(1)[0].key).hex()
        server = ApiServer(node, key, Path(tmp) / "api", "sqlite", args.workers)
        try:
            server.wait_ready()
            now = int(connect(node.rpc_url).eth.get_block("latest")["timestamp"])
            api = api_setup(server, now, args.sellers, args.bids)
            client = client_setup(node, key, now, args.sellers, args.bids)
            note(f"set up: {args.sellers} sellers, {args.bids} bids on each side")
            clients = [api.http() for _ in range(args.sellers)]

            def api_bid(i: int) -> None:
                _, headers = api.sellers[i]
                _ok(
                    clients[i].post(
                        f"/fragments/{api.roots[i]}/finance",
                        json={"amount": str(PIECE), "bid": "best"},
                        headers=headers | _idem(),
                    )
                )

            def client_bid(i: int) -> None:
                seller = client.sellers[i]
                quotes = seller.quote_bids(client.bid_ids, client.roots[i], PIECE, seller.account)
                best = max(
                    (b for b, q in quotes.items() if not isinstance(q, Exception)),
                    key=lambda b: (quotes[b].payment, -b),  # type: ignore[union-attr]
                )
                seller.sell_to_bid(best, client.roots[i], PIECE, quotes[best].payment)  # type: ignore[union-attr]

            def api_offer(i: int) -> None:
                _, headers = api.sellers[i]
                bank_id, bank_headers = api.banks[i % args.bids]
                offer = _ok(
                    clients[i].post(
                        "/offers",
                        json={
                            "fragment_id": api.roots[i],
                            "financier_id": bank_id,
                            "amount": str(PIECE),
                            "rate_bps": RATES[i % args.bids],
                            "expires_at": api.expires,
                        },
                        headers=headers | _idem(),
                    )
                )
                _ok(
                    clients[i].post(
                        f"/offers/{offer['offer_id']}/accept", headers=bank_headers | _idem()
                    )
                )

            def client_offer(i: int) -> None:
                seller, bank = client.sellers[i], client.banks[i % args.bids]
                offer = seller.offer_financing(
                    client.roots[i], bank.account, PIECE, RATES[i % args.bids], client.expires
                ).value
                bank.accept_offer(offer, approve=False)

            rows = []
            for way, once in zip(WAYS, (api_bid, client_bid, api_offer, client_offer), strict=True):
                first = int(node.rpc("eth_blockNumber"), 16)
                phase = run_phase(args.sellers, args.rounds, once)
                txs = transactions_since(node, first)
                done = phase.count("financing")
                rows.append((way, phase, txs / done if done else float("nan")))
                note(f"{way}: {done} financings, {len(phase.errors)} errors")
                for error in phase.errors[:3]:
                    print(f"  error: {error}", file=sys.stderr)
            for c in clients:
                c.close()
        except BaseException:
            print(server.log_path.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            server.stop()
    print(table(rows, args))
    note("finished")
    return 0


def table(rows: list[tuple[str, Phase, float]], args: argparse.Namespace) -> str:
    offer_p50 = {
        "API": next(p.pct("financing", 50) for w, p, _ in rows if w.startswith("API, offer")),
        "chain_client": next(
            p.pct("financing", 50) for w, p, _ in rows if w.startswith("chain_client, offer")
        ),
    }
    lines = [
        f"### Time to cash: {args.sellers} sellers at once, {args.bids} standing bids, "
        f"{args.rounds} financings each (anvil automine, API {args.workers} workers, SQLite)",
        "",
        "| way | financings | errors | p50 ms | p99 ms | mean ms | tx per financing "
        "| p50 / offer flow's |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for way, phase, txs in rows:
        values = phase.latencies.get("financing", [])
        p50, p99 = phase.pct("financing", 50), phase.pct("financing", 99)
        mean = statistics.fmean(values) if values else float("nan")
        base = offer_p50["API" if way.startswith("API") else "chain_client"]
        lines.append(
            f"| {way} | {len(values)} | {len(phase.errors)} | {p50 * 1000:.0f} | "
            f"{p99 * 1000:.0f} | {mean * 1000:.0f} | {txs:.2f} | {p50 / base:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
