"""``python -m chain_client.verify``: the bank's verifier on the command line.

Why a CLI: a credit officer (or the bank's own system) checks a fragment it is asked to
finance with nothing but a node's RPC URL and the deployment manifest it was given, and
gets a verdict it can archive (``--json``). Exit status: 0 every check passed, 1 a check
failed (the summary names it), 2 the verifier could not run (bad arguments, node down).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chain_client.connection import connect
from chain_client.errors import ManifestError, NodeError
from chain_client.ledger_types import parse_fragment_id
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import Verifier, failed_manifest_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chain_client.verify",
        description="Verify one fragment of the supply-chain finance ledger from the chain alone.",
    )
    parser.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint of any node")
    parser.add_argument("--manifest", required=True, help="deployment manifest (JSON)")
    parser.add_argument(
        "--fragment", required=True, help="fragment id: decimal, 0x hex, or CERTIFICATE/SEQ"
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable report")
    args = parser.parse_args(argv)

    try:
        fragment_id = parse_fragment_id(args.fragment)
    except ValueError as exc:
        parser.error(f"--fragment: {exc}")
    try:
        w3 = connect(args.rpc_url)
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        manifest = DeploymentManifest.read(args.manifest)
    except ManifestError as exc:
        report = failed_manifest_report(fragment_id, exc)
    else:
        report = Verifier(w3, manifest).verify(fragment_id)
    print(report.to_json() if args.json else report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
