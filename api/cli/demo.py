"""The guided demo, played against a running network through the API, narrated.

The story: the core enterprise issues a 1,000,000.00 CNY certificate for a 180-day payable;
the tier-1 supplier accepts and splits 300,000.00 to tier 2, who splits 120,000.00 to tier 3;
tier 3 finances its fragment at a bank at 3.65% and gets the discounted cash at once; the
chain clock moves to maturity; the core enterprise repays once and every holder, the bank
included, is paid automatically; the bank verifies a fragment from the chain alone. It ends
with who held and was paid what, and checks that the totals balance.

Moving the clock needs a development node (anvil's evm_increaseTime). On a real chain (the
consortium network of `scf up --consortium`) nothing moves the clock: the certificate is
issued for a maturity two minutes ahead instead, and the demo waits for the chain to reach
it. There the bank verifies from its own node (``verify_rpc_url``), checked against the
API's node so that a node behind the network is a failed check, not a wrong answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from web3 import Web3
from web3.types import RPCEndpoint

from api.cli.client import ApiClient
from api.cli.money import format_cny
from api.cli.seed import BANK_A, CORE, OPERATOR, TIER1, TIER2, TIER3, KeyEntry
from chain_client import connect
from chain_client.ledger import Ledger
from chain_client.manifest import DeploymentManifest
from chain_client.verifier import VerificationReport, verify_fragment

DAY = 86_400
FACE = 100_000_000  # 1,000,000.00 CNY
TO_TIER2 = 30_000_000
TO_TIER3 = 12_000_000
RATE_BPS = 365
#: maturity on a chain whose clock cannot be moved: long enough for the issue, the two
#: splits and the financing to be mined and confirmed first (a few blocks each)
REAL_CHAIN_TENOR = 120
#: anvil's chain id: the one chain whose clock the demo moves
DEV_CHAIN_ID = 31337


class DemoError(Exception):
    """The demo found the books out of balance, or could not play a step."""


class SettlementRow(TypedDict):
    """A member at settlement: what it held at maturity, and how its cash changed (fen)."""

    member: str
    held_at_maturity: int
    cash_change: int


@dataclass
class DemoResult:
    certificate_id: int
    rows: list[SettlementRow] = field(default_factory=list)
    verification_ok: bool = False
    balanced: bool = False


def load_keys(path: Path) -> dict[str, KeyEntry]:
    if not path.exists():
        raise DemoError(f"no API keys at {path}: start the network first with `scf up`")
    return json.loads(path.read_text())


def run_demo(
    api_url: str,
    rpc_url: str,
    keys_file: Path,
    manifest_path: Path,
    say: Callable[[str, str], None],
    *,
    verify_rpc_url: str | None = None,
) -> DemoResult:
    """Plays the story; `say(step, text)` narrates. Raises DemoError if anything is off.
    ``verify_rpc_url``: the bank's own node, where it verifies (default: ``rpc_url``)."""
    keys = load_keys(keys_file)
    base = ApiClient(api_url)
    as_ = {name: base.as_key(str(entry["api_key"])) for name, entry in keys.items()}
    org = {name: int(entry["org_id"]) for name, entry in keys.items()}
    w3 = connect(rpc_url)
    players = (CORE, BANK_A, TIER1, TIER2, TIER3)

    def balance(name: str) -> int:
        return int(as_[OPERATOR].get(f"/organizations/{org[name]}/balance")["balance"])

    def chain_time() -> int:
        return int(w3.eth.get_block("latest")["timestamp"])

    clock_moves = w3.eth.chain_id == DEV_CHAIN_ID
    tenor = 180 * DAY if clock_moves else REAL_CHAIN_TENOR
    due_in = "180 days" if clock_moves else f"{REAL_CHAIN_TENOR // 60} minutes (a real chain)"

    start = {name: balance(name) for name in players}

    # A fully digital e-invoice (数电票) of the tier-1 supplier: 20 digits, the year, the
    # region (32, Jiangsu, where its code is registered), a channel digit, a sequence.
    year = datetime.fromtimestamp(chain_time(), UTC).year % 100
    number = f"{year:02d}322{uuid.uuid4().int % 10**15:015d}"
    invoice = f"Invoice {number}: 2,000 brake assemblies, 1,000,000.00 CNY"
    document = as_[CORE].post(
        "/documents", files={"file": ("invoice.txt", invoice.encode(), "text/plain")}
    )
    maturity = chain_time() + tenor
    issued = as_[CORE].post(
        "/certificates",
        {
            "beneficiary_id": org[TIER1],
            "credit_provider_id": org[BANK_A],
            "face_value": str(FACE),
            "maturity": maturity,
            "document_id": document["id"],
            "invoice_number": number,
        },
    )
    cert = int(issued["certificate_id"])
    say(
        "issue",
        f"{CORE} issues certificate #{cert} for {format_cny(FACE)} CNY, due in "
        f"{due_in}, drawn on its credit line at {BANK_A}; the invoice stays off chain, "
        f"its hash {document['keccak256'][:18]}... is anchored on chain",
    )
    root = as_[TIER1].post(f"/certificates/{cert}/accept")["root_fragment_id"]
    say("accept", f"{TIER1} (tier 1) signs for it: fragment {root} holds {format_cny(FACE)}")
    piece2 = as_[TIER1].post(
        f"/fragments/{root}/split", {"to_org_id": org[TIER2], "amount": str(TO_TIER2)}
    )["fragment_id"]
    say(
        "split",
        f"{TIER1} pays {TIER2} (tier 2) {format_cny(TO_TIER2)} with a piece of it "
        f"(fragment {piece2})",
    )
    piece3 = as_[TIER2].post(
        f"/fragments/{piece2}/split", {"to_org_id": org[TIER3], "amount": str(TO_TIER3)}
    )["fragment_id"]
    say(
        "split",
        f"{TIER2} pays {TIER3} (tier 3) {format_cny(TO_TIER3)} (fragment {piece3}, "
        f"child of {piece2})",
    )

    offer = as_[TIER3].post(
        "/offers",
        {
            "fragment_id": str(piece3),
            "financier_id": org[BANK_A],
            "amount": str(TO_TIER3),
            "rate_bps": RATE_BPS,
            "expires_at": min(chain_time() + 2 * DAY, maturity),
        },
    )
    offer_id = offer["offer_id"]
    quote = as_[BANK_A].get(f"/offers/{offer_id}/quote")
    say(
        "quote",
        f"{TIER3} asks {BANK_A} to discount it at 3.65%: {quote['days']} days to "
        f"maturity, discount {format_cny(quote['discount_fen'])} "
        f"= {format_cny(TO_TIER3)} x 3.65% x {quote['days']}/360, rounded down; "
        f"cash {format_cny(quote['payment_fen'])}",
    )
    financed = as_[BANK_A].post(f"/offers/{offer_id}/accept")
    say(
        "finance",
        f"{BANK_A} accepts: {format_cny(financed['payment'])} CNY reach {TIER3} and "
        f"the fragment reaches the bank in one transaction (DvP)",
    )

    if clock_moves:
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [maturity - chain_time() + 60])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        say("maturity", "the chain clock moves 180 days, to maturity")
    else:
        wait = max(0, maturity - chain_time())
        say("maturity", f"waiting {wait} s for the chain's own clock to reach maturity")
        while chain_time() < maturity:
            time.sleep(1)
    as_[CORE].post(f"/certificates/{cert}/repay", {"amount": str(FACE)})
    say("repay", f"{CORE} repays {format_cny(FACE)} once; the ledger owes each holder its share")
    paid = as_[OPERATOR].post("/admin/jobs/maturity")
    say(
        "payout",
        f"the maturity job pays every fragment automatically: "
        f"{format_cny(paid['fen_paid'])} CNY paid out",
    )

    manifest = DeploymentManifest.read(manifest_path)
    report = _verify_from(verify_rpc_url or rpc_url, rpc_url, manifest, financed, w3)
    where = "its own node" if verify_rpc_url and verify_rpc_url != rpc_url else "the chain"
    say(
        "verify",
        f"{BANK_A} verifies its fragment from {where} alone: "
        f"{len(report.checks)} checks, {'all passed' if report.ok else 'FAILED'}",
    )

    result = DemoResult(certificate_id=cert, verification_ok=report.ok)
    # who holds what is read from the chain itself, the source of truth
    name_of = {
        str(o["address"]).lower(): o["name"]
        for o in as_[OPERATOR].get("/organizations")
        if o.get("address")
    }
    held = dict.fromkeys(players, 0)
    for fragment in Ledger(w3, manifest).fragments_of(cert):
        held[name_of[fragment.holder.lower()]] += fragment.value
    for name in players:
        result.rows.append(
            {
                "member": name,
                "held_at_maturity": held[name],
                "cash_change": balance(name) - start[name],
            }
        )
    total_held = sum(r["held_at_maturity"] for r in result.rows)
    total_cash = sum(r["cash_change"] for r in result.rows)
    result.balanced = total_held == FACE and total_cash == 0
    if not result.balanced:
        raise DemoError(f"the books do not balance: held {total_held}, cash moved {total_cash}")
    if not report.ok:
        raise DemoError("the verifier found a failed check:\n" + report.summary())
    return result


def _verify_from(
    url: str, api_node: str, manifest: DeploymentManifest, financed: dict, w3: Web3
) -> VerificationReport:
    """The bank's verification from the node at ``url``. From a node of its own the bank
    first lets it catch up with the API's node (the payout just mined there), then checks
    against it: a node still behind fails the freshness check instead of reporting an
    unpaid fragment."""
    fragment = int(financed["financed_fragment_id"])
    if url == api_node:
        return verify_fragment(w3, manifest, fragment)
    own = connect(url)
    target = w3.eth.block_number
    deadline = time.monotonic() + 60
    while own.eth.block_number < target and time.monotonic() < deadline:
        time.sleep(0.5)
    return verify_fragment(own, manifest, fragment, reference_rpc_urls=[api_node])
