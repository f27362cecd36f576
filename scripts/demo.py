"""The guided demo as a brownie script: the same story as `scf demo`, against the network
that `scf up` (`make run`) keeps running.

Run, with the network up:  brownie run scripts/demo.py
(brownie attaches to the node on 127.0.0.1:8545; the API is $SCF_API_URL, default
http://127.0.0.1:8000; keys and manifest come from $SCF_DATA_DIR, default .data)
"""

from __future__ import annotations

import os
from pathlib import Path

from brownie import web3

from api.cli.demo import run_demo
from api.cli.money import format_cny


def main() -> None:
    data = Path(os.environ.get("SCF_DATA_DIR", ".data"))
    api_url = os.environ.get("SCF_API_URL", "http://127.0.0.1:8000")
    rpc_url = web3.provider.endpoint_uri

    def say(step: str, text: str) -> None:
        print(f"[{step}] {text}")

    result = run_demo(api_url, rpc_url, data / "api-keys.json", data / "manifest.json", say)
    print("\n| member | held at maturity | cash change |\n|---|---:|---:|")
    for row in result.rows:
        print(
            f"| {row['member']} | {format_cny(int(row['held_at_maturity']))} "  # type: ignore[call-overload]
            f"| {format_cny(int(row['cash_change']))} |"
        )  # type: ignore[call-overload]
    print("\nbooks balance; the bank's verification passed")
