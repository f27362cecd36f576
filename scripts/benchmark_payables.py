"""Issuing from a payables file (issue 15): an automaker paying its suppliers, the portal's
way, next to one certificate at a time.

Run: nice -n 5 .venv/bin/python scripts/benchmark_payables.py [--rows 200] [--suppliers 50]
        [--at-once 3] [--workers 2]

One anvil node (automine, gas price 0: how ``scf up`` runs it), one API server on it
(``python -m api``, SQLite, ``--workers`` workers and its indexer). One core enterprise, a
bank with a credit line, ``--suppliers`` suppliers. Three ways to issue ``--rows``
certificates, one phase after the other, each with rows of its own:

* **file, one at a time**: ``POST /v1/payables/preview`` of the whole CSV, then each row
  ``POST /v1/payables/issue``, one after the other;
* **file, N at once**: the same with ``--at-once`` rows in flight, as the portal sends them;
* **one by one** (the peer: how a treasurer without the file issues): per row, upload an
  invoice (``POST /v1/documents``), then ``POST /v1/certificates``, one after the other.

Prints a markdown table: per way, the rows, the preview's time, the wall time, rows a
second, p50 and p99 per row, and the speed against one-by-one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from benchmark_api import ApiServer, _idem, _ok, uscc

from api.services.payables import idempotency_key, maturity_of
from api.timeutil import china_date
from chain_client.node import AnvilNode

DAY = 86_400


def setup(server: ApiServer, suppliers: int) -> tuple[dict[str, str], list[str], str]:
    """The core enterprise's headers, the suppliers' names, the bank's name."""
    op = {"Authorization": f"Bearer {server.operator_api_key}"}
    seed = int(time.time()) % 10**6 * 1000
    with httpx.Client(base_url=server.url, timeout=120) as c:

        def member(name: str, role: str, n: int) -> tuple[int, dict[str, str]]:
            org = _ok(
                c.post(
                    "/v1/organizations",
                    json={"name": name, "uscc": uscc(seed + n), "role": role},
                    headers={**op, **_idem()},
                ),
                201,
            )
            key = _ok(c.post(f"/v1/organizations/{org['id']}/api-keys", json={}, headers=op), 201)
            return org["id"], {"Authorization": f"Bearer {key['api_key']}"}

        core_id, core = member("Bench Auto", "core_enterprise", 1)
        _, bank = member("Bench Bank", "financier", 2)
        names = [f"Bench Supplier {k:03d}" for k in range(suppliers)]
        for k, name in enumerate(names):
            member(name, "supplier", 10 + k)
        _ok(
            c.put(
                "/v1/credit-lines",
                json={"core_enterprise_id": core_id, "limit": str(10**15)},
                headers={**bank, **_idem()},
            )
        )
    return core, names, "Bench Bank"


def csv_of(rows: int, names: list[str], bank: str, due: str) -> bytes:
    lines = ["supplier,amount,maturity,invoice_number,bank"]
    for n in range(rows):
        amount = f"{10_000 + n}.{n % 100:02d}"
        lines.append(f"{names[n % len(names)]},{amount},{due},INV-B-{uuid.uuid4().hex[:12]},{bank}")
    return "\n".join(lines).encode()


def by_file(url: str, core: dict[str, str], content: bytes, at_once: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=120, headers=core) as c:
        started = time.perf_counter()
        preview = _ok(c.post("/v1/payables/preview", files={"file": ("p.csv", content)}))
        previewed = time.perf_counter() - started
        assert preview["rows_with_errors"] == 0, preview["rows"][:3]

        def one(row: dict[str, Any]) -> float:
            t = time.perf_counter()
            body = {
                k: row[k]
                for k in (
                    "beneficiary_id",
                    "credit_provider_id",
                    "face_value",
                    "maturity",
                    "invoice_number",
                )
            }
            body.update(
                source_file=preview["file_name"],
                source_sha256=preview["file_sha256"],
                row=row["row"],
            )
            key = idempotency_key(preview["file_sha256"], row["row"])
            _ok(c.post("/v1/payables/issue", json=body, headers={"Idempotency-Key": key}), 201)
            return time.perf_counter() - t

        with ThreadPoolExecutor(at_once) as pool:
            latencies = list(pool.map(one, preview["rows"]))
        return {"preview": previewed, "wall": time.perf_counter() - started, "lat": latencies}


def one_by_one(url: str, core: dict[str, str], content: bytes) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=120, headers=core) as c:
        ids = {o["name"]: o["id"] for o in _ok(c.get("/v1/organizations"))}
        rows = [line.split(",") for line in content.decode().splitlines()[1:]]
        started = time.perf_counter()
        latencies = []
        for supplier, amount, due, invoice, bank in rows:
            t = time.perf_counter()
            doc = _ok(c.post("/v1/documents", files={"file": ("inv.pdf", uuid.uuid4().bytes)}), 201)
            whole, cents = amount.split(".")
            _ok(
                c.post(
                    "/v1/certificates",
                    json={
                        "beneficiary_id": ids[supplier],
                        "credit_provider_id": ids[bank],
                        "face_value": str(int(whole) * 100 + int(cents)),
                        "maturity": maturity_of(due),
                        "document_id": doc["id"],
                        "invoice_number": invoice,
                    },
                    headers=_idem(),
                ),
                201,
            )
            latencies.append(time.perf_counter() - t)
        return {"preview": 0.0, "wall": time.perf_counter() - started, "lat": latencies}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--suppliers", type=int, default=50)
    parser.add_argument("--at-once", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, AnvilNode() as node:
        operator = "0x" + bytes(node.dev_accounts(1)[0].key).hex()
        server = ApiServer(node, operator, Path(tmp) / "api", "sqlite", args.workers)
        try:
            server.wait_ready()
            core, names, bank = setup(server, args.suppliers)
            with httpx.Client(base_url=server.url) as c:
                now = _ok(c.get("/v1/health"))["block_time"]
            due = china_date(now + 90 * DAY)
            rows = [csv_of(args.rows, names, bank, due) for _ in range(3)]
            results = [
                ("file, one at a time", by_file(server.url, core, rows[0], 1)),
                (f"file, {args.at_once} at once", by_file(server.url, core, rows[1], args.at_once)),
                ("one by one (upload + issue)", one_by_one(server.url, core, rows[2])),
            ]
        finally:
            server.stop()
    peer = results[-1][1]["wall"]
    print(f"\n{args.rows} rows, {args.suppliers} suppliers, API with {args.workers} workers\n")
    print(
        "| way | rows | preview (s) | wall (s) | rows/s | p50 per row (ms) "
        "| p99 per row (ms) | speed vs one by one |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results:
        lat = sorted(r["lat"])
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(
            f"| {name} | {len(lat)} | {r['preview']:.2f} | {r['wall']:.1f} | "
            f"{len(lat) / r['wall']:.1f} | {statistics.median(lat) * 1000:.0f} | "
            f"{p99 * 1000:.0f} | {peer / r['wall']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
