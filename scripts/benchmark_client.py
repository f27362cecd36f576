"""Throughput of the ledger client vs raw web3, and speed of the bank's verifier.

Run: .venv/bin/python scripts/benchmark_client.py [--members 8] [--ops 50] [--rounds 3]
        [--fragments 10000] [--throughput-only] [--raw-on-client-connection]

One anvil node (automine), one deployment. Measures:

1. ledger ops/s through chain_client.Ledger: N members concurrently, each submits its
   splits (then its transfers) without waiting per receipt, then waits for all;
2. raw web3 ops/s: N other accounts, same pattern, sending the simplest ERC-20 call
   (SettlementToken.transfer) with stock web3 7.16 (``Web3(HTTPProvider(url))``, default
   middleware and sessions): build_transaction, local signing, send_raw_transaction, then
   wait_for_transaction_receipt for each;
3. the verifier on a fragment 20 splits deep, and on a certificate of ~10,000 fragments
   (created quickly by submitting splits with a fixed gas limit and fixed fees).

1 and 2 run ``--rounds`` times, alternating (ledger, raw, ledger, raw, ...), on the same
node; every round's rates and ratio are printed, and the table gives the medians. With
``--raw-on-client-connection`` each round also runs the raw side over the client's own
``connect()`` Web3 (shared pooled session, cached chain id, fewer middlewares), to show
what those transport settings are worth to plain web3 as well.

Prints a markdown table (the ratio target is >= 0.8 of raw; verifier targets < 0.2 s and
< 10 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak
from web3 import Web3

from chain_client.connection import connect
from chain_client.deployment import deploy_ledger
from chain_client.ledger import Ledger
from chain_client.ledger_types import Role, fragment_id_of
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender
from chain_client.verifier import Verifier

DAY = 86_400


def parallel(count: int, job: Callable[[int], object]) -> float:
    """Run job(i) for i in range(count) on count threads; wall time in seconds."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(job, range(count)))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--ops", type=int, default=50, help="ledger ops per member")
    parser.add_argument("--rounds", type=int, default=3, help="ledger/raw rounds, alternating")
    parser.add_argument(
        "--raw-on-client-connection",
        action="store_true",
        help="also run the raw side over the client's connect() Web3",
    )
    parser.add_argument("--fragments", type=int, default=10_000)
    parser.add_argument(
        "--throughput-only", action="store_true", help="skip the verifier measurements"
    )
    args = parser.parse_args()
    members, ops = args.members, args.ops

    with AnvilNode(accounts=2 * members + 3) as node, tempfile.TemporaryDirectory() as tmp:
        w3 = connect(node.rpc_url)
        accounts = node.dev_accounts()
        senders = [TransactionSender(w3, a, poll_interval=0.02) for a in accounts]
        manifest = deploy_ledger(w3, senders[0], manifest_path=Path(tmp) / "manifest.json")
        operator = Ledger(w3, manifest, senders[0])
        core, bank = operator.as_member(senders[1]), operator.as_member(senders[2])
        suppliers = [operator.as_member(s) for s in senders[3 : 3 + members]]
        regs = [
            operator.calls.register_member(core.account, keccak(text="core"), Role.CORE_ENTERPRISE),
            operator.calls.register_member(bank.account, keccak(text="bank"), Role.FINANCIER),
        ]
        regs += [
            operator.calls.register_member(s.account, keccak(text=f"s{i}"), Role.SUPPLIER)
            for i, s in enumerate(suppliers)
        ]
        Ledger.wait_all(operator.submit_many(regs))
        bank.set_credit_line(core.account, 10**15)
        raw_accounts = accounts[3 + members : 3 + 2 * members]
        for address in [s.account for s in suppliers] + [a.address for a in raw_accounts]:
            operator.mint_settlement(address, 10**9)

        def now() -> int:
            return int(w3.eth.get_block("latest")["timestamp"])

        roots = []
        for i, s in enumerate(suppliers):
            cid = core.issue(
                bank.account,
                s.account,
                10**9,
                now() + 180 * DAY,
                keccak(text=f"inv{i}"),
                keccak(text=f"doc{i}"),
            ).value
            roots.append(s.accept(cid).value)

        # -- 1. ledger ops through the client: splits then transfers, submit-then-wait ----
        half = ops // 2
        created: list[list[int]] = [[] for _ in suppliers]

        def ledger_splits(i: int) -> None:
            s = suppliers[i]
            pending = [s.submit(s.calls.split(roots[i], s.account, 1)) for _ in range(half)]
            created[i] = [o.value for o in Ledger.wait_all(pending)]

        def ledger_transfers(i: int) -> None:
            s, to = suppliers[i], suppliers[(i + 1) % members].account
            pending = [s.submit(s.calls.transfer_fragment(f, to)) for f in created[i]]
            Ledger.wait_all(pending)

        def ledger_round() -> float:
            return (
                members
                * half
                * 2
                / (parallel(members, ledger_splits) + parallel(members, ledger_transfers))
            )

        # -- 2. raw web3: ERC-20 transfers, build_transaction + local signing ----------------
        # Stock web3, as the raw side always had it (before connect() was tuned it gave
        # exactly this on anvil): default middleware, one requests session per thread.
        stock_w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30.0}))

        def raw_round(raw_w3: Web3) -> float:
            token = raw_w3.eth.contract(address=manifest.token_address, abi=manifest.token_abi)

            def raw_transfers(i: int) -> None:
                account = raw_accounts[i]
                to = raw_accounts[(i + 1) % members].address
                nonce = raw_w3.eth.get_transaction_count(account.address, "pending")
                hashes = []
                for k in range(half * 2):
                    tx = token.functions.transfer(to, 1).build_transaction(
                        {"from": account.address, "nonce": nonce + k}
                    )
                    signed = account.sign_transaction(tx)
                    hashes.append(raw_w3.eth.send_raw_transaction(signed.raw_transaction))
                for h in hashes:
                    receipt = raw_w3.eth.wait_for_transaction_receipt(
                        h, timeout=120, poll_latency=0.02
                    )
                    assert receipt["status"] == 1

            return members * half * 2 / parallel(members, raw_transfers)

        rounds: list[tuple[float, float, float | None]] = []
        for r in range(args.rounds):
            ledger_rate = ledger_round()
            raw_rate = raw_round(stock_w3)
            shared_rate = raw_round(w3) if args.raw_on_client_connection else None
            rounds.append((ledger_rate, raw_rate, shared_rate))
            extra = f", raw on client connection {shared_rate:.1f} tx/s" if shared_rate else ""
            print(
                f"round {r + 1}: ledger {ledger_rate:.1f} ops/s, raw {raw_rate:.1f} tx/s, "
                f"ratio {ledger_rate / raw_rate:.2f}{extra}",
                flush=True,
            )
        ledger_ops = raw_ops = members * half * 2
        ledger_rate = statistics.median(r[0] for r in rounds)
        raw_rate = statistics.median(r[1] for r in rounds)

        if args.throughput_only:
            print(throughput_table(members, ledger_ops, raw_ops, ledger_rate, raw_rate, rounds))
            return 0

        # -- 3a. verifier on a fragment 20 splits deep --------------------------------------
        s0 = suppliers[0]
        cid = core.issue(
            bank.account, s0.account, 10**8, now() + 180 * DAY, keccak(text="deep"), b"\x01" * 32
        ).value
        fragment = s0.accept(cid).value
        value = 10**8
        for _ in range(20):  # each split carves half off the newest fragment
            value //= 2
            fragment = s0.split(fragment, s0.account, value).value
        verifier = Verifier(w3, manifest)
        deep_times = []
        for _ in range(5):
            report = verifier.verify(fragment)
            assert report.ok, report.summary()
            deep_times.append(report.elapsed_seconds)
        deep = statistics.median(deep_times)
        deep_depth = len(report.lineage) - 1

        # -- 3b. verifier on a certificate of ~10,000 fragments -----------------------------
        target = args.fragments
        big_cid = core.issue(
            bank.account, s0.account, 10**12, now() + 180 * DAY, keccak(text="big"), b"\x02" * 32
        ).value
        big_root = s0.accept(big_cid).value
        pieces = [s0.split(big_root, s.account, 10**10).value for s in suppliers[1:]]
        holders = [(s0, big_root), *zip(suppliers[1:], pieces, strict=True)]
        per_member = (target - 1 - len(pieces)) // len(holders)
        fees = senders[0].fee_strategy.fees(w3)
        # One block per transaction (automine) would make anvil keep 10,000 states in
        # memory (it reached 6 GB and slowed to a crawl): mine on an interval meanwhile.
        node.rpc("evm_setAutomine", [False])
        node.rpc("evm_setIntervalMining", [1])
        build_start = time.perf_counter()

        def fan_out(i: int) -> None:
            member, frag = holders[i]
            sender = member.sender
            assert sender is not None
            last = None
            for _ in range(per_member):
                tx = member.ledger.transaction("split", frag, member.account, 1, gas=200_000)
                last = sender.submit(tx, abi=member.ledger.abi, fees=fees)
            if last is not None:
                sender.wait(last, timeout=600)

        parallel(len(holders), fan_out)
        build_time = time.perf_counter() - build_start
        node.rpc("evm_setIntervalMining", [0])
        node.rpc("evm_setAutomine", [True])
        count = operator.certificate(big_cid).fragment_count
        leaf = fragment_id_of(big_cid, count - 1)
        big_times = []
        for _ in range(3):
            report = verifier.verify(leaf)
            assert report.ok, report.summary()
            big_times.append(report.elapsed_seconds)
        big = statistics.median(big_times)

    lines = [
        throughput_table(members, ledger_ops, raw_ops, ledger_rate, raw_rate, rounds),
        f"| verifier, fragment {deep_depth} splits deep (median of 5) | {deep * 1000:.0f} ms "
        "| < 200 ms |",
        f"| verifier, certificate of {count} fragments (median of 3) | {big:.2f} s | < 10 s |",
        f"| building that certificate ({count - 1 - len(pieces)} splits submitted by "
        f"{len(holders)} members without waiting per receipt) | {build_time:.1f} s | |",
    ]
    print("\n".join(lines))
    return 0


