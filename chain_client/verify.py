"""``python -m chain_client.verify``: the bank's verifier on the command line.

Why a CLI: a credit officer (or the bank's own system) checks a fragment it is asked to
finance with nothing but a node's RPC URL and the deployment manifest it was given, and
gets a verdict it can archive (``--json``). Exit status: 0 every check passed, 1 a check
failed (the summary names it), 2 the verifier could not run (bad arguments, node down).

A node that is behind answers as confidently as one that is not, so the verdict includes
whether the node's view is current (``node_freshness``): its head's age by the wall clock
(``--max-head-age``; by default a few of the chain's block periods, see
:mod:`chain_client.freshness`), and, with ``--reference-rpc-url`` (another organization's
node; repeat it for several), how far behind that node it is and whether both hold the same
block. A stale node fails the verdict unless ``--allow-stale`` (then the summary says the
answer may be out of date).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from chain_client.connection import connect
from chain_client.errors import ManifestError, NodeError
from chain_client.freshness import DEFAULT_MAX_LAG_BLOCKS, HEAD_AGE_PERIODS, MIN_HEAD_AGE
from chain_client.ledger_types import is_ascii_decimal, parse_fragment_id
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import Verifier, failed_manifest_report


def main(argv: Sequence[str] | None = None, *, now: Callable[[], float] = time.time) -> int:
    """Run the CLI; ``now`` is the wall clock the node's head is judged by (tests set it)."""
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
    parser.add_argument(
        "--reference-rpc-url",
        action="append",
        default=[],
        metavar="URL",
        help="another organization's node of the same network to compare heads with "
        "(repeatable); this node must not be behind it nor on another fork",
    )
    parser.add_argument(
        "--max-head-age",
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"how old the node's head may be by the wall clock (default: {HEAD_AGE_PERIODS} "
        f"block periods measured from the last blocks, at least {MIN_HEAD_AGE:g} s; not "
        "applied on an automine dev chain)",
    )
    parser.add_argument(
        "--max-lag-blocks",
        type=_blocks,
        default=DEFAULT_MAX_LAG_BLOCKS,
        metavar="N",
        help=f"blocks the node may be behind a reference (default {DEFAULT_MAX_LAG_BLOCKS})",
    )
    parser.add_argument(
        "--allow-stale",
        action="store_true",
        help="report a stale node but do not fail the verdict for it",
    )
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
        report = Verifier(
            w3,
            manifest,
            max_head_age=args.max_head_age,
            reference_rpc_urls=args.reference_rpc_url,
            max_lag_blocks=args.max_lag_blocks,
            allow_stale=args.allow_stale,
            now=now,
        ).verify(fragment_id)
    print(report.to_json() if args.json else report.summary())
    return 0 if report.ok else 1


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _blocks(text: str) -> int:
    if not is_ascii_decimal(text):
        raise argparse.ArgumentTypeError(f"not a number of blocks: {text!r}")
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
