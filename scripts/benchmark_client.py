"""Throughput of the ledger client vs raw web3, and speed of the bank's verifier.

Run: .venv/bin/python scripts/benchmark_client.py [--members 8] [--ops 50] [--fragments 10000]

One anvil node (automine), one deployment. Measures:

1. ledger ops/s through chain_client.Ledger: N members concurrently, each submits its
   splits (then its transfers) without waiting per receipt, then waits for all;
2. raw web3 ops/s: the same N accounts, same pattern, sending the simplest ERC-20 call
   (SettlementToken.transfer) built with web3's build_transaction and signed locally;
3. the verifier on a fragment 20 splits deep, and on a certificate of ~10,000 fragments
   (created quickly by submitting splits with a fixed gas limit and fixed fees).

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
    parser.add_argument("--fragments", type=int, default=10_000)
    args = parser.parse_args()
    members, ops = args.members, args.ops

    with AnvilNode(accounts=members + 3) as node, tempfile.TemporaryDirectory() as tmp:
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
        for s in suppliers:
            operator.mint_settlement(s.account, 10**9)

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
                keccak(text="doc"),
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

        ledger_time = parallel(members, ledger_splits) + parallel(members, ledger_transfers)
        ledger_ops = members * half * 2

        # -- 2. raw web3: ERC-20 transfers, build_transaction + local signing ----------------
        token = w3.eth.contract(address=manifest.token_address, abi=manifest.token_abi)

        def raw_transfers(i: int) -> None:
            account = accounts[3 + i]
            to = accounts[3 + (i + 1) % members].address
            nonce = w3.eth.get_transaction_count(account.address, "pending")
            hashes = []
            for k in range(half * 2):
                tx = token.functions.transfer(to, 1).build_transaction(
                    {"from": account.address, "nonce": nonce + k}
                )
                signed = account.sign_transaction(tx)
                hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
            for h in hashes:
                receipt = w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.02)
                assert receipt["status"] == 1

        raw_time = parallel(members, raw_transfers)
        raw_ops = members * half * 2

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

    ledger_rate, raw_rate = ledger_ops / ledger_time, raw_ops / raw_time
    lines = [
        "| measurement | result | target |",
        "|---|---|---|",
        f"| ledger ops through `Ledger` ({members} members x {ledger_ops // members} ops: "
        f"split then transfer, submit-then-wait) | {ledger_rate:.1f} ops/s "
        f"({ledger_ops} ops in {ledger_time:.2f} s) | |",
        f"| raw web3 ERC-20 `transfer` ({members} accounts x {raw_ops // members}, "
        f"build_transaction + local signing, submit-then-wait) | {raw_rate:.1f} tx/s "
        f"({raw_ops} tx in {raw_time:.2f} s) | |",
        f"| ratio ledger / raw | {ledger_rate / raw_rate:.2f} | >= 0.8 |",
        f"| verifier, fragment {deep_depth} splits deep (median of 5) | {deep * 1000:.0f} ms "
        "| < 200 ms |",
        f"| verifier, certificate of {count} fragments (median of 3) | {big:.2f} s | < 10 s |",
        f"| building that certificate ({count - 1 - len(pieces)} splits submitted by "
        f"{len(holders)} members without waiting per receipt) | {build_time:.1f} s | |",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