def throughput_table(
    members: int,
    ledger_ops: int,
    raw_ops: int,
    ledger_rate: float,
    raw_rate: float,
    rounds: list[tuple[float, float, float | None]],
) -> str:
    ratios = ", ".join(f"{r[0] / r[1]:.2f}" for r in rounds)
    lines = [
        "| measurement | result | target |",
        "|---|---|---|",
        f"| ledger ops through `Ledger` ({members} members x {ledger_ops // members} ops: "
        f"split then transfer, submit-then-wait; median of {len(rounds)} rounds) | "
        f"{ledger_rate:.1f} ops/s | |",
        f"| raw web3 ERC-20 `transfer` ({members} accounts x {raw_ops // members}, stock "
        f"web3, build_transaction + local signing, submit-then-wait; median of "
        f"{len(rounds)} rounds) | {raw_rate:.1f} tx/s | |",
        f"| ratio ledger / raw (medians; per round: {ratios}) | "
        f"{ledger_rate / raw_rate:.2f} | >= 0.8 |",
    ]
    shared = [r[2] for r in rounds if r[2] is not None]
    if shared:
        median_shared = statistics.median(shared)
        lines.append(
            f"| raw web3 over the client's `connect()` Web3 (median) | {median_shared:.1f} tx/s"
            f" (ledger / it: {ledger_rate / median_shared:.2f}) | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
